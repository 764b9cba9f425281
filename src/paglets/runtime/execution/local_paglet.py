"""One paglet living on this host: the instance, its mailbox, its status and its thread.

Everything that touches the paglet's instance (handlers, hooks, snapshots for a move)
runs while holding the mailbox's *turn*, so none of it overlaps. Operations asked from
outside the paglet (a proxy's dispatch, a deactivation) become *actions* posted to the
mailbox ahead of every message; a handler calling them already holds the turn and
runs them at once.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

from paglets.artifacts import PagletFileRef
from paglets.core.agent import NOT_HANDLED, Paglet
from paglets.core.context_events import MESSAGE_FAILED
from paglets.core.errors import (
    HostError,
    InvalidAgentError,
    NotHandledError,
    OverloadedError,
    PagletCrashedError,
    PagletError,
    ReplyTimeoutError,
)
from paglets.core.messages import DEACTIVATE, MAX_PRIORITY, UNQUEUED_PRIORITY, FutureReply, Message
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.persistence.storage import ManagedStorage
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.execution_seam import Execution, InProcess
from paglets.runtime.execution.limits import MailboxBounds, QueueBudget, RunSlots
from paglets.runtime.execution.mailbox import Mailbox
from paglets.runtime.execution.paglet_run import PagletRun
from paglets.runtime.execution.sender import sending_as
from paglets.runtime.execution.turn_wait import wait_for_turn
from paglets.runtime.execution.unqueued_fence import UnqueuedFence
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.paglet_files import PagletFiles
from paglets.runtime.files.work_area import WorkArea
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value
from paglets.wire.message_body import decode_message_body

log = logging.getLogger(__name__)

ACTION_PRIORITY = MAX_PRIORITY + 1


class PagletStatus(enum.Enum):
    """Where a slot's paglet is in its life on this host."""

    ACTIVE = "active"
    MOVED = "moved"
    DEACTIVATED = "deactivated"
    DISPOSED = "disposed"


class LocalPagletOperations(Protocol):
    """The host-side operations a paglet's self-operations delegate to."""

    def dispatch_slot(self, slot: LocalPaglet, options: dict[str, Any]) -> Any: ...

    def clone_slot(self, slot: LocalPaglet, options: dict[str, Any]) -> Any: ...

    def deactivate_slot(self, slot: LocalPaglet, request: DeactivationRequest) -> Any: ...

    def persistent_storage(self, slot: LocalPaglet) -> ManagedStorage: ...

    def dispose_slot(self, slot: LocalPaglet) -> None: ...

    def proxy_of(self, agent_id: str, address: str) -> Any: ...

    def redirect(self, slot: LocalPaglet, envelope: Envelope) -> None: ...


