"""The embedded default: with no host to talk to, a CLI runs on an in-process host."""

from __future__ import annotations

import pytest

from helpers import free_port
from paglets.cli.embedded import open_entry
from paglets.cli.entry import BROWSE_VARIABLE, ClientOptions, browse_seconds_from_env
from paglets.core.errors import PeerNotFoundError


@pytest.fixture(autouse=True)
def _no_browse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROWSE_VARIABLE, "0")


def test_no_host_found_starts_an_embedded_host_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"
    with open_entry(None, ClientOptions(timeout=5), local=nobody) as entry:
        assert entry.embedded and entry.host is not None
        assert entry.client.health()["address"] == entry.address
    assert "in-process host" in capsys.readouterr().err


def test_an_entry_that_is_asked_for_by_name_is_never_replaced() -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"
    with (
        pytest.raises(PeerNotFoundError),
        open_entry("nowhere", ClientOptions(timeout=1), local=nobody),
    ):
        pass


def test_browse_seconds_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROWSE_VARIABLE, "soon")
    with pytest.raises(ValueError, match=BROWSE_VARIABLE):
        browse_seconds_from_env()
    monkeypatch.setenv(BROWSE_VARIABLE, "1.5")
    assert browse_seconds_from_env() == 1.5
