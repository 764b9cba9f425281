"""Moving paglets between hosts: dispatch, clone and retract, as one acknowledged hand-off.

Source side (holding the paglet's turn)::

    hook (on_dispatching / on_cloning / on_reverting)
    snapshot the state and the registered   -> record with a transfer id and ``files``
    files' sizes and hashes                    (name, size, sha256, mode)
    hold the mailbox (messages queue)
    serve the files under the transfer id
    transfer -> target                      target checks and decodes everything first,
                                            pulls the files (``art.read``) into a
                                            staging dir, verifying each, then installs
                                            the paglet, moves the files into its work
                                            dir, runs on_arrival/on_clone, lets
                                            messages in, starts run() and answers
    leave: forwarding address, queued messages redirected, ``move`` files and the
    work dir deleted (dispatch only)

A refusal (class not allowed, state not decodable, paglet already there, a file that
cannot be received: wrong hash, no room, source gone) arrives before the target
changed anything: the paglet and its files stay at the source and ``TransferError``
says why. An ``abort`` while files are still arriving cancels their pull. When the
answer is uncertain (no reply in time), the source asks ``abort``: the target answers
``committed`` if the paglet runs there, otherwise it records the transfer as aborted so
that a late copy is refused, and the paglet resumes at the source. So a paglet is never
lost and never runs twice, unless the target vanishes after starting it and before
answering both calls, in which case it resumes at the source.

The target's answer is idempotent: a repeated transfer of a committed id answers True.
This is the stage/ack/commit hand-off folded into one round trip: the target stages
(decodes and checks) and commits (starts) under one request, and the source's commit
is taking the answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.context_events import ARRIVAL, CLONE, DISPATCH, RETRACT
from paglets.core.errors import (
    ArtifactError,
    HostStoppedError,
    PagletError,
    RemoteHostError,
    ReplyTimeoutError,
    TransferError,
)
from paglets.core.events import CloneEvent, MobilityEvent
from paglets.core.ids import new_id
from paglets.disk.partial_file import storage_error
from paglets.runtime.execution.lifecycle import Lifecycle, new_agent_id, release_resources
from paglets.runtime.execution.local_paglet import LocalPaglet, LocalPagletOperations, PagletStatus
from paglets.runtime.files.work_area import remove_tree
from paglets.runtime.parts import HostParts
from paglets.wire.codec import encode_state
from paglets.wire.protocol import VERB_ABORT, VERB_TRANSFER

log = logging.getLogger(__name__)

_COMMITTED = "committed"
_ABORTED = "aborted"
_UNKNOWN = "unknown"


class Mobility:
    """Both ends of dispatch, clone and retract for one host."""

    def __init__(
        self, parts: HostParts, lifecycle: Lifecycle, operations: LocalPagletOperations
    ) -> None:
        self._parts = parts
        self._lifecycle = lifecycle
        self._operations = operations
        self._arriving: dict[str, threading.Event] = {}
        self._staging: dict[str, threading.Event] = {}  # files arriving; set = cancel
        self._departing: dict[str, threading.Event] = {}  # agent id -> set once it left
        self._outcomes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

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
        parts = self._parts
        if parts.is_local(target):
            return parts.address
        limit = timeout or parts.config.transfer_timeout
        event = MobilityEvent(
            source_host_name=parts.name,
            target_host_name=self._name_of(target),
            source_host_address=parts.address,
            target_host_address=target,
            reason=reason,
            **parts.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        if hook:
            self._hook(slot, "on_dispatching", lambda: slot.paglet.on_dispatching(event))
        release_resources(slot.paglet)
        record = self._record(slot, slot.agent_id, reason, arrival)
        slot.mailbox.hold()
        # The target starts run() before it answers: a paglet that hops on at once may
        # come back here before this host let go of it; receive() waits for this.
        departed = self._departing[slot.agent_id] = threading.Event()
        try:
            try:
                self._hand_off(slot, target, record, limit, what=reason)
            except TransferError:
                slot.mailbox.release()
                raise
            queued = slot.leave(PagletStatus.MOVED, target)
            parts.registry.remove(slot.agent_id, moved_to=target)
        finally:
            self._departing.pop(slot.agent_id, None)
            departed.set()
        self._release_files(slot)
        kind = RETRACT if reason == "retract" else DISPATCH
        parts.events.record(
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
        parts = self._parts
        address = target or parts.address
        limit = timeout or parts.config.transfer_timeout
        target_name = self._name_of(address)
        common = {
            "source_agent_id": slot.agent_id,
            "source_host_name": parts.name,
            "source_host_address": parts.address,
            "target_host_name": target_name,
            "target_host_address": address,
        }
        cloning = CloneEvent(**common, **parts.event_fields(slot.agent_id))  # type: ignore[arg-type]
        self._hook(slot, "on_cloning", lambda: slot.paglet.on_cloning(cloning))
        clone_id = new_agent_id()
        record = self._record(slot, clone_id, "clone", arrival)
        self._hand_off(slot, address, record, limit, what="clone")
        cloned = CloneEvent(
            clone_agent_id=clone_id,
            **common,  # type: ignore[arg-type]
            **parts.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        try:
            slot.paglet.on_cloned(cloned)
        except Exception:
            log.exception("%r: on_cloned raised (the clone exists)", slot.paglet)
        parts.events.record(
            CLONE,
            slot.agent_id,
            class_name=slot.class_path,
            clone_agent_id=clone_id,
            target=address,
        )
        return clone_id, address

    def revert(self, slot: LocalPaglet, to_address: str, timeout: float | None = None) -> str:
        """Send ``slot``'s paglet back to ``to_address`` for a retract (on_reverting first)."""
        parts = self._parts
        if parts.is_local(to_address):
            return parts.address
        event = MobilityEvent(
            source_host_name=parts.name,
            target_host_name=self._name_of(to_address),
            source_host_address=parts.address,
            target_host_address=to_address,
            reason="retract",
            **parts.event_fields(slot.agent_id),  # type: ignore[arg-type]
        )
        self._hook(slot, "on_reverting", lambda: slot.paglet.on_reverting(event))
        return self.dispatch(slot, to_address, reason="retract", timeout=timeout, hook=False)

    def _hook(self, slot: LocalPaglet, name: str, call: Any) -> None:
        try:
            call()
        except Exception as exc:
            raise TransferError(
                f"{name} of {slot.paglet!r} raised {type(exc).__name__}: {exc}; "
                f"the paglet stayed on {self._parts.name}",
                stage="hook",
            ) from exc

    def _record(
        self, slot: LocalPaglet, agent_id: str, reason: str, arrival: str = "activate"
    ) -> dict[str, Any]:
        try:
            with slot.paglet.locked():
                state = encode_state(slot.paglet.state)
            files = slot.files.manifest() if slot.has_files else []
        except PagletError as exc:
            raise TransferError(
                f"cannot move {slot.paglet!r}: {exc}; the paglet stayed on {self._parts.name}",
                stage="snapshot",
            ) from exc
        record = {
            "tid": new_id(),
            "agent_id": agent_id,
            "source_agent_id": slot.agent_id,
            "class": slot.class_path,
            "state_class": slot.state_class_path,
            "state": state,
            "reason": reason,
            "source_name": self._parts.name,
            "source_address": self._parts.address,
        }
        if files:
            record["files"] = files
        if arrival != "activate":
            record["arrival"] = arrival
        return record

    def _hand_off(
        self, slot: LocalPaglet, target: str, record: dict[str, Any], timeout: float, what: str
    ) -> None:
        """Transfer ``record``, serving its files to the target meanwhile."""
        files = record.get("files")
        if not files:
            self._transfer(target, record, timeout, what)
            return
        paths = slot.files.registered()
        missing = [item["name"] for item in files if item["name"] not in paths]
        if missing:  # unregistered by run() since the snapshot
            raise TransferError(
                f"registered files {missing} vanished during the move; the paglet stayed "
                f"on {self._parts.name}",
                stage="snapshot",
            )
        serving = self._parts.transfers.serving
        serving.serve(
            record["tid"],
            slot.agent_id,
            {item["name"]: (paths[item["name"]], item["size"]) for item in files},
        )
        carried = sum(item["size"] for item in files)
        try:
            self._transfer(
                target, record, timeout + carried / self._parts.config.artifact_min_rate, what
            )
        finally:
            serving.stop(record["tid"])

    def _release_files(self, slot: LocalPaglet) -> None:
        """After a committed dispatch: the paglet's files left with it."""
        try:
            if slot.has_files:
                slot.files.after_move()
            else:
                self._parts.work_area.remove(slot.agent_id)
        except OSError as exc:
            log.warning("files of %s left behind after its dispatch: %s", slot.agent_id, exc)

    def _call(self, target: str, verb: str, value: Any, timeout: float) -> Any:
        if self._parts.is_local(target):
            return self.receive(value, timeout) if verb == VERB_TRANSFER else self.abort(value)
        return self._parts.require_backend().call(target, verb, value, timeout=timeout)

    def _transfer(self, target: str, record: dict[str, Any], timeout: float, what: str) -> None:
        stayed = f"the paglet stayed on {self._parts.name}"
        try:
            self._call(target, VERB_TRANSFER, record, timeout)
            return
        except (ReplyTimeoutError, HostStoppedError) as exc:
            uncertain: PagletError = exc  # it may have arrived: ask below
        except PagletError as exc:  # refused, or never sent: nothing runs there
            raise TransferError(
                f"{what} of paglet {record['source_agent_id']} to {target} failed: "
                f"{type(exc).__name__}: {exc}; {stayed}",
                stage="transfer",
            ) from exc
        try:
            outcome = self._call(target, VERB_ABORT, record["tid"], min(timeout, 5.0))
        except PagletError as exc:
            log.error(
                "transfer %s to %s: no answer (%s) and abort failed (%s); resuming the paglet here",
                record["tid"],
                target,
                uncertain,
                exc,
            )
            outcome = _UNKNOWN
        if outcome == _COMMITTED:
            return
        raise TransferError(
            f"{what} of paglet {record['source_agent_id']} to {target} got no answer "
            f"({uncertain}); {stayed}",
            stage="transfer",
        ) from uncertain

    def _name_of(self, address: str) -> str:
        if self._parts.is_local(address):
            return self._parts.name
        info = self._parts.peers.get(address)
        return info.name if info is not None else address

    # target side ----------------------------------------------------------------------

    def receive(self, record: Any, timeout: float | None = None) -> bool:
        """Take an arriving paglet and start it here (the ``transfer`` verb).

        Raises:
            ClassResolutionError, SerializationError: the class or state is refused.
            TransferError: the record is malformed, the transfer was aborted, or the
                paglet already lives here.
        """
        if not isinstance(record, dict):
            raise TransferError("a transfer record must be a map")
        try:
            tid = str(record["tid"])
            agent_id = str(record["agent_id"])
            state_bytes = record["state"]
            cls_path, state_cls_path = str(record["class"]), str(record["state_class"])
        except KeyError as exc:
            raise TransferError(f"transfer record lacks {exc.args[0]!r}") from None
        with self._lock:
            outcome = self._outcomes.get(tid)
            if outcome == _COMMITTED:
                return True
            if outcome == _ABORTED:
                raise TransferError(f"transfer {tid} was aborted")
            running = self._arriving.get(tid)
        if running is not None:
            running.wait(timeout or self._parts.config.transfer_timeout)
            if self._outcomes.get(tid) == _COMMITTED:
                return True
            raise TransferError(f"transfer {tid} is still arriving")
        cls, state = self._lifecycle.decode(cls_path, state_cls_path, state_bytes)
        departing = self._departing.get(agent_id)
        if departing is not None:  # it is leaving this host right now: let it finish
            departing.wait(timeout or self._parts.config.transfer_timeout)
        if self._parts.registry.get(agent_id) is not None:
            raise TransferError(f"paglet {agent_id} already lives on {self._parts.name}")
        staging = self._stage_files(record) if record.get("files") else None
        with self._lock:
            if tid in self._outcomes or tid in self._arriving:
                if staging is not None:
                    remove_tree(staging)
                return self.receive(record, timeout)
            done = self._arriving[tid] = threading.Event()
        try:
            self._start(record, cls, state, staging)
        except BaseException:
            if staging is not None:
                remove_tree(staging)
            self._finish(tid, _ABORTED, done)
            raise
        self._finish(tid, _COMMITTED, done)
        return True

    def _stage_files(self, record: dict[str, Any]) -> Path:
        """Pull the files an arriving paglet carries into a staging dir; return it.

        An ``abort`` meanwhile cancels the pull. Nothing is left behind on failure.
        """
        tid, files = str(record["tid"]), record["files"]
        source = str(record.get("source_address", ""))
        if not isinstance(files, list):
            raise TransferError("the files of a transfer record must be a list")
        cancelled = threading.Event()
        with self._lock:
            if tid in self._outcomes or tid in self._arriving or tid in self._staging:
                raise TransferError(f"transfer {tid} was aborted or is arriving already")
            self._staging[tid] = cancelled
        try:
            staging = self._parts.work_area.staging(tid)
            try:
                self._parts.transfers.pull_files(
                    source, tid, str(record["agent_id"]), files, staging, cancelled
                )
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

    def _finish(self, tid: str, outcome: str, done: threading.Event) -> None:
        with self._lock:
            self._arriving.pop(tid, None)
            self._remember(tid, outcome)
        done.set()

    def abort(self, tid: Any) -> str:
        """Answer what became of a transfer (the ``abort`` verb); refuse it from now on.

        Returns:
            ``committed`` if the paglet runs (or is starting) here, else ``aborted``.
        """
        tid = str(tid)
        with self._lock:
            outcome = self._outcomes.get(tid)
            if outcome is not None:
                return outcome
            if tid in self._arriving:
                return _COMMITTED  # decoded and checked: nothing left that can refuse it
            staging = self._staging.get(tid)
            if staging is not None:
                staging.set()  # its files are still arriving: stop pulling them
            self._remember(tid, _ABORTED)
        return _ABORTED

    def _remember(self, tid: str, outcome: str) -> None:
        self._outcomes[tid] = outcome
        while len(self._outcomes) > 10_000:
            self._outcomes.popitem(last=False)

    def _start(
        self,
        record: dict[str, Any],
        cls: type[Paglet[Any]],
        state: PagletState,
        staging: Path | None = None,
    ) -> None:
        parts = self._parts
        agent_id = str(record["agent_id"])
        slot = self._lifecycle.install(cls, agent_id, state)
        if staging is not None:
            try:
                slot.files.adopt(staging, list(record["files"]))
            except BaseException as exc:
                self._lifecycle.uninstall(slot)
                parts.work_area.remove(agent_id)
                if isinstance(exc, OSError):
                    raise storage_error(exc, f"the work dir of {agent_id}") from None
                raise
        if record.get("arrival") == "inactive":
            self._store_inactive(slot)
            return
        reason = str(record["reason"])
        source_name = str(record["source_name"])
        fields = parts.event_fields(agent_id)
        if reason == "clone":
            hook: Callable[[Any], None]
            event: Any = CloneEvent(
                source_agent_id=str(record["source_agent_id"]),
                clone_agent_id=agent_id,
                source_host_name=source_name,
                source_host_address=str(record["source_address"]),
                target_host_name=parts.name,
                target_host_address=parts.address,
                **fields,  # type: ignore[arg-type]
            )
            hook = slot.paglet.on_clone
        else:
            event = MobilityEvent(
                source_host_name=source_name,
                target_host_name=parts.name,
                source_host_address=str(record["source_address"]),
                target_host_address=parts.address,
                reason=reason,
                **fields,  # type: ignore[arg-type]
            )
            hook = slot.paglet.on_arrival
        try:
            self._lifecycle.run_hook(slot, lambda: hook(event))
        except Exception:
            log.exception("%r: %s raised; the paglet is here anyway", slot.paglet, hook.__name__)
        parts.events.record(
            ARRIVAL, agent_id, class_name=slot.class_path, source=source_name, reason=reason
        )
        self._lifecycle.open(slot)

    def _store_inactive(self, slot: LocalPaglet) -> None:
        """Keep an arrived paglet inactive: in the store, its files in its work dir.

        No hook runs and ``run()`` does not start; an ``activate`` (or a message)
        loads it, as any deactivated paglet.
        """
        parts = self._parts
        with slot.paglet.locked():
            state = encode_state(slot.paglet.state)
        parts.store.save(slot.agent_id, slot.class_path, slot.state_class_path, state, None)
        if slot.has_files:
            parts.work_area.save_table(slot.agent_id, slot.files.table())
        slot.leave(PagletStatus.DEACTIVATED)
        parts.registry.remove(slot.agent_id)
        parts.events.record(ARRIVAL, slot.agent_id, arrival="inactive")
