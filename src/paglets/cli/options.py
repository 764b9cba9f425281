"""Command-line options every networked sub-app takes, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option(help="Read the mesh secret from this variable (default PAGLETS_API_KEY)."),
]
Insecure = Annotated[bool, typer.Option("--insecure", help="Plain sockets, no mesh secret.")]
