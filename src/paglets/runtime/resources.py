"""The public path of :class:`ResourceRegistry` (``self.resources`` of a paglet).

The class lives in :mod:`paglets.core.resources` because ``Paglet`` (core) owns one;
the host runs it before a dispatch, retract, deactivate or dispose.
"""

from __future__ import annotations

from paglets.core.resources import Closeable, ResourceRegistry

__all__ = ["Closeable", "ResourceRegistry"]
