"""The source side of the two-phase hand-off: record, prepare, decide, tell the target.

The source decides; the target follows (:mod:`~paglets.runtime.mobility.arrivals`).
For one transfer id the source writes an ``out`` record ``prepared`` before it sends
the paglet, then ``committed`` (dropping the paglet's checkpoint in the same
transaction when it moves) or ``aborted``, and ``done`` once the target answered
``started``. ``transfer.status`` answers from that record; docs/durability.md has the
failure table and which of these writes wait for the disk.
"""

from __future__ import annotations

import logging
import threading
import time

from paglets.core.errors import (
    HostStoppedError,
    PagletError,
    ReplyTimeoutError,
    StoreError,
    TransferError,
)
from paglets.core.messages import FutureReply
from paglets.net.transport import Transport
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.execution.local_paglet import LocalPaglet
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mobility.arrivals import STARTED, Arrivals
from paglets.runtime.mobility.fault_points import fault_point
from paglets.runtime.persistence import transfer_log as phases
from paglets.runtime.persistence.transfer_log import OUT, TransferLog
from paglets.wire import handoff_bodies
from paglets.wire.codec import encode_value
from paglets.wire.handoff_bodies import HandoffRecord, checked_answer
from paglets.wire.protocol import (
    VERB_ABORT,
    VERB_TRANSFER,
    VERB_TRANSFER_COMMIT,
    VERB_TRANSFER_STATUS,
)

log = logging.getLogger(__name__)

PENDING = handoff_bodies.PENDING


