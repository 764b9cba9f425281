"""Tests for paglets.serialization.codec: dataclass round trips and qualified names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paglets.core.agent import PagletState
from paglets.core.errors import ClassNotAllowedError, ClassResolutionError, SerializationError
from paglets.serialization.codec import (
    DEFAULT_POLICY,
    dataclass_from_wire,
    dataclass_to_wire,
    qualified_name,
    resolve_qualified_name,
)
from paglets.wire.classpath import ClassPolicy


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int


@dataclass
class Drawing(PagletState):
    title: str = ""
    points: list[Point] = field(default_factory=list)
    corners: tuple[Point, ...] = ()
    colour: Colour = Colour.RED
    tags: set[str] = field(default_factory=set)
    when: datetime = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    where: Path = Path("/tmp/drawing")
    blob: bytes = b""


def test_a_nested_dataclass_round_trips() -> None:
    drawing = Drawing(
        "plan",
        [Point(1, 2), Point(3, 4)],
        (Point(0, 0),),
        Colour.BLUE,
        {"a", "b"},
        blob=b"\x00\xff",
    )
    wire = dataclass_to_wire(drawing)
    assert isinstance(wire, bytes)
    assert dataclass_from_wire(Drawing, wire) == drawing
    assert dataclass_from_wire(qualified_name(Drawing), wire) == drawing


def test_qualified_names() -> None:
    assert qualified_name(Point) == f"{__name__}:Point"
    assert qualified_name(Point(1, 2)) == qualified_name(Point)
    assert resolve_qualified_name(qualified_name(Point)) is Point
    assert resolve_qualified_name(f"{__name__}.Point") is Point  # dotted spelling
    assert resolve_qualified_name("paglets.core.agent:Paglet").__name__ == "Paglet"


def test_a_name_outside_the_policy_is_never_imported() -> None:
    with pytest.raises(ClassNotAllowedError):
        resolve_qualified_name("some_module_nobody_imported:Thing")
    with pytest.raises(ClassResolutionError):
        resolve_qualified_name("not a name")
    assert DEFAULT_POLICY.allows_import("paglets.examples.echo")
    assert (
        resolve_qualified_name(
            "paglets.examples.counter:CounterPaglet", ClassPolicy(("paglets.examples",))
        ).__name__
        == "CounterPaglet"
    )


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(SerializationError, match="dataclass instance"):
        dataclass_to_wire({"x": 1})
    with pytest.raises(SerializationError, match="dataclass instance"):
        dataclass_to_wire(Point)
    with pytest.raises(SerializationError, match="Point"):
        dataclass_from_wire(Point, dataclass_to_wire(Drawing()))
    with pytest.raises(SerializationError):
        dataclass_from_wire(Point, b"\xc1 not msgpack")
    with pytest.raises(ClassResolutionError, match="not a dataclass"):
        dataclass_from_wire(Colour, dataclass_to_wire(Point(1, 2)))  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="cannot encode"):
        dataclass_to_wire(Drawing(title=object()))  # type: ignore[arg-type]
