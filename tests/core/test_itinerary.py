"""Tests for paglets.core.itinerary: plan logic, encodability, and the mixin's moves."""

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
    NOT_STARTED,
    ItineraryAgentMixin,
    ItineraryPlan,
    ItineraryTask,
    TaskItineraryPlan,
)
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, encode_state, encode_value

# plan logic ---------------------------------------------------------------------------


def test_phases_are_distinct_strings() -> None:
    phases = {EXECUTE_ON_ARRIVAL, EXECUTE_ON_DISPATCH, EXECUTE_ON_DEFAULT}
    assert len(phases) == 3
    assert all(isinstance(phase, str) for phase in phases)


def test_new_plan_has_not_started() -> None:
    plan = ItineraryPlan(["beta", "gamma"])
    assert plan.index == NOT_STARTED
    assert plan.current() is None
    assert not plan.is_started()
    assert not plan.is_finished()
    assert plan.remaining() == ["beta", "gamma"]
    assert plan.visited() == []
    assert len(plan) == 2


def test_advance_walks_the_destinations_in_order() -> None:
    plan = ItineraryPlan(["beta", "gamma", "tcp://127.0.0.1:9000"])
    assert plan.advance() == "beta"
    assert plan.current() == "beta"
    assert plan.is_started()
    assert plan.remaining() == ["gamma", "tcp://127.0.0.1:9000"]
    assert plan.visited() == ["beta"]
    assert not plan.is_finished()
    assert plan.advance() == "gamma"
    assert plan.advance() == "tcp://127.0.0.1:9000"
    assert plan.is_finished()
    assert plan.remaining() == []
    assert plan.visited() == plan.destinations


def test_advance_past_the_end_returns_none_and_stays_on_the_last() -> None:
    plan = ItineraryPlan(["beta"])
    assert plan.advance() == "beta"
    assert plan.advance() is None
    assert plan.advance() is None
    assert plan.current() == "beta"
    assert plan.index == 0


def test_empty_plan_is_finished_at_once() -> None:
    plan = ItineraryPlan()
    assert plan.is_finished()
    assert plan.advance() is None
    assert plan.current() is None
    assert plan.remaining() == []


def test_one_host_may_appear_twice() -> None:
    plan = ItineraryPlan(["beta", "alpha", "beta"])
    assert [plan.advance(), plan.advance(), plan.advance()] == ["beta", "alpha", "beta"]


def test_add_destination_and_restart() -> None:
    plan = ItineraryPlan(["beta"])
    plan.advance()
    assert plan.is_finished()
    plan.add_destination("gamma")
    assert not plan.is_finished()
    assert plan.advance() == "gamma"
    plan.restart()
    assert plan.index == NOT_STARTED
    assert plan.remaining() == ["beta", "gamma"]


