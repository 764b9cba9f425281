"""Tests for paglets.core.itinerary and itinerary_plan: plans, encodability, the mixin."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError, TransferError
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
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, encode_state, encode_value

# plan logic ---------------------------------------------------------------------------


def test_phases_have_the_original_values() -> None:
    assert (EXECUTE_ON_ARRIVAL, EXECUTE_ON_DISPATCH, EXECUTE_ON_REVERTING, EXECUTE_ON_DEFAULT) == (
        "arrival",
        "dispatch",
        "reverting",
        "default",
    )


def test_a_new_plan_is_before_its_first_stop() -> None:
    plan = ItineraryPlan(["beta", "gamma"])
    assert (plan.current_index, plan.visited_destinations, plan.loop_count) == (0, [], 0)
    assert plan.mutable and not plan.circular and not plan.completed
    assert plan.current_location is None
    assert plan.next_destination() == "beta"
    assert plan.remaining() == ["beta", "gamma"]
    assert len(plan) == 2


def test_advance_walks_the_destinations_in_order_then_completes() -> None:
    plan = ItineraryPlan(["beta", "gamma", "tcp://127.0.0.1:9000"])
    assert plan.advance() == "beta"
    assert plan.current_location == "beta"
    assert plan.next_destination() == "gamma"
    assert plan.visited_destinations == ["beta"]
    assert plan.advance() == "gamma"
    assert plan.advance() == "tcp://127.0.0.1:9000"
    assert plan.completed
    assert plan.next_destination() is None and plan.remaining() == []
    assert plan.advance() is None
    assert plan.current_location == "tcp://127.0.0.1:9000"
    assert plan.visited_destinations == plan.destinations


def test_a_circular_plan_goes_round_and_counts_its_loops() -> None:
    plan = ItineraryPlan(["beta", "gamma"], circular=True)
    stops = [plan.advance() for _ in range(5)]
    assert stops == ["beta", "gamma", "beta", "gamma", "beta"]
    assert plan.loop_count == 2 and not plan.completed
    assert plan.next_destination() == "gamma"


def test_an_empty_plan_is_completed_at_once() -> None:
    plan = ItineraryPlan()
    assert plan.completed
    assert plan.advance() is None and plan.next_destination() is None
    plan.add_destination("beta")
    assert not plan.completed and plan.next_destination() == "beta"


def test_add_next_destination_goes_ahead_of_the_rest() -> None:
    plan = ItineraryPlan(["beta", "gamma"])
    plan.advance()
    plan.add_next_destination("delta")
    assert plan.remaining() == ["delta", "gamma"]
    plan.advance()
    plan.advance()
    assert plan.completed
    plan.add_next_destination("home")
    assert plan.next_destination() == "home" and not plan.completed


def test_an_immutable_plan_takes_no_destination() -> None:
    plan = ItineraryPlan(["beta"], mutable=False)
    for add in (plan.add_next_destination, plan.add_destination):
        with pytest.raises(PagletError, match="not mutable"):
            add("gamma")
    assert plan.destinations == ["beta"]


def test_restart_and_given_progress() -> None:
    plan = ItineraryPlan(["beta", "gamma"], current_index=1, visited_destinations=["beta"])
    assert plan.current_location == "beta" and plan.next_destination() == "gamma"
    done = ItineraryPlan(["beta"], 1, ["beta"], completed=True)
    assert done.completed
    plan.advance()
    plan.restart()
    assert (plan.current_index, plan.visited_destinations, plan.completed) == (0, [], False)


@pytest.mark.parametrize("index", [-1, 3, "0"])
def test_an_index_outside_the_plan_is_refused(index: Any) -> None:
    with pytest.raises(ValueError, match="current_index"):
        ItineraryPlan(["a", "b"], current_index=index)


@pytest.mark.parametrize("destination", ["", None, 3])
def test_a_bad_destination_is_refused(destination: Any) -> None:
    with pytest.raises(ValueError, match="destination"):
        ItineraryPlan([destination])
    with pytest.raises(ValueError, match="destination"):
        ItineraryPlan(["a"]).add_next_destination(destination)


def test_task_fields_and_validation() -> None:
    task = ItineraryTask("census")
    assert (task.name, task.execution, task.args) == ("census", EXECUTE_ON_DEFAULT, {})
    assert ItineraryTask("crunch", EXECUTE_ON_ARRIVAL, {"n": 1}).args == {"n": 1}
    with pytest.raises(ValueError, match="phase"):
        ItineraryTask("census", "on_lunch")
    with pytest.raises(ValueError, match="name"):
        ItineraryTask("")
    with pytest.raises(ValueError, match="args"):
        ItineraryTask("census", args=[1])  # type: ignore[arg-type]


def test_a_task_plan_gives_each_stop_its_own_tasks_then_the_defaults() -> None:
    plan = TaskItineraryPlan(
        ["beta", "gamma"],
        tasks={"beta": [ItineraryTask("census", EXECUTE_ON_ARRIVAL)]},
        default_tasks=[ItineraryTask("log", EXECUTE_ON_ARRIVAL), ItineraryTask("work")],
    )
    plan.add_task("gamma", ItineraryTask("crunch", EXECUTE_ON_DISPATCH))
    plan.add_default_task(ItineraryTask("wave", EXECUTE_ON_DISPATCH))
    names = lambda stop, phase: [t.name for t in plan.tasks_for(stop, phase)]  # noqa: E731
    assert names("beta", EXECUTE_ON_ARRIVAL) == ["census", "log"]
    assert names("gamma", EXECUTE_ON_ARRIVAL) == ["log"]
    assert names("gamma", EXECUTE_ON_DISPATCH) == ["crunch", "wave"]
    assert names("beta", EXECUTE_ON_DEFAULT) == ["work"]
    assert names(None, EXECUTE_ON_REVERTING) == []
    with pytest.raises(ValueError, match="phase"):
        plan.tasks_for("beta", "later")
    with pytest.raises(ValueError, match="ItineraryTask"):
        TaskItineraryPlan(["beta"], default_tasks=["census"])  # type: ignore[list-item]


# encodability ---------------------------------------------------------------------------


@dataclass
class PlanState(PagletState):
    itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
    others: list[ItineraryPlan] = field(default_factory=list)


@dataclass
class TaskPlanState(PagletState):
    itinerary: TaskItineraryPlan = field(default_factory=TaskItineraryPlan)


def _round_trip(state: PagletState) -> PagletState:
    return decode_state(encode_state(state), type(state), ClassPolicy())


def test_a_plan_in_a_state_round_trips_with_its_progress() -> None:
    plan = ItineraryPlan(["beta", "tcp://127.0.0.1:8765", "alpha"], circular=True)
    plan.advance()
    plan.advance()
    state = PlanState(itinerary=plan, others=[ItineraryPlan(["x"]), ItineraryPlan()])
    decoded = _round_trip(state)
    assert decoded == state
    assert isinstance(decoded, PlanState) and type(decoded.itinerary) is ItineraryPlan
    assert decoded.itinerary.current_location == "tcp://127.0.0.1:8765"
    assert decoded.itinerary.remaining() == ["alpha"]


def test_a_task_plan_round_trips_with_its_tasks_and_executed_phases() -> None:
    plan = TaskItineraryPlan(["beta", "gamma"])
    plan.add_task("beta", ItineraryTask("census", EXECUTE_ON_ARRIVAL, {"paths": ["/a"]}))
    plan.add_default_task(ItineraryTask("log"))
    plan.advance()
    plan.executed_phases.append(EXECUTE_ON_ARRIVAL)
    decoded = _round_trip(TaskPlanState(itinerary=plan))
    assert isinstance(decoded, TaskPlanState)
    assert decoded.itinerary == plan
    assert type(decoded.itinerary.tasks["beta"][0]) is ItineraryTask


def test_a_plan_is_also_an_encodable_message_value() -> None:
    assert encode_value(ItineraryPlan(["beta"]))
    assert encode_value(TaskItineraryPlan(["beta"], default_tasks=[ItineraryTask("x")]))


_DECODE_ELSEWHERE = """
import sys
from dataclasses import dataclass, field
from paglets.core.agent import PagletState
from paglets.core.itinerary import TaskItineraryPlan
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state

