"""OperationPaglet and OperationClient: calls by name, checked arguments, typed errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from paglets.core.errors import HostError, InvalidAgentError, NotHandledError
from paglets.core.messages import Message
from paglets.patterns.operations import (
    OperationArgumentsError,
    OperationClient,
    OperationFailedError,
    OperationPaglet,
    UnknownOperationError,
    operation,
)
from paglets.runtime.host import Host


@dataclass
class Point:
    x: float
    y: float


class Calculator(OperationPaglet):
    """Exposes a few operations, and handles one plain message kind of its own."""

    @operation
    def add(self, a: int, b: int = 0) -> int:
        """Add two integers."""
        return a + b

    @operation(name="scale")
    def scale_point(self, point: Point, factor: float) -> Point:
        return Point(point.x * factor, point.y * factor)

    @operation
    def divide(self, a: float, b: float) -> float:
        return a / b

    @operation
    def where(self) -> str:
        return self.context.name

    def handle_message(self, message: Message) -> Any:
        if message.kind == "hello":
            return "plain handler"
        return self.not_handled()


def test_operations_are_called_by_name_with_typed_results(host: Host) -> None:
    client = OperationClient(host.create(Calculator))
    assert client.call("add", a=2, b=3) == 5
    assert client.call("add", {"a": 2}) == 2
    assert client.call("scale", point=Point(1.0, 2.5), factor=2) == Point(2.0, 5.0)
    assert client.call("where") == "alpha"


def test_a_plain_message_of_the_operation_name_works_too(host: Host) -> None:
    proxy = host.create(Calculator)
    assert proxy.send("add", args={"a": 1, "b": 1}) == 2
    assert proxy.send("hello") == "plain handler"
    with pytest.raises(NotHandledError):
        proxy.send("nothing-of-the-kind")


def test_an_unknown_name_says_which_operations_exist(host: Host) -> None:
    client = OperationClient(host.create(Calculator))
    with pytest.raises(UnknownOperationError, match=r"no operation 'mul' \(it has: add, divide"):
        client.call("mul", a=1)
    assert client.call("add", a=1) == 1  # the paglet keeps serving


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({"b": 1}, "missing a required argument: 'a'"),
        ({"a": 1, "c": 2}, "unexpected keyword argument 'c'"),
        ({"a": "1"}, "a must be int, not str"),
        ({"a": True}, "a must be int, not bool"),
    ],
)
def test_bad_arguments_are_refused_before_the_method_runs(
    host: Host, args: dict[str, Any], text: str
) -> None:
    client = OperationClient(host.create(Calculator))
    with pytest.raises(OperationArgumentsError, match=text):
        client.call("add", args)


def test_a_wrong_dataclass_is_refused(host: Host) -> None:
    client = OperationClient(host.create(Calculator))
    with pytest.raises(OperationArgumentsError, match="point must be Point, not dict"):
        client.call("scale", point={"x": 1}, factor=1.0)


def test_an_operation_that_raises_fails_with_its_error(host: Host) -> None:
    proxy = host.create(Calculator)
    with pytest.raises(OperationFailedError, match="division by zero") as raised:
        OperationClient(proxy).call("divide", a=1, b=0)
    assert raised.value.remote_type == "ZeroDivisionError"
    with pytest.raises(HostError) as plain:  # a plain proxy user sees a HostError
        proxy.send("divide", args={"a": 1, "b": 0})
    assert plain.value.remote_type == "ZeroDivisionError"


def test_operations_describe_themselves(host: Host) -> None:
    specs = {spec.name: spec for spec in OperationClient(host.create(Calculator)).operations()}
    assert sorted(specs) == ["add", "divide", "scale", "where"]
    add = specs["add"]
    assert [(p.name, p.annotation, p.required) for p in add.parameters] == [
        ("a", "int", True),
        ("b", "int", False),
    ]
    assert add.returns == "int" and add.doc == "Add two integers."


def test_calls_to_a_disposed_paglet_fail_clearly(host: Host) -> None:
    proxy = host.create(Calculator)
    proxy.dispose()
    with pytest.raises(InvalidAgentError):
        OperationClient(proxy).call("add", a=1)


def test_bad_declarations_are_refused_at_class_creation() -> None:
    with pytest.raises(ValueError, match="may not be empty or start with '_'"):
        operation(name="_hidden")(lambda self: None)
    with pytest.raises(TypeError, match="two operations are called 'same'"):

        class Twice(OperationPaglet):
            @operation(name="same")
            def one(self) -> None: ...

            @operation(name="same")
            def two(self) -> None: ...