class SourceSide:
    """The hand-offs this host sends: one per dispatch, clone or retract.

    Args:
        transfers: the hand-off log.
        arrivals: this host's own target side (a hand-off to itself).
        identity: this host's name and addresses.
        transport: sends the hand-off verbs.
        backend: calls the other host and decodes its answers.
        streams: serves the carried files to the target.
        min_rate: the slowest file rate (bytes/s) a hand-off's deadline allows for.
    """

    def __init__(
        self,
        transfers: TransferLog,
        arrivals: Arrivals,
        *,
        identity: HostIdentity,
        transport: Transport,
        backend: RemoteProxyBackend,
        streams: ArtifactStreams,
        min_rate: float,
    ) -> None:
        self._identity = identity
        self._transport = transport
        self._backend = backend
        self._streams = streams
        self._min_rate = min_rate
        self.transfers = transfers
        self.arrivals = arrivals
        self._deciding: set[str] = set()  # out transfers whose source thread still decides
        self._started: set[str] = set()  # committed ones the target answered "started"
        self._lock = threading.Lock()

    def hand_off(
        self,
        slot: LocalPaglet,
        target: str,
        record: HandoffRecord,
        limit: float,
        what: str,
        moving: bool,
    ) -> None:
        """Prepare at the target and commit here; raise TransferError if it aborted.

        Runs holding the paglet's turn, its mailbox held and ``run()`` fenced.
        """
        tid = record.tid
        record = record.with_timeout(limit)
        stayed = f"the paglet stayed on {self._identity.name}"
        try:
            # no fsync: lost to a power cut, the paglet is still here (its checkpoint is
            # dropped only by the commit) and the target hears "aborted" for an unknown id
            deadline = time.time() + limit
            self.transfers.begin(
                tid, OUT, slot.agent_id, target, record.to_wire(), deadline, durable=False
            )
        except StoreError as exc:
            raise TransferError(
                f"{what} of {slot.agent_id} not started: {exc}; {stayed}", stage="prepare"
            ) from exc
        with self._lock:
            self._deciding.add(tid)
        fault_point("source-preparing")
        try:
            try:
                self._prepare(slot, target, record, limit, what)
            except TransferError:
                self._decide(tid, phases.ABORTED)
                raise
            fault_point("source-prepared")
            if not self._decide(
                tid, phases.COMMITTED, drop_checkpoint=slot.agent_id if moving else None
            ):
                self._tell_abort(target, tid)
                raise TransferError(
                    f"{what} of {slot.agent_id} to {target} could not be committed here; {stayed}",
                    stage="commit",
                )
            fault_point("source-committed")
        finally:
            with self._lock:
                self._deciding.discard(tid)

    def _decide(self, tid: str, phase: str, drop_checkpoint: str | None = None) -> bool:
        try:
            # the commit is what the target acts on: durable; an abort needs no fsync
            return self.transfers.move(
                tid,
                OUT,
                phase,
                expect=phases.PREPARED,
                drop_checkpoint=drop_checkpoint,
                durable=phase == phases.COMMITTED,
            )
        except StoreError as exc:
            log.error("transfer %s: could not record %s: %s", tid, phase, exc)
            return False  # unrecorded is aborted: transfer.status answers so

    def _prepare(
        self, slot: LocalPaglet, target: str, record: HandoffRecord, limit: float, what: str
    ) -> None:
        files = record.files
        serving = self._streams.serving
        if files:
            paths = slot.files.registered()
            missing = [item.name for item in files if item.name not in paths]
            if missing:  # unregistered by run() since the snapshot
                raise TransferError(
                    f"registered files {missing} vanished during the move; the paglet "
                    f"stayed on {self._identity.name}",
                    stage="snapshot",
                )
            serving.serve(
                record.tid,
                slot.agent_id,
                {item.name: (paths[item.name], item.size) for item in files},
            )
            limit += sum(item.size for item in files) / self._min_rate
        stayed = f"the paglet stayed on {self._identity.name}"
        try:
            self.call(target, VERB_TRANSFER, record, limit)
        except (ReplyTimeoutError, HostStoppedError) as exc:
            self._tell_abort(target, record.tid)
            raise TransferError(
                f"{what} of paglet {record.source_agent_id} to {target} got no answer "
                f"({exc}); aborted, {stayed}",
                stage="transfer",
            ) from exc
        except PagletError as exc:  # refused, or never sent: nothing runs there
            raise TransferError(
                f"{what} of paglet {record.source_agent_id} to {target} failed: "
                f"{type(exc).__name__}: {exc}; aborted, {stayed}",
                stage="transfer",
            ) from exc
        finally:
            if files:
                serving.stop(record.tid)

    def _tell_abort(self, target: str, tid: str) -> None:
        """Best effort: a target that misses it asks ``transfer.status`` later."""
        try:
            self.call(target, VERB_ABORT, tid, 2.0)
        except PagletError as exc:
            log.info("transfer %s: abort not delivered to %s (%s); it will ask", tid, target, exc)

    def send_commit(self, target: str, tid: str, limit: float, wait: bool = False) -> None:
        """Tell the target to start (``wait``: until it did); see :meth:`flush_started`.

        Not waiting is safe: the target parks messages for a paglet it prepared until it
        started it. On no answer the settlement sends the commit again.
        """
        try:
            if wait or self._identity.is_local(target):
                answer = self.call(target, VERB_TRANSFER_COMMIT, tid, limit)
                fault_point("source-commit-sent")
                self._mark_done(tid, answer)
                return
            # unordered: a later call of this thread to the target need not queue
            # behind it (the target parks what comes for a paglet it has not started)
            future = self._transport.request(
                target, VERB_TRANSFER_COMMIT, encode_value(tid), timeout=limit, ordered=False
            )
        except PagletError as exc:
            log.warning("transfer %s committed; %s not told yet (%s): retrying", tid, target, exc)
            return
        future.add_done_callback(lambda done: self._commit_answered(target, tid, done))

    def _commit_answered(self, target: str, tid: str, future: FutureReply) -> None:
        try:
            answer = self._backend.decode(future.get_reply(0))
            self._mark_done(tid, checked_answer(VERB_TRANSFER_COMMIT, answer, target))
        except PagletError as exc:
            log.warning("transfer %s committed; %s not told yet (%s): retrying", tid, target, exc)

    def _mark_done(self, tid: str, answer: str) -> None:
        if answer == STARTED:
            with self._lock:
                self._started.add(tid)

    def flush_started(self) -> int:
        """Mark done, in one transaction, the commits the targets answered "started".

        The settlement calls it every pass: "started" is bookkeeping nobody acts on
        (a restart before the flush sends the commit again, which a target answers
        "started" once more), so it costs the hand-off no write of its own.
        """
        with self._lock:
            tids, self._started = self._started, set()
        if not tids:
            return 0
        try:
            return self.transfers.settle(sorted(tids), OUT, phases.COMMITTED)
        except (StoreError, HostStoppedError) as exc:
            log.warning("could not record %d hand-offs done: %s", len(tids), exc)
            return 0

    def was_started(self, tid: str) -> bool:
        """Whether the target answered "started" and :meth:`flush_started` has not run."""
        with self._lock:
            return tid in self._started

    def call(self, target: str, verb: str, body: HandoffRecord | str, timeout: float) -> str:
        """Send a hand-off verb to ``target`` (this host itself: a direct call).

        Args:
            body: the record for ``transfer``, else the transfer id.

        Returns:
            The answer, one of those :data:`~paglets.wire.handoff_bodies.ANSWERS` allows.

        Raises:
            PagletError: the target refused, did not answer, or answered something else.
        """
        if self._identity.is_local(target):
            if isinstance(body, HandoffRecord):
                return self.arrivals.prepare(body)
            if verb == VERB_TRANSFER_COMMIT:
                return self.arrivals.commit(body, timeout)
            if verb == VERB_TRANSFER_STATUS:
                return self.status(body)
            return self.arrivals.abort(body)
        value = body.to_wire() if isinstance(body, HandoffRecord) else body
        answer = self._backend.call(target, verb, value, timeout=timeout)
        return checked_answer(verb, answer, target)

    def status(self, tid: str) -> str:
        """What this host, as the source, decided (the ``transfer.status`` verb).

        Returns:
            ``"committed"``, ``"aborted"`` (also for a transfer never recorded here:
            a source records before it sends) or ``"pending"`` while still deciding.
        """
        phase = self.transfers.phase(tid, OUT)
        if phase in (phases.COMMITTED, phases.DONE):
            return phases.COMMITTED
        if phase == phases.PREPARED:
            with self._lock:
                if tid in self._deciding:
                    return PENDING
            # nobody decides it any more (the host restarted, or a write failed)
            self._decide(tid, phases.ABORTED)
        return phases.ABORTED
