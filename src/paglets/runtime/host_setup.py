"""Turning ``Host(...)`` keyword arguments into a :class:`HostConfig`, and start-up helpers.

The keyword names are the original package's (``mesh``, ``mesh_multicast``,
``mesh_lan_discovery``...); ``HostConfig`` keeps ours. Discovery defaults to *auto*:
zeroconf runs only when the host binds an interface other than loopback, since on
loopback there is no LAN to find anyone on (and tests, which bind 127.0.0.1, never
send mDNS unless they ask).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.net.endpoint import normalize_address, split_address
from paglets.net.mesh_secret import MeshSecret, resolve_secret
from paglets.net.transport import Transport
from paglets.runtime.config import DEFAULT_PORT, LOAD_VARIABLE, HostConfig, parse_load_gate
from paglets.runtime.host_identity import HostIdentity

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", "*", ""})
BUILT_IN_MODULES = ("paglets.examples", "paglets.patterns", "paglets.system")
_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(HostConfig))
_RENAMED = {"discovery": "mesh_lan_discovery"}


def _optional_flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True, False or None (auto), not {value!r}")
    return value


def host_config(
    name: str,
    host: str,
    port: int,
    peers: Iterable[str],
    mesh: bool,
    mesh_version: str | None,
    mesh_multicast: bool | None,
    mesh_lan_discovery: bool | None,
    tags: Iterable[str],
    properties: Mapping[str, str] | None,
    persistence_dir: str | Path | None,
    api_key: str | None,
    allowed_modules: Iterable[str],
    options: Mapping[str, Any],
) -> HostConfig:
    """The config of ``Host(...)``'s arguments.

    Raises:
        TypeError: an unknown keyword (the message lists the accepted ones), or a
            wrong type for a flag.
        ValueError: a port out of range, ``mesh=False`` with peers, or a
            ``$PAGLETS_MAX_LOAD_PER_CPU`` that is neither a number nor ``none``.
    """
    for key in options:
        if key in _RENAMED:
            raise TypeError(f"Host() takes {_RENAMED[key]}=, not {key}=")
        if key not in _CONFIG_FIELDS:
            accepted = ", ".join(sorted(_CONFIG_FIELDS - set(_RENAMED)))
            raise TypeError(
                f"Host() got an unexpected keyword argument {key!r}; accepted: {accepted}"
            )
    if not isinstance(mesh, bool):
        raise TypeError(f"mesh must be True or False, not {mesh!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535 (0: the OS chooses), not {port!r}")
    multicast = _optional_flag("mesh_multicast", mesh_multicast)
    lan = _optional_flag("mesh_lan_discovery", mesh_lan_discovery)
    if multicast is None and lan is None:
        discovery = host not in LOOPBACK
    else:
        discovery = bool(multicast) or bool(lan)
    seeds = tuple(normalize_address(peer) for peer in peers)
    if not mesh and seeds:
        raise ValueError("mesh=False means no mesh at all: give no peers")
    options = dict(options)
    gate = os.environ.get(LOAD_VARIABLE, "")
    if "compute_max_load_per_cpu" not in options and gate.strip():
        options["compute_max_load_per_cpu"] = parse_load_gate(gate)
    return HostConfig(
        name=name,
        host=host,
        port=port,
        peers=seeds,
        mesh=mesh,
        mesh_version="dev" if mesh_version is None else mesh_version,
        tags=tuple(tags),
        properties=dict(properties or {}),
        persistence_dir=None if persistence_dir is None else Path(persistence_dir),
        discovery=discovery and mesh,
        api_key=api_key,
        allowed_modules=(*BUILT_IN_MODULES, *allowed_modules),
        **options,
    )


def check_create_args(cls: object, state: object, agent_id: object) -> None:
    """Check the arguments of ``Host.create``.

    Raises:
        TypeError: ``cls`` is not a Paglet subclass, ``state`` not a PagletState, or
            ``agent_id`` not a non-empty str.
    """
    if not (isinstance(cls, type) and issubclass(cls, Paglet)):
        raise TypeError(f"cls must be a Paglet subclass, not {cls!r}")
    if state is not None and not isinstance(state, PagletState):
        raise TypeError(f"state must be a PagletState (or None), not {type(state).__name__}")
    if agent_id is not None and (not isinstance(agent_id, str) or not agent_id):
        raise TypeError(f"agent_id must be a non-empty str (or None), not {agent_id!r}")


def resolve_host_secret(config: HostConfig) -> MeshSecret | None:
    """The mesh secret of a host (None when it runs insecure).

    Raises:
        PagletError: ``insecure`` together with a secret, or an unset secret variable.
    """
    if config.insecure:
        if config.api_key or config.api_key_env:
            raise PagletError("insecure=True contradicts a mesh secret; choose one")
        if config.host not in LOOPBACK:
            log.warning(
                "host %s runs INSECURE on %s: anyone who can reach its port can run "
                "any allowed paglet class on it",
                config.name,
                config.host,
            )
        return None
    try:
        return resolve_secret(config.api_key, config.api_key_env)
    except ValueError as exc:
        raise PagletError(str(exc)) from None


def files_root(owner: object, config: HostConfig) -> tuple[Path, Callable[[], Any] | None]:
    """Where artifacts and work dirs live, and how to remove it (None: keep it).

    The persistence dir, else a temporary directory removed at stop or when ``owner``
    is collected without stopping.
    """
    if config.persistence_dir is not None:
        config.persistence_dir.mkdir(parents=True, exist_ok=True)
        return config.persistence_dir, None
    label = "".join(c if c.isalnum() else "-" for c in config.name[:40])
    root = Path(tempfile.mkdtemp(prefix=f"paglets-{label}-"))
    return root, weakref.finalize(owner, shutil.rmtree, str(root), True)


def primary_ipv4() -> str | None:
    """The first non-loopback IPv4 address of this machine, if any."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                return str(address.address)
    return None


def register_addresses(transport: Transport, identity: HostIdentity) -> None:
    """Record every address this host answers at (wildcard binds advertise an IPv4)."""
    bound_host, port = split_address(transport.address)
    if bound_host in WILDCARDS:
        advertised = primary_ipv4() or "127.0.0.1"
        transport._address = normalize_address(f"{advertised}:{port}")
        identity.add_local(
            normalize_address(f"{h}:{port}") for h in ("127.0.0.1", "localhost", advertised)
        )
    else:
        local = {transport.address}
        if bound_host in ("127.0.0.1", "localhost"):
            local.update(normalize_address(f"{h}:{port}") for h in ("127.0.0.1", "localhost"))
        identity.add_local(local)


__all__ = [
    "DEFAULT_PORT",
    "check_create_args",
    "files_root",
    "host_config",
    "primary_ipv4",
    "register_addresses",
    "resolve_host_secret",
]
