"""Benchmark ``paglets search grep`` against ripgrep alone on one generated tree.

Usage::

    uv run python tools/bench/search.py [--mb 100] [--rounds 3] [--json OUT]

It writes a tree of about ``--mb`` MiB of text (``TODO`` on about one line in 500) in
a temporary directory, starts hosts alpha, beta and gamma as ``paglets host``
processes on 127.0.0.1 (insecure, discovery off), each with the tree as its working
directory, and measures, after one untimed warm-up of each (so every figure reads a
warm page cache):

- ``rg TODO`` alone in the tree (the package's binary, output drained from a pipe),
  and ``rg --json TODO``, the output our engine parses;
- the same search through the paglets on alpha only, driven from this process with a
  ``SearchRun`` over a ``HostClient``: wall time and time to the first hit;
- the same through the CLI, ``paglets search grep TODO --host alpha --jsonl`` as a
  subprocess (so including the interpreter's start, measured apart with ``--help``);
- all three hosts at once (three times the work, in three processes).

Each figure is the median of ``--rounds`` rounds; rg and ours alternate within a round
so a slow phase of the machine hits both. The tree and the hosts are removed at the
end, also on failure. The figures go to ``OUT`` (default
``bench-results/bench-search.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paglets.cli.entry import ClientOptions
from paglets.system.search_client import SearchRun
from paglets.system.search_query import SearchQuery
from paglets.system.search_rg import find_rg

ROOT = Path(__file__).resolve().parents[2]
WORDS = "alpha beta gamma delta paglet host mesh search tree file line value state".split()


def make_tree(root: Path, megabytes: int) -> int:
    """Write about ``megabytes`` MiB of text files under ``root``; return the TODO lines."""
    rng = random.Random(7)
    pool = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) for _ in range(4096)]
    todo = 0
    target = megabytes * 1024 * 1024
    written = 0
    index = 0
    while written < target:
        directory = root / f"d{index // 50:03d}" / f"s{index % 5}"
        directory.mkdir(parents=True, exist_ok=True)
        lines = []
        for _ in range(1000):
            if rng.random() < 0.002:
                lines.append(f"TODO {rng.choice(pool)}")
                todo += 1
            else:
                lines.append(rng.choice(pool))
        data = ("\n".join(lines) + "\n").encode()
        (directory / f"f{index:05d}.txt").write_bytes(data)
        written += len(data)
        index += 1
    return todo


def start_host(name: str, cwd: Path, peers: list[str]) -> tuple[subprocess.Popen[str], str]:
    """A ``paglets host`` process in ``cwd``; returns it and its address."""
    argv = [sys.executable, "-m", "paglets.cli.app", "host", "--name", name, "--host"]
    argv += ["127.0.0.1", "--port", "0", "--no-discovery", "--insecure"]
    for peer in peers:
        argv += ["--peer", peer]
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if " listening on " in line:
            return process, line.split(" listening on ")[1].split()[0]
    stop(process)
    raise RuntimeError(f"host {name} did not start")


def stop(process: subprocess.Popen[str]) -> None:
    """Stop one child by PID: SIGTERM, then SIGKILL, each with a bounded wait."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


def time_rg(rg: Path, tree: Path, *flags: str) -> tuple[float, int]:
    """Wall seconds of ``rg [FLAGS] TODO`` in ``tree``, and the lines it printed."""
    started = time.perf_counter()
    done = subprocess.run([str(rg), *flags, "TODO"], cwd=tree, capture_output=True, check=False)
    return time.perf_counter() - started, done.stdout.count(b"\n")


def time_paglets(address: str, hosts: list[str]) -> tuple[float, float, int]:
    """Wall seconds, seconds to the first hit, and matches of a search through hosts."""
    options = ClientOptions(timeout=120, insecure=True)
    with options.client(address) as client:
        started = time.perf_counter()
        first = float("nan")
        found = 0
        with SearchRun(client, SearchQuery(pattern="TODO"), hosts, timeout=120) as run:
            run.start()
            for record in run.records(wait=0.05):
                if record["type"] == "match":
                    if found == 0:
                        first = time.perf_counter() - started
                    found += 1
            wall = time.perf_counter() - started
            failed = [h for h in run.hosts if h["state"] != "done"]
        if failed:
            raise RuntimeError(f"hosts failed: {failed}")
    return wall, first, found


