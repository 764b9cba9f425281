"""Itineraries: plans (:mod:`paglets.core.itinerary_plan`) and the mixin that follows them.

:class:`ItineraryAgentMixin` is mixed into a :class:`~paglets.core.agent.Paglet` whose
state holds a plan in a field named ``itinerary``. Its
:meth:`~ItineraryAgentMixin.go_to_next_destination` advances the plan *before*
dispatching, so the copy that arrives sees its progress: on arrival
``plan.current_location`` is the host it arrived on. A typical traveller::

    @dataclass
    class TripState(PagletState):
        itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
        seen: list[str] = field(default_factory=list)

    class Tripper(ItineraryAgentMixin, Paglet[TripState]):
        State = TripState

        def on_arrival(self, event):
            self.itinerary_on_arrival(event)   # calls on_destination_reached()

        def on_destination_reached(self):
            self.state.seen.append(self.context.name)

        def run(self):
            self.continue_itinerary()   # this stop's default tasks, then the next hop

The mixin overrides no hook of the paglet: the paglet calls the helpers from the hooks
it writes (``execute_itinerary_tasks(EXECUTE_ON_REVERTING)`` from ``on_reverting``, for
one), and overrides the mixin's callbacks where it needs them
(:meth:`~ItineraryAgentMixin.execute_itinerary_task`,
:meth:`~ItineraryAgentMixin.on_destination_reached`,
:meth:`~ItineraryAgentMixin.on_itinerary_finished`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from paglets.core.agent import Paglet
from paglets.core.errors import PagletError
from paglets.core.events import MobilityEvent
from paglets.core.itinerary_plan import (
    EXECUTE_ON_ARRIVAL,
    EXECUTE_ON_DEFAULT,
    EXECUTE_ON_DISPATCH,
    EXECUTE_ON_REVERTING,
    PHASES,
    ItineraryPlan,
    ItineraryTask,
    TaskItineraryPlan,
    check_phase,
)


class ItineraryAgentMixin:
    """Itinerary helpers for a paglet whose state holds an :class:`ItineraryPlan`.

    Mix it in before the paglet base: ``class T(ItineraryAgentMixin, Paglet[S])``. The
    plan lives in the state field named by :attr:`itinerary_field` (``itinerary``).
    Nothing runs by itself: call :meth:`continue_itinerary` (usually from ``run()``),
    :meth:`itinerary_on_arrival` (from ``on_arrival``) or
    :meth:`go_to_next_destination` where the paglet decides to move on.
    """

    itinerary_field: ClassVar[str] = "itinerary"
    """Name of the state field holding the plan."""

    def _itinerary_paglet(self) -> Paglet[Any]:
        if not isinstance(self, Paglet):
            raise TypeError(
                f"{type(self).__qualname__} mixes in ItineraryAgentMixin without Paglet"
            )
        return self

    def get_itinerary(self) -> ItineraryPlan:
        """Return the plan in this paglet's state.

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
        name, address = _where(self._itinerary_paglet())
        return destination == name or _bare_address(destination) == _bare_address(address)

    def at_current_destination(self) -> bool:
        """Whether this paglet is on the plan's current location."""
        return self.is_here(self.get_itinerary().current_location)

    def go_to_next_destination(self, **options: Any) -> Any:
        """Leave for the plan's next destination: advance the plan, then dispatch there.

        The current stop's :data:`EXECUTE_ON_DISPATCH` tasks run first. The plan advances
        before the state is snapshotted, so the arriving copy's ``current_location`` is
        the host it arrived on. If the dispatch fails the plan is put back, so a later
        call tries the same destination again. When the next destination is this very
        host nothing moves (the runtime would not run ``on_arrival``): check
        :meth:`~paglets.core.agent.Paglet.is_leaving` to tell the two apart.

        Args:
            options: dispatch options (``timeout``, ``retries``).

        Returns:
            The paglet's proxy (at its new host, or here when the next destination is
            this host), or None when the plan is completed and the paglet stays.

        Raises:
            TransferError: the dispatch did not commit; the paglet is still here.
            PeerNotFoundError: the next destination names an unknown host.
        """
        paglet = self._itinerary_paglet()
        plan = self.get_itinerary()
        if plan.next_destination() is None:
            return None
        self.execute_itinerary_tasks(EXECUTE_ON_DISPATCH)
        with paglet.locked():
            before = dataclasses.replace(plan, visited_destinations=list(plan.visited_destinations))
            target = plan.advance()
        if target is None:
            return None
        if self.is_here(target):
            return paglet.proxy()
        try:
            return paglet.dispatch(target, **options)
        except BaseException:
            with paglet.locked():
                vars(plan).update(vars(before))
            raise

    def execute_itinerary_tasks(self, phase: str) -> list[Any]:
        """Run the current stop's tasks of ``phase``, once per stop and phase.

        Only a :class:`TaskItineraryPlan` has tasks, and they only run on the host of
        the current location. Each is handed to :meth:`execute_itinerary_task`.

        Returns:
            What each task returned, in order ([] when none ran).

        Raises:
            ValueError: ``phase`` is not one of the phases.
        """
        check_phase(phase)
        plan = self.get_itinerary()
        if not isinstance(plan, TaskItineraryPlan) or phase in plan.executed_phases:
            return []
        if not self.at_current_destination():
            return []
        results = [
            self.execute_itinerary_task(task)
            for task in plan.tasks_for(plan.current_location, phase)
        ]
        with self._itinerary_paglet().locked():
            plan.executed_phases.append(phase)
        return results

    def itinerary_on_arrival(self, event: MobilityEvent | None = None) -> list[Any]:
        """Note the arrival on the current location and run its arrival tasks.

        Call it from ``on_arrival``. When this host is the plan's current location it
        calls :meth:`on_destination_reached`, then runs the :data:`EXECUTE_ON_ARRIVAL`
        tasks; an arrival elsewhere (a retract, a dispatch outside the plan) does nothing.

        Returns:
            What the arrival tasks returned.
        """
        if not self.at_current_destination():
            return []
        self.on_destination_reached()
        return self.execute_itinerary_tasks(EXECUTE_ON_ARRIVAL)

    def continue_itinerary(self, **options: Any) -> Any:
        """Do this stop's :data:`EXECUTE_ON_DEFAULT` tasks, then go on to the next.

        Call it from ``run()``: after creation it sets out for the first destination;
        after an arrival it does the work due there and leaves. Consecutive stops on
        this same host are worked through here. When the plan is completed it calls
        :meth:`on_itinerary_finished` and the paglet stays.

        Returns:
            The proxy at the next host, or None when the plan is completed.
        """
        paglet = self._itinerary_paglet()
        while True:
            self.execute_itinerary_tasks(EXECUTE_ON_DEFAULT)
            if self.get_itinerary().next_destination() is None:
                self.on_itinerary_finished()
                return None
            proxy = self.go_to_next_destination(**options)
            if proxy is None or paglet.is_leaving():
                return proxy
            # The next destination is this host: nothing moved, so no on_arrival ran.
            self.itinerary_on_arrival(None)

    def execute_itinerary_task(self, task: ItineraryTask) -> Any:
        """Do ``task`` at the current stop. Override it when the plan has tasks.

        It runs on the thread of the hook that asked for it (``run()``'s own thread for
        :data:`EXECUTE_ON_DEFAULT`): change shared state under ``locked_state()``.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} has itinerary tasks but no execute_itinerary_task()"
        )

    def on_destination_reached(self) -> None:
        """Called on each stop the paglet reaches; does nothing. Override it."""

    def on_itinerary_finished(self) -> None:
        """Called by :meth:`continue_itinerary` once the plan is completed; does nothing."""


def _where(paglet: Paglet[Any]) -> tuple[str, str]:
    """The name and address of the host ``paglet`` is on."""
    context = paglet.context
    return context.name, context.address


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
    "EXECUTE_ON_REVERTING",
    "PHASES",
    "ItineraryAgentMixin",
    "ItineraryPlan",
    "ItineraryTask",
    "TaskItineraryPlan",
]
