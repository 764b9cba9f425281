"""``paglets grab`` and ``paglets artifacts`` against real hosts on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import TIMEOUT
from paglets.cli import artifacts as artifacts_cli
from paglets.cli import grab
from paglets.runtime.host import Host

MIB = 1024 * 1024
runner = CliRunner()


def make_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_grab(*args: str) -> Any:
    return runner.invoke(grab.app, [*args, "--timeout", str(TIMEOUT)])


def no_paglets_left(*hosts: Host) -> bool:
    return all(host.info()["active"] == 0 for host in hosts)


def test_push_copies_a_file_to_the_remote_host(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, _ = two_hosts
    source = make_file(tmp_path / "data.bin", 5 * MIB + 1)
    dest = tmp_path / "remote" / "data.bin"
    dest.parent.mkdir()
    result = run_grab(
        "push",
        str(source),
        "--remote",
        "beta",
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["saved"] == str(dest) and report["size"] == 5 * MIB + 1
    assert digest(dest) == digest(source)
    assert [p.name for p in dest.parent.iterdir()] == ["data.bin"]  # no partial left
    assert no_paglets_left(*two_hosts)


def test_dry_run_moves_nothing(two_hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, _ = two_hosts
    source = make_file(tmp_path / "data.bin", 1000)
    dest = tmp_path / "out.bin"
    result = run_grab(
        "push",
        str(source),
        "--remote",
        "beta",
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--dry",
    )
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout and "nothing moved" in result.stdout
    words = " ".join(result.stdout.split())  # lines wrap at 80 columns
    assert f"source {source} on alpha:" in words  # the entry host by its name
    assert f"dest {dest} on beta:" in words
    assert not dest.exists() and source.exists()
    assert no_paglets_left(*two_hosts)


def test_an_existing_destination_is_kept_unless_overwrite(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, _ = two_hosts
    source = make_file(tmp_path / "data.bin", MIB)
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"precious")
    refused = run_grab(
        "push",
        str(source),
        "--remote",
        "beta",
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--mode",
        "move",
    )
    assert refused.exit_code == 1
    assert "exists" in refused.output
    assert dest.read_bytes() == b"precious" and source.exists()
    replaced = run_grab(
        "push",
        str(source),
        "--remote",
        "beta",
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--overwrite",
    )
    assert replaced.exit_code == 0, replaced.output
    assert digest(dest) == digest(source)
    assert no_paglets_left(*two_hosts)


def test_push_move_deletes_the_source_after_saving(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, _ = two_hosts
    source = make_file(tmp_path / "data.bin", 2 * MIB)
    expected = digest(source)
    dest = tmp_path / "moved.bin"
    result = run_grab(
        "push",
        str(source),
        "--remote",
        "beta",
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--mode",
        "move",
    )
    assert result.exit_code == 0, result.output
    assert not source.exists() and digest(dest) == expected


def test_pull_fetches_a_file_of_the_remote_host(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, beta = two_hosts
    remote_file = make_file(tmp_path / "remote.bin", 3 * MIB)
    dest = tmp_path / "local.bin"
    result = run_grab(
        "pull",
        str(remote_file),
        "--remote",
        beta.address,
        "--dest",
        str(dest),
        "--entry",
        alpha.address,
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert digest(dest) == digest(remote_file) and remote_file.exists()
    assert no_paglets_left(alpha, beta)


def test_a_missing_source_is_a_clear_error(two_hosts: tuple[Host, Host], tmp_path: Path) -> None:
    alpha, _ = two_hosts
    result = run_grab(
        "push",
        str(tmp_path / "nope.bin"),
        "--remote",
        "beta",
        "--dest",
        str(tmp_path / "out.bin"),
        "--entry",
        alpha.address,
    )
    assert result.exit_code == 1
    assert "is not a file" in " ".join(result.output.split())  # rich wraps long lines
    assert not (tmp_path / "out.bin").exists()


def test_the_classic_entry_point_works_as_written(
    two_hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    alpha, _ = two_hosts
    make_file(tmp_path / "data.bin", 1000)
    script = Path(sys.executable).parent / "paglets-file-grabber"
    if not script.exists():
        pytest.skip("the console scripts are not installed")
    dest = tmp_path / "tmp" / "data.bin"
    dest.parent.mkdir()
    finished = subprocess.run(
        [str(script), "push", "./data.bin", "--remote", "beta", "--dest", str(dest), "--dry"],
        cwd=tmp_path,
        env={**os.environ, "PAGLETS_ENTRY": alpha.address},
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "dry run" in finished.stdout and not dest.exists()


def test_artifacts_commands_put_list_info_get_rm(host: Host, tmp_path: Path) -> None:
    source = make_file(tmp_path / "data.bin", 2 * MIB)
    entry = ["--entry", host.address]
    put = runner.invoke(artifacts_cli.app, ["put", str(source), *entry])
    assert put.exit_code == 0, put.output
    artifact_id = put.stdout.strip()
    listed = runner.invoke(artifacts_cli.app, ["list", *entry, "--json"])
    assert [i["artifact_id"] for i in json.loads(listed.stdout)] == [artifact_id]
    info = runner.invoke(artifacts_cli.app, ["info", artifact_id, *entry])
    assert json.loads(info.stdout)["sha256"] == digest(source)
    copy = tmp_path / "copy.bin"
    got = runner.invoke(artifacts_cli.app, ["get", artifact_id, str(copy), *entry])
    assert got.exit_code == 0, got.output
    assert digest(copy) == digest(source)
    again = runner.invoke(artifacts_cli.app, ["get", artifact_id, str(copy), *entry])
    assert again.exit_code == 1 and "exists" in again.output
    removed = runner.invoke(artifacts_cli.app, ["rm", artifact_id, *entry])
    assert removed.exit_code == 0
    missing = runner.invoke(artifacts_cli.app, ["info", artifact_id, *entry])
    assert missing.exit_code == 1 and "ArtifactNotFoundError" in missing.output
