"""Exactly-once clone and retract under faults: either side killed at each step, a
frozen target, duplicated and replayed frames.

The dispatch twin of these tests is ``test_handoff_faults.py``; this module reuses its
host processes (real ``paglets host`` children stopped by PID, killing themselves with
SIGKILL at the step named by ``PAGLETS_FAULT_STOP_AT``). Every test ends once both
hosts settled (no transfer record open on either side) by counting the paglets on both
hosts: a clone exists exactly twice (original and copy) when the source committed and
once otherwise; a retracted paglet exists exactly once, on the retracting host when the
holder committed and on the holder otherwise; always with the state at the hand-off.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_artifacts_faults import free_port
from test_handoff_faults import HostProcess, answers, phases, start_durable
from test_handoff_shim import Shim

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.errors import PagletError, TransferError
from paglets.examples.durable_counter import DurableCounterPaglet
from paglets.remote.client import HostClient
from paglets.runtime.host import Host

SOURCE_STEPS = {  # the step the source dies at -> whether the hand-off committed
    "source-preparing": False,
    "source-prepared": False,
    "source-committed": True,
    "source-commit-sent": True,
}
TARGET_STEPS = {  # the step the target dies at -> whether the hand-off committed
    "target-preparing": False,
    "target-prepared": False,
    "target-committing": True,
    "target-committed": True,
}
SETTLE = 4 * TIMEOUT  # a target asks its source after its deadline, backing off to 5 s


@pytest.fixture
def processes() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    yield started
    for each in started:
        each.close()


@pytest.fixture
def shims() -> Iterator[list[Shim]]:
    made: list[Shim] = []
    yield made
    for shim in made:
        shim.close()


def settled(*stores: Path) -> bool:
    """No transfer record is open (prepared or committed) in any of the stores."""
    return all(
        phase in ("done", "aborted")
        for store in stores
        for role in ("in", "out")
        for phase in phases(store, role)
    )


def paglets_on(address: str) -> dict[str, int]:
    """Agent id -> count of every paglet on the host, active or inactive."""
    with HostClient(address=address, timeout=TIMEOUT) as client:
        ids = [info["agent_id"] for info in client.list_agents(flags=ACTIVE | INACTIVE)]
        return {agent_id: int(client.send(agent_id, "get")["count"]) for agent_id in ids}


def ask_clone(holder: str, agent_id: str, target: str, limit: float) -> None:
    """Ask ``holder`` to clone ``agent_id`` to ``target``; it may die answering."""
    with HostClient(address=holder, timeout=limit + 2.0) as client:
        with contextlib.suppress(PagletError):
            client.get_proxy(agent_id).clone(target, timeout=limit)


def ask_retract(holder: str, agent_id: str, to: str, limit: float) -> None:
    """Ask ``holder`` to send ``agent_id`` back to ``to``, as ``to``'s retract does.

    Either host may die meanwhile (that is the test), so the call is bounded by
    ``limit`` and its failure ignored.
    """
    args: dict[str, Any] = {"to": to, "timeout": limit}
    with HostClient(address=holder, timeout=limit + 2.0) as client:
        with contextlib.suppress(PagletError):
            client.backend.control(holder, agent_id, "retract", args, None)


def clones_of(agent_id: str, found: dict[str, int]) -> list[int]:
    return [count for other, count in found.items() if other != agent_id]


# clone, a side killed at each step ------------------------------------------------------


@pytest.mark.parametrize("step", SOURCE_STEPS)
def test_a_clone_whose_source_is_killed_exists_twice_once_committed_else_once(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, step: str
) -> None:
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha", stop_at=step)
    processes.append(alpha)
    beta = make_host("beta", persistence_dir=tmp_path / "beta")
    agent_id = start_durable(alpha.address, 6)
    ask_clone(alpha.address, agent_id, beta.address, 2.0)
    assert alpha.wait_died() == -signal.SIGKILL
    processes.append(alpha := alpha.restart())
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    assert paglets_on(alpha.address) == {agent_id: 6}  # the original, from its checkpoint
    on_beta = paglets_on(beta.address)
    assert agent_id not in on_beta
    assert clones_of(agent_id, on_beta) == ([6] if SOURCE_STEPS[step] else [])


@pytest.mark.parametrize("step", TARGET_STEPS)
def test_a_clone_whose_target_is_killed_exists_twice_once_committed_else_once(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, step: str
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at=step)
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 7}, timeout=TIMEOUT)
    try:
        alpha.clone(proxy.agent_id, beta.address, timeout=1.0)
        committed = True
    except TransferError:
        committed = False
    assert committed == TARGET_STEPS[step]  # the source decided, and said so
    assert beta.wait_died() == -signal.SIGKILL
    processes.append(beta := beta.restart())
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    assert paglets_on(alpha.address) == {proxy.agent_id: 7}
    on_beta = paglets_on(beta.address)
    assert clones_of(proxy.agent_id, on_beta) == ([7] if committed else [])
    assert proxy.agent_id not in on_beta


# retract, a side killed at each step ----------------------------------------------------


@pytest.mark.parametrize("step", SOURCE_STEPS)
def test_a_retract_whose_holder_is_killed_leaves_the_paglet_exactly_once(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, step: str
) -> None:
    # the holder is the hand-off's source, the retracting host its target
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha", stop_at=step)
    processes.append(alpha)
    beta = make_host("beta", persistence_dir=tmp_path / "beta")
    agent_id = start_durable(alpha.address, 5)
    ask_retract(alpha.address, agent_id, beta.address, 2.0)
    assert alpha.wait_died() == -signal.SIGKILL
    processes.append(alpha := alpha.restart())
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    here, there = (beta.address, alpha.address)
    if not SOURCE_STEPS[step]:
        here, there = there, here
    assert paglets_on(here) == {agent_id: 5}
    assert paglets_on(there) == {}


@pytest.mark.parametrize("step", TARGET_STEPS)
def test_a_retract_whose_retracting_host_is_killed_leaves_the_paglet_exactly_once(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, step: str
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at=step)
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 8}, timeout=TIMEOUT)
    ask_retract(alpha.address, proxy.agent_id, beta.address, 1.0)
    assert beta.wait_died() == -signal.SIGKILL
    processes.append(beta := beta.restart())
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    here, there = (beta.address, alpha.address)
    if not TARGET_STEPS[step]:
        here, there = there, here
    assert paglets_on(here) == {proxy.agent_id: 8}
    assert paglets_on(there) == {}


# a frozen target ------------------------------------------------------------------------


def test_a_clone_to_a_target_frozen_past_the_timeout_makes_no_copy(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta")
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 4}, timeout=TIMEOUT)
    wait_for(lambda: answers(alpha, beta.address))  # connected: frames reach the frozen host
    beta.signal(signal.SIGSTOP)
    with pytest.raises(TransferError, match="aborted"):
        alpha.clone(proxy.agent_id, beta.address, timeout=1.0)
    beta.signal(signal.SIGCONT)
    # the frozen host reads the transfer late, then the abort (or asks alpha)
    wait_for(lambda: phases(tmp_path / "beta", "in") == ["aborted"], timeout=SETTLE)
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    assert paglets_on(beta.address) == {}
    assert paglets_on(alpha.address) == {proxy.agent_id: 4}
    assert proxy.send("increment", timeout=TIMEOUT)["count"] == 5


def test_a_retract_by_a_host_frozen_past_the_timeout_leaves_the_paglet_at_the_holder(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta")
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 3}, timeout=TIMEOUT)
    wait_for(lambda: answers(alpha, beta.address))
    beta.signal(signal.SIGSTOP)  # it asked for the paglet, then froze
    with pytest.raises(TransferError, match="aborted"):
        alpha._operations.control(
            proxy.agent_id, "retract", {"to": beta.address, "timeout": 1.0}, None
        )
    beta.signal(signal.SIGCONT)
    wait_for(lambda: phases(tmp_path / "beta", "in") == ["aborted"], timeout=SETTLE)
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    assert paglets_on(beta.address) == {}
    assert paglets_on(alpha.address) == {proxy.agent_id: 3}


# duplicated and replayed frames ---------------------------------------------------------


def spy_prepare(host: Host) -> list[Any]:
    """Keep every transfer record ``host`` is asked to prepare, as it arrived."""
    arrivals = host._operations.mobility.arrivals
    prepare = arrivals.prepare
    seen: list[Any] = []
    arrivals.prepare = lambda record: (seen.append(record), prepare(record))[1]  # type: ignore[method-assign]
    return seen


def unsettled(*hosts: Host) -> list[Any]:
    return [entry for host in hosts for entry in host._operations.mobility.transfers.unsettled()]


def test_a_retract_over_duplicated_frames_moves_the_paglet_once(
    make_host: HostFactory, shims: list[Shim]
) -> None:
    alpha, beta = make_host("alpha", insecure=True), make_host("beta", insecure=True)
    shims.append(shim := Shim(beta.address, lambda direction, verb, n: 2))
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 6}, timeout=TIMEOUT)
    args = {"to": shim.address, "timeout": TIMEOUT}
    assert alpha._operations.control(proxy.agent_id, "retract", args, None) == shim.address
    assert shim.seen[("request", "transfer")] == 1  # forwarded twice
    assert shim.seen[("request", "transfer.commit")] >= 1
    wait_for(lambda: not unsettled(alpha, beta), timeout=SETTLE)
    assert alpha.info()["active"] == 0 and beta.info()["active"] == 1
    assert beta.get_proxy(proxy.agent_id).send("get", timeout=TIMEOUT)["count"] == 6


@pytest.mark.parametrize("what", ["clone", "retract"])
def test_a_clone_or_retract_replayed_after_it_settled_starts_nothing_twice(
    make_host: HostFactory, shims: list[Shim], what: str
) -> None:
    alpha, beta = make_host("alpha", insecure=True), make_host("beta", insecure=True)
    shims.append(shim := Shim(beta.address, lambda direction, verb, n: 1))
    seen = spy_prepare(beta)
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 2}, timeout=TIMEOUT)
    if what == "clone":
        alpha.clone(proxy.agent_id, shim.address, timeout=TIMEOUT)
        where = {"alpha": 1, "beta": 1}
    else:
        args = {"to": shim.address, "timeout": TIMEOUT}
        alpha._operations.control(proxy.agent_id, "retract", args, None)
        where = {"alpha": 0, "beta": 1}
    wait_for(lambda: not unsettled(alpha, beta), timeout=SETTLE)
    (record,) = seen
    # the transfer (as it arrived), its commit and an abort arrive again, late
    mobility = beta._operations.mobility
    assert mobility.receive(record) == "committed"
    assert mobility.commit(record.tid) == "started"
    assert mobility.abort(record.tid) == "committed"
    assert {"alpha": alpha.info()["active"], "beta": beta.info()["active"]} == where
    assert beta.get_proxy(record.agent_id).send("get", timeout=TIMEOUT)["count"] == 2
