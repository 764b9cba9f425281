"""``fail``: an error is one line on stderr, however long, and the exit code it names."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import typer
from paglets.cli.output import fail

def main() -> None:
    fail("cannot read /" + "a-very-long-directory-name/" * 6 + "launch.toml : broken", 3)

typer.run(main)
"""


def test_a_long_error_stays_on_one_line_when_stderr_is_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot read /a-very-long-directory-name/")
    assert lines[0].endswith("launch.toml : broken") and len(lines[0]) > 160
