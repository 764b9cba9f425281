"""``paglets host`` (and the classic ``paglets-host``): run a host until told to stop.

SIGINT and SIGTERM stop it gracefully: with ``--persistence-dir`` active paglets are
deactivated into the store first, so a restart on the same directory finds them.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer
import zmq

from paglets.core.errors import PagletError
from paglets.net.endpoint import normalize_address
from paglets.runtime.config import DEFAULT_PORT
from paglets.runtime.host import Host

from paglets.cli.output import fail

app = typer.Typer(add_completion=False, help="Run a paglets host.")


def parse_properties(items: list[str]) -> dict[str, str]:
    """Turn ``KEY=VALUE`` strings into a dict.

    Raises:
        typer.BadParameter: an item has no ``=`` or an empty key.
    """
    properties: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--property")
        properties[key.strip()] = value
    return properties


@app.command()
def host(
    name: Annotated[str, typer.Option(help="Host name in the mesh.")] = socket.gethostname(),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0: any free port).")] = DEFAULT_PORT,
    peer: Annotated[
        list[str] | None,
        typer.Option(help="Seed peer address (tcp://H:P, H:P or http://H:P); repeatable."),
    ] = None,
    mesh_version: Annotated[str, typer.Option(help="Only hosts of this version talk.")] = "dev",
    tag: Annotated[list[str] | None, typer.Option(help="Host tag; repeatable.")] = None,
    property: Annotated[
        list[str] | None, typer.Option("--property", help="KEY=VALUE host property; repeatable.")
    ] = None,
    persistence_dir: Annotated[
        Path | None, typer.Option(help="Directory for inactive paglets (SQLite).")
    ] = None,
    allow_module: Annotated[
        list[str] | None,
        typer.Option(help="Module prefix whose paglet classes may be loaded; repeatable."),
    ] = None,
    no_discovery: Annotated[
        bool,
        typer.Option(
            "--no-discovery",
            help="Accepted for compatibility: this version finds peers only through --peer.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run a host until SIGINT or SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        peers = [normalize_address(address) for address in peer or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--peer") from None
    try:
        running = Host(
            name=name,
            host=host,
            port=port,
            peers=peers,
            mesh_version=mesh_version,
            tags=tag or [],
            properties=parse_properties(property or []),
            persistence_dir=persistence_dir,
            allowed_modules=allow_module or [],
        )
        running.start_background()
    except zmq.ZMQError as exc:
        fail(f"cannot bind {host}:{port}: {exc}")
        return
    except PagletError as exc:
        fail(str(exc))
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"paglets host {running.name} listening on {running.address} "
        f"(mesh {mesh_version}; peers: {', '.join(peers) or 'none'})",
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    print(f"paglets host {running.name} stopping", flush=True)
    running.stop()
    print(f"paglets host {running.name} stopped", flush=True)


def main() -> None:
    """Entry point of ``paglets-host``."""
    app()


if __name__ == "__main__":
    main()
