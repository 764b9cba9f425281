"""``paglets host`` keeps its store in ``~/.paglets/hosts/NAME`` unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from paglets.cli.host import default_persistence_dir


def test_the_default_store_is_under_paglets_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAGLETS_HOME", str(tmp_path))
    assert default_persistence_dir("alpha") == tmp_path / "hosts" / "alpha"
    assert default_persistence_dir("../evil name") == tmp_path / "hosts" / "-evil-name"
    assert default_persistence_dir("..") == tmp_path / "hosts" / "host"


def test_without_paglets_home_it_is_in_the_home_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PAGLETS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_persistence_dir("beta") == tmp_path / ".paglets" / "hosts" / "beta"
