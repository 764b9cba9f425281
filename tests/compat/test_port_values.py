"""Port check: itineraries, the serialization codec and the runtime enums, the original way.

A traveller with a task itinerary tours three hosts the way the original's guide
builds one (a plan in the state, ``ItineraryAgentMixin``, ``go_to_next_destination()``
from ``run()``, tasks per stop and for every stop); dataclasses round-trip through
``paglets.serialization.codec``; enums go in as members and come off the wire as values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.events import MobilityEvent
from paglets.core.itinerary import (
    EXECUTE_ON_ARRIVAL,
    EXECUTE_ON_DEFAULT,
    EXECUTE_ON_DISPATCH,
    EXECUTE_ON_REVERTING,
    ItineraryAgentMixin,
    ItineraryPlan,
    ItineraryTask,
    TaskItineraryPlan,
)
from paglets.core.messages import Message
from paglets.core.runtime_values import (
    ArrivalMode,
    EnvelopeKind,
    ResidentLifecycle,
    ServiceScope,
    enum_from_wire,
    require_enum,
)
from paglets.runtime.host import Host
from paglets.serialization.codec import (
    dataclass_from_wire,
    dataclass_to_wire,
    qualified_name,
    resolve_qualified_name,
)


@dataclass
class SurveyState(PagletState):
    itinerary: TaskItineraryPlan = field(default_factory=TaskItineraryPlan)
    log: list[str] = field(default_factory=list)
    done: bool = False


class SurveyPaglet(ItineraryAgentMixin, Paglet[SurveyState]):
    State = SurveyState

    def on_arrival(self, event: MobilityEvent) -> None:
        self.execute_itinerary_tasks(EXECUTE_ON_ARRIVAL)

    def on_reverting(self, event: MobilityEvent) -> None:
        self.execute_itinerary_tasks(EXECUTE_ON_REVERTING)

    def execute_itinerary_task(self, task: ItineraryTask) -> Any:
        plan = self.get_itinerary()
        self.state.log.append(f"{task.name}@{plan.current_location}:{task.execution}")
        return task.name

    def run(self) -> None:
        self.execute_itinerary_tasks(EXECUTE_ON_DEFAULT)
        if self.go_to_next_destination() is None:
            with self.locked_state() as state:
                state.done = True

    def handle_message(self, message: Message) -> Any:
        if message.same_kind("report"):
            with self.locked():
                plan = self.state.itinerary
                return {
                    "log": list(self.state.log),
                    "done": self.state.done,
                    "visited": list(plan.visited_destinations),
                    "completed": plan.completed,
                    "host": self.context.name,
                }
        return self.not_handled()


def test_a_task_itinerary_tour(three_hosts: tuple[Host, Host, Host]) -> None:
    alpha, beta, gamma = three_hosts
    plan = TaskItineraryPlan(
        ["beta", "gamma", "alpha"],
        tasks={
            "beta": [ItineraryTask("census", EXECUTE_ON_ARRIVAL)],
            "gamma": [ItineraryTask("crunch", EXECUTE_ON_DEFAULT, {"n": 3})],
        },
        default_tasks=[ItineraryTask("wave", EXECUTE_ON_DISPATCH)],
    )
    survey = alpha.create(SurveyPaglet, SurveyState(itinerary=plan))
    report = wait_for(lambda: (r := survey.send("report"))["done"] and r)
    assert report["host"] == "alpha"
    assert report["visited"] == ["beta", "gamma", "alpha"] and report["completed"]
    assert report["log"] == [
        "census@beta:arrival",
        "wave@beta:dispatch",
        "crunch@gamma:default",
        "wave@gamma:dispatch",
    ]


def test_a_plan_as_the_original_builds_it() -> None:
    plan = ItineraryPlan(["beta", "gamma"], current_index=0, visited_destinations=[])
    assert plan.mutable and not plan.circular and plan.loop_count == 0 and not plan.completed
    assert plan.next_destination() == "beta" and plan.current_location is None
    plan.add_next_destination("delta")
    assert plan.advance() == "delta" and plan.current_location == "delta"
    round_trip = ItineraryPlan(["a", "b"], circular=True)
    for _ in range(4):
        round_trip.advance()
    assert round_trip.loop_count == 2


@dataclass
class Job:
    name: str
    sizes: tuple[int, ...] = ()
    scope: ServiceScope = ServiceScope.LOCAL


@dataclass
class Batch:
    jobs: list[Job] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


def test_codec_round_trips() -> None:
    batch = Batch([Job("a", (1, 2)), Job("b", scope=ServiceScope.MESH)], {"owner": "me"})
    assert dataclass_from_wire(Batch, dataclass_to_wire(batch)) == batch
    name = qualified_name(Batch)
    assert resolve_qualified_name(name) is Batch
    assert dataclass_from_wire(name, dataclass_to_wire(batch)) == batch


class Colour(enum.Enum):
    RED = "red"


def test_enums_take_members_and_refuse_raw_values() -> None:
    assert require_enum(ArrivalMode.INACTIVE, ArrivalMode, "arrival_mode") is ArrivalMode.INACTIVE
    with pytest.raises(TypeError, match="arrival_mode must be one of ArrivalMode.ACTIVATE"):
        require_enum("inactive", ArrivalMode, "arrival_mode")
    with pytest.raises(TypeError, match="scope"):
        require_enum(Colour.RED, ServiceScope, "scope")
    assert enum_from_wire("lazy", ResidentLifecycle) is ResidentLifecycle.LAZY
    assert enum_from_wire("clone", EnvelopeKind) is EnvelopeKind.CLONE
    with pytest.raises(ValueError, match="'local', 'mesh'"):
        enum_from_wire("galaxy", ServiceScope, "scope")