class LocalPaglet:
    """A paglet on this host. Implements the paglet's self-operations (PagletControl)."""

    def __init__(
        self,
        paglet: Paglet[Any],
        agent_id: str,
        class_path: str,
        state_class_path: str,
        pool: WorkerPool,
        operations: LocalPagletOperations,
        policy: ClassPolicy,
        host_address: str,
        max_queued: int = 100_000,
        work_area: WorkArea | None = None,
        events: EventLog | None = None,
        budget: QueueBudget | None = None,
        max_queued_bytes: int | None = None,
        run_slots: RunSlots | None = None,
    ) -> None:
        self.paglet = paglet
        self.agent_id = agent_id
        self.class_path = class_path
        self.state_class_path = state_class_path
        self.status = PagletStatus.ACTIVE
        self.moved_to = ""
        self.created_at = time.time()
        self.handled = 0
        self.failures = 0
        self._pool = pool
        self._operations = operations
        self._policy = policy
        self._host_address = host_address
        self._work_area = work_area
        self._events = events
        self._files: PagletFiles | None = None  # built on first use: most paglets carry none
        self._bounds = MailboxBounds(agent_id, max_queued, max_queued_bytes, budget)
        self.runner = PagletRun(paglet, agent_id, class_path, run_slots, events)
        self.mailbox = Mailbox(pool, self._handle, self._bounds.give_back)
        self.checkpointer: Callable[[LocalPaglet], PagletError | None] | None = None
        self.last_checkpoint: bytes | None = None  # encoded state a DURABLE paglet last saved
        self.unqueued = UnqueuedFence()
        self.execution: Execution = InProcess(paglet)  # an ISOLATED class's: its child

    @property
    def files(self) -> PagletFiles:
        """The paglet's registered files and work dir on this host."""
        if self._files is None:
            if self._work_area is None:
                raise PagletError("this host has no work area for paglet files")
            self._files = PagletFiles(self._work_area, self.agent_id)
        return self._files

    @property
    def has_files(self) -> bool:
        """Whether the paglet has registered files (without building the table)."""
        return self._files is not None and bool(self._files)

    # PagletControl: the paglet's self-operations -------------------------------------------

    def dispatch(self, options: Mapping[str, Any]) -> Any:
        return self._operations.dispatch_slot(self, dict(options))

    def clone(self, options: Mapping[str, Any]) -> Any:
        return self._operations.clone_slot(self, dict(options))

    def deactivate(self, request: DeactivationRequest) -> Any:
        return self._operations.deactivate_slot(self, request)

    def dispose(self) -> None:
        self._operations.dispose_slot(self)

    def own_proxy(self) -> Any:
        return self._operations.proxy_of(self.agent_id, self._host_address)

    def persistent_storage(self) -> ManagedStorage:
        return self._operations.persistent_storage(self)

    def wait_message(self, timeout: float | None) -> bool:
        return self.mailbox.wait_message(timeout)

    def notify_message(self) -> None:
        self.mailbox.notify_message()

    def notify_all_messages(self) -> None:
        self.mailbox.notify_all_messages()

    def _own_files(self) -> PagletFiles:
        if self.status is not PagletStatus.ACTIVE:
            raise PagletError(f"paglet {self.agent_id} is {self.status.value}: no files here")
        return self.files

    def register_file(
        self, path: str | PathLike[str], name: str | None, mode: str
    ) -> PagletFileRef:
        return self._own_files().register(path, name, mode)

    def unregister_file(self, name: str, delete: bool) -> None:
        self._own_files().unregister(name, delete)

    def registered_files(self) -> list[PagletFileRef]:
        return self._own_files().refs() if self._files is not None else []

    def file_path(self, name: str) -> Path:
        return self._own_files().path_of(name)

    def work_dir(self) -> Path:
        return self._own_files().work_dir()

    # delivery -----------------------------------------------------------------------

    def deliver(self, envelope: Envelope) -> None:
        """Queue a message (or run an unqueued one at once); over a limit, refuse it."""
        if envelope.action is not None:
            self.mailbox.post(envelope, envelope.priority)
            return
        size = len(envelope.body) if envelope.body is not None else 0
        unqueued = envelope.priority == UNQUEUED_PRIORITY
        try:
            self._bounds.admit(len(self.mailbox), self.mailbox.bytes, size, unqueued)
        except OverloadedError as exc:
            envelope.respond(error=exc)
            return
        if unqueued and self.unqueued.enter(lambda: self.mailbox.held):
            self._pool.submit(self.unqueued.run, self._handle_unqueued, (envelope, size))
        else:  # an unqueued one waits like any other while the paglet moves or is persisted
            self.mailbox.post(envelope, envelope.priority, size if self._bounds.budget else None)

    def _handle_unqueued(self, item: tuple[Envelope, int]) -> None:
        envelope, size = item
        self._bounds.give_back(size)
        self._handle(envelope)

    def run_in_turn(self, action: Callable[[], Any], timeout: float | None) -> Any:
        """Run ``action`` while holding the paglet's turn and return its result.

        Runs at once, on the calling thread, when the caller already holds the turn (a
        handler calling a self-operation) or nobody needs it (the paglet is idle);
        otherwise it is queued ahead of every message and runs after the current
        handler.
        ``timeout`` bounds the wait for the turn only: an action that started is
        waited for, so the caller never hears "timeout" while it may still succeed
        (a transfer bounds itself with its own timeout).

        Raises:
            ReplyTimeoutError: the turn did not come within ``timeout``; nothing ran.
            InvalidAgentError: the paglet left this host before its turn came.
        """
        action = self.execution.synced(action)
        if self.mailbox.holds_turn():
            return action()
        ran, result = self.mailbox.run_if_idle(action)
        if ran:
            return result
        future = FutureReply()
        claim = threading.Lock()

        def claimed() -> Any:
            if not claim.acquire(blocking=False):
                raise ReplyTimeoutError("the caller stopped waiting for the turn")
            return action()

        self.mailbox.post(Envelope(ACTION_PRIORITY, future=future, action=claimed), ACTION_PRIORITY)
        return wait_for_turn(future, claim, self._left_how, self.agent_id, timeout)

    def _left_how(self) -> str:
        return "" if self.status is PagletStatus.ACTIVE else self.status.value

    def _handle(self, envelope: Envelope) -> None:
        if self.status is not PagletStatus.ACTIVE:
            self._operations.redirect(self, envelope)
            return
        if envelope.action is not None:
            try:
                value = envelope.action()
            except BaseException as exc:
                envelope.respond(error=exc)
            else:
                envelope.respond(value)
            return
        try:
            message = envelope.message
            if message is None:
                message = self._decode(envelope)
        except PagletError as exc:
            envelope.respond(error=exc)
            return
        self.handled += 1
        if message.kind == DEACTIVATE:
            self._deactivate_on_message(message, envelope)
            return
        try:
            with sending_as(self.agent_id):
                result = self.execution.handle(message)
        except BaseException as exc:
            self.failures += 1
            log.debug("%r: handler of %r raised", self.paglet, message.kind, exc_info=True)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self._failed(message, envelope, _handler_error(exc))
            return
        if result is NOT_HANDLED:
            kind = message.kind
            text = f"{type(self.paglet).__qualname__} does not handle {kind!r}"
            self._failed(message, envelope, NotHandledError(text))
            return
        # a DURABLE paglet is saved before the reply leaves; a failed save is the reply
        envelope.respond(result, None if self.checkpointer is None else self.checkpointer(self))

    def _failed(self, message: Message, envelope: Envelope, error: PagletError) -> None:
        envelope.respond(error=error)
        if self._events is not None:
            self._events.record(
                MESSAGE_FAILED,
                self.agent_id,
                class_name=self.class_path,
                message_id=message.message_id,
                error=f"{type(error).__name__}: {error}",
                message_kind=message.kind,
            )

    def _decode(self, envelope: Envelope) -> Message:
        assert envelope.body is not None
        return decode_message_body(envelope.body, envelope.priority, self._policy)

    def _deactivate_on_message(self, message: Message, envelope: Envelope) -> None:
        """The reserved kind: deactivate this paglet (for ``args["duration"]`` seconds)."""
        duration = message.args.get("duration")
        try:
            if duration is not None and not (type(duration) in (int, float) and duration >= 0):
                raise PagletError(f"{DEACTIVATE} duration must be seconds >= 0, not {duration!r}")
            policy = None if duration is None else DeactivationPolicy(wake_after=float(duration))
            request = DeactivationRequest(reason=DEACTIVATE, policy=policy)
            self._operations.deactivate_slot(self, request)
        except PagletError as exc:
            envelope.respond(error=exc)
        else:
            envelope.respond(True)

    # leaving ------------------------------------------------------------------------

    def leave(self, status: PagletStatus, moved_to: str = "") -> list[Envelope]:
        """Mark the paglet gone from this host; return what was queued for it."""
        self.mailbox.hold()
        self.status = status
        self.moved_to = moved_to
        self.runner.left()
        self.paglet._mark_leaving()
        self.execution.stop()
        envelopes: list[Envelope] = self.mailbox.take_all()
        return envelopes

    def fail_queued(self, envelopes: list[Envelope], error: PagletError) -> None:
        """Answer every envelope in ``envelopes`` with ``error``."""
        for envelope in envelopes:
            envelope.respond(error=error)

    def start_run(self) -> None:
        """Start ``run()`` (see :meth:`PagletRun.start`); an isolated one runs in its child."""
        if not self.execution.in_process:
            self.runner.left()  # no host thread runs it: give the run slot back
            return
        self.runner.start()

    @property
    def run_alive(self) -> bool:
        """Whether ``run()`` is still running."""
        return self.runner.alive

    def info(self, host_name: str) -> dict[str, Any]:
        """Facts about this paglet, as ``PagletProxy.info()`` returns them."""
        facts: dict[str, Any] = {
            "agent_id": self.agent_id,
            "class": self.class_path,
            "state_class": self.state_class_path,
            "active": self.status is PagletStatus.ACTIVE,
            "status": self.status.value,
            "host": host_name,
            "address": self._host_address,
            "created_at": self.created_at,
            "handled": self.handled,
            "handler_failures": self.failures,
            "queued": len(self.mailbox),
            "running": self.run_alive,
            "failed": self.runner.failure,
        }
        facts.update(self.execution.info())
        return facts


def _handler_error(exc: BaseException) -> PagletError:
    if isinstance(exc, (HostError, PagletCrashedError)):
        return exc
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return HostError(name, str(exc))


def not_found(agent_id: str, host_name: str) -> InvalidAgentError:
    """The error for an agent id this host does not know."""
    return InvalidAgentError(f"no paglet {agent_id} on host {host_name}")


def decode_args(body: bytes | memoryview, policy: ClassPolicy) -> Any:
    """Decode a request body (empty means None)."""
    return decode_value(body, policy) if len(body) else None
