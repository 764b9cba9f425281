"""The services one host advertises, and lookups of them on this host and the mesh.

A :class:`ServiceRecord` says that a paglet on some host provides a contract (a name,
a version and operation names). Each host keeps its own records in a
:class:`ServiceRegistry`; nothing is replicated. A *local* lookup reads this host's
records; a *mesh* lookup reads them and then asks every online peer at once with the
``svc`` verb, waiting for all answers up to one shared deadline: a peer that does not
answer in time is left out, never waited for twice.

A resident service that starts lazily is advertised before any instance exists: its
record has an empty ``agent_id`` and the registry holds an *activator* for it. The
first caller to need the provider asks the record's host to ``ensure`` it: the
activator runs there once, under a lock, even when many callers ask at the same time.
A record stays while its provider is deactivated (a message activates it again) and
goes when the provider is disposed or leaves the host.

The registry knows contracts only by their name, version and operation names, so this
layer needs nothing from :mod:`paglets.services`: a contract object passed to
:meth:`ServiceRegistry.lookup_contract` is duck-typed (:class:`ContractLike`) and
builds its own typed handle from a :class:`ServiceEndpoint`.

The ``svc`` verb's body is :class:`~paglets.wire.service_body.ServiceQuery`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from paglets.core.context_events import ContextEvent
from paglets.core.errors import PagletError, ServiceNotFoundError
from paglets.core.runtime_values import ServiceScope
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.remote.proxy import PagletProxy
from paglets.runtime.event_log import EventLog
from paglets.runtime.serving.service_records import ServiceRecord, as_scope
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.protocol import VERB_SERVICE
from paglets.wire.service_body import LOOKUP, ServiceQuery

log = logging.getLogger(__name__)

DEFAULT_LOOKUP_TIMEOUT = 2.0
"""Seconds a mesh lookup waits for the slowest peer."""

# Event kinds after which a provider no longer runs here (both spellings of each).
_PROVIDER_GONE = frozenset(
    {"dispose", "disposed", "dispatch", "dispatched", "retract", "retracted", "paglet-crashed"}
)

Activator = Callable[[], str]
"""Starts a lazy provider and returns its agent id."""


class ContractLike(Protocol):
    """What the registry needs of a contract (``paglets.services.contracts`` has it).

    A protocol, so this layer never imports :mod:`paglets.services`.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def operation_names(self) -> tuple[str, ...]: ...

    def bind(self, endpoint: ServiceEndpoint) -> Any: ...


class ServiceEndpoint:
    """A record and the means to reach its provider, starting it when lazy."""

    def __init__(self, record: ServiceRecord, registry: ServiceRegistry) -> None:
        self._record = record
        self._registry = registry
        self._lock = threading.Lock()

    @property
    def record(self) -> ServiceRecord:
        """The record, with its agent id once the provider was started."""
        return self._record

    def proxy(self, timeout: float | None = None) -> PagletProxy:
        """A proxy to the provider; a lazy provider is started first (once).

        Raises:
            ServiceNotFoundError: the record's host no longer has this provider.
            RemoteHostError: the record's host did not answer.
        """
        with self._lock:
            if not self._record.agent_id:
                self._record = self._registry.ensure_at(self._record, timeout)
            record = self._record
        return self._registry.proxy_of(record.agent_id, record.address)

    def forget_provider(self, agent_id: str) -> bool:
        """Drop a resident provider that is gone, so the next :meth:`proxy` starts one.

        Returns:
            True when the record is a resident one (and was reset), else False.
        """
        with self._lock:
            if self._record.agent_id != agent_id or not self._record.lifecycle:
                return False
            self._record = replace(self._record, agent_id="")
            return True


