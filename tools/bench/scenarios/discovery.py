"""``discovery``: how fast two hosts find each other with zeroconf, in a private netns.

The measurement runs in ``discovery_netns.py`` under ``unshare -rn`` (loopback with
multicast on, nothing else), so no mDNS is sent on this machine's interfaces. There is
no raw limit: the figure is the median time from starting the second host until both
list each other online. Skipped, saying why, where namespaces are not available.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from lab import Lab
from measure import Settings
from report import Row, ScenarioResult

SCRIPT = Path(__file__).resolve().parent.parent / "discovery_netns.py"
NETNS = (
    "ip link set lo up && ip link set lo multicast on && "
    'ip route add 224.0.0.0/4 dev lo && exec "$@"'
)


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Median time to mutual discovery over several rounds."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return ScenarioResult("discovery", status="skipped", reason="unshare or ip missing")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = f"no private network namespace here: {probe.stderr.strip()[-200:]}"
        return ScenarioResult("discovery", status="skipped", reason=reason)
    rounds = settings.count(3, 9)
    command = ["unshare", "-rn", "sh", "-c", NETNS, "sh", sys.executable, str(SCRIPT)]
    try:
        result = subprocess.run(
            [*command, str(rounds), "10"], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return ScenarioResult("discovery", status="error", reason="timed out after 120 s")
    if result.returncode != 0:
        return ScenarioResult(
            "discovery", status="error", reason=f"the run failed: {result.stderr.strip()[-300:]}"
        )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    outcome = ScenarioResult("discovery")
    outcome.details = data
    outcome.rows = [
        Row(
            f"second host start to mutual discovery, median of {data['rounds']}",
            data["median_s"] * 1000,
            None,
            "ms",
            note="zeroconf on a private loopback",
        ),
        Row("slowest round", data["max_s"] * 1000, None, "ms"),
    ]
    return outcome
