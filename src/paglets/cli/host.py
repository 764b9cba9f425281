"""``paglets host`` (and the classic ``paglets-host``): run a host until told to stop.

SIGINT and SIGTERM stop it gracefully: active paglets are deactivated into the store
first (``--persistence-dir``, by default ``~/.paglets/hosts/NAME``), so a restart on
the same directory finds them.
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

from paglets.cli.output import fail
from paglets.cli.sizes import parse_size
from paglets.core.errors import PagletError
from paglets.net.discovery import interface_ipv4
from paglets.net.endpoint import normalize_address
from paglets.net.mesh_secret import config_dir
from paglets.runtime.config import DEFAULT_PORT
from paglets.runtime.host import Host

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
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind and advertise. Default: every interface, advertising "
            "the primary one (secured hosts), or 127.0.0.1 with --insecure."
        ),
    ] = None,
    interface: Annotated[
        str | None,
        typer.Option(help="Network interface (e.g. eth0) to bind and advertise on."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help=f"Port to bind (0: any free port; default {DEFAULT_PORT}, or a free one "
            "if that is taken)."
        ),
    ] = None,
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
        Path | None,
        typer.Option(
            help="Directory for inactive paglets, artifacts and work dirs "
            "(default: ~/.paglets/hosts/NAME, $PAGLETS_HOME overrides ~/.paglets)."
        ),
    ] = None,
    artifact_max_size: Annotated[
        str | None,
        typer.Option(help="Largest artifact or carried file accepted (e.g. 2G)."),
    ] = None,
    artifact_storage_quota: Annotated[
        str | None,
        typer.Option(help="Bytes the artifact store may hold (e.g. 50G)."),
    ] = None,
    allow_module: Annotated[
        list[str] | None,
        typer.Option(help="Module prefix whose paglet classes may be loaded; repeatable."),
    ] = None,
    no_discovery: Annotated[
        bool,
        typer.Option(
            "--no-discovery",
            help="No zeroconf: find peers only through --peer seeds.",
        ),
    ] = False,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Read the mesh secret from this environment variable."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Plain sockets, no mesh secret: anyone who can reach the port can use it.",
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
    if persistence_dir is None:
        persistence_dir = default_persistence_dir(name)
    bind = choose_bind_address(host, interface, insecure=insecure)
    if port is None:
        port = DEFAULT_PORT if port_is_free(bind, DEFAULT_PORT) else 0
    try:
        running = Host(
            name=name,
            host=bind,
            port=port,
            peers=peers,
            mesh_version=mesh_version,
            tags=tag or [],
            properties=parse_properties(property or []),
            persistence_dir=persistence_dir,
            allowed_modules=allow_module or [],
            discovery=not no_discovery,
            api_key_env=api_key_env,
            insecure=insecure,
            artifact_max_size=None if artifact_max_size is None else parse_size(artifact_max_size),
            artifact_storage_quota=(
                None if artifact_storage_quota is None else parse_size(artifact_storage_quota)
            ),
        )
        running.start_background()
    except zmq.ZMQError as exc:
        fail(f"cannot bind {bind}:{port}: {exc}")
        return
    except (PagletError, ValueError) as exc:
        fail(str(exc))
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"paglets host {running.name} listening on {running.address} "
        f"(mesh {mesh_version}; {describe_discovery(running, no_discovery)}; "
        f"peers: {', '.join(peers) or 'none'})",
        flush=True,
    )
    if running.secret is None:
        print("WARNING: insecure mesh: plain sockets, no authentication", flush=True)
    elif running.secret.created:
        print(
            f"created a mesh secret in {running.secret.source}; to join from another "
            f"machine run:\n  {running.join_line()}",
            flush=True,
        )
    while not stop.wait(0.5):
        pass
    print(f"paglets host {running.name} stopping", flush=True)
    running.stop()
    print(f"paglets host {running.name} stopped", flush=True)


def choose_bind_address(host: str | None, interface: str | None, *, insecure: bool = False) -> str:
    """The address to bind from ``--host`` and ``--interface``.

    With neither, a secured host binds every interface (``0.0.0.0``; the host then
    advertises its primary address, and zeroconf announces it there), so that
    ``paglets host --name NAME`` joins the LAN with no other flag. An insecure host
    stays on 127.0.0.1: plain sockets never face the network unless asked to.

    Raises:
        typer.BadParameter: both are given, or the interface has no IPv4 address.
    """
    if interface is None:
        if host is not None:
            return host
        return "127.0.0.1" if insecure else "0.0.0.0"
    if host is not None:
        raise typer.BadParameter("give --host or --interface, not both", param_hint="--interface")
    try:
        return interface_ipv4(interface)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interface") from None


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (so the default port can fall back)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def describe_discovery(running: Host, disabled: bool) -> str:
    """Where the host announces itself, for the start-up line."""
    if disabled:
        return "discovery off"
    where = running.mesh_view().get("discovery") or ""
    if not where:
        return "discovery unavailable (see the log)"
    if where.startswith("127."):
        return f"discovery on {where}: hosts on this machine only (--interface to join the LAN)"
    return f"discovery on {where}"


def default_persistence_dir(name: str) -> Path:
    """Where a host called ``name`` keeps its store when not told: so no stop loses paglets."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:80].lstrip(".")
    return config_dir() / "hosts" / (safe or "host")


def main() -> None:
    """Entry point of ``paglets-host``."""
    app()


if __name__ == "__main__":
    main()