@dataclass
class TaskPlanState(PagletState):
    itinerary: TaskItineraryPlan = field(default_factory=TaskItineraryPlan)

state = decode_state(sys.stdin.buffer.read(), TaskPlanState, ClassPolicy(()))
plan = state.itinerary
print(plan.tasks[plan.current_location][0].name, plan.remaining())
"""


def test_a_process_that_never_encoded_a_plan_decodes_one() -> None:
    # paglets.core is no allowed import prefix: the plan classes must resolve anyway.
    plan = TaskItineraryPlan(["beta", "x"], tasks={"beta": [ItineraryTask("census")]})
    plan.advance()
    result = subprocess.run(
        [sys.executable, "-c", _DECODE_ELSEWHERE],
        input=encode_state(TaskPlanState(itinerary=plan)),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "census ['x']"


# the mixin, on a paglet bound to a fake host ---------------------------------------------


class FakeContext:
    """The little of a host the mixin asks: its name and address."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address


class FakeControl:
    """Records dispatches; ``fail`` makes the next one raise like a failed transfer."""

    def __init__(self, paglet: Paglet[Any]) -> None:
        self.paglet = paglet
        self.dispatched: list[tuple[str, list[str], dict[str, Any]]] = []
        self.fail: Exception | None = None

    def dispatch(self, options: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        # What travels is the state at this moment: record the plan's progress then.
        target = str(options["target"])
        given = {k: v for k, v in options.items() if k != "target" and v is not None}
        visited = list(self.paglet.state.itinerary.visited_destinations)
        self.dispatched.append((target, visited, given))
        self.paglet._mark_leaving()
        return f"proxy at {target}"

    def own_proxy(self) -> Any:
        return "own proxy"


@dataclass
class TripState(PagletState):
    itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
    reached: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    finished: int = 0


class Tripper(ItineraryAgentMixin, Paglet[TripState]):
    State = TripState

    def on_destination_reached(self) -> None:
        self.state.reached.append(self.context.name)

    def execute_itinerary_task(self, task: ItineraryTask) -> Any:
        self.state.ran.append(f"{task.name}:{task.execution}@{self.context.name}")
        return task.name.upper()

    def on_itinerary_finished(self) -> None:
        self.state.finished += 1


def _bound(state: TripState, host: str = "alpha") -> tuple[Tripper, FakeControl]:
    paglet = Tripper()
    control = FakeControl(paglet)
    context = FakeContext(host, f"tcp://127.0.0.1:{len(host)}")
    paglet._bind("a" * 32, state, context, control)  # type: ignore[arg-type]
    return paglet, control


def _arrive(paglet: Tripper, host: str) -> Tripper:
    """The copy that arrives on ``host``: the same state, a fresh instance."""
    arrived, _ = _bound(paglet.state, host)
    arrived.itinerary_on_arrival(None)
    return arrived


def test_go_to_next_destination_advances_before_dispatching() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    assert paglet.go_to_next_destination(timeout=3.0) == "proxy at beta"
    assert control.dispatched == [("beta", ["beta"], {"timeout": 3.0})]
    assert paglet.get_itinerary().current_location == "beta"


def test_the_arrived_copy_sees_it_is_on_its_current_location() -> None:
    paglet, _ = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    paglet.go_to_next_destination()
    arrived = _arrive(paglet, "beta")
    assert arrived.at_current_destination()
    assert arrived.state.reached == ["beta"]


def test_go_to_next_destination_at_the_end_stays() -> None:
    plan = ItineraryPlan(["alpha"], 1, ["alpha"])
    paglet, control = _bound(TripState(itinerary=plan))
    assert paglet.go_to_next_destination() is None
    assert control.dispatched == []


def test_a_failed_dispatch_puts_the_plan_back() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    control.fail = TransferError("beta is down")
    with pytest.raises(TransferError):
        paglet.go_to_next_destination()
    plan = paglet.get_itinerary()
    assert (plan.current_index, plan.visited_destinations) == (0, [])
    control.fail = None
    paglet.go_to_next_destination()
    assert control.dispatched[0][0] == "beta"


def test_a_destination_on_this_host_moves_nothing() -> None:
    for here in ("alpha", "tcp://127.0.0.1:5", "127.0.0.1:5", "http://127.0.0.1:5/"):
        paglet, control = _bound(TripState(itinerary=ItineraryPlan([here, "beta"])))
        assert paglet.go_to_next_destination() == "own proxy"
        assert control.dispatched == []
        assert paglet.at_current_destination()
        assert not paglet.is_leaving()


def test_continue_itinerary_sets_out_then_stops_at_the_end() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["beta", "alpha"])))
    assert paglet.continue_itinerary() == "proxy at beta"
    assert paglet.state.reached == []  # nothing is reached on the creating host
    on_beta = _arrive(paglet, "beta")
    on_beta.continue_itinerary()
    home = _arrive(on_beta, "alpha")
    assert home.continue_itinerary() is None
    assert home.state.reached == ["beta", "alpha"]
    assert home.state.finished == 1
    assert [target for target, _, _ in control.dispatched] == ["beta"]


