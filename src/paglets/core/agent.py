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

Before a dispatch, retract, deactivate or dispose, :attr:`Paglet.resources` cleanups
run (newest first); a failing one cancels the operation. ``dispatch()`` inside a
handler snapshots the state during the call. Registered files travel with the paglet.
"""

from __future__ import annotations

import threading
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

from paglets.artifacts import PagletFileRef
from paglets.core.classes import remember_class
from paglets.core.context import PagletContext, PagletControl, PagletHandle
from paglets.core.errors import PagletError
from paglets.core.events import (
    CloneEvent,
    CreationEvent,
    DisposalEvent,
    MobilityEvent,
    PersistencyEvent,
)
from paglets.core.messages import Message, ReplySet
from paglets.core.resources import ResourceRegistry
from paglets.core.state import ACTIVE, INACTIVE, NOT_HANDLED, PagletState, StateT
from paglets.core.state_sync import StateSync, state_locked
from paglets.core.tickets import TransferTicket
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.persistence.storage import ManagedStorage


class Paglet(StateSync[StateT]):
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
    _resources: ResourceRegistry | None

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
        self._resources = None

    # identity and state -------------------------------------------------------------

    @classmethod
    def state_class(cls) -> type[PagletState]:
        """The dataclass holding this paglet class's state (its ``State``)."""
        return cls.State

    @property
    def resources(self) -> ResourceRegistry:
        """Cleanup callbacks run, newest first, before this paglet leaves its host.

        A failing callback cancels the dispatch, retract, deactivate or dispose with
        ``ResourceCleanupError`` unless it was registered with ``suppress=True``.
        """
        registry = self._resources
        if registry is None:
            with self._state_lock:
                if self._resources is None:
                    self._resources = ResourceRegistry()
                registry = self._resources
        return registry

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

    def dispatch(
        self, target: str | TransferTicket, *, timeout: float | None = None
    ) -> PagletHandle:
        """Move this paglet to ``target`` (a host name, an address or a ticket).

        Called inside a handler, the state is snapshotted during the call: changes made
        after it do not travel. Returns the proxy of the paglet at its new host.

        Raises:
            TransferError: the move did not commit (or a ticket precondition failed);
                the paglet is still here.
            ResourceCleanupError: a resource's cleanup failed; nothing moved.
        """
        return self._require_control().dispatch({"target": target, "timeout": timeout})

    def dispatch_to(self, host_name: str) -> PagletHandle:
        """Move this paglet to the host called ``host_name`` (see :meth:`dispatch`)."""
        return self.dispatch(_host_name(host_name))

    def clone(
        self, target: str | TransferTicket | None = None, *, timeout: float | None = None
    ) -> PagletHandle:
        """Copy this paglet (here, or to ``target``); return the copy's proxy."""
        return self._require_control().clone({"target": target, "timeout": timeout})

    def clone_to(self, host_name: str) -> PagletHandle:
        """Copy this paglet to the host called ``host_name``; return the copy's proxy."""
        return self.clone(_host_name(host_name))

    def deactivate(
        self,
        reason: str = "",
        policy: DeactivationPolicy | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> PagletHandle:
        """Persist the state and unload; return the proxy (valid while inactive).

        Args:
            reason: why, passed to ``deactivation_policy`` and the event.
            policy: the policy to apply (else :meth:`deactivation_policy` decides).
            metadata: free-form facts kept with the request.

        Raises:
            ResourceCleanupError: a resource's cleanup failed; the paglet stays active.
        """
        request = DeactivationRequest(reason=reason, policy=policy, metadata=dict(metadata or {}))
        return self._require_control().deactivate(request)

    def dispose(self) -> None:
        """Destroy this paglet (``on_disposing`` runs first)."""
        self._require_control().dispose()

    def proxy(self) -> PagletHandle:
        """A proxy to this paglet, to hand to others."""
        return self._require_control().own_proxy()

    def send(self, agent_id: str, message: Message | str, host_url: str | None = None) -> Any:
        """Send ``message`` to the paglet ``agent_id`` (on this host, or at ``host_url``)."""
        return self.context.send(agent_id, message, host_url)

    def multicast(
        self, kind: str | Message, args: dict[str, Any] | None = None, include_self: bool = False
    ) -> ReplySet:
        """Send a message to every active paglet on this host (itself only if asked)."""
        if not isinstance(include_self, bool):
            raise TypeError(f"include_self must be True or False, not {include_self!r}")
        exclude = None if include_self else self.agent_id
        return self.context.multicast(kind, args, exclude)

    def not_handled(self) -> Any:
        """Return this from ``handle_message`` for kinds it does not handle."""
        return NOT_HANDLED

    # files that travel with the paglet ----------------------------------------------

    def register_file(
        self, path: str | PathLike[str], name: str | None = None, mode: str = "copy"
    ) -> PagletFileRef:
        """Make the file at ``path`` travel with this paglet, under ``name``.

        It reaches this paglet's work dir on the target before ``on_arrival``/
        ``on_clone``. ``mode="copy"`` leaves a file outside the work dir in place;
        ``mode="move"`` deletes it here once the dispatch committed (a clone always
        copies). Registering a name again replaces the entry. ``name`` defaults to
        the file's name (a plain file name, no directories).

        Returns:
            The registered file's name, mode, size, sha256 and path.

        Raises:
            ArtifactNotFoundError: ``path`` is not a regular file.
            ArtifactError: a bad name or mode.
        """
        return self._require_control().register_file(path, name, mode)

    def unregister_file(self, name: str, *, delete: bool = False) -> None:
        """Stop carrying the file ``name`` (and delete it when ``delete``)."""
        self._require_control().unregister_file(name, delete)

    def registered_files(self) -> list[PagletFileRef]:
        """Every file this paglet carries, as refs (path on this host)."""
        return self._require_control().registered_files()

    def persistent_storage(self) -> ManagedStorage:
        """This paglet class's own directory on this host, with a quota.

        It survives restarts of a host with a persistence dir and never moves: every
        paglet of the class on this host shares it. A write over the quota raises
        ``StorageQuotaError``.
        """
        return self._require_control().persistent_storage()

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

    def deactivation_policy(self, request: DeactivationRequest) -> DeactivationPolicy:
        """The policy to apply to ``request``: the request's own, else the default."""
        return request.policy or DeactivationPolicy()

    def run(self) -> None:
        """Long-running work on a thread of its own; the default does nothing."""

    def handle_message(self, message: Message) -> Any:
        """Handle one message; the return value is the reply."""
        return self.not_handled()

    def __repr__(self) -> str:
        agent_id = getattr(self, "_agent_id", "?")
        return f"<{type(self).__qualname__} {agent_id}>"


def _host_name(host_name: object) -> str:
    if not isinstance(host_name, str) or not host_name:
        raise TypeError(f"host_name must be a non-empty str, not {host_name!r}")
    return host_name


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
    "PagletContext",
    "PagletState",
    "StateT",
    "overrides_run",
    "state_class_of",
    "state_locked",
]
