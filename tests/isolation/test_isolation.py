"""Isolated paglets: a child process per paglet, real processes, every child checked by PID."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from isolated_paglets import CounterState, InProcessCounter, IsolatedCounter

from helpers import TIMEOUT, wait_for
from paglets.core.context_events import PAGLET_CRASHED
from paglets.core.errors import HostError, NotHandledError, PagletCrashedError
from paglets.runtime.host import Host


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_an_isolated_paglet_handles_messages_in_a_child_process(host: Host) -> None:
    proxy = host.create(IsolatedCounter, CounterState(count=1))
    pid = proxy.send("pid")
    assert pid != os.getpid()
    assert psutil.Process(pid).ppid() == os.getpid()
    assert proxy.send("add", args={"n": 2}) == 3
    assert proxy.send("add", args={"n": 4}) == 7
    info = proxy.info()
    assert info["isolated"] is True and info["pid"] == pid and info["exit_code"] is None
    with pytest.raises(HostError, match="bad value in the child"):
        proxy.send("raise")
    with pytest.raises(NotHandledError):
        proxy.send("nothing-like-it")
    assert proxy.send("add") == 8  # a failed handler leaves the child serving
    proxy.dispose()
    wait_for(lambda: _gone(pid))


@pytest.mark.parametrize(("kind", "code"), [("exit", 3), ("hard-exit", 7)])
def test_a_dying_child_marks_only_its_paglet_crashed(host: Host, kind: str, code: int) -> None:
    events: list[object] = []
    host.add_listener(events.append)
    isolated = host.create(IsolatedCounter)
    neighbour = host.create(InProcessCounter)
    pid = isolated.send("pid")
    with pytest.raises(PagletCrashedError):
        isolated.send(kind, args={"code": code})
    wait_for(lambda: _gone(pid))
    info = wait_for(lambda: (i := isolated.info())["crashed"] and i)
    assert info["exit_code"] == code
    with pytest.raises(PagletCrashedError, match=f"code {code}"):
        isolated.send("add")
    crashed = [e for e in events if getattr(e, "kind", None) == PAGLET_CRASHED]
    assert crashed and crashed[0].agent_id == isolated.agent_id  # type: ignore[attr-defined]
    assert neighbour.send("add", args={"n": 5}) == 5  # the host and its other paglets carry on
    again = host.create(IsolatedCounter)
    assert again.send("add") == 1
    isolated.dispose()
    again_pid = again.send("pid")
    again.dispose()
    wait_for(lambda: _gone(again_pid))


def test_a_killed_child_is_a_crash_too(host: Host) -> None:
    isolated = host.create(IsolatedCounter)
    pid = isolated.send("pid")
    psutil.Process(pid).kill()
    info = wait_for(lambda: (i := isolated.info())["crashed"] and i)
    assert info["exit_code"] == -9
    with pytest.raises(PagletCrashedError):
        isolated.send("add")


def test_state_comes_back_from_the_child_for_a_move_and_a_clone(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(IsolatedCounter)
    assert proxy.send("add", args={"n": 41}) == 41
    first_pid = proxy.send("pid")
    moved = alpha.dispatch(proxy, beta.name)
    wait_for(lambda: _gone(first_pid))
    assert moved.send("add") == 42  # the count lived in the child and moved with it
    assert moved.send("pid") != first_pid
    copy = beta.clone(moved)
    assert copy.send("add") == 43 and moved.send("add") == 43
    pids = [moved.send("pid"), copy.send("pid")]
    moved.dispose()
    copy.dispose()
    for pid in pids:
        wait_for(lambda pid=pid: _gone(pid))


def test_deactivation_keeps_the_child_state(make_host, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host = make_host("keeper", persistence_dir=tmp_path / "store")
    proxy = host.create(IsolatedCounter)
    proxy.send("add", args={"n": 9})
    pid = proxy.send("pid")
    host.deactivate(proxy.agent_id)
    wait_for(lambda: _gone(pid))
    host.activate(proxy.agent_id)
    assert proxy.send("add") == 10
    proxy.dispose()


def test_stopping_the_host_ends_a_blocked_child_within_a_bound(make_host, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host = make_host("stopper")
    proxy = host.create(IsolatedCounter)
    pid = proxy.send("pid")
    mark = tmp_path / "blocked"
    future = proxy.send_future("block", args={"mark": str(mark)})
    wait_for(mark.exists)
    started = time.monotonic()
    host.stop(timeout=TIMEOUT)
    assert _gone(pid)
    assert time.monotonic() - started < TIMEOUT + 3.0
    assert future.wait_for_reply(TIMEOUT)


@pytest.mark.parametrize("durable", [False, True])
def test_stopping_the_host_ends_frozen_children_together(make_host, tmp_path, durable) -> None:  # type: ignore[no-untyped-def]
    store = {"persistence_dir": tmp_path / "store"} if durable else {}
    host = make_host("freezer", **store)
    proxies = [host.create(IsolatedCounter) for _ in range(6)]
    pids = [proxy.send("pid") for proxy in proxies]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # deaf to SIGTERM: only the kill after the grace ends it
    try:
        started = time.monotonic()
        host.stop(timeout=1.0)
        took = time.monotonic() - started
        assert all(_gone(pid) for pid in pids)
    finally:
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    # one grace period for all (one each made it 6 s and more); durable adds the
    # stop bound and the wait for the children's state
    print("took", took)
    assert took < (1.0 + 1.0 + 1.0 if durable else 0.0) + 3.5, took


def test_a_busy_isolated_paglet_is_kept_with_its_childs_state(make_host, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    host = make_host("keeper", persistence_dir=store)
    proxy = host.create(IsolatedCounter)
    assert proxy.send("add", args={"n": 9}) == 9  # changed in the child only
    pid = proxy.send("pid")
    mark = tmp_path / "blocked"
    proxy.send_oneway("block", args={"mark": str(mark)})
    wait_for(mark.exists)
    host.stop(timeout=1.0)
    assert _gone(pid)
    kept = [e for e in host.list_events() if e.kind == "deactivate" and "busy" in e.data]
    assert kept and kept[0].data["busy"] == "its state under the state lock"
    again = make_host("keeper", persistence_dir=store)
    assert again.get_proxy(proxy.agent_id).send("add", args={"n": 1}) == 10