class ServiceRegistry:
    """This host's service records, and lookups that may ask the whole mesh.

    Args:
        host_name, address: callables giving this host's name and (bound) address.
        transport, peers, policy: to ask peers and decode their answers.
        proxy_of: builds a proxy from an agent id and an address.
        events: the host's event log; providers that leave lose their records.
    """

    def __init__(
        self,
        host_name: Callable[[], str],
        address: Callable[[], str],
        transport: Transport,
        peers: PeerTable,
        policy: ClassPolicy,
        proxy_of: Callable[[str, str], PagletProxy],
        events: EventLog,
    ) -> None:
        self._host_name = host_name
        self._address = address
        self._transport = transport
        self._peers = peers
        self._policy = policy
        self.proxy_of = proxy_of
        self._records: dict[tuple[str, str], ServiceRecord] = {}
        self._activators: dict[tuple[str, str], Activator] = {}
        self._starting: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        events.add_listener(self._on_event, quick=True)  # a dict update: never blocks

    # advertising ----------------------------------------------------------------------

    def advertise(
        self,
        contract: ContractLike,
        agent_id: str = "",
        *,
        key: str | None = None,
        lifecycle: str = "",
        metadata: Mapping[str, str] | None = None,
        activator: Activator | None = None,
    ) -> ServiceRecord:
        """Record that a provider here offers ``contract``; replaces one with the same key.

        Args:
            contract: the contract provided.
            agent_id: the provider paglet ('' for a lazy one, with ``activator``).
            key: tells providers of one contract apart (default: ``agent_id``).
            lifecycle: ``lazy``/``eager`` for resident services.
            metadata: strings callers may filter on.
            activator: starts a lazy provider; returns its agent id.

        Raises:
            PagletError: neither an agent id nor an activator was given.
        """
        if not agent_id and activator is None:
            raise PagletError(f"advertising {contract.name} needs a provider or an activator")
        record = ServiceRecord(
            contract=contract.name,
            version=int(contract.version),
            operations=tuple(contract.operation_names),
            host_name=self._host_name(),
            address=self._address(),
            agent_id=agent_id,
            key=key or agent_id,
            lifecycle=lifecycle,
            metadata=dict(metadata or {}),
        )
        slot = (record.contract, record.key)
        with self._lock:
            self._records[slot] = record
            if activator is not None:
                self._activators[slot] = activator
                self._starting.setdefault(slot, threading.Lock())
        return record

    def withdraw(self, contract: str, key: str | None = None) -> int:
        """Forget this host's providers of ``contract`` (only ``key`` if given)."""
        with self._lock:
            gone = [s for s in self._records if s[0] == contract and key in (None, s[1])]
            for slot in gone:
                self._records.pop(slot, None)
                self._activators.pop(slot, None)
        return len(gone)

    def records(self, contract: str | None = None) -> list[ServiceRecord]:
        """This host's records (of ``contract`` only, if given), sorted by contract."""
        with self._lock:
            found = [r for r in self._records.values() if contract in (None, r.contract)]
        return sorted(found, key=lambda r: (r.contract, r.key))

    def _on_event(self, event: ContextEvent) -> None:
        if event.kind not in _PROVIDER_GONE or not event.agent_id:
            return
        with self._lock:
            for slot, record in list(self._records.items()):
                if record.agent_id != event.agent_id:
                    continue
                if slot in self._activators:  # a resident: the next call starts a new one
                    self._records[slot] = replace(record, agent_id="")
                else:
                    del self._records[slot]

    # starting lazy providers ----------------------------------------------------------

    def ensure(self, contract: str, key: str) -> ServiceRecord:
        """Start the provider of a record here if it has none yet; return the record.

        Concurrent callers wait for one start; exactly one instance results.

        Raises:
            ServiceNotFoundError: no such record here.
        """
        slot = (contract, key)
        with self._lock:
            starting = self._starting.get(slot)
            record = self._records.get(slot)
        if record is None:
            raise ServiceNotFoundError(f"host {self._host_name()} has no service {contract!r}")
        if record.agent_id or starting is None:
            return record
        with starting:
            with self._lock:
                record = self._records.get(slot)
                activator = self._activators.get(slot)
            if record is None or activator is None:
                raise ServiceNotFoundError(f"service {contract!r} was withdrawn")
            if record.agent_id:
                return record
            agent_id = activator()
            record = replace(record, agent_id=agent_id)
            with self._lock:
                if slot in self._records:
                    self._records[slot] = record
            return record

    def ensure_at(self, record: ServiceRecord, timeout: float | None = None) -> ServiceRecord:
        """:meth:`ensure` on the record's own host (here, or over the ``svc`` verb)."""
        if record.address == self._address():
            return self.ensure(record.contract, record.key)
        body = ServiceQuery.ensure(record.contract, record.key).to_wire()
        reply = self._transport.call(
            record.address, VERB_SERVICE, encode_value(body), timeout=timeout
        )
        return ServiceRecord.from_wire(decode_value(reply.body, self._policy))

    # lookups --------------------------------------------------------------------------

    def lookup(
        self,
        contract: str | None,
        scope: ServiceScope = ServiceScope.LOCAL,
        timeout: float | None = None,
    ) -> list[ServiceRecord]:
        """Records of ``contract`` (every contract when None): here first, then the mesh.

        A mesh lookup asks every online peer at once and waits at most ``timeout``
        seconds in all; peers that do not answer in time are left out.
        """
        found = self.records(contract)
        if as_scope(scope) is ServiceScope.LOCAL:
            return found
        limit = DEFAULT_LOOKUP_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + limit
        body = encode_value(ServiceQuery.lookup(contract).to_wire())
        asked = []
        for peer in self._peers.all():
            if peer.online and peer.address != self._address():
                future = self._transport.request(
                    peer.address, VERB_SERVICE, body, timeout=limit, ordered=False
                )
                asked.append((peer.name, future))
        for name, future in asked:
            remaining = max(0.0, deadline - time.monotonic())
            if not future.wait_for_reply(remaining):
                log.info("service lookup: %s did not answer within %.1fs", name, limit)
                continue
            try:
                reply = future.get_reply(0)
                maps = decode_value(reply.body, self._policy)
                found.extend(ServiceRecord.from_wire(item) for item in maps or ())
            except PagletError as exc:
                log.info("service lookup: %s failed: %s", name, exc)
        return found

    def endpoints(
        self, contract: str, scope: ServiceScope, timeout: float | None
    ) -> list[ServiceEndpoint]:
        """Endpoints of every provider of ``contract`` in ``scope``, local ones first."""
        return [ServiceEndpoint(r, self) for r in self.lookup(contract, scope, timeout)]

    # the calls a paglet context forwards ----------------------------------------------

    def advertise_contract(
        self,
        contract: ContractLike,
        provider: Any,
        metadata: Mapping[str, str] | None = None,
    ) -> ServiceRecord:
        """Advertise ``provider`` (a paglet, a proxy or an agent id) as offering ``contract``."""
        agent_id = provider if isinstance(provider, str) else str(provider.agent_id)
        return self.advertise(contract, agent_id, metadata=metadata)

    def lookup_contracts(
        self,
        contract: ContractLike | str,
        scope: ServiceScope = ServiceScope.LOCAL,
        timeout: float | None = None,
    ) -> list[Any]:
        """Typed handles of every provider (records when given only a contract name)."""
        if isinstance(contract, str):
            return self.lookup(contract, scope, timeout)
        return [contract.bind(e) for e in self.endpoints(contract.name, scope, timeout)]

    def lookup_contract(
        self,
        contract: ContractLike | str,
        scope: ServiceScope = ServiceScope.LOCAL,
        timeout: float | None = None,
    ) -> Any | None:
        """The first provider found (this host's first), or None."""
        found = self.lookup_contracts(contract, scope, timeout)
        return found[0] if found else None

    def require_contract(
        self,
        contract: ContractLike | str,
        scope: ServiceScope = ServiceScope.LOCAL,
        timeout: float | None = None,
    ) -> Any:
        """Like :meth:`lookup_contract`, but a missing provider is an error.

        Raises:
            ServiceNotFoundError: no provider in ``scope``.
        """
        found = self.lookup_contract(contract, scope, timeout)
        if found is None:
            name = contract if isinstance(contract, str) else contract.name
            where = "this host" if as_scope(scope) is ServiceScope.LOCAL else "the mesh"
            raise ServiceNotFoundError(f"no provider of {name!r} on {where}")
        return found

    # the svc verb ---------------------------------------------------------------------

    def on_request(self, query: ServiceQuery) -> Any:
        """Answer a ``svc`` request from a peer (see :mod:`paglets.wire.service_body`).

        Raises:
            ServiceNotFoundError: ``ensure`` of a record this host does not have.
        """
        if query.op == LOOKUP:
            return [record.to_wire() for record in self.records(query.name)]
        return self.ensure(str(query.name), query.key).to_wire()
