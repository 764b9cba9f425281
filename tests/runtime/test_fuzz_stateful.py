"""Stateful fuzz: sequences of protocol verbs from an authenticated peer to a live host.

A hypothesis rule-based state machine plays a peer holding the mesh secret, on a raw
DEALER: ``hello``, ``transfer`` and ``transfer.commit`` (new, repeated, for a paglet
already there, aborted before, hostile records, files nobody serves), ``abort``,
``msg`` (counted adds, hostile bodies) and ``art.*`` (begin, chunks at right and
wrong offsets, commit, stat, read) in any order. After every step the host answers ``ping`` within a
bound, its paglets are exactly the ones the model expects (none lost, none
duplicated, each count what the adds made it), and it logged no unexpected failure.
The run is bounded (~20-30 s).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from helpers import TIMEOUT
from paglets.core.agent import ACTIVE, Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.ids import new_id
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.runtime.host import Host
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_state, encode_value
from paglets.wire.protocol import pack_request_header

SECRET = "stateful-fuzz-secret"
POLICY = ClassPolicy()
MAX_EXAMPLES = 100
STEPS = 40
"""About 20-30 s on a small CI machine: 100 sequences of up to 40 steps."""
PING_BOUND = 2.0
"""Seconds the host may take to answer a ping after any step."""


@dataclass
class CountState(PagletState):
    count: int = 0


class Counter(Paglet[CountState]):
    State = CountState

    def handle_message(self, message: Message) -> object:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        if message.kind == "count":
            return self.state.count
        return self.not_handled()


class ErrorLog(logging.Handler):
    """Keeps the paglets log records at ERROR and above: an unexpected exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@dataclass
class Live:
    host: Host
    peer: Host
    dealer: zmq.Socket[Any]
    errors: ErrorLog


_live: Live | None = None
_ids = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def live_host() -> Iterator[Live]:
    global _live
    host = Host(name="fuzzed", port=0, api_key=SECRET).start_background(TIMEOUT)
    peer = Host(name="peer", port=0, api_key=SECRET, peers=[host.address]).start_background(TIMEOUT)
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(host.address)
    errors = ErrorLog()
    logging.getLogger("paglets").addHandler(errors)
    _live = Live(host, peer, dealer, errors)
    try:
        yield _live
    finally:
        logging.getLogger("paglets").removeHandler(errors)
        _live = None
        dealer.close(0)
        context.term()
        peer.stop(TIMEOUT)
        host.stop(TIMEOUT)


def _live_now() -> Live:
    assert _live is not None, "the live host fixture is not running"
    return _live


def call(
    verb: str,
    body: Any = None,
    fields: dict[str, Any] | None = None,
    raw: bytes | None = None,
    blobs: tuple[bytes, ...] = (),
) -> tuple[bool, Any]:
    """Send one request; return ``(ok, decoded value)`` or ``(False, error type name)``."""
    live = _live_now()
    request_id = next(_ids)
    payload = raw if raw is not None else (b"" if body is None else encode_value(body))
    live.dealer.send_multipart([pack_request_header(request_id, verb, fields), payload, *blobs])
    deadline = time.monotonic() + 2 * TIMEOUT
    while time.monotonic() < deadline:
        if not live.dealer.poll(int(max(1, (deadline - time.monotonic()) * 1000))):
            break
        reply = live.dealer.recv_multipart()
        header = msgpack.unpackb(reply[0])
        if header.get("id") != request_id:
            continue  # a late reply to an earlier request
        if header.get("ok") is True:
            value = decode_value(reply[1], POLICY) if len(reply) > 1 and reply[1] else None
            return True, value if verb != "art.read" else reply[2:]
        return False, str(header.get("err"))
    raise AssertionError(f"{verb} got no reply within {2 * TIMEOUT}s")


def _record(agent_id: str, tid: str, state: bytes | None = None) -> dict[str, Any]:
    live = _live_now()
    return {
        "tid": tid,
        "agent_id": agent_id,
        "source_agent_id": agent_id,
        "class": class_path(Counter),
        "state_class": class_path(CountState),
        "state": encode_state(CountState()) if state is None else state,
        "reason": "dispatch",
        "source_name": "peer",
        "source_address": live.peer.address,
    }


