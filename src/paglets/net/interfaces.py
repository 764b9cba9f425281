"""This machine's network interfaces, by name (no zeroconf needed to ask)."""

from __future__ import annotations

import socket

import psutil


def interface_ipv4(interface: str) -> str:
    """The IPv4 address of a network interface given by name (or by that address).

    Raises:
        ValueError: no such interface, or it has no IPv4 address.
    """
    addresses = psutil.net_if_addrs()
    for name, entries in addresses.items():
        for entry in entries:
            if entry.family == socket.AF_INET and interface in (name, entry.address):
                return str(entry.address)
    names = ", ".join(sorted(addresses)) or "none"
    raise ValueError(f"no interface {interface!r} with an IPv4 address (interfaces: {names})")
