"""Who may speak for a host: the rules that keep one member from posing as another.

Every host's facts carry its identity ``key``; the peer table binds each address to
the key it learnt there. Facts reach us three ways, and each may do something else:

==================  ======================================================  ==========
how                 accepted when                                           may rebind
==================  ======================================================  ==========
hello reply         we dialled the address the facts name: whoever answers  yes
                    there holds the secret and that address
                    we dialled another spelling of it: the address is not   no
                    bound yet, or bound to the same key
hello request       the caller's CURVE-authenticated key (``User-Id``)      no
                    equals the facts' key *and* the address is already
                    bound to that key; otherwise we greet the address back
gossip              it came on the SUB connected to the PUB endpoint the    no
                    table holds for that address, with the bound key
==================  ======================================================  ==========

So a member can publish and answer only as itself: it cannot reach another host's
entry without answering at that host's address or publishing from its PUB endpoint,
which the real host holds while it runs. On an insecure mesh every key is '' and the
rules only check addresses and endpoints (nothing is protected there anyway).
"""

from __future__ import annotations

import enum

from paglets.net.peers import PeerInfo, PeerTable


class Verdict(enum.Enum):
    """What to do with facts that arrived one of the three ways."""

    APPLY = "apply"  # take them (the binding stays)
    REBIND = "rebind"  # take them, replacing the key bound to the address
    GREET = "greet"  # do not take them: ask the address itself
    REJECT = "reject"  # drop them: they contradict the binding


def judge_reply(table: PeerTable, dialled: str, info: PeerInfo) -> Verdict:
    """The verdict on a ``hello`` reply from ``dialled`` (canonical) carrying ``info``."""
    if info.address == dialled:
        return Verdict.REBIND
    return _same_key(table, info, otherwise=Verdict.GREET)


def judge_request(table: PeerTable, info: PeerInfo, caller_key: str, *, secured: bool) -> Verdict:
    """The verdict on the facts of an incoming ``hello``, sent by ``caller_key``."""
    if secured and info.key != caller_key:
        return Verdict.REJECT
    known = table.get(info.address)
    if known is not None and known.key == info.key:
        return Verdict.APPLY
    return Verdict.GREET


def judge_gossip(table: PeerTable, info: PeerInfo, endpoint: str) -> Verdict:
    """The verdict on gossip facts that arrived on the SUB connected to ``endpoint``."""
    known = table.get(info.address)
    if known is None or known.pub_address != endpoint or known.key != info.key:
        return Verdict.REJECT
    return Verdict.APPLY


def _same_key(table: PeerTable, info: PeerInfo, *, otherwise: Verdict) -> Verdict:
    known = table.get(info.address)
    if known is None or known.key == info.key:
        return Verdict.APPLY
    return otherwise
