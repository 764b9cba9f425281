"""``paglets host`` (and the classic ``paglets-host``): run a host until told to stop.

SIGINT and SIGTERM stop it gracefully: active paglets are deactivated into the store
first (``--persistence-dir``, by default ``~/.paglets/hosts/NAME``), so a restart on
the same directory finds them. The
handlers only count signals (:mod:`~paglets.cli.stop_signals`); the host starts and
stops on a thread of its own while the main thread watches the count:

* the first signal (at any moment, during start too) asks for a graceful stop;
* a second one, while the stop is slow, says what it is waiting for;
* a third exits at once with ``os._exit``, without waiting for paglets. The store is
  consistent all the same: every write to it is one SQLite transaction (WAL), and an
  exit between or inside transactions is the crash SQLite's atomic commit is built
  for, so the next start finds each paglet either committed or not at all. Closing the
  store from the main thread instead would race the thread still writing to it.

With no ``--port``, the host binds 8765 (``$PAGLETS_PORT`` if set), or the first free
port after it: the bind itself is the test (no check first), so hosts started at the
same instant all come up.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import zmq

from paglets.cli.output import fail
from paglets.cli.sizes import parse_size
from paglets.cli.stop_signals import StopSignals
from paglets.core.agent import ACTIVE
from paglets.core.errors import PagletError
from paglets.net.endpoint import normalize_address
from paglets.net.interfaces import interface_ipv4
from paglets.net.mesh_secret import config_dir
from paglets.runtime.config import DEFAULT_PORT, default_port, parse_load_gate
from paglets.runtime.host import Host
from paglets.system.host_services import start_host_services

app = typer.Typer(add_completion=False, help="Run a paglets host.")

PORT_TRIES = 100
"""Ports tried from 8765 up when no ``--port`` is given."""
STOP_TIMEOUT = 10.0
"""Seconds the graceful stop grants each step (deactivating a paglet, closing sockets)."""


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
            help=f"Port to bind (0: any free port; default {DEFAULT_PORT} or $PAGLETS_PORT, "
            "or a free one after it if that is taken)."
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
    max_load: Annotated[
        str | None,
        typer.Option(
            "--max-load-per-cpu",
            metavar="N|none",
            help="Compute jobs wait while the load per CPU from other work is over N "
            "(default: $PAGLETS_MAX_LOAD_PER_CPU, else 1.0; none: no gate).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
    files_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--files-root",
            metavar="PATH",
            help="Directory paglets may read and write host files under; repeatable "
            "(default: your home and the temp dir; / lifts the limit).",
        ),
    ] = None,
) -> None:
    """Run a host until SIGINT or SIGTERM."""
    signals = StopSignals().install()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        peers = [normalize_address(address) for address in peer or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--peer") from None
    gate: dict[str, Any] = {}
    if max_load is not None:
        try:
            gate["compute_max_load_per_cpu"] = parse_load_gate(max_load, "--max-load-per-cpu")
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--max-load-per-cpu") from None
    if persistence_dir is None:
        persistence_dir = default_persistence_dir(name)
    bind = choose_bind_address(host, interface, insecure=insecure)
    port_tries = PORT_TRIES if port is None else 1
    if port is None:
        try:
            port = default_port()
        except ValueError as exc:
            fail(str(exc))
            return
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
            mesh_lan_discovery=not no_discovery,
            api_key_env=api_key_env,
            insecure=insecure,
            artifact_max_size=None if artifact_max_size is None else parse_size(artifact_max_size),
            artifact_storage_quota=(
                None if artifact_storage_quota is None else parse_size(artifact_storage_quota)
            ),
            files_roots=None if not files_root else tuple(p.absolute() for p in files_root),
            port_tries=port_tries,
            **gate,
        )
    except (PagletError, ValueError) as exc:
        fail(str(exc))
        return
    lifecycle = Lifecycle(running, signals)
    lifecycle.start()
    lifecycle.wait_started()
    if lifecycle.error is not None:
        error = lifecycle.error
        span = f"{port}-{port + port_tries - 1}" if port_tries > 1 else str(port)
        fail(
            f"cannot bind {bind}:{span}: {error}" if isinstance(error, zmq.ZMQError) else str(error)
        )
        return
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
    lifecycle.serve_until_stopped()


class Lifecycle:
    """Starts and stops one host on a thread while the main thread watches the signals."""

    def __init__(self, running: Host, signals: StopSignals) -> None:
        self.running = running
        self.signals = signals
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stop_began = 0.0
        self._told = 0
        self._thread = threading.Thread(target=self._run, name="paglets-host-lifecycle")

    def start(self) -> None:
        """Start the host on the lifecycle thread."""
        self._thread.start()

    def _run(self) -> None:
        try:
            self.running.start_background()
            start_host_services(self.running)  # system services and launch.toml
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        if self.error is not None:
            self.running.stop(STOP_TIMEOUT)  # a no-op unless it had started
        self._started.set()
        self.signals.wake()
        if self.error is not None:
            self._stopped.set()
            return
        while not self._stop.wait(STOP_TIMEOUT):
            pass  # only the main thread sets it: no signal handler touches this lock
        try:
            self.running.stop(STOP_TIMEOUT)
        finally:
            self._stopped.set()
            self.signals.wake()

    def wait_started(self) -> None:
        """Wait until the host started or failed to (signals meanwhile are acted on)."""
        while not self._started.is_set():
            self.signals.wait(1.0)
            self._watch()

    def serve_until_stopped(self) -> None:
        """Serve until a signal, then stop gracefully (see the module docstring)."""
        while not self._stopped.is_set():
            self.signals.wait(1.0)
            self._watch()
        self._thread.join(STOP_TIMEOUT)
        print(f"paglets host {self.running.name} stopped", flush=True)
        # Stopped: later signals have nothing left to stop. Ignored, not left to
        # Python's finalisation, which puts the default (killing) action back.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)

    def _watch(self) -> None:
        """Act on the signals counted so far."""
        count = self.signals.count
        if count >= 1 and not self._stop.is_set():
            print(f"paglets host {self.running.name} stopping", flush=True)
            self._stop_began = time.monotonic()
            self._stop.set()
        if count >= 3:
            self._exit_now()
        if count == 2 and self._told < 2:
            self._told = 2
            print(self._waiting_for(), flush=True)

    def _waiting_for(self) -> str:
        waited = time.monotonic() - self._stop_began
        if not self._started.is_set():
            doing = "the host is still starting; it stops once it is up"
        else:
            active = len(self.running.get_proxies(ACTIVE))
            doing = (
                f"{active} active paglet(s) left to deactivate into the store"
                if active
                else "the sockets and workers to close"
            )
        return (
            f"paglets host {self.running.name} still stopping after {waited:.1f}s: waiting "
            f"for {doing} (up to {STOP_TIMEOUT:.0f}s a step); signal once more to exit "
            "now, leaving paglets not yet deactivated behind"
        )

    def _exit_now(self) -> None:
        # No lock from here on (the stopping thread may hold any): one write, then exit.
        message = (
            f"paglets host {self.running.name} exiting now, without waiting for paglets "
            "(those not yet deactivated are lost unless durable; the store is consistent)\n"
        )
        try:
            os.write(2, message.encode())
        finally:
            os._exit(128 + (self.signals.last or signal.SIGTERM))


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
