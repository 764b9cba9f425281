"""Shared fixtures: real hosts on loopback with OS-chosen ports, always stopped."""

from __future__ import annotations

import atexit
import faulthandler
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
import zmq

from helpers import TIMEOUT, open_all_gates
from paglets.runtime.host import Host
from paglets.system.compute_slots import attach

HostFactory = Callable[..., Host]


# Tests never read or create the user's real mesh secret: every host of the test run
# (subprocess hosts inherit this) shares a throwaway config dir.
_TEST_HOME = tempfile.mkdtemp(prefix="paglets-test-home-")
os.environ["PAGLETS_HOME"] = _TEST_HOME
os.environ.pop("PAGLETS_API_KEY", None)
# No CLI a test runs (in process or as a subprocess) browses zeroconf on real interfaces.
os.environ["PAGLETS_BROWSE_SECONDS"] = "0"


def _free_default_port() -> int:
    """A port nobody listens on now, for this run's 'default' host port (not 8765)."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20_000, 60_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found for PAGLETS_PORT")


# A host the developer runs on 8765 is never the entry of a test's CLI, and the hosts
# tests start without --port never take 8765.
os.environ["PAGLETS_PORT"] = str(_free_default_port())
atexit.register(shutil.rmtree, _TEST_HOME, True)

# A background job of a non-interactive shell (`.ci/run &`, nohup) starts with SIGINT
# ignored, and every process a test spawns would inherit that: a SIGINT sent before a
# host's own handlers exist would then be lost, not end it. Tests spawn their processes
# as a terminal would, with the default action (a caught signal is reset by exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


LEAK_GRACE = 10.0
"""Seconds a test's threads, listening sockets and child processes get to end after it."""

EXIT_GRACE = 60.0
"""Seconds the run may take to exit once the last test is done."""


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A thread left running (not a daemon) would keep the process alive for good:
    past :data:`EXIT_GRACE`, print every thread's stack and exit with status 1."""
    faulthandler.dump_traceback_later(EXIT_GRACE, exit=True)


def _listening_ports() -> set[tuple[str, int]]:
    own = psutil.Process()
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in own.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr
    }


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _process_wide(thread: threading.Thread) -> bool:
    """Threads a library starts once per process on first use (not a test's leak)."""
    return type(thread).__name__ == "GarbageCollectorThread"  # pyzmq's zero-copy reaper


def _uses_shared_fixtures(request: pytest.FixtureRequest) -> bool:
    definitions = request.node._fixtureinfo.name2fixturedefs.values()
    return any(each.scope != "function" for defs in definitions for each in defs)


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves threads, listening sockets or child processes behind.

    What a test started must be gone within :data:`LEAK_GRACE` seconds of its end (and
    of its fixtures' teardown); leftovers are named in the failure, and child processes
    are killed so they cannot spoil the next test.
    """
    # A host shared by a module's tests starts worker threads as they are needed: judge
    # threads only in tests that share no fixture wider than the test.
    check_threads = not _uses_shared_fixtures(request)
    threads = set(threading.enumerate())
    ports = _listening_ports()
    children = _children()
    yield
    if request.node.get_closest_marker("allow_leaks") is not None:
        return

    def leftovers() -> tuple[list[str], set[tuple[str, int]], set[int]]:
        new_threads = [
            f"{thread.name} ({type(thread).__module__}.{type(thread).__qualname__})"
            for thread in threading.enumerate()
            if check_threads
            and thread not in threads
            and thread.is_alive()
            and not _process_wide(thread)
        ]
        return new_threads, _listening_ports() - ports, _children() - children

    deadline = time.monotonic() + LEAK_GRACE
    found = leftovers()
    while any(found) and time.monotonic() < deadline:
        time.sleep(0.02)
        found = leftovers()
    new_threads, new_ports, new_children = found
    for pid in new_children:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    assert not any(found), (
        f"test left behind threads {new_threads}, listening sockets {sorted(new_ports)}, "
        f"child processes {sorted(new_children)}"
    )


@pytest.fixture
def make_host() -> Iterator[HostFactory]:
    """Start hosts on ``127.0.0.1`` with OS-chosen ports; stop all of them afterwards.

    ``make_host(name, **options)`` passes ``options`` to :class:`Host` (and through
    it to ``HostConfig``); ``start=False`` returns the host unstarted.
    """
    hosts: list[Host] = []

    def make(name: str | None = None, *, start: bool = True, **options: Any) -> Host:
        options.setdefault("port", 0)
        new = Host(name=name or f"host-{len(hosts) + 1}", host="127.0.0.1", **options)
        hosts.append(new)
        if start:
            new.start_background(timeout=TIMEOUT)
        return new

    yield make
    open_all_gates()  # no handler may keep a worker busy while its host stops
    for each in reversed(hosts):
        each.stop(timeout=TIMEOUT)


@pytest.fixture
def host(make_host: HostFactory) -> Host:
    """One running host called ``alpha``."""
    return make_host("alpha")


def join_mesh(*hosts: Host) -> None:
    """Wait until every host knows every other one by name."""
    for each in hosts:
        for other in hosts:
            if other is not each:
                each.wait_for_host(other.name, TIMEOUT)


@pytest.fixture
def two_hosts(make_host: HostFactory) -> tuple[Host, Host]:
    """``alpha`` and ``beta``, seeded with each other's address and known by name."""
    alpha = make_host("alpha")
    beta = make_host("beta", peers=[alpha.address])
    join_mesh(alpha, beta)
    return alpha, beta


@pytest.fixture
def three_hosts(make_host: HostFactory) -> tuple[Host, Host, Host]:
    """``alpha``, ``beta`` and ``gamma``, all seeded with alpha and known by name."""
    alpha = make_host("alpha")
    beta = make_host("beta", peers=[alpha.address])
    gamma = make_host("gamma", peers=[alpha.address])
    join_mesh(alpha, beta, gamma)
    return alpha, beta, gamma


@pytest.fixture
def dead_address() -> str:
    """An address on loopback where nobody listens (a port the OS just handed out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture
def zmq_context() -> Iterator[zmq.Context[Any]]:
    """A ZeroMQ context for raw sockets; every socket is closed with it."""
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def compute_host(make_host: HostFactory) -> HostFactory:
    """``compute_host(name, **options)``: a started host running its compute slots.

    The slots stop with the host (a stop hook), which ``make_host`` stops.
    """

    def make(name: str | None = None, **options: Any) -> Host:
        host = make_host(name, **options)
        attach(host)
        return host

    return make
