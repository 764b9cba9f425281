"""Every demo under demos/ runs to the end, in time, and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMOS = ROOT / "demos"

# For each demo, lines its output must contain (each checked as a substring).
EXPECTED: dict[str, list[str]] = {
    "hello.py": [
        "reply: Hello, Ada, from alpha (greeting number 1)",
        "reply: Hello, Grace, from alpha (greeting number 2)",
        "reply: Hello, Alan, from beta (greeting number 1)",
    ],
    "messages.py": [
        "send add(2, 3) -> 5",
        "notes the clerk took: ['first oneway note', 'second oneway note']",
        "get_reply(timeout=0.05) raised ReplyTimeoutError",
        "get_reply(timeout=5) -> done being slow",
        "UNQUEUED_PRIORITY ping answered",
        "handled in this order: ['slow', 'high', 'normal', 'low-1', 'low-2']",
        "multicast to beta's 4 paglets",
        "all replies in: True",
        "NotHandledError: ClerkPaglet does not handle 'dance'",
        "HostError: remote_type='ZeroDivisionError'",
    ],
    "mobility_events.py": [
        "[alpha] original on_creation      init='hello'",
        "[alpha] original on_dispatching   alpha -> beta",
        "[beta ] original on_arrival       from alpha (reason dispatch)",
        "[beta ] original on_cloning       copy goes to alpha",
        "[alpha] clone    on_clone",
        "[beta ] original on_cloned",
        "[beta ] original on_reverting     pulled back to alpha",
        "[alpha] original on_arrival       from beta (reason retract)",
        "[alpha] original on_deactivating",
        "[alpha] original on_activation",
        "[alpha] original on_disposing",
        "[alpha] clone    on_disposing",
        "original still valid? False; clone? False",
    ],
    "clone_workers.py": [
        "master sent 3 clones",
        "total 4499998500000 (expected 4499998500000): correct",
        "paglets left on the worker hosts: 0",
    ],
    "itinerary.py": [
        "[beta ] task 'census' (arrival)",
        "[beta ] task 'stamp' (arrival): stop 1 stamped",
        "[gamma] task 'crunch' (default)",
        "[delta] task 'farewell' (dispatch)",
        "[alpha] task 'report' (default)",
        "[alpha] task 'stamp' (arrival): stop 4 stamped",
        "back on alpha, finished: True",
    ],
    "fanout.py": [
        "round 1: 3 answers, 0 errors",
        "  [alpha] gamma: error: no result within 1s",
        "round 2: partial=True, errors={'gamma': 'no result within 1s'}",
        "clones left on beta and gamma: 0",
        "task on beta: running",
        "task succeeded with result 10 on beta",
    ],
    "master_slave.py": [
        "primes below 50000: 5133 after 4 progress reports (expected 5133)",
        "paglets left on beta: 0",
    ],
    "disk_survey_demo.py": [
        "route: beta -> gamma -> alpha",
        "[gamma] /: ",
        "back home on alpha: True",
        "surveyed 3 hosts: alpha, beta, gamma",
        "notification on alpha's console: disk survey: surveyed 3 hosts; fullest: ",
    ],
    "service_finder.py": [
        "translator on alpha? False",
        "found on the mesh: demo.translator on gamma (lazy, started: False)",
        "to_pig_latin('hello mobile objects') -> 'ellohay obilemay bjectsoay' by ",
        "server-info of alpha: ",
        "server-info of beta: ",
        "server-info of gamma: ",
        "wrong request: ServiceContractError: demo.translator.to_pig_latin takes a Phrase "
        "request, not EmptyPayload",
        "unknown operation: ServiceContractError: demo.translator has no operation 'to_klingon'",
        "nobody provides it: ServiceNotFoundError: no provider of 'demo.nobody' on the mesh",
        "translator instances on gamma: 1",
    ],
}


def test_every_demo_is_checked_and_listed_in_the_readme() -> None:
    scripts = sorted(path.name for path in DEMOS.glob("*.py"))
    assert scripts == sorted(EXPECTED)
    readme = (DEMOS / "README.md").read_text()
    for name in scripts:
        assert f"uv run python demos/{name}" in readme, name


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_demo_runs(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMOS / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    for line in EXPECTED[name]:
        assert line in result.stdout, f"{name} did not print {line!r}:\n{result.stdout}"
    assert result.stdout.rstrip().endswith("hosts stopped")
    assert "Traceback" not in result.stderr, result.stderr
