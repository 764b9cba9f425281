"""Reserved message kinds: the messages a pattern answers before the paglet's own handler.

A pattern (a task, the fan-out or cursor-drain mixin...) talks to its paglet with
messages of its own kinds, all starting with ``_`` (``_task.status``, ``_drain``...).
Those must reach the pattern even when the paglet class defines its own
``handle_message`` and knows nothing of them. :class:`PatternPaglet` makes sure they
do: every subclass that defines ``handle_message`` has it wrapped so that a reserved
kind goes to the pattern's method first; any other kind goes to the class's handler
unchanged.

A pattern declares its kinds in a class attribute, ``RESERVED_KINDS``, mapping each
kind to the name of the method that answers it (``method(message) -> reply``). The
kinds of every class in the MRO are merged.

Their clients call :func:`typed_error` on what a call raised: a ``paglets.core.errors``
class raised by a handler arrives as a :class:`~paglets.core.errors.HostError` naming
it, and the client raises it again as that class.

Patterns also clean up when their paglet is disposed: ``on_disposing`` is wrapped the
same way so that :meth:`PatternPaglet.pattern_disposing` (which each pattern extends,
calling ``super()``) runs before the class's own hook.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import HostError, LifecycleError, PagletError, error_from_wire
from paglets.core.events import DisposalEvent
from paglets.core.messages import Message

_WRAPPED = "_pattern_wrapped"
_S = TypeVar("_S", bound=PagletState)
_CORE_ERRORS = "paglets.core.errors."


def typed_error(error: PagletError) -> PagletError:
    """The paglets error a remote handler raised, as its own class when it is a core one.

    Args:
        error: what a proxy call raised.

    Returns:
        ``error`` itself, unless it is a HostError naming a ``paglets.core.errors``
        class: then an instance of that class with the remote text.
    """
    if isinstance(error, HostError) and error.remote_type.startswith(_CORE_ERRORS):
        rebuilt = error_from_wire(error.remote_type[len(_CORE_ERRORS) :], error.remote_message)
        if type(rebuilt) is not HostError:
            return rebuilt
    return error


class PatternPaglet(Paglet[Any]):
    """Base of the pattern paglets and mixins: reserved kinds reach the pattern first."""

    RESERVED_KINDS: ClassVar[Mapping[str, str]] = {}
    """Reserved message kind -> name of the method that answers it."""

    REQUIRED_STATE: ClassVar[type[PagletState] | None] = None
    """The state base class a pattern's fields live in (the class's State subclasses it)."""

    _all_reserved: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("RESERVED_KINDS", {}))
            required = klass.__dict__.get("REQUIRED_STATE")
            if required is not None and cls.State is not PagletState:
                if not issubclass(cls.State, required):
                    raise TypeError(
                        f"{cls.__qualname__}.State must subclass {required.__qualname__} "
                        f"(for {klass.__qualname__})"
                    )
        cls._all_reserved = merged
        own = cls.__dict__.get("handle_message")
        if own is not None and not getattr(own, _WRAPPED, False):
            cls.handle_message = _reserved_first(own)  # type: ignore[method-assign,assignment]
        disposing = cls.__dict__.get("on_disposing")
        if disposing is not None and not getattr(disposing, _WRAPPED, False):
            cls.on_disposing = _cleanup_first(disposing)  # type: ignore[method-assign,assignment]

    def pattern_state(self, required: type[_S]) -> _S:
        """The state as the pattern's state class.

        Raises:
            LifecycleError: the paglet's state class does not subclass ``required``.
        """
        state = self.state
        if not isinstance(state, required):
            raise LifecycleError(
                f"{type(self).__qualname__}.State must subclass {required.__qualname__}"
            )
        return state

    def reserved_handler(self, kind: str) -> Callable[[Message], Any] | None:
        """The pattern method that answers ``kind``, or None for an ordinary kind."""
        name = self._all_reserved.get(kind)
        if name is None:
            return None
        handler: Callable[[Message], Any] = getattr(self, name)
        return handler

    def handle_message(self, message: Message) -> Any:
        """Answer reserved kinds; everything else is not handled (override it)."""
        handler = self.reserved_handler(message.kind)
        if handler is not None:
            return handler(message)
        return self.not_handled()

    def pattern_disposing(self) -> None:
        """Release what the patterns hold (children, waiters); runs before ``on_disposing``."""

    def on_disposing(self, event: DisposalEvent) -> None:
        """Let the patterns clean up (override freely: the cleanup still runs first)."""
        self.pattern_disposing()


def _reserved_first(own: Callable[[Any, Message], Any]) -> Callable[[Any, Message], Any]:
    @functools.wraps(own)
    def handle_message(self: PatternPaglet, message: Message) -> Any:
        handler = self.reserved_handler(message.kind)
        if handler is not None:
            return handler(message)
        return own(self, message)

    setattr(handle_message, _WRAPPED, True)
    return handle_message


def _cleanup_first(
    own: Callable[[Any, DisposalEvent], None],
) -> Callable[[Any, DisposalEvent], None]:
    @functools.wraps(own)
    def on_disposing(self: PatternPaglet, event: DisposalEvent) -> None:
        self.pattern_disposing()
        own(self, event)

    setattr(on_disposing, _WRAPPED, True)
    return on_disposing
