"""The hosts this host knows: their facts, whether they are alive, and lookup by name.

Facts always come first-hand: from a host's own ``hello`` (request or reply) or from
its own gossip on PUB/SUB, never relayed by a third host. Each carries the sender's
``incarnation`` (set once per process start) and a ``seq`` that grows with every
publication, so :meth:`PeerTable.apply` can drop anything older than what it holds.

Each host's facts name its identity ``key`` (its CURVE public key, z85); the
table keeps it with the address, and :mod:`~paglets.runtime.mesh.membership` decides which
facts may change it (docs/security.md).

The table is bounded (``max_hosts``): when full, the offline host silent longest
makes room, and with none offline a new host is refused.

Liveness is the receiver's business: every accepted message refreshes ``heard`` (a
monotonic clock reading); :meth:`PeerTable.sweep` marks hosts silent for longer than
the window offline. Offline hosts stay listed (with when they were last seen) until a
host of the same name at another address replaces them.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from paglets.core.errors import PeerNotFoundError, RemoteHostError

_MAX_LABELS = 256
_MAX_KEY = 64
_NUMBERS = (
    "protocol",
    "incarnation",
    "seq",
    "active",
    "inactive",
    "cpu_count",
    "load",
    "memory_free",
    "memory_total",
    "work_free",
    "cores_free",
    "peer_count",
)


def _bounded(value: object) -> int | float:
    """A number from the network that msgpack can send on (a signed 64-bit integer)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"number {value!r} out of range")
    return value


