"""Faults while bytes move: a peer killed mid-transfer (then resumed), a full disk."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_artifacts import MIB, make_file, sha256_of

from conftest import HostFactory
from helpers import TIMEOUT, free_port, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import HostError, PagletError, RemoteHostError
from paglets.core.messages import Message
from paglets.disk import partial_file
from paglets.patterns.file_mobility import SingleFileTransferPaglet, SingleFileTransferState
from paglets.remote.client import HostClient
from paglets.runtime.artifacts import service as artifact_service
from paglets.runtime.artifacts import store as artifact_store
from paglets.runtime.host import Host
from paglets.wire.protocol import VERB_PING

FAST_FAIL = {
    "artifact_chunk_size": 256 * 1024,
    "artifact_window": 4,
    "artifact_chunk_timeout": 1.0,
    "artifact_retries": 1,
}


class HostProcess:
    """``paglets host`` in a child process on a fixed port; stopped or killed by PID."""

    def __init__(self, name: str, port: int, store: Path) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paglets.cli.host",
                "--host",
                "127.0.0.1",
                "--name",
                name,
                "--port",
                str(port),
                "--no-discovery",
                "--persistence-dir",
                str(store),
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process.stdout is not None
        seen = []
        for _ in range(50):
            ready, _, _ = select.select([self.process.stdout], [], [], 3 * TIMEOUT)
            assert ready, f"host process did not start: {seen}"
            line = self.process.stdout.readline()
            seen.append(line)
            if "listening on" in line:
                return
            assert line, f"host process exited: {seen}"
        raise AssertionError(f"host process did not start: {seen}")

    def kill(self) -> None:
        """As with ``kill -9``: no goodbye, no cleanup."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(2 * TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def processes() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    yield started
    for each in started:
        each.stop()


def answers(host: Host, address: str) -> bool:
    try:
        host._transport.call(address, VERB_PING, timeout=0.5)
    except PagletError:
        return False
    return True


class Hold:
    """Blocks the first caller that passes ``limit`` bytes until the test lets it go."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reached = threading.Event()
        self.go = threading.Event()

    def check(self, done: int) -> None:
        if done >= self.limit and not self.reached.is_set():
            self.reached.set()
            self.go.wait(4 * TIMEOUT)


def test_a_pull_from_a_killed_peer_fails_clearly_then_resumes(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, monkeypatch: Any
) -> None:
    port = free_port()
    bravo = HostProcess("bravo", port, tmp_path / "bravo")
    processes.append(bravo)
    source = make_file(tmp_path / "data.bin", 16 * MIB)
    with HostClient(address=bravo.address, timeout=TIMEOUT) as client:
        ref = client.upload_artifact(None, source)
    alpha = make_host("alpha", **FAST_FAIL)
    hold = Hold(4 * MIB)
    real_write = partial_file.PartialFile.write

    def held_write(self: partial_file.PartialFile, offset: int, data: Any) -> int:
        hold.check(offset)
        return real_write(self, offset, data)

    monkeypatch.setattr(partial_file.PartialFile, "write", held_write)
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            outcome["ref"] = alpha._transfers.fetch(ref)
        except BaseException as exc:  # the test inspects it
            outcome["error"] = exc

    puller = threading.Thread(target=fetch)
    puller.start()
    assert hold.reached.wait(TIMEOUT)
    bravo.kill()
    hold.go.set()
    puller.join(6 * TIMEOUT)
    assert not puller.is_alive()
    assert isinstance(outcome.get("error"), RemoteHostError), outcome
    assert alpha.artifacts.list() == []  # nothing visible
    partial = alpha.artifacts.partials / f"{ref.sha256}.part"
    assert partial.exists() and partial.stat().st_size >= 4 * MIB

    resumed: list[int] = []
    real_init = partial_file.PartialFile.__init__

    def spy_init(self: partial_file.PartialFile, *args: Any) -> None:
        real_init(self, *args)
        resumed.append(self.resumed_from)

    monkeypatch.setattr(partial_file.PartialFile, "__init__", spy_init)
    processes.append(HostProcess("bravo", port, tmp_path / "bravo"))
    wait_for(lambda: answers(alpha, bravo.address), timeout=3 * TIMEOUT)
    local = alpha._transfers.fetch(ref)
    assert resumed and resumed[0] >= 4 * MIB, resumed
    assert sha256_of(alpha.artifacts.blob_path(local.sha256)) == ref.sha256
    assert not partial.exists()


def test_a_target_killed_while_pulling_files_leaves_paglet_and_file_at_the_source(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, monkeypatch: Any
) -> None:
    bravo = HostProcess("bravo", free_port(), tmp_path / "bravo")
    processes.append(bravo)
    alpha = make_host("alpha", transfer_timeout=2.0, artifact_min_rate=1024 * MIB)
    source = make_file(tmp_path / "data.bin", 16 * MIB)
    digest = sha256_of(source)
    hold = Hold(4 * MIB)
    real_read = artifact_service.ArtifactService._read

    def held_read(self: Any, request: Any) -> None:
        hold.check(int(request.header.get("off", 0)))
        real_read(self, request)

    monkeypatch.setattr(artifact_service.ArtifactService, "_read", held_read)
    proxy = alpha.create(
        SingleFileTransferPaglet,
        SingleFileTransferState(
            source=str(source),
            dest=str(tmp_path / "never.bin"),
            source_host=alpha.address,
            dest_host=bravo.address,
            mode="move",
        ),
    )
    carry = proxy.send_future("carry", timeout=6 * TIMEOUT)
    assert hold.reached.wait(TIMEOUT)
    bravo.kill()
    hold.go.set()
    with pytest.raises(HostError, match="TransferError"):
        carry.get_reply(6 * TIMEOUT)
    assert proxy.host_url == alpha.address and proxy.is_active()
    assert proxy.info()["address"] == alpha.address
    assert source.exists() and sha256_of(source) == digest
    assert not (tmp_path / "never.bin").exists()


DISK_FULL = r"""
import hashlib, json, os, shutil, sys
from dataclasses import dataclass
from pathlib import Path

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import StorageQuotaError, TransferError
from paglets.core.messages import Message
from paglets.remote.blob_stream import StreamSettings
from paglets.remote.client import HostClient
from paglets.runtime.host import Host

