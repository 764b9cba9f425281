"""Checkpoints of DURABLE paglets: the state saved after every message that changed it.

A paglet class with ``DURABLE = True`` gets a :class:`Checkpointer` on its slot. After a
handler returns, and before its reply leaves, the state is encoded; when the bytes
differ from the last saved ones, they are written to the host store in one transaction
(``synchronous=FULL``: on disk when the reply leaves). So every acknowledged change
survives ``kill -9``: at most the message being handled is lost, and its caller saw no
reply. A failed write (disk full) answers the caller with ``StoreError`` instead of the
result: the change is not acknowledged, the previous checkpoint stays, and the next
message tries again.
"""

from __future__ import annotations

from typing import Any

from paglets.core.errors import PagletError, StoreError
from paglets.runtime.execution.local_paglet import LocalPaglet
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.codec import encode_state


def is_durable(cls: type[Any]) -> bool:
    """Whether a paglet class asks to be checkpointed (``DURABLE = True``)."""
    return getattr(cls, "DURABLE", False) is True


class Checkpointer:
    """Saves a durable slot's state when it changed; the slot calls it after a handler."""

    def __init__(self, store: PagletStore) -> None:
        self._store = store

    def __call__(self, slot: LocalPaglet) -> PagletError | None:
        """Save ``slot``'s state if it changed; return the error instead of raising it."""
        try:
            self.save(slot)
        except PagletError as exc:
            return exc
        return None

    def save(self, slot: LocalPaglet) -> None:
        """Save ``slot``'s state if it changed.

        Raises:
            StoreError: the write failed; the previous checkpoint stays.
            SerializationError: the state cannot be encoded.
        """
        with slot.paglet.locked():
            state = encode_state(slot.paglet.state)
        if state == slot.last_checkpoint:
            return
        try:
            self._store.checkpoint(slot.agent_id, slot.class_path, slot.state_class_path, state)
        except StoreError as exc:
            raise StoreError(
                f"paglet {slot.agent_id} changed but its checkpoint failed ({exc}); the "
                "change is not durable and was not acknowledged"
            ) from exc
        slot.last_checkpoint = state
