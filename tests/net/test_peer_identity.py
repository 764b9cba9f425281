"""Per-host identity: a member of the mesh cannot speak for another host.

Three hosts share the mesh secret; ``mallory`` is one of them and tries to pass facts
off as ``beta``'s to ``alpha``: on its own gossip PUB, in a ``hello`` naming beta's
address, and in a ``hello`` naming beta's key. Each is refused, beta's entry at alpha
keeps beta's own facts.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import HostFactory, join_mesh
from helpers import wait_for
from paglets.core.errors import ProtocolError
from paglets.runtime.host import Host
from paglets.wire.codec import encode_value
from paglets.wire.protocol import VERB_HELLO


@pytest.fixture
def mesh(make_host: HostFactory) -> tuple[Host, Host, Host]:
    alpha = make_host("alpha")
    beta = make_host("beta", peers=[alpha.address])
    mallory = make_host("mallory", peers=[alpha.address])
    join_mesh(alpha, beta, mallory)
    return alpha, beta, mallory


def _facts_of(host: Host) -> dict[str, Any]:
    return dict(host._membership.facts())


def _entry(viewer: Host, host: Host) -> Any:
    entry = viewer._peers.get(host.address)
    assert entry is not None
    return entry


def test_every_host_announces_its_own_identity_key(mesh: tuple[Host, Host, Host]) -> None:
    alpha, beta, mallory = mesh
    keys = {h._transport.identity_key for h in mesh}
    assert len(keys) == 3 and all(len(key) == 40 for key in keys)
    assert _entry(alpha, beta).key == beta._transport.identity_key
    assert _entry(beta, alpha).key == alpha._transport.identity_key
    assert _entry(alpha, mallory).key == mallory._transport.identity_key


def test_forged_gossip_for_another_host_is_rejected(mesh: tuple[Host, Host, Host]) -> None:
    alpha, beta, mallory = mesh
    forged = {**_facts_of(beta), "seq": 10**9, "tags": ["forged"], "load": 99.0}
    gossip = mallory._membership.heartbeat.gossip
    assert gossip is not None
    before = alpha._membership.heartbeat.rejected

    def rejected() -> bool:
        gossip.publish(forged)
        return alpha._membership.heartbeat.rejected > before

    wait_for(rejected, message="alpha never saw mallory's forged gossip")
    leaving = {**forged, "leaving": True}
    wait_for(lambda: gossip.publish(leaving) or alpha._membership.heartbeat.rejected > before + 1)
    entry = _entry(alpha, beta)
    assert "forged" not in entry.tags and entry.load != 99.0
    assert entry.online
    assert _entry(alpha, mallory).name == "mallory"  # its own facts still count


def test_a_hello_naming_another_hosts_address_does_not_replace_it(
    mesh: tuple[Host, Host, Host],
) -> None:
    alpha, beta, mallory = mesh
    forged = {**_facts_of(mallory), "address": beta.address, "name": "beta", "tags": ["forged"]}
    forged["seq"] = 10**9
    mallory._transport.call(alpha.address, VERB_HELLO, encode_value(forged), timeout=5)
    entry = _entry(alpha, beta)
    assert entry.key == beta._transport.identity_key
    assert "forged" not in entry.tags


def test_a_hello_naming_another_hosts_key_is_refused(mesh: tuple[Host, Host, Host]) -> None:
    alpha, beta, mallory = mesh
    forged = {**_facts_of(beta), "seq": 10**9, "tags": ["forged"]}
    with pytest.raises(ProtocolError, match="authenticated as"):
        mallory._transport.call(alpha.address, VERB_HELLO, encode_value(forged), timeout=5)
    assert "forged" not in _entry(alpha, beta).tags
