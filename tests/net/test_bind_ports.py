"""Binding the first free port of a range by trying the bind itself, under a race."""

from __future__ import annotations

import socket
import threading

import pytest
import zmq

from paglets.net.transport import Transport, TransportConfig


def _free_run(length: int) -> int:
    """A first port of ``length`` consecutive ports nobody listens on right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + length >= 65535:
            continue
        try:
            probes = []
            for port in range(first, first + length):
                s = socket.socket()
                probes.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in probes:
                s.close()
    raise AssertionError("no run of free ports found")


def test_transports_binding_one_range_at_once_all_come_up() -> None:
    count = 8
    first = _free_run(count)
    barrier = threading.Barrier(count)
    transports = [
        Transport(f"t{n}", TransportConfig(port=first, port_tries=count)) for n in range(count)
    ]
    errors: list[BaseException] = []

    def start(transport: Transport) -> None:
        barrier.wait(10)
        try:
            transport.start()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(t,)) for t in transports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    try:
        assert not errors, errors
        ports = sorted(int(t.address.rsplit(":", 1)[1]) for t in transports)
        assert ports == list(range(first, first + count))
    finally:
        for transport in transports:
            transport.stop()


def test_a_range_with_no_free_port_is_an_error() -> None:
    first = _free_run(2)
    taken = [Transport(f"t{n}", TransportConfig(port=first + n)) for n in range(2)]
    for transport in taken:
        transport.start()
    late = Transport("late", TransportConfig(port=first, port_tries=2))
    try:
        with pytest.raises(zmq.ZMQError):
            late.start()
    finally:
        for transport in taken:
            transport.stop()
