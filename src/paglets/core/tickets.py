"""TransferTicket: where a paglet goes and the conditions of the journey.

Its public path is :mod:`paglets.remote.transfer`; it lives here because
``Paglet.dispatch`` (core) takes one.

A ticket names the destination (a host name or an address) and the options a move
honours:

======================  =============================================================
option                  meaning
======================  =============================================================
timeout                 seconds one attempt may take (default 10)
retries                 further attempts after a failed one (default 0)
retry_interval          seconds between attempts (default 0.25)
required_capabilities   tags (or property keys) the destination must have; checked
                        before anything moves
expected_code_version   the mesh (code) version the destination must run
arrival_mode            ``ArrivalMode.ACTIVATE`` (start there) or
                        ``ArrivalMode.INACTIVE`` (stored inactive there, not started)
======================  =============================================================

A failed precondition raises ``TransferError`` and the paglet stays where it was. On
the wire a ticket travels as the map :func:`ticket_options` builds (enum values, not
members), the Python API takes enum members only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any


class ArrivalMode(enum.Enum):
    """What the destination does with an arriving paglet."""

    ACTIVATE = "activate"
    INACTIVE = "inactive"


def _seconds(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound}, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class TransferTicket:
    """A destination plus the options of one dispatch or clone (see the module docstring).

    Raises:
        TypeError: an option of the wrong type, ``arrival_mode`` given as a raw
            string included (the message names the option and the accepted values).
        ValueError: an option out of range.
    """

    destination: str
    timeout: float = 10.0
    retries: int = 0
    retry_interval: float = 0.25
    required_capabilities: tuple[str, ...] = ()
    expected_code_version: str | None = None
    arrival_mode: ArrivalMode = ArrivalMode.ACTIVATE

    def __post_init__(self) -> None:
        if not isinstance(self.destination, str) or not self.destination:
            raise TypeError(f"destination must be a host name or address, not {self.destination!r}")
        object.__setattr__(self, "timeout", _seconds("timeout", self.timeout, positive=True))
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise TypeError(f"retries must be an int, not {self.retries!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, not {self.retries}")
        interval = _seconds("retry_interval", self.retry_interval, positive=False)
        object.__setattr__(self, "retry_interval", interval)
        caps = self.required_capabilities
        if isinstance(caps, str) or not all(isinstance(c, str) and c for c in caps):
            raise TypeError(
                f"required_capabilities must be a tuple of non-empty strings, not {caps!r}"
            )
        object.__setattr__(self, "required_capabilities", tuple(caps))
        version = self.expected_code_version
        if version is not None and not isinstance(version, str):
            raise TypeError(f"expected_code_version must be a str or None, not {version!r}")
        if not isinstance(self.arrival_mode, ArrivalMode):
            accepted = ", ".join(f"ArrivalMode.{m.name}" for m in ArrivalMode)
            raise TypeError(
                f"arrival_mode must be one of {accepted} (members, not raw values), "
                f"not {self.arrival_mode!r}"
            )

    def to_options(self) -> dict[str, Any]:
        """The ticket as the plain map a ``dispatch``/``clone`` control carries."""
        return {
            "target": self.destination,
            "timeout": self.timeout,
            "retries": self.retries,
            "retry_interval": self.retry_interval,
            "required_capabilities": list(self.required_capabilities),
            "expected_code_version": self.expected_code_version,
            "arrival_mode": self.arrival_mode.value,
        }

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TransferTicket:
        """Rebuild a ticket from :meth:`to_options` output (wire values).

        Raises:
            ValueError, TypeError: a malformed option.
        """
        mode = options.get("arrival_mode") or ArrivalMode.ACTIVATE.value
        try:
            arrival = ArrivalMode(mode)
        except ValueError:
            accepted = ", ".join(repr(m.value) for m in ArrivalMode)
            raise ValueError(f"arrival_mode must be one of {accepted}, not {mode!r}") from None
        timeout = options.get("timeout")
        return cls(
            destination=str(options.get("target") or ""),
            timeout=10.0 if timeout is None else timeout,
            retries=options.get("retries", 0),
            retry_interval=options.get("retry_interval", 0.25),
            required_capabilities=tuple(options.get("required_capabilities") or ()),
            expected_code_version=options.get("expected_code_version"),
            arrival_mode=arrival,
        )


def ticket_options(
    target: str | TransferTicket, timeout: float | None, default_timeout: float
) -> dict[str, Any]:
    """The control options of a move to ``target`` (a name, an address or a ticket).

    Raises:
        TypeError: ``target`` is neither a string nor a ticket.
    """
    if isinstance(target, TransferTicket):
        options = target.to_options()
        if timeout is not None:
            options["timeout"] = _seconds("timeout", timeout, positive=True)
        return options
    if not isinstance(target, str) or not target:
        raise TypeError(
            f"target must be a host name, an address or a TransferTicket, not {target!r}"
        )
    limit = default_timeout if timeout is None else _seconds("timeout", timeout, positive=True)
    return {"target": target, "timeout": limit}


__all__ = ["ArrivalMode", "TransferTicket", "ticket_options"]
