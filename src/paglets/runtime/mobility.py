"""Moving paglets between hosts: dispatch, clone and retract, as a two-step hand-off.

Source side (holding the paglet's turn)::

    hook (on_dispatching / on_cloning / on_reverting)
    snapshot the state                      -> record with a transfer id
    stage  -> target                        target decodes and keeps it, not running
    hold the mailbox (messages queue)
    commit -> target                        target installs it, runs on_arrival/on_clone,
                                            lets messages in and starts run()
    leave: forwarding address, queued messages redirected (dispatch only)

Any failure up to the commit leaves the paglet at the source and raises
``TransferError``. A commit that cannot be confirmed is followed by an abort; only a
target that answers "committed" to it keeps the paglet, otherwise the source resumes
it (the target drops what it staged), so the paglet is never lost and never runs twice
unless the target vanishes between committing and answering both calls.

Commit is idempotent: a repeated commit of a committed transfer answers True again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError, TransferError
from paglets.core.events import CloneEvent, MobilityEvent
from paglets.runtime.lifecycle import Lifecycle, new_agent_id
from paglets.runtime.parts import HostParts
from paglets.runtime.slot import AgentSlot, SlotOperations, SlotStatus
from paglets.wire.codec import encode_state
from paglets.wire.protocol import VERB_ABORT, VERB_COMMIT, VERB_STAGE

log = logging.getLogger(__name__)

_COMMITTED = "committed"
_ABORTED = "aborted"
_UNKNOWN = "unknown"


@dataclass
class _Staged:
    record: dict[str, Any]
    cls: type[Paglet[Any]]
    state: PagletState
    expires: float
    done: threading.Event = field(default_factory=threading.Event)
    committing: bool = False


class Mobility:
    """Both ends of dispatch, clone and retract for one host."""

    def __init__(
        self, parts: HostParts, lifecycle: Lifecycle, operations: SlotOperations
    ) -> None:
        self._parts = parts
        self._lifecycle = lifecycle
        self._operations = operations
        self._staged: dict[str, _Staged] = {}
        self._outcomes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    # source side ----------------------------------------------------------------------

    def dispatch(
        self,
        slot: AgentSlot,
        target: str,
        *,
        reason: str = "dispatch",
        timeout: float | None = None,
        hook: bool = True,
    ) -> str:
        """Move ``slot``'s paglet to the host at ``target``; return the new address.

        Runs holding the paglet's turn. Raises TransferError (the paglet stays).
        """
        parts = self._parts
        if parts.is_local(target):
            return parts.address
        limit = timeout or parts.config.transfer_timeout
        event = MobilityEvent(
            source_host_name=parts.name,
            target_host_name=self._name_of(target),
            source_address=parts.address,
            target_address=target,
            reason=reason,
            **parts.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        if hook:
            self._hook(slot, "on_dispatching", lambda: slot.paglet.on_dispatching(event))
        record = self._record(slot, slot.agent_id, reason)
        self._stage(target, record, limit, what=reason)
        slot.mailbox.hold()
        try:
            self._commit(target, record["tid"], limit)
        except TransferError:
            slot.mailbox.release()
            raise
        queued = slot.leave(SlotStatus.MOVED, target)
        parts.registry.remove(slot.agent_id, moved_to=target)
        parts.events.record("dispatched", slot.agent_id, target=target, reason=reason)
        for envelope in queued:
            self._operations.redirect(slot, envelope)
        return target

    def clone(
        self, slot: AgentSlot, target: str | None, *, timeout: float | None = None
    ) -> tuple[str, str]:
        """Copy ``slot``'s paglet to ``target`` (None: here); return (new id, address)."""
        parts = self._parts
        address = target or parts.address
        limit = timeout or parts.config.transfer_timeout
        target_name = self._name_of(address)
        common = {
            "source_agent_id": slot.agent_id,
            "source_host_name": parts.name,
            "target_host_name": target_name,
        }
        cloning = CloneEvent(**common, **parts.event_fields(slot.agent_id))  # type: ignore[arg-type]
        self._hook(slot, "on_cloning", lambda: slot.paglet.on_cloning(cloning))
        clone_id = new_agent_id()
        record = self._record(slot, clone_id, "clone")
        self._stage(address, record, limit, what="clone")
        self._commit(address, record["tid"], limit)
        cloned = CloneEvent(
            clone_agent_id=clone_id, **common, **parts.event_fields(slot.agent_id)  # type: ignore[arg-type]
        )
        try:
            slot.paglet.on_cloned(cloned)
        except Exception:
            log.exception("%r: on_cloned raised (the clone exists)", slot.paglet)
        parts.events.record("cloned", slot.agent_id, clone=clone_id, target=address)
        return clone_id, address

    def revert(self, slot: AgentSlot, to_address: str, timeout: float | None = None) -> str:
        """Send ``slot``'s paglet back to ``to_address`` for a retract (on_reverting first)."""
        parts = self._parts
        if parts.is_local(to_address):
            return parts.address
        event = MobilityEvent(
            source_host_name=parts.name,
            target_host_name=self._name_of(to_address),
            source_address=parts.address,
            target_address=to_address,
            reason="retract",
            **parts.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        self._hook(slot, "on_reverting", lambda: slot.paglet.on_reverting(event))
        return self.dispatch(slot, to_address, reason="retract", timeout=timeout, hook=False)

    def _hook(self, slot: AgentSlot, name: str, call: Any) -> None:
        try:
            call()
        except Exception as exc:
            raise TransferError(
                f"{name} of {slot.paglet!r} raised {type(exc).__name__}: {exc}; "
                f"the paglet stayed on {self._parts.name}"
            ) from exc

    def _record(self, slot: AgentSlot, agent_id: str, reason: str) -> dict[str, Any]:
        try:
            with slot.paglet.locked():
                state = encode_state(slot.paglet.state)
        except PagletError as exc:
            raise TransferError(
                f"cannot move {slot.paglet!r}: {exc}; the paglet stayed on {self._parts.name}"
            ) from exc
        return {
            "tid": uuid.uuid4().hex,
            "agent_id": agent_id,
            "source_agent_id": slot.agent_id,
            "class": slot.class_path,
            "state_class": slot.state_class_path,
            "state": state,
            "reason": reason,
            "source_name": self._parts.name,
            "source_address": self._parts.address,
        }

    def _call(self, target: str, verb: str, value: Any, timeout: float) -> Any:
        if self._parts.is_local(target):
            if verb == VERB_STAGE:
                return self.stage(value)
            if verb == VERB_COMMIT:
                return self.commit(value, timeout)
            return self.abort(value)
        return self._parts.require_backend().call(target, verb, value, timeout=timeout)

    def _stage(self, target: str, record: dict[str, Any], timeout: float, what: str) -> None:
        try:
            self._call(target, VERB_STAGE, record, timeout)
        except PagletError as exc:
            raise TransferError(
                f"{what} of paglet {record['source_agent_id']} to {target} failed: "
                f"{type(exc).__name__}: {exc}; the paglet stayed on {self._parts.name}"
            ) from exc

    def _commit(self, target: str, tid: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        error: PagletError | None = None
        while time.monotonic() < deadline:
            try:
                self._call(target, VERB_COMMIT, tid, max(0.1, deadline - time.monotonic()))
                return
            except TransferError:
                raise
            except PagletError as exc:
                error = exc
                log.warning("commit of transfer %s to %s failed (%s); retrying", tid, target, exc)
        try:
            outcome = self._call(target, VERB_ABORT, tid, min(timeout, 5.0))
        except PagletError as exc:
            outcome = _UNKNOWN
            log.warning("abort of transfer %s at %s failed: %s", tid, target, exc)
        if outcome == _COMMITTED:
            return
        raise TransferError(
            f"transfer {tid} to {target} could not be committed ({error}); "
            f"the paglet stayed on {self._parts.name}"
        )

    def _name_of(self, address: str) -> str:
        if self._parts.is_local(address):
            return self._parts.name
        info = self._parts.peers.get(address)
        return info.name if info is not None else address

    # target side ----------------------------------------------------------------------

    def stage(self, record: Any) -> bool:
        """Keep an arriving paglet ready to start (the ``stage`` verb).

        Raises:
            ClassResolutionError, SerializationError: the class or state is refused.
            TransferError: the record is malformed or the paglet already lives here.
        """
        if not isinstance(record, dict):
            raise TransferError("a transfer record must be a map")
        try:
            tid = str(record["tid"])
            agent_id = str(record["agent_id"])
            cls, state = self._lifecycle.decode(
                str(record["class"]), str(record["state_class"]), record["state"]
            )
        except KeyError as exc:
            raise TransferError(f"transfer record lacks {exc.args[0]!r}") from None
        if self._parts.registry.get(agent_id) is not None:
            raise TransferError(f"paglet {agent_id} already lives on {self._parts.name}")
        now = time.monotonic()
        with self._lock:
            for key in [k for k, v in self._staged.items() if v.expires < now]:
                log.warning("staged transfer %s expired without a commit; dropped", key)
                del self._staged[key]
            self._staged[tid] = _Staged(
                record, cls, state, now + 2 * self._parts.config.transfer_timeout + 10
            )
        return True

    def commit(self, tid: Any, timeout: float | None = None) -> bool:
        """Start a staged paglet here (the ``commit`` verb); idempotent.

        Raises:
            TransferError: no such staged transfer (never staged, aborted or expired).
        """
        tid = str(tid)
        with self._lock:
            if self._outcomes.get(tid) == _COMMITTED:
                return True
            staged = self._staged.get(tid)
            if staged is None:
                raise TransferError(f"no staged transfer {tid} on {self._parts.name}")
            in_progress = staged.committing
            staged.committing = True
        if in_progress:
            staged.done.wait(timeout or self._parts.config.transfer_timeout)
            if self._outcomes.get(tid) == _COMMITTED:
                return True
            raise TransferError(f"transfer {tid} is still being committed")
        try:
            self._start(staged)
        except BaseException:
            with self._lock:
                self._staged.pop(tid, None)
                self._remember(tid, _ABORTED)
            staged.done.set()
            raise
        with self._lock:
            self._staged.pop(tid, None)
            self._remember(tid, _COMMITTED)
        staged.done.set()
        return True

    def abort(self, tid: Any) -> str:
        """Drop a staged transfer (the ``abort`` verb); answer what became of it."""
        tid = str(tid)
        with self._lock:
            outcome = self._outcomes.get(tid)
            if outcome is not None:
                return outcome
            staged = self._staged.get(tid)
            if staged is not None and staged.committing:
                return _COMMITTED
            if self._staged.pop(tid, None) is None:
                return _UNKNOWN
            self._remember(tid, _ABORTED)
        return _ABORTED

    def _remember(self, tid: str, outcome: str) -> None:
        self._outcomes[tid] = outcome
        while len(self._outcomes) > 10_000:
            self._outcomes.popitem(last=False)

    def _start(self, staged: _Staged) -> None:
        record = staged.record
        parts = self._parts
        agent_id = str(record["agent_id"])
        slot = self._lifecycle.install(staged.cls, agent_id, staged.state)
        reason = str(record["reason"])
        source_name = str(record["source_name"])
        fields = parts.event_fields(agent_id)
        if reason == "clone":
            event: Any = CloneEvent(
                source_agent_id=str(record["source_agent_id"]),
                clone_agent_id=agent_id,
                source_host_name=source_name,
                target_host_name=parts.name,
                **fields,  # type: ignore[arg-type]
            )
            hook = slot.paglet.on_clone
        else:
            event = MobilityEvent(
                source_host_name=source_name,
                target_host_name=parts.name,
                source_address=str(record["source_address"]),
                target_address=parts.address,
                reason=reason,
                **fields,  # type: ignore[arg-type]
            )
            hook = slot.paglet.on_arrival
        try:
            self._lifecycle.run_hook(slot, lambda: hook(event))
        except Exception:
            log.exception("%r: %s raised; the paglet is here anyway", slot.paglet, hook.__name__)
        parts.events.record(
            "arrived" if reason != "clone" else "clone-arrived",
            agent_id,
            source=source_name,
            reason=reason,
        )
        self._lifecycle.open(slot)
