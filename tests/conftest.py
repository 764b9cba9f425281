"""Shared fixtures: real hosts on loopback with OS-chosen ports, always stopped."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from helpers import TIMEOUT, open_all_gates
from paglets.runtime.host import Host

HostFactory = Callable[..., Host]


# Tests never read or create the user's real mesh secret: every host of the test run
# (subprocess hosts inherit this) shares a throwaway config dir.
_TEST_HOME = tempfile.mkdtemp(prefix="paglets-test-home-")
os.environ["PAGLETS_HOME"] = _TEST_HOME
os.environ.pop("PAGLETS_API_KEY", None)
atexit.register(shutil.rmtree, _TEST_HOME, True)


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