@pytest.mark.parametrize("index", [-2, 2, 5])
def test_index_outside_the_plan_is_refused(index: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        ItineraryPlan(["a", "b"], index)


@pytest.mark.parametrize("destination", ["", None, 3])
def test_bad_destination_is_refused(destination: Any) -> None:
    with pytest.raises(ValueError, match="destination"):
        ItineraryPlan(["beta", destination])
    with pytest.raises(ValueError, match="destination"):
        ItineraryPlan().add_destination(destination)


def test_task_defaults_and_validation() -> None:
    task = ItineraryTask("beta", "census")
    assert task.args == {}
    assert task.phase == EXECUTE_ON_DEFAULT
    assert not task.done
    with pytest.raises(ValueError, match="phase"):
        ItineraryTask("beta", "census", phase="whenever")
    with pytest.raises(ValueError, match="kind"):
        ItineraryTask("beta", "")
    with pytest.raises(ValueError, match="destination"):
        ItineraryTask("", "census")


def test_task_plan_takes_its_destinations_from_its_tasks() -> None:
    plan = TaskItineraryPlan(
        tasks=[ItineraryTask("beta", "a"), ItineraryTask("gamma", "b", {"n": 1})]
    )
    assert plan.destinations == ["beta", "gamma"]
    assert plan.current_task() is None
    plan.advance()
    current = plan.current_task()
    assert current is not None and current.kind == "a"
    plan.advance()
    current = plan.current_task()
    assert current is not None and current.args == {"n": 1}


def test_task_plan_add_task_keeps_destinations_in_step() -> None:
    plan = TaskItineraryPlan()
    task = plan.add_task("beta", "census", {"deep": True}, EXECUTE_ON_ARRIVAL)
    plan.add_task("gamma", "report")
    assert plan.destinations == ["beta", "gamma"]
    assert plan.tasks[0] is task
    assert task.phase == EXECUTE_ON_ARRIVAL
    with pytest.raises(TypeError, match="add_task"):
        plan.add_destination("delta")


def test_task_plan_refuses_destinations_that_differ_from_its_tasks() -> None:
    with pytest.raises(ValueError, match="destinations"):
        TaskItineraryPlan(["beta"], tasks=[ItineraryTask("gamma", "x")])


def test_task_plan_restart_marks_tasks_not_done() -> None:
    plan = TaskItineraryPlan(tasks=[ItineraryTask("beta", "x", done=True)], index=0)
    plan.restart()
    assert plan.index == NOT_STARTED
    assert not plan.tasks[0].done


# encodability -------------------------------------------------------------------------


@dataclass
class PlanState(PagletState):
    itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
    others: list[ItineraryPlan] = field(default_factory=list)


@dataclass
class TaskPlanState(PagletState):
    itinerary: TaskItineraryPlan = field(default_factory=TaskItineraryPlan)


def _round_trip(state: PagletState) -> PagletState:
    return decode_state(encode_state(state), type(state), ClassPolicy())


def test_plan_in_a_state_round_trips_with_its_progress() -> None:
    plan = ItineraryPlan(["beta", "tcp://127.0.0.1:8765", "alpha"])
    plan.advance()
    plan.advance()
    state = PlanState(itinerary=plan, others=[ItineraryPlan(["x"]), ItineraryPlan()])
    decoded = _round_trip(state)
    assert decoded == state
    assert isinstance(decoded, PlanState)
    assert type(decoded.itinerary) is ItineraryPlan
    assert decoded.itinerary.current() == "tcp://127.0.0.1:8765"
    assert decoded.itinerary.remaining() == ["alpha"]


def test_task_plan_in_a_state_round_trips_with_done_flags_and_args() -> None:
    plan = TaskItineraryPlan()
    plan.add_task("beta", "census", {"deep": True, "paths": ["/a", "/b"]}, EXECUTE_ON_ARRIVAL)
    plan.add_task("gamma", "crunch", {"n": 10}, EXECUTE_ON_DISPATCH)
    plan.advance()
    plan.tasks[0].done = True
    decoded = _round_trip(TaskPlanState(itinerary=plan))
    assert isinstance(decoded, TaskPlanState)
    assert type(decoded.itinerary) is TaskItineraryPlan
    assert type(decoded.itinerary.tasks[0]) is ItineraryTask
    assert decoded.itinerary == plan
    current = decoded.itinerary.current_task()
    assert current is not None and current.done and current.args["paths"] == ["/a", "/b"]


def test_a_plan_is_also_an_encodable_message_value() -> None:
    assert encode_value(ItineraryPlan(["beta"]))
    assert encode_value(TaskItineraryPlan(tasks=[ItineraryTask("beta", "x")]))


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
print(state.itinerary.current_task().kind, state.itinerary.remaining())
"""


def test_a_process_that_never_encoded_a_plan_decodes_one() -> None:
    # paglets.core is no allowed import prefix: the plan classes must resolve anyway.
    plan = TaskItineraryPlan(tasks=[ItineraryTask("beta", "census"), ItineraryTask("x", "y")])
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
        self.dispatched: list[tuple[str, int, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def dispatch(self, options: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        target = str(options["target"])
        given = {k: v for k, v in options.items() if k != "target" and v is not None}
        # What travels is the state at this moment: record the plan's index then.
        self.dispatched.append((target, self.paglet.state.itinerary.index, given))
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
        self.state.ran.append(f"{task.kind}:{task.phase}@{self.context.name}")
        return task.kind.upper()

    def on_itinerary_finished(self) -> None:
        self.state.finished += 1


def _bound(state: TripState, host: str = "alpha") -> tuple[Tripper, FakeControl]:
    paglet = Tripper()
    control = FakeControl(paglet)
    paglet._bind("a" * 32, state, FakeContext(host, f"tcp://127.0.0.1:{len(host)}"), control)  # type: ignore[arg-type]
    return paglet, control


def _arrive(paglet: Tripper, host: str) -> Tripper:
    """The copy that arrives on ``host``: the same state, a fresh instance."""
    arrived, _ = _bound(paglet.state, host)
    arrived.itinerary_on_arrival(None)
    return arrived


def test_go_to_next_destination_advances_before_dispatching() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    assert paglet.go_to_next_destination(timeout=3.0) == "proxy at beta"
    assert control.dispatched == [("beta", 0, {"timeout": 3.0})]
    assert paglet.itinerary_plan.current() == "beta"


def test_the_arrived_copy_sees_it_is_on_its_current_destination() -> None:
    paglet, _ = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    paglet.go_to_next_destination()
    arrived = _arrive(paglet, "beta")
    assert arrived.at_current_destination()
    assert arrived.state.reached == ["beta"]


def test_go_to_next_destination_at_the_end_stays() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["alpha"], 0)))
    assert paglet.go_to_next_destination() is None
    assert control.dispatched == []
    assert paglet.itinerary_plan.index == 0


def test_a_failed_dispatch_puts_the_plan_back() -> None:
    paglet, control = _bound(TripState(itinerary=ItineraryPlan(["beta", "gamma"])))
    control.fail = TransferError("beta is down")
    with pytest.raises(TransferError):
        paglet.go_to_next_destination()
    assert paglet.itinerary_plan.index == NOT_STARTED
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
    assert control.dispatched == [("beta", 2, {})]


def test_tasks_run_in_their_phases_once_each() -> None:
    plan = TaskItineraryPlan()
    plan.add_task("beta", "census", phase=EXECUTE_ON_ARRIVAL)
    plan.add_task("gamma", "crunch")
    plan.add_task("delta", "farewell", phase=EXECUTE_ON_DISPATCH)
    plan.add_task("alpha", "report")
    paglet, control = _bound(TripState(itinerary=plan))
    paglet.continue_itinerary()
    for host in ("beta", "gamma", "delta", "alpha"):
        paglet = _arrive(paglet, host)
        paglet.continue_itinerary()
    assert paglet.state.ran == [
        "census:on_arrival@beta",
        "crunch:default@gamma",
        "farewell:on_dispatch@delta",
        "report:default@alpha",
    ]
    assert all(task.done for task in plan.tasks)
    # Activated again on the last host: nothing runs twice.
    paglet.continue_itinerary()
    assert len(paglet.state.ran) == 4
    assert paglet.state.finished == 2


def test_run_itinerary_tasks_returns_the_result_and_checks_the_phase() -> None:
    plan = TaskItineraryPlan(tasks=[ItineraryTask("alpha", "census")], index=0)
    paglet, _ = _bound(TripState(itinerary=plan))
    assert paglet.run_itinerary_tasks(EXECUTE_ON_ARRIVAL) is None
    assert paglet.run_itinerary_tasks(EXECUTE_ON_DEFAULT) == "CENSUS"
    assert paglet.run_itinerary_tasks(EXECUTE_ON_DEFAULT) is None
    with pytest.raises(ValueError, match="phase"):
        paglet.run_itinerary_tasks("later")


def test_a_task_runs_only_on_its_own_destination() -> None:
    plan = TaskItineraryPlan(tasks=[ItineraryTask("beta", "census")], index=0)
    paglet, _ = _bound(TripState(itinerary=plan), host="alpha")
    assert paglet.run_itinerary_tasks(EXECUTE_ON_DEFAULT) is None
    assert paglet.itinerary_on_arrival(None) is None
    assert paglet.state.ran == [] and paglet.state.reached == []


def test_tasks_without_execute_itinerary_task_fail_clearly() -> None:
    class Lazy(ItineraryAgentMixin, Paglet[TripState]):
        State = TripState

    paglet = Lazy()
    plan = TaskItineraryPlan(tasks=[ItineraryTask("alpha", "x")], index=0)
    paglet._bind("b" * 32, TripState(itinerary=plan), FakeContext("alpha", "tcp://h:1"), None)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="execute_itinerary_task"):
        paglet.run_itinerary_tasks(EXECUTE_ON_DEFAULT)


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
    assert paglet.itinerary_plan.destinations == ["x"]


def test_the_mixin_needs_a_paglet() -> None:
    class NotAPaglet(ItineraryAgentMixin):
        pass

    with pytest.raises(TypeError, match="Paglet"):
        NotAPaglet().go_to_next_destination()
