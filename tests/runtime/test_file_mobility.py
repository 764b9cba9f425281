"""Files that travel with paglets: in place before on_arrival, copy/move, clone, failures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_artifacts import MIB, make_file, sha256_of

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import ArtifactError, IntegrityError, TransferError
from paglets.core.events import CloneEvent, MobilityEvent
from paglets.core.messages import Message
from paglets.remote.proxy import PagletProxy
from paglets.runtime.files import paglet_files
from paglets.runtime.host import Host
from paglets.wire.protocol import VERB_TRANSFER


@dataclass
class CarrierState(PagletState):
    seen_on_arrival: dict[str, str] = field(default_factory=dict)
    note: str = ""


class Carrier(Paglet[CarrierState]):
    """Registers files on request; records what it finds in place when it arrives."""

    State = CarrierState

    def _look(self) -> None:
        self.state.seen_on_arrival = {
            ref.name: hashlib.sha256(ref.path.read_bytes()).hexdigest()
            if ref.path.exists()
            else "missing"
            for ref in self.registered_files()
        }

    def on_arrival(self, event: MobilityEvent) -> None:
        self._look()

    def on_clone(self, event: CloneEvent) -> None:
        self._look()

    def handle_message(self, message: Message) -> Any:
        if message.kind == "register":
            return str(
                self.register_file(
                    message.arg, message.args.get("name"), message.args.get("mode", "copy")
                ).path
            )
        if message.kind == "write":  # a file made in the work dir, then registered
            path = self.work_dir() / str(message.arg)
            path.write_bytes(message.args["data"])
            return str(self.register_file(path).path)
        if message.kind == "files":
            return {ref.name: str(ref.path) for ref in self.registered_files()}
        if message.kind == "seen":
            return self.state.seen_on_arrival
        if message.kind == "work_dir":
            return str(self.work_dir())
        return self.not_handled()


def register(proxy: PagletProxy, path: Path, mode: str = "copy", name: str | None = None) -> str:
    args: dict[str, Any] = {"mode": mode}
    if name:
        args["name"] = name
    return str(proxy.send(Message("register", args, str(path)), timeout=TIMEOUT))


def work_dirs(host: Host) -> list[str]:
    root = host.artifacts.root / "work"
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name != ".incoming")


def nothing_staged(host: Host) -> bool:
    incoming = host.artifacts.root / "work" / ".incoming"
    return not incoming.exists() or not any(incoming.iterdir())


def test_files_are_in_place_before_on_arrival_and_copy_keeps_the_source(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 24 * MIB + 5)
    proxy = alpha.create(Carrier)
    register(proxy, source)
    proxy.send(Message("write", {"data": b"notes"}, "notes.txt"))
    assert work_dirs(alpha) == [proxy.agent_id]
    proxy.dispatch(beta.address, timeout=TIMEOUT)
    assert proxy.send("seen") == {
        "data.bin": sha256_of(source),
        "notes.txt": hashlib.sha256(b"notes").hexdigest(),
    }
    files = proxy.send("files")
    assert all(Path(p).parent == Path(proxy.send("work_dir")) for p in files.values())
    assert source.exists() and work_dirs(alpha) == []  # copy: the source stays
    assert work_dirs(beta) == [proxy.agent_id] and nothing_staged(beta)


def test_move_deletes_the_source_only_after_the_dispatch(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 3 * MIB)
    digest = sha256_of(source)
    proxy = alpha.create(Carrier)
    register(proxy, source, mode="move")
    proxy.dispatch("beta", timeout=TIMEOUT)
    assert not source.exists()
    assert proxy.send("seen") == {"data.bin": digest}
    proxy.dispatch(alpha.address, timeout=TIMEOUT)  # and back: files follow again
    assert proxy.send("seen") == {"data.bin": digest}
    assert work_dirs(beta) == []


def test_a_clone_copies_and_the_original_keeps_its_files(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 2 * MIB)
    original = alpha.create(Carrier)
    register(original, source, mode="move")
    copy = original.clone(beta.address, timeout=TIMEOUT)
    assert copy.send("seen") == {"data.bin": sha256_of(source)}
    assert source.exists()  # a clone always copies
    assert original.send("files") == {"data.bin": str(source)}
    local = original.clone(timeout=TIMEOUT)  # a clone on the same host
    assert local.send("seen") == {"data.bin": sha256_of(source)}
    assert sorted(work_dirs(alpha)) == sorted([local.agent_id])


def test_a_refused_move_leaves_paglet_and_files_at_the_source(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha")
    small = make_host("small", peers=[alpha.address], artifact_max_size=MIB)
    source = make_file(tmp_path / "data.bin", 2 * MIB)
    proxy = alpha.create(Carrier)
    register(proxy, source, mode="move")
    with pytest.raises(TransferError, match="StorageQuotaError"):
        proxy.dispatch(small.address, timeout=TIMEOUT)
    assert source.exists() and sha256_of(source) == sha256_of(tmp_path / "data.bin")
    assert proxy.send("files") == {"data.bin": str(source)}
    assert small.info()["active"] == 0 and nothing_staged(small)
    assert not any(small.artifacts.partials.iterdir())


@pytest.mark.parametrize("fault", ["wrong hash", "truncated"])
def test_bytes_that_do_not_match_the_record_are_refused(
    two_hosts: tuple[Host, Host], tmp_path: Path, monkeypatch: Any, fault: str
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 3 * MIB)
    proxy = alpha.create(Carrier)
    register(proxy, source, mode="move")
    real = paglet_files.FileEntry.digest

    def lying(entry: paglet_files.FileEntry) -> tuple[int, str]:
        size, digest = real(entry)
        if fault == "wrong hash":
            return size, hashlib.sha256(b"something else").hexdigest()
        return size + MIB, digest  # announces more bytes than the file has

    monkeypatch.setattr(paglet_files.FileEntry, "digest", lying)
    with pytest.raises(TransferError, match="IntegrityError"):
        proxy.dispatch(beta.address, timeout=TIMEOUT)
    assert source.exists() and proxy.send("files") == {"data.bin": str(source)}
    assert beta.info()["active"] == 0 and nothing_staged(beta)
    assert not any(beta.artifacts.partials.iterdir())


def test_names_with_paths_are_refused(two_hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 1000)
    proxy = alpha.create(Carrier)
    for name in ("../x", "/etc/passwd", "a/b"):
        with pytest.raises(Exception, match="not a plain file name"):
            register(proxy, source, name=name)
    # a forged record naming ../x is refused by the target before anything is written
    record = {
        "tid": "forged-transfer",
        "agent_id": "f" * 32,
        "source_agent_id": "f" * 32,
        "class": f"{Carrier.__module__}:{Carrier.__qualname__}",
        "state_class": f"{CarrierState.__module__}:{CarrierState.__qualname__}",
        "state": b"\x80",
        "reason": "dispatch",
        "source_name": "alpha",
        "source_address": alpha.address,
        "files": [{"name": "../escape", "size": 4, "sha256": "0" * 64, "mode": "copy"}],
    }
    with pytest.raises(ArtifactError, match="not a plain file name"):
        alpha._backend.call(beta.address, VERB_TRANSFER, record)
    assert beta.info()["active"] == 0 and nothing_staged(beta)
    assert not (beta.artifacts.root / "escape").exists()


def test_files_stay_while_inactive_and_go_with_disposal(host: Host, tmp_path: Path) -> None:
    source = make_file(tmp_path / "data.bin", 1000)
    proxy = host.create(Carrier)
    register(proxy, source)
    proxy.send(Message("write", {"data": b"kept"}, "notes.txt"))
    proxy.deactivate()
    assert work_dirs(host) == [proxy.agent_id]
    files = proxy.send("files")  # activates it again
    assert set(files) == {"data.bin", "notes.txt"}
    assert Path(files["notes.txt"]).read_bytes() == b"kept"
    proxy.dispose()
    assert work_dirs(host) == [] and source.exists()


def test_files_survive_a_restart_of_a_durable_host(make_host: HostFactory, tmp_path: Path) -> None:
    first = make_host("durable", persistence_dir=tmp_path / "store")
    proxy = first.create(Carrier)
    proxy.send(Message("write", {"data": b"durable"}, "notes.txt"))
    first.stop()  # deactivates the paglet, files and all
    again = make_host("durable", persistence_dir=tmp_path / "store")
    files = again.get_proxy(proxy.agent_id).send("files", timeout=TIMEOUT)
    assert Path(files["notes.txt"]).read_bytes() == b"durable"


def test_a_retract_brings_the_files_back(two_hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", MIB)
    digest = sha256_of(source)
    proxy = alpha.create(Carrier)
    register(proxy, source, mode="move")
    proxy.dispatch(beta.address, timeout=TIMEOUT)
    alpha.retract(beta.address, proxy.agent_id, timeout=TIMEOUT)
    assert proxy.send("seen") == {"data.bin": digest}
    assert work_dirs(beta) == [] and work_dirs(alpha) == [proxy.agent_id]


def test_a_missing_registered_file_stops_the_move(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 1000)
    proxy = alpha.create(Carrier)
    register(proxy, source)
    source.unlink()
    with pytest.raises(TransferError, match="unreadable"):
        proxy.dispatch(beta.address, timeout=TIMEOUT)
    assert proxy.send("files") == {"data.bin": str(source)}


def test_an_integrity_error_reaches_a_direct_caller(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    """The target's IntegrityError travels as itself to whoever sent the record."""
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 1000)
    serving = alpha._transfers.serving
    serving.serve("served-transfer", "e" * 32, {"data.bin": (source, 1000)})
    record = {
        "tid": "served-transfer",
        "agent_id": "e" * 32,
        "source_agent_id": "e" * 32,
        "class": f"{Carrier.__module__}:{Carrier.__qualname__}",
        "state_class": f"{CarrierState.__module__}:{CarrierState.__qualname__}",
        "state": b"\x80",
        "reason": "dispatch",
        "source_name": "alpha",
        "source_address": alpha.address,
        "files": [{"name": "data.bin", "size": 1000, "sha256": "0" * 64, "mode": "copy"}],
    }
    try:
        with pytest.raises(IntegrityError):
            alpha._backend.call(beta.address, VERB_TRANSFER, record)
    finally:
        serving.stop("served-transfer")
    assert beta.info()["active"] == 0 and nothing_staged(beta)


def test_an_empty_file_travels(two_hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = two_hosts
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    proxy = alpha.create(Carrier)
    register(proxy, empty)
    proxy.dispatch(beta.address, timeout=TIMEOUT)
    assert proxy.send("seen") == {"empty.bin": hashlib.sha256(b"").hexdigest()}