def test_continue_itinerary_works_through_consecutive_stops_here() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["alpha", "alpha", "beta"])))
    assert paglet.continue_itinerary() == "proxy at beta"
    assert paglet.state.reached == ["alpha", "alpha"]
    assert control.dispatched == [("beta", ["alpha", "alpha", "beta"], {})]


def test_tasks_run_in_their_phases_once_per_stop() -> None:
    plan = TaskItineraryPlan(["beta", "gamma", "delta", "alpha"])
    plan.add_task("beta", ItineraryTask("census", EXECUTE_ON_ARRIVAL))
    plan.add_task("gamma", ItineraryTask("crunch"))
    plan.add_task("delta", ItineraryTask("farewell", EXECUTE_ON_DISPATCH))
    plan.add_task("alpha", ItineraryTask("report"))
    plan.add_default_task(ItineraryTask("stamp", EXECUTE_ON_ARRIVAL))
    paglet, _ = _bound(TripState(itinerary=plan))
    paglet.continue_itinerary()
    for host in ("beta", "gamma", "delta", "alpha"):
        paglet = _arrive(paglet, host)
        paglet.continue_itinerary()
    assert paglet.state.ran == [
        "census:arrival@beta",
        "stamp:arrival@beta",
        "stamp:arrival@gamma",
        "crunch:default@gamma",
        "stamp:arrival@delta",
        "farewell:dispatch@delta",
        "stamp:arrival@alpha",
        "report:default@alpha",
    ]
    # Activated again on the last host: nothing runs twice.
    paglet.continue_itinerary()
    assert len(paglet.state.ran) == 8
    assert paglet.state.finished == 2


