"""The compute examples end to end: analysis, perf and mesh-benchmark.

Each runs through the CLI, on an in-process (embedded) host and on real loopback
hosts given by ``--entry``; the assertions read what the commands produced (the
SQLite file, the JSON rows) and what they left on the hosts.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import HostFactory, join_mesh
from helpers import TIMEOUT, free_port, wait_for
from paglets.cli import jobs_common
from paglets.cli.app import app
from paglets.cli.embedded import embedded_host_name, open_entry
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.runtime.host import Host

SMALL_ANALYSIS = ["--rows", "200", "--features", "4", "--trees", "5", "--target-runtime", "0.5"]
SMALL_PERF = ["--seconds", "0.05", "--memory-mb", "4", "--disk-mb", "2"]
SMALL_MESH = ["--pings", "5", "--transfers", "3", "--payload-kb", "64"]


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """No zeroconf browse, no load gate, and no host of this machine taken as the entry."""
    monkeypatch.setenv("PAGLETS_BROWSE_SECONDS", "0")
    monkeypatch.setenv("PAGLETS_MAX_LOAD_PER_CPU", "none")  # the test box runs other work
    nobody = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setattr(jobs_common, "open_entry", functools.partial(open_entry, local=nobody))


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["examples", *args], env={"COLUMNS": "80"})


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


def db_rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM analysis_results ORDER BY task")]


def example_paglets(host: Host) -> list[str]:
    """Ids of the host's paglets (active or not) of the examples' classes."""
    proxies = host.get_proxies(ACTIVE | INACTIVE)
    return [p.agent_id for p in proxies if "paglets.examples" in str(p.info())]


@pytest.fixture
def mesh_of_two(compute_host: HostFactory) -> tuple[Host, Host]:
    alpha = compute_host("alpha")
    beta = compute_host("beta", peers=[alpha.address])
    join_mesh(alpha, beta)
    return alpha, beta


# analysis -----------------------------------------------------------------------------


def _check_analysis_rows(rows: list[dict[str, Any]], tasks: int, hosts: set[str]) -> None:
    assert [row["task"] for row in rows] == list(range(tasks))
    assert len({row["job_id"] for row in rows}) == tasks
    assert len({row["campaign"] for row in rows}) == 1
    for row in rows:
        assert row["status"] == "succeeded", row
        assert row["host"] in hosts
        assert (row["rows"], row["features"], row["trees"]) == (200, 4, 5)
        assert 0.5 < row["test_accuracy"] <= 1.0  # a learnable problem beats a coin
        assert 0.5 < row["train_accuracy"] <= 1.0
        assert row["seconds"] >= 0.5  # padded up to the target runtime
        assert row["bootstrap_rounds"] >= 2 and row["accuracy_std"] >= 0
        assert 0 <= row["top_feature"] < 4
        assert row["finished_at"] >= row["submitted_at"]


def test_analysis_on_an_embedded_host_writes_one_row_per_task(tmp_path: Path) -> None:
    db = tmp_path / "results" / "analysis.sqlite"
    result = invoke("analysis", "--tasks", "3", "--db", str(db), *SMALL_ANALYSIS, "--json")
    answer = json_of(result)
    assert "in-process host" in result.stderr
    rows = db_rows(db)
    _check_analysis_rows(rows, 3, {embedded_host_name()})
    assert [row["job_id"] for row in answer["rows"]] == [row["job_id"] for row in rows]
    # a second campaign appends to the same file
    json_of(invoke("analysis", "--tasks", "1", "--db", str(db), *SMALL_ANALYSIS, "--json"))
    assert len(db_rows(db)) == 4


def test_analysis_across_two_hosts(mesh_of_two: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, beta = mesh_of_two
    db = tmp_path / "analysis.sqlite"
    args = ["--entry", alpha.address, "--tasks", "2", "--db", str(db), *SMALL_ANALYSIS]
    result = invoke("analysis", *args)
    assert result.exit_code == 0, result.output
    _check_analysis_rows(db_rows(db), 2, {"alpha", "beta"})
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the compute hosts use CPUs 0 and 1")
def test_analysis_from_a_home_host_runs_on_the_compute_hosts(
    compute_host: HostFactory, tmp_path: Path
) -> None:
    """The original's shape: a home host that runs no jobs, two compute hosts of 2 cores."""
    home = compute_host("home", compute_reserved_cpus=tuple(range(os.cpu_count() or 1)))
    alpha = compute_host("alpha", peers=[home.address], compute_cpus=(0, 1))
    beta = compute_host("beta", peers=[home.address], compute_cpus=(0, 1))
    join_mesh(home, alpha, beta)
    db = tmp_path / "analysis.sqlite"
    args = ["--entry", home.address, "--tasks", "4", "--db", str(db), *SMALL_ANALYSIS]
    result = invoke("analysis", *args, "--json")
    json_of(result)
    rows = db_rows(db)
    _check_analysis_rows(rows, 4, {"alpha", "beta"})
    assert {row["host"] for row in rows} == {"alpha", "beta"}  # 4 one-core jobs, 2 + 2 cores


