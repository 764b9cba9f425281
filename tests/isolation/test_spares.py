"""Warm spare children: taken by a launch, replaced after it, their preload imported ahead."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
from isolated_paglets import IsolatedCounter

from helpers import wait_for
from paglets.runtime.host import Host
from paglets.runtime.isolation.spares import drop_spares, keep_spares


@pytest.mark.parametrize("preload", ["paglets.system.compute_job", "no_such_module_here"])
def test_a_launch_takes_a_spare_and_a_new_one_replaces_it(host: Host, preload: str) -> None:
    pool = keep_spares(host.address, 1, (preload,))
    try:
        me = psutil.Process()
        spares = wait_for(lambda: [c for c in me.children() if preload in c.cmdline()])
        proxy = host.create(IsolatedCounter)
        taken = spares[0].pid
        assert proxy.send("pid") == taken  # the launch took the warm child
        assert proxy.send("add", args={"n": 2}) == 2  # a failed preload changes nothing
        wait_for(lambda: [c for c in me.children() if preload in c.cmdline() and c.pid != taken])
        proxy.dispose()
    finally:
        drop_spares(host.address)
    assert pool.take() is None  # dropped: every spare ended, none started again


def test_the_example_jobs_load_without_the_cli_in_their_child() -> None:
    jobs = ["pi_terms", "analysis_jobs", "analysis_collector"]
    code = (
        "import sys\n"
        + "".join(f"import paglets.examples.{name}\n" for name in jobs)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')"
        " or m.startswith('paglets.cli')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # the CLI cost a job's launch more than a second
