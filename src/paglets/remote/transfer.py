"""The public path of :class:`TransferTicket` and :class:`ArrivalMode`.

Both live in :mod:`paglets.core.tickets` because ``Paglet.dispatch`` (core) takes a
ticket; a host checks a ticket's preconditions before anything moves.
"""

from __future__ import annotations

from paglets.core.tickets import ArrivalMode, TransferTicket, ticket_options

__all__ = ["ArrivalMode", "TransferTicket", "ticket_options"]
