"""Hostile input: random and mutated frames from an authenticated peer to a live host.

Afterwards the host still answers, its paglets are intact, memory has not run away,
and every input was either answered with an error or logged, and logged once at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import psutil
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.runtime.host import Host
from paglets.wire.protocol import VERBS

SECRET = "fuzz-secret"
MAX_EXAMPLES = 2000


@dataclass
class TallyState(PagletState):
    count: int = 0


class TallyPaglet(Paglet[TallyState]):
    State = TallyState

    def handle_message(self, message: Message) -> object:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


class CountingHandler(logging.Handler):
    """Counts records of the paglets loggers (every thread)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.count += 1


@dataclass
class Target:
    host: Host
    agent_ids: list[str]
    dealer: zmq.Socket[Any]
    logs: CountingHandler


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    host = Host(name="fuzzed", port=0, api_key=SECRET).start_background(TIMEOUT)
    agent_ids = [host.create(TallyPaglet).agent_id for _ in range(3)]
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(host.address)
    logs = CountingHandler()
    logger = logging.getLogger("paglets")
    logger.addHandler(logs)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield Target(host, agent_ids, dealer, logs)
    finally:
        logger.removeHandler(logs)
        logger.setLevel(previous)
        dealer.close(0)
        context.term()
        host.stop()


# inputs ----------------------------------------------------------------------------------

_request_ids = st.integers(min_value=1, max_value=2**31)
_junk = st.binary(max_size=64)
# Never a kind the paglet counts, nor a control op: a forged retract or dispatch would
# make the host connect to whatever address the fuzzer made up.
_CONTROL_OPS = {"add", "dispatch", "clone", "retract", "deactivate", "activate", "dispose"}
_kinds = st.text(max_size=8).filter(lambda kind: kind not in _CONTROL_OPS)
_verbs = st.one_of(
    st.sampled_from(sorted(VERBS - {"hello"})),  # hello with a forged address would
    st.text(max_size=10).filter(lambda v: v != "hello"),  # make the host call it
)
_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
_values = st.recursive(
    st.none() | st.booleans() | _ints | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_hostile_bodies = st.one_of(
    _junk,
    st.just(b"\xdd\xff\xff\xff\xff"),  # an array claiming 4 billion items
    st.just(b"\xdb\xff\xff\xff\xf0abc"),  # a string claiming 4 GiB
    st.just(b"\x91" * 5000 + b"\x01"),  # very deep nesting
    st.just(b"\xc7\x05\x63abcde"),  # an ext type nobody defined
    _values.map(lambda value: msgpack.packb(value, use_bin_type=True)),
    st.tuples(_kinds, _values, _values).map(
        lambda message: msgpack.packb(list(message), use_bin_type=True)
    ),
)


@st.composite
def hostile_requests(draw: st.DrawFn, agent_ids: list[str]) -> tuple[list[bytes], int | None]:
    """A multipart request and the id a reply should carry (None: expect no reply)."""
    shape = draw(st.integers(min_value=0, max_value=4))
    if shape == 0:  # frames that are not a request at all
        return draw(st.lists(_junk, min_size=1, max_size=4)), None
    request_id = draw(_request_ids)
    header: dict[str, Any] = {"v": 1, "id": request_id, "verb": draw(_verbs)}
    if shape == 1:  # wrong types and versions in an otherwise shaped header
        header[draw(st.sampled_from(["v", "verb", "to", "p"]))] = draw(_values)
    header["to"] = draw(st.one_of(st.sampled_from(agent_ids), st.text(max_size=12)))
    if shape == 2:
        header["p"] = draw(st.one_of(_ints, _values))
    if shape == 3:  # a oneway request with a hostile body: no reply, one log line
        header["ow"] = True
        header["verb"] = "msg"
    frames = [msgpack.packb(header, use_bin_type=True), draw(_hostile_bodies)]
    frames.extend(draw(st.lists(_junk, max_size=2)))
    if type(header.get("id")) is not int or header.get("ow") is True:
        return frames, None
    return frames, request_id


def _drain_reply(dealer: zmq.Socket[Any], request_id: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not dealer.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            return False
        header = msgpack.unpackb(dealer.recv_multipart()[0])
        if header.get("id") == request_id:
            return True
    return False


# the test ----------------------------------------------------------------------------------


def test_a_live_host_survives_hostile_frames(target: Target) -> None:
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.monotonic()
    tried = [0]
    unanswered = [0]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(data=st.data())
    def feed(data: st.DataObject) -> None:
        frames, request_id = data.draw(hostile_requests(target.agent_ids))
        logged_before = target.logs.count
        transport = target.host._transport
        dropped_before = transport.dropped_frames
        target.dealer.send_multipart(frames)
        tried[0] += 1
        if request_id is not None and _drain_reply(target.dealer, request_id, TIMEOUT):
            return
        assert request_id is None, f"a request with an id got no reply: {frames!r}"
        unanswered[0] += 1

        # malformed frames are counted, and logged once per peer per interval with a
        # count (never one line each); other unanswered input is logged
        def noted() -> bool:
            return target.logs.count > logged_before or transport.dropped_frames > dropped_before

        deadline = time.monotonic() + TIMEOUT
        while not noted() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert noted(), f"input neither answered, counted nor logged: {frames!r}"

    feed()
    elapsed = time.monotonic() - started
    # every unanswered input was logged, and each of them once at most
    assert target.logs.count <= unanswered[0] + 1
    for agent_id in target.agent_ids:
        assert target.host.get_proxy(agent_id).send("add", timeout=TIMEOUT) == 1
    assert target.host.info()["active"] == len(target.agent_ids)
    growth = process.memory_info().rss - rss_before
    assert growth < 100 * 1024 * 1024, f"RSS grew by {growth} bytes"
    print(f"fuzz: {tried[0]} inputs in {elapsed:.1f}s, {unanswered[0]} logged instead of answered")


def test_a_message_with_an_empty_kind_does_not_wedge_the_mailbox(make_host: HostFactory) -> None:
    alpha = make_host("alpha", api_key=SECRET)
    proxy = alpha.create(TallyPaglet)
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(alpha.address)
    try:
        header = msgpack.packb({"v": 1, "id": 7, "verb": "msg", "to": proxy.agent_id})
        dealer.send_multipart([header, msgpack.packb(["", {}, None])])
        assert dealer.poll(int(TIMEOUT * 1000))
        reply = msgpack.unpackb(dealer.recv_multipart()[0])
        assert reply["id"] == 7 and reply["err"] == "SerializationError"
    finally:
        dealer.close(0)
        context.term()
    assert proxy.send("add", timeout=TIMEOUT) == 1
