"""``launch.toml``: defaults copied on first start, the format, and bad entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from paglets.services.launch import (
    LaunchEntry,
    LaunchFileError,
    bundled_defaults,
    ensure_launch_file,
    launch_file_path,
    parse_launch_text,
    read_launch_file,
)
from paglets.services.resident import ResidentLifecycle, ResidentService, merge_declarations
from paglets.system.server_info import ServerInfoService
from paglets.system.user_info import UserInfoService


def test_the_defaults_are_copied_to_paglets_home_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGLETS_HOME", str(tmp_path / "home"))
    path = ensure_launch_file()
    assert path == launch_file_path() == tmp_path / "home" / "launch.toml"
    assert path.read_text() == bundled_defaults()
    path.write_text("# edited\n")
    ensure_launch_file()
    assert path.read_text() == "# edited\n"  # an operator's file is never overwritten


def test_the_bundled_defaults_declare_the_system_services() -> None:
    entries = parse_launch_text(bundled_defaults())
    labels = {entry.label: entry for entry in entries}
    assert set(labels) == {"server-info", "user-info", "mesh-info"}
    assert {entry.lifecycle for entry in entries} == {"lazy"}
    assert labels["server-info"].idle_timeout == 300


def test_an_entry_overrides_or_disables_a_builtin() -> None:
    builtin = [
        ResidentService.from_class(ServerInfoService),
        ResidentService.from_class(UserInfoService),
    ]
    text = """
    [services.server-info]
    class = "paglets.system.server_info:ServerInfoService"
    lifecycle = "eager"

    [services.user-info]
    class = "paglets.system.user_info:UserInfoService"
    enabled = false
    """
    merged = merge_declarations(builtin, parse_launch_text(text))
    assert [(s.provider, s.lifecycle) for s in merged] == [
        (ServerInfoService, ResidentLifecycle.EAGER)
    ]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("services = 3", r"\[services\] must be a table"),
        ("[services.x]\nclass = 'nocolon'", r"\[services.x\]: class must be 'module:ClassName'"),
        ("[services.x]\nclass = 'a:B'\nlifecycle = 'sometimes'", "lifecycle must be 'lazy'"),
        ("[services.x]\nclass = 'a:B'\nidle_timeout = -1", "idle_timeout must be"),
        ("[services.x]\nclass = 'a:B'\ncolour = 'red'", "unknown key.*colour"),
        ("[other]\n", "unknown top-level key.*other"),
        ("[services.x\n", "not valid TOML"),
    ],
)
def test_a_bad_launch_file_names_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(LaunchFileError, match=complaint):
        parse_launch_text(text)


def test_a_class_that_cannot_be_loaded_is_named() -> None:
    entry = LaunchEntry("ghost", "paglets.no_such_module:Ghost")
    with pytest.raises(LaunchFileError, match=r"\[services.ghost\]: cannot load"):
        ResidentService.from_entry(entry)
    not_a_service = LaunchEntry("counter", "paglets.examples.counter:CounterPaglet")
    with pytest.raises(LaunchFileError, match="not a ServicePaglet"):
        ResidentService.from_entry(not_a_service)


def test_a_missing_file_declares_nothing(tmp_path: Path) -> None:
    assert read_launch_file(tmp_path / "launch.toml") == []