def test_execute_itinerary_tasks_returns_the_results_and_checks_the_phase() -> None:
    plan = TaskItineraryPlan(["alpha"], tasks={"alpha": [ItineraryTask("census")]})
    plan.advance()
    paglet, _ = _bound(TripState(itinerary=plan))
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_ARRIVAL) == []
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT) == ["CENSUS"]
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT) == []
    with pytest.raises(ValueError, match="phase"):
        paglet.execute_itinerary_tasks("later")


def test_reverting_tasks_run_when_asked_from_on_reverting() -> None:
    plan = TaskItineraryPlan(["alpha"], default_tasks=[ItineraryTask("pack", "reverting")])
    plan.advance()
    paglet, _ = _bound(TripState(itinerary=plan))
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_REVERTING) == ["PACK"]


def test_tasks_run_only_on_the_current_location() -> None:
    plan = TaskItineraryPlan(["beta"], tasks={"beta": [ItineraryTask("census")]})
    plan.advance()
    paglet, _ = _bound(TripState(itinerary=plan), host="alpha")
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT) == []
    assert paglet.itinerary_on_arrival(None) == []
    assert paglet.state.ran == [] and paglet.state.reached == []


def test_a_failing_task_runs_again_next_time() -> None:
    class Flaky(Tripper):
        fail = True

        def execute_itinerary_task(self, task: ItineraryTask) -> Any:
            if Flaky.fail:
                raise RuntimeError("not yet")
            return super().execute_itinerary_task(task)

    plan = TaskItineraryPlan(["alpha"], tasks={"alpha": [ItineraryTask("census")]})
    plan.advance()
    paglet = Flaky()
    paglet._bind("e" * 32, TripState(itinerary=plan), FakeContext("alpha", "tcp://h:1"), None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT)
    Flaky.fail = False
    assert paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT) == ["CENSUS"]


def test_tasks_without_execute_itinerary_task_fail_clearly() -> None:
    class Lazy(ItineraryAgentMixin, Paglet[TripState]):
        State = TripState

    plan = TaskItineraryPlan(["alpha"], tasks={"alpha": [ItineraryTask("x")]})
    plan.advance()
    paglet = Lazy()
    paglet._bind("b" * 32, TripState(itinerary=plan), FakeContext("alpha", "tcp://h:1"), None)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="execute_itinerary_task"):
        paglet.execute_itinerary_tasks(EXECUTE_ON_DEFAULT)


def test_a_state_without_a_plan_is_reported() -> None:
    @dataclass
    class NoPlan(PagletState):
        itinerary: int = 0

    class Lost(ItineraryAgentMixin, Paglet[NoPlan]):
        State = NoPlan

    paglet = Lost()
    paglet._bind("c" * 32, NoPlan(), FakeContext("alpha", "tcp://h:1"), None)  # type: ignore[arg-type]
    with pytest.raises(PagletError, match="ItineraryPlan"):
        paglet.go_to_next_destination()


def test_the_plan_field_name_can_be_changed() -> None:
    @dataclass
    class RouteState(PagletState):
        route: ItineraryPlan = field(default_factory=lambda: ItineraryPlan(["x"]))

    class Router(ItineraryAgentMixin, Paglet[RouteState]):
        State = RouteState
        itinerary_field = "route"

    paglet = Router()
    paglet._bind("d" * 32, RouteState(), FakeContext("alpha", "tcp://h:1"), None)  # type: ignore[arg-type]
    assert paglet.get_itinerary().destinations == ["x"]


def test_the_mixin_needs_a_paglet() -> None:
    class NotAPaglet(ItineraryAgentMixin):
        pass

    with pytest.raises(TypeError, match="Paglet"):
        NotAPaglet().go_to_next_destination()
