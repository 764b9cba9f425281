"""Reading the event history back: the query, the ``events`` verb, ``HostClient.list_events``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core.context_events import ContextEvent
from paglets.core.errors import ProtocolError
from paglets.examples.counter import CounterPaglet
from paglets.remote.client import HostClient
from paglets.runtime.persistence.event_history import EventHistory, select_events
from paglets.runtime.persistence.host_store import HostStore
from paglets.wire.event_query import MAX_EVENTS, EventQuery
from paglets.wire.protocol import VERB_EVENTS


@pytest.fixture
def history(tmp_path: Path) -> Iterator[EventHistory]:
    store = HostStore(tmp_path / "store")
    kept = EventHistory(store)
    for n, (kind, agent) in enumerate(
        [("create", "a"), ("create", "b"), ("dispatch", "a"), ("arrival", "b"), ("dispose", "a")],
        start=1,
    ):
        kept.record(ContextEvent(n, kind, host_name="h", agent_id=agent, data={"n": n}))
    yield kept
    kept.stop()
    store.close()


def kinds(found: list[dict[str, object]]) -> list[object]:
    return [(event["kind"], event["agent_id"]) for event in found]


def test_a_query_sees_what_was_recorded_before_it_oldest_first(history: EventHistory) -> None:
    found = history.query(EventQuery())  # nothing written yet: the query writes first
    assert kinds(found) == [
        ("create", "a"), ("create", "b"), ("dispatch", "a"), ("arrival", "b"), ("dispose", "a"),
    ]  # fmt: skip
    seqs = [event["seq"] for event in found]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [event["data"] for event in found] == [{"n": n} for n in range(1, 6)]


def test_a_query_filters_by_since_last_agent_and_kind(history: EventHistory) -> None:
    every = history.query(EventQuery())
    third = int(every[2]["seq"])
    assert kinds(history.query(EventQuery(since=third))) == [("arrival", "b"), ("dispose", "a")]
    assert kinds(history.query(EventQuery(last=2))) == [("arrival", "b"), ("dispose", "a")]
    assert kinds(history.query(EventQuery(agent_id="a"))) == [
        ("create", "a"), ("dispatch", "a"), ("dispose", "a"),
    ]  # fmt: skip
    assert kinds(history.query(EventQuery(kind="create", last=1))) == [("create", "b")]
    assert kinds(history.query(EventQuery(agent_id="b", kind="dispatch"))) == []
    assert kinds(history.query(EventQuery(limit=2))) == [("create", "a"), ("create", "b")]


def test_a_row_that_no_longer_decodes_is_listed_with_an_error(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "store")
    try:
        store.write(
            "INSERT INTO events (at, kind, agent_id, detail) VALUES (?, ?, ?, ?)",
            (1.5, "create", "x", b"\xc1 not msgpack"),
        )
        store.write(
            "INSERT INTO events (at, kind, agent_id, detail) VALUES (?, ?, ?, ?)",
            (2.5, "dispose", "x", msgpack.packb([1, 2])),
        )
        found = select_events(store.query, EventQuery())
    finally:
        store.close()
    assert [(e["kind"], e["agent_id"], e["timestamp"]) for e in found] == [
        ("create", "x", 1.5), ("dispose", "x", 2.5),
    ]  # fmt: skip
    assert all("no longer decodes" in str(e["error"]) for e in found)


@pytest.mark.parametrize(
    "body",
    [
        {"since": -1},
        {"since": "3"},
        {"last": 0},
        {"last": True},
        {"limit": -5},
        {"kind": 7},
        {"agent_id": None},
        {"when": 1},
        [1, 2],
        "all",
    ],
)
def test_a_bad_query_is_a_protocol_error(body: object) -> None:
    with pytest.raises(ProtocolError, match="events"):
        EventQuery.from_wire(body)


def test_an_answer_holds_at_most_max_events() -> None:
    assert EventQuery(limit=10**9).count == MAX_EVENTS
    assert EventQuery(last=3, limit=2).count == 2
    assert EventQuery.from_wire(None) == EventQuery()


# end to end -----------------------------------------------------------------------------


def test_a_host_lists_its_history_across_a_restart(make_host: HostFactory, tmp_path: Path) -> None:
    store = tmp_path / "alpha"
    alpha = make_host("alpha", persistence_dir=store)
    first = alpha.create(CounterPaglet)
    other = alpha.create(CounterPaglet)
    alpha.dispose(other.agent_id)
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        mine = client.list_events(agent_id=first.agent_id)
        assert [e["kind"] for e in mine] == ["create"]
        assert [e["agent_id"] for e in client.list_events(kind="dispose")] == [other.agent_id]
    alpha.stop(timeout=TIMEOUT)
    alpha = make_host("alpha", persistence_dir=store)  # same store, event ids from 1 again
    again = alpha.create(CounterPaglet)
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        created = client.list_events(kind="create")
        assert [e["agent_id"] for e in created] == [first.agent_id, other.agent_id, again.agent_id]
        every = client.list_events()
        seqs = [e["seq"] for e in every]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        started = [e for e in every if e["kind"] == "host-started"]
        assert len(started) == 2  # one per run
        (stopped,) = [e for e in every if e["kind"] == "host-stopped"]
        assert started[0]["seq"] < stopped["seq"] < started[1]["seq"]
        assert client.list_events(last=1)[0]["agent_id"] == again.agent_id
        newest = client.list_events(since=int(stopped["seq"]))
        assert [e["kind"] for e in newest] == ["host-started", "create"]


def test_a_host_without_a_store_answers_from_its_event_log(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    proxy = alpha.create(CounterPaglet)
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        found = client.list_events(agent_id=proxy.agent_id)
        assert [(e["kind"], e["seq"]) for e in found] == [
            ("create", event.event_id)
            for event in alpha.list_events()
            if event.agent_id == proxy.agent_id
        ]
        assert client.list_events(last=1, kind="create")[0]["agent_id"] == proxy.agent_id


def test_a_bad_filter_is_a_clear_error_and_the_host_serves_on(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        with pytest.raises(ProtocolError, match="last"):
            client.list_events(last=0)
        with pytest.raises(ProtocolError, match="unknown fields"):
            client.backend.call(alpha.address, VERB_EVENTS, {"everything": True}, timeout=TIMEOUT)
        with pytest.raises(ProtocolError, match="map"):
            client.backend.call(alpha.address, VERB_EVENTS, "all", timeout=TIMEOUT)
        assert client.health()["name"] == "alpha"
        assert client.list_events(kind="host-started")


def test_queries_while_events_arrive_keep_the_history_in_order(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "store")
    history = EventHistory(store)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            history.query(EventQuery(last=5))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for n in range(1, 2001):
            history.record(ContextEvent(n, "create", agent_id=f"p{n}"))
    finally:
        done.set()
        for reader in readers:
            reader.join(TIMEOUT)
    try:
        found = history.query(EventQuery())
    finally:
        history.stop()
        store.close()
    assert [event["event_id"] for event in found] == list(range(1, 2001))
