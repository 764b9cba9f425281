"""Itinerary plans: the hosts a paglet visits and the tasks it does there, as state data.

An :class:`ItineraryPlan` is a dataclass that sits in a paglet's state and travels with
it. ``destinations`` are host names or addresses in visiting order; ``current_index``
points at the *next* one to go to; ``visited_destinations`` lists the stops reached so
far, so ``current_location`` (the last of them) is where the plan says the paglet is.
:meth:`~ItineraryPlan.advance` moves one stop on; at the end a ``circular`` plan starts
over (``loop_count`` counts the rounds), any other is ``completed``.

A :class:`TaskItineraryPlan` adds :class:`ItineraryTask` s: per destination
(``tasks``) and for every stop (``default_tasks``). A task's ``execution`` is the phase
it runs in:

- :data:`EXECUTE_ON_ARRIVAL` ("arrival"): in ``on_arrival``, before any message;
- :data:`EXECUTE_ON_DISPATCH` ("dispatch"): when leaving the stop for the next one;
- :data:`EXECUTE_ON_REVERTING` ("reverting"): when the stop's host is made to give the
  paglet back (``on_reverting`` of a retract);
- :data:`EXECUTE_ON_DEFAULT` ("default"): in ``run()``, on the paglet's own thread.

The plan remembers which phases ran at the current stop (``executed_phases``), so a
paglet activated again there does not repeat them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paglets.core.classes import remember_class
from paglets.core.errors import PagletError

EXECUTE_ON_ARRIVAL = "arrival"
"""Phase of a task run in ``on_arrival`` on its stop."""
EXECUTE_ON_DISPATCH = "dispatch"
"""Phase of a task run when the paglet leaves its stop for the next one."""
EXECUTE_ON_REVERTING = "reverting"
"""Phase of a task run when the paglet is retracted from its stop."""
EXECUTE_ON_DEFAULT = "default"
"""Phase of a task run in ``run()`` on its stop (the default)."""

PHASES = (EXECUTE_ON_ARRIVAL, EXECUTE_ON_DISPATCH, EXECUTE_ON_REVERTING, EXECUTE_ON_DEFAULT)
"""Every phase, for validation."""


def check_phase(phase: Any) -> str:
    """Return ``phase`` if it is one of :data:`PHASES`, else raise ValueError naming them."""
    if phase not in PHASES:
        raise ValueError(f"unknown itinerary phase {phase!r}; use one of {PHASES}")
    return str(phase)


@dataclass
class ItineraryPlan:
    """An ordered list of destinations and how far along it the paglet is.

    Attributes:
        destinations: host names or addresses, in visiting order (repeats allowed).
        current_index: position of the next destination to go to.
        visited_destinations: the stops reached so far, in order.
        mutable: whether destinations may still be added.
        circular: start over after the last destination instead of completing.
        loop_count: how many times a circular plan went round.
        completed: no destination is left to go to.

    Raises:
        ValueError: a destination is not a non-empty string, or ``current_index`` is
            outside the destinations.
    """

    destinations: list[str] = field(default_factory=list)
    current_index: int = 0
    visited_destinations: list[str] = field(default_factory=list)
    mutable: bool = True
    circular: bool = False
    loop_count: int = 0
    completed: bool = False

    def __post_init__(self) -> None:
        self.destinations = list(self.destinations)
        self.visited_destinations = list(self.visited_destinations)
        for destination in self.destinations:
            _check_destination(destination)
        if type(self.current_index) is not int or not (
            0 <= self.current_index <= len(self.destinations)
        ):
            raise ValueError(
                f"itinerary current_index {self.current_index!r} is outside its "
                f"{len(self.destinations)} destinations"
            )
        if not self.destinations:
            self.completed = True
        elif self.current_index == len(self.destinations):
            if self.circular:
                self.current_index = 0
            else:
                self.completed = True

    def __len__(self) -> int:
        return len(self.destinations)

    @property
    def current_location(self) -> str | None:
        """The stop the paglet reached last (where it is); None before the first."""
        return self.visited_destinations[-1] if self.visited_destinations else None

    def next_destination(self) -> str | None:
        """The destination to go to next; None when the plan is completed."""
        if self.completed or self.current_index >= len(self.destinations):
            return None
        return self.destinations[self.current_index]

    def advance(self) -> str | None:
        """Move on one stop: the next destination becomes the current location.

        Returns:
            The new current location, or None when the plan was completed already.
        """
        target = self.next_destination()
        if target is None:
            return None
        self.visited_destinations.append(target)
        self.current_index += 1
        if self.current_index >= len(self.destinations):
            if self.circular:
                self.current_index = 0
                self.loop_count += 1
            else:
                self.completed = True
        return target

    def remaining(self) -> list[str]:
        """The destinations still to go to in this round."""
        return [] if self.completed else self.destinations[self.current_index :]

    def add_next_destination(self, destination: str) -> None:
        """Make ``destination`` the very next stop, ahead of the remaining ones.

        Raises:
            PagletError: the plan is not mutable.
            ValueError: ``destination`` is not a host name or address.
        """
        self._check_mutable()
        _check_destination(destination)
        if self.completed:
            self.current_index = len(self.destinations)
            self.completed = False
        self.destinations.insert(self.current_index, destination)

    def add_destination(self, destination: str) -> None:
        """Append ``destination`` to the end of the plan (reopening a completed one).

        Raises:
            PagletError: the plan is not mutable.
            ValueError: ``destination`` is not a host name or address.
        """
        self._check_mutable()
        _check_destination(destination)
        self.destinations.append(destination)
        if self.completed:
            self.current_index = len(self.destinations) - 1
            self.completed = False

    def restart(self) -> None:
        """Go back to before the first stop (to travel the same plan again)."""
        self.current_index = 0
        self.visited_destinations = []
        self.loop_count = 0
        self.completed = not self.destinations

    def _check_mutable(self) -> None:
        if not self.mutable:
            raise PagletError("this itinerary is not mutable: no destination may be added")


@dataclass
class ItineraryTask:
    """Work a paglet does at a stop of a :class:`TaskItineraryPlan`.

    Attributes:
        name: what to do; the paglet's ``execute_itinerary_task`` switches on it.
        execution: the phase it runs in (one of :data:`PHASES`).
        args: named arguments of the task (encodable values).

    Raises:
        ValueError: an empty name, an unknown phase, or args that are not a dict.
    """

    name: str
    execution: str = EXECUTE_ON_DEFAULT
    args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"an itinerary task name must be a non-empty string, not {self.name!r}"
            )
        check_phase(self.execution)
        if self.args is None:
            self.args = {}
        elif not isinstance(self.args, dict):
            raise ValueError(f"itinerary task args must be a dict, not {type(self.args).__name__}")


@dataclass
class TaskItineraryPlan(ItineraryPlan):
    """An itinerary with tasks to do at its stops.

    Attributes:
        tasks: the tasks of each destination (by host name or address).
        default_tasks: tasks done at every stop, after the stop's own.
        executed_phases: the phases already run at the current stop.
    """

    tasks: dict[str, list[ItineraryTask]] = field(default_factory=dict)
    default_tasks: list[ItineraryTask] = field(default_factory=list)
    executed_phases: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.tasks = {str(key): list(value) for key, value in dict(self.tasks).items()}
        self.default_tasks = list(self.default_tasks)
        for task in [*self.default_tasks, *(t for ts in self.tasks.values() for t in ts)]:
            if not isinstance(task, ItineraryTask):
                raise ValueError(f"itinerary tasks must be ItineraryTask, not {task!r:.60}")

    def add_task(self, destination: str, task: ItineraryTask) -> ItineraryTask:
        """Add ``task`` to the stop ``destination``; return it."""
        _check_destination(destination)
        self.tasks.setdefault(destination, []).append(task)
        return task

    def add_default_task(self, task: ItineraryTask) -> ItineraryTask:
        """Add ``task`` to every stop; return it."""
        self.default_tasks.append(task)
        return task

    def tasks_for(self, destination: str | None, phase: str) -> list[ItineraryTask]:
        """The tasks of ``phase`` at ``destination``: its own, then the default ones."""
        check_phase(phase)
        own = self.tasks.get(destination, []) if destination else []
        return [task for task in [*own, *self.default_tasks] if task.execution == phase]

    def advance(self) -> str | None:
        """Move on one stop (see :meth:`ItineraryPlan.advance`); no phase ran there yet."""
        target = super().advance()
        if target is not None:
            self.executed_phases = []
        return target

    def restart(self) -> None:
        """Go back to before the first stop; no phase ran anywhere."""
        super().restart()
        self.executed_phases = []


# Plans arrive inside states decoded by hosts that may never have encoded one, and
# paglets.core is no allowed import prefix: register the classes as the network may name.
for _plan_class in (ItineraryPlan, ItineraryTask, TaskItineraryPlan):
    remember_class(_plan_class)
del _plan_class


def _check_destination(destination: Any) -> None:
    if not isinstance(destination, str) or not destination:
        raise ValueError(
            f"an itinerary destination must be a host name or address, not {destination!r}"
        )


__all__ = [
    "EXECUTE_ON_ARRIVAL",
    "EXECUTE_ON_DEFAULT",
    "EXECUTE_ON_DISPATCH",
    "EXECUTE_ON_REVERTING",
    "PHASES",
    "ItineraryPlan",
    "ItineraryTask",
    "TaskItineraryPlan",
    "check_phase",
]
