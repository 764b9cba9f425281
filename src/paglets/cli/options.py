"""Command-line options every networked sub-app takes, declared once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option(help="Read the mesh secret from this variable (default PAGLETS_API_KEY)."),
]
Insecure = Annotated[bool, typer.Option("--insecure", help="Plain sockets, no mesh secret.")]


def entry_option(fallback: str) -> Any:
    """The ``--entry`` option (also ``$PAGLETS_ENTRY``); ``fallback``: where it goes without."""
    return typer.Option(
        "--entry",
        envvar="PAGLETS_ENTRY",
        help=f"Host to ask: a name or an address (default: $PAGLETS_ENTRY, else {fallback}).",
    )


FOUND_HOST = "a host on this machine, else the first one zeroconf finds"
Entry = Annotated[str | None, entry_option(FOUND_HOST)]
"""``--entry`` of a command that needs a running host."""
EmbeddedEntry = Annotated[str | None, entry_option(f"{FOUND_HOST}, else an in-process host")]
"""``--entry`` of a command that can do its job on this machine alone."""
