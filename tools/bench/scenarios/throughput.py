"""``throughput``: messages per second from host A to a paglet on host B.

Oneway: ``send_oneway("tick")`` as fast as the caller can, timed from the first send
until the paglet has counted the last one; the count is asked with ``send_future``,
which travels on the same connection as the oneway messages and is queued behind them
in the mailbox, so its answer comes after all were handled. With replies:
``send_future("echo")`` keeping a window of calls in flight (wait for the oldest when
the window is full); full mode tries windows of 32, 128 and 512 and reports each
side's best. The raw limit does the same with a pipelined DEALER.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections import defaultdict, deque

from bench_paglets import EchoPaglet, EchoState
from lab import Lab
from measure import Settings, best_rate
from report import Row, ScenarioResult, ratio_at_least

from paglets.core.messages import FutureReply
from paglets.remote.proxy import PagletProxy

WINDOW = 128
REPLY_TIMEOUT = 30.0


def _oneway(proxy: PagletProxy, count: int, budget: float) -> tuple[int, float]:
    proxy.send("reset", timeout=REPLY_TIMEOUT)
    deadline = time.monotonic() + budget
    started = time.perf_counter()
    sent = 0
    for index in range(count):
        proxy.send_oneway("tick", args={"n": index})
        sent += 1
        if index % 1024 == 0 and time.monotonic() > deadline:
            break
    counted = 0
    give_up = time.monotonic() + budget + REPLY_TIMEOUT
    while counted < sent and time.monotonic() < give_up:
        counted = int(proxy.send_future("count").get_reply(REPLY_TIMEOUT)["n"])
    return counted, time.perf_counter() - started


def _windowed(proxy: PagletProxy, count: int, window: int, budget: float) -> tuple[int, float]:
    in_flight: deque[FutureReply] = deque()
    deadline = time.monotonic() + budget
    started = time.perf_counter()
    received = 0
    for index in range(count):
        if len(in_flight) >= window:
            in_flight.popleft().get_reply(REPLY_TIMEOUT)
            received += 1
        in_flight.append(proxy.send_future("echo", args={"n": index}, timeout=REPLY_TIMEOUT))
        if index % 1024 == 0 and time.monotonic() > deadline:
            break
    while in_flight:
        in_flight.popleft().get_reply(REPLY_TIMEOUT)
        received += 1
    return received, time.perf_counter() - started


def _best_window(rates: dict[str, float], side: str, windows: tuple[int, ...]) -> tuple[int, float]:
    """The window with the best rate of ``side`` (``ours`` or ``raw``), and that rate."""
    return max(((w, rates[f"{side}_window_{w}"]) for w in windows), key=lambda item: item[1])


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Oneway and windowed throughput, ours and raw, in alternating rounds.

    Runs on a thread of its own: once a thread sent asynchronously to a host, its
    blocking calls there go through the I/O thread to stay behind what it sent
    (docs/protocol.md), and the scenarios after this one must not inherit that.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="throughput") as pool:
        return pool.submit(_run, lab, settings).result()


def _run(lab: Lab, settings: Settings) -> ScenarioResult:
    result = ScenarioResult("throughput")
    oneway_count = settings.count(20_000, 200_000)
    window_count = settings.count(10_000, 50_000)
    windows = (WINDOW,) if settings.quick else (32, WINDOW, 512)
    rounds = settings.count(2, 3)
    budget = float(settings.pick(3.0, 10.0))
    proxy = lab.host.create_remote(lab.b_address, EchoPaglet, EchoState(), timeout=REPLY_TIMEOUT)
    runs: dict[str, list[tuple[int, float]]] = defaultdict(list)
    try:
        _windowed(proxy, 500, WINDOW, 2.0)  # warm-up: connections, worker threads
        for _ in range(rounds):
            runs["raw_oneway"].append(lab.raw.oneway(oneway_count, budget))
            runs["ours_oneway"].append(_oneway(proxy, oneway_count, budget))
            for window in windows:
                runs[f"raw_window_{window}"].append(lab.raw.windowed(window_count, window, budget))
                runs[f"ours_window_{window}"].append(_windowed(proxy, window_count, window, budget))
    finally:
        proxy.dispose(timeout=REPLY_TIMEOUT)
    rates = {name: best_rate(samples) for name, samples in runs.items()}
    our_window, our_rate = _best_window(rates, "ours", windows)
    raw_window, raw_rate = _best_window(rates, "raw", windows)
    result.details = {
        "windows": list(windows),
        "runs": {
            name: [{"count": c, "seconds": s} for c, s in samples] for name, samples in runs.items()
        },
        "best_rate": rates,
    }
    result.rows = [
        Row(
            "oneway, A -> paglet on B",
            rates["ours_oneway"],
            rates["raw_oneway"],
            "msg/s",
            ratio_at_least(0.4),
        ),
        Row(
            "send_future, best window",
            our_rate,
            raw_rate,
            "msg/s",
            note=f"window: ours {our_window}, raw {raw_window}",
        ),
    ]
    return result
