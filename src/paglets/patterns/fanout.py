"""Mesh fan-out: a collector clones itself to a set of hosts and gathers one result each.

:meth:`MeshFanoutMixin.fanout` runs one *round*:

1. it writes the round (its own ref, a round id, the arguments, the target) into its
   state, so every clone finds them there, clones itself here once per target, then
   dispatches the clones to their targets side by side (an unreachable host costs
   its own outcome, not the others'); the default targets are this host and every
   online host of the mesh;
2. each clone (a *child*) runs :meth:`MeshFanoutMixin.fanout_task` in ``run()`` on its
   host, reports the value or the error to the collector with an ``UNQUEUED_PRIORITY`` message
   (so the report is taken even while the collector's handler waits), and disposes of
   itself;
3. the collector waits until every target answered, or the deadline passed; a host
   that could not be cloned to, went offline, or did not answer in time is listed in
   :attr:`FanoutResult.errors` (the result is *partial*), never dropped;
4. children still alive at the end (they did not answer) are disposed, in parallel
   and bounded in time. A collector disposed during a round disposes them too.

A report of an older round (a child that answered too late) is ignored. Reports carry
the child's id, so targets may be host names or addresses alike.

The round's parts (:class:`FanoutState`, :class:`HostOutcome`, :class:`FanoutResult`)
live in :mod:`paglets.patterns.fanout_round` and are importable from here too.

The collector's state class must subclass :class:`FanoutState`. A class using the
mixin that defines its own ``run()`` starts it with
``if self.run_fanout_child(): return``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from paglets.core.errors import PagletError, error_to_wire
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.patterns.bounded_pool import start_bounded_pool
from paglets.patterns.fanout_round import (
    FANOUT_RESULT,
    FanoutResult,
    FanoutRound,
    FanoutState,
    HostOutcome,
    address_or_none,
    offline_keys,
    outcome_of_report,
    target_keys,
)
from paglets.patterns.reserved import PatternPaglet
from paglets.wire.codec import encode_value

__all__ = [
    "FANOUT_RESULT",
    "FanoutResult",
    "FanoutState",
    "HostOutcome",
    "MeshFanoutMixin",
]

log = logging.getLogger(__name__)

_PARALLEL_MOVES = 16
"""Most clones moving out (or children being disposed) at once, threads included."""

_CHECK_INTERVAL = 0.25
"""Seconds between two looks at the mesh for targets that went offline."""


class MeshFanoutMixin(PatternPaglet):
    """Clone this paglet to many hosts, run :meth:`fanout_task` on each, gather the values.

    Mix it in before ``Paglet``; the state class must subclass :class:`FanoutState`.
    """

    RESERVED_KINDS: ClassVar[dict[str, str]] = {FANOUT_RESULT: "_take_fanout_report"}
    REQUIRED_STATE = FanoutState
    FANOUT_REPORT_TIMEOUT: ClassVar[float] = 10.0
    """Seconds a child waits for the collector to take its report."""
    FANOUT_CLEANUP_TIMEOUT: ClassVar[float] = 3.0
    """Seconds the collector gives the disposal of unanswered children."""

    _fanout_round: FanoutRound | None = None

    # override -------------------------------------------------------------------------

    def fanout_task(self, args: dict[str, Any]) -> Any:
        """The work of one child on its host; the return value (encodable) is its result.

        Args:
            args: the ``args`` given to :meth:`fanout`.

        Raises:
            Exception: any; the collector lists it as this host's error.
        """
        raise NotImplementedError(f"{type(self).__qualname__} does not define fanout_task()")

    def on_fanout_result(self, outcome: HostOutcome) -> None:
        """Called on the collector as each target's outcome is known (to stream them)."""

    # the collector --------------------------------------------------------------------

    def fanout_targets(self, include_self: bool = True) -> list[str]:
        """The default targets: this host (when ``include_self``) and every online host."""
        own = self.context.name
        names = [own] if include_self else []
        for info in self.context.available_hosts():
            if info.online and info.name not in names and info.name != own:
                names.append(info.name)
        return names

    def fanout(
        self,
        args: dict[str, Any] | None = None,
        *,
        hosts: Iterable[str] | None = None,
        deadline: float = 10.0,
    ) -> FanoutResult:
        """Run one round over ``hosts`` (default :meth:`fanout_targets`); wait ``deadline``.

        Call it from a handler or from ``run()``; children report even while it waits.

        Args:
            args: encodable values every child's :meth:`fanout_task` receives.
            hosts: host names or addresses; each is one outcome in the result.
            deadline: seconds from now after which unanswered targets are errors.

        Returns:
            A :class:`FanoutResult` with an outcome for every target.

        Raises:
            SerializationError: ``args`` cannot be encoded (nothing was cloned).
        """
        targets = list(dict.fromkeys(self.fanout_targets() if hosts is None else hosts))
        encode_value(args or {})
        work = FanoutRound(uuid.uuid4().hex, targets, time.monotonic() + deadline)
        with self.locked_state():
            self._fanout_round = work
            fan = self.pattern_state(FanoutState)
            fan.fanout_parent = self.proxy().ref()
            fan.fanout_round = work.round_id
            fan.fanout_args = dict(args or {})
        try:
            moving = self._send_children(work)
        finally:
            with self.locked_state():
                fan = self.pattern_state(FanoutState)
                fan.fanout_parent, fan.fanout_round, fan.fanout_args = None, "", {}
                fan.fanout_target = []
        self._await(work)
        for thread in moving:  # each move is bounded by the deadline; a moment more at most
            thread.join(max(0.0, work.deadline - time.monotonic()) + self.FANOUT_CLEANUP_TIMEOUT)
        for target in work.pending():
            self._record(work, HostOutcome(target, False, error=f"no result within {deadline:g}s"))
        with self.locked():
            self._fanout_round = None
        self._dispose_children(work.unanswered_children())
        return FanoutResult({target: work.outcomes[target] for target in targets})

    def _send_children(self, work: FanoutRound) -> list[threading.Thread]:
        """Clone here once per target, then move the clones out in parallel.

        A clone made here is cheap and never blocks on the network; the moves run side
        by side, so an unreachable host costs its own outcome only, not the others'.
        Returns the threads still moving clones (each bounded by the deadline).
        """
        moves: list[tuple[str, Any]] = []
        for target in work.targets:
            if self.is_leaving():
                self._record(work, HostOutcome(target, False, error="the collector left"))
                continue
            keys = self._target_keys(target)
            with self.locked_state():
                self.pattern_state(FanoutState).fanout_target = sorted(keys)
            try:
                child = self.clone(None)
            except PagletError as exc:
                name, text = error_to_wire(exc)
                self._record(
                    work, HostOutcome(target, False, error=f"clone failed: {name}: {text}")
                )
                continue
            with self.locked():
                work.children[child.agent_id] = child
                work.target_of[child.agent_id] = target
                early = work.early.pop(child.agent_id, None)
            if early is not None:
                self._apply_report(work, target, early)
            if not keys & {self.context.name, self.context.address}:
                moves.append((target, child))
        threads = start_bounded_pool(
            [partial(self._move_child, work, target, child) for target, child in moves[1:]],
            _PARALLEL_MOVES - 1,
            "fanout-move",
        )
        if moves:
            # This thread's connections are open already; a new thread opens its own.
            self._move_child(work, *moves[0])
        return threads

    def _move_child(self, work: FanoutRound, target: str, child: Any) -> None:
        remaining = work.deadline - time.monotonic()
        if remaining <= 0:
            error = "deadline passed before moving"
        else:
            try:
                child.dispatch(target, timeout=remaining)
                return
            except Exception as exc:  # whatever happened, the outcome is recorded
                name, text = error_to_wire(exc)
                error = f"dispatch failed: {name}: {text}"
        self._record(work, HostOutcome(target, False, error=error))
        with self.locked():
            work.settled.add(child.agent_id)  # disposed now, not again at the end
        _dispose_quietly(child, self.FANOUT_CLEANUP_TIMEOUT)

    def _target_keys(self, target: str) -> set[str]:
        """Every spelling of ``target`` a clone may find itself at: name, address."""
        own = {self.context.name, self.context.address}
        return target_keys(target, own, self.context.available_hosts(online_only=False))

    def _await(self, work: FanoutRound) -> None:
        while not self.is_leaving():
            remaining = work.deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.wait_state(lambda _state: work.complete(), min(remaining, _CHECK_INTERVAL)):
                return
            self._fail_offline(work)

    def _fail_offline(self, work: FanoutRound) -> None:
        offline = offline_keys(self.context.available_hosts(online_only=False))
        for target in work.pending():
            if target in offline or address_or_none(target) in offline:
                self._record(work, HostOutcome(target, False, error="host went offline"))

    def _record(self, work: FanoutRound, outcome: HostOutcome) -> None:
        with self.locked_state():
            if outcome.host in work.outcomes:
                return
            if not outcome.seconds:
                outcome = replace(outcome, seconds=round(work.age(), 6))
            work.outcomes[outcome.host] = outcome
        self._announce(outcome)

    def _announce(self, outcome: HostOutcome) -> None:
        try:
            self.on_fanout_result(outcome)
        except Exception:
            log.exception("%r: on_fanout_result raised", self)

    def _take_fanout_report(self, message: Message) -> bool:
        """Answer a child's report; False when it belongs to no round in progress."""
        args = message.args
        with self.locked():
            work = self._fanout_round
            if work is None or work.round_id != args.get("round"):
                return False
            child_id = str(args.get("child"))
            target = work.target_of.get(child_id)
            if target is None:
                # A child may report before clone() returned its id here: keep it.
                work.early[child_id] = dict(args)
                return True
        self._apply_report(work, target, args)
        return True

    def _apply_report(self, work: FanoutRound, target: str, args: dict[str, Any]) -> None:
        with self.locked():
            work.settled.add(str(args.get("child")))
        self._record(work, outcome_of_report(target, args))

    def _dispose_children(self, children: list[Any]) -> None:
        if not children:
            return
        timeout = self.FANOUT_CLEANUP_TIMEOUT
        threads = start_bounded_pool(
            [partial(_dispose_quietly, child, timeout) for child in children],
            _PARALLEL_MOVES,
            "fanout-dispose",
        )
        end = time.monotonic() + self.FANOUT_CLEANUP_TIMEOUT + 1.0
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))

    def pattern_disposing(self) -> None:
        """Dispose the children of a round in progress, and end that round."""
        with self.locked_state():
            work = self._fanout_round
            if work is None:
                children: list[Any] = []
            else:
                work.abandoned = True
                children = work.unanswered_children()
                work.children.clear()
        self._dispose_children(children)
        super().pattern_disposing()

    # the child ------------------------------------------------------------------------

    def is_fanout_child(self) -> bool:
        """Whether this instance is a clone sent out by a round."""
        parent = self.pattern_state(FanoutState).fanout_parent
        return parent is not None and parent.agent_id != self.agent_id

    def run_fanout_child(self) -> bool:
        """If this is a child: run the task, report, dispose; return whether it was one.

        A child not yet on its target host (it is made on the collector's host, then
        moved) does nothing: it runs again when it arrives.
        """
        if not self.is_fanout_child():
            return False
        state = self.pattern_state(FanoutState)
        if not {self.context.name, self.context.address} & set(state.fanout_target):
            return True
        parent = state.fanout_parent
        assert parent is not None
        report: dict[str, Any] = {"round": state.fanout_round, "child": self.agent_id}
        try:
            value = self.fanout_task(dict(state.fanout_args))
            encode_value(value)
            report.update(ok=True, value=value)
        except Exception as exc:
            name, text = error_to_wire(exc)
            report.update(ok=False, error=f"{name}: {text}")
        if self.is_leaving():
            return True  # the collector gave up on this child and disposed of it
        report["host"] = self.context.name
        try:
            # A future goes through the host's I/O thread: a blocking send from this
            # fresh thread would first open (and secure) a connection of its own.
            parent.resolve(self.context).send_future(
                Message(FANOUT_RESULT, report, priority=UNQUEUED_PRIORITY),
                timeout=self.FANOUT_REPORT_TIMEOUT,
            ).get_reply(self.FANOUT_REPORT_TIMEOUT + 1.0)
        except Exception as exc:  # never let a lost report keep the child alive
            log.info("%r: the collector did not take the report: %s", self, exc)
        try:
            self.dispose()
        except PagletError:
            pass  # disposed meanwhile by the collector's cleanup
        return True

    def run(self) -> None:
        """A child runs its task; the collector does nothing here."""
        self.run_fanout_child()


def _dispose_quietly(child: Any, timeout: float) -> None:
    try:
        child.dispose(timeout=timeout)
    except PagletError as exc:
        log.debug("child %s not disposed: %s", child.agent_id, exc)
