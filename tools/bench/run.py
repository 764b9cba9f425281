"""Run the paglets benchmarks against the raw pyzmq+msgpack limit, print a table, write JSON.

Usage::

    uv run python tools/bench/run.py [SCENARIO ...] [--quick] [--json OUT] [--secure]

With no scenario, all run in order. ``--quick`` runs every scenario with small counts
(CI uses it to check the benchmarks still run; the whole run stays under two minutes).
``--secure`` measures hosts with a mesh secret (CURVE) against a CURVE raw limit; by
default both sides use plain sockets (see :mod:`mode`). The JSON goes to ``OUT``, else
to ``bench-results/bench-MODE.json`` at the repository root (git-ignored).

The exit code is 0 when every scenario ran, whether or not it met its bar; 1 when a
scenario crashed; 2 on bad arguments. See README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from lab import Lab
from measure import Settings
from mode import configure as configure_mode
from mode import describe as describe_mode
from procs import BENCH_DIR, stop_all
from report import ScenarioResult, print_table, write_json
from rich.console import Console
from scenarios import artifact, discovery, durability, mobility, rtt, scale, throughput

Scenario = Callable[[Lab, Settings], ScenarioResult]

SCENARIOS: dict[str, Scenario] = {
    "rtt-local": rtt.run_local,
    "rtt-remote": rtt.run_remote,
    "throughput": throughput.run,
    "create": mobility.run_create,
    "dispatch": mobility.run_dispatch,
    "clone": mobility.run_clone,
    "artifact": artifact.run,
    "scale": scale.run,
    "discovery": discovery.run,
    "durability": durability.run,
}

DEFAULT_RESULTS = BENCH_DIR.parent.parent / "bench-results"

# A run that exceeds this is stuck: dump every thread's stack and exit. The children
# notice their stdin closing and exit too.
HARD_LIMIT_SECONDS = {"quick": 300, "full": 1200}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="paglets benchmarks against the raw pyzmq+msgpack limit"
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts (CI smoke run)")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help="write all figures here (default: bench-results/bench-MODE.json, git-ignored)",
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="hosts with a mesh secret (CURVE), raw limit with CURVE",
    )
    options = parser.parse_args(argv)
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return options


def run_one(name: str, lab: Lab, settings: Settings, console: Console) -> ScenarioResult:
    """Run one scenario; a crash becomes an ``error`` result with the traceback's last line."""
    console.print(f"[bold]{name}[/] ...", end=" ")
    started = time.perf_counter()
    try:
        result = SCENARIOS[name](lab, settings)
    except Exception as exc:
        result = ScenarioResult(name, status="error", reason=f"{type(exc).__name__}: {exc}")
        result.details["traceback"] = traceback.format_exc()
    result.seconds = time.perf_counter() - started
    console.print(f"{result.status} in {result.seconds:.1f}s")
    if result.status == "error":
        console.print(result.details["traceback"], markup=False, highlight=False)
    return result


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    mode = "quick" if options.quick else "full"
    settings = Settings(quick=options.quick)
    names = options.scenarios or list(SCENARIOS)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    faulthandler.dump_traceback_later(HARD_LIMIT_SECONDS[mode], exit=True)
    console = Console(width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="paglets-bench-home-") as home:
        configure_mode(options.secure, home)
        console.print(f"{mode} run, {describe_mode()}")
        try:
            with Lab() as lab:
                for name in names:
                    results.append(run_one(name, lab, settings, console))
        finally:
            leftovers = stop_all()
            faulthandler.cancel_dump_traceback_later()
    seconds = time.perf_counter() - started
    print_table(results, console, caption=describe_mode())
    console.print(
        f"{mode} run of {len(results)} scenario(s) took {seconds:.1f}s; {describe_mode()}"
    )
    if leftovers:
        console.print(f"[yellow]stopped leftover children: {leftovers}[/]")
    json_path = options.json or DEFAULT_RESULTS / f"bench-{mode}.json"
    write_json(json_path, results, mode, seconds, describe_mode())
    console.print(f"figures written to {json_path}")
    return 1 if any(result.status == "error" for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
