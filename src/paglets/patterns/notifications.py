"""``NotificationMixin``: a paglet tells the person at a host's console what it is doing.

Mix it into a paglet class (before ``Paglet``) and call :meth:`notify_user` or
:meth:`stream_to_user` from any hook, handler or ``run()``. The text goes to the
user-info system service (:mod:`paglets.system.user_info`) of the host the paglet is
on, or of the host named by ``host`` (or the class's ``NOTIFY_HOST``), so a paglet
that travelled on can still report to the console it was started from::

    class Crawler(NotificationMixin, Paglet[CrawlState]):
        NOTIFY_HOST = "alpha"
        def on_arrival(self, event):
            self.notify_user(f"arrived on {self.context.name}")

A notification that cannot be delivered raises ``ServiceNotFoundError`` (no user-info
service there) or the transport's error; :meth:`try_notify_user` returns False instead,
for reports that must never break the work they describe.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from paglets.core.errors import PagletError, ServiceNotFoundError
from paglets.services.contracts import ServiceHandle, ServiceScope
from paglets.system.user_info import USER_INFO, Delivered, Notification, TextChunk

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 5.0
"""Seconds a notification may take to find and reach its service."""


def _paglet(mixin: NotificationMixin) -> Any:
    """The paglet this mixin is part of (it has ``context`` and ``agent_id``)."""
    return mixin


class NotificationMixin:
    """Notify the user through the user-info service of a host."""

    NOTIFY_HOST: ClassVar[str | None] = None
    """The host whose console gets the notifications (None: wherever the paglet is)."""

    def _user_info(self, host: str | None) -> ServiceHandle:
        where = host or self.NOTIFY_HOST
        context = _paglet(self).context
        if where is None or where == context.name:
            handle: ServiceHandle = context.require_contract(USER_INFO)
            return handle
        for found in context.lookup_contracts(USER_INFO, ServiceScope.MESH, NOTIFY_TIMEOUT):
            if found.host_name == where:
                return found  # type: ignore[no-any-return]
        raise ServiceNotFoundError(f"no user-info service on host {where!r}")

    def notify_user(
        self, text: str, *, title: str = "", level: str = "info", host: str | None = None
    ) -> Delivered:
        """Show ``text`` on a host's console; return how it was delivered.

        Raises:
            ServiceNotFoundError: that host runs no user-info service.
            ServiceContractError: ``level`` is not debug, info, warning or error.
        """
        note = Notification(
            text=text,
            title=title,
            level=level,
            source=type(self).__name__,
            source_host=_paglet(self).context.name,
        )
        reply: Delivered = self._user_info(host).call("notify", note, timeout=NOTIFY_TIMEOUT)
        return reply

    def stream_to_user(
        self, text: str, *, stream: str | None = None, done: bool = False, host: str | None = None
    ) -> Delivered:
        """Add ``text`` to a stream shown line by line (``done`` ends it)."""
        chunk = TextChunk(
            stream=stream or f"{type(self).__name__}:{_paglet(self).agent_id[:8]}",
            text=text,
            done=done,
            source_host=_paglet(self).context.name,
        )
        reply: Delivered = self._user_info(host).call("stream", chunk, timeout=NOTIFY_TIMEOUT)
        return reply

    def try_notify_user(self, text: str, **options: Any) -> bool:
        """:meth:`notify_user`, returning False (and logging) instead of raising."""
        try:
            self.notify_user(text, **options)
        except PagletError as exc:
            log.warning("%s could not notify the user: %s", type(self).__name__, exc)
            return False
        return True
