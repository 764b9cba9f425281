"""Paglets going to rest in the host store and coming back: deactivate, activate, restore.

Deactivating writes the state, the messages waiting in the mailbox (in order) and the
wake-up time in one transaction. A message for an inactive paglet is appended to its
queue in the store (``activate_if_inactive=False`` and ``no_delay=True`` fail fast
instead); unless its policy says to wait for an explicit activation or the wake-up
(``DeactivationPolicy.activate_on_message``), the paglet is then activated, and
activation replays the stored messages in arrival order before anything newer. A
caller waiting for a reply keeps waiting while the host lives; after a restart the
message is still delivered, the reply has nobody to go to.

At start-up the host restores every DURABLE paglet from its checkpoint, schedules the
stored wake-ups (one due fires at once) and activates the paglets whose policy asks
for it. A row whose class no longer imports or whose state no longer decodes is moved
to quarantine with the reason, and the host goes on with the others.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from paglets.core.context_events import ACTIVATE, DEACTIVATE
from paglets.core.errors import (
    HostStoppedError,
    InvalidAgentError,
    PagletError,
    PagletInactiveError,
    StoreError,
)
from paglets.core.events import PersistencyEvent
from paglets.core.messages import UNQUEUED_PRIORITY
from paglets.persistence.persistency import DeactivationRequest
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.leaving import Leaving, message_body, policy_of, split_queued
from paglets.runtime.execution.lifecycle import Lifecycle, release_resources
from paglets.runtime.execution.local_paglet import (
    LocalPaglet,
    LocalPagletOperations,
    PagletStatus,
    not_found,
)
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.wake_scheduler import WakeScheduler
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.persistence.checkpoints import is_durable
from paglets.runtime.persistence.paglet_store import InactiveRow, PagletStore, StoredPaglet
from paglets.wire.codec import encode_state

log = logging.getLogger(__name__)


class Activation:
    """Deactivation, activation, timed wake-ups and start-up restore for one host."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        operations: LocalPagletOperations,
        *,
        identity: HostIdentity,
        registry: Registry,
        store: PagletStore,
        events: EventLog,
        pool: WorkerPool,
        work_area: WorkArea,
    ) -> None:
        self._identity = identity
        self._registry = registry
        self._store = store
        self._events = events
        self._pool = pool
        self._work_area = work_area
        self._lifecycle = lifecycle
        self._operations = operations
        self._lock = threading.RLock()
        self._waiters: dict[str, dict[int, Envelope]] = {}  # replies owed, by stored seq
        self._activating: set[str] = set()
        self.scheduler = WakeScheduler(identity.name, self._wake)
        self.stopping = False

    # deactivate -----------------------------------------------------------------------

    def deactivate(
        self, slot: LocalPaglet, request: DeactivationRequest | None, reason: str = ""
    ) -> None:
        """Persist ``slot``'s paglet with its mailbox and unload it. Runs holding the turn.

        Raises:
            StoreError: the write failed; the paglet stays active with its mailbox.
            ResourceCleanupError: a resource's cleanup failed; the paglet stays active.
            LifecycleError: ``deactivation_policy`` returned something else than a
                DeactivationPolicy.
        """
        self.finish([self.prepare(slot, request, reason)])

    def prepare(
        self, slot: LocalPaglet, request: DeactivationRequest | None, reason: str = ""
    ) -> Leaving:
        """Run ``on_deactivating``, hold the mailbox and snapshot the paglet (in its turn).

        The paglet's ``deactivation_policy(request)`` chooses the policy; its resources
        are released after ``on_deactivating``.
        """
        paglet = slot.paglet
        request = request or DeactivationRequest(reason=reason)
        policy = policy_of(paglet, request)
        event = PersistencyEvent(
            reason=request.reason or reason or "deactivate",
            **self._identity.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        paglet.on_deactivating(event)
        release_resources(paglet)
        slot.mailbox.hold()
        with paglet.locked():
            state = encode_state(paglet.state)
        queued = slot.mailbox.take_all()
        messages, other = split_queued(queued)
        wake_at = None if policy.wake_after is None else time.time() + policy.wake_after
        on_message, on_start = policy.activate_on_message, policy.activate_on_start
        if self.stopping and slot.checkpointer is not None:
            on_start = True  # a durable paglet that was active is active after a restart
        row = InactiveRow(
            slot.agent_id,
            slot.class_path,
            slot.state_class_path,
            state,
            wake_at,
            tuple((envelope.priority, body) for body, envelope in messages),
            on_start,
            on_message,
        )
        return Leaving(
            slot, row, queued, [envelope for _, envelope in messages], other, request.reason
        )

    def finish(self, leaving: list[Leaving]) -> None:
        """Write prepared deactivations in one transaction, then unload the paglets.

        Raises:
            StoreError: the write failed; every paglet stays active with its mailbox.
        """
        try:
            self._store.save_many([each.row for each in leaving])
        except PagletError:
            for each in leaving:
                for envelope in each.queued:
                    each.slot.mailbox.post(envelope, envelope.priority)
                each.slot.mailbox.release()
            raise
        for each in leaving:  # every child is told first, so their ends overlap
            each.slot.execution.begin_stop()
        for each in leaving:
            self._unload(each)

    def _unload(self, leaving: Leaving) -> None:
        slot, row = leaving.slot, leaving.row
        if slot.has_files:  # the files stay in the work dir; the table is kept aside
            self._work_area.save_table(slot.agent_id, slot.files.table())
        slot.leave(PagletStatus.DEACTIVATED)
        self._registry.remove(slot.agent_id)
        self._events.record(
            DEACTIVATE,
            slot.agent_id,
            class_name=slot.class_path,
            reason=leaving.reason,
            kept=len(row.messages),
        )
        if row.wake_at is not None:
            self.scheduler.schedule(slot.agent_id, row.wake_at)
        self.owe(slot.agent_id, leaving.messages)
        for envelope in leaving.other:  # actions waiting for the turn: they see it inactive
            self._operations.redirect(slot, envelope)
        if row.messages and row.activate_on_message and not self.stopping:
            self._pool.submit(self._activate_quietly, slot.agent_id)

    def owe(self, agent_id: str, envelopes: list[Envelope]) -> None:
        """Remember who waits for a reply to the messages just kept for ``agent_id``."""
        if not any(envelope.wants_reply for envelope in envelopes):
            return
        seqs = [message.seq for message in self._store.messages(agent_id)]
        with self._lock:
            owed = self._waiters.setdefault(agent_id, {})
            # the rows just written are the last ones, in the order of ``envelopes``
            for seq, envelope in zip(seqs[-len(envelopes) :], envelopes, strict=False):
                if envelope.wants_reply:
                    owed[seq] = envelope
        if self.stopping:
            self.fail_owed(agent_id)

    def fail_owed(self, agent_id: str | None = None) -> None:
        """Tell callers still waiting that their message is kept for after the restart."""
        with self._lock:
            ids = list(self._waiters) if agent_id is None else [agent_id]
            owed = [self._waiters.pop(each, {}) for each in ids]
        for table in owed:
            for envelope in table.values():
                envelope.respond(
                    error=HostStoppedError(
                        f"host {self._identity.name} stopped; the message was kept in its store "
                        "and is handled when the paglet is active again (do not resend it)"
                    )
                )

    # messages to inactive paglets -----------------------------------------------------

    def deliver_inactive(self, agent_id: str, envelope: Envelope) -> None:
        """Keep a message for an inactive paglet (activating it, per its policy)."""
        if envelope.no_delay or envelope.priority == UNQUEUED_PRIORITY:
            # activate_if_inactive=False, or no_delay=True: it cannot be handled at once
            envelope.respond(
                error=PagletInactiveError(f"paglet {agent_id} is inactive on {self._identity.name}")
            )
            return
        if envelope.action is not None:
            envelope.respond(error=PagletInactiveError(f"paglet {agent_id} is inactive"))
            return
        with self._lock:
            slot = self._registry.get(agent_id)
            if slot is None:
                stored = self._store.load(agent_id)
                if stored is None:
                    slot = None
                else:
                    try:
                        seq = self._store.queue_message(
                            agent_id, envelope.priority, message_body(envelope)
                        )
                    except PagletError as exc:
                        envelope.respond(error=exc)
                        return
                    if envelope.wants_reply:
                        self._waiters.setdefault(agent_id, {})[seq] = envelope
                    if stored.activate_on_message and not self.stopping:
                        self._pool.submit(self._activate_quietly, agent_id)
                    return
        if slot is not None:
            slot.deliver(envelope)
        else:
            envelope.respond(error=not_found(agent_id, self._identity.name))

    # activate -------------------------------------------------------------------------

    def activate(self, agent_id: str, reason: str = "activate") -> LocalPaglet:
        """Load an inactive paglet with its kept messages; ``on_activation`` runs first.

        Returns the slot at once if the paglet is already active.

        Raises:
            InvalidAgentError: no such paglet, active or inactive.
            PagletError: its class or state is unusable (the row was quarantined).
        """
        with self._lock:
            slot = self._registry.get(agent_id)
            if slot is not None:
                return slot
            stored = self._store.load(agent_id)
            if stored is None:
                raise not_found(agent_id, self._identity.name)
            cls, state = self._decode_or_quarantine("inactive", stored)
            owed = self._waiters.pop(agent_id, {})
            envelopes = [
                owed.get(message.seq) or Envelope(message.priority, body=message.body)
                for message in self._store.messages(agent_id)
            ]
            checkpoint = stored.state if is_durable(cls) else None
            slot = self._lifecycle.install(cls, agent_id, state, queued=envelopes)
            try:
                self._store.activated(stored, checkpoint)
            except PagletError:
                self._lifecycle.uninstall(slot)
                self._waiters[agent_id] = owed
                raise
            slot.last_checkpoint = checkpoint
            files = self._work_area.load_table(agent_id)
            if files:
                slot.files.load(files)
                self._work_area.drop_table(agent_id)
            self.scheduler.cancel(agent_id)
        self._enter(slot, reason)
        return slot

    def _enter(self, slot: LocalPaglet, reason: str) -> None:
        event = PersistencyEvent(reason=reason, **self._identity.event_fields(slot.agent_id))  # type: ignore[arg-type]
        try:
            self._lifecycle.run_hook(slot, lambda: slot.paglet.on_activation(event))
        except Exception:
            log.exception("%r: on_activation raised; the paglet is active anyway", slot.paglet)
        self._events.record(ACTIVATE, slot.agent_id, class_name=slot.class_path, reason=reason)
        self._lifecycle.open(slot)

    def _decode_or_quarantine(self, kind: str, stored: StoredPaglet) -> tuple[Any, Any]:
        try:
            return self._lifecycle.decode(stored.class_path, stored.state_class_path, stored.state)
        except PagletError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            try:
                self._store.quarantine(kind, stored.agent_id, reason)
            except StoreError as store_exc:
                log.error("could not quarantine %s: %s", stored.agent_id, store_exc)
            message = (
                f"paglet {stored.agent_id} ({stored.class_path}) cannot be loaded: {reason}; "
                "its record was quarantined (kept in the store's quarantine table)"
            )
            log.error("%s", message)
            self._events.record("quarantined", stored.agent_id, reason=reason)
            raise PagletError(message) from exc

    def _activate_quietly(self, agent_id: str) -> None:
        with self._lock:
            if agent_id in self._activating:
                return
            self._activating.add(agent_id)
        try:
            self.activate(agent_id)
        except InvalidAgentError:
            pass  # activated or disposed meanwhile
        except PagletError as exc:
            log.info("activation of %s skipped: %s", agent_id, exc)
        finally:
            with self._lock:
                self._activating.discard(agent_id)

    def _wake(self, agent_id: str) -> None:
        self._pool.submit(self._activate_quietly, agent_id)

    def dispose_inactive(self, agent_id: str) -> None:
        """Forget the wake-up and the owed replies of a paglet disposed while inactive."""
        self.scheduler.cancel(agent_id)
        with self._lock:
            owed = self._waiters.pop(agent_id, {})
        for envelope in owed.values():
            envelope.respond(error=InvalidAgentError(f"paglet {agent_id} was disposed"))

    # start-up -------------------------------------------------------------------------

    def restore(self, stored: StoredPaglet, reason: str = "restore") -> LocalPaglet | None:
        """Bring back an active paglet from a checkpoint or a transfer record.

        Returns None (and quarantines the checkpoint) when it cannot be loaded.
        """
        if self._registry.get(stored.agent_id) is not None:
            return None
        try:
            cls, state = self._decode_or_quarantine("checkpoint", stored)
        except PagletError:
            return None
        slot = self._lifecycle.install(cls, stored.agent_id, state)
        if is_durable(cls):
            slot.last_checkpoint = stored.state
        self._enter(slot, reason)
        return slot

    def start(self) -> None:
        """Restore durable paglets, schedule wake-ups, activate what asks for it."""
        store = self._store
        for stored in store.checkpoints():
            self.restore(stored)
        now = time.time()
        for agent_id, at in store.wake_ups():
            self.scheduler.schedule(agent_id, max(at, now))
        for agent_id in store.activate_on_start():
            self._pool.submit(self._activate_quietly, agent_id)

    def stop(self) -> None:
        """Stop the wake-up thread (the times stay stored) and fail owed replies."""
        self.scheduler.stop()
        self.fail_owed()
