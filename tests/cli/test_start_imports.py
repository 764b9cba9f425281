"""What ``paglets host`` imports at start: nothing it does not use (each costs start time)."""

from __future__ import annotations

import subprocess
import sys


def test_the_host_command_starts_without_rich_zeroconf_or_asyncio() -> None:
    code = (
        "import sys, paglets.cli.host\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'zeroconf', 'asyncio'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # each is imported where it is used, not at start