_junk = st.binary(max_size=48)
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8) | _junk,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_CONTENT = b"stateful fuzz artifact bytes"
_DIGEST = hashlib.sha256(_CONTENT).hexdigest()


class PeerProtocol(RuleBasedStateMachine):
    """One authenticated peer against the live host; the model of what must be there."""

    arrived = Bundle("arrived")
    aborted = Bundle("aborted")

    def __init__(self) -> None:
        super().__init__()
        self.host = _live_now().host
        self.baseline = set(self._active_ids())
        self.counts: dict[str, int] = {}  # agent id -> adds answered
        self.tids: dict[str, str] = {}  # tid -> agent id, of committed transfers
        self.upload: str | None = None

    def _active_ids(self) -> list[str]:
        return [proxy.agent_id for proxy in self.host.get_proxies(ACTIVE)]

    # hello ------------------------------------------------------------------------------

    @rule()
    def hello_claiming_another_host(self) -> None:
        # Well-formed facts, but of the peer host, not of this connection's key: only the
        # process that holds a host's identity may speak for it (docs/security.md).
        facts = dict(_live_now().peer.mesh_view()["self"])
        ok, error = call("hello", facts)
        assert not ok and error == "ProtocolError"

    @rule(body=_values)
    def hello_hostile(self, body: Any) -> None:
        ok, error = call("hello", body)
        if not isinstance(body, dict):
            assert not ok and error == "ProtocolError"

    @rule(version=st.text(max_size=6).filter(lambda v: v != "dev"))
    def hello_other_mesh(self, version: str) -> None:
        facts = {**_live_now().peer.mesh_view()["self"], "mesh_version": version}
        ok, error = call("hello", facts)
        assert not ok and error == "ProtocolError"

    # transfer ---------------------------------------------------------------------------

    @rule(target=arrived)
    def transfer_new(self) -> str:
        agent_id, tid = new_id(), new_id()
        ok, value = call("transfer", _record(agent_id, tid))
        assert ok and value == "prepared", value  # staged: nothing runs before the commit
        assert agent_id not in self._active_ids()
        ok, value = call("transfer.commit", tid)
        assert ok and value == "started", value
        self.counts[agent_id] = 0
        self.tids[tid] = agent_id
        return tid

    @rule(tid=arrived)
    def transfer_repeated(self, tid: str) -> None:
        agent_id = self.tids[tid]
        ok, value = call("transfer", _record(agent_id, tid))
        if agent_id in self.counts:
            assert ok and value == "committed"  # idempotent: the same paglet, not a second one
        else:
            assert ok or value == "TransferError"

    @rule(tid=arrived)
    def commit_repeated(self, tid: str) -> None:
        ok, value = call("transfer.commit", tid)
        if self.tids[tid] in self.counts:
            assert ok and value == "started"  # a duplicated commit starts nothing twice

    @rule(tid=aborted)
    def commit_after_abort(self, tid: str) -> None:
        ok, error = call("transfer.commit", tid)
        assert not ok and error == "TransferError"

    @rule()
    def commit_unknown(self) -> None:
        ok, error = call("transfer.commit", new_id())
        assert not ok and error == "TransferError"

    @rule(tid=arrived)
    def transfer_same_paglet_new_tid(self, tid: str) -> None:
        agent_id = self.tids[tid]
        ok, error = call("transfer", _record(agent_id, new_id()))
        if agent_id in self.counts:
            assert not ok and error == "TransferError"

    @rule(target=aborted)
    def abort_unknown(self) -> str:
        tid = new_id()
        ok, value = call("abort", tid)
        assert ok and value == "aborted"
        return tid

    @rule(tid=aborted)
    def transfer_after_abort(self, tid: str) -> None:
        ok, error = call("transfer", _record(new_id(), tid))
        assert not ok and error == "TransferError"

    @rule(tid=arrived)
    def abort_committed(self, tid: str) -> None:
        ok, value = call("abort", tid)
        assert ok and value == "committed"

    @rule(field=st.sampled_from(["tid", "class", "state", "state_class", "agent_id"]), bad=_values)
    def transfer_hostile(self, field: str, bad: Any) -> None:
        record = _record(new_id(), new_id())
        if bad is None:
            del record[field]
        else:
            record[field] = bad
        ok, _ = call("transfer", record)
        agent_id = str(record.get("agent_id"))
        if ok and agent_id not in self.baseline and agent_id in self._active_ids():
            # a junk value that still reads as a valid record (an id spelled oddly)
            self.counts.setdefault(agent_id, 0)

    @rule(body=_values)
    def transfer_not_a_record(self, body: Any) -> None:
        ok, _ = call("transfer", body)
        assert not ok

    @rule()
    def transfer_with_files_nobody_serves(self) -> None:
        record = _record(new_id(), new_id())
        record["files"] = [{"name": "f", "size": 5, "sha256": "0" * 64, "mode": "copy"}]
        ok, _ = call("transfer", record)
        assert not ok

    # msg --------------------------------------------------------------------------------

    @rule(tid=arrived)
    def add(self, tid: str) -> None:
        agent_id = self.tids[tid]
        ok, value = call("msg", ["add", {}, None], {"to": agent_id})
        if agent_id in self.counts:
            self.counts[agent_id] += 1
            assert ok and value == self.counts[agent_id]

    @rule(tid=arrived, body=_junk)
    def msg_hostile(self, tid: str, body: bytes) -> None:
        ok, _ = call("msg", None, {"to": self.tids[tid]}, raw=body)
        assert not ok or body == b""

    @rule(to=st.text(max_size=12))
    def msg_nobody(self, to: str) -> None:
        ok, _ = call("msg", ["add", {}, None], {"to": to})
        assert not ok

    # art.* ------------------------------------------------------------------------------

    @rule()
    def art_begin(self) -> None:
        body = {"name": "fuzz.bin", "size": len(_CONTENT), "sha256": _DIGEST, "owner": "fuzz"}
        ok, value = call("art.begin", body)
        assert ok, value
        self.upload = value.get("upload")

    @rule(offset=st.integers(-5, 2 * len(_CONTENT)), length=st.integers(0, 40))
    def art_chunk(self, offset: int, length: int) -> None:
        if self.upload is None:
            return
        data = _CONTENT[max(0, offset) : max(0, offset) + length] or b"x"
        call("art.chunk", None, {"up": self.upload, "off": offset}, blobs=(data,))

    @rule()
    def art_commit(self) -> None:
        if self.upload is None:
            return
        call("art.commit", None, {"up": self.upload})
        self.upload = None

    @rule(
        verb=st.sampled_from(["art.stat", "art.read", "art.delete", "art.list", "art.fetch"]),
        body=_values,
    )
    def art_hostile(self, verb: str, body: Any) -> None:
        fields = {"a": body, "off": body, "len": body} if verb == "art.read" else None
        call(verb, body, fields)

    # invariants -------------------------------------------------------------------------

    @invariant()
    def answers_ping_within_the_bound(self) -> None:
        started = time.monotonic()
        ok, facts = call("ping")
        assert ok and facts["name"] == "fuzzed"
        assert time.monotonic() - started < PING_BOUND

    @invariant()
    def every_paglet_once_and_no_other(self) -> None:
        active = self._active_ids()
        assert len(active) == len(set(active)), "a paglet runs twice"
        assert set(active) - self.baseline == set(self.counts)

    @invariant()
    def nothing_failed_unexpectedly(self) -> None:
        assert _live_now().errors.records == [], "the host logged an unexpected failure"

    def teardown(self) -> None:
        for agent_id, adds in self.counts.items():
            proxy = self.host.get_proxy(agent_id)
            assert proxy.send("count", timeout=TIMEOUT) == adds
            proxy.dispose(timeout=TIMEOUT)


PeerProtocol.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
TestPeerProtocol = PeerProtocol.TestCase
