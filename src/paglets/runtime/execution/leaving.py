"""What a paglet leaving for the store takes with it: a snapshot row and its messages.

A deactivation is prepared in the paglet's turn (:class:`Leaving`) and written later,
alone or in a batch (a graceful stop writes hundreds per transaction). The messages
waiting in its mailbox are kept in handling order; actions waiting for its turn are
not kept (they are answered as for an inactive paglet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.core.errors import LifecycleError
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.local_paglet import LocalPaglet
from paglets.runtime.persistence.paglet_store import InactiveRow
from paglets.wire.codec import encode_value


@dataclass
class Leaving:
    """A deactivation prepared in the paglet's turn, waiting for its transaction."""

    slot: LocalPaglet
    row: InactiveRow
    queued: list[Envelope]
    messages: list[Envelope]
    other: list[Envelope]
    reason: str = ""


def split_queued(queued: list[Envelope]) -> tuple[list[tuple[bytes, Envelope]], list[Envelope]]:
    """The messages to keep (in handling order, with their bodies) and the actions."""
    messages: list[tuple[bytes, Envelope]] = []
    other: list[Envelope] = []
    for envelope in queued:
        if envelope.action is not None:
            other.append(envelope)
        else:
            messages.append((message_body(envelope), envelope))
    return messages, other


def message_body(envelope: Envelope) -> bytes:
    if envelope.body is not None:
        return bytes(envelope.body)
    message = envelope.message
    assert message is not None
    return encode_value([message.kind, dict(message.args), message.arg])


def policy_of(paglet: Any, request: DeactivationRequest) -> DeactivationPolicy:
    """The policy the paglet's ``deactivation_policy(request)`` hook chooses.

    Raises:
        LifecycleError: the hook returned something else than a DeactivationPolicy.
    """
    policy = paglet.deactivation_policy(request)
    if not isinstance(policy, DeactivationPolicy):
        raise LifecycleError(
            f"{type(paglet).__qualname__}.deactivation_policy returned "
            f"{type(policy).__name__}, not a DeactivationPolicy"
        )
    return policy
