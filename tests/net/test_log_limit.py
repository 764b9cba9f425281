"""Malformed input is logged once per peer per interval, with a count, never flooded."""

from __future__ import annotations

import logging

import pytest
import zmq

from helpers import wait_for
from paglets.net.log_limit import RateLimitedLog
from paglets.net.transport import IncomingRequest, Transport, TransportConfig

log = logging.getLogger("paglets.test.limit")


def test_one_line_per_source_per_interval_then_the_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("paglets.net.log_limit.time.monotonic", lambda: clock[0])
    limited = RateLimitedLog(log, interval=10.0)
    with caplog.at_level(logging.WARNING, logger=log.name):
        written = [limited.warning("peer-a", "junk from %s: %s", "bad header") for _ in range(500)]
        limited.warning("peer-b", "junk from %s: %s", "bad header")
        clock[0] += 10.5
        limited.warning("peer-a", "junk from %s: %s", "bad header")
    assert written.count(True) == 1
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "junk from peer-a: bad header"
    assert lines[1] == "junk from peer-b: bad header"
    assert lines[2] == "junk from peer-a: bad header (and 499 more like it in the last 10s)"
    assert limited.total == 502


def test_distinct_sources_are_bounded() -> None:
    limited = RateLimitedLog(log, interval=60.0, max_sources=100)
    for n in range(10_000):
        limited.warning(f"10.0.{n // 256}.{n % 256}", "junk from %s")
    assert limited.sources() == 100


def test_a_flood_of_malformed_frames_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: IncomingRequest) -> None:
        request.reply(b"")

    server = Transport("target", TransportConfig(port=0), echo)
    server.start()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(server.address)
    frames = 5_000
    try:
        with caplog.at_level(logging.WARNING, logger="paglets.net.transport"):
            for _ in range(frames):
                dealer.send_multipart([b"\xc1 not msgpack", b""])
            wait_for(lambda: server.dropped_frames == frames, timeout=20.0)
        lines = [r for r in caplog.records if "malformed" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert "127.0.0.1" in lines[0].getMessage()
    finally:
        dealer.close(0)
        context.term()
        server.stop()
