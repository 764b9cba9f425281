"""Artifacts: the store, uploads and downloads, host-to-host pulls, and what they refuse."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.artifacts import ArtifactRef
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    DestinationExistsError,
    IntegrityError,
    NotHandledError,
    StorageQuotaError,
)
from paglets.core.messages import Message
from paglets.remote import artifacts as client_artifacts
from paglets.remote.client import HostClient
from paglets.runtime.artifacts import streams as artifact_transfer
from paglets.runtime.host import Host
from paglets.wire.protocol import VERB_ART_BEGIN, VERB_ART_CHUNK, VERB_ART_COMMIT

MIB = 1024 * 1024


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    """A file of ``size`` pseudo-random bytes (fast to make, different per seed)."""
    block = hashlib.sha256(f"seed-{seed}".encode()).digest() * (MIB // 32)
    with path.open("wb") as out:
        for index, offset in enumerate(range(0, size, MIB)):
            chunk = bytearray(block[: min(MIB, size - offset)])
            chunk[:8] = index.to_bytes(8, "little")
            out.write(chunk)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def client_of() -> Iterator[Any]:
    """``client_of(host)``: a HostClient to it, closed afterwards."""
    clients: list[HostClient] = []

    def make(host: Host) -> HostClient:
        clients.append(HostClient(address=host.address, timeout=TIMEOUT))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def nothing_partial(host: Host) -> bool:
    return not any(host.artifacts.partials.iterdir())


def test_upload_list_download_delete_round_trip(host: Host, client_of: Any, tmp_path: Path) -> None:
    source = make_file(tmp_path / "data.bin", 8 * MIB + 123)
    client = client_of(host)
    ref = client.upload_artifact(None, source)
    assert (ref.name, ref.size_bytes) == ("data.bin", source.stat().st_size)
    assert ref.sha256 == sha256_of(source)
    assert ref.host_url == host.address
    assert [info["artifact_id"] for info in client.list_artifacts()] == [ref.artifact_id]
    assert client.artifact_metadata(ref.artifact_id)["sha256"] == ref.sha256
    copy = client.download_artifact(ref, tmp_path / "copy.bin")
    assert copy.read_bytes() == source.read_bytes()
    assert client.delete_artifact(ref.artifact_id) is True
    assert client.delete_artifact(ref.artifact_id) is False
    assert client.list_artifacts() == []
    assert not host.artifacts.blob_path(ref.sha256).exists()
    with pytest.raises(ArtifactNotFoundError):
        client.download_artifact(ref.artifact_id, tmp_path / "gone.bin")
    assert not (tmp_path / "gone.bin").exists()


def test_content_already_held_is_not_sent_again(
    two_hosts: tuple[Host, Host], client_of: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 3 * MIB)
    client = client_of(alpha)
    first = client.upload_artifact(None, source)
    beta_copy = client_of(beta).fetch_artifact(first)

    def no_bytes(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("bytes were sent for content the host holds")

    monkeypatch.setattr(client_artifacts, "push", no_bytes)
    monkeypatch.setattr(artifact_transfer, "pull", no_bytes)
    second = client.upload_artifact(None, source, name="again.bin")
    assert second.artifact_id != first.artifact_id and second.sha256 == first.sha256
    assert client_of(beta).fetch_artifact(first).sha256 == beta_copy.sha256
    # two artifacts share one blob; it goes with the last of them
    assert alpha.artifacts.used_bytes() == 3 * MIB
    client.delete_artifact(first.artifact_id)
    assert alpha.artifacts.blob_path(first.sha256).exists()
    client.delete_artifact(second.artifact_id)
    assert not alpha.artifacts.blob_path(first.sha256).exists()


def test_an_interrupted_upload_resumes_where_it_stopped(
    host: Host, client_of: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    source = make_file(tmp_path / "data.bin", 6 * MIB)
    client = client_of(host)

    class Dropped(Exception):
        pass

    def drop_after_three(done: int) -> None:
        if done >= 3 * MIB:
            raise Dropped

    with pytest.raises(Dropped):
        client.upload_artifact(None, source, progress=drop_after_three)
    assert client.list_artifacts() == []  # a partial is never listed
    starts: list[int] = []
    real_push = client_artifacts.push

    def spy(*args: Any) -> None:
        starts.append(args[4])
        real_push(*args)

    monkeypatch.setattr(client_artifacts, "push", spy)
    ref = client.upload_artifact(None, source)
    assert starts and starts[0] >= 3 * MIB, starts
    assert client.download_artifact(ref, tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    assert nothing_partial(host)


def test_a_host_pulls_an_artifact_from_another_host(
    two_hosts: tuple[Host, Host], client_of: Any, tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    source = make_file(tmp_path / "data.bin", 12 * MIB + 7)
    ref = client_of(alpha).upload_artifact(None, source)
    pulled = client_of(beta).fetch_artifact(ref)
    assert pulled.host_url == beta.address and pulled.sha256 == ref.sha256
    assert sha256_of(beta.artifacts.blob_path(ref.sha256)) == ref.sha256
    assert nothing_partial(beta)


def _raw_upload(client: HostClient, data: bytes, announced_sha: str, size: int) -> str:
    begun = client.backend.call(
        client.address,
        VERB_ART_BEGIN,
        {"name": "raw.bin", "size": size, "sha256": announced_sha, "owner": "", "ttl": None},
    )
    upload_id = str(begun["upload"])
    client.backend.transport.call(
        client.address, VERB_ART_CHUNK, fields={"up": upload_id, "off": 0}, blobs=[data]
    )
    return upload_id


def test_a_wrong_hash_is_refused_and_nothing_is_kept(host: Host, client_of: Any) -> None:
    client = client_of(host)
    data = os.urandom(100_000)
    upload_id = _raw_upload(client, data, hashlib.sha256(b"other").hexdigest(), len(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        client.backend.call(client.address, VERB_ART_COMMIT, fields={"up": upload_id})
    assert client.list_artifacts() == []
    assert nothing_partial(host)


def test_a_truncated_or_overlong_stream_is_refused(host: Host, client_of: Any) -> None:
    client = client_of(host)
    data = os.urandom(100_000)
    upload_id = _raw_upload(client, data[:60_000], hashlib.sha256(data).hexdigest(), len(data))
    with pytest.raises(IntegrityError, match="truncated"):
        client.backend.call(client.address, VERB_ART_COMMIT, fields={"up": upload_id})
    with pytest.raises(IntegrityError, match="announced"):
        client.backend.transport.call(
            client.address,
            VERB_ART_CHUNK,
            fields={"up": upload_id, "off": 60_000},
            blobs=[data[60_000:] + b"extra"],
        )
    with pytest.raises(IntegrityError, match="expected 60000"):
        client.backend.transport.call(
            client.address,
            VERB_ART_CHUNK,
            fields={"up": upload_id, "off": 70_000},
            blobs=[data[70_000:]],
        )
    assert client.list_artifacts() == []


def test_size_limit_and_quota_are_enforced_before_any_byte(
    make_host: HostFactory, client_of: Any, tmp_path: Path
) -> None:
    limited = make_host("limited", artifact_max_size=MIB, artifact_storage_quota=3 * MIB)
    client = client_of(limited)
    small = client.upload_artifact(None, make_file(tmp_path / "small.bin", MIB))
    with pytest.raises(StorageQuotaError, match="size limit"):
        client.upload_artifact(None, make_file(tmp_path / "big.bin", MIB + 1))
    client.upload_artifact(None, make_file(tmp_path / "second.bin", MIB, seed=2))
    client.upload_artifact(None, make_file(tmp_path / "third.bin", MIB, seed=3))
    with pytest.raises(StorageQuotaError, match="quota"):
        client.upload_artifact(None, make_file(tmp_path / "fourth.bin", MIB, seed=4))
    again = client.upload_artifact(None, tmp_path / "small.bin", name="same.bin")
    assert again.sha256 == small.sha256
    assert len(client.list_artifacts()) == 4
    assert nothing_partial(limited)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", ""])
def test_names_with_paths_are_refused(
    host: Host, client_of: Any, tmp_path: Path, name: str
) -> None:
    client = client_of(host)
    source = make_file(tmp_path / "data.bin", 1000)
    if name:
        with pytest.raises(ArtifactError):
            client.upload_artifact(None, source, name=name)
    with pytest.raises(ArtifactError):  # the host checks too, whatever the client does
        client.backend.call(
            client.address,
            VERB_ART_BEGIN,
            {"name": name, "size": 1000, "sha256": sha256_of(source), "owner": "", "ttl": None},
        )
    assert client.list_artifacts() == []


def test_a_download_never_replaces_a_file_unless_asked(
    host: Host, client_of: Any, tmp_path: Path
) -> None:
    client = client_of(host)
    ref = client.upload_artifact(None, make_file(tmp_path / "data.bin", 2 * MIB))
    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"keep me")
    with pytest.raises(DestinationExistsError):
        client.download_artifact(ref, existing)
    assert existing.read_bytes() == b"keep me"
    client.download_artifact(ref, existing, overwrite=True)
    assert sha256_of(existing) == ref.sha256


def test_a_corrupted_blob_fails_the_download_and_leaves_nothing(
    host: Host, client_of: Any, tmp_path: Path
) -> None:
    client = client_of(host)
    ref = client.upload_artifact(None, make_file(tmp_path / "data.bin", 3 * MIB))
    blob = host.artifacts.blob_path(ref.sha256)
    with blob.open("r+b") as stream:
        stream.seek(2 * MIB)
        stream.write(b"\x00corrupt")
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        client.download_artifact(ref, tmp_path / "copy.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_expired_artifacts_disappear(host: Host, client_of: Any, tmp_path: Path) -> None:
    client = client_of(host)
    source = make_file(tmp_path / "data.bin", 1000)
    ref = client.upload_artifact(None, source, expires_at=time.time() + 0.05)
    kept = client.upload_artifact(None, make_file(tmp_path / "kept.bin", 1000, seed=1))

    def expired() -> bool:
        try:
            client.artifact_metadata(ref.artifact_id)
        except ArtifactNotFoundError:
            return True
        return False

    wait_for(expired)
    host.artifacts.sweep(force=True)
    assert [i["artifact_id"] for i in client.list_artifacts()] == [kept.artifact_id]
    assert not host.artifacts.blob_path(ref.sha256).exists()


def test_the_store_survives_a_restart_and_a_temp_store_does_not(
    make_host: HostFactory, client_of: Any, tmp_path: Path
) -> None:
    durable = make_host("durable", persistence_dir=tmp_path / "store")
    ref = client_of(durable).upload_artifact(None, make_file(tmp_path / "data.bin", MIB))
    durable.stop()
    again = make_host("again", persistence_dir=tmp_path / "store")
    copy = client_of(again).download_artifact(ref.artifact_id, tmp_path / "copy.bin")
    assert sha256_of(copy) == ref.sha256
    temporary = make_host("temporary")
    root = temporary.artifacts.root
    assert root.is_dir()
    temporary.stop()
    assert not root.exists()


@dataclass
class InboxState(PagletState):
    received: list[str] | None = None


class Inbox(Paglet[InboxState]):
    State = InboxState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "file":
            ref = message.args["artifact"]
            assert isinstance(ref, ArtifactRef)
            return [ref.artifact_id, ref.name, ref.size_bytes]
        return self.not_handled()


def test_send_artifact_uploads_then_sends_the_ref(
    two_hosts: tuple[Host, Host], client_of: Any, tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    inbox = beta.create(Inbox)
    source = make_file(tmp_path / "data.bin", 2 * MIB)
    # from a client, and from another host (whose proxy uploads over the mesh)
    from_client = client_of(beta).get_proxy(inbox.agent_id)
    for proxy in (from_client, alpha.proxy(inbox.agent_id, beta.address)):
        artifact_id, name, size = proxy.send_artifact("file", source)
        assert (name, size) == ("data.bin", 2 * MIB)
        assert client_of(beta).artifact_metadata(artifact_id)["owner"] == inbox.agent_id
    assert source.exists()
    moved = client_of(beta).get_proxy(inbox.agent_id).send_artifact("file", source, move=True)
    assert moved[2] == 2 * MIB and not source.exists()


def test_a_failed_delivery_deletes_the_upload_and_keeps_the_source(
    host: Host, client_of: Any, tmp_path: Path
) -> None:
    inbox = host.create(Inbox)
    source = make_file(tmp_path / "data.bin", MIB)
    client = client_of(host)
    with pytest.raises(NotHandledError):
        client.get_proxy(inbox.agent_id).send_artifact("unknown-kind", source, move=True)
    assert source.exists()
    assert client.list_artifacts() == []
    with pytest.raises(ArtifactNotFoundError):
        client.get_proxy(inbox.agent_id).send_artifact("file", tmp_path / "missing.bin")


def test_an_empty_file_round_trips(
    two_hosts: tuple[Host, Host], client_of: Any, tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    ref = client_of(alpha).upload_artifact(None, empty)
    assert ref.size_bytes == 0 and ref.sha256 == hashlib.sha256(b"").hexdigest()
    assert client_of(beta).fetch_artifact(ref).size_bytes == 0
    copy = client_of(alpha).download_artifact(ref, tmp_path / "copy.bin")
    assert copy.read_bytes() == b""
