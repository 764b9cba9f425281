"""``paglets agents`` finds its host like every other CLI: ``--entry``, ``$PAGLETS_ENTRY``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from helpers import free_port
from paglets.cli.app import app
from paglets.cli.entry import BROWSE_VARIABLE
from paglets.examples.counter import CounterPaglet
from paglets.runtime.host import Host

runner = CliRunner()


@pytest.fixture
def host() -> Iterator[Host]:
    with Host(name="solo", port=0, mesh_lan_discovery=False) as started:
        yield started


@pytest.fixture(autouse=True)
def _no_browse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROWSE_VARIABLE, "0")


def test_the_entry_comes_from_the_environment(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = host.create(CounterPaglet)
    monkeypatch.setenv("PAGLETS_ENTRY", host.address)
    listed = runner.invoke(app, ["agents", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [info["agent_id"] for info in json.loads(listed.output)] == [counter.agent_id]
    sent = runner.invoke(app, ["agents", "send", counter.agent_id, "increment"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output) == {"count": 1}


def test_no_host_is_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["agents", "health", "--entry", nobody, "--timeout", "0.5"])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
