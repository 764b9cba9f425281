"""Tasks: a paglet that runs one piece of work off its mailbox, and a client that follows it.

A :class:`TaskPaglet` subclass defines :meth:`TaskPaglet.execute`. A
:class:`TaskClient` starts it with arguments, asks its status while it runs, and waits
for the end. The task's status is a :class:`TaskStatus`::

    pending --start--> running --> succeeded | failed | cancelled
       \\--cancel--> cancelled

A failure is not an exception on the caller's side but a ``failed`` status carrying the
error's type name and text (:class:`TaskSnapshot`); :meth:`TaskClient.result` raises it
as a :class:`~paglets.core.errors.HostError` for callers who prefer that.

The work runs on a thread of its own (``run()`` after an arrival or an activation, a
worker thread after ``start``), never on the mailbox, so ``status`` answers while it
runs. Status and waits are sent ``UNQUEUED_PRIORITY`` so not even the paglet's own long handlers
delay them. A wait is served on the task's side: one request waits up to
``TASK_MAX_WAIT`` seconds for the end, and the client asks again until its own timeout,
so it never spins.

A task may move while it runs (it dispatches itself, or is dispatched): the state goes
with it and the work starts again on arrival with that state, so ``execute`` keeps its
progress in the state to resume from it. The instance left behind stops counting: what
its ``execute`` returns is dropped. The client follows the task through the forwarding
address the old host keeps. Reserved kinds: ``_task.start`` (args: args),
``_task.status``, ``_task.wait`` (args: timeout), ``_task.cancel``.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    HostError,
    LifecycleError,
    PagletError,
    ReplyTimeoutError,
    ServiceContractError,
    error_to_wire,
)
from paglets.core.messages import NORMAL_PRIORITY, UNQUEUED_PRIORITY, Message
from paglets.patterns.reserved import PatternPaglet, typed_error
from paglets.wire.codec import encode_value

START, STATUS, WAIT, CANCEL = "_task.start", "_task.status", "_task.wait", "_task.cancel"

_SLICE = 0.25
"""Seconds between two checks, while a wait is served, that the task is still here."""


class TaskStatus(enum.Enum):
    """Where a task is in its life; the values are what travels."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the task reached an end (succeeded, failed or cancelled)."""
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class TaskCancelledError(LifecycleError):
    """The task was cancelled. ``execute`` raises it to stop early when asked to."""


@dataclass
class TaskState(PagletState):
    """The task's fields; a task with fields of its own subclasses it."""

    task_status: TaskStatus = TaskStatus.PENDING
    task_args: dict[str, Any] = field(default_factory=dict)
    task_result: Any = None
    task_error_type: str = ""
    task_error_message: str = ""
    task_progress: Any = None
    task_cancel_requested: bool = False
    task_runs: int = 0
    task_started_at: float = 0.0
    task_finished_at: float = 0.0


