"""``paglets examples``: the packaged example programs."""

from __future__ import annotations

import typer

from paglets.examples import (
    analysis_jobs_run,
    file_courier_run,
    mesh_benchmark,
    perf_test,
    pi_compute,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Packaged example programs.")
app.command("pi")(pi_compute.pi)
app.command("analysis")(analysis_jobs_run.analysis)
app.command("perf")(perf_test.perf)
app.command("mesh-benchmark")(mesh_benchmark.mesh_benchmark)
app.command("file")(file_courier_run.file_tour)
