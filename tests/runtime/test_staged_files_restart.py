"""The files of a prepared arrival outlive a restart of the target.

A courier carrying a file is dispatched to a real ``paglets host`` process that kills
itself (SIGKILL) after it staged the file and recorded ``prepared``; restarted on the
same store, it settles the hand-off: a committed one starts the courier with its file
adopted from the staging dir its record names, an aborted one removes the dir.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_artifacts_faults import free_port
from test_handoff_faults import HostProcess
from test_handoff_faults_copies import settled

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.core.errors import TransferError
from paglets.examples.file_courier import CARGO, FileCourierPaglet
from paglets.remote.client import HostClient
from paglets.runtime.files.work_area import INCOMING, WorkArea
from paglets.runtime.mobility.staging import STAGING_KEY, naming_staging, staged_dir

SETTLE = 4 * TIMEOUT


@pytest.fixture
def processes() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    yield started
    for each in started:
        each.close()


def staged(store: Path) -> list[str]:
    incoming = store / "work" / INCOMING
    return sorted(path.name for path in incoming.iterdir()) if incoming.is_dir() else []


def status_on(address: str, agent_id: str) -> dict[str, Any]:
    with HostClient(address=address, timeout=TIMEOUT) as client:
        return dict(client.send(agent_id, "status"))


@pytest.mark.parametrize("step", ["target-committing", "target-committed"])
def test_a_target_restarted_before_the_start_adopts_the_staged_files(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, step: str
) -> None:
    cargo = tmp_path / "cargo.bin"
    cargo.write_bytes(bytes(range(256)) * 4096 + b"end")
    digest = hashlib.sha256(cargo.read_bytes()).hexdigest()
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at=step)
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    courier = alpha.create(FileCourierPaglet, init=[str(cargo), []])
    wait_for(lambda: courier.send("status", timeout=TIMEOUT)["done"])  # home, tour over
    # prepared at beta (file staged), committed here; beta dies before starting it
    assert alpha.dispatch(courier.agent_id, beta.address, timeout=2.0).host_url == beta.address
    assert beta.wait_died() == -signal.SIGKILL
    assert len(staged(tmp_path / "beta")) == 1
    processes.append(beta := beta.restart())
    wait_for(lambda: settled(tmp_path / "alpha", tmp_path / "beta"), timeout=SETTLE)
    hops = status_on(beta.address, courier.agent_id)["hops"]
    assert [(hop["host"], hop["verified"]) for hop in hops] == [("beta", True)]
    arrived = tmp_path / "beta" / "work" / courier.agent_id / CARGO
    assert hashlib.sha256(arrived.read_bytes()).hexdigest() == digest
    assert staged(tmp_path / "beta") == []
    assert alpha.info()["active"] == 0


def test_an_aborted_prepare_removes_the_staged_files_after_the_restart(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    cargo = tmp_path / "cargo.bin"
    cargo.write_bytes(b"x" * 100_000)
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at="target-prepared")
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    courier = alpha.create(FileCourierPaglet, init=[str(cargo), []])
    wait_for(lambda: courier.send("status", timeout=TIMEOUT)["done"])
    with pytest.raises(TransferError):
        alpha.dispatch(courier.agent_id, beta.address, timeout=1.0)
    assert beta.wait_died() == -signal.SIGKILL
    assert len(staged(tmp_path / "beta")) == 1  # prepared with its file, never answered
    processes.append(beta := beta.restart())
    # the record is marked aborted before its dir is removed (a commit racing the
    # abort must never find its files gone), so the two are waited for together
    wait_for(
        lambda: settled(tmp_path / "alpha", tmp_path / "beta") and staged(tmp_path / "beta") == [],
        timeout=SETTLE,
    )
    assert courier.send("status", timeout=TIMEOUT)["host"] == "alpha"
    slot = alpha._registry.get(courier.agent_id)
    (kept,) = slot.paglet.registered_files()  # the source kept the file
    assert kept.path.read_bytes() == cargo.read_bytes()


def test_a_staging_dir_of_no_open_arrival_is_removed_at_start(
    make_host: HostFactory, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    make_host("alpha", persistence_dir=store).stop(timeout=TIMEOUT)
    orphan = store / "work" / INCOMING / "cut-short"
    orphan.mkdir(parents=True)
    (orphan / "half.bin").write_bytes(b"half")
    make_host("alpha", persistence_dir=store)
    assert staged(store) == []


def test_a_staging_dir_named_by_the_source_is_ignored(tmp_path: Path) -> None:
    area = WorkArea(tmp_path)
    try:
        own = area.staging("t1")
        hostile = {"tid": "t1", STAGING_KEY: str(tmp_path / "elsewhere")}
        assert STAGING_KEY not in naming_staging(hostile, None)
        assert naming_staging(hostile, own)[STAGING_KEY] == str(own)
        assert staged_dir(area, "t1", hostile) is None  # not its own dir: never used
        assert staged_dir(area, "t1", naming_staging(hostile, own)) == own
        assert staged_dir(area, "../t1", {STAGING_KEY: str(own)}) is None
    finally:
        area.close()
