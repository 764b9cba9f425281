"""``paglets examples``: the packaged example programs."""

from __future__ import annotations

import typer

from paglets.examples import pi_compute

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Packaged example programs.")
app.command("pi")(pi_compute.pi)
