"""CURVE keys from one secret, where the secret comes from, and refused handshakes."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from zmq.utils import z85

from paglets.core.errors import AuthenticationError
from paglets.net.mesh_secret import KEY_FILE, join_line, resolve_secret
from paglets.net.security import (
    IDENTITY_FILE,
    KDF_N,
    KDF_P,
    KDF_R,
    KDF_SALT,
    SECRET_VARIABLE,
    derive_keys,
    host_identity,
)
from paglets.net.transport import IncomingRequest, Transport, TransportConfig


def test_keys_are_derived_deterministically_from_the_secret() -> None:
    first, again, other = derive_keys("s3cret"), derive_keys("s3cret"), derive_keys("other")
    assert first == again
    assert first.server_public != other.server_public
    assert first.fingerprint != other.fingerprint
    assert len(z85.decode(first.server_secret)) == 32


def test_keys_never_show_the_secret_material() -> None:
    keys = derive_keys("s3cret")
    assert "s3cret" not in repr(keys)
    assert keys.server_secret.decode() not in repr(keys)
    assert keys.fingerprint in repr(keys)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_keys("")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAGLETS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    return tmp_path / "home"


def test_an_explicit_secret_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "from-env")
    secret = resolve_secret("explicit")
    assert secret is not None and secret.value == "explicit"


def test_the_named_variable_must_be_set(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_MESH_SECRET", raising=False)
    with pytest.raises(ValueError, match="MY_MESH_SECRET"):
        resolve_secret(api_key_env="MY_MESH_SECRET")
    monkeypatch.setenv("MY_MESH_SECRET", "")
    with pytest.raises(ValueError, match="unset or empty"):
        resolve_secret(api_key_env="MY_MESH_SECRET")
    monkeypatch.setenv("MY_MESH_SECRET", "named")
    secret = resolve_secret(api_key_env="MY_MESH_SECRET")
    assert secret is not None and secret.value == "named"


def test_the_standard_variable_is_read(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "from-env")
    secret = resolve_secret()
    assert secret is not None and secret.value == "from-env"
    assert not (home / KEY_FILE).exists()


def test_a_host_creates_an_owner_only_key_file_once(home: Path) -> None:
    created = resolve_secret()
    assert created is not None and created.created
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = resolve_secret()
    assert again is not None and not again.created and again.value == created.value
    assert created.value not in repr(created)
    assert (
        join_line(created, "beta") == f"{SECRET_VARIABLE}={created.value} paglets host --name beta"
    )


def test_a_client_never_creates_a_secret(home: Path) -> None:
    assert resolve_secret(create=False) is None
    assert not home.exists() or not (home / KEY_FILE).exists()


def test_an_empty_key_file_is_an_error(home: Path) -> None:
    home.mkdir(parents=True)
    (home / KEY_FILE).write_text("\n")
    os.chmod(home / KEY_FILE, 0o600)
    with pytest.raises(ValueError, match="empty"):
        resolve_secret()


def _echo(request: IncomingRequest) -> None:
    request.reply(bytes(request.body))


@pytest.fixture
def secure_server() -> Iterator[Transport]:
    server = Transport("server", TransportConfig(port=0, keys=derive_keys("right")), _echo)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("client_secret", ["right"])
def test_a_client_with_the_secret_talks(secure_server: Transport, client_secret: str) -> None:
    client = Transport("c", TransportConfig(bind_host=None, keys=derive_keys(client_secret)))
    client.start()
    try:
        assert bytes(client.call(secure_server.address, "ping", b"\x01", timeout=5).body) == b"\x01"
        future = client.request(secure_server.address, "ping", b"\x02", timeout=5)
        assert bytes(future.get_reply(6).body) == b"\x02"
    finally:
        client.stop()


@pytest.mark.parametrize("keys", [derive_keys("wrong"), None], ids=["wrong-secret", "no-secret"])
def test_a_client_without_the_secret_gets_a_clear_error(secure_server: Transport, keys) -> None:
    client = Transport("c", TransportConfig(bind_host=None, keys=keys))
    client.start()
    try:
        with pytest.raises(AuthenticationError, match=SECRET_VARIABLE):
            client.call(secure_server.address, "ping", b"\x01", timeout=1.0)
        with pytest.raises(AuthenticationError, match=SECRET_VARIABLE):
            client.request(secure_server.address, "ping", b"\x01", timeout=1.0).get_reply(3)
    finally:
        client.stop()
    assert secure_server.refused_handshakes > 0


def test_a_secured_client_cannot_use_a_plain_host() -> None:
    server = Transport("plain", TransportConfig(port=0), _echo)
    server.start()
    client = Transport("c", TransportConfig(bind_host=None, keys=derive_keys("right")))
    client.start()
    try:
        with pytest.raises(AuthenticationError, match=SECRET_VARIABLE):
            client.call(server.address, "ping", b"\x01", timeout=1.0)
    finally:
        client.stop()
        server.stop()


def test_the_keys_follow_the_documented_scrypt_recipe() -> None:
    material = hashlib.scrypt(
        b"s3cret", salt=KDF_SALT, n=KDF_N, r=KDF_R, p=KDF_P, maxmem=64 * 2**20, dklen=64
    )
    keys = derive_keys("s3cret")
    assert z85.decode(keys.server_secret) == material[:32]
    assert keys.fingerprint == material[32:].hex()[:12]
    assert KDF_N >= 2**14 and KDF_R >= 8  # at least 16 MiB and tens of ms a guess


def test_a_secret_is_derived_once_per_process() -> None:
    secret = "derived-once-" + os.urandom(4).hex()
    started = time.perf_counter()
    first = derive_keys(secret)
    slow = time.perf_counter() - started
    started = time.perf_counter()
    again = derive_keys(secret)
    fast = time.perf_counter() - started
    assert again is first
    assert fast < slow / 10, (slow, fast)


def test_an_identity_is_kept_owner_only_in_the_persistence_dir(tmp_path: Path) -> None:
    first = host_identity(tmp_path / "store")
    path = tmp_path / "store" / IDENTITY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret.decode() in path.read_text()
    assert host_identity(tmp_path / "store").public == first.public
    assert first.secret.decode() not in repr(first)
    assert host_identity(None).public != host_identity(None).public


def test_a_damaged_identity_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).write_text("not a key\n")
    with pytest.raises(ValueError, match="identity"):
        host_identity(tmp_path)


def test_the_server_sees_the_identity_key_of_each_caller() -> None:
    keys: list[str] = []

    def record(request: IncomingRequest) -> None:
        keys.append(request.peer_key)
        request.reply(b"")

    server = Transport("server", TransportConfig(port=0, keys=derive_keys("right")), record)
    server.start()
    clients = [
        Transport(f"c{n}", TransportConfig(bind_host=None, keys=derive_keys("right")))
        for n in range(2)
    ]
    try:
        for client in clients:
            client.start()
            client.call(server.address, "ping", timeout=5)
            client.request(server.address, "ping", timeout=5).get_reply(6)
        assert keys == [clients[0].identity_key] * 2 + [clients[1].identity_key] * 2
        assert clients[0].identity_key != clients[1].identity_key
    finally:
        for client in clients:
            client.stop()
        server.stop()
