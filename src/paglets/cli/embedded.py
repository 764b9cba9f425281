"""The entry host of a CLI that can do its job on this machine alone.

``paglets sys``, ``paglets search`` and the compute examples need a host to run their
paglets on. :func:`open_entry` finds one as every networked CLI does
(:func:`~paglets.cli.entry.resolve_entry`); when none answers and ``--entry`` was not
given, it starts an *embedded* host inside this process instead: plain sockets on
loopback, no discovery, a temporary store removed on exit. It says so on stderr, so a
user never mistakes the machine's own answer for the mesh's.

The zeroconf browse of the entry search is bounded by ``PAGLETS_BROWSE_SECONDS`` (see
:mod:`paglets.cli.entry`).
"""

from __future__ import annotations

import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from paglets.cli.entry import ClientOptions, resolve_entry
from paglets.core.errors import PeerNotFoundError
from paglets.remote.client import HostClient
from paglets.runtime.host import Host


@dataclass(frozen=True)
class Entry:
    """The host a CLI talks to.

    Attributes:
        address: its request address.
        client: an open client to it (closed when :func:`open_entry` exits).
        embedded: True when the host runs inside this process.
        host: the embedded host itself, else None.
    """

    address: str
    client: HostClient
    embedded: bool
    host: Host | None = None


@dataclass(frozen=True)
class EmbeddedOptions:
    """How one command's embedded host differs from the default one.

    Attributes:
        host_options: more ``Host(...)`` keywords.
        notice: said on stderr after "running on an in-process host".
        elsewhere: said on stderr when a running host answers instead ('' for nothing).
    """

    host_options: Mapping[str, Any] = field(default_factory=dict)
    notice: str = ""
    elsewhere: str = ""


def embedded_host_name() -> str:
    """The name an embedded host takes: this machine's short host name."""
    return socket.gethostname().split(".")[0] or "localhost"


@contextmanager
def open_entry(
    entry: str | None,
    options: ClientOptions,
    *,
    allowed_modules: tuple[str, ...] = (),
    local: str | None = None,
    embedded: EmbeddedOptions | None = None,
) -> Iterator[Entry]:
    """Yield the entry host: the one asked for or found, else an embedded one.

    Args:
        entry: ``--entry`` as given (a name, an address or None).
        options: timeout and mesh-secret options of the command.
        allowed_modules: module prefixes the embedded host may import paglet classes
            from (the packaged ``paglets.*`` ones are always allowed).
        local: where a host on this machine is looked for first (default:
            :func:`~paglets.cli.entry.local_entry`).
        embedded: how this command's embedded host differs from the default one.

    Raises:
        PeerNotFoundError: ``entry`` was given and no such host answers.
        AuthenticationError: a host answered but refused our mesh secret.
        ValueError: bad options (``api_key_env`` unset, bad browse seconds).
    """
    try:
        address = resolve_entry(entry, options, local=local)
    except PeerNotFoundError:
        if entry is not None:
            raise
    else:
        if embedded is not None and embedded.elsewhere:
            print(embedded.elsewhere.format(address=address), file=sys.stderr)
        with options.client(address) as client:
            yield Entry(address=address, client=client, embedded=False)
        return
    with tempfile.TemporaryDirectory(prefix="paglets-embedded-") as store:
        host = Host(
            name=embedded_host_name(),
            host="127.0.0.1",
            port=0,
            mesh_lan_discovery=False,
            persistence_dir=store,
            insecure=True,
            allowed_modules=("paglets", *allowed_modules),
            **({} if embedded is None else dict(embedded.host_options)),
        )
        host.start_background()
        try:
            notice = "" if embedded is None or not embedded.notice else f"; {embedded.notice}"
            print(
                f"no host found: running on an in-process host for this machine "
                f"({host.config.name}){notice}",
                file=sys.stderr,
            )
            with HostClient(address=host.address, timeout=options.timeout, insecure=True) as client:
                yield Entry(address=host.address, client=client, embedded=True, host=host)
        finally:
            host.stop()