def test_analysis_that_can_never_fit_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "analysis.sqlite"
    result = invoke("analysis", "--tasks", "1", "--cpu-cores", "4096", "--db", str(db))
    assert result.exit_code == 1
    assert "rejects the job" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["--tasks", "0"], ["--rows", "5"], ["--memory", "lots"], ["--target-runtime", "-1"]],
)
def test_analysis_refuses_bad_options(args: list[str], tmp_path: Path) -> None:
    result = invoke("analysis", "--db", str(tmp_path / "x.sqlite"), *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.sqlite").exists()


def test_analysis_no_wait_needs_a_running_host(tmp_path: Path) -> None:
    result = invoke("analysis", "--no-wait", "--db", str(tmp_path / "x.sqlite"))
    assert result.exit_code == 1
    assert "--no-wait needs a running host" in result.stderr


def test_analysis_no_wait_records_the_submissions(
    compute_host: HostFactory, tmp_path: Path
) -> None:
    host = compute_host("alpha")
    db = tmp_path / "analysis.sqlite"
    args = ["--entry", host.address, "--tasks", "2", "--db", str(db), *SMALL_ANALYSIS]
    result = invoke("analysis", *args, "--no-wait")
    assert result.exit_code == 0, result.output
    rows = db_rows(db)
    assert [row["status"] for row in rows] != [] and len(rows) == 2
    assert all(row["status"] in ("run", "wait", "succeeded") for row in rows)
    assert all(row["host"] == "alpha" for row in rows)
    # the campaign's collector stays on the host and writes each end as it comes

    def ended() -> list[dict[str, Any]]:
        rows = db_rows(db)
        return rows if all(row["status"] == "succeeded" for row in rows) else []

    done = wait_for(ended, 12 * TIMEOUT)
    _check_analysis_rows(done, 2, {"alpha"})


def test_analysis_db_that_is_not_sqlite_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "not.sqlite"
    db.write_text("this is not a database file, it is text" * 100)
    result = invoke("analysis", "--tasks", "1", "--db", str(db), *SMALL_ANALYSIS)
    assert result.exit_code == 1
    assert "cannot use" in result.stderr and "Traceback" not in result.output


# perf ---------------------------------------------------------------------------------


def _check_perf_row(row: dict[str, Any]) -> None:
    assert "error" not in row, row
    for key in ("cpu_mops", "sha256_mb_s", "memcpy_gb_s", "write_mb_s", "read_mb_s"):
        assert row[key] > 0, (key, row)
    assert row["cpu_count"] >= 1 and row["elapsed"] > 0


def test_perf_on_an_embedded_host_reports_its_row() -> None:
    result = invoke("perf", *SMALL_PERF, "--json")
    rows = json_of(result)
    assert [row["host"] for row in rows] == [embedded_host_name()]
    _check_perf_row(rows[0])
    assert "in-process host" in result.stderr


@pytest.mark.parametrize("parallel", [False, True])
def test_perf_reports_a_row_per_host(mesh_of_two: tuple[Host, Host], parallel: bool) -> None:
    alpha, beta = mesh_of_two
    extra = ["--parallel"] if parallel else []
    rows = json_of(invoke("perf", "--entry", alpha.address, *SMALL_PERF, *extra, "--json"))
    assert sorted(row["host"] for row in rows) == ["alpha", "beta"]
    for row in rows:
        _check_perf_row(row)
    assert example_paglets(alpha) == [] and example_paglets(beta) == []  # every copy disposed


def test_perf_table_fits_80_columns(host: Host) -> None:
    result = invoke("perf", "--entry", host.address, *SMALL_PERF)
    assert result.exit_code == 0, result.output
    assert "alpha" in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout


@pytest.mark.parametrize("args", [["--seconds", "0"], ["--memory-mb", "0"], ["--disk-mb", "-3"]])
def test_perf_refuses_bad_sizes(args: list[str]) -> None:
    result = invoke("perf", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output


# mesh-benchmark -----------------------------------------------------------------------


def _check_pairs(answer: dict[str, Any], names: list[str]) -> None:
    rows = answer["rows"]
    assert sorted(answer["hosts"]) == sorted(names)
    pairs = sorted((row["source"], row["target"]) for row in rows)
    assert pairs == sorted((a, b) for a in names for b in names if a != b)
    for row in rows:
        assert "error" not in row, row
        assert 0 < row["rtt_min_ms"] <= row["rtt_ms"]
        assert row["mb_s"] > 0
        assert row["bytes"] == 3 * 64 * 1024
    assert answer["error"] == ""


def test_mesh_benchmark_on_one_host_has_no_pairs() -> None:
    result = invoke("mesh-benchmark", *SMALL_MESH, "--json")
    answer = json_of(result)
    assert answer["hosts"] == [embedded_host_name()] and answer["rows"] == []
    assert "no pair to measure" in result.stderr


def test_mesh_benchmark_measures_both_directions(mesh_of_two: tuple[Host, Host]) -> None:
    alpha, beta = mesh_of_two
    answer = json_of(invoke("mesh-benchmark", "--entry", beta.address, *SMALL_MESH, "--json"))
    _check_pairs(answer, ["alpha", "beta"])
    assert answer["rows"][0]["source"] == "beta"  # the trip starts on the entry host
    assert example_paglets(alpha) == [] and example_paglets(beta) == []  # probes and traveller gone


def test_mesh_benchmark_on_three_hosts_has_six_pairs(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, _, _ = three_hosts
    result = invoke("mesh-benchmark", "--entry", alpha.address, *SMALL_MESH)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout
    answer = json_of(invoke("mesh-benchmark", "--entry", alpha.address, *SMALL_MESH, "--json"))
    _check_pairs(answer, ["alpha", "beta", "gamma"])


@pytest.mark.parametrize("args", [["--pings", "0"], ["--transfers", "0"], ["--payload-kb", "0"]])
def test_mesh_benchmark_refuses_bad_sizes(args: list[str]) -> None:
    result = invoke("mesh-benchmark", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output


# the classic entry points -------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "module"),
    [
        ("paglets-analysis-jobs", "paglets.examples.analysis_jobs_run"),
        ("paglets-perf-test", "paglets.examples.perf_test"),
        ("paglets-mesh-benchmark", "paglets.examples.mesh_benchmark"),
    ],
)
def test_classic_entry_points_are_installed(script: str, module: str) -> None:
    found = {ep.name: ep for ep in entry_points(group="console_scripts")}
    assert found[script].value == f"{module}:main"
    assert callable(found[script].load())