def time_cli(address: str, cwd: Path) -> tuple[float, int]:
    """Wall seconds of ``paglets search grep TODO --host alpha --jsonl`` as a process."""
    argv = [sys.executable, "-m", "paglets.cli.app", "search", "grep", "TODO", "--host"]
    argv += ["alpha", "--entry", address, "--insecure", "--jsonl", "--timeout", "120"]
    env = {**os.environ, "PAGLETS_BROWSE_SECONDS": "0"}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"paglets search failed: {done.stderr[-2000:]}")
    return wall, done.stdout.count('"type": "match"')


def time_cli_start() -> float:
    """Wall seconds of ``paglets search --help``: the interpreter and imports alone."""
    argv = [sys.executable, "-m", "paglets.cli.app", "search", "--help"]
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the tree in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "bench-search.json")
    args = parser.parse_args(argv)
    rg = find_rg()
    if rg is None:
        print("the ripgrep package's rg is not installed", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="paglets-bench-search-"))
    os.environ["PAGLETS_HOME"] = str(work / "home")
    tree = work / "tree"
    tree.mkdir()
    processes: list[subprocess.Popen[str]] = []
    console = Console(width=80)
    try:
        todo = make_tree(tree, args.mb)
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        alpha, address = start_host("alpha", tree, [])
        processes.append(alpha)
        for name in ("beta", "gamma"):
            processes.append(start_host(name, tree, [address])[0])
        with ClientOptions(timeout=30, insecure=True).client(address) as client:
            deadline = time.monotonic() + 60
            while len([p for p in client.mesh()["peers"] if p["online"]]) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("beta and gamma did not join alpha")
                time.sleep(0.1)
        time_rg(rg, tree)  # warm-ups: page cache, and the hosts' first imports
        time_paglets(address, ["alpha", "beta", "gamma"])
        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for key, value in (
                ("rg", time_rg(rg, tree)[0]),
                ("rg_json", time_rg(rg, tree, "--json")[0]),
                ("one", time_paglets(address, ["alpha"])),
                ("cli", time_cli(address, ROOT)[0]),
                ("cli_start", time_cli_start()),
                ("three", time_paglets(address, ["alpha", "beta", "gamma"])),
            ):
                if isinstance(value, tuple):
                    figures.setdefault(key, []).append(value[0])
                    figures.setdefault(key + "_first", []).append(value[1])
                    figures.setdefault(key + "_found", []).append(value[2])
                else:
                    figures.setdefault(key, []).append(value)
        median = {key: statistics.median(values) for key, values in figures.items()}
        rg_lines = time_rg(rg, tree)[1]
        if not (rg_lines == median["one_found"] == todo and median["three_found"] == 3 * todo):
            raise RuntimeError(f"counts differ: rg {rg_lines}, ours {median}, tree {todo}")
        report(console, median, size, todo)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "timestamp": time.time(),
                    "tree_bytes": size,
                    "todo_lines": todo,
                    "rounds": args.rounds,
                    "median": median,
                    "all": figures,
                    "load": os.getloadavg(),
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )
        console.print(f"figures written to {args.json}", highlight=False)
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(console: Console, median: dict[str, float], size: int, todo: int) -> None:
    """Print the figures as a table that fits 80 columns."""
    table = Table(title=f"search: {size / 2**20:.0f} MiB, {todo} TODO lines (medians)")
    table.add_column("what")
    table.add_column("wall s", justify="right")
    table.add_column("first hit s", justify="right")
    table.add_column("vs rg", justify="right")
    rg_wall = median["rg"]
    rows = [
        ("rg TODO alone", rg_wall, None),
        ("rg --json TODO alone (our engine's)", median["rg_json"], None),
        ("paglets, alpha (SearchRun)", median["one"], median["one_first"]),
        ("paglets search --host alpha (CLI)", median["cli"], None),
        ("  of which the CLI's start (--help)", median["cli_start"], None),
        ("paglets, 3 hosts (SearchRun)", median["three"], median["three_first"]),
    ]
    for name, wall, first in rows:
        table.add_row(
            name,
            f"{wall:.3f}",
            "" if first is None else f"{first:.3f}",
            f"{wall / rg_wall:.2f}x",
        )
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
