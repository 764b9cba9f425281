"""The target side of a hand-off: prepare an arriving paglet, start it on commit only.

``transfer`` (prepare) checks and decodes everything, pulls the carried files into a
staging dir and writes an ``in`` record in phase ``prepared``; it starts nothing. Only
``commit`` from the source (or the source's answer ``committed`` to ``transfer.status``)
starts the paglet, so a target never runs a paglet its source may still resume. An
``abort`` moves a prepared (or not yet seen) transfer to ``aborted``: a late or replayed
``transfer`` of it is refused. Every verb is idempotent: a duplicated frame gets the
answer the first one got.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.context_events import ARRIVAL
from paglets.core.errors import (
    ArtifactError,
    OverloadedError,
    PagletError,
    RemoteHostError,
    TransferError,
)
from paglets.disk.partial_file import storage_error
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.lifecycle import Lifecycle
from paglets.runtime.execution.registry import Registry
from paglets.runtime.files.paglet_files import PagletFiles
from paglets.runtime.files.work_area import WorkArea, remove_tree
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mobility.arrival_hook import arrival_hook
from paglets.runtime.mobility.fault_points import fault_point
from paglets.runtime.mobility.staging import naming_staging, staged_dir
from paglets.runtime.persistence import transfer_log as phases
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.persistence.transfer_log import IN, TransferLog
from paglets.runtime.stop_signal import StopSignal
from paglets.wire import handoff_bodies
from paglets.wire.codec import encode_state
from paglets.wire.handoff_bodies import INACTIVE, HandoffRecord

log = logging.getLogger(__name__)

STARTED = handoff_bodies.STARTED
PREPARED_REPLY = handoff_bodies.PREPARED
COMMITTED_REPLY = handoff_bodies.COMMITTED
ABORTED_REPLY = handoff_bodies.ABORTED


class Arrivals:
    """Prepared and starting transfers on the target side.

    ``redirect`` and ``requeue`` take the messages parked for an arrival (at most
    ``max_parked``) when it aborted or started; see :meth:`park`.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        transfers: TransferLog,
        *,
        redirect: Callable[[str, str, Envelope], None],
        requeue: Callable[[str, Envelope], None],
        max_parked: int,
        identity: HostIdentity,
        stop: StopSignal,
        registry: Registry,
        store: PagletStore,
        events: EventLog,
        work_area: WorkArea,
        streams: ArtifactStreams,
    ) -> None:
        self._identity = identity
        self._stop = stop
        self._registry = registry
        self._store = store
        self._events = events
        self._work_area = work_area
        self._streams = streams
        self._max_parked = max_parked
        self._lifecycle = lifecycle
        self._log = transfers
        self._lock = threading.Lock()
        self._staging: dict[str, threading.Event] = {}  # files arriving; set = cancel
        self._staged: dict[str, Path] = {}
        self._starting: dict[str, threading.Event] = {}
        # what prepare decoded, with the record, for the commit of this run
        self._decoded: dict[str, tuple[type[Paglet[Any]], PagletState, HandoffRecord]] = {}
        # messages for a paglet prepared here and not started yet, delivered once it is
        self._parked: dict[str, list[Envelope]] = {}
        self._redirect = redirect
        self._requeue = requeue
        self._settled = threading.Condition(self._lock)

    def wait_arrival(self, agent_id: str, timeout: float) -> bool:
        """Wait while ``agent_id`` is prepared here and not started; False if still so."""
        with self._settled:
            return self._settled.wait_for(lambda: agent_id not in self._parked, timeout)

    def park(self, agent_id: str, envelope: Envelope) -> bool:
        """Keep a message for a paglet prepared here until it starts; False if none is.

        Raises nothing: a full parking answers the envelope with OverloadedError.
        """
        with self._lock:
            waiting = self._parked.get(agent_id)
            if waiting is None:
                return False
            if len(waiting) < self._max_parked:
                waiting.append(envelope)
                return True
        envelope.respond(error=OverloadedError(f"paglet {agent_id} is arriving; too many waiting"))
        return True

    def _unpark(self, agent_id: str, source: str) -> None:
        """The transfer aborted: send what waited back to where the paglet stayed."""
        with self._lock:
            waiting = self._parked.pop(agent_id, [])
            self._settled.notify_all()
        for envelope in waiting:
            self._redirect(agent_id, source, envelope)

    def prepare(self, record: HandoffRecord) -> str:
        """Stage an arriving paglet (the ``transfer`` verb); start nothing.

        Returns:
            ``"prepared"``, or ``"committed"`` when this transfer started here already.

        Raises:
            ClassResolutionError, SerializationError: the class or state is refused.
            TransferError: aborted, or the paglet already lives here.
        """
        tid, agent_id = record.tid, record.agent_id
        if self._stop.is_set():
            raise TransferError(f"host {self._identity.name} is stopping: nothing was staged")
        fault_point("target-preparing")
        known = self._known(tid)
        if known is not None:
            return known
        cls, state = self._lifecycle.decode(
            record.class_path, record.state_class_path, record.state
        )
        if self._registry.get(agent_id) is not None:
            raise TransferError(f"paglet {agent_id} already lives on {self._identity.name}")
        staging = self._stage_files(record) if record.files else None
        timeout = record.timeout
        wait = timeout if timeout is not None and 0 < timeout < 86_400 else 30.0
        with self._lock:
            try:
                known = self._known(tid)
            except TransferError:
                if staging is not None:
                    remove_tree(staging)
                raise
            if known is None:
                self._log.begin(
                    tid, IN, agent_id, record.source_address,
                    naming_staging(record.to_wire(), staging),  # adopted after a restart too
                    time.time() + wait + 1.0,
                )  # fmt: skip
                self._parked.setdefault(agent_id, [])
                if staging is not None:
                    self._staged[tid] = staging
        if known is not None:
            if staging is not None:
                remove_tree(staging)
            return known
        with self._lock:  # the commit starts from these; after a restart, from the record
            self._decoded[tid] = (cls, state, record)
        fault_point("target-prepared")
        return PREPARED_REPLY

    def _known(self, tid: str) -> str | None:
        phase = self._log.phase(tid, IN)
        if phase == phases.PREPARED:
            return PREPARED_REPLY
        if phase in (phases.COMMITTED, phases.DONE):
            return COMMITTED_REPLY
        if phase == phases.ABORTED:
            raise TransferError(f"transfer {tid} was aborted")
        return None

    def commit(self, tid: str, timeout: float = 30.0) -> str:
        """Start a prepared paglet (the ``transfer.commit`` verb); return ``"started"``.

        Raises:
            TransferError: the transfer is unknown here or was aborted.
        """
        fault_point("target-committing")
        with self._lock:
            kept = self._decoded.get(tid)
        phase = self._log.phase(tid, IN)
        if phase is None:
            raise TransferError(f"transfer {tid} is unknown on {self._identity.name}")
        if phase == phases.ABORTED:
            raise TransferError(f"transfer {tid} was aborted")
        if phase == phases.DONE:
            return STARTED
        if kept is not None:  # prepared in this run: the record is in memory too
            record = kept[2]
        else:  # prepared before a restart: read it back
            entry = self._log.get(tid, IN)
            if entry is None:
                raise TransferError(f"transfer {tid} is unknown on {self._identity.name}")
            record = HandoffRecord.from_wire(entry.record)
        with self._lock:
            starting = self._starting.get(tid)
            if starting is None:
                starting = self._starting[tid] = threading.Event()
                mine = True
            else:
                mine = False
        if not mine:
            starting.wait(timeout)
            if self._log.phase(tid, IN) == phases.DONE:
                return STARTED
            raise TransferError(f"transfer {tid} is still starting on {self._identity.name}")
        try:
            self._start_entry(tid, record, phase)
        finally:
            with self._lock:
                self._starting.pop(tid, None)
            starting.set()
        return STARTED

    def _start_entry(self, tid: str, record: HandoffRecord, phase: str) -> None:
        agent_id = record.agent_id
        with self._lock:
            decoded = self._decoded.pop(tid, None)
        if decoded is not None:
            cls, state = decoded[0], decoded[1]
        else:
            cls, state = self._lifecycle.decode(
                record.class_path, record.state_class_path, record.state
            )
        if phase == phases.PREPARED:
            checkpoint = None
            if getattr(cls, "DURABLE", False) and record.arrival != INACTIVE:
                checkpoint = (agent_id, record.class_path, record.state_class_path,
                              record.state)  # fmt: skip
            # no fsync: lost to a power cut, the record is prepared again and the
            # source's durable commit answers transfer.status
            if not self._log.move(tid, IN, phases.COMMITTED, expect=phases.PREPARED,
                                  checkpoint=checkpoint, durable=False):  # fmt: skip
                raise TransferError(f"transfer {tid} was aborted meanwhile")
            fault_point("target-committed")
        if self._registry.get(agent_id) is None:
            with self._lock:
                staging = self._staged.pop(tid, None)
            if staging is None:  # prepared before a restart: the record names it
                entry = self._log.get(tid, IN)
                staging = None if entry is None else staged_dir(self._work_area, tid, entry.record)
            self._start(record, cls, state, staging)
        self._log.move(tid, IN, phases.DONE, durable=False)

    def abort(self, tid: str) -> str:
        """Refuse a transfer from now on (the ``abort`` verb) unless it committed.

        Returns:
            ``"committed"`` if it committed here, else ``"aborted"``.
        """
        with self._lock:
            entry = self._log.get(tid, IN)
            phase = None if entry is None else entry.phase
            if phase in (phases.COMMITTED, phases.DONE):
                return COMMITTED_REPLY
            if phase is None:
                self._log.begin(tid, IN, "", "", {}, 0.0, durable=False)
                staging = self._staging.get(tid)
                if staging is not None:
                    staging.set()  # its files are still arriving: stop pulling them
            self._log.move(tid, IN, phases.ABORTED, expect=phases.PREPARED, durable=False)
            staged = self._staged.pop(tid, None)
            self._decoded.pop(tid, None)
        if staged is None and entry is not None:  # prepared before a restart
            staged = staged_dir(self._work_area, tid, entry.record)
        if staged is not None:
            remove_tree(staged)
        if entry is not None and entry.agent_id:
            self._unpark(entry.agent_id, entry.peer)
        return ABORTED_REPLY

    def _stage_files(self, record: HandoffRecord) -> Path:
        """Pull the files an arriving paglet carries into a staging dir; return it."""
        tid, files, source = record.tid, record.files, record.source_address
        cancelled = threading.Event()
        with self._lock:
            if tid in self._staging:
                raise TransferError(f"transfer {tid} is arriving already")
            self._staging[tid] = cancelled
        try:
            staging = self._work_area.staging(tid)
            try:
                self._streams.pull_files(source, tid, record.agent_id, files, staging, cancelled)
            except RemoteHostError as exc:
                remove_tree(staging)
                raise ArtifactError(
                    f"could not pull the paglet's files from {source}: {type(exc).__name__}: {exc}"
                ) from exc
            except BaseException:
                remove_tree(staging)
                raise
        finally:
            with self._lock:
                self._staging.pop(tid, None)
        return staging

    def _start(
        self,
        record: HandoffRecord,
        cls: type[Paglet[Any]],
        state: PagletState,
        staging: Path | None = None,
    ) -> None:
        agent_id = record.agent_id
        if record.arrival == INACTIVE:
            try:
                if not self._store.contains(agent_id):  # (a restart may have cut it short)
                    self._store_inactive(record, staging)
            finally:
                self._release_parked(agent_id)
            return
        with self._lock:  # parked messages go first, before anything newer can come in
            parked = self._parked.pop(agent_id, [])
            slot = self._lifecycle.install(cls, agent_id, state, queued=parked)
            self._settled.notify_all()
        if getattr(cls, "DURABLE", False):
            slot.last_checkpoint = encode_state(state)
        if staging is not None and record.files:
            try:
                slot.files.adopt(staging, record.files)
            except BaseException as exc:
                self._lifecycle.uninstall(slot)
                self._work_area.remove(agent_id)
                if isinstance(exc, OSError):
                    raise storage_error(exc, f"the work dir of {agent_id}") from None
                raise
        reason, source_name = record.reason, record.source_name
        event, hook = arrival_hook(record, self._identity, slot.paglet, agent_id)
        try:
            self._lifecycle.run_hook(slot, lambda: hook(event))
        except Exception:
            log.exception("%r: %s raised; the paglet is here anyway", slot.paglet, hook.__name__)
        self._events.record(
            ARRIVAL, agent_id, class_name=slot.class_path, source=source_name, reason=reason
        )
        self._lifecycle.open(slot)

    def _store_inactive(self, record: HandoffRecord, staging: Path | None) -> None:
        """Keep an arrived paglet inactive: its record's state in the store, its files in
        its work dir. It is never installed: no hook runs, ``run()`` does not start, and
        nobody sees it active; an ``activate`` (or a message) loads it as any other."""
        agent_id = record.agent_id
        files = PagletFiles(self._work_area, agent_id)
        if staging is not None and record.files:
            try:
                files.adopt(staging, record.files)
            except OSError as exc:
                self._work_area.remove(agent_id)
                raise storage_error(exc, f"the work dir of {agent_id}") from None
        cls_path, state_cls_path = record.class_path, record.state_class_path
        self._store.save(agent_id, cls_path, state_cls_path, record.state, None)
        if files:
            self._work_area.save_table(agent_id, files.table())
        self._events.record(ARRIVAL, agent_id, class_name=cls_path, arrival="inactive")

    def _release_parked(self, agent_id: str) -> None:
        """The arrival is settled: what waited for it goes where the paglet is now."""
        with self._lock:
            waiting = self._parked.pop(agent_id, [])
            self._settled.notify_all()
        for envelope in waiting:
            self._requeue(agent_id, envelope)

    def start_recovered(self, tid: str, record: dict[str, Any]) -> None:
        """Finish a committed arrival found at start-up (the host died while starting it)."""
        try:
            self._start_entry(tid, HandoffRecord.from_wire(record), phases.COMMITTED)
        except PagletError as exc:
            log.error("transfer %s committed here but cannot start: %s", tid, exc)
