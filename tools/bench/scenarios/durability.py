"""``durability``: what durable paglets, deactivation and a store-backed restart cost.

All against a host in its own process (``host_server.py``) with a persistence dir:

* messages/s to a ``DurableCounterPaglet`` (state saved after every changing message,
  before the reply) against a plain ``CounterPaglet`` on the same host in the same run
  (the limit), in alternating rounds; sequential ``send`` and a window of 32
  ``send_future``. Once with ``store_synchronous=FULL`` (the default: each checkpoint
  fsynced) and once with ``NORMAL`` (survives ``kill -9``, not a power cut);
* deactivate and activate latency (``proxy.deactivate()`` / ``proxy.activate()`` from
  a client; each one transaction);
* 10,000 idle paglets: graceful stop (all deactivated into the store), then the time
  until a new host on the same store answers, against a host on an empty store.

No bars: the figures go into the issue's note. The limit column of the durable rows is
the plain paglet's figure.
"""

from __future__ import annotations

import json
import tempfile
import time
from functools import partial
from pathlib import Path

from lab import Lab
from measure import Settings, summary_us, time_calls
from mode import host_options
from procs import Child
from report import Row, ScenarioResult

from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy

PLAIN = "paglets.examples.counter:CounterPaglet"
DURABLE = "paglets.examples.durable_counter:DurableCounterPaglet"
TIMEOUT = 30.0
WINDOW = 32


def _host(name: str, store: Path, synchronous: str = "FULL") -> Child:
    config = json.dumps({"store_synchronous": synchronous})
    return Child(
        "host_server.py",
        ["--name", name, "--persistence-dir", str(store), "--config", config],
        ready_timeout=120.0,
    )


def _increment(proxy: PagletProxy, _call: int) -> object:
    return proxy.send("increment", timeout=TIMEOUT)


def _sequential_rate(proxy: PagletProxy, count: int, budget: float) -> float:
    samples = time_calls(lambda i: proxy.send("increment", timeout=TIMEOUT), count, budget)
    return len(samples) / (sum(samples) / 1e9)


def _windowed_rate(proxy: PagletProxy, count: int) -> float:
    started = time.perf_counter()
    pending = []
    for _ in range(count):
        pending.append(proxy.send_future("increment", timeout=TIMEOUT))
        if len(pending) >= WINDOW:
            pending.pop(0).get_reply(TIMEOUT)
    for future in pending:
        future.get_reply(TIMEOUT)
    return count / (time.perf_counter() - started)


def _rates(address: str, settings: Settings) -> dict[str, float]:
    count = settings.count(200, 2000)
    budget = float(settings.pick(3.0, 10.0))
    best: dict[str, float] = {}
    with HostClient(address=address, timeout=TIMEOUT, **host_options()) as client:
        plain, durable = client.create(PLAIN), client.create(DURABLE)
        for proxy in (plain, durable):
            time_calls(partial(_increment, proxy), 20, 1.0)
        for _ in range(settings.count(1, 3)):  # alternating rounds: a slow phase hits both
            for label, proxy in (("plain", plain), ("durable", durable)):
                for kind, rate in (
                    ("seq", _sequential_rate(proxy, count, budget)),
                    ("window", _windowed_rate(proxy, count)),
                ):
                    key = f"{label}_{kind}"
                    best[key] = max(best.get(key, 0.0), rate)
    return best


def _deactivation_latency(address: str, settings: Settings) -> dict[str, dict[str, float]]:
    count = settings.count(50, 300)
    with HostClient(address=address, timeout=TIMEOUT, **host_options()) as client:
        proxies = [client.create(PLAIN) for _ in range(count)]
        deactivate = time_calls(lambda i: proxies[i].deactivate(timeout=TIMEOUT), count, 30.0)
        activate = time_calls(lambda i: proxies[i].activate(timeout=TIMEOUT), count, 30.0)
    return {"deactivate": summary_us(deactivate), "activate": summary_us(activate)}


def _restart(store: Path, count: int) -> dict[str, float]:
    with _host("bench-restart", store) as host:
        host.request({"cmd": "create_many", "count": count, "class": "IdlePaglet"}, 120.0)
        started = time.perf_counter()
        host.stop(timeout=120.0)
        stop_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with _host("bench-restart", store) as host:
        info = host.request({"cmd": "info"}, TIMEOUT)["info"]
        restart_seconds = time.perf_counter() - started
        inside = float(host.ready["start_seconds"])
    return {
        "stop_seconds": stop_seconds,
        "restart_seconds": restart_seconds,
        "restart_inside_seconds": inside,
        "inactive_after_restart": float(info["inactive"]),
    }


def _empty_start(store: Path) -> dict[str, float]:
    started = time.perf_counter()
    with _host("bench-empty", store) as host:
        host.request({"cmd": "info"}, TIMEOUT)
        return {
            "restart_seconds": time.perf_counter() - started,
            "restart_inside_seconds": float(host.ready["start_seconds"]),
        }


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Durable against plain messaging, deactivate/activate latency, restart time."""
    result = ScenarioResult("durability")
    with tempfile.TemporaryDirectory(prefix="paglets-bench-durable-") as temp:
        root = Path(temp)
        for synchronous in ("FULL", "NORMAL"):
            with _host(f"bench-durable-{synchronous}", root / synchronous, synchronous) as host:
                rates = _rates(str(host.ready["address"]), settings)
                if synchronous == "FULL":
                    latency = _deactivation_latency(str(host.ready["address"]), settings)
            result.details[f"rates_{synchronous}"] = rates
            for kind, words in (("seq", "sequential send"), ("window", f"window {WINDOW}")):
                result.rows.append(
                    Row(
                        f"durable msgs/s, {words}, synchronous={synchronous}",
                        rates[f"durable_{kind}"],
                        rates[f"plain_{kind}"],
                        "msg/s",
                        note="limit: a plain paglet on the same host, same run",
                    )
                )
        result.details["latency"] = latency
        for verb in ("deactivate", "activate"):
            result.rows.append(
                Row(f"{verb} p50 (client call, FULL)", latency[verb]["p50_us"] / 1000, None, "ms")
            )
        count = settings.count(1000, 10_000)
        restart = _restart(root / "restart", count)
        empty = _empty_start(root / "empty")
        result.details["restart"] = restart
        result.details["empty"] = empty
        result.rows.append(
            Row(f"graceful stop, {count:,} active paglets", restart["stop_seconds"], None, "s")
        )
        result.rows.append(
            Row(
                f"restart with {count:,} inactive paglets (spawn to answer)",
                restart["restart_seconds"],
                empty["restart_seconds"],
                "s",
                note=f"limit: a host on an empty store; {restart['inactive_after_restart']:.0f} "
                "inactive after restart",
            )
        )
        result.rows.append(
            Row(
                "  of which Host() to started, in the process",
                restart["restart_inside_seconds"],
                empty["restart_inside_seconds"],
                "s",
            )
        )
    return result
