"""Disk survey: a paglet travels the hosts, asks each one's server-info service, comes home.

The hosts named by ``--hosts`` (default alpha beta gamma) start in this process on
127.0.0.1 (OS-chosen ports, no discovery), each with its system services. A
``DiskSurveyor`` is created on the first host. In ``run()`` it asks the local
server-info service (``context.require_contract(SERVER_INFO)``) for the disk usage of
``/`` and of the temp dir, then dispatches itself to the next host; back home it
reports through the home host's user-info service (a notification on that host's
console) and the demo prints what it gathered. On one machine every host sees the same
disks, of course: the point is the route and the calls.

Run it with ``uv run python demos/disk_survey_demo.py --hosts alpha beta gamma``.
"""

from __future__ import annotations

import argparse
import faulthandler
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import InvalidAgentError
from paglets.core.sizes import human_size
from paglets.patterns.notifications import NotificationMixin
from paglets.runtime.host import Host
from paglets.system.host_services import start_host_services
from paglets.system.server_info import SERVER_INFO, DiskUsageRequest
from paglets.system.user_info import USER_INFO, RecentRequest


@dataclass
class DiskRow:
    host: str = ""
    path: str = ""
    total: int = 0
    used: int = 0
    percent: float = 0.0
    error: str = ""


@dataclass
class SurveyorState(PagletState):
    home: str = ""
    route: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    rows: list[DiskRow] = field(default_factory=list)
    done: bool = False


class DiskSurveyor(NotificationMixin, Paglet[SurveyorState]):
    """Surveys the disks of each host on its route, then reports at home."""

    State = SurveyorState

    def run(self) -> None:
        here = self.context.name
        with self.locked_state() as state:
            if here not in state.visited:
                paths = ["/", tempfile.gettempdir()]
                handle = self.context.require_contract(SERVER_INFO)
                reply = handle.call("disk_usage", DiskUsageRequest(paths))
                state.visited.append(here)
                state.rows.extend(
                    DiskRow(here, d.path, d.total, d.used, d.percent, d.error) for d in reply.disks
                )
            next_host = state.route.pop(0) if state.route else None
        if next_host is not None:
            self.dispatch(next_host)
            return
        fullest = max(self.state.rows, key=lambda row: row.percent)
        self.notify_user(
            f"surveyed {len(self.state.visited)} hosts; fullest: {fullest.path} on "
            f"{fullest.host} at {fullest.percent:.0f}%",
            title="disk survey",
        )
        with self.locked_state() as state:
            state.done = True


def wait_home(home: Host, agent_id: str, timeout: float) -> SurveyorState:
    """The surveyor's state once it is back on ``home`` and done (or when time is up)."""
    deadline = time.monotonic() + timeout
    state = SurveyorState()
    while time.monotonic() < deadline:
        try:
            found = home.get_state(agent_id, SurveyorState)
        except InvalidAgentError:  # away on another host
            found = None
        if isinstance(found, SurveyorState):
            state = found
            if state.done:
                break
        time.sleep(0.05)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", nargs="+", default=["alpha", "beta", "gamma"])
    names = parser.parse_args().hosts
    if len(set(names)) != len(names):
        parser.error("host names must differ")
    faulthandler.dump_traceback_later(45, exit=True)
    with ExitStack() as stack:
        home = stack.enter_context(Host(name=names[0], port=0))
        hosts = [home]
        for name in names[1:]:
            hosts.append(stack.enter_context(Host(name=name, port=0, peers=[home.address])))
        for host in hosts:
            for other in names:
                if other != host.name:
                    host.wait_for_host(other, timeout=5)
            start_host_services(host, read_launch=False)
        print(f"hosts up: {', '.join(f'{h.name} at {h.address}' for h in hosts)}")

        route = [*names[1:], names[0]]
        planned = " -> ".join(route)  # the surveyor's run() pops its route as it goes
        surveyor = home.create(DiskSurveyor, SurveyorState(home=names[0], route=route))
        print(f"surveyor {surveyor.agent_id[:8]} leaves {names[0]}, route: {planned}")
        state = wait_home(home, surveyor.agent_id, timeout=30)
        print(f"back home on {names[0]}: {state.done}")
        for row in state.rows:
            if row.error:
                print(f"[{row.host:<5}] {row.path}: {row.error}")
            else:
                used, total = human_size(row.used), human_size(row.total)
                print(f"[{row.host:<5}] {row.path}: {used} of {total} used ({row.percent:.0f}%)")
        print(f"surveyed {len(state.visited)} hosts: {', '.join(state.visited)}")
        notes = home.service_registry.require_contract(USER_INFO).call("recent", RecentRequest(1))
        for note in notes.notifications:
            print(f"notification on {names[0]}'s console: {note.title}: {note.text}")
        surveyor.dispose()
    print("hosts stopped")


if __name__ == "__main__":
    main()
