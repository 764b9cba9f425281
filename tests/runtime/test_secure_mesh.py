"""Hosts secured by one secret: who can talk, who cannot, and the limits that protect them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    AuthenticationError,
    ClassNotAllowedError,
    OverloadedError,
    PagletError,
    TransferError,
)
from paglets.core.messages import Message
from paglets.net.security import SECRET_VARIABLE, configure_socket, derive_keys
from paglets.remote.client import HostClient
from paglets.wire.codec import encode_value


@dataclass
class TallyState(PagletState):
    count: int = 0


class TallyPaglet(Paglet[TallyState]):
    State = TallyState

    def handle_message(self, message: Message) -> object:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        if message.kind == "hold":
            gate(message.get_arg("gate")).pass_through()
            return "released"
        return self.not_handled()


def test_hosts_sharing_a_secret_form_a_mesh(make_host: HostFactory) -> None:
    alpha = make_host("alpha", api_key="team-secret")
    beta = make_host("beta", api_key="team-secret", peers=[alpha.address])
    alpha.wait_for_host("beta", TIMEOUT)
    assert alpha.secured and beta.secured
    proxy = alpha.create(TallyPaglet)
    proxy.dispatch("beta")
    assert proxy.send("add") == 1
    assert proxy.host_url == beta.address


def test_a_host_with_another_secret_is_unreachable(make_host: HostFactory) -> None:
    alpha = make_host("alpha", api_key="team-secret", transfer_timeout=1.0)
    stranger = make_host("stranger", api_key="other-secret")
    proxy = alpha.create(TallyPaglet)
    with pytest.raises(TransferError, match="AuthenticationError"):
        proxy.dispatch(stranger.address)
    assert proxy.send("add") == 1  # still on alpha, intact
    with HostClient(address=stranger.address, api_key="team-secret", timeout=1.0) as client:
        with pytest.raises(AuthenticationError, match=SECRET_VARIABLE):
            client.health()


def test_the_default_secret_is_shared_by_hosts_of_one_user(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    beta = make_host("beta", peers=[alpha.address])
    assert alpha.secret is not None and beta.secret is not None
    assert alpha.secret.value == beta.secret.value
    alpha.wait_for_host("beta", TIMEOUT)
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        assert client.health()["name"] == "alpha"


def test_a_client_without_a_secret_is_refused(make_host: HostFactory) -> None:
    alpha = make_host("alpha", api_key="team-secret")
    with HostClient(address=alpha.address, insecure=True, timeout=1.0) as client:
        with pytest.raises(AuthenticationError, match=SECRET_VARIABLE):
            client.health()
    with HostClient(address=alpha.address, api_key="team-secret", timeout=TIMEOUT) as client:
        assert client.health()["name"] == "alpha"


def test_an_insecure_host_talks_only_to_insecure_clients(make_host: HostFactory) -> None:
    plain = make_host("plain", insecure=True)
    assert not plain.secured
    with HostClient(address=plain.address, insecure=True, timeout=TIMEOUT) as client:
        assert client.health()["name"] == "plain"
    with HostClient(address=plain.address, api_key="team-secret", timeout=1.0) as client:
        with pytest.raises(AuthenticationError):
            client.health()


def test_secret_options_that_contradict_or_are_missing_fail_clearly(
    make_host: HostFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PagletError, match="contradicts"):
        make_host("bad", insecure=True, api_key="x", start=False)
    monkeypatch.delenv("UNSET_MESH_SECRET", raising=False)
    with pytest.raises(PagletError, match="UNSET_MESH_SECRET"):
        make_host("bad", api_key_env="UNSET_MESH_SECRET", start=False)


def test_a_full_mailbox_refuses_more(make_host: HostFactory) -> None:
    alpha = make_host("alpha", max_queued_messages=3)
    proxy = alpha.create(TallyPaglet)
    held = new_gate()
    blocked = proxy.send_future("hold", args={"gate": held.key})
    held.wait_entered()
    queued = [proxy.send_future("add") for _ in range(3)]
    with pytest.raises(OverloadedError, match="mailbox"):
        proxy.send("add", timeout=TIMEOUT)
    held.open()
    assert blocked.get_reply(TIMEOUT) == "released"
    assert [future.get_reply(TIMEOUT) for future in queued] == [1, 2, 3]


def test_one_peer_cannot_keep_too_many_requests_in_flight(make_host: HostFactory) -> None:
    alpha = make_host("alpha", max_inflight_per_peer=2, api_key="team-secret")
    proxy = alpha.create(TallyPaglet)
    held = new_gate()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys("team-secret"), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(alpha.address)
    try:
        body = encode_value(["hold", {"gate": held.key}, None])
        for request_id in (1, 2, 3):
            header = msgpack.packb({"v": 1, "id": request_id, "verb": "msg", "to": proxy.agent_id})
            dealer.send_multipart([header, body])
        assert dealer.poll(int(TIMEOUT * 1000))
        refused = msgpack.unpackb(dealer.recv_multipart()[0])
        assert refused["id"] == 3 and refused["err"] == "OverloadedError"
        held.open()
        answered = set()
        for _ in range(2):
            assert dealer.poll(int(TIMEOUT * 1000))
            answered.add(msgpack.unpackb(dealer.recv_multipart()[0])["id"])
        assert answered == {1, 2}
    finally:
        held.open()
        dealer.close(0)
        context.term()


def test_a_class_outside_the_allowlist_is_never_imported(
    make_host: HostFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported.txt"
    module = tmp_path / "sneaky_paglets.py"
    module.write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('imported')\n"
        "from paglets.core.agent import Paglet\n"
        "class Sneaky(Paglet):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    alpha = make_host("alpha")
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        with pytest.raises(ClassNotAllowedError, match="sneaky_paglets"):
            client.create("sneaky_paglets:Sneaky")
        assert client.health()["active"] == 0
    assert not marker.exists()
    assert "sneaky_paglets" not in sys.modules
    wait_for(lambda: alpha.info()["active"] == 0)
