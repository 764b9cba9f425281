"""``create``, ``dispatch`` and ``clone``: the cost of bringing paglets into being and moving them.

* create: ``host.create_remote(B, EchoPaglet, state)`` from host A (the user-visible
  path; bar: p50 <= 2x the raw round trip), ``HostClient.create`` and the local
  ``host.create`` (no bar).
* dispatch, one hop from the paglet's host: ``host.dispatch(agent, B)`` on host A, where
  the :class:`~bench_paglets.MoverPaglet` lives, timed until the target acknowledged
  (the paglet runs on B); an untimed retract brings it back for the next hop. Small
  state (bar: p50 <= 4x the raw round trip) and a 1 MiB state (limit: a raw request
  carrying 1 MiB with a small reply).
* dispatch asked from a third host: ``proxy.dispatch(C)`` / ``proxy.dispatch(B)`` from
  host A moves the paglet back and forth between B and C: a control call A -> source
  on top of the hop (no bar).
* clone: ``proxy.clone(C)`` of a paglet on host B, from host A.

Paglets created here are disposed at the end so later scenarios see quiet hosts.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from bench_paglets import BlobState, EchoPaglet, EchoState, MoverPaglet
from lab import Lab
from measure import MIB, Settings, summary_us, time_calls
from mode import host_options
from report import Row, ScenarioResult, ratio_at_most

from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy

TIMEOUT = 30.0


def _dispose_all(proxies: list[PagletProxy]) -> None:
    for proxy in proxies:
        try:
            proxy.dispose(timeout=TIMEOUT)
        except Exception:  # a leftover paglet only costs memory on a host we stop anyway
            continue


def _ms(stats: dict[str, float], key: str = "p50_us") -> float:
    return stats[key] / 1000


def run_create(lab: Lab, settings: Settings) -> ScenarioResult:
    """Remote create (A on B), HostClient create and local create, against raw RTT."""
    result = ScenarioResult("create")
    count = settings.count(300, 3000)
    budget = float(settings.pick(3.0, 10.0))
    host = lab.host
    created: list[PagletProxy] = []

    def remote(index: int) -> None:
        created.append(
            host.create_remote(lab.b_address, EchoPaglet, EchoState(index), timeout=TIMEOUT)
        )

    def local(index: int) -> None:
        created.append(host.create(EchoPaglet, EchoState(index)))

    try:
        time_calls(remote, 50, 2.0)
        raw_samples = lab.raw.round_trips(count, budget)
        remote_samples = time_calls(remote, count, budget)
        with HostClient(address=lab.b_address, timeout=TIMEOUT, **host_options()) as client:
            made: list[PagletProxy] = []
            time_calls(lambda i: made.append(client.create(EchoPaglet, EchoState(i))), 50, 2.0)
            client_samples = time_calls(
                lambda i: made.append(client.create(EchoPaglet, EchoState(i))), count, budget
            )
            # dispose through host A once the client is closed
            created.extend(host.proxy(proxy.agent_id, proxy.host_url) for proxy in made)
        local_samples = time_calls(local, count, budget)
        ordered_samples = _after_oneway(lambda: time_calls(remote, count, budget), lab)
        raw_samples += lab.raw.round_trips(count, budget)
    finally:
        _dispose_all(created)
    raw, remote_stats = summary_us(raw_samples), summary_us(remote_samples)
    client_stats, local_stats = summary_us(client_samples), summary_us(local_samples)
    ordered_stats = summary_us(ordered_samples)
    result.details = {
        "raw": raw,
        "create_remote": remote_stats,
        "host_client": client_stats,
        "local": local_stats,
        "create_remote_after_oneway": ordered_stats,
    }
    result.rows = [
        Row(
            "create_remote A -> B, p50",
            remote_stats["p50_us"],
            raw["p50_us"],
            "us",
            ratio_at_most(2.0),
        ),
        Row("create_remote A -> B, p99", remote_stats["p99_us"], raw["p99_us"], "us"),
        Row("HostClient.create, p50", client_stats["p50_us"], raw["p50_us"], "us"),
        Row("local Host.create, p50", local_stats["p50_us"], raw["p50_us"], "us"),
        Row(
            "create_remote after send_oneway, p50",
            ordered_stats["p50_us"],
            raw["p50_us"],
            "us",
            note="a thread that sent oneway to B: ordered through the I/O thread",
        ),
    ]
    return result


def _after_oneway(measure: Callable[[], list[int]], lab: Lab) -> list[int]:
    """Run ``measure`` on a fresh thread that first sent a oneway message to host B.

    From then on that thread's blocking calls to B go through the I/O thread, so they
    cannot overtake what it sent asynchronously (docs/protocol.md): this is their cost.
    """

    def run() -> list[int]:
        proxy = lab.host.create_remote(lab.b_address, EchoPaglet, EchoState(), timeout=TIMEOUT)
        try:
            proxy.send_oneway("tick")
            proxy.send("count", timeout=TIMEOUT)
            return measure()
        finally:
            proxy.dispose(timeout=TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ordered") as pool:
        return pool.submit(run).result()


def _hops(lab: Lab, state: BlobState, count: int, budget: float) -> list[int]:
    proxy = lab.host.create_remote(lab.b_address, MoverPaglet, state, timeout=TIMEOUT)
    targets = (lab.c_address, lab.b_address)
    try:
        time_calls(lambda i: proxy.dispatch(targets[i % 2], timeout=TIMEOUT), 4, 5.0)
        samples = time_calls(
            lambda i: proxy.dispatch(targets[i % 2], timeout=TIMEOUT), count, budget
        )
        arrived = proxy.send("size", timeout=TIMEOUT)
        if arrived["bytes"] != len(state.blob):
            raise RuntimeError(f"the state did not travel intact: {arrived}")
    finally:
        _dispose_all([proxy])
    return samples


def _own_hops(lab: Lab, state: BlobState, count: int, budget: float) -> list[int]:
    host = lab.host
    proxy = host.create(MoverPaglet, state)
    samples: list[int] = []

    def hop_and_back(index: int) -> None:
        started = time.perf_counter_ns()
        host.dispatch(proxy.agent_id, lab.b_address, timeout=TIMEOUT)
        samples.append(time.perf_counter_ns() - started)
        host.retract(lab.b_address, proxy.agent_id, timeout=TIMEOUT)

    try:
        time_calls(hop_and_back, 4, 5.0)
        samples.clear()
        time_calls(hop_and_back, count, budget)
        arrived = proxy.send("size", timeout=TIMEOUT)
        if arrived["bytes"] != len(state.blob):
            raise RuntimeError(f"the state did not travel intact: {arrived}")
    finally:
        _dispose_all([proxy])
    return samples


def run_dispatch(lab: Lab, settings: Settings) -> ScenarioResult:
    """Per-hop dispatch time, small state and 1 MiB state."""
    result = ScenarioResult("dispatch")
    budget = float(settings.pick(3.0, 10.0))
    own_small = _own_hops(lab, BlobState(b"x" * 64), settings.count(200, 2000), budget)
    own_large = _own_hops(lab, BlobState(bytes(MIB)), settings.count(20, 200), budget)
    small = _hops(lab, BlobState(b"x" * 64), settings.count(200, 2000), budget)
    large = _hops(lab, BlobState(bytes(MIB)), settings.count(20, 200), budget)
    raw_small = lab.raw.round_trips(settings.count(2000, 10000), budget)
    raw_large = lab.raw.round_trips(
        settings.count(50, 300), budget, args={"blob": bytes(MIB)}, kind="blob"
    )
    stats = {
        "own_small": summary_us(own_small),
        "own_1mib": summary_us(own_large),
        "small": summary_us(small),
        "1mib": summary_us(large),
        "raw": summary_us(raw_small),
        "raw_1mib": summary_us(raw_large),
    }
    result.details = {
        **stats,
        "path": "own: A.dispatch(agent on A, B); third host: A proxy.dispatch, B <-> C",
    }
    result.rows = [
        Row(
            "one hop, small state, p50",
            _ms(stats["own_small"]),
            _ms(stats["raw"]),
            "ms",
            ratio_at_most(4.0),
        ),
        Row(
            "one hop, small state, p99",
            _ms(stats["own_small"], "p99_us"),
            _ms(stats["raw"], "p99_us"),
            "ms",
        ),
        Row(
            "one hop, 1 MiB state, p50",
            _ms(stats["own_1mib"]),
            _ms(stats["raw_1mib"]),
            "ms",
            note="limit: raw 1 MiB request",
        ),
        Row(
            "asked from a third host, small, p50",
            _ms(stats["small"]),
            _ms(stats["raw"]),
            "ms",
            note="control call + hop",
        ),
        Row(
            "asked from a third host, 1 MiB, p50",
            _ms(stats["1mib"]),
            _ms(stats["raw_1mib"]),
            "ms",
            note="control call + hop",
        ),
    ]
    return result


def run_clone(lab: Lab, settings: Settings) -> ScenarioResult:
    """Clone of a paglet on host B to host C, asked from host A."""
    result = ScenarioResult("clone")
    budget = float(settings.pick(3.0, 10.0))
    original = lab.host.create_remote(
        lab.b_address, MoverPaglet, BlobState(b"x" * 64), timeout=TIMEOUT
    )
    copies: list[PagletProxy] = []
    try:
        time_calls(lambda i: copies.append(original.clone(lab.c_address, timeout=TIMEOUT)), 10, 2.0)
        samples = time_calls(
            lambda i: copies.append(original.clone(lab.c_address, timeout=TIMEOUT)),
            settings.count(200, 1000),
            budget,
        )
    finally:
        _dispose_all([original, *copies])
    raw_samples = lab.raw.round_trips(settings.count(2000, 10000), budget)
    stats, raw = summary_us(samples), summary_us(raw_samples)
    result.details = {"clone": stats, "raw": raw, "path": "A: proxy.clone(C) of a paglet on B"}
    result.rows = [
        Row("clone B -> C, p50", _ms(stats), _ms(raw), "ms"),
        Row("clone B -> C, p99", _ms(stats, "p99_us"), _ms(raw, "p99_us"), "ms"),
    ]
    return result
