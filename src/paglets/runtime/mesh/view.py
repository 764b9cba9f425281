"""The ``mesh`` verb's answer: one host's view of the mesh."""

from __future__ import annotations

import time
from typing import Any

from paglets.net.gossip import Gossip
from paglets.net.peers import PeerTable


def mesh_view(
    facts: dict[str, Any],
    peers: PeerTable,
    name: str,
    ignored: list[dict[str, Any]],
    discovery_ip: str,
    gossip: Gossip | None,
) -> dict[str, Any]:
    """Return the view: this host, its peers, hosts ignored, name clashes, gossip counts.

    Args:
        facts: this host's own facts.
        peers: its peer table.
        name: its name (clashes with it are listed too).
        ignored: hosts of another mesh or protocol version, with the reason.
        discovery_ip: the interface zeroconf runs on ("" when discovery is off).
        gossip: the gossip sockets, if open.
    """
    return {
        "self": {**facts, "online": True, "age": 0.0, "last_seen": time.time()},
        "peers": [info.to_wire() for info in peers.all()],
        "ignored": ignored,
        "clashes": [
            {"name": clash, "addresses": addresses}
            for clash, addresses in sorted(peers.clashes(name).items())
        ],
        "discovery": discovery_ip,
        "gossip": {
            "sent": gossip.sent if gossip else 0,
            "received": gossip.received if gossip else 0,
            "dropped": gossip.dropped if gossip else 0,
            "subscribed": len(gossip.endpoints) if gossip else 0,
        },
        "time": time.time(),
    }
