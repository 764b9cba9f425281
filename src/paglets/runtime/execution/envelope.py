"""An envelope: a message or an action on its way to a paglet, and where its result goes.

The result goes back the way the envelope came: to a local caller's future, to the
remote caller of the request, or (a oneway message) to the log when it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paglets.core.errors import AgentMovedError, PagletError, SerializationError
from paglets.core.messages import FutureReply, Message
from paglets.net.transport import IncomingRequest
from paglets.wire.codec import encode_value

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Envelope:
    """A message or an action waiting for a paglet, and where its result goes."""

    priority: int
    message: Message | None = None
    body: memoryview | bytes | None = None
    future: FutureReply | None = None
    request: IncomingRequest | None = None
    action: Callable[[], Any] | None = None
    no_delay: bool = False

    @property
    def wants_reply(self) -> bool:
        """Whether somebody waits for the result."""
        return self.future is not None or (self.request is not None and not self.request.oneway)

    def respond(self, value: Any = None, error: BaseException | None = None) -> None:
        """Deliver the result (or the error) to whoever waits for it."""
        if self.future is not None:
            if error is not None:
                self.future.set_error(error)
            else:
                self.future.set_result(value)
        elif self.request is not None:
            if error is not None:
                self.request.fail(error)
                return
            try:
                body = b"" if value is None else encode_value(value)
            except PagletError as exc:
                self.request.fail(SerializationError(f"cannot encode the reply: {exc}"))
                return
            self.request.reply(body)
        elif error is not None and not isinstance(error, AgentMovedError):
            log.info("oneway message failed: %s: %s", type(error).__name__, error)
