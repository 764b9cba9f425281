"""Every bound on what a peer can make a host hold: hit once, refused by name, host fine.

Each test sets one limit low, reaches it from another process's point of view (a
``HostClient`` or a second host, so the error crosses the wire), checks the error is
``LimitExceededError`` naming the ``HostConfig`` setting, and that the host still
serves afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from conftest import HostFactory, join_mesh
from helpers import TIMEOUT, Gate, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    LimitExceededError,
    OverloadedError,
    TransferError,
    error_from_wire,
    error_to_wire,
)
from paglets.core.events import MobilityEvent
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.remote.client import HostClient
from paglets.runtime.host import Host
from paglets.wire.protocol import VERB_ART_BEGIN, VERB_TRANSFER

SECRET = "limits-secret"
Connect = Callable[[Host], HostClient]


@dataclass
class HeldState(PagletState):
    gate: str = ""


class Held(Paglet[HeldState]):
    """``hold`` waits at a gate; ``echo`` answers at once."""

    State = HeldState

    def handle_message(self, message: Message) -> object:
        if message.kind == "hold":
            gate(str(message.args["gate"])).pass_through()
            return "released"
        if message.kind == "echo":
            return message.args.get("data", b"")
        return self.not_handled()

    def on_arrival(self, event: MobilityEvent) -> None:
        if self.state.gate:
            gate(self.state.gate).pass_through()


class Runner(Paglet[PagletState]):
    """Its ``run()`` lasts until the paglet leaves the host."""

    def run(self) -> None:
        self.wait_leaving(8 * TIMEOUT)


@pytest.fixture
def client_of() -> Iterator[Connect]:
    clients: list[HostClient] = []

    def connect(host: Host) -> HostClient:
        client = HostClient(api_key=SECRET, address=host.address, timeout=TIMEOUT)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def _hold(host: Host) -> tuple[str, Gate]:
    """A paglet of ``host`` busy in a handler; return its id and the gate holding it."""
    proxy = host.create(Held)
    held = new_gate()
    proxy.send_oneway("hold", args={"gate": held.key})
    held.wait_entered()
    return proxy.agent_id, held


def _refused(limit: str, call: Callable[[], object]) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as caught:
        call()
    assert caught.value.limit == limit, caught.value
    assert limit in str(caught.value)
    return caught.value


def test_messages_queued_for_one_paglet(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_queued_messages=2)
    agent_id, held = _hold(alpha)
    proxy = client_of(alpha).get_proxy(agent_id)
    queued = [proxy.send_future("echo", args={"data": b"q"}) for _ in range(2)]
    wait_for(lambda: alpha.info()["queued"]["messages"] == 2)
    _refused("max_queued_messages", lambda: proxy.send("echo", timeout=TIMEOUT))
    held.open()
    assert [future.get_reply(TIMEOUT) for future in queued] == [b"q", b"q"]
    assert proxy.send("echo", args={"data": b"after"}, timeout=TIMEOUT) == b"after"


def test_bytes_queued_for_one_paglet(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_mailbox_bytes=4096)
    agent_id, held = _hold(alpha)
    proxy = client_of(alpha).get_proxy(agent_id)
    first = proxy.send_future("echo", args={"data": b"x" * 3000})
    wait_for(lambda: alpha.info()["queued"]["bytes"] >= 3000)
    _refused("max_mailbox_bytes", lambda: proxy.send("echo", args={"data": b"y" * 3000}))
    held.open()
    assert first.get_reply(TIMEOUT) == b"x" * 3000
    wait_for(lambda: alpha.info()["queued"]["bytes"] == 0)


def test_messages_and_bytes_queued_on_the_host(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host(
        "alpha", api_key=SECRET, max_host_queued_messages=3, max_host_queued_bytes=10_000
    )
    holds = [_hold(alpha) for _ in range(2)]
    client = client_of(alpha)
    first, second = (client.get_proxy(agent_id) for agent_id, _ in holds)
    futures = [first.send_future("echo", args={"data": b"a" * 6000})]
    futures += [second.send_future("echo") for _ in range(2)]
    wait_for(lambda: alpha.info()["queued"]["messages"] == 3)
    _refused("max_host_queued_messages", lambda: second.send("echo", timeout=TIMEOUT))
    for _, held in holds:
        held.open()
    for future in futures:
        future.get_reply(TIMEOUT)
    # bytes: one large message waits, a second one would put the host over
    agent_id, held = _hold(alpha)
    third = client.get_proxy(agent_id)
    waiting = third.send_future("echo", args={"data": b"b" * 6000})
    wait_for(lambda: alpha.info()["queued"]["bytes"] >= 6000)
    _refused("max_host_queued_bytes", lambda: first.send("echo", args={"data": b"c" * 6000}))
    held.open()
    assert waiting.get_reply(TIMEOUT) == b"b" * 6000


def test_unqueued_messages_count_until_their_handler_starts(make_host: HostFactory) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_workers=2, max_host_queued_messages=2)
    holds = [_hold(alpha) for _ in range(2)]  # both workers busy: unqueued ones wait
    proxy = alpha.proxy(holds[0][0])
    waiting = [
        proxy.send_future(Message("echo", {"data": b"u"}, None, UNQUEUED_PRIORITY))
        for _ in range(2)
    ]
    wait_for(lambda: alpha.info()["queued"]["messages"] == 2)
    _refused(
        "max_host_queued_messages",
        lambda: proxy.send(Message("echo", {}, None, UNQUEUED_PRIORITY), timeout=TIMEOUT),
    )
    for _, held in holds:
        held.open()
    assert [future.get_reply(TIMEOUT) for future in waiting] == [b"u", b"u"]


def test_paglets_per_host(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_paglets=2)
    client = client_of(alpha)
    made = [client.create(Held) for _ in range(2)]
    _refused("max_paglets", lambda: client.create(Held))
    assert alpha.info()["active"] == 2
    made[0].dispose()
    assert client.create(Held).send("echo", args={"data": b"ok"}, timeout=TIMEOUT) == b"ok"


def test_paglets_arriving_at_once(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_transfers=1)
    beta = make_host("beta", api_key=SECRET, peers=[alpha.address])
    join_mesh(alpha, beta)
    arriving = new_gate()
    traveller = beta.create(Held, HeldState(gate=arriving.key))
    moved: list[object] = []
    mover = threading.Thread(target=lambda: moved.append(traveller.dispatch("alpha")))
    mover.start()
    try:
        arriving.wait_entered()  # one paglet is arriving: on_arrival holds it
        client = client_of(alpha)
        _refused("max_transfers", lambda: client.backend.call(alpha.address, VERB_TRANSFER, {}))
        second = beta.create(Held)
        with pytest.raises(TransferError, match="max_transfers"):
            second.dispatch("alpha", timeout=TIMEOUT)
        assert second.send("echo", args={"data": b"stayed"}, timeout=TIMEOUT) == b"stayed"
    finally:
        arriving.open()
        mover.join(TIMEOUT)
    assert moved and alpha.info()["active"] == 1


def _begin(client: HostClient, address: str, digest: str) -> dict[str, object]:
    body = {"name": f"{digest[:4]}.bin", "size": 10, "sha256": digest, "owner": "", "ttl": None}
    answer: dict[str, object] = client.backend.call(address, VERB_ART_BEGIN, body)
    return answer


def test_uploads_and_their_file_descriptors(make_host: HostFactory, client_of: Connect) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_uploads=1)
    client = client_of(alpha)
    assert "upload" in _begin(client, alpha.address, "a" * 64)
    _refused("max_uploads", lambda: _begin(client, alpha.address, "b" * 64))
    beta = make_host("beta", api_key=SECRET, max_uploads=5, max_upload_fds=1)
    other = client_of(beta)
    assert "upload" in _begin(other, beta.address, "c" * 64)
    _refused("max_upload_fds", lambda: _begin(other, beta.address, "d" * 64))
    assert client.health()["name"] == "alpha" and other.health()["name"] == "beta"


def test_run_threads_are_bounded_and_a_long_run_is_reported(
    make_host: HostFactory, client_of: Connect
) -> None:
    alpha = make_host("alpha", api_key=SECRET, max_run_threads=1, run_report_after=0.2)
    client = client_of(alpha)
    running = alpha.create(Runner)
    _refused("max_run_threads", lambda: client.create(Runner))
    assert alpha.create(Held).send("echo", args={"data": b"no run"}, timeout=TIMEOUT) == b"no run"
    report = wait_for(
        lambda: [e for e in alpha.list_events() if e.kind == "run-long"],
        message="a run() holding its thread was not reported",
    )
    assert report[0].agent_id == running.agent_id
    held = alpha.info()["run"]
    assert held["threads"] == 1 and held["long"][0]["agent_id"] == running.agent_id
    running.dispose()  # its run() returns: the slot is free again
    wait_for(lambda: alpha.info()["run"]["threads"] == 0)
    assert client.create(Runner).info()["running"] is True


def test_the_limit_error_is_an_overload_and_keeps_its_name_across_the_wire() -> None:
    local = LimitExceededError("the host is full", "max_paglets")
    assert isinstance(local, OverloadedError) and local.limit == "max_paglets"
    remote = error_from_wire(*error_to_wire(local))
    assert isinstance(remote, LimitExceededError) and remote.limit == "max_paglets"
