"""Operations: named methods a paglet exposes, called by name with checked arguments.

A paglet class subclasses :class:`OperationPaglet` and marks methods with
:func:`operation`::

    class Calculator(OperationPaglet):
        @operation
        def add(self, a: int, b: int = 0) -> int:
            return a + b

A client calls them by name through :class:`OperationClient` (or sends a message of the
operation's name with the arguments as args: ``proxy.send("add", args={"a": 1})``):

    OperationClient(proxy).call("add", a=1, b=2)  # -> 3

Before the method runs its arguments are bound to its signature, and those annotated
with a plain class (``int``, ``str``, ``list[...]``, a dataclass...) are checked
against it (``float`` takes an ``int``; ``int`` does not take a ``bool``). The caller
gets typed errors, all :class:`~paglets.core.errors.HostError` subclasses so that a
plain proxy user can catch them too:

- :class:`UnknownOperationError`: no operation of that name (the message lists them);
- :class:`OperationArgumentsError`: missing, unexpected or mistyped arguments;
- :class:`OperationFailedError`: the method raised; ``remote_type`` and
  ``remote_message`` say what.

Operations run on the mailbox, one at a time like any handler; long work belongs in a
task (:mod:`paglets.patterns.tasks`). Reserved kinds: ``_operation.call`` (args: name,
args) and ``_operation.list`` (the :class:`OperationSpec` of each, as plain values).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

from paglets.core.errors import HostError, ServiceContractError
from paglets.core.messages import Message
from paglets.patterns.reserved import PatternPaglet, typed_error

CALL, LIST = "_operation.call", "_operation.list"
_MARK = "_operation_name"
_F = TypeVar("_F", bound=Callable[..., Any])


class UnknownOperationError(ServiceContractError):
    """The paglet exposes no operation of that name."""


class OperationArgumentsError(ServiceContractError):
    """The arguments do not fit the operation: missing, unexpected, or of the wrong type."""


class OperationFailedError(HostError):
    """The operation ran and raised; ``remote_type`` and ``remote_message`` say what."""


@overload
def operation(function: _F) -> _F: ...


@overload
def operation(*, name: str | None = None) -> Callable[[_F], _F]: ...


def operation(function: Any = None, *, name: str | None = None) -> Any:
    """Mark a method of an :class:`OperationPaglet` as an operation (``name``: its method's).

    Raises:
        ValueError: the name is empty or starts with ``_`` (reserved).
    """

    def mark(method: _F) -> _F:
        chosen = name or method.__name__
        if not chosen or chosen.startswith("_"):
            raise ValueError(f"operation names may not be empty or start with '_': {chosen!r}")
        setattr(method, _MARK, chosen)
        return method

    return mark(function) if function is not None else mark


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of an operation: its name, its annotation's text, whether required."""

    name: str
    annotation: str = ""
    required: bool = True


@dataclass(frozen=True)
class OperationSpec:
    """What a client can know of one operation."""

    name: str
    parameters: tuple[ParameterSpec, ...]
    returns: str = ""
    doc: str = ""

    def to_wire(self) -> dict[str, Any]:
        """Plain values, as ``_operation.list`` answers."""
        return {
            "name": self.name,
            "parameters": [vars(each) for each in self.parameters],
            "returns": self.returns,
            "doc": self.doc,
        }

    @classmethod
    def from_wire(cls, data: Any) -> OperationSpec:
        """Read one entry of an ``_operation.list`` answer.

        Raises:
            ServiceContractError: it is not one.
        """
        try:
            parameters = tuple(ParameterSpec(**each) for each in data["parameters"])
            return cls(str(data["name"]), parameters, str(data["returns"]), str(data["doc"]))
        except (KeyError, TypeError) as exc:
            raise ServiceContractError(f"not an operation description: {exc!r}") from None


class _Operation:
    """One operation of a class: the method, its signature and the checkable hints."""

    def __init__(self, name: str, method: Callable[..., Any]) -> None:
        self.name = name
        self.method = method
        self.signature = inspect.signature(method)
        try:
            self.hints = typing.get_type_hints(method)
        except Exception:  # an annotation that does not resolve is simply not checked
            self.hints = {}
        self.spec = OperationSpec(
            name,
            tuple(
                ParameterSpec(p.name, _text(p.annotation), p.default is inspect.Parameter.empty)
                for p in list(self.signature.parameters.values())[1:]
            ),
            _text(self.signature.return_annotation),
            inspect.getdoc(method) or "",
        )

    def call(self, paglet: OperationPaglet, args: dict[str, Any]) -> Any:
        try:
            bound = self.signature.bind(paglet, **args)
        except TypeError as exc:
            raise OperationArgumentsError(f"{self.name}(): {exc}") from None
        for key, value in list(bound.arguments.items())[1:]:
            expected = _checkable(self.hints.get(key))
            if expected is not None and not _fits(value, expected):
                raise OperationArgumentsError(
                    f"{self.name}(): {key} must be {_text(self.hints[key])}, "
                    f"not {type(value).__name__}"
                )
        # What the method raises travels as a HostError naming it (the runtime's rule).
        return self.method(*bound.args, **bound.kwargs)


class OperationPaglet(PatternPaglet):
    """A paglet whose :func:`operation` methods are called by name (see the module)."""

    RESERVED_KINDS: ClassVar[dict[str, str]] = {CALL: "_answer_call", LIST: "_answer_list"}
    _operations: ClassVar[dict[str, _Operation]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, _Operation] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                name = getattr(value, _MARK, None)
                if name is None:
                    continue
                known = table.get(name)
                if known is not None and known.method.__name__ != attribute:
                    raise TypeError(f"{cls.__qualname__}: two operations are called {name!r}")
                table[name] = _Operation(name, value)
        cls._operations = table

    def reserved_handler(self, kind: str) -> Callable[[Message], Any] | None:
        """Reserved kinds first, then a kind that names an operation."""
        handler = super().reserved_handler(kind)
        if handler is None and kind in self._operations:
            entry = self._operations[kind]
            return lambda message: entry.call(self, message.args)
        return handler

    def operation_specs(self) -> list[OperationSpec]:
        """The operations of this paglet, by name."""
        return [self._operations[name].spec for name in sorted(self._operations)]

    def _answer_call(self, message: Message) -> Any:
        name, args = message.args.get("name"), message.args.get("args") or {}
        if not isinstance(args, dict) or not all(isinstance(key, str) for key in args):
            raise OperationArgumentsError("operation args must be a dict of named values")
        entry = self._operations.get(name) if isinstance(name, str) else None
        if entry is None:
            known = ", ".join(sorted(self._operations)) or "none"
            raise UnknownOperationError(
                f"{type(self).__qualname__} has no operation {name!r} (it has: {known})"
            )
        return entry.call(self, args)

    def _answer_list(self, message: Message) -> list[dict[str, Any]]:
        return [spec.to_wire() for spec in self.operation_specs()]


_TYPED = {
    "UnknownOperationError": UnknownOperationError,
    "OperationArgumentsError": OperationArgumentsError,
}


class OperationClient:
    """Calls the operations of one :class:`OperationPaglet` through its proxy."""

    def __init__(self, proxy: Any, *, timeout: float | None = None) -> None:
        self.proxy = proxy
        self.timeout = timeout

    def call(self, name: str, args: dict[str, Any] | None = None, /, **named: Any) -> Any:
        """Call operation ``name`` with ``args`` and/or keyword arguments; return its result.

        Raises:
            UnknownOperationError, OperationArgumentsError, OperationFailedError: as named;
            other PagletErrors as the proxy raises them.
        """
        values = {**(args or {}), **named}
        return self._send(Message(CALL, {"name": name, "args": values}))

    def operations(self) -> list[OperationSpec]:
        """What the paglet exposes."""
        return [OperationSpec.from_wire(each) for each in self._send(Message(LIST))]

    def _send(self, message: Message) -> Any:
        try:
            return self.proxy.send(message, timeout=self.timeout)
        except HostError as exc:
            typed = _TYPED.get(exc.remote_type)
            if typed is not None:
                raise typed(exc.remote_message) from None
            core = typed_error(exc)
            if core is not exc or type(exc) is not HostError:
                raise core from None
            raise OperationFailedError(exc.remote_type, exc.remote_message) from None


def _text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty or annotation is inspect.Signature.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation)


def _checkable(hint: Any) -> type | None:
    """The class a value must be an instance of, or None when the hint is not that simple."""
    if hint is None or hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin is not None:
        return origin if isinstance(origin, type) else None
    return hint if isinstance(hint, type) else None


def _fits(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is tuple:
        return isinstance(value, (tuple, list))
    return isinstance(value, expected)