MIB = 1024 * 1024
small_disk, outside = Path(sys.argv[1]), Path(sys.argv[2])


@dataclass
class CarryState(PagletState):
    pass


class Carry(Paglet[CarryState]):
    State = CarryState

    def handle_message(self, message):
        if message.kind == "register":
            return str(self.register_file(message.arg, mode="move").path)
        return self.not_handled()


def make(path, size):
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


results = {}
with Host(name="roomy", port=0, persistence_dir=outside / "roomy") as roomy, Host(
    name="cramped", port=0, persistence_dir=small_disk / "store", peers=[roomy.address]
) as cramped:
    client = HostClient(address=cramped.address, timeout=10)
    big, big_sha = make(outside / "big.bin", 8 * MIB)
    try:
        client.upload_artifact(None, big)
    except StorageQuotaError as exc:
        results["before"] = str(exc)
    # one chunk in flight at a time; the disk fills up after the first one
    client.artifacts.settings = StreamSettings(chunk_size=256 * 1024, window=1)
    mid, mid_sha = make(outside / "mid.bin", 3 * MIB)
    filler = small_disk / "filler"

    def fill(done):
        if not filler.exists():
            room = shutil.disk_usage(small_disk).free - 64 * 1024
            filler.write_bytes(b"\0" * max(room, 0))

    try:
        client.upload_artifact(None, mid, progress=fill)
    except StorageQuotaError as exc:
        results["midway"] = str(exc)
    results["listed"] = client.list_artifacts()
    results["partials"] = os.listdir(small_disk / "store" / "partial")
    results["source_intact"] = hashlib.sha256(mid.read_bytes()).hexdigest() == mid_sha
    filler.unlink()
    proxy = roomy.create(Carry)
    proxy.send(Message("register", {}, str(big)))
    try:
        proxy.dispatch(cramped.address, timeout=10)
    except TransferError as exc:
        results["dispatch"] = str(exc)
    results["paglet_at"] = proxy.info()["address"] == roomy.address
    results["carried_intact"] = hashlib.sha256(big.read_bytes()).hexdigest() == big_sha
    results["cramped_active"] = cramped.info()["active"]
    client.close()
print("RESULTS " + json.dumps(results))
"""


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
            "mount -t tmpfs -o size=1m tmpfs /tmp",
        ],
        capture_output=True,
        timeout=TIMEOUT,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm to mount a tmpfs")
def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    small_disk, outside = tmp_path / "small", tmp_path / "outside"
    small_disk.mkdir()
    outside.mkdir()
    # a 4 MiB tmpfs in a private mount namespace: the rest of the machine never sees it
    command = 'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" -c "$3" "$1" "$4"'
    finished = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            command,
            "sh",
            str(small_disk),
            sys.executable,
            DISK_FULL,
            str(outside),
        ],
        capture_output=True,
        text=True,
        timeout=12 * TIMEOUT,
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULTS ")]
    assert finished.returncode == 0 and lines, finished.stdout + finished.stderr
    results = json.loads(lines[-1][len("RESULTS ") :])
    assert "not enough free disk space" in results["before"]
    assert "no space left" in results["midway"]
    assert results["listed"] == [] and results["partials"] == []
    assert results["source_intact"]
    assert "StorageQuotaError" in results["dispatch"] and results["paglet_at"]
    assert results["carried_intact"] and results["cramped_active"] == 0
    assert not any(small_disk.iterdir())  # the tmpfs was never visible out here


def test_sweep_removes_stale_partials(tmp_path: Path) -> None:
    store = artifact_store.ArtifactStore(tmp_path, artifact_store.StoreLimits(partial_ttl=0.0))
    try:
        stale = store.partials / f"{'a' * 64}.part"
        stale.write_bytes(b"left by a crash")
        store.sweep(force=True)
        assert not stale.exists()
    finally:
        store.close()


def test_a_stalled_disk_read_does_not_delay_messages(
    two_hosts: tuple[Host, Host], tmp_path: Path, monkeypatch: Any
) -> None:
    """Chunks are read on worker threads: a slow disk never holds up the I/O thread."""
    alpha, beta = two_hosts
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        ref = client.upload_artifact(None, make_file(tmp_path / "data.bin", 8 * MIB))
    hold = Hold(2 * MIB)
    real_read = artifact_service.ArtifactService._read

    def slow_read(self: Any, request: Any) -> None:
        hold.check(int(request.header.get("off", 0)))
        real_read(self, request)

    monkeypatch.setattr(artifact_service.ArtifactService, "_read", slow_read)
    outcome: dict[str, Any] = {}
    puller = threading.Thread(target=lambda: outcome.update(ref=beta._transfers.fetch(ref)))
    puller.start()
    try:
        assert hold.reached.wait(TIMEOUT)
        counter = alpha.create(Counter)
        for expected in range(1, 21):  # answered while a read is stuck on alpha
            assert counter.send("add", timeout=TIMEOUT) == expected
        with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
            assert client.health()["name"] == "alpha"
    finally:
        hold.go.set()
        puller.join(4 * TIMEOUT)
    assert outcome["ref"].sha256 == ref.sha256


@dataclass
class CounterState(PagletState):
    count: int = 0


class Counter(Paglet[CounterState]):
    State = CounterState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()
