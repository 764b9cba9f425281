"""``discovery``: how fast hosts find each other with zeroconf. Not implemented yet (issue 4)."""

from __future__ import annotations

from lab import Lab
from measure import Settings
from report import ScenarioResult

REASON = "zeroconf discovery is not implemented yet (issue 4)"


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Report the scenario as skipped, with the reason."""
    return ScenarioResult("discovery", status="skipped", reason=REASON)
