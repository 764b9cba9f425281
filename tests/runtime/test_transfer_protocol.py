"""The hand-off's uncertain cases: a slow target, and an abort that overtakes a transfer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import TransferError
from paglets.core.events import MobilityEvent
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.remote import proxy as proxy_module
from paglets.runtime.persistence.host_store import HostStore
from paglets.runtime.persistence.memory_transfer_log import MemoryTransferLog
from paglets.runtime.persistence.transfer_log import (
    COMMITTED,
    DONE,
    IN,
    OUT,
    PREPARED,
    TransferLog,
)
from paglets.wire.codec import encode_value

SECRET = "transfer-secret"


@dataclass
class SlowState(PagletState):
    arrival_gate: str = ""
    count: int = 0


class SlowArrival(Paglet[SlowState]):
    State = SlowState

    def on_arrival(self, event: MobilityEvent) -> None:
        if self.state.arrival_gate:
            gate(self.state.arrival_gate).pass_through()

    def handle_message(self, message: Message) -> object:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


def test_a_target_slower_than_the_timeout_still_ends_with_one_paglet(
    make_host: HostFactory,
) -> None:
    alpha = make_host("alpha", api_key=SECRET)
    beta = make_host("beta", api_key=SECRET)
    held = new_gate()
    proxy = alpha.create(SlowArrival, SlowState(arrival_gate=held.key))
    assert proxy.send("add", timeout=TIMEOUT) == 1

    # on_arrival holds the transfer's answer past the source's 0.5 s timeout; the
    # source then asks abort, which answers "committed" (the paglet is arriving), so
    # the dispatch succeeds and the source lets go: the paglet lives on beta only.
    def release_once_dispatched() -> None:
        held.wait_entered(2 * TIMEOUT)
        wait_for(lambda: alpha.list_events()[-1].kind == "dispatch", timeout=2 * TIMEOUT)
        held.open()

    releaser = threading.Thread(target=release_once_dispatched)
    releaser.start()
    try:
        moved = alpha.dispatch(proxy.agent_id, beta.address, timeout=0.5)
    finally:
        releaser.join(3 * TIMEOUT)
    assert moved.host_url == beta.address
    assert alpha.info()["active"] == 0
    wait_for(lambda: beta.info()["active"] == 1)
    assert proxy.send("add", timeout=TIMEOUT) == 2


def test_an_abort_seen_first_refuses_the_late_transfer(make_host: HostFactory) -> None:
    beta = make_host("beta", api_key=SECRET)
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(beta.address)
    record = {
        "tid": "late-transfer",
        "agent_id": "a" * 32,
        "source_agent_id": "a" * 32,
        "class": f"{SlowArrival.__module__}:{SlowArrival.__qualname__}",
        "state_class": f"{SlowState.__module__}:{SlowState.__qualname__}",
        "state": msgpack.packb({}),
        "reason": "dispatch",
        "source_name": "alpha",
        "source_address": "tcp://127.0.0.1:1",
    }

    def ask(request_id: int, verb: str, value: object) -> dict[str, object]:
        header = msgpack.packb({"v": 1, "id": request_id, "verb": verb})
        dealer.send_multipart([header, encode_value(value)])
        assert dealer.poll(int(TIMEOUT * 1000))
        frames = dealer.recv_multipart()
        reply = msgpack.unpackb(frames[0])
        reply["body"] = msgpack.unpackb(frames[1]) if frames[1] else None
        return reply

    try:
        assert ask(1, "abort", "late-transfer")["body"] == "aborted"
        refused = ask(2, "transfer", record)
        assert refused["ok"] is False and refused["err"] == "TransferError"
        assert "aborted" in str(refused["msg"])
        assert beta.info()["active"] == 0
        record["tid"] = "on-time"
        assert ask(3, "transfer", record)["body"] == "prepared"
        assert ask(4, "transfer", record)["body"] == "prepared"  # repeated: idempotent
        assert beta.info()["active"] == 0  # prepared only: nothing starts before a commit
        assert ask(5, "transfer.commit", "on-time")["body"] == "started"
        assert ask(6, "transfer.commit", "on-time")["body"] == "started"  # idempotent
        assert ask(7, "transfer", record)["body"] == "committed"
        assert ask(8, "abort", "on-time")["body"] == "committed"
        assert beta.info()["active"] == 1
    finally:
        dealer.close(0)
        context.term()


def test_a_remote_dispatch_without_a_timeout_reports_the_transfer_error(
    make_host: HostFactory, dead_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy tells the paglet's host how long the move may take and waits longer,
    # so the caller hears the host's TransferError rather than its own time-out.
    monkeypatch.setattr(proxy_module, "DEFAULT_MOVE_TIMEOUT", 1.0)
    alpha = make_host("alpha", api_key=SECRET)
    beta = make_host("beta", api_key=SECRET, peers=[alpha.address])
    alpha.wait_for_host("beta", TIMEOUT)
    proxy = alpha.create_remote("beta", SlowArrival)
    with pytest.raises(TransferError):
        proxy.dispatch(dead_address)
    assert proxy.send("add", timeout=TIMEOUT) == 1
    assert proxy.host_url == beta.address


@pytest.mark.parametrize("kind", ["database", "memory"])
def test_both_transfer_logs_keep_the_same_phases(tmp_path: Path, kind: str) -> None:
    store = HostStore(tmp_path if kind == "database" else None)
    log = TransferLog(store) if kind == "database" else MemoryTransferLog(store)
    try:
        log.begin("t1", OUT, "a", "peer", {"state": b"s"}, 5.0)
        log.begin("t2", IN, "b", "peer", {"state": b"x"}, 6.0)
        assert log.phase("t1", OUT) == PREPARED and log.phase("t1", IN) is None
        assert not log.move("t1", OUT, DONE, expect=COMMITTED)  # not in that phase
        assert log.move("t1", OUT, COMMITTED, expect=PREPARED)
        assert [(e.tid, e.phase, e.record) for e in log.unsettled()] == [
            ("t2", PREPARED, {"state": b"x"}),
            ("t1", COMMITTED, {"state": b"s"}),  # last touched last
        ]
        assert log.settle(["t1", "t2"], OUT, COMMITTED) == 1  # t2 is an "in" record
        entry = log.get("t1", OUT)
        assert entry is not None and entry.phase == DONE and entry.record == {}
        assert log.phases(OUT) == [DONE] and log.phases(IN) == [PREPARED]
        assert log.forget_settled(time.time() + 1) == 1
        assert log.get("t1", OUT) is None and log.phase("t2", IN) == PREPARED
    finally:
        store.close()
