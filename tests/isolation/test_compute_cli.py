"""The compute CLIs and the pi example, on an embedded host (real job processes)."""

from __future__ import annotations

import json
from decimal import Decimal, getcontext
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paglets.cli.app import app
from paglets.cli.compute_slots import app as classic_app
from paglets.examples.pi_terms import fold, pi_digits, split_terms, terms_for


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGLETS_BROWSE_SECONDS", "0")  # nothing sent on the interfaces
    monkeypatch.setenv("PAGLETS_MAX_LOAD_PER_CPU", "none")  # the test box runs other work


def _machin_pi(digits: int) -> str:
    """Pi by Machin's formula in Decimal, an independent check of the Chudnovsky code."""
    getcontext().prec = digits + 20

    def arctan_inverse(n: int) -> Decimal:
        total, power, k, sign = Decimal(0), Decimal(1) / n, 0, 1
        limit = Decimal(10) ** -(digits + 15)
        while power > limit:
            total += sign * power / (2 * k + 1)
            power /= n * n
            k += 1
            sign = -sign
        return total

    value = 4 * (4 * arctan_inverse(5) - arctan_inverse(239))
    text = str(value)
    return text[: digits + 2]


def test_the_series_split_anywhere_gives_the_same_digits() -> None:
    terms = terms_for(300)
    whole = split_terms(0, terms)
    parts = fold([split_terms(0, 5), split_terms(5, 9), split_terms(9, terms)])
    assert parts == whole
    assert pi_digits(300, whole[1], whole[2]) == _machin_pi(300)


def test_pi_example_prints_and_writes_exact_digits(tmp_path: Path) -> None:
    out = tmp_path / "pi.txt"
    result = CliRunner().invoke(
        app, ["examples", "pi", "--digits", "200", "--jobs", "3", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    expected = _machin_pi(200)
    assert expected in result.stdout
    assert out.read_text().strip() == expected
    assert "in-process host" in result.stderr


def test_jobs_status_and_history_as_json() -> None:
    runner = CliRunner()
    status = runner.invoke(app, ["jobs", "status", "--json"])
    assert status.exit_code == 0, status.output
    answer = json.loads(status.stdout)
    assert answer[0]["answer"]["cores_total"] >= 1
    assert answer[0]["answer"]["queued"] == 0
    history = runner.invoke(classic_app, ["jobs", "history", "--json"])
    assert history.exit_code == 0, history.output
    assert json.loads(history.stdout)[0]["answer"] == []  # a fresh embedded host


def test_rm_of_an_unknown_job_fails_clearly() -> None:
    result = CliRunner().invoke(app, ["jobs", "rm", "deadbeef"])
    assert result.exit_code == 1
    assert "no queued or running job deadbeef" in result.stderr
    assert "Traceback" not in result.output


def test_status_table_fits_80_columns() -> None:
    result = CliRunner().invoke(classic_app, ["status", "--queue", "--jobs"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout


def test_a_job_that_can_never_fit_is_rejected_with_the_reason() -> None:
    result = CliRunner().invoke(app, ["examples", "pi", "--digits", "50", "--cpu-cores", "4096"])
    assert result.exit_code == 1
    assert "ComputeRejectedError" in result.stderr and "4096 cores" in result.stderr
    assert "Traceback" not in result.output
    memory = CliRunner().invoke(app, ["examples", "pi", "--digits", "50", "--memory", "9000T"])
    assert memory.exit_code == 1 and "RAM" in memory.stderr, memory.stderr


def test_ps_top_hosts_and_groups_answer_for_the_embedded_host() -> None:
    runner = CliRunner()
    for command in (["ps"], ["top"], ["hosts"], ["groups"]):
        result = runner.invoke(app, ["jobs", *command, "--json"])
        assert result.exit_code == 0, (command, result.output)
        answer = json.loads(result.stdout)
        assert isinstance(answer, list)
        if command == ["hosts"]:
            assert answer[0]["cores_total"] >= 1 and answer[0]["queued"] == 0
        else:
            assert answer == []  # a fresh embedded host: no jobs, no groups
    table = runner.invoke(app, ["jobs", "hosts"], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "compute hosts" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


def test_a_host_that_is_not_there_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["jobs", "ps", "--host", "nowhere"])
    assert result.exit_code == 1 and "no online host called nowhere" in result.stderr
    assert "Traceback" not in result.output


def test_pi_says_why_its_jobs_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGLETS_MAX_LOAD_PER_CPU", "-1")  # the gate never opens
    result = CliRunner().invoke(
        app, ["examples", "pi", "--digits", "10", "--jobs", "1", "--timeout", "2"]
    )
    assert result.exit_code != 0
    assert "job 0 waits on" in result.stderr and "load per cpu" in result.stderr
    assert "PAGLETS_MAX_LOAD_PER_CPU=none" in result.stderr  # how to run anyway
    assert "Traceback" not in result.output
