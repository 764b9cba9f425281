"""This host's facts (who it is, what it runs, what it has free) and ranking hosts by them.

:class:`HostFacts` samples the machine with psutil and stamps each sample with the
host's ``incarnation`` and the next ``seq``; the result is the map gossip publishes,
``hello`` carries and :class:`~paglets.net.peers.PeerInfo` reads. Sampling touches
``/proc`` and the store, so it runs on a worker thread, never on the I/O thread.

:func:`rank_targets` orders hosts for placement (the ``mesh targets`` CLI now, the
compute placement later).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from paglets.net.peers import PeerInfo, PeerTable
from paglets.net.transport import Transport
from paglets.runtime.config import HostConfig
from paglets.runtime.execution.registry import Registry
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.protocol import PROTOCOL_VERSION


@dataclass(frozen=True)
class MachineSample:
    """Resources of this machine at one moment."""

    cpu_count: int
    load: float
    memory_free: int
    memory_total: int
    work_free: int


def sample_machine(work_dir: Path) -> MachineSample:
    """Read core count, 1-minute load average, RAM and free bytes under ``work_dir``."""
    memory = psutil.virtual_memory()
    try:
        work_free = shutil.disk_usage(work_dir).free
    except OSError:
        work_free = 0
    try:
        load = os.getloadavg()[0]
    except OSError:  # not every platform has a load average
        load = psutil.cpu_percent(interval=None) / 100 * (os.cpu_count() or 1)
    return MachineSample(
        cpu_count=psutil.cpu_count(logical=True) or 1,
        load=round(load, 3),
        memory_free=int(memory.available),
        memory_total=int(memory.total),
        work_free=int(work_free),
    )


class HostFacts:
    """The facts this host publishes, one numbered sample at a time. Thread-safe.

    Args:
        config: the host's config (name, mesh version, tags, properties).
        identity: the host's address.
        transport: the host's transport (its identity key).
        peers: the peer table (how many are online).
        registry, store: where the active and inactive paglets are counted.
        pub_address: the advertised gossip PUB endpoint.
    """

    def __init__(
        self,
        config: HostConfig,
        identity: HostIdentity,
        transport: Transport,
        peers: PeerTable,
        registry: Registry,
        store: PagletStore,
        pub_address: str,
    ) -> None:
        self._config = config
        self._identity = identity
        self._transport = transport
        self._peers = peers
        self._registry = registry
        self._store = store
        self.pub_address = pub_address
        self.incarnation = time.time_ns()
        self._seq = 0
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._current: dict[str, Any] = {}
        # Every logical core, until the compute-slots service (which starts after the
        # host) says how many of its cores are free with set_free_cores().
        self._free_cores: Callable[[MachineSample], int] = lambda sample: sample.cpu_count
        directory = self._config.persistence_dir
        self._work_dir = directory if directory is not None else Path(tempfile.gettempdir())

    def set_free_cores(self, provider: Callable[[MachineSample], int] | None) -> None:
        """Let another part (compute slots) say how many cores are free; None: all."""
        self._free_cores = provider or (lambda sample: sample.cpu_count)

    def current(self) -> dict[str, Any]:
        """The last sample (a copy); takes one first if there is none."""
        with self._lock:
            if self._current:
                return dict(self._current)
        return self.sample()

    def sample(self, leaving: bool = False) -> dict[str, Any]:
        """Take a new numbered sample, keep it as :meth:`current`, and return it.

        Args:
            leaving: mark it as this host's last word (it is stopping).
        """
        machine = sample_machine(self._work_dir)
        config = self._config
        facts: dict[str, Any] = {
            "name": config.name,
            "address": self._identity.address,
            "pub": self.pub_address,
            "key": self._transport.identity_key,
            "mesh_version": config.mesh_version,
            "protocol": PROTOCOL_VERSION,
            "tags": list(config.tags),
            "properties": dict(config.properties),
            "incarnation": self.incarnation,
            "active": len(self._registry),
            "inactive": len(self._store.ids()) if not leaving else 0,
            "cpu_count": machine.cpu_count,
            "load": machine.load,
            "memory_free": machine.memory_free,
            "memory_total": machine.memory_total,
            "work_free": machine.work_free,
            "cores_free": max(0, int(self._free_cores(machine))),
            "peer_count": self._peers.online_count(),
            "time": time.time(),
        }
        if leaving:
            facts["leaving"] = True
        with self._lock:
            self._seq += 1
            facts["seq"] = self._seq
            self._current = facts
            return dict(facts)

    def publish_sample(
        self, publish: Callable[[dict[str, Any]], None], leaving: bool = False
    ) -> dict[str, Any]:
        """Take a sample and hand it to ``publish``; samples go out in ``seq`` order."""
        with self._publish_lock:
            facts = self.sample(leaving)
            publish(facts)
            return facts


@dataclass(frozen=True)
class TargetFilter:
    """What a placement target must offer.

    Attributes:
        max_load_per_cpu: highest load average per logical core (None: any).
        min_memory: least free RAM in bytes.
        min_work_free: least free work storage in bytes.
        require_tags: tags the host must all have.
        exclude: host names left out (e.g. the asking host).
    """

    max_load_per_cpu: float | None = None
    min_memory: int = 0
    min_work_free: int = 0
    require_tags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def refusal(self, host: PeerInfo) -> str:
        """Why ``host`` is not a target ('' when it is one)."""
        if not host.online:
            return "offline"
        if host.name in self.exclude:
            return "excluded"
        missing = [tag for tag in self.require_tags if tag not in host.tags]
        if missing:
            return f"lacks tag {', '.join(missing)}"
        if self.max_load_per_cpu is not None and host.load_per_cpu > self.max_load_per_cpu:
            return f"load per cpu {host.load_per_cpu:.2f} > {self.max_load_per_cpu:g}"
        if host.memory_free < self.min_memory:
            return f"free memory {host.memory_free} < {self.min_memory}"
        if host.work_free < self.min_work_free:
            return f"free work storage {host.work_free} < {self.min_work_free}"
        return ""


def rank_targets(
    hosts: Iterable[PeerInfo], wanted: TargetFilter
) -> tuple[list[PeerInfo], list[tuple[PeerInfo, str]]]:
    """Order the hosts that pass ``wanted``, best first; list the others with why.

    Best means most free cores, then lowest load per core, then most free memory.
    """
    chosen: list[PeerInfo] = []
    refused: list[tuple[PeerInfo, str]] = []
    for host in hosts:
        why = wanted.refusal(host)
        if why:
            refused.append((host, why))
        else:
            chosen.append(host)
    chosen.sort(key=lambda h: (-h.cores_free, h.load_per_cpu, -h.memory_free, h.name))
    return chosen, refused
