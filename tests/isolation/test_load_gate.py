"""Where a host's compute load gate comes from: the option, the variable, the default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from helpers import TIMEOUT
from host_process import start_host_process, stop_process
from paglets.cli.app import app
from paglets.remote.client import HostClient
from paglets.runtime.config import LOAD_VARIABLE, parse_load_gate
from paglets.runtime.host import Host
from paglets.system.compute_slots import ask


def test_a_gate_is_a_number_or_none() -> None:
    assert parse_load_gate(" 2.5 ") == 2.5
    assert parse_load_gate("None") is None
    for bad in ("lots", "nan", ""):
        with pytest.raises(ValueError, match="must be a number or 'none'"):
            parse_load_gate(bad, "--max-load-per-cpu")


def test_the_variable_sets_the_gate_of_a_host_not_given_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOAD_VARIABLE, raising=False)
    assert Host(name="plain", port=0).config.compute_max_load_per_cpu == 1.0
    monkeypatch.setenv(LOAD_VARIABLE, "0.5")
    assert Host(name="from-env", port=0).config.compute_max_load_per_cpu == 0.5
    given = Host(name="given", port=0, compute_max_load_per_cpu=3.0)
    assert given.config.compute_max_load_per_cpu == 3.0  # what the caller says wins
    monkeypatch.setenv(LOAD_VARIABLE, "none")
    assert Host(name="off", port=0).config.compute_max_load_per_cpu is None
    monkeypatch.setenv(LOAD_VARIABLE, "high")
    with pytest.raises(ValueError, match=LOAD_VARIABLE):
        Host(name="bad", port=0)


def test_paglets_host_takes_max_load_over_the_variable() -> None:
    env = {**os.environ, LOAD_VARIABLE: "7"}
    process, address = start_host_process("--name", "gated", "--max-load-per-cpu", "0.25", env=env)
    try:
        with HostClient(address=address, insecure=True) as client:
            assert ask(client, address, "status")["max_load_per_cpu"] == 0.25
    finally:
        stop_process(process)


def test_paglets_host_refuses_a_max_load_that_is_not_a_number() -> None:
    command = [sys.executable, "-m", "paglets.cli.app", "host", "--max-load-per-cpu", "lots"]
    wide = {**os.environ, "COLUMNS": "200"}  # the error box would wrap the message
    result = subprocess.run(command, capture_output=True, text=True, timeout=4 * TIMEOUT, env=wide)
    assert result.returncode == 2
    assert "--max-load-per-cpu must be a number or 'none'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGLETS_BROWSE_SECONDS", "0")  # nothing sent on the interfaces
    monkeypatch.delenv(LOAD_VARIABLE, raising=False)


@pytest.mark.usefixtures("no_variable")
def test_pi_on_an_in_process_host_has_no_load_gate_unless_asked() -> None:
    result = CliRunner().invoke(app, ["examples", "pi", "--digits", "10", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "no load gate (--max-load-per-cpu N sets one)" in result.stderr
    assert result.stdout.strip() == "3.1415926535"


@pytest.mark.usefixtures("no_variable")
def test_max_load_sets_the_gate_of_the_in_process_host() -> None:
    args = ["examples", "pi", "--digits", "10", "--jobs", "1", "--timeout", "2"]
    result = CliRunner().invoke(app, [*args, "--max-load-per-cpu", "-1"])  # never opens
    assert result.exit_code != 0
    assert "load gate -1 per cpu" in result.stderr
    assert "job 0 waits on" in result.stderr and "load per cpu" in result.stderr
    assert "--max-load-per-cpu none" in result.stderr  # how to run anyway
    bad = CliRunner().invoke(app, [*args, "--max-load-per-cpu", "lots"])
    assert bad.exit_code == 2 and "--max-load-per-cpu must be a number or 'none'" in bad.output
    assert "error: 1" not in result.output  # one error line, not a second "error: 1"


def test_pi_that_times_out_leaves_no_job_on_the_host() -> None:
    env = {**os.environ, LOAD_VARIABLE: "-1"}  # the host's gate never opens
    process, address = start_host_process("--name", "closed", env=env)
    try:
        args = [
            "--digits",
            "10",
            "--jobs",
            "2",
            "--timeout",
            "2",
            "--insecure",
            "--max-load-per-cpu",
            "5",
        ]
        result = CliRunner().invoke(app, ["examples", "pi", *args, "--entry", address])
        assert result.exit_code == 1
        assert f"--max-load-per-cpu is for an in-process host: {address} keeps its own gate" in (
            result.stderr
        )
        assert "ReplyTimeoutError" in result.stderr and "did not finish" in result.stderr
        assert "error: 1" not in result.output and "Traceback" not in result.output
        with HostClient(address=address, insecure=True) as client:
            status = ask(client, address, "status")
        assert status["queued"] == 0 and status["running"] == 0, status
    finally:
        stop_process(process)
