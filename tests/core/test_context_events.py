"""Tests for paglets.core.context_events: the event's fields and its wire form."""

from __future__ import annotations

import dataclasses

import pytest

from paglets.core.context_events import ContextEvent


def test_the_original_fields_and_a_wire_round_trip() -> None:
    event = ContextEvent(
        7,
        "message-failed",
        "alpha",
        "tcp://127.0.0.1:1",
        12.5,
        "p1",
        "app:Worker",
        "m-1",
        "",
        {"message_kind": "work"},
        "ValueError: bad",
    )
    wire = event.to_wire()
    assert set(wire) == {
        "event_id",
        "kind",
        "host_name",
        "host_address",
        "timestamp",
        "agent_id",
        "class_name",
        "message_id",
        "service_name",
        "data",
        "error",
    }
    assert ContextEvent.from_wire(wire) == event
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "other"  # type: ignore[misc]


@pytest.mark.parametrize("data", [{"kind": "create"}, [], {"event_id": 1, "kind": "x", "y": 2}])
def test_bad_wire_data_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        ContextEvent.from_wire(data)  # type: ignore[arg-type]