@dataclass(frozen=True)
class PeerInfo:
    """What is known of one host. Frozen: updates replace the whole value.

    Attributes:
        name, address: the host's name and ROUTER endpoint (``tcp://HOST:PORT``).
        pub_address: its gossip PUB endpoint ('' if unknown).
        key: its identity key (z85 CURVE public key; '' on an insecure mesh).
        mesh_version, protocol: what it speaks.
        tags, properties: what its operator labelled it with.
        incarnation, seq: orders its publications (see the module docstring).
        active, inactive: its paglet counts.
        cpu_count, load: logical cores and the 1-minute load average.
        memory_free, memory_total: RAM in bytes.
        work_free: free bytes where its paglets' work files go.
        cores_free: cores free for compute jobs.
        peer_count: how many online hosts it knows (lets a host notice it misses some).
        online, last_seen: liveness as this host sees it (``last_seen`` is wall time).
        heard: ``time.monotonic()`` when it was last heard from (local only).
    """

    name: str
    address: str
    pub_address: str = ""
    key: str = ""
    mesh_version: str = ""
    protocol: int = 0
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    incarnation: int = 0
    seq: int = 0
    active: int = 0
    inactive: int = 0
    cpu_count: int = 0
    load: float = 0.0
    memory_free: int = 0
    memory_total: int = 0
    work_free: int = 0
    cores_free: int = 0
    peer_count: int = 0
    online: bool = True
    last_seen: float = field(default_factory=time.time)
    heard: float = field(default_factory=time.monotonic, compare=False, repr=False)

    @property
    def load_per_cpu(self) -> float:
        """The load average divided by the logical core count."""
        return self.load / self.cpu_count if self.cpu_count > 0 else self.load

    @property
    def version(self) -> tuple[int, int]:
        """``(incarnation, seq)``: larger is newer."""
        return (self.incarnation, self.seq)

    def to_wire(self) -> dict[str, Any]:
        """The facts as a plain map (``hello``, the ``mesh`` verb, the CLIs)."""
        return {
            "name": self.name,
            "address": self.address,
            "pub": self.pub_address,
            "key": self.key,
            "mesh_version": self.mesh_version,
            "protocol": self.protocol,
            "tags": list(self.tags),
            "properties": dict(self.properties),
            "incarnation": self.incarnation,
            "seq": self.seq,
            "active": self.active,
            "inactive": self.inactive,
            "cpu_count": self.cpu_count,
            "load": self.load,
            "memory_free": self.memory_free,
            "memory_total": self.memory_total,
            "work_free": self.work_free,
            "cores_free": self.cores_free,
            "peer_count": self.peer_count,
            "online": self.online,
            "last_seen": self.last_seen,
            "age": max(0.0, time.monotonic() - self.heard),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PeerInfo:
        """Build from a facts map (:meth:`to_wire` output or a host's own facts).

        Facts come from the network: every field is checked and converted; unknown
        keys are ignored. ``online`` defaults to True and ``heard`` is now.

        Raises:
            ValueError: a required field is missing, or a field has the wrong type.
        """
        name, address = data.get("name"), data.get("address")
        if not isinstance(name, str) or not isinstance(address, str) or not name:
            raise ValueError("host facts need a string 'name' and 'address'")
        tags = data.get("tags") or ()
        properties = data.get("properties") or {}
        if not isinstance(tags, (list, tuple)) or not isinstance(properties, Mapping):
            raise ValueError("'tags' must be a list and 'properties' a map")
        if len(tags) > _MAX_LABELS or len(properties) > _MAX_LABELS:
            raise ValueError(f"more than {_MAX_LABELS} tags or properties")
        key = data.get("key") or ""
        if not isinstance(key, str) or len(key) > _MAX_KEY:
            raise ValueError("'key' must be a short string")
        try:
            numbers = {key: _bounded(data.get(key)) for key in _NUMBERS}
            return cls(
                name=name,
                address=address,
                pub_address=str(data.get("pub") or ""),
                key=key,
                mesh_version=str(data.get("mesh_version", "")),
                protocol=int(numbers["protocol"]),
                tags=tuple(str(tag) for tag in tags),
                properties={str(k): str(v) for k, v in properties.items()},
                incarnation=int(numbers["incarnation"]),
                seq=int(numbers["seq"]),
                active=int(numbers["active"]),
                inactive=int(numbers["inactive"]),
                cpu_count=int(numbers["cpu_count"]),
                load=float(numbers["load"]),
                memory_free=int(numbers["memory_free"]),
                memory_total=int(numbers["memory_total"]),
                work_free=int(numbers["work_free"]),
                cores_free=int(numbers["cores_free"]),
                peer_count=int(numbers["peer_count"]),
                online=bool(data.get("online", True)),
                last_seen=float(data.get("last_seen") or time.time()),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"malformed host facts from {name!r}: {exc}") from None


class Change(enum.Enum):
    """What :meth:`PeerTable.apply` did with a host's facts."""

    NEW = "new"  # first time this address was heard of
    RETURNED = "returned"  # it was offline and is heard again
    RESTARTED = "restarted"  # same address, new process (another incarnation)
    UPDATED = "updated"  # newer facts of a known, online host
    STALE = "stale"  # not newer than what the table holds: dropped
    REFUSED = "refused"  # a new host, but the table is full of online hosts


class PeerTable:
    """Known hosts by address, with lookup by name and waiting for a name."""

    def __init__(self, max_hosts: int = 4096) -> None:
        self._max_hosts = max_hosts
        self._by_address: dict[str, PeerInfo] = {}
        self._cond = threading.Condition()

    def apply(self, info: PeerInfo) -> tuple[Change, PeerInfo | None]:
        """Take first-hand facts of a host unless they are older than those held.

        Facts of the same incarnation must carry a larger ``seq`` (an equal one only
        refreshes liveness); another incarnation is a restarted process and always
        wins, since only one process can hold an address at a time.

        Returns:
            What changed, and the entry replaced (None for a new host).
        """
        with self._cond:
            old = self._by_address.get(info.address)
            if old is None:
                if not self._make_room():
                    return Change.REFUSED, None
                change = Change.NEW
            elif old.incarnation != info.incarnation:
                change = Change.RESTARTED
            elif info.seq < old.seq:
                return Change.STALE, old
            elif info.seq == old.seq:
                info = replace(old, online=True, heard=info.heard, last_seen=info.last_seen)
                change = Change.UPDATED if old.online else Change.RETURNED
                self._by_address[info.address] = info
                if change is Change.RETURNED:
                    self._cond.notify_all()
                return change, old
            else:
                change = Change.UPDATED if old.online else Change.RETURNED
            self._by_address[info.address] = info if info.online else replace(info, online=True)
            if change is not Change.UPDATED:
                self._drop_replaced(info)
            self._cond.notify_all()
            return change, old

    def _make_room(self) -> bool:
        if len(self._by_address) < self._max_hosts:
            return True
        offline = [info for info in self._by_address.values() if not info.online]
        if not offline:
            return False
        del self._by_address[min(offline, key=lambda info: info.heard).address]
        return True

    def __len__(self) -> int:
        with self._cond:
            return len(self._by_address)

    def _drop_replaced(self, info: PeerInfo) -> None:
        stale = [
            address
            for address, other in self._by_address.items()
            if other.name == info.name and address != info.address and not other.online
        ]
        for address in stale:
            del self._by_address[address]

    def mark_offline(self, address: str) -> PeerInfo | None:
        """Mark a host offline (it stays known); return it if it was online."""
        with self._cond:
            old = self._by_address.get(address)
            if old is None or not old.online:
                return None
            self._by_address[address] = replace(old, online=False)
            return old

    def sweep(self, window: float, now: float | None = None) -> list[PeerInfo]:
        """Mark offline every online host silent for over ``window`` seconds; return them."""
        now = time.monotonic() if now is None else now
        gone: list[PeerInfo] = []
        with self._cond:
            for address, info in list(self._by_address.items()):
                if info.online and now - info.heard > window:
                    self._by_address[address] = replace(info, online=False)
                    gone.append(info)
        return gone

    def forget(self, address: str) -> None:
        """Drop a host from the table."""
        with self._cond:
            self._by_address.pop(address, None)

    def get(self, address: str) -> PeerInfo | None:
        """Return the host at ``address``, or None."""
        with self._cond:
            return self._by_address.get(address)

    def by_name(self, name: str) -> PeerInfo | None:
        """Return the online host called ``name`` (else an offline one), or None."""
        with self._cond:
            return self._find(name)

    def _find(self, name: str) -> PeerInfo | None:
        matches = [info for info in self._by_address.values() if info.name == name]
        online = [info for info in matches if info.online]
        best = online or matches
        return best[0] if best else None

    def resolve(self, name: str) -> PeerInfo | None:
        """Return the host called ``name``, refusing to pick among online namesakes.

        Raises:
            RemoteHostError: two or more online hosts have that name (a name clash).
        """
        with self._cond:
            online = [i for i in self._by_address.values() if i.name == name and i.online]
            if len(online) > 1:
                addresses = ", ".join(sorted(info.address for info in online))
                raise RemoteHostError(f"host name {name!r} is ambiguous: {addresses} all use it")
            return self._find(name)

    def all(self) -> list[PeerInfo]:
        """Every known host, sorted by name."""
        with self._cond:
            return sorted(self._by_address.values(), key=lambda info: (info.name, info.address))

    def online_count(self) -> int:
        """How many known hosts are online."""
        with self._cond:
            return sum(1 for info in self._by_address.values() if info.online)

    def clashes(self, own_name: str = "") -> dict[str, list[str]]:
        """Names used by two or more online hosts (counting this one as ``own_name``)."""
        with self._cond:
            users: dict[str, list[str]] = {}
            for info in self._by_address.values():
                if info.online:
                    users.setdefault(info.name, []).append(info.address)
        if own_name in users:
            users[own_name].append("(this host)")
        return {name: sorted(addresses) for name, addresses in users.items() if len(addresses) > 1}

    def wait_for(self, name: str, timeout: float) -> PeerInfo:
        """Wait until an online host called ``name`` is known.

        Raises:
            PeerNotFoundError: none within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                info = self._find(name)
                if info is not None and info.online:
                    return info
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    known = ", ".join(sorted({i.name for i in self._by_address.values()}))
                    raise PeerNotFoundError(
                        f"no online host called {name!r} within {timeout}s "
                        f"(known: {known or 'none'})"
                    )
                self._cond.wait(remaining)

    def wait_changed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the table to change; return whether it did."""
        with self._cond:
            return self._cond.wait(timeout)
