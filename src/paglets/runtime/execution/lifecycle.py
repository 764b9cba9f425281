"""Paglets coming into being and going away on this host.

Creation, installation of an arrived paglet, and disposal (deactivation and activation
are :mod:`~paglets.runtime.execution.activation`). Hooks run holding the paglet's turn,
with its mailbox held, so no message is handled before ``on_creation``/``on_arrival``/
``on_activation`` returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from paglets.core.agent import Paglet, PagletState, overrides_run
from paglets.core.classes import class_path
from paglets.core.context_events import CREATE, DISPOSE
from paglets.core.errors import HostStoppedError, InvalidAgentError, LimitExceededError, PagletError
from paglets.core.events import CreationEvent, DisposalEvent
from paglets.core.ids import new_id
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.host_context import HostContext
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.local_paglet import (
    LocalPaglet,
    LocalPagletOperations,
    PagletStatus,
    not_found,
)
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.isolation.runner import IsolationHost, is_isolated, start_isolated
from paglets.runtime.persistence.checkpoints import Checkpointer, is_durable
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.stop_signal import StopSignal
from paglets.wire.classpath import ClassPolicy, resolve_class
from paglets.wire.codec import decode_state, encode_state

log = logging.getLogger(__name__)

NO_IMPORTS = ClassPolicy(())
"""A policy under which resolving a class path never imports a module."""


def new_agent_id() -> str:
    """A fresh agent id (uuid4 form, 32 hex digits)."""
    return new_id()


def release_resources(paglet: Paglet[Any]) -> None:
    """Run the paglet's resource cleanups, newest first (if it registered any).

    Raises:
        ResourceCleanupError: a cleanup without ``suppress`` failed.
    """
    if paglet._resources is not None:
        paglet._resources.cleanup()


class Lifecycle:
    """Creates, installs, activates, deactivates and disposes paglets on one host.

    Args:
        operations: the paglets' self-operations (dispatch, clone...).
        context: the host context every paglet here sees.
        config: the host's config (the paglet and mailbox limits).
        isolation: what isolated children need of the host.
        the rest: the host's parts a paglet is built, registered and stored with.
    """

    def __init__(
        self,
        operations: LocalPagletOperations,
        context: HostContext,
        *,
        config: HostConfig,
        identity: HostIdentity,
        stop: StopSignal,
        registry: Registry,
        store: PagletStore,
        events: EventLog,
        pool: WorkerPool,
        policy: ClassPolicy,
        work_area: WorkArea,
        budget: QueueBudget,
        run_slots: RunSlots,
        isolation: IsolationHost,
    ) -> None:
        self._operations = operations
        self._context = context
        self._config = config
        self._identity = identity
        self._stop = stop
        self._registry = registry
        self._store = store
        self._events = events
        self._pool = pool
        self._policy = policy
        self._work_area = work_area
        self._budget = budget
        self._run_slots = run_slots
        self._isolation = isolation
        self._checkpointer = Checkpointer(store)

    @property
    def context(self) -> HostContext:
        """The context object every paglet on this host sees."""
        return self._context

    # building -----------------------------------------------------------------------

    def install(
        self,
        cls: type[Paglet[Any]],
        agent_id: str,
        state: PagletState,
        queued: Sequence[Envelope] = (),
    ) -> LocalPaglet:
        """Construct ``cls``, bind it and register it, with its mailbox held.

        ``queued`` (kept messages) enter the mailbox before anybody can post to it. The
        caller runs the entry hook and then calls :meth:`open`.
        """
        if not (isinstance(cls, type) and issubclass(cls, Paglet)):
            raise PagletError(f"{cls!r} is not a Paglet subclass")
        if not isinstance(state, cls.State):
            raise PagletError(
                f"{cls.__qualname__} needs a {cls.State.__qualname__} state, "
                f"not {type(state).__qualname__}"
            )
        if self._registry.get(agent_id) is not None:
            raise PagletError(f"paglet {agent_id} already lives on {self._identity.name}")
        config = self._config
        if len(self._registry) >= config.max_paglets:
            raise LimitExceededError(
                f"{len(self._registry)} paglets are active on {self._identity.name}",
                "max_paglets",
            )
        paglet = cls()
        slot = LocalPaglet(
            paglet,
            agent_id,
            class_path(cls),
            class_path(type(state)),
            self._pool,
            self._operations,
            self._policy,
            self._identity.address,
            self._config.max_queued_messages,
            self._work_area,
            self._events,
            self._budget,
            config.max_mailbox_bytes,
            self._run_slots,
        )
        paglet._bind(agent_id, state, self._context.for_agent(agent_id), slot)
        slot.mailbox.hold()
        for envelope in queued:
            slot.mailbox.post(envelope, envelope.priority)
        if is_durable(cls):
            slot.checkpointer = self._checkpointer
        self._registry.add(slot)
        return slot

    def run_hook(self, slot: LocalPaglet, hook: Callable[[], None]) -> None:
        """Run a hook of ``slot``'s paglet as the holder of its turn."""
        with slot.mailbox.turn():
            hook()

    def open(self, slot: LocalPaglet) -> None:
        """Let messages in and start ``run()`` (if the paglet is still here)."""
        if slot.status is PagletStatus.ACTIVE:
            if is_isolated(type(slot.paglet)) and not _defers_isolation(slot.paglet):
                try:
                    start_isolated(self._isolation, slot)
                except PagletError:
                    self.uninstall(slot)
                    raise
            slot.mailbox.release()
            slot.start_run()

    def uninstall(self, slot: LocalPaglet) -> None:
        """Remove a slot whose entry failed (nothing else saw it run)."""
        slot.leave(PagletStatus.DISPOSED)
        self._registry.remove(slot.agent_id)

    # create -------------------------------------------------------------------------

    def create(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None,
        init: Any,
        agent_id: str | None = None,
        *,
        check_state: bool = True,
    ) -> LocalPaglet:
        """Create a paglet here; ``on_creation`` runs before this returns.

        Raises:
            SerializationError: the state cannot be encoded (checked up front, so the
                paglet could move later).
            PagletError: ``on_creation`` raised; the paglet was not created.
        """
        if self._stop.is_set():
            raise HostStoppedError(
                f"host {self._identity.name} is stopping: create elsewhere or later"
            )
        if state is None:
            state = cls.State()
        if check_state:
            encode_state(state)
        slot = self.install(cls, agent_id or new_agent_id(), state)
        event = CreationEvent(init=init, **self._identity.event_fields(slot.agent_id))  # type: ignore[arg-type]
        try:
            self.run_hook(slot, lambda: slot.paglet.on_creation(event))
        except Exception as exc:
            self.uninstall(slot)
            raise PagletError(
                f"on_creation of {cls.__qualname__} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if slot.checkpointer is not None:  # durable from its first reply on
            try:
                self._checkpointer.save(slot)
            except PagletError:
                self.uninstall(slot)
                raise
        self._events.record(CREATE, slot.agent_id, class_name=slot.class_path)
        self.open(slot)
        return slot

    def create_from_wire(
        self, cls_path: str, state_cls_path: str, state: bytes, init: Any
    ) -> LocalPaglet:
        """Create a paglet from class paths and an encoded state (the ``create`` verb)."""
        cls, state_value = self.decode(cls_path, state_cls_path, state)
        # decoded from the wire, so it encodes again: no need to check it up front
        return self.create(cls, state_value, init, check_state=False)

    def quick_create(
        self, cls_path: str, state_cls_path: str, state: bytes, init: Any
    ) -> LocalPaglet | None:
        """Create a paglet on the calling thread if none of it can block; else None.

        The I/O thread creates this way, sparing a create two thread hand-offs, when
        both classes resolve without importing anything, the paglet class adds no
        ``__init__``, ``on_creation`` or ``run``, the state class has no
        ``__post_init__``, and every context event listener is quick.

        Raises:
            PagletError: the classes or the state are bad, or a class needs an import
                (the caller then takes the normal path, which reports the error).
        """
        if not self._events.all_quick:
            return None
        # classes first: a paglet with hooks goes to a worker without its state decoded
        cls, state_cls = self.resolve(cls_path, state_cls_path, NO_IMPORTS)
        if (
            cls.__init__ is not Paglet.__init__
            or cls.on_creation is not Paglet.on_creation
            or overrides_run(cls)
            or is_isolated(cls)
            or hasattr(state_cls, "__post_init__")
        ):
            return None
        state_value = decode_state(state, state_cls, NO_IMPORTS)
        return self.create(cls, state_value, init, check_state=False)

    def decode(
        self,
        cls_path: str,
        state_cls_path: str,
        state: bytes,
    ) -> tuple[type[Paglet[Any]], PagletState]:
        """Resolve both class paths under the host's policy and decode the state.

        An empty state class path means the paglet class's declared ``State``; a state
        map may then omit fields that have defaults.
        """
        policy = self._policy
        cls, state_cls = self.resolve(cls_path, state_cls_path, policy)
        return cls, decode_state(state, state_cls, policy)

    def resolve(
        self, cls_path: str, state_cls_path: str, policy: ClassPolicy
    ) -> tuple[type[Paglet[Any]], type[PagletState]]:
        """Resolve a paglet class path and its state class path (empty: its ``State``).

        Raises:
            PagletError: a path does not resolve under ``policy``, or the state class
                is not the paglet class's.
        """
        cls = resolve_class(cls_path, Paglet, policy)
        if not state_cls_path:
            state_cls_path = class_path(cls.State)
        state_cls = resolve_class(state_cls_path, PagletState, policy)
        if not issubclass(state_cls, cls.State):
            raise PagletError(
                f"{state_cls_path} is not the state class of {cls_path} ({class_path(cls.State)})"
            )
        return cls, state_cls

    # dispose ------------------------------------------------------------------------

    def dispose(self, slot: LocalPaglet) -> None:
        """Destroy an active paglet (``on_disposing`` first). Runs holding the turn."""
        event = DisposalEvent(**self._identity.event_fields(slot.agent_id))  # type: ignore[arg-type]
        try:
            slot.paglet.on_disposing(event)
        except Exception:
            log.exception("%r: on_disposing raised; disposing anyway", slot.paglet)
        release_resources(slot.paglet)
        queued = slot.leave(PagletStatus.DISPOSED)
        self._registry.remove(slot.agent_id)
        if slot.checkpointer is not None:
            self._drop_checkpoint(slot.agent_id)
        self._remove_files(slot.agent_id)
        self._events.record(DISPOSE, slot.agent_id, class_name=slot.class_path)
        slot.fail_queued(queued, InvalidAgentError(f"paglet {slot.agent_id} was disposed"))

    def dispose_inactive(self, agent_id: str) -> None:
        """Destroy a deactivated paglet (no hook runs: it is not loaded).

        Raises:
            InvalidAgentError: it is not stored here.
        """
        if not self._store.delete(agent_id):
            raise not_found(agent_id, self._identity.name)
        self._work_area.drop_table(agent_id)
        self._remove_files(agent_id)
        self._events.record(DISPOSE, agent_id)

    def _remove_files(self, agent_id: str) -> None:
        """Remove a destroyed paglet's work dir (its registered files elsewhere stay)."""
        try:
            self._work_area.remove(agent_id)
        except OSError as exc:
            log.warning("work dir of disposed paglet %s left behind: %s", agent_id, exc)

    def _drop_checkpoint(self, agent_id: str) -> None:
        try:
            self._store.drop_checkpoint(agent_id)
        except PagletError as exc:
            log.error("checkpoint of disposed paglet %s kept: %s", agent_id, exc)


def _defers_isolation(paglet: Paglet[Any]) -> bool:
    """Whether an isolated paglet runs here for now: its ``isolation_deferred()`` says so.

    A compute job places itself on a host thread and gets its process only once its
    slot is granted (on its next activation), so a waiting job holds no process.
    """
    deferred = getattr(paglet, "isolation_deferred", None)
    return bool(deferred()) if callable(deferred) else False
