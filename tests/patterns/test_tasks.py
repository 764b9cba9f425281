"""TaskPaglet and TaskClient: success, failure as a status, status while running, waits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet
from paglets.core.errors import (
    HostError,
    NotHandledError,
    ReplyTimeoutError,
    ServiceContractError,
)
from paglets.core.messages import Message
from paglets.patterns.tasks import (
    TaskCancelledError,
    TaskClient,
    TaskPaglet,
    TaskState,
    TaskStatus,
)
from paglets.runtime.host import Host


@dataclass
class SumState(TaskState):
    visited: list[str] = field(default_factory=list)


class SumTask(TaskPaglet):
    """Sums ``numbers``; ``gate`` holds it, ``fail`` raises, ``move_to`` travels first."""

    State = SumState

    def execute(self, args: dict[str, Any]) -> Any:
        here = self.context.name
        with self.locked_state() as state:
            if here not in state.visited:
                state.visited.append(here)
            visited = list(state.visited)
        if args.get("move_to") and args["move_to"] not in visited:
            self.dispatch(args["move_to"])
            return "left behind"  # dropped: the copy on the target carries on
        self.report_progress({"at": here})
        if args.get("gate"):
            gate(args["gate"]).pass_through()
        if args.get("fail"):
            raise ValueError(f"cannot sum on {here}")
        if args.get("unencodable"):
            return object()
        if args.get("cancellable"):
            while not self.cancel_requested():
                if self.wait_leaving(0.01):
                    return "moved away"  # dropped: the copy that arrived carries on
            raise TaskCancelledError("stopped as asked")
        return {"sum": sum(args.get("numbers", [])), "visited": visited}


def test_a_task_succeeds_and_its_result_comes_back(host: Host) -> None:
    client = TaskClient.create(host, SumTask)
    assert client.status().status is TaskStatus.PENDING
    done = client.start_and_wait({"numbers": [1, 2, 3]}, timeout=TIMEOUT)
    assert done.status is TaskStatus.SUCCEEDED and done.finished
    assert done.result == {"sum": 6, "visited": ["alpha"]}
    assert done.runs == 1 and done.started_at <= done.finished_at
    assert client.result(TIMEOUT) == {"sum": 6, "visited": ["alpha"]}


def test_a_failure_becomes_a_failed_status_with_the_error(host: Host) -> None:
    client = TaskClient.create(host, SumTask)
    done = client.start_and_wait({"fail": True}, timeout=TIMEOUT)
    assert done.status is TaskStatus.FAILED
    assert (done.error_type, done.error_message) == ("ValueError", "cannot sum on alpha")
    with pytest.raises(HostError, match="cannot sum on alpha") as raised:
        client.result(TIMEOUT)
    assert raised.value.remote_type == "ValueError"
    assert host.get_proxy(client.proxy.agent_id).info()["failed"] in (None, "")  # no crash


def test_an_unencodable_result_fails_the_task_clearly(host: Host) -> None:
    done = TaskClient.create(host, SumTask).start_and_wait({"unencodable": True}, timeout=TIMEOUT)
    assert done.status is TaskStatus.FAILED and done.error_type == "SerializationError"


def test_status_answers_while_the_work_runs(host: Host) -> None:
    held = new_gate()
    client = TaskClient.create(host, SumTask)
    assert client.start({"gate": held.key, "numbers": [4]}).status is TaskStatus.RUNNING
    held.wait_entered()
    running = client.status(timeout=TIMEOUT)
    assert running.status is TaskStatus.RUNNING and running.progress == {"at": "alpha"}
    held.open()
    assert client.wait(TIMEOUT).result == {"sum": 4, "visited": ["alpha"]}


def test_a_wait_that_times_out_returns_the_running_status(host: Host) -> None:
    held = new_gate()
    client = TaskClient.create(host, SumTask)
    client.start({"gate": held.key})
    held.wait_entered()
    started = time.monotonic()
    snapshot = client.wait(0.3)
    elapsed = time.monotonic() - started
    assert snapshot.status is TaskStatus.RUNNING and not snapshot.finished
    assert 0.3 <= elapsed < TIMEOUT
    with pytest.raises(ReplyTimeoutError, match="still running"):
        client.result(0.05)
    held.open()
    assert client.wait(TIMEOUT).status is TaskStatus.SUCCEEDED


def test_the_client_follows_a_task_that_dispatched_itself_mid_run(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    held = new_gate()
    client = TaskClient.create(alpha, SumTask)
    client.start({"move_to": "beta", "gate": held.key, "numbers": [5, 6]})
    held.wait_entered()  # reached on beta, after the move
    # Until alpha has taken the target's answer, alpha's instance may still answer.
    moved = wait_for(lambda: (status := client.status(timeout=TIMEOUT)).host == "beta" and status)
    assert moved.status is TaskStatus.RUNNING and moved.host == "beta"
    assert client.proxy.host_url == beta.address
    held.open()
    done = client.wait(TIMEOUT)
    assert done.status is TaskStatus.SUCCEEDED and done.host == "beta"
    assert done.result == {"sum": 11, "visited": ["alpha", "beta"]}
    assert done.runs == 2  # started on alpha, carried on after arriving on beta
    assert not alpha.get_proxies()


def test_a_waiting_client_follows_a_task_moved_from_outside(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    client = TaskClient.create(alpha, SumTask)
    client.start({"cancellable": True})
    wait_for(lambda: client.status().progress == {"at": "alpha"})
    alpha.get_proxy(client.proxy.agent_id).dispatch("beta")
    wait_for(lambda: client.status().progress == {"at": "beta"})
    cancelled = client.cancel()
    assert cancelled.host == "beta"
    done = client.wait(TIMEOUT)
    assert done.status is TaskStatus.CANCELLED and done.host == "beta"
    with pytest.raises(TaskCancelledError):
        done.raise_for_failure()


def test_a_pending_task_cancels_at_once(host: Host) -> None:
    client = TaskClient.create(host, SumTask)
    assert client.cancel().status is TaskStatus.CANCELLED
    with pytest.raises(ServiceContractError, match="started already"):
        client.start()


def test_bad_starts_get_clear_errors(host: Host) -> None:
    client = TaskClient.create(host, SumTask)
    with pytest.raises(ServiceContractError, match="must be a dict"):
        client.start(["not", "a", "dict"])  # type: ignore[arg-type]
    client.start_and_wait({"numbers": [1]}, timeout=TIMEOUT)
    with pytest.raises(ServiceContractError, match="started already"):
        client.start()
    with pytest.raises(ServiceContractError, match="not a TaskPaglet"):
        TaskClient.create(host, Paglet)


def test_a_task_created_on_another_host(two_hosts: tuple[Host, Host]) -> None:
    alpha, _beta = two_hosts
    client = TaskClient.create(alpha, SumTask, target="beta")
    assert client.start_and_wait({"numbers": [2]}, timeout=TIMEOUT).host == "beta"


class Boss(Paglet[TaskState]):
    """Starts a task on another host from a handler, through its own context."""

    State = TaskState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "delegate":
            client = TaskClient.create(self.context, SumTask, target=message.args["to"])
            done = client.start_and_wait({"numbers": message.args["numbers"]}, timeout=TIMEOUT)
            return {"status": done.status.value, "result": done.result, "host": done.host}
        return self.not_handled()


class ChattyTask(SumTask):
    """A task whose class handles messages of its own next to the reserved ones."""

    def handle_message(self, message: Message) -> Any:
        if message.kind == "ping":
            return "pong"
        return super().handle_message(message)


def test_a_paglet_starts_a_task_through_its_context(two_hosts: tuple[Host, Host]) -> None:
    alpha, _beta = two_hosts
    reply = alpha.create(Boss).send("delegate", args={"to": "beta", "numbers": [1, 2]})
    assert reply == {
        "status": "succeeded",
        "result": {"sum": 3, "visited": ["beta"]},
        "host": "beta",
    }


def test_a_task_class_with_its_own_handler_still_answers_the_task_kinds(host: Host) -> None:
    client = TaskClient.create(host, ChattyTask)
    assert client.proxy.send("ping") == "pong"
    assert client.start_and_wait({"numbers": [7]}, timeout=TIMEOUT).result["sum"] == 7
    with pytest.raises(NotHandledError):
        client.proxy.send("dance")
