"""References to paglets: plain data a paglet keeps in its state and turns into proxies.

:class:`PagletProxyRef` is defined in :mod:`paglets.core.refs` (the wire codec, below
this layer, encodes it); this module is its public import path.
"""

from __future__ import annotations

from paglets.core.refs import PagletProxyRef, ProxySource

__all__ = ["PagletProxyRef", "ProxySource"]
