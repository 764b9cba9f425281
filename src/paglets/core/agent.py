"""The paglet: a stateful object with an identity, lifecycle hooks and a mailbox.

A paglet class subclasses :class:`Paglet` and names its state class, a dataclass
subclassing :class:`PagletState`. The state is the only thing that moves or is
persisted; any other attribute is transient and is rebuilt by ``__init__`` (which takes
no arguments) on every host the paglet lives on.

Hooks run at these points (all optional):

============================  ==========  =================================================
hook                          runs on     when
============================  ==========  =================================================
``on_creation(event)``        creator     once, after construction; ``event.init``
``on_dispatching(event)``     source      before the state snapshot of a dispatch
``on_arrival(event)``         target      after the state and registered files are in
                                          place (dispatch or retract)
``on_reverting(event)``       remote      when a retract pulls the paglet away
``on_cloning(event)``         original    before the clone snapshot
``on_clone(event)``           the copy    on the target, with a new ``agent_id``
``on_cloned(event)``          original    after the target accepted the copy
``on_deactivating(event)``    host        before the state is persisted
``on_activation(event)``      host        after the state is loaded again
``on_disposing(event)``       host        before an active paglet is destroyed
``run()``                     host        after creation, arrival, clone and activation,
                                          on a thread of its own
``handle_message(message)``   host        one message at a time; the return is the reply
============================  ==========  =================================================

``dispatch()`` called inside a handler is the last thing that handler does to the state:
the snapshot is taken during the call, so later changes do not travel.

Files travel too: :meth:`Paglet.register_file` adds a file to the paglet's registered
files, which move (or are copied, for a clone) into the paglet's :meth:`Paglet.work_dir`
on the target host before ``on_arrival``/``on_clone`` runs there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from paglets.core.classes import remember_class
from paglets.core.errors import PagletError

if TYPE_CHECKING:
    from paglets.core.context import PagletContext, PagletControl
    from paglets.core.events import (
        CloneEvent,
        CreationEvent,
        DisposalEvent,
        MobilityEvent,
        PersistencyEvent,
    )
    from paglets.core.messages import Message

ACTIVE = 1
"""State flag of a paglet that is loaded and can handle messages."""
INACTIVE = 2
"""State flag of a paglet that is deactivated (its state is in the host's store)."""


@dataclass
class PagletState:
    """Base class of paglet states. Subclass it as a ``@dataclass``.

    Field values must be encodable (see :mod:`paglets.wire.codec`): None, bool, int,
    float, str, bytes, bytearray, list, tuple, dict, set, Enum, Path, datetime, nested
    dataclasses, ``PagletProxyRef``, ``ArtifactRef`` and Optional/Union of these.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        remember_class(cls)


StateT = TypeVar("StateT", bound=PagletState)


class _NotHandled:
    """The marker a handler returns for message kinds it does not handle."""

    _instance: ClassVar[_NotHandled | None] = None

    def __new__(cls) -> _NotHandled:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_HANDLED"


NOT_HANDLED = _NotHandled()


class Paglet(Generic[StateT]):
    """Base class of every paglet. See the module docstring for the hooks."""

    State: ClassVar[type[PagletState]] = PagletState
    """The dataclass holding this paglet's state; subclasses set it."""

    DURABLE: ClassVar[bool] = False
    """True: the host checkpoints the state after every message that changed it, before
    the reply leaves, so ``kill -9`` loses no acknowledged change (docs/durability.md)."""

    _agent_id: str
    _state: StateT
    _context: PagletContext | None = None
    _control: PagletControl | None = None
    _state_lock: threading.RLock
    _state_changed: threading.Condition | None
    _leaving: threading.Event | None
    _left: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        remember_class(cls)
        state_cls = cls.__dict__.get("State")
        if state_cls is not None and not (
            isinstance(state_cls, type) and issubclass(state_cls, PagletState)
        ):
            raise TypeError(f"{cls.__qualname__}.State must be a PagletState subclass")

    def _bind(
        self,
        agent_id: str,
        state: StateT,
        context: PagletContext | None,
        control: PagletControl | None,
    ) -> None:
        """Attach identity, state and host; called by the runtime before any hook."""
        self._agent_id = agent_id
        self._state = state
        self._context = context
        self._control = control
        self._state_lock = threading.RLock()
        # Built on first use: most paglets never wait, and 10,000 idle ones must be cheap.
        self._state_changed = None
        self._leaving = None
        self._left = False

    def _condition(self) -> threading.Condition:
        condition = self._state_changed
        if condition is None:
            with self._state_lock:
                if self._state_changed is None:
                    self._state_changed = threading.Condition(self._state_lock)
                condition = self._state_changed
        return condition

    def _mark_leaving(self) -> None:
        """Record that this instance left its host; wakes :meth:`wait_leaving`."""
        with self._state_lock:
            self._left = True
            if self._leaving is not None:
                self._leaving.set()

    # identity and state -------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        """This paglet's id (a uuid hex string); it survives dispatch and deactivation."""
        return self._agent_id

    @property
    def state(self) -> StateT:
        """The dataclass state: the only thing that moves and is persisted."""
        return self._state

    @state.setter
    def state(self, value: StateT) -> None:
        if not isinstance(value, self.State):
            raise TypeError(f"state must be a {self.State.__qualname__}")
        with self._state_lock:
            self._state = value

    @property
    def context(self) -> PagletContext:
        """The host this paglet lives on."""
        if self._context is None:
            raise PagletError("this paglet is not attached to a host")
        return self._context

    def _require_control(self) -> PagletControl:
        if self._control is None:
            raise PagletError("this paglet is not attached to a host")
        return self._control

    # self-operations ----------------------------------------------------------------

    def dispatch(self, target: str, **options: Any) -> Any:
        """Move this paglet to ``target`` (a host name or address); return its new proxy.

        Called inside a handler, the state is snapshotted during the call: changes made
        after it do not travel. Options: ``timeout``, ``retries``.

        Raises:
            TransferError: the move did not commit; the paglet is still here.
        """
        return self._require_control().dispatch(target, options)

    def clone(self, target: str | None = None, **options: Any) -> Any:
        """Copy this paglet (here, or to ``target``); return the copy's proxy."""
        return self._require_control().clone(target, options)

    def deactivate(self, duration: float | None = None) -> None:
        """Persist the state and unload; activate again after ``duration`` seconds if given."""
        self._require_control().deactivate(duration)

    def dispose(self) -> None:
        """Destroy this paglet (``on_disposing`` runs first)."""
        self._require_control().dispose()

    def proxy(self) -> Any:
        """A proxy to this paglet, to hand to others."""
        return self._require_control().own_proxy()

    def not_handled(self) -> Any:
        """Return this from ``handle_message`` for kinds it does not handle."""
        return NOT_HANDLED

    # files that travel with the paglet ----------------------------------------------

    def register_file(
        self, path: str | PathLike[str], name: str | None = None, mode: str = "copy"
    ) -> Path:
        """Make the file at ``path`` travel with this paglet, under ``name``.

        On a dispatch or clone the file is moved into this paglet's work dir on the
        target before ``on_arrival``/``on_clone``. With ``mode="copy"`` a file outside
        the work dir stays where it is; with ``mode="move"`` it is deleted here once
        the dispatch committed (never before; a clone always copies). Registering a
        name again replaces the entry.

        Args:
            path: an existing regular file on this host.
            name: the name it travels under (default: the file's name); a plain file
                name, no directories.
            mode: ``"copy"`` or ``"move"``.

        Returns:
            The absolute path registered.

        Raises:
            ArtifactNotFoundError: ``path`` is not a regular file.
            ArtifactError: a bad name or mode.
        """
        return self._require_control().register_file(path, name, mode)

    def unregister_file(self, name: str, *, delete: bool = False) -> None:
        """Stop carrying the file ``name`` (and delete it when ``delete``)."""
        self._require_control().unregister_file(name, delete)

    def registered_files(self) -> dict[str, Path]:
        """Name -> path on this host of every file this paglet carries."""
        return self._require_control().registered_files()

    def file_path(self, name: str) -> Path:
        """Where the registered file ``name`` is on this host.

        Raises:
            ArtifactNotFoundError: no file of that name is registered.
        """
        return self._require_control().file_path(name)

    def work_dir(self) -> Path:
        """This paglet's own directory on this host (created on first use).

        It is removed when the paglet leaves the host or is disposed; files the paglet
        wants to keep across moves must be registered.
        """
        return self._require_control().work_dir()

    # state locking ------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this paglet's state lock (re-entrant) for the ``with`` block."""
        with self._state_lock:
            yield

    @contextmanager
    def locked_state(self) -> Iterator[StateT]:
        """Hold the state lock and yield the state; waiters are notified on exit."""
        condition = self._condition()
        with condition:
            try:
                yield self._state
            finally:
                condition.notify_all()

    def wait_state(self, predicate: Callable[[StateT], bool], timeout: float) -> bool:
        """Wait until ``predicate(state)`` holds; return False if ``timeout`` passed first.

        Others wake waiters with :meth:`notify_all_state_changed` or by leaving a
        :meth:`locked_state` block.
        """
        condition = self._condition()
        with condition:
            return condition.wait_for(lambda: predicate(self._state), timeout)

    def notify_all_state_changed(self) -> None:
        """Wake every :meth:`wait_state` caller so it checks its predicate again."""
        condition = self._condition()
        with condition:
            condition.notify_all()

    # mailbox wait / notify ----------------------------------------------------------

    def wait_message(self, timeout: float | None = None) -> bool:
        """Pause this handler so the next messages can be handled; resume when notified.

        Returns False if ``timeout`` passed before a :meth:`notify_message`.
        """
        return self._require_control().wait_message(timeout)

    def notify_message(self) -> None:
        """Resume one handler paused in :meth:`wait_message`."""
        self._require_control().notify_message()

    def notify_all_messages(self) -> None:
        """Resume every handler paused in :meth:`wait_message`."""
        self._require_control().notify_all_messages()

    # run() support ------------------------------------------------------------------

    def is_leaving(self) -> bool:
        """Whether this instance left its host (moved, deactivated or disposed).

        A long ``run()`` checks it, or waits on it with :meth:`wait_leaving`, to stop.
        """
        return self._left

    def wait_leaving(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early (True) when the paglet leaves."""
        with self._state_lock:
            if self._left:
                return True
            if self._leaving is None:
                self._leaving = threading.Event()
            leaving = self._leaving
        return leaving.wait(timeout)

    # hooks: override what you need ----------------------------------------------------

    def on_creation(self, event: CreationEvent) -> None:
        """Once, on the creating host, after construction."""

    def on_dispatching(self, event: MobilityEvent) -> None:
        """On the source host, before the state snapshot of a dispatch."""

    def on_arrival(self, event: MobilityEvent) -> None:
        """On the target host, after the state is in place."""

    def on_reverting(self, event: MobilityEvent) -> None:
        """On the remote host, when a retract pulls the paglet away."""

    def on_cloning(self, event: CloneEvent) -> None:
        """On the original, before the clone snapshot."""

    def on_clone(self, event: CloneEvent) -> None:
        """On the copy (new ``agent_id``), on the target host."""

    def on_cloned(self, event: CloneEvent) -> None:
        """On the original, after the target accepted the copy."""

    def on_deactivating(self, event: PersistencyEvent) -> None:
        """Before the state is persisted and the paglet unloaded."""

    def on_activation(self, event: PersistencyEvent) -> None:
        """After the state was loaded again."""

    def on_disposing(self, event: DisposalEvent) -> None:
        """Before an active paglet is destroyed."""

    def run(self) -> None:
        """Long-running work on a thread of its own; the default does nothing."""

    def handle_message(self, message: Message) -> Any:
        """Handle one message; the return value is the reply."""
        return self.not_handled()

    def __repr__(self) -> str:
        agent_id = getattr(self, "_agent_id", "?")
        return f"<{type(self).__qualname__} {agent_id}>"


def overrides_run(cls: type[Paglet[Any]]) -> bool:
    """Return whether ``cls`` defines its own ``run()``."""
    return cls.run is not Paglet.run


def state_class_of(cls: type[Paglet[Any]]) -> type[PagletState]:
    """Return the state class a paglet class declares."""
    return cls.State


__all__ = [
    "ACTIVE",
    "INACTIVE",
    "NOT_HANDLED",
    "Paglet",
    "PagletState",
    "StateT",
    "overrides_run",
    "state_class_of",
]
