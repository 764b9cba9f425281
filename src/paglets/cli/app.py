"""The ``paglets`` command: one typer app with a sub-app per job."""

from __future__ import annotations

import typer

from paglets.cli import agents, artifacts, grab, mesh, search, sysinfo
from paglets.cli import events as events_command
from paglets.cli import examples as examples_command
from paglets.cli import host as host_command
from paglets.cli import jobs as jobs_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="paglets: mobile objects for Python. Run hosts and drive the paglets on them.",
)
app.command("host")(host_command.host)
app.add_typer(agents.app, name="agents")
app.add_typer(mesh.app, name="mesh")
app.add_typer(grab.app, name="grab")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(sysinfo.app, name="sys")
app.add_typer(search.app, name="search")
app.add_typer(jobs_command.app, name="jobs")
app.add_typer(examples_command.app, name="examples")
app.command("events")(events_command.events)


def main() -> None:
    """Entry point of ``paglets``."""
    app()


if __name__ == "__main__":
    main()
