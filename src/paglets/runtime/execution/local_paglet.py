"""One paglet living on this host: the instance, its mailbox, its status and its thread.

Everything that touches the paglet's instance (handlers, hooks, snapshots for a move)
runs while holding the mailbox's *turn*, so none of it overlaps. Operations asked from
outside the paglet (a proxy's dispatch, a deactivation) become *actions* posted to the
mailbox ahead of every message; a handler calling them already holds the turn and
runs them at once.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

from paglets.core.agent import NOT_HANDLED, Paglet, overrides_run
from paglets.core.errors import (
    AgentMovedError,
    HostError,
    HostStoppedError,
    InvalidAgentError,
    NotHandledError,
    OverloadedError,
    PagletError,
    ReplyTimeoutError,
    SerializationError,
)
from paglets.core.messages import MAX_PRIORITY, UNQUEUED, FutureReply, Message
from paglets.net.transport import IncomingRequest
from paglets.runtime.execution.mailbox import Mailbox
from paglets.runtime.execution.unqueued_fence import UnqueuedFence
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.paglet_files import PagletFiles
from paglets.runtime.files.work_area import WorkArea
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value

log = logging.getLogger(__name__)

ACTION_PRIORITY = MAX_PRIORITY + 1


class PagletStatus(enum.Enum):
    """Where a slot's paglet is in its life on this host."""

    ACTIVE = "active"
    MOVED = "moved"
    DEACTIVATED = "deactivated"
    DISPOSED = "disposed"


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


class LocalPagletOperations(Protocol):
    """The host-side operations a paglet's self-operations delegate to."""

    def dispatch_slot(self, slot: LocalPaglet, target: str, options: dict[str, Any]) -> Any: ...

    def clone_slot(self, slot: LocalPaglet, target: str | None, options: dict[str, Any]) -> Any: ...

    def deactivate_slot(self, slot: LocalPaglet, duration: float | None) -> None: ...

    def dispose_slot(self, slot: LocalPaglet) -> None: ...

    def proxy_of(self, agent_id: str, address: str) -> Any: ...

    def redirect(self, slot: LocalPaglet, envelope: Envelope) -> None: ...


