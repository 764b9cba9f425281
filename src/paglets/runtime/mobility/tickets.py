"""Honouring a :class:`~paglets.core.tickets.TransferTicket` on the source host.

Before anything moves, the destination's facts (from the peer table, or this host's
own) are checked against the ticket's ``expected_code_version`` and
``required_capabilities`` (each a tag or a property key of the destination); a failed
check raises ``TransferError`` and the paglet stays. Then the move is tried up to
``1 + retries`` times, ``retry_interval`` seconds apart, each attempt bounded by the
ticket's ``timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from paglets.core.errors import TransferError
from paglets.core.tickets import TransferTicket
from paglets.runtime.mesh.directory import MeshDirectory

T = TypeVar("T")


def ticket_of(options: Mapping[str, Any], default_timeout: float) -> TransferTicket:
    """The ticket a ``dispatch``/``clone`` carries (a ticket object, or wire options).

    Raises:
        TransferError: the options are malformed (the message says which).
    """
    target = options.get("target")
    timeout = options.get("timeout")
    try:
        if isinstance(target, TransferTicket):
            if timeout is None:
                return target
            return TransferTicket.from_options({**target.to_options(), "timeout": timeout})
        return TransferTicket.from_options(
            {**options, "timeout": default_timeout if timeout is None else timeout}
        )
    except (TypeError, ValueError) as exc:
        raise TransferError(f"bad transfer options: {exc}") from None


def check_preconditions(
    directory: MeshDirectory, host_name: str, address: str, ticket: TransferTicket
) -> None:
    """Raise ``TransferError`` unless the destination fits the ticket.

    Args:
        directory: what this host knows of the mesh (the destination's facts).
        host_name: this host's name (the paglet stays here on a failed check).
        address: the destination's canonical address.
        ticket: the ticket to honour.

    Raises:
        TransferError: wrong code version, a missing capability, or (when the ticket
            asks for either) a destination this host knows nothing of.
    """
    if ticket.expected_code_version is None and not ticket.required_capabilities:
        return
    stayed = f"the paglet stayed on {host_name}"
    ref = directory.ref_at(address)
    if ref is None:
        raise TransferError(f"nothing is known of {address} to check the ticket; {stayed}")
    expected = ticket.expected_code_version
    if expected is not None and ref.code_version != expected:
        raise TransferError(
            f"{ref.name} runs code version {ref.code_version!r}, the ticket expects "
            f"{expected!r}; {stayed}"
        )
    missing = [cap for cap in ticket.required_capabilities if not ref.has_capabilities((cap,))]
    if missing:
        raise TransferError(
            f"{ref.name} lacks the required capabilities {missing} (its tags: "
            f"{list(ref.tags)}); {stayed}"
        )


def with_retries(ticket: TransferTicket, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it succeeds, at most ``1 + ticket.retries`` times.

    Raises:
        TransferError: the last attempt's failure.
    """
    pause = threading.Event()  # never set: a bounded wait between attempts
    for remaining in range(ticket.retries, -1, -1):
        try:
            return attempt()
        except TransferError:
            if remaining == 0:
                raise
        pause.wait(ticket.retry_interval)
    raise AssertionError("unreachable")
