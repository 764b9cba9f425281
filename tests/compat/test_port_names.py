"""Every Host/proxy/context/ticket/client name of the original's API, called once.

Written as a ported program would: the paglet asks its context, the script asks the
host, the client and the proxies.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.artifacts import ArtifactRef, PagletFileRef
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.errors import PeerNotFoundError
from paglets.core.messages import Message
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.remote.client import HostClient
from paglets.remote.mesh import HostRef
from paglets.remote.references import PagletProxyRef
from paglets.runtime.host import Host
from paglets.runtime.resources import ResourceRegistry


@dataclass
class ScoutState(PagletState):
    seen: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)


class Scout(Paglet[ScoutState]):
    State = ScoutState

    def deactivation_policy(self, request: DeactivationRequest) -> DeactivationPolicy:
        self.state.asked.append(request.reason)
        return DeactivationPolicy(wake_after=None)

    def handle_message(self, message: Message) -> Any:
        context = self.context
        kind = message.kind
        if kind == "facts":
            return {
                "host": context.host,
                "state_class": self.state_class().__name__,
                "property": context.get_property("room", "none"),
                "hosts": [ref.name for ref in context.available_hosts()],
                "all": [ref.name for ref in context.available_hosts(False, False)],
                "beta_online": context.is_host_online("beta"),
                "beta_url": context.host_status("beta").url,
                "waited": context.wait_for_host("beta", timeout=TIMEOUT).name,
                "mine": sorted(p.agent_id for p in context.get_proxies(ACTIVE)),
            }
        if kind == "set":
            context.set_property("room", str(message.arg))
            return context.get_property("room")
        if kind == "spawn":
            child = context.create_paglet(Scout, ScoutState(seen=["born"]), host_url="beta")
            return child.agent_id
        if kind == "ask":
            return self.send(str(message.arg), Message("hello"), host_url=message.get_arg("url"))
        if kind == "ask-context":
            return context.send(str(message.arg), Message("hello"))
        if kind == "hello":
            return f"hello from {context.name}"
        if kind == "shout":
            replies = self.multicast("hello", include_self=message.arg is True)
            replies.wait_for_all_replies(TIMEOUT)
            return len(replies)
        if kind == "shout-context":
            replies = context.multicast("hello", exclude=[self.agent_id])
            replies.wait_for_all_replies(TIMEOUT)
            return len(replies)
        if kind == "carry":
            ref = self.register_file(str(message.arg), name="cargo.txt", mode="copy")
            assert isinstance(ref, PagletFileRef)
            return [ref.name, ref.mode, ref.size, ref.sha256, str(ref.path)]
        if kind == "files":
            return [ref.name for ref in self.registered_files()]
        if kind == "drop":
            self.unregister_file("cargo.txt")
            return [ref.name for ref in self.registered_files()]
        if kind == "asked":
            return list(self.state.asked)
        if kind == "hop":
            return self.context.dispatch_to(str(message.arg)).host_url
        if kind == "twin":
            return self.clone_to(str(message.arg)).agent_id
        if kind == "twin-context":
            return context.clone_to(str(message.arg)).agent_id
        if kind == "sleep":
            return self.deactivate(reason="nap").agent_id
        if kind == "note":
            self.notify_state_changed()
            return self.wait_state(lambda state: True, timeout=0)
        return self.not_handled()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    alpha = Host(name="alpha", port=0, mesh_lan_discovery=False, persistence_dir=tmp_path / "alpha")
    alpha.start_background()
    beta = Host(name="beta", port=0, peers=[alpha.address], mesh_lan_discovery=False)
    beta.start_background()
    try:
        yield alpha, beta
    finally:
        beta.shutdown()
        alpha.shutdown()


def test_the_context_answers_the_originals_calls(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    scout = alpha.create(Scout)
    assert scout.send(Message("set", arg="7")) == "7"
    facts = scout.send(Message("facts"))
    assert facts["host"] == "alpha" and facts["state_class"] == "ScoutState"
    assert facts["property"] == "7" and alpha.get_property("room") == "7"
    assert facts["hosts"] == ["alpha", "beta"] and facts["all"] == ["beta"]
    assert facts["beta_online"] and facts["beta_url"] == beta.address
    assert facts["waited"] == "beta" and facts["mine"] == [scout.agent_id]
    child_id = scout.send(Message("spawn"))
    assert beta.get_proxy(child_id) is not None
    assert scout.send(Message("ask", {"url": beta.address}, child_id)) == "hello from beta"
    other = alpha.create(Scout)
    assert scout.send(Message("ask-context", arg=other.agent_id)) == "hello from alpha"
    assert scout.send(Message("shout")) == 1  # the other one, not itself
    assert scout.send(Message("shout", arg=True)) == 2
    assert scout.send(Message("shout-context")) == 1
    assert scout.send(Message("note")) is True


def test_a_paglets_self_operations(hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = hosts
    cargo = tmp_path / "cargo.txt"
    cargo.write_text("crates")
    scout = alpha.create(Scout)
    name, mode, size, sha256, path = scout.send(Message("carry", arg=str(cargo)))
    assert (name, mode, size, path) == ("cargo.txt", "copy", 6, str(cargo)) and len(sha256) == 64
    assert scout.send(Message("files")) == ["cargo.txt"]
    assert scout.send(Message("drop")) == []
    twin_id = scout.send(Message("twin", arg="beta"))
    other_twin = scout.send(Message("twin-context", arg="beta"))
    assert {p.agent_id for p in beta.get_proxies(ACTIVE)} == {twin_id, other_twin}
    assert scout.send(Message("sleep")) == scout.agent_id
    assert scout.is_state(INACTIVE)
    assert scout.send(Message("asked")) == ["nap"]  # the message activated it again
    assert scout.send(Message("hop", arg="beta")) == beta.address
    assert scout.send(Message("hello")) == "hello from beta"  # the proxy follows it
    assert scout.host_url == beta.address


def test_the_hosts_verbs(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    events: list[Any] = []
    alpha.add_listener(events.append)
    remote = alpha.create_remote("beta", Scout, ScoutState(seen=["x"]))
    assert beta.get_state(remote.agent_id).seen == ["x"]  # type: ignore[attr-defined]
    local = alpha.create(Scout)
    copy = alpha.clone(local.agent_id, "beta")
    moved = alpha.dispatch(local, "beta")
    assert (copy.host_url, moved.host_url) == (beta.address, beta.address)
    back = alpha.retract(beta.address, local.agent_id)
    assert back.host_url == alpha.address
    assert alpha.deactivate(local.agent_id).is_state(INACTIVE)
    assert alpha.activate(local.agent_id).is_active()
    assert [p.agent_id for p in alpha.get_proxies(ACTIVE | INACTIVE)] == [local.agent_id]
    alpha.dispose(local.agent_id)
    assert alpha.get_proxy(local.agent_id) is None
    wait_for(lambda: any(event.kind == "dispose" for event in events))
    alpha.remove_listener(events.append)
    assert len(alpha.list_events(0, limit=2)) == 2
    assert all(isinstance(ref, HostRef) for ref in alpha.list_hosts())
    assert alpha.health()["name"] == "alpha" and alpha.wait_for_host("beta", 1).online
    with pytest.raises(PeerNotFoundError):
        alpha.wait_for_host("nobody", 0.05)


def test_proxies_and_refs(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    proxy = alpha.create(Scout)
    ref = proxy.ref()
    assert ref == PagletProxyRef(alpha.address, proxy.agent_id)
    assert (proxy.get_address(), proxy.get_agent_id()) == (alpha.address, proxy.agent_id)
    assert proxy.is_valid() and proxy.info()["active"]
    proxy.send_oneway(Message("set", arg="8"))
    wait_for(lambda: alpha.get_property("room") == "8")
    assert proxy.send(Message("hello"), no_delay=True) == "hello from alpha"
    twin = proxy.clone()
    assert twin.host_url == alpha.address and twin.agent_id != proxy.agent_id
    assert proxy.dispatch("beta") is proxy and proxy.host_url == beta.address
    proxy.dispose()
    assert not proxy.is_valid()
    with pytest.raises(TypeError, match="activate_if_inactive"):
        twin.send(Message("hello"), {"a": 1})  # type: ignore[arg-type]


def test_the_client_talks_to_any_host(hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = hosts
    source = tmp_path / "data.bin"
    source.write_bytes(b"payload")
    inbox = beta.create(Scout)
    with HostClient() as client:
        assert client.health(alpha.address)["name"] == "alpha"
        later = time.time() + 3600
        ref = client.upload_artifact(beta.address, source, inbox.agent_id, later)
        assert isinstance(ref, ArtifactRef)
        assert (ref.host_url, ref.size_bytes, ref.owner_agent_id) == (
            beta.address,
            7,
            inbox.agent_id,
        )
        assert ref.expires_at == pytest.approx(later, abs=5) and ref.created_at > 0
        assert client.artifact_metadata(ref)["sha256"] == ref.sha256
        listed = client.list_artifacts(beta.address, owner_agent_id=inbox.agent_id)
        assert [meta["artifact_id"] for meta in listed] == [ref.artifact_id]
        assert client.list_artifacts(beta.address, owner_agent_id="someone") == []
        copy = client.download_artifact(ref, tmp_path / "copy.bin")
        assert copy.read_bytes() == b"payload"
        moved = client.download_artifact(ref, tmp_path / "moved.bin", move=True)
        assert moved.read_bytes() == b"payload" and client.list_artifacts(beta.address) == []
        again = client.upload_artifact(beta.address, source)
        assert client.delete_artifact(again) is True
        proxy = client.get_proxy(inbox.agent_id, beta.address)
        assert proxy.send_artifact(Message("hello"), source, arg_name="file") == "hello from beta"
        assert client.list_agents(beta.address)[0]["agent_id"] == inbox.agent_id


def test_serve_forever_returns_once_the_host_stops() -> None:
    host = Host(name="server", port=0, mesh=False)
    serving = threading.Thread(target=host.serve_forever, daemon=True)  # a failure: no hang
    serving.start()
    try:
        wait_for(lambda: bool(host.address) and host.client.health()["name"] == "server")
    finally:
        host.stop()
        serving.join(TIMEOUT)
    assert not serving.is_alive()


def test_a_resource_registry_tracks_closeables() -> None:
    registry = ResourceRegistry()
    buffer = io.BytesIO()
    registry.track_closeable("buffer", buffer)
    registry.register("noisy", lambda: 1 / 0, suppress=True)
    registry.register("gone", lambda: None)
    assert registry.remove("gone") and not registry.remove("gone")
    assert registry.status() == {
        "buffer": {"suppress": False, "last_error": ""},
        "noisy": {"suppress": True, "last_error": ""},
    }
    registry.cleanup()  # the suppressed failure does not stop the buffer's close
    assert buffer.closed and len(registry) == 0
    with pytest.raises(TypeError, match="close"):
        registry.track_closeable("nothing", object())  # type: ignore[arg-type]


def test_joining_is_mutual_when_start_returns(tmp_path: Path) -> None:
    alpha = Host(name="alpha", port=0, mesh_lan_discovery=False)
    alpha.start_background()
    beta = Host(name="beta", port=0, peers=[alpha.address], mesh_lan_discovery=False)
    try:
        beta.start_background()
        assert any(ref.name == "beta" and ref.online for ref in alpha.available_hosts())
        there = alpha.dispatch(alpha.create(Scout), "beta")
        back = beta.dispatch(beta.create(Scout), "alpha")
        assert there.host_url == beta.address and back.host_url == alpha.address
    finally:
        beta.shutdown()
        alpha.shutdown()
