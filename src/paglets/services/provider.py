"""The paglet side of a contract: :class:`ServicePaglet` answers typed calls and leases.

A provider subclasses :class:`ServicePaglet`, names its ``CONTRACT`` and defines one
method per operation, taking the request dataclass and returning the reply::

    class EchoService(ServicePaglet[ServiceState]):
        CONTRACT = ECHO
        def echo(self, request: EchoRequest) -> EchoReply:
            return EchoReply(request.text)

Calls are messages (``service.call``), so they are handled one at a time like any
other message. The provider checks the operation and the request type itself too: a
caller that bypasses :class:`~paglets.services.contracts.ServiceHandle` still gets a
:class:`~paglets.core.errors.ServiceContractError`, not a stray ``AttributeError``.

Idle deactivation: with ``state.idle_timeout`` > 0 (resident lazy services get it from
their declaration), the provider deactivates itself once no call came for that long
and no lease is running. The decision is taken inside a message of its own
(``service.idle``), so it is serial with calls and leases: a call or a lease that
arrives first always wins. The record stays; the next call activates it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import ServiceContractError
from paglets.core.messages import Message
from paglets.core.runtime_values import ResidentLifecycle
from paglets.services.contracts import CALL_KIND, LEASE_KIND, ServiceContract

IDLE_KIND = "service.idle"
"""The message a provider sends itself to decide, in turn, whether it is idle."""


@dataclass
class ServiceState(PagletState):
    """The state every provider keeps; subclass it for more.

    Attributes:
        idle_timeout: seconds without calls or leases before the provider deactivates
            itself (0: never).
    """

    idle_timeout: float = 0.0


ServiceStateT = TypeVar("ServiceStateT", bound=ServiceState)


class ServicePaglet(Paglet[ServiceStateT]):
    """A paglet that provides one :class:`ServiceContract`.

    Subclasses set ``CONTRACT`` and define a method per operation (see the module
    docstring). Messages of other kinds go to :meth:`handle_other_message`.
    """

    State: ClassVar[type[PagletState]] = ServiceState
    CONTRACT: ClassVar[ServiceContract | None] = None
    """The contract this paglet provides."""
    RESIDENT_LIFECYCLE: ClassVar[ResidentLifecycle] = ResidentLifecycle.LAZY
    """As a resident service: ``lazy`` (started by the first call) or ``eager``."""
    IDLE_TIMEOUT: ClassVar[float] = 300.0
    """As a lazy resident service: idle seconds before it deactivates (0: never)."""

    # transient bookkeeping, rebuilt on every host and at every activation
    _last_used: float
    _leases: dict[str, float]
    _idle_asked: bool

    @classmethod
    def contract(cls) -> ServiceContract:
        """The contract this class provides.

        Raises:
            ServiceContractError: the class sets no ``CONTRACT``.
        """
        if cls.CONTRACT is None:
            raise ServiceContractError(f"{cls.__qualname__} sets no CONTRACT")
        return cls.CONTRACT

    def _bookkeeping(self) -> None:
        if not hasattr(self, "_leases"):
            self._last_used = time.monotonic()
            self._leases = {}
            self._idle_asked = False

    def handle_message(self, message: Message) -> Any:
        """Answer ``service.call`` and ``service.lease``; the rest goes to a subclass."""
        self._bookkeeping()
        if message.kind == CALL_KIND:
            try:
                return self._call(message)
            finally:
                self._last_used = time.monotonic()
        if message.kind == LEASE_KIND:
            return self._lease(message)
        if message.kind == IDLE_KIND:
            return self._idle_check()
        return self.handle_other_message(message)

    def handle_other_message(self, message: Message) -> Any:
        """Handle a message that is not a service call (default: not handled)."""
        return self.not_handled()

    def _call(self, message: Message) -> Any:
        contract = self.contract()
        wanted = message.args.get("contract")
        if wanted != contract.name:
            raise ServiceContractError(f"this provider offers {contract.name}, not {wanted!r}")
        op = contract.operation(str(message.args.get("operation")))
        request = message.args.get("request")
        op.check_request(contract.name, request)
        method = getattr(self, op.method_name, None)
        if not callable(method):
            raise ServiceContractError(
                f"{type(self).__qualname__} does not implement {contract.name}.{op.name}"
            )
        reply = method(request)
        op.check_reply(contract.name, reply)
        return reply

    def _lease(self, message: Message) -> float:
        lease_id = str(message.args.get("lease") or "")
        seconds = float(message.args.get("seconds") or 0.0)
        if not lease_id:
            raise ServiceContractError("a lease needs an id")
        if seconds <= 0:
            self._leases.pop(lease_id, None)
        else:
            self._leases[lease_id] = time.monotonic() + seconds
        self._last_used = time.monotonic()
        return seconds

    def leases(self) -> int:
        """How many leases are running now."""
        self._bookkeeping()
        now = time.monotonic()
        return sum(1 for expiry in self._leases.values() if expiry > now)

    def _busy_until(self) -> float:
        """When this provider may next count as idle (monotonic time)."""
        self._bookkeeping()
        leases = max(self._leases.values(), default=0.0)
        return max(self._last_used + self.state.idle_timeout, leases)

    def _idle_check(self) -> bool:
        self._idle_asked = False
        if self.state.idle_timeout <= 0 or time.monotonic() < self._busy_until():
            return False
        self.deactivate()
        return True

    def run(self) -> None:
        """Watch for idleness when ``idle_timeout`` is set; otherwise return at once."""
        self._bookkeeping()
        while self.state.idle_timeout > 0 and not self.is_leaving():
            remaining = self._busy_until() - time.monotonic()
            if remaining > 0:
                # never past one idle period: a released lease must not wait out its term
                self.wait_leaving(min(remaining, self.state.idle_timeout))
                continue
            if not self._idle_asked:
                self._idle_asked = True
                self.proxy().send_oneway(Message(IDLE_KIND))
            # the idle message decides; look again in a while if it found us busy
            self.wait_leaving(max(0.05, self.state.idle_timeout / 4))
