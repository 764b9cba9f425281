"""Moving paglets between hosts: dispatch, clone and retract, as a two-phase hand-off.

The source decides; the target follows. Both keep a transfer record in their host
database (:mod:`~paglets.runtime.persistence.transfer_log`)::

    source (turn held, mailbox held, run() fenced      target
    by the state lock, UNQUEUED fenced)
    out: prepared  --- transfer (record) -----------> checks, decodes, pulls files,
                   <------------------ "prepared" --  in: prepared (starts nothing)
    out: committed (+ checkpoint dropped, one txn),
    forwarding address left
                   --- transfer.commit (tid) ------> in: committed (+ checkpoint of a
                   <------------------- "started" --  DURABLE paglet), started; in: done
    out: done

No "prepared" in time: the source writes ``aborted``, resumes the paglet and sends
``abort`` (best effort); the target never starts without a commit, so nothing is
guessed. A prepared target that hears nothing by its deadline asks ``transfer.status``;
a committed source whose commit got no "started" sends it again
(:mod:`~paglets.runtime.mobility.settlement`). docs/durability.md has the failure table.

This module is the departures (hooks, snapshot, fences); the protocol's source side is
:mod:`~paglets.runtime.mobility.source_side`, its target side
:mod:`~paglets.runtime.mobility.arrivals`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from paglets.core.context_events import CLONE, DISPATCH, RETRACT
from paglets.core.errors import (
    PagletError,
    TransferError,
)
from paglets.core.events import CloneEvent, MobilityEvent
from paglets.core.ids import new_id
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.lifecycle import Lifecycle, new_agent_id, release_resources
from paglets.runtime.execution.local_paglet import LocalPaglet, LocalPagletOperations, PagletStatus
from paglets.runtime.execution.registry import Registry
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mobility.arrivals import Arrivals
from paglets.runtime.mobility.source_side import SourceSide
from paglets.runtime.persistence.memory_transfer_log import MemoryTransferLog
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.persistence.transfer_log import TransferLog
from paglets.runtime.stop_signal import StopSignal
from paglets.wire.codec import encode_state
from paglets.wire.handoff_bodies import HandoffRecord

log = logging.getLogger(__name__)


class Mobility:
    """Both ends of dispatch, clone and retract for one host.

    Args:
        lifecycle: installs, starts and removes paglets.
        operations: the paglets' self-operations.
        config: the host's config (transfer timeout, parking and file-rate bounds).
        redirect, requeue: where messages parked for an arrival go (see ``Arrivals``).
        backend: calls other hosts.
        the rest: the host's parts a hand-off reads, writes and records.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        operations: LocalPagletOperations,
        *,
        config: HostConfig,
        redirect: Callable[[str, str, Envelope], None],
        requeue: Callable[[str, Envelope], None],
        backend: RemoteProxyBackend,
        identity: HostIdentity,
        stop: StopSignal,
        registry: Registry,
        store: PagletStore,
        events: EventLog,
        work_area: WorkArea,
        streams: ArtifactStreams,
        peers: PeerTable,
        transport: Transport,
    ) -> None:
        self._config = config
        self._identity = identity
        self._registry = registry
        self._store = store
        self._events = events
        self._work_area = work_area
        self._peers = peers
        self._lifecycle = lifecycle
        self._operations = operations
        db = store.db
        self.transfers = TransferLog(db) if db.durable else MemoryTransferLog(db)
        self.arrivals = Arrivals(
            lifecycle,
            self.transfers,
            redirect=redirect,
            requeue=requeue,
            max_parked=config.max_queued_messages,
            identity=identity,
            stop=stop,
            registry=registry,
            store=store,
            events=events,
            work_area=work_area,
            streams=streams,
        )
        self.source = SourceSide(
            self.transfers,
            self.arrivals,
            identity=identity,
            transport=transport,
            backend=backend,
            streams=streams,
            min_rate=config.artifact_min_rate,
        )

    # source side ----------------------------------------------------------------------

    def dispatch(
        self,
        slot: LocalPaglet,
        target: str,
        *,
        reason: str = "dispatch",
        timeout: float | None = None,
        hook: bool = True,
        arrival: str = "activate",
    ) -> str:
        """Move ``slot``'s paglet to the host at ``target``; return the new address.

        Runs holding the paglet's turn. Raises TransferError or ResourceCleanupError
        (the paglet stays). ``arrival="inactive"`` stores it inactive at the target.
        """
        if self._identity.is_local(target):
            return self._identity.address
        limit = timeout or self._config.transfer_timeout
        event = MobilityEvent(
            source_host_name=self._identity.name,
            target_host_name=self._name_of(target),
            source_host_address=self._identity.address,
            target_host_address=target,
            reason=reason,
            **self._identity.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        if hook:
            self._hook(slot, "on_dispatching", lambda: slot.paglet.on_dispatching(event))
        release_resources(slot.paglet)
        slot.mailbox.hold()
        try:
            if not slot.unqueued.wait(limit):
                raise TransferError(
                    f"UNQUEUED handlers of {slot.agent_id} still ran after {limit}s; "
                    f"the paglet stayed on {self._identity.name}",
                    stage="snapshot",
                )
            # The state lock fences run() for the whole hand-off: an update it makes
            # either is in the record or waits and then sees is_leaving.
            with slot.paglet.locked():
                record = self._record(slot, slot.agent_id, reason, arrival)
                self.source.hand_off(slot, target, record, limit, what=reason, moving=True)
                queued = slot.leave(PagletStatus.MOVED, target)
                self._registry.remove(slot.agent_id, moved_to=target)
        except TransferError:
            slot.mailbox.release()
            raise
        # A retract is asked by its destination, which expects the paglet running there
        # when the call returns: wait for "started". A dispatch needs not: the target
        # parks what comes for the paglet until it started it.
        self.source.send_commit(target, record.tid, limit, wait=reason == "retract")
        self._release_files(slot)
        kind = RETRACT if reason == "retract" else DISPATCH
        self._events.record(
            kind, slot.agent_id, class_name=slot.class_path, target=target, reason=reason
        )
        for envelope in queued:
            self._operations.redirect(slot, envelope)
        return target

    def clone(
        self,
        slot: LocalPaglet,
        target: str | None,
        *,
        timeout: float | None = None,
        arrival: str = "activate",
    ) -> tuple[str, str]:
        """Copy ``slot``'s paglet to ``target`` (None: here); return (new id, address)."""
        address = target or self._identity.address
        limit = timeout or self._config.transfer_timeout
        target_name = self._name_of(address)
        common = {
            "source_agent_id": slot.agent_id,
            "source_host_name": self._identity.name,
            "source_host_address": self._identity.address,
            "target_host_name": target_name,
            "target_host_address": address,
        }
        cloning = CloneEvent(**common, **self._identity.event_fields(slot.agent_id))  # type: ignore[arg-type]
        self._hook(slot, "on_cloning", lambda: slot.paglet.on_cloning(cloning))
        clone_id = new_agent_id()
        with slot.paglet.locked():
            record = self._record(slot, clone_id, "clone", arrival)
        self.source.hand_off(slot, address, record, limit, what="clone", moving=False)
        # on_clone (there) runs before on_cloned (here): wait for the start
        self.source.send_commit(address, record.tid, limit, wait=True)
        cloned = CloneEvent(
            clone_agent_id=clone_id,
            **common,  # type: ignore[arg-type]
            **self._identity.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        try:
            slot.paglet.on_cloned(cloned)
        except Exception:
            log.exception("%r: on_cloned raised (the clone exists)", slot.paglet)
        self._events.record(
            CLONE,
            slot.agent_id,
            class_name=slot.class_path,
            clone_agent_id=clone_id,
            target=address,
        )
        return clone_id, address

    def revert(self, slot: LocalPaglet, to_address: str, timeout: float | None = None) -> str:
        """Send ``slot``'s paglet back to ``to_address`` for a retract (on_reverting first)."""
        if self._identity.is_local(to_address):
            return self._identity.address
        event = MobilityEvent(
            source_host_name=self._identity.name,
            target_host_name=self._name_of(to_address),
            source_host_address=self._identity.address,
            target_host_address=to_address,
            reason="retract",
            **self._identity.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        self._hook(slot, "on_reverting", lambda: slot.paglet.on_reverting(event))
        return self.dispatch(slot, to_address, reason="retract", timeout=timeout, hook=False)

    def _hook(self, slot: LocalPaglet, name: str, call: Any) -> None:
        try:
            call()
        except Exception as exc:
            raise TransferError(
                f"{name} of {slot.paglet!r} raised {type(exc).__name__}: {exc}; "
                f"the paglet stayed on {self._identity.name}",
                stage="hook",
            ) from exc

    def _record(
        self, slot: LocalPaglet, agent_id: str, reason: str, arrival: str = "activate"
    ) -> HandoffRecord:
        try:
            state = encode_state(slot.paglet.state)
            files = slot.files.manifest() if slot.has_files else []
        except PagletError as exc:
            raise TransferError(
                f"cannot move {slot.paglet!r}: {exc}; the paglet stayed on {self._identity.name}",
                stage="snapshot",
            ) from exc
        return HandoffRecord(
            tid=new_id(),
            agent_id=agent_id,
            source_agent_id=slot.agent_id,
            class_path=slot.class_path,
            state_class_path=slot.state_class_path,
            state=state,
            reason=reason,
            source_name=self._identity.name,
            source_address=self._identity.address,
            files=tuple(files),
            arrival=arrival,
        )

    def _release_files(self, slot: LocalPaglet) -> None:
        """After a committed dispatch: the paglet's files left with it."""
        try:
            if slot.has_files:
                slot.files.after_move()
            else:
                self._work_area.remove(slot.agent_id)
        except OSError as exc:
            log.warning("files of %s left behind after its dispatch: %s", slot.agent_id, exc)

    def _name_of(self, address: str) -> str:
        if self._identity.is_local(address):
            return self._identity.name
        info = self._peers.get(address)
        return info.name if info is not None else address

    # verbs ----------------------------------------------------------------------------

    def receive(self, record: HandoffRecord) -> str:
        """Prepare an arriving paglet (the ``transfer`` verb); see :class:`Arrivals`."""
        return self.arrivals.prepare(record)

    def commit(self, tid: str) -> str:
        """Start a prepared arrival (the ``transfer.commit`` verb)."""
        return self.arrivals.commit(tid, self._config.transfer_timeout)

    def abort(self, tid: str) -> str:
        """Refuse a transfer unless it committed (the ``abort`` verb)."""
        return self.arrivals.abort(tid)

    def status(self, tid: str) -> str:
        """What this host, as the source, decided (the ``transfer.status`` verb)."""
        return self.source.status(tid)

    def call(self, target: str, verb: str, body: HandoffRecord | str, timeout: float) -> str:
        """Send a hand-off verb to ``target`` (this host itself: a direct call)."""
        return self.source.call(target, verb, body, timeout)
