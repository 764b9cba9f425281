"""``rtt-remote`` and ``rtt-local``: one synchronous message round trip, p50 and p99.

Remote: ``proxy.send("echo", args={"n": i})`` from user code on host A (this process) to an
:class:`~bench_paglets.EchoPaglet` on host B (another process): the path an application
takes. ``HostClient`` (a script that runs no host) is measured too, without a bar.
Local: the same call to a paglet on host A itself. The limit is the raw DEALER/ROUTER
round trip of the same frames to the raw server in another process; raw and ours are
measured in alternating rounds.
"""

from __future__ import annotations

from bench_paglets import EchoPaglet, EchoState
from lab import Lab
from measure import Settings, interleaved, summary_us, time_calls
from mode import host_options
from report import Row, ScenarioResult, ratio_at_most

from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy

CALL_TIMEOUT = 10.0


def _knobs(settings: Settings) -> tuple[int, int, float]:
    """(calls per round, rounds, seconds per round)."""
    return settings.count(2000, 20000), settings.count(2, 3), float(settings.pick(2.0, 8.0))


def _measure(lab: Lab, proxy: PagletProxy, settings: Settings) -> tuple[list[int], list[int]]:
    count, rounds, budget = _knobs(settings)

    def ours() -> list[int]:
        return time_calls(
            lambda i: proxy.send("echo", args={"n": i}, timeout=CALL_TIMEOUT), count, budget
        )

    def raw() -> list[int]:
        return lab.raw.round_trips(count, budget)

    time_calls(lambda i: proxy.send("echo", args={"n": i}, timeout=CALL_TIMEOUT), 200, 2.0)
    lab.raw.round_trips(200, 2.0)
    return interleaved(rounds, raw, ours)


def run_remote(lab: Lab, settings: Settings) -> ScenarioResult:
    """Round trip from host A to a paglet on host B, against the raw round trip."""
    result = ScenarioResult("rtt-remote")
    proxy = lab.host.create_remote(lab.b_address, EchoPaglet, EchoState(), timeout=CALL_TIMEOUT)
    try:
        raw_samples, our_samples = _measure(lab, proxy, settings)
        count, _, budget = _knobs(settings)
        with HostClient(address=lab.b_address, timeout=CALL_TIMEOUT, **host_options()) as client:
            client_proxy = client.get_proxy(proxy.agent_id)
            time_calls(lambda i: client_proxy.send("echo", args={"n": i}), 200, 2.0)
            client_samples = time_calls(
                lambda i: client_proxy.send("echo", args={"n": i}), count, budget
            )
    finally:
        proxy.dispose(timeout=CALL_TIMEOUT)
    raw, ours, client_stats = (
        summary_us(raw_samples),
        summary_us(our_samples),
        summary_us(client_samples),
    )
    result.details = {
        "raw": raw,
        "ours": ours,
        "host_client": client_stats,
        "path": "Host A proxy.send -> paglet on host B (other process)",
    }
    result.rows = [
        Row("sync send p50, host A -> B", ours["p50_us"], raw["p50_us"], "us", ratio_at_most(2.5)),
        Row("sync send p99, host A -> B", ours["p99_us"], raw["p99_us"], "us"),
        Row("HostClient send p50", client_stats["p50_us"], raw["p50_us"], "us"),
    ]
    return result


def run_local(lab: Lab, settings: Settings) -> ScenarioResult:
    """Round trip to a paglet on the caller's own host, against the raw *remote* trip."""
    result = ScenarioResult("rtt-local")
    proxy = lab.host.create(EchoPaglet, EchoState())
    try:
        raw_samples, our_samples = _measure(lab, proxy, settings)
    finally:
        proxy.dispose(timeout=CALL_TIMEOUT)
    raw, ours = summary_us(raw_samples), summary_us(our_samples)
    result.details = {"raw_remote": raw, "ours": ours, "path": "Host A proxy.send -> paglet on A"}
    result.rows = [
        Row(
            "sync send p50, same host",
            ours["p50_us"],
            raw["p50_us"],
            "us",
            ratio_at_most(1.5),
            note="limit: raw remote RTT",
        ),
        Row("sync send p99, same host", ours["p99_us"], raw["p99_us"], "us"),
    ]
    return result