@dataclass(frozen=True)
class TaskSnapshot:
    """A task's status as one request saw it."""

    agent_id: str
    status: TaskStatus
    host: str
    result: Any = None
    error_type: str = ""
    error_message: str = ""
    progress: Any = None
    runs: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def finished(self) -> bool:
        """Whether the task reached an end."""
        return self.status.finished

    def to_wire(self) -> dict[str, Any]:
        """Plain values (the status as its wire value)."""
        wire = {name: getattr(self, name) for name in self.__dataclass_fields__}
        wire["status"] = self.status.value
        return wire

    @classmethod
    def from_wire(cls, data: Any) -> TaskSnapshot:
        """Read a task's status reply.

        Raises:
            ServiceContractError: the reply is not a task status.
        """
        try:
            values = {name: data[name] for name in cls.__dataclass_fields__}
            values["status"] = TaskStatus(values["status"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceContractError(f"not a task status: {exc!r}") from None
        return cls(**values)

    def raise_for_failure(self) -> None:
        """Raise what ended the task when it did not succeed.

        Raises:
            HostError: it failed (the error's type name and text).
            TaskCancelledError: it was cancelled.
        """
        if self.status is TaskStatus.FAILED:
            raise HostError(self.error_type, self.error_message)
        if self.status is TaskStatus.CANCELLED:
            raise TaskCancelledError(f"task {self.agent_id} was cancelled")


class TaskPaglet(PatternPaglet):
    """A paglet that runs :meth:`execute` once, off its mailbox, and reports its status."""

    State = TaskState
    REQUIRED_STATE = TaskState
    RESERVED_KINDS: ClassVar[dict[str, str]] = {
        START: "_answer_start",
        STATUS: "_answer_status",
        WAIT: "_answer_wait",
        CANCEL: "_answer_cancel",
    }
    TASK_MAX_WAIT: ClassVar[float] = 10.0
    """Longest wait one request is served for, in seconds."""

    def _task(self) -> TaskState:
        return self.pattern_state(TaskState)

    # override -------------------------------------------------------------------------

    def execute(self, args: dict[str, Any]) -> Any:
        """The work; its return value (encodable) is the result. Any exception fails it.

        Runs on a thread of its own. Long work checks :meth:`cancel_requested` and
        raises :class:`TaskCancelledError`; work that may move keeps its progress in the
        state (it runs again from the start of ``execute`` on arrival).
        """
        raise NotImplementedError(f"{type(self).__qualname__} does not define execute()")

    # for execute() --------------------------------------------------------------------

    def report_progress(self, progress: Any) -> None:
        """Publish an encodable progress value that ``status`` shows."""
        encode_value(progress)
        with self.locked_state():
            self._task().task_progress = progress

    def cancel_requested(self) -> bool:
        """Whether a client asked to cancel this task."""
        return self._task().task_cancel_requested

    # running --------------------------------------------------------------------------

    def run(self) -> None:
        """After an arrival or an activation, carry on with a task that was running."""
        if self._task().task_status is TaskStatus.RUNNING:
            self._perform()

    def _perform(self) -> None:
        with self.locked_state():
            task = self._task()
            args = dict(task.task_args)
            task.task_runs += 1
        try:
            value = self.execute(args)
            encode_value(value)
            ending = (TaskStatus.SUCCEEDED, value, "", "")
        except TaskCancelledError:
            ending = (TaskStatus.CANCELLED, None, "", "")
        except Exception as exc:
            name, text = error_to_wire(exc)
            ending = (TaskStatus.FAILED, None, name, text)
        if self.is_leaving():
            return  # moved or disposed meanwhile: this instance's outcome does not count
        with self.locked_state():
            task = self._task()
            task.task_status, task.task_result, task.task_error_type, task.task_error_message = (
                ending
            )
            task.task_finished_at = time.time()

    def snapshot(self) -> TaskSnapshot:
        """This task's status now."""
        with self.locked():
            task = self._task()
            return TaskSnapshot(
                agent_id=self.agent_id,
                status=task.task_status,
                host=self.context.name,
                result=task.task_result,
                error_type=task.task_error_type,
                error_message=task.task_error_message,
                progress=task.task_progress,
                runs=task.task_runs,
                started_at=task.task_started_at,
                finished_at=task.task_finished_at,
            )

    # reserved kinds -------------------------------------------------------------------

    def _answer_start(self, message: Message) -> dict[str, Any]:
        args = message.args.get("args") or {}
        if not isinstance(args, dict):
            raise ServiceContractError(f"task args must be a dict, not {type(args).__name__}")
        with self.locked_state():
            task = self._task()
            if task.task_status is not TaskStatus.PENDING:
                raise ServiceContractError(
                    f"task {self.agent_id} was started already (it is {task.task_status.value})"
                )
            task.task_status, task.task_args = TaskStatus.RUNNING, dict(args)
            task.task_started_at = time.time()
        worker = threading.Thread(
            target=self._perform, name=f"task-{self.agent_id[:8]}", daemon=True
        )
        worker.start()
        return self.snapshot().to_wire()

    def _answer_status(self, message: Message) -> dict[str, Any]:
        return self.snapshot().to_wire()

    def _answer_wait(self, message: Message) -> dict[str, Any]:
        try:
            timeout = float(message.args.get("timeout", 0.0))
        except (TypeError, ValueError):
            raise ServiceContractError("a task wait needs a number of seconds") from None
        end = time.monotonic() + max(0.0, min(timeout, self.TASK_MAX_WAIT))
        while not self.is_leaving():
            remaining = min(_SLICE, end - time.monotonic())
            if remaining <= 0 or self.wait_state(
                lambda state: cast(TaskState, state).task_status.finished, remaining
            ):
                break
        return self.snapshot().to_wire()

    def _answer_cancel(self, message: Message) -> dict[str, Any]:
        with self.locked_state():
            task = self._task()
            if task.task_status is TaskStatus.PENDING:
                task.task_status = TaskStatus.CANCELLED
                task.task_finished_at = time.time()
            elif task.task_status is TaskStatus.RUNNING:
                task.task_cancel_requested = True
        return self.snapshot().to_wire()


class TaskClient:
    """Drives one task through its proxy; the proxy follows the task when it moves."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy

    @classmethod
    def create(
        cls,
        creator: Any,
        task_class: type[Paglet[Any]],
        *,
        target: str | None = None,
        state: PagletState | None = None,
    ) -> TaskClient:
        """Create a pending task and return its client.

        Args:
            creator: a ``Host`` (``create``/``create_remote``) or a paglet's context
                (``create_paglet``).
            task_class: a :class:`TaskPaglet` subclass.
            target: the host to create it on (a name or an address; None: the creator's).
            state: its initial state (default: a fresh one).
        """
        if not (isinstance(task_class, type) and issubclass(task_class, TaskPaglet)):
            raise ServiceContractError(f"{task_class!r} is not a TaskPaglet subclass")
        if hasattr(creator, "create_paglet"):
            proxy = creator.create_paglet(task_class, state, host_url=target)
        elif target is not None:
            proxy = creator.create_remote(target, task_class, state)
        else:
            proxy = creator.create(task_class, state)
        return cls(proxy)

    def _call(
        self, kind: str, args: dict[str, Any], priority: int, timeout: float | None
    ) -> TaskSnapshot:
        try:
            return TaskSnapshot.from_wire(
                self.proxy.send(Message(kind, args, priority=priority), timeout=timeout)
            )
        except PagletError as exc:
            raise typed_error(exc) from None

    def start(
        self, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> TaskSnapshot:
        """Start the pending task with ``args``.

        Raises:
            ServiceContractError: it was started already, or ``args`` is not a dict.
        """
        return self._call(
            START, {"args": args if args is not None else {}}, NORMAL_PRIORITY, timeout
        )

    def status(self, *, timeout: float | None = None) -> TaskSnapshot:
        """The task's status now (answered even while the work runs)."""
        return self._call(STATUS, {}, UNQUEUED_PRIORITY, timeout)

    def wait(self, timeout: float) -> TaskSnapshot:
        """Wait up to ``timeout`` seconds for the end; return the last status seen.

        Its ``finished`` is False when the timeout passed first (nothing is raised).
        """
        end = time.monotonic() + timeout
        while True:
            remaining = max(0.0, end - time.monotonic())
            snapshot = self._call(WAIT, {"timeout": remaining}, UNQUEUED_PRIORITY, remaining + 10.0)
            if snapshot.finished or time.monotonic() >= end:
                return snapshot

    def start_and_wait(self, args: dict[str, Any] | None = None, *, timeout: float) -> TaskSnapshot:
        """Start the task, then wait up to ``timeout`` seconds for its end."""
        self.start(args)
        return self.wait(timeout)

    def result(self, timeout: float) -> Any:
        """Wait for the end and return the result.

        Raises:
            ReplyTimeoutError: the task did not end within ``timeout``.
            HostError: it failed (remote type name and text); TaskCancelledError.
        """
        snapshot = self.wait(timeout)
        if not snapshot.finished:
            raise ReplyTimeoutError(f"task {snapshot.agent_id} still {snapshot.status.value}")
        snapshot.raise_for_failure()
        return snapshot.result

    def cancel(self, *, timeout: float | None = None) -> TaskSnapshot:
        """Cancel a pending task at once, or ask a running one to stop."""
        return self._call(CANCEL, {}, UNQUEUED_PRIORITY, timeout)
