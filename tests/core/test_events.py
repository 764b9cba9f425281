"""Tests for paglets.core.events: the original's field names and order."""

from __future__ import annotations

import dataclasses
import time

import pytest

from paglets.core.events import (
    CloneEvent,
    CreationEvent,
    DisposalEvent,
    MobilityEvent,
    PersistencyEvent,
)


def test_mobility_event_fields_in_the_original_order() -> None:
    event = MobilityEvent("alpha", "tcp://a:1", "beta", "tcp://b:2", "retract", agent_id="p1")
    assert (event.source_host_name, event.source_host_address) == ("alpha", "tcp://a:1")
    assert (event.target_host_name, event.target_host_address) == ("beta", "tcp://b:2")
    assert (event.reason, event.agent_id) == ("retract", "p1")


def test_clone_event_fields_in_the_original_order() -> None:
    event = CloneEvent("p1", "p2", "alpha", "tcp://a:1", "beta", "tcp://b:2")
    assert (event.source_agent_id, event.clone_agent_id) == ("p1", "p2")
    assert (event.source_host_name, event.source_host_address) == ("alpha", "tcp://a:1")
    assert (event.target_host_name, event.target_host_address) == ("beta", "tcp://b:2")


def test_persistency_and_creation_events() -> None:
    request, policy = object(), object()
    event = PersistencyEvent("deactivate", request, policy, host_name="alpha")
    assert (event.reason, event.request, event.policy) == ("deactivate", request, policy)
    assert CreationEvent({"n": 1}).init == {"n": 1}
    assert DisposalEvent().reason == "dispose"


@pytest.mark.parametrize("cls", [CreationEvent, MobilityEvent, CloneEvent, PersistencyEvent])
def test_every_event_carries_where_and_when(cls: type) -> None:
    before = time.time()
    event = cls(agent_id="p1", host_name="alpha", host_address="tcp://a:1")
    assert (event.agent_id, event.host_name, event.host_address) == ("p1", "alpha", "tcp://a:1")
    assert before <= event.timestamp <= time.time()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.agent_id = "other"