class LocalPaglet:
    """A paglet on this host. Implements the paglet's self-operations (PagletControl)."""

    def __init__(
        self,
        paglet: Paglet[Any],
        agent_id: str,
        class_path: str,
        state_class_path: str,
        pool: WorkerPool,
        operations: LocalPagletOperations,
        policy: ClassPolicy,
        host_address: str,
        max_queued: int = 100_000,
        work_area: WorkArea | None = None,
    ) -> None:
        self.paglet = paglet
        self.agent_id = agent_id
        self.class_path = class_path
        self.state_class_path = state_class_path
        self.status = PagletStatus.ACTIVE
        self.moved_to = ""
        self.created_at = time.time()
        self.handled = 0
        self.failures = 0
        self.run_failure = ""
        self._pool = pool
        self._operations = operations
        self._policy = policy
        self._host_address = host_address
        self._run_thread: threading.Thread | None = None
        self._max_queued = max_queued
        self._work_area = work_area
        self._files: PagletFiles | None = None  # built on first use: most paglets carry none
        self.mailbox = Mailbox(pool, self._handle)
        self.checkpointer: Callable[[LocalPaglet], PagletError | None] | None = None
        self.last_checkpoint: bytes | None = None  # encoded state a DURABLE paglet last saved
        self.unqueued = UnqueuedFence()

    @property
    def files(self) -> PagletFiles:
        """The paglet's registered files and work dir on this host."""
        if self._files is None:
            if self._work_area is None:
                raise PagletError("this host has no work area for paglet files")
            self._files = PagletFiles(self._work_area, self.agent_id)
        return self._files

    @property
    def has_files(self) -> bool:
        """Whether the paglet has registered files (without building the table)."""
        return self._files is not None and bool(self._files)

    # PagletControl: the paglet's self-operations -------------------------------------------

    def dispatch(self, target: str, options: Any) -> Any:
        return self._operations.dispatch_slot(self, target, dict(options))

    def clone(self, target: str | None, options: Any) -> Any:
        return self._operations.clone_slot(self, target, dict(options))

    def deactivate(self, duration: float | None) -> None:
        self._operations.deactivate_slot(self, duration)

    def dispose(self) -> None:
        self._operations.dispose_slot(self)

    def own_proxy(self) -> Any:
        return self._operations.proxy_of(self.agent_id, self._host_address)

    def wait_message(self, timeout: float | None) -> bool:
        return self.mailbox.wait_message(timeout)

    def notify_message(self) -> None:
        self.mailbox.notify_message()

    def notify_all_messages(self) -> None:
        self.mailbox.notify_all_messages()

    def _own_files(self) -> PagletFiles:
        if self.status is not PagletStatus.ACTIVE:
            raise PagletError(f"paglet {self.agent_id} is {self.status.value}: no files here")
        return self.files

    def register_file(self, path: str | PathLike[str], name: str | None, mode: str) -> Path:
        return self._own_files().register(path, name, mode)

    def unregister_file(self, name: str, delete: bool) -> None:
        self._own_files().unregister(name, delete)

    def registered_files(self) -> dict[str, Path]:
        return self._own_files().registered() if self._files is not None else {}

    def file_path(self, name: str) -> Path:
        return self._own_files().path_of(name)

    def work_dir(self) -> Path:
        return self._own_files().work_dir()

    # delivery -----------------------------------------------------------------------

    def deliver(self, envelope: Envelope) -> None:
        """Queue a message (or run an unqueued one at once on a worker)."""
        if envelope.priority == UNQUEUED:
            if self.unqueued.enter(lambda: self.mailbox.held):
                self._pool.submit(self.unqueued.run, self._handle, envelope)
            else:  # moving or being persisted: it waits like any other message
                self.mailbox.post(envelope, envelope.priority)
        elif len(self.mailbox) >= self._max_queued and envelope.action is None:
            envelope.respond(
                error=OverloadedError(
                    f"the mailbox of paglet {self.agent_id} is full "
                    f"({self._max_queued} messages waiting)"
                )
            )
        else:
            self.mailbox.post(envelope, envelope.priority)

    def run_in_turn(self, action: Callable[[], Any], timeout: float | None) -> Any:
        """Run ``action`` while holding the paglet's turn and return its result.

        Runs at once, on the calling thread, when the caller already holds the turn (a
        handler calling a self-operation) or nobody needs it (the paglet is idle);
        otherwise it is queued ahead of every message and runs after the current
        handler.
        ``timeout`` bounds the wait for the turn only: an action that started is
        waited for, so the caller never hears "timeout" while it may still succeed
        (a transfer bounds itself with its own timeout).

        Raises:
            ReplyTimeoutError: the turn did not come within ``timeout``; nothing ran.
        """
        if self.mailbox.holds_turn():
            return action()
        ran, result = self.mailbox.run_if_idle(action)
        if ran:
            return result
        future = FutureReply()
        claim = threading.Lock()

        def claimed() -> Any:
            if not claim.acquire(blocking=False):
                raise ReplyTimeoutError("the caller stopped waiting for the turn")
            return action()

        self.mailbox.post(Envelope(ACTION_PRIORITY, future=future, action=claimed), ACTION_PRIORITY)
        if not future.wait(timeout) and claim.acquire(blocking=False):
            raise ReplyTimeoutError(
                f"paglet {self.agent_id} stayed busy for {timeout}s; nothing was done"
            )
        return future.get_reply(None)

    def _handle(self, envelope: Envelope) -> None:
        if self.status is not PagletStatus.ACTIVE:
            self._operations.redirect(self, envelope)
            return
        if envelope.action is not None:
            try:
                value = envelope.action()
            except BaseException as exc:
                envelope.respond(error=exc)
            else:
                envelope.respond(value)
            return
        try:
            message = envelope.message
            if message is None:
                message = self._decode(envelope)
        except PagletError as exc:
            envelope.respond(error=exc)
            return
        self.handled += 1
        try:
            result = self.paglet.handle_message(message)
        except BaseException as exc:
            self.failures += 1
            log.debug("%r: handler of %r raised", self.paglet, message.kind, exc_info=True)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            envelope.respond(error=_handler_error(exc))
            return
        if result is NOT_HANDLED:
            envelope.respond(
                error=NotHandledError(
                    f"{type(self.paglet).__qualname__} does not handle {message.kind!r}"
                )
            )
            return
        # a DURABLE paglet is saved before the reply leaves; a failed save is the reply
        envelope.respond(result, None if self.checkpointer is None else self.checkpointer(self))

    def _decode(self, envelope: Envelope) -> Message:
        assert envelope.body is not None
        decoded = decode_value(envelope.body, self._policy)
        if not isinstance(decoded, list) or len(decoded) != 3:
            raise SerializationError("a message body must be [kind, args, arg]")
        kind, args, arg = decoded
        if not isinstance(kind, str) or not isinstance(args, dict):
            raise SerializationError("a message needs a string kind and a dict of args")
        try:
            return Message(kind, args, arg, envelope.priority)
        except ValueError as exc:
            raise SerializationError(f"not a valid message: {exc}") from None

    # leaving ------------------------------------------------------------------------

    def leave(self, status: PagletStatus, moved_to: str = "") -> list[Envelope]:
        """Mark the paglet gone from this host; return what was queued for it."""
        self.mailbox.hold()
        self.status = status
        self.moved_to = moved_to
        self.paglet._mark_leaving()
        envelopes: list[Envelope] = self.mailbox.take_all()
        return envelopes

    def fail_queued(self, envelopes: list[Envelope], error: PagletError) -> None:
        """Answer every envelope in ``envelopes`` with ``error``."""
        for envelope in envelopes:
            envelope.respond(error=error)

    # run() --------------------------------------------------------------------------

    def start_run(self) -> None:
        """Start ``run()`` on a thread of its own if the paglet class defines one."""
        if not overrides_run(type(self.paglet)):
            return
        thread = threading.Thread(
            target=self._run, name=f"paglet-run-{self.agent_id[:8]}", daemon=True
        )
        self._run_thread = thread
        thread.start()

    def _run(self) -> None:
        try:
            self.paglet.run()
        except HostStoppedError:
            log.info("%r: run() ended because the host stopped", self.paglet)
        except Exception as exc:
            self.run_failure = f"{type(exc).__name__}: {exc}"
            log.error("%r: run() failed:\n%s", self.paglet, traceback.format_exc())

    @property
    def run_alive(self) -> bool:
        """Whether ``run()`` is still running."""
        return self._run_thread is not None and self._run_thread.is_alive()

    def info(self, host_name: str) -> dict[str, Any]:
        """Facts about this paglet, as ``PagletProxy.info()`` returns them."""
        return {
            "agent_id": self.agent_id,
            "class": self.class_path,
            "state_class": self.state_class_path,
            "active": self.status is PagletStatus.ACTIVE,
            "status": self.status.value,
            "host": host_name,
            "address": self._host_address,
            "created_at": self.created_at,
            "handled": self.handled,
            "handler_failures": self.failures,
            "queued": len(self.mailbox),
            "running": self.run_alive,
            "failed": self.run_failure,
        }


def _handler_error(exc: BaseException) -> PagletError:
    if isinstance(exc, HostError):
        return exc
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return HostError(name, str(exc))


def not_found(agent_id: str, host_name: str) -> InvalidAgentError:
    """The error for an agent id this host does not know."""
    return InvalidAgentError(f"no paglet {agent_id} on host {host_name}")


def decode_args(body: bytes | memoryview, policy: ClassPolicy) -> Any:
    """Decode a request body (empty means None)."""
    return decode_value(body, policy) if len(body) else None
