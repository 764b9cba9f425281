"""One fan-out round: the state clones carry, the outcome of each target, the result.

:mod:`paglets.patterns.fanout` runs rounds; this module holds what a round is made
of, so the mixin reads as the steps it takes. A :class:`FanoutRound` is the
collector's bookkeeping while the round runs (guarded by the paglet's state lock);
:class:`FanoutResult` is what the caller gets back; :func:`target_keys` says which
spellings (name, address) of the mesh's hosts one target stands for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import PagletState
from paglets.core.errors import PagletError
from paglets.core.refs import PagletProxyRef
from paglets.net.endpoint import normalize_address

FANOUT_RESULT = "_fanout.result"
"""The reserved kind of a child's report (args: round, child, host, ok, value/error)."""


@dataclass
class FanoutState(PagletState):
    """State fields the fan-out needs; a collector's state class subclasses it.

    They are set only while a round clones (so each child finds them) and cleared after.
    """

    fanout_parent: PagletProxyRef | None = None
    fanout_round: str = ""
    fanout_args: dict[str, Any] = field(default_factory=dict)
    fanout_target: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostOutcome:
    """What one target gave: a value, or an error saying why there is none."""

    host: str
    ok: bool
    value: Any = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class FanoutResult:
    """The outcome of one round, one :class:`HostOutcome` per target, in target order."""

    outcomes: dict[str, HostOutcome]

    @property
    def results(self) -> dict[str, Any]:
        """Target -> value, for the targets that answered."""
        return {host: each.value for host, each in self.outcomes.items() if each.ok}

    @property
    def errors(self) -> dict[str, str]:
        """Target -> why it gave nothing (clone failed, offline, timed out, raised)."""
        return {host: each.error for host, each in self.outcomes.items() if not each.ok}

    @property
    def partial(self) -> bool:
        """Whether some target gave no value."""
        return any(not each.ok for each in self.outcomes.values())

    def to_wire(self) -> dict[str, Any]:
        """Plain values: ``{"results": {...}, "errors": {...}, "partial": bool}``."""
        return {"results": self.results, "errors": self.errors, "partial": self.partial}


class FanoutRound:
    """One round in progress, on the collector (guarded by the paglet's state lock)."""

    def __init__(self, round_id: str, targets: list[str], deadline: float) -> None:
        self.round_id = round_id
        self.targets = targets
        self.deadline = deadline
        self.started = time.monotonic()
        self.outcomes: dict[str, HostOutcome] = {}
        self.children: dict[str, Any] = {}  # child agent id -> proxy
        self.target_of: dict[str, str] = {}  # child agent id -> target
        # Children not to dispose at the end: they reported (and dispose themselves), or
        # were disposed already.
        self.settled: set[str] = set()
        self.early: dict[str, dict[str, Any]] = {}  # reports of children not yet registered
        self.abandoned = False

    def age(self) -> float:
        """Seconds since the round started."""
        return time.monotonic() - self.started

    def complete(self) -> bool:
        """Whether every target has an outcome (or the round was abandoned)."""
        return self.abandoned or len(self.outcomes) == len(self.targets)

    def pending(self) -> list[str]:
        """The targets without an outcome yet, in target order."""
        return [target for target in self.targets if target not in self.outcomes]

    def unanswered_children(self) -> list[Any]:
        """Proxies of the children still to dispose at the end."""
        return [proxy for child_id, proxy in self.children.items() if child_id not in self.settled]


def outcome_of_report(target: str, report: dict[str, Any]) -> HostOutcome:
    """The outcome a child's report (the args of a :data:`FANOUT_RESULT`) gives ``target``."""
    if report.get("ok"):
        return HostOutcome(target, True, value=report.get("value"))
    return HostOutcome(target, False, error=str(report.get("error")))


def target_keys(target: str, own: set[str], hosts: Iterable[Any]) -> set[str]:
    """Every spelling of ``target`` a clone may find itself at: name, address.

    Args:
        target: a host name or address, as the caller gave it.
        own: the collector host's name and address (a target naming it is this host).
        hosts: the mesh's host facts (objects with ``name`` and ``address`` or ``url``).
    """
    keys = {target}
    address = address_or_none(target)
    if address:
        keys.add(address)
    if keys & own:
        return keys | own
    for info in hosts:
        info_address = address_or_none(_address_of(info))
        if info.name == target or (address and info_address == address):
            keys.add(info.name)
            if info_address:
                keys.add(info_address)
    return keys


def offline_keys(hosts: Iterable[Any]) -> set[str | None]:
    """The names and addresses of the hosts among ``hosts`` that are offline."""
    return {
        key
        for info in hosts
        if not info.online
        for key in (info.name, address_or_none(_address_of(info)))
    }


def address_or_none(target: str) -> str | None:
    """The canonical address ``target`` spells, or None for a host name."""
    try:
        return normalize_address(target)
    except (ValueError, PagletError):
        return None


def _address_of(info: Any) -> str:
    # Host facts name the endpoint ``address`` (ours) or ``url`` (the original's HostRef).
    return str(getattr(info, "address", "") or getattr(info, "url", ""))
