"""Itineraries: the hosts a paglet visits, kept in its state, and the mixin that follows them.

An :class:`ItineraryPlan` is data: an ordered list of destinations (host names or
addresses) and the index of the destination the paglet is at, or travelling to. It is
a dataclass, so it sits in a paglet's state like any other field and travels with it.
A :class:`TaskItineraryPlan` pairs every destination with an :class:`ItineraryTask`,
the work to do there and the phase in which to do it:

- ``EXECUTE_ON_ARRIVAL``: in ``on_arrival``, before any message is handled. Keep it
  short: the host the paglet came from waits for the hook to finish.
- ``EXECUTE_ON_DEFAULT``: in ``run()``, through
  :meth:`~ItineraryAgentMixin.continue_itinerary`, on the paglet's own thread. Long
  work goes here.
- ``EXECUTE_ON_DISPATCH``: when leaving for the next destination, in
  :meth:`~ItineraryAgentMixin.go_to_next_destination`, before the plan advances and the
  state is snapshotted (so never on the last destination, which the paglet does not
  leave).

:class:`ItineraryAgentMixin` is mixed into a :class:`~paglets.core.agent.Paglet` whose
state has a plan in a field named ``itinerary``. Its
:meth:`~ItineraryAgentMixin.go_to_next_destination` advances the plan *before*
dispatching, so the copy that arrives sees its progress: on arrival,
``plan.current()`` is the host it arrived on. A typical traveller::

    @dataclass
    class TripState(PagletState):
        itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
        seen: list[str] = field(default_factory=list)

    class Tripper(ItineraryAgentMixin, Paglet[TripState]):
        State = TripState

        def on_arrival(self, event):
            self.itinerary_on_arrival(event)   # calls on_destination_reached()

        def on_destination_reached(self):
            self.state.seen.append(self.context.host_name)

        def run(self):
            self.continue_itinerary()   # the next hop, or nothing at the last one

The mixin overrides no hook of the paglet: the paglet calls the helpers from the hooks
it writes, and overrides the mixin's own callbacks where it needs them
(:meth:`~ItineraryAgentMixin.on_destination_reached`,
:meth:`~ItineraryAgentMixin.execute_itinerary_task`,
:meth:`~ItineraryAgentMixin.on_itinerary_finished`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from paglets.core.agent import Paglet
from paglets.core.classes import remember_class
from paglets.core.errors import PagletError
from paglets.core.events import MobilityEvent

EXECUTE_ON_ARRIVAL = "on_arrival"
"""Phase of a task run in ``on_arrival`` on its destination."""
EXECUTE_ON_DISPATCH = "on_dispatch"
"""Phase of a task run when the paglet leaves its destination for the next one."""
EXECUTE_ON_DEFAULT = "default"
"""Phase of a task run in ``run()`` on its destination (the default)."""

PHASES = (EXECUTE_ON_ARRIVAL, EXECUTE_ON_DISPATCH, EXECUTE_ON_DEFAULT)
"""Every phase, for validation."""

NOT_STARTED = -1
"""The index of a plan whose first destination has not been set out for yet."""


@dataclass
class ItineraryPlan:
    """An ordered list of destinations and how far along it the paglet is.

    Attributes:
        destinations: host names or addresses, in visiting order; one host may appear
            more than once.
        index: position of the destination the paglet is at (or travelling to);
            :data:`NOT_STARTED` before the first hop.
    """

    destinations: list[str] = field(default_factory=list)
    index: int = NOT_STARTED

    def __post_init__(self) -> None:
        self.destinations = list(self.destinations)
        for destination in self.destinations:
            _check_destination(destination)
        if self.index != NOT_STARTED and not 0 <= self.index < len(self.destinations):
            raise ValueError(
                f"itinerary index {self.index} is outside its {len(self.destinations)} destinations"
            )

    def __len__(self) -> int:
        return len(self.destinations)

    def current(self) -> str | None:
        """The destination the paglet is at (or travelling to); None before the first hop."""
        if self.index == NOT_STARTED:
            return None
        return self.destinations[self.index]

    def is_started(self) -> bool:
        """Whether the plan has been advanced to its first destination."""
        return self.index != NOT_STARTED

    def is_finished(self) -> bool:
        """Whether no destination is left to go to (at the last one, or the plan is empty)."""
        return self.index >= len(self.destinations) - 1

    def advance(self) -> str | None:
        """Move on to the next destination and return it.

        Returns:
            The new current destination, or None when the plan is finished (the index
            then stays on the last destination).
        """
        if self.is_finished():
            return None
        self.index += 1
        return self.destinations[self.index]

    def remaining(self) -> list[str]:
        """The destinations after the current one, still to be visited."""
        return self.destinations[self.index + 1 :]

    def visited(self) -> list[str]:
        """The destinations up to and including the current one."""
        return self.destinations[: self.index + 1]

    def add_destination(self, destination: str) -> None:
        """Append ``destination`` to the end of the plan."""
        _check_destination(destination)
        self.destinations.append(destination)

    def restart(self) -> None:
        """Go back to before the first hop (to travel the same plan again)."""
        self.index = NOT_STARTED


@dataclass
class ItineraryTask:
    """The work a paglet does on one destination of a :class:`TaskItineraryPlan`.

    Attributes:
        destination: the host name or address the task runs on.
        kind: what to do there; the paglet's ``execute_itinerary_task`` switches on it.
        args: named arguments of the task (encodable values).
        phase: one of :data:`EXECUTE_ON_ARRIVAL`, :data:`EXECUTE_ON_DISPATCH`,
            :data:`EXECUTE_ON_DEFAULT`.
        done: set once the task ran, so a paglet activated again does not repeat it.
    """

    destination: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    phase: str = EXECUTE_ON_DEFAULT
    done: bool = False

    def __post_init__(self) -> None:
        _check_destination(self.destination)
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(
                f"an itinerary task kind must be a non-empty string, not {self.kind!r}"
            )
        if self.phase not in PHASES:
            raise ValueError(f"unknown itinerary phase {self.phase!r}; use one of {PHASES}")
        if self.args is None:
            self.args = {}


@dataclass
class TaskItineraryPlan(ItineraryPlan):
    """An itinerary whose every destination has a task to run there.

    Build it from tasks (``TaskItineraryPlan(tasks=[...])``) or with :meth:`add_task`;
    ``destinations`` is filled from the tasks and kept in step with them.

    Attributes:
        tasks: one task per destination, in visiting order.
    """

    tasks: list[ItineraryTask] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tasks = list(self.tasks)
        from_tasks = [task.destination for task in self.tasks]
        if not self.destinations:
            self.destinations = from_tasks
        elif list(self.destinations) != from_tasks:
            raise ValueError("the destinations of a TaskItineraryPlan must be those of its tasks")
        super().__post_init__()

    def add_task(
        self,
        destination: str,
        kind: str,
        args: dict[str, Any] | None = None,
        phase: str = EXECUTE_ON_DEFAULT,
    ) -> ItineraryTask:
        """Append a destination with the task to run there; return the task."""
        task = ItineraryTask(destination, kind, dict(args or {}), phase)
        self.tasks.append(task)
        self.destinations.append(destination)
        return task

    def add_destination(self, destination: str) -> None:
        """Not supported: every destination needs a task; use :meth:`add_task`."""
        raise TypeError("a TaskItineraryPlan takes destinations with tasks: use add_task()")

    def current_task(self) -> ItineraryTask | None:
        """The task of the current destination; None before the first hop."""
        if self.index == NOT_STARTED:
            return None
        return self.tasks[self.index]

    def restart(self) -> None:
        """Go back to before the first hop and mark every task not done."""
        super().restart()
        for task in self.tasks:
            task.done = False


# Plans arrive inside states decoded by hosts that may never have encoded one, and
# paglets.core is no allowed import prefix: register the classes as the network may name.
for _plan_class in (ItineraryPlan, ItineraryTask, TaskItineraryPlan):
    remember_class(_plan_class)
del _plan_class


class ItineraryAgentMixin:
    """Itinerary helpers for a paglet whose state holds an :class:`ItineraryPlan`.

    Mix it in before the paglet base: ``class T(ItineraryAgentMixin, Paglet[S])``. The
    plan lives in the state field named by :attr:`itinerary_field` (``itinerary``).
    Nothing runs by itself: call :meth:`continue_itinerary` (usually from ``run()``),
    :meth:`itinerary_on_arrival` (from ``on_arrival``) or :meth:`go_to_next_destination`
    where the paglet decides to move on. A task plan's tasks are run by
    :meth:`execute_itinerary_task`, which the paglet overrides.
    """

    itinerary_field: ClassVar[str] = "itinerary"
    """Name of the state field holding the plan."""

    def _itinerary_paglet(self) -> Paglet[Any]:
        if not isinstance(self, Paglet):
            raise TypeError(
                f"{type(self).__qualname__} mixes in ItineraryAgentMixin without Paglet"
            )
        return self

    @property
    def itinerary_plan(self) -> ItineraryPlan:
        """The plan in this paglet's state.

        Raises:
            PagletError: the state has no plan in :attr:`itinerary_field`.
        """
        state = self._itinerary_paglet().state
        plan = getattr(state, self.itinerary_field, None)
        if not isinstance(plan, ItineraryPlan):
            raise PagletError(
                f"{type(state).__qualname__}.{self.itinerary_field} must hold an ItineraryPlan, "
                f"not {type(plan).__qualname__}"
            )
        return plan

    def is_here(self, destination: str | None) -> bool:
        """Whether ``destination`` (a host name or address) names the host this paglet is on."""
        if not destination:
            return False
        context = self._itinerary_paglet().context
        if destination == context.host_name:
            return True
        return _bare_address(destination) == _bare_address(context.host_address)

    def at_current_destination(self) -> bool:
        """Whether this paglet is on the plan's current destination."""
        return self.is_here(self.itinerary_plan.current())

    def go_to_next_destination(self, **options: Any) -> Any:
        """Leave for the plan's next destination: advance the plan, then dispatch there.

        The plan advances before the state is snapshotted, so the arriving copy's
        ``plan.current()`` is the host it arrived on. The current destination's
        :data:`EXECUTE_ON_DISPATCH` task runs first. If the dispatch fails the plan is put
        back, so a later call tries the same destination again. When the next destination
        is this very host nothing moves (the runtime would not run ``on_arrival``):
        check :meth:`~paglets.core.agent.Paglet.is_leaving` to tell the two apart.

        Args:
            options: dispatch options (``timeout``, ``retries``).

        Returns:
            The paglet's proxy (at its new host, or here when the next destination is
            this host), or None when the plan is finished and the paglet stays.

        Raises:
            TransferError: the dispatch did not commit; the paglet is still here.
            PeerNotFoundError: the next destination names an unknown host.
        """
        paglet = self._itinerary_paglet()
        plan = self.itinerary_plan
        if plan.is_finished():
            return None
        self.run_itinerary_tasks(EXECUTE_ON_DISPATCH)
        with paglet.locked():
            before = plan.index
            target = plan.advance()
        if target is None:
            return None
        if self.is_here(target):
            return paglet.proxy()
        try:
            return paglet.dispatch(target, **options)
        except BaseException:
            with paglet.locked():
                plan.index = before
            raise

    def run_itinerary_tasks(self, phase: str) -> Any:
        """Run the current destination's task if it belongs to ``phase`` and has not run.

        Only a :class:`TaskItineraryPlan` has tasks, and a task only runs on its own
        destination. The task is marked done once :meth:`execute_itinerary_task` returned.

        Returns:
            What :meth:`execute_itinerary_task` returned, or None if nothing ran.
        """
        if phase not in PHASES:
            raise ValueError(f"unknown itinerary phase {phase!r}; use one of {PHASES}")
        plan = self.itinerary_plan
        if not isinstance(plan, TaskItineraryPlan) or not self.at_current_destination():
            return None
        task = plan.current_task()
        if task is None or task.done or task.phase != phase:
            return None
        result = self.execute_itinerary_task(task)
        with self._itinerary_paglet().locked():
            task.done = True
        return result

    def itinerary_on_arrival(self, event: MobilityEvent | None = None) -> Any:
        """Note the arrival on the current destination and run its arrival task.

        Call it from ``on_arrival``. When this host is the plan's current destination it
        calls :meth:`on_destination_reached`, then runs the :data:`EXECUTE_ON_ARRIVAL`
        task; an arrival elsewhere (a retract, a dispatch outside the plan) does nothing.

        Returns:
            What the arrival task returned, or None.
        """
        if not self.at_current_destination():
            return None
        self.on_destination_reached()
        return self.run_itinerary_tasks(EXECUTE_ON_ARRIVAL)

    def continue_itinerary(self, **options: Any) -> Any:
        """Do this destination's :data:`EXECUTE_ON_DEFAULT` task, then go on to the next.

        Call it from ``run()``: after creation it sets out for the first destination;
        after an arrival it does the work due there and leaves. Consecutive destinations
        on this same host are worked through here. At the end of the plan it calls
        :meth:`on_itinerary_finished` and the paglet stays.

        Returns:
            The proxy at the next host, or None when the plan is finished.
        """
        paglet = self._itinerary_paglet()
        while True:
            self.run_itinerary_tasks(EXECUTE_ON_DEFAULT)
            if self.itinerary_plan.is_finished():
                self.on_itinerary_finished()
                return None
            proxy = self.go_to_next_destination(**options)
            if proxy is None or paglet.is_leaving():
                return proxy
            # The next destination is this host: nothing moved, so no on_arrival ran.
            self.itinerary_on_arrival(None)

    def execute_itinerary_task(self, task: ItineraryTask) -> Any:
        """Do ``task`` on its destination. Override it when the plan has tasks.

        It runs on the thread of the hook that asked for it (``run()``'s own thread for
        :data:`EXECUTE_ON_DEFAULT`): change shared state under ``locked_state()``.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} has itinerary tasks but no execute_itinerary_task()"
        )

    def on_destination_reached(self) -> None:
        """Called on each destination the paglet reaches; does nothing. Override it.

        :meth:`itinerary_on_arrival` calls it (from ``on_arrival``, holding the paglet's
        turn, before any message is handled), and so does :meth:`continue_itinerary`
        when the next destination is the host the paglet is already on.
        """

    def on_itinerary_finished(self) -> None:
        """Called by :meth:`continue_itinerary` on the last destination; does nothing."""


def _check_destination(destination: Any) -> None:
    if not isinstance(destination, str) or not destination:
        raise ValueError(
            f"an itinerary destination must be a host name or address, not {destination!r}"
        )


def _bare_address(address: str) -> str:
    """``HOST:PORT`` of an address in any accepted spelling (the core cannot import net)."""
    text = address.strip()
    for scheme in ("tcp://", "http://", "https://"):
        if text.startswith(scheme):
            return text[len(scheme) :].rstrip("/")
    return text.rstrip("/")


__all__ = [
    "EXECUTE_ON_ARRIVAL",
    "EXECUTE_ON_DEFAULT",
    "EXECUTE_ON_DISPATCH",
    "NOT_STARTED",
    "PHASES",
    "ItineraryAgentMixin",
    "ItineraryPlan",
    "ItineraryTask",
    "TaskItineraryPlan",
]
