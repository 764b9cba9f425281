"""``paglets-compute-groups`` as users type it: no command lists the groups."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from paglets.cli.compute_groups import app


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGLETS_BROWSE_SECONDS", "0")  # nothing sent on the interfaces


def test_no_command_lists_the_groups_on_an_in_process_host() -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0, result.output
    assert "job groups" in result.stdout
    assert "in-process host" in result.stderr


def test_the_default_is_the_list_command() -> None:
    runner = CliRunner()
    bare, listed = runner.invoke(app, []), runner.invoke(app, ["list"])
    assert bare.stdout.splitlines()[:4] == listed.stdout.splitlines()[:4]
