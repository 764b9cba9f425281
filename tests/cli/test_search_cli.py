"""``paglets search`` end to end: subprocess hosts on loopback, and the embedded default."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from host_process import start_host_process, stop_process
from paglets.cli.entry import ClientOptions, fetch_mesh_view
from paglets.runtime.config import default_port
from paglets.system.search_engine import run_search
from paglets.system.search_query import SearchQuery
from search_tree import build_tree

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PAGLETS_BROWSE_SECONDS": "0", "COLUMNS": "80"}


def _cli(*args: str, cwd: Path = ROOT, module: str = "paglets.cli.app") -> Any:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
        cwd=cwd,
        env=ENV,
    )


def _expected(tree: Path, query: SearchQuery) -> list[tuple[Any, ...]]:
    here = Path.cwd()
    found: list[dict[str, Any]] = []
    os.chdir(tree)
    try:
        run_search(query, found.append)
    finally:
        os.chdir(here)
    return sorted((r["path"], r.get("line"), r.get("text")) for r in found)


@pytest.fixture(scope="module")
def trees() -> Iterator[dict[str, Path]]:
    made = {name: Path(tempfile.mkdtemp(prefix=f"paglets-search-{name}-")) for name in ("a", "b")}
    build_tree(made["a"])
    (made["b"] / "only_on_beta.txt").write_text("TODO on beta\n")
    yield made
    for path in made.values():
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def mesh(trees: dict[str, Path]) -> Iterator[dict[str, str]]:
    """alpha runs in tree a, beta (seeded with alpha) in tree b: each has its own ``.``."""
    processes = []
    try:
        alpha, alpha_address = start_host_process("--name", "alpha", cwd=trees["a"], env=ENV)
        processes.append(alpha)
        beta, beta_address = start_host_process(
            "--name", "beta", "--peer", alpha_address, cwd=trees["b"], env=ENV
        )
        processes.append(beta)

        def joined() -> bool:
            with ClientOptions(timeout=TIMEOUT, insecure=True).client(alpha_address) as client:
                view = fetch_mesh_view(client)
            return [p["name"] for p in view["peers"] if p["online"]] == ["beta"]

        wait_for(joined, timeout=3 * TIMEOUT)
        yield {"alpha": alpha_address, "beta": beta_address}
    finally:
        for process in processes:
            stop_process(process)


def _jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_grep_jsonl_streams_each_hosts_own_files(
    mesh: dict[str, str], trees: dict[str, Path]
) -> None:
    done = _cli("search", "grep", "TODO", ".", "--entry", mesh["alpha"], "--insecure", "--jsonl")
    assert done.returncode == 0, done.stderr
    lines = _jsonl(done.stdout)
    matches = [r for r in lines if r["type"] == "match"]
    assert all(set(r) == {"type", "host", "path", "line", "text"} for r in matches)
    alpha = sorted((r["path"], r["line"], r["text"]) for r in matches if r["host"] == "alpha")
    assert alpha == _expected(trees["a"], SearchQuery(pattern="TODO", paths=(".",)))
    beta = [(r["path"], r["text"]) for r in matches if r["host"] == "beta"]
    assert beta == [("./only_on_beta.txt", "TODO on beta")]
    hosts = {r["host"]: r for r in lines if r["type"] == "host"}
    assert hosts["alpha"]["state"] == hosts["beta"]["state"] == "done"
    assert lines[-1]["type"] == "summary" and lines[-1]["hosts"] == 2
    assert lines[-1]["found"] == len(matches)


def test_grep_json_restricted_to_one_host_with_flags(
    mesh: dict[str, str], trees: dict[str, Path]
) -> None:
    args = ["search", "grep", "todo", "-i", "-c", "-t", "py", "--host", "alpha"]
    done = _cli(*args, "--entry", mesh["alpha"], "--insecure", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [h["host"] for h in document["hosts"]] == ["alpha"]
    counts = sorted((r["path"], r["count"]) for r in document["results"])
    assert counts == [("src/generated_keep.py", 1), ("src/main.py", 2), ("src/util.py", 2)]


def test_plain_output_has_a_host_prefix_and_fits_80_columns(mesh: dict[str, str]) -> None:
    done = _cli("search", "find", "only", "--entry", mesh["beta"], "--insecure")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["beta:only_on_beta.txt"]
    assert all(len(line) <= 80 for line in done.stderr.splitlines())
    assert "alpha" in done.stderr and "beta" in done.stderr  # the per-host summary


def test_nothing_found_exits_1(mesh: dict[str, str]) -> None:
    done = _cli("search", "grep", "NO_SUCH_TEXT_ANYWHERE", "--entry", mesh["alpha"], "--insecure")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grep", "a(b"], "invalid regex 'a(b'"),
        (["grep", "x", "--max-filesize", "lots"], "--max-filesize"),
        (["find", "(", "--json"], "invalid regex '('"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(args: list[str], message: str) -> None:
    done = _cli(*args, module="paglets.cli.search")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_with_no_host_the_classic_entry_point_runs_on_an_embedded_host(
    trees: dict[str, Path],
) -> None:
    if _port_taken(default_port()):
        pytest.skip(f"a host listens on the default port {default_port()}: it would be the entry")
    done = _cli("grep", "TODO", ".", "-n", cwd=trees["a"], module="paglets.cli.search")
    assert done.returncode == 0, done.stderr
    assert "in-process host" in done.stderr
    lines = done.stdout.splitlines()
    expected = _expected(trees["a"], SearchQuery(pattern="TODO", paths=(".",)))
    assert len(lines) == len(expected)
    host = lines[0].split(":", 1)[0]
    assert f"{host}:./a.txt:1:alpha TODO one" in lines


def test_a_path_missing_on_a_host_is_its_error_record_not_fatal(mesh: dict[str, str]) -> None:
    args = ["search", "grep", "TODO", "only_on_beta.txt", "--entry", mesh["alpha"]]
    done = _cli(*args, "--insecure", "--jsonl")
    assert done.returncode == 2, done.stderr
    lines = _jsonl(done.stdout)
    [error] = [r for r in lines if r["type"] == "error"]
    assert error["host"] == "alpha" and error["path"] == "only_on_beta.txt"
    assert "No such file or directory" in error["message"]
    [match] = [r for r in lines if r["type"] == "match"]
    assert match["host"] == "beta" and match["text"] == "TODO on beta"
    assert {r["host"]: r["state"] for r in lines if r["type"] == "host"} == {
        "alpha": "done",
        "beta": "done",
    }
