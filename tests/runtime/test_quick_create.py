"""Remote creates that run no user code are done on the I/O thread; all others are not."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from paglets.core.agent import Paglet, PagletState
from paglets.core.context_events import ContextEvent
from paglets.core.errors import PagletError
from paglets.core.events import CreationEvent
from paglets.core.messages import Message
from paglets.runtime.host import Host
from paglets.wire.classpath import class_path
from paglets.wire.codec import encode_state


@dataclass
class PlainState(PagletState):
    items: list[int] = field(default_factory=list)


class PlainPaglet(Paglet[PlainState]):
    State = PlainState

    def handle_message(self, message: Message) -> Any:
        return {"items": self.state.items, "thread": threading.current_thread().name}


@dataclass
class CheckedState(PagletState):
    items: list[int] = field(default_factory=list)
    seen_on: str = ""

    def __post_init__(self) -> None:
        self.seen_on = threading.current_thread().name


class CheckedStatePaglet(Paglet[CheckedState]):
    State = CheckedState

    def handle_message(self, message: Message) -> Any:
        return self.state.seen_on


@dataclass
class CreationState(PagletState):
    created_on: str = ""


class CreationPaglet(Paglet[CreationState]):
    State = CreationState

    def on_creation(self, event: CreationEvent) -> None:
        self.state.created_on = threading.current_thread().name

    def handle_message(self, message: Message) -> Any:
        return self.state.created_on


def _io_thread(name: str) -> bool:
    return name.startswith("paglets-io")


def test_a_plain_create_works_and_its_messages_go_to_workers(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create_remote(beta.address, PlainPaglet, PlainState([1, 2]), init={"a": 1})
    reply = proxy.send("get")
    assert reply["items"] == [1, 2]
    assert not _io_thread(reply["thread"])
    assert beta.get_proxy(proxy.agent_id).agent_id == proxy.agent_id


def test_on_creation_and_post_init_never_run_on_the_io_thread(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    hooked = alpha.create_remote(beta.address, CreationPaglet, CreationState())
    created_on = hooked.send("where")
    assert created_on and not _io_thread(created_on)
    checked = alpha.create_remote(beta.address, CheckedStatePaglet, CheckedState([3]))
    seen_on = checked.send("where")
    assert seen_on and not _io_thread(seen_on)


def test_a_user_event_listener_is_never_called_on_the_io_thread(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    threads: list[str] = []
    lock = threading.Lock()

    def listener(event: ContextEvent) -> None:
        if event.kind == "create":
            with lock:
                threads.append(threading.current_thread().name)

    beta.add_listener(listener)
    alpha.create_remote(beta.address, PlainPaglet, PlainState())
    with lock:
        assert len(threads) == 1
        assert not _io_thread(threads[0])
    beta.remove_listener(listener)
    alpha.create_remote(beta.address, PlainPaglet, PlainState())
    assert len(threads) == 1


def test_a_bad_create_still_gets_its_error(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    with pytest.raises(Exception, match="not the state class"):
        alpha.create_remote(beta.address, PlainPaglet, CreationState())


class RunningPaglet(Paglet[PlainState]):
    State = PlainState

    def run(self) -> None:
        pass


def test_quick_create_takes_only_what_runs_no_user_code(host: Host) -> None:
    lifecycle = host._operations.lifecycle

    def quick(cls: type[Paglet[Any]], state: PagletState) -> bool:
        args = (class_path(cls), class_path(type(state)), encode_state(state), None)
        return lifecycle.quick_create(*args) is not None

    assert quick(PlainPaglet, PlainState([1]))
    assert not quick(CreationPaglet, CreationState())
    assert not quick(CheckedStatePaglet, CheckedState())
    assert not quick(RunningPaglet, PlainState())
    host.add_listener(print)
    assert not quick(PlainPaglet, PlainState())
    host.remove_listener(print)
    assert quick(PlainPaglet, PlainState())
    with pytest.raises(PagletError, match="not allowed"):
        lifecycle.quick_create("paglets_never_imported.mod:Cls", "", b"\x80", None)
