"""What a deactivation asks for and what the paglet decides: plain data.

A deactivation starts from a :class:`DeactivationRequest` (who asked, why, any
metadata and maybe a policy the caller insists on). The paglet's
``deactivation_policy(request)`` hook answers the :class:`DeactivationPolicy` to apply;
by default it is the request's policy, else the default policy. Both travel on the wire
as plain maps (``to_wire``/``from_wire``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeactivationPolicy:
    """How a paglet is deactivated.

    Attributes:
        wake_after: seconds after which the host activates the paglet again; None
            keeps it inactive until something activates it (a message, ``activate``).
            The wake-up time is stored, so it survives a restart.
        activate_on_message: a message to the inactive paglet activates it (False:
            the message is kept in the store until something else activates it).
        activate_on_start: the host activates the paglet when it starts.
    """

    wake_after: float | None = None
    activate_on_message: bool = True
    activate_on_start: bool = False

    def __post_init__(self) -> None:
        wake = self.wake_after
        if wake is not None and (
            isinstance(wake, bool)
            or not isinstance(wake, int | float)
            or not math.isfinite(wake)
            or wake < 0
        ):
            raise ValueError(f"wake_after must be None or seconds >= 0, not {wake!r}")
        for flag in ("activate_on_message", "activate_on_start"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be True or False, not {getattr(self, flag)!r}")

    def to_wire(self) -> dict[str, Any]:
        """The policy as a plain map."""
        return {
            "wake_after": self.wake_after,
            "activate_on_message": self.activate_on_message,
            "activate_on_start": self.activate_on_start,
        }

    @classmethod
    def from_wire(cls, data: Any) -> DeactivationPolicy:
        """Rebuild a policy from :meth:`to_wire` output.

        Raises:
            ValueError: ``data`` is not such a map.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a deactivation policy must be a map, not {type(data).__name__}")
        wake = data.get("wake_after")
        try:
            return cls(
                wake_after=None if wake is None else wake,
                activate_on_message=data.get("activate_on_message", True),
                activate_on_start=data.get("activate_on_start", False),
            )
        except TypeError as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class DeactivationRequest:
    """A request to deactivate a paglet.

    Attributes:
        reason: why (free text, kept in the event).
        policy: the policy the caller asks for; None lets the paglet choose.
        metadata: free-form encodable facts the caller attaches.
        requested_at: seconds since the epoch.
    """

    reason: str = ""
    policy: DeactivationPolicy | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    requested_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise TypeError(f"reason must be a str, not {type(self.reason).__name__}")
        if self.policy is not None and not isinstance(self.policy, DeactivationPolicy):
            raise TypeError(
                f"policy must be a DeactivationPolicy or None, not {type(self.policy).__name__}"
            )
        if not isinstance(self.metadata, dict):
            raise TypeError(f"metadata must be a dict, not {type(self.metadata).__name__}")

    def to_wire(self) -> dict[str, Any]:
        """The request as a plain map."""
        return {
            "reason": self.reason,
            "policy": None if self.policy is None else self.policy.to_wire(),
            "metadata": dict(self.metadata),
            "requested_at": self.requested_at,
        }

    @classmethod
    def from_wire(cls, data: Any) -> DeactivationRequest:
        """Rebuild a request from :meth:`to_wire` output (None: a plain request).

        Raises:
            ValueError: ``data`` is not such a map.
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"a deactivation request must be a map, not {type(data).__name__}")
        policy = data.get("policy")
        try:
            return cls(
                reason=str(data.get("reason") or ""),
                policy=None if policy is None else DeactivationPolicy.from_wire(policy),
                metadata=dict(data.get("metadata") or {}),
                requested_at=float(data.get("requested_at") or time.time()),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed deactivation request: {exc}") from None


__all__ = ["DeactivationPolicy", "DeactivationRequest"]
