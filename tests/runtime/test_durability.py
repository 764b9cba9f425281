"""Durability in one process: the host store, graceful stops, checkpoints, wake-ups."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import INACTIVE, Paglet, PagletState
from paglets.core.errors import (
    HostStoppedError,
    LifecycleError,
    PagletInactiveError,
    StoreError,
)
from paglets.core.messages import Message
from paglets.examples.durable_counter import DurableCounterPaglet
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.runtime.host import Host
from paglets.runtime.persistence.host_store import DATABASE_NAME, HostStore
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.persistence.schema import MIGRATIONS, SCHEMA_VERSION
from paglets.runtime.persistence.transfer_log import TransferLog


@dataclass
class LogState(PagletState):
    items: list[Any] = field(default_factory=list)


class LogPaglet(Paglet[LogState]):
    State = LogState

    def handle_message(self, message: Message) -> object:
        if message.kind == "hold":
            gate(str(message.get_arg("gate"))).pass_through()
            self.state.items.append("held")
            return "held"
        if message.kind == "append":
            self.state.items.append(message.get_arg("item"))
            return len(self.state.items)
        if message.kind == "items":
            return list(self.state.items)
        return self.not_handled()


def items_of(host: Host, agent_id: str) -> list[Any]:
    return list(host.get_proxy(agent_id).send("items", timeout=TIMEOUT))


# the store ------------------------------------------------------------------------------


def test_a_second_host_on_the_same_dir_gets_a_clear_error(
    make_host: HostFactory, tmp_path: Path
) -> None:
    make_host("alpha", persistence_dir=tmp_path)
    with pytest.raises(StoreError, match="in use by another host"):
        Host(name="beta", port=0, mesh_lan_discovery=False, persistence_dir=tmp_path)


def test_a_corrupt_database_is_kept_aside_and_the_host_starts(
    make_host: HostFactory, tmp_path: Path
) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not an sqlite database" * 100)
    alpha = make_host("alpha", persistence_dir=tmp_path)
    kept = list(tmp_path.glob(f"{DATABASE_NAME}.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not")
    problems = [e for e in alpha.list_events() if e.kind == "store-problem"]
    assert problems and "unreadable" in problems[0].data["problem"]
    proxy = alpha.create(LogPaglet)
    assert proxy.send("append", args={"item": 1}, timeout=TIMEOUT) == 1


def test_a_truncated_database_is_kept_aside(tmp_path: Path) -> None:
    store = PagletStore(tmp_path)
    for n in range(200):
        store.save(f"{n:032x}", "a:B", "a:C", b"x" * 1000)
    store.close()
    path = tmp_path / DATABASE_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    reopened = HostStore(tmp_path)
    try:
        assert reopened.problems and "kept as" in reopened.problems[0]
        assert list(tmp_path.glob(f"{DATABASE_NAME}.corrupt-*"))
    finally:
        reopened.close()


def test_an_old_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.execute(
        "CREATE TABLE inactive_paglets (agent_id TEXT PRIMARY KEY, class_path TEXT NOT NULL, "
        "state_class_path TEXT NOT NULL, state BLOB NOT NULL, deactivated_at REAL NOT NULL, "
        "wake_at REAL)"
    )
    db.execute("INSERT INTO inactive_paglets VALUES ('a', 'm:C', 'm:S', x'80', 1.0, NULL)")
    db.commit()
    db.close()
    store = PagletStore(tmp_path)
    try:
        stored = store.load("a")
        assert stored is not None and stored.class_path == "m:C" and stored.state == b"\x80"
        assert store.db.query_one("PRAGMA user_version")[0] == SCHEMA_VERSION
        assert store.db.query_one("PRAGMA journal_mode")[0] == "wal"
        assert store.db.query_one("PRAGMA synchronous")[0] == 2  # FULL
    finally:
        store.close()


def test_a_version_2_store_keeps_its_open_transfer_records(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.executescript(MIGRATIONS[0] + MIGRATIONS[1])
    record = msgpack.packb({"tid": "t", "agent_id": "a", "state": b"\x80"}, use_bin_type=True)
    db.execute(
        "INSERT INTO transfers VALUES ('out:t', 'out', 'a', 'peer', 'prepared', ?, 1.0, 1.0)",
        (record,),
    )
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    store = HostStore(tmp_path)
    try:
        (entry,) = TransferLog(store).unsettled()
        assert (entry.tid, entry.phase, entry.record["state"]) == ("t", "prepared", b"\x80")
        assert store.query_one("SELECT length(record) FROM transfers")[0] == 0  # moved apart
        TransferLog(store).move("t", "out", "aborted")
        assert store.query_one("SELECT count(*) FROM transfer_records")[0] == 0
    finally:
        store.close()


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this paglets"):
        PagletStore(tmp_path)
    PagletStore(tmp_path / "other").close()  # the lock of the refused one was released


# bad records ----------------------------------------------------------------------------


def test_a_paglet_whose_class_no_longer_imports_is_quarantined(
    make_host: HostFactory, tmp_path: Path
) -> None:
    store = PagletStore(tmp_path)
    store.save("b" * 32, "gone.module:Vanished", "gone.module:VanishedState", b"\x80", None,
               [(5, b"\x93\xa1x\x80\xc0")], activate_on_start=True)  # fmt: skip
    store.checkpoint("c" * 32, "gone.module:Vanished", "gone.module:VanishedState", b"\x80")
    store.close()
    alpha = make_host("alpha", persistence_dir=tmp_path)
    wait_for(lambda: len(alpha._store.quarantined()) == 2)
    kinds = sorted(q.kind for q in alpha._store.quarantined())
    assert kinds == ["checkpoint", "inactive"]
    assert all("gone.module" in q.reason for q in alpha._store.quarantined())
    assert alpha.info()["quarantined"] == 2
    # kept, not deleted: the rows (and the kept message) are in the quarantine table
    rows = alpha._store.db.query("SELECT key, length(payload) FROM quarantine")
    assert sorted(key for key, _ in rows) == ["b" * 32, "c" * 32]
    proxy = alpha.create(LogPaglet)  # the host serves the others
    assert proxy.send("append", args={"item": "ok"}, timeout=TIMEOUT) == 1


def test_a_full_disk_during_a_checkpoint_is_a_clear_error_and_nothing_acknowledged(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(DurableCounterPaglet)
    assert proxy.send("increment", timeout=TIMEOUT)["count"] == 1
    db = alpha._store.db
    pages = db.query_one("PRAGMA page_count")[0]
    db.query(f"PRAGMA max_page_count={pages}")  # the database can grow no more: "full"
    with pytest.raises(StoreError, match="not durable and was not acknowledged"):
        proxy.send("append", args={"item": "x" * 100_000}, timeout=TIMEOUT)
    other = alpha.create(LogPaglet)
    assert other.send("append", args={"item": 1}, timeout=TIMEOUT) == 1
    stored = alpha._store.load_checkpoint(proxy.agent_id)
    assert stored is not None  # the previous checkpoint stayed
    db.query("PRAGMA max_page_count=1073741823")
    assert proxy.send("increment", timeout=TIMEOUT)["count"] == 2  # tries again, succeeds


# durable checkpoints --------------------------------------------------------------------


def test_a_durable_paglet_is_checkpointed_only_when_its_state_changed(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(DurableCounterPaglet)
    store = alpha._store
    first = store.load_checkpoint(proxy.agent_id)
    assert first is not None  # written at creation, before create returned
    proxy.send("increment", args={"by": 3}, timeout=TIMEOUT)
    after = store.load_checkpoint(proxy.agent_id)
    assert after is not None and after.state != first.state
    proxy.send("get", timeout=TIMEOUT)
    unchanged = store.load_checkpoint(proxy.agent_id)
    # deactivated_at holds a checkpoint's time of writing: not rewritten for a read
    assert unchanged is not None and unchanged.deactivated_at == after.deactivated_at
    alpha.dispose(proxy.agent_id)
    assert store.load_checkpoint(proxy.agent_id) is None


# graceful stop --------------------------------------------------------------------------


def test_a_stop_keeps_the_mailbox_and_delivers_it_in_order_after_restart(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(LogPaglet)
    held = new_gate()
    blocked = proxy.send_future("hold", args={"gate": held.key})
    held.wait_entered()
    for n in range(5):
        proxy.send_oneway("append", args={"item": n})
    waiting = proxy.send_future("append", args={"item": "last"})
    wait_for(lambda: proxy.info()["queued"] == 6)
    stopper = threading.Thread(target=alpha.stop, kwargs={"timeout": 3 * TIMEOUT})
    stopper.start()
    wait_for(lambda: proxy.info()["queued"] == 7)  # the deactivation waits for the turn
    held.open()  # the running handler ends within the bound: a clean deactivation
    stopper.join(4 * TIMEOUT)
    assert not stopper.is_alive()
    assert blocked.get_reply(TIMEOUT) == "held"
    with pytest.raises(HostStoppedError, match="kept in its store"):
        waiting.get_reply(TIMEOUT)
    again = make_host("alpha", persistence_dir=tmp_path)
    wait_for(lambda: again.info()["active"] == 1)  # kept messages: activated at start
    assert items_of(again, proxy.agent_id) == ["held", 0, 1, 2, 3, 4, "last"]


def test_a_paglet_busy_past_the_stop_bound_is_kept_with_its_state_and_messages(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    busy = alpha.create(LogPaglet)
    idle = alpha.create(LogPaglet)
    busy.send("append", args={"item": "before"}, timeout=TIMEOUT)
    held = new_gate()
    busy.send_oneway("hold", args={"gate": held.key})
    held.wait_entered()
    busy.send_oneway("append", args={"item": "queued"})
    wait_for(lambda: busy.info()["queued"] == 1)
    stopper = threading.Thread(target=alpha.stop, kwargs={"timeout": 0.5})
    stopper.start()
    wait_for(lambda: alpha._stop.is_set())
    with pytest.raises(HostStoppedError, match="is stopping"):  # retryable: nothing done
        idle.send("append", args={"item": "late"}, timeout=TIMEOUT)
    stopper.join(4 * TIMEOUT)
    assert not stopper.is_alive()
    held.open()
    again = make_host("alpha", persistence_dir=tmp_path)
    wait_for(lambda: again.info()["active"] >= 1)
    assert items_of(again, busy.agent_id) == ["before", "queued"]
    assert items_of(again, idle.agent_id) == []
    kept = [e for e in alpha.list_events() if e.kind == "deactivate" and "busy" in e.data]
    assert kept and kept[0].data["busy"] == "its state under the state lock"


def test_a_durable_paglet_is_active_again_after_a_stop_and_start(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 7}, timeout=TIMEOUT)
    alpha.stop(timeout=TIMEOUT)
    again = make_host("alpha", persistence_dir=tmp_path)
    wait_for(lambda: again.info()["active"] == 1)
    assert again.get_proxy(proxy.agent_id).send("get", timeout=TIMEOUT)["count"] == 7


# inactive paglets -----------------------------------------------------------------------


def test_messages_to_an_inactive_paglet_are_replayed_in_order(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    proxy = alpha.create(LogPaglet)
    alpha.deactivate(proxy.agent_id)
    with pytest.raises(PagletInactiveError):
        proxy.send("append", args={"item": "fast"}, timeout=TIMEOUT, no_delay=True)
    for n in range(20):
        proxy.send_oneway("append", args={"item": n})
    assert proxy.send("items", timeout=TIMEOUT) == list(range(20))


class PolicyPaglet(LogPaglet):
    def deactivation_policy(self, request: DeactivationRequest) -> DeactivationPolicy:
        return DeactivationPolicy(activate_on_message=False, activate_on_start=True)


def test_the_policy_keeps_messages_queued_and_activates_at_the_next_start(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(PolicyPaglet)
    alpha.deactivate(proxy.agent_id)
    with pytest.raises(PagletInactiveError):
        proxy.send("items", activate_if_inactive=False, timeout=TIMEOUT)
    proxy.send_oneway("append", args={"item": "queued"})
    wait_for(lambda: alpha._store.messages(proxy.agent_id))  # kept in the store
    assert alpha.info()["active"] == 0  # activate_on_message=False: still inactive
    alpha.stop()
    again = make_host("alpha", persistence_dir=tmp_path)
    wait_for(lambda: again.info()["active"] == 1)  # activate_on_start=True
    assert items_of(again, proxy.agent_id) == ["queued"]


def test_a_policy_hook_answering_something_else_is_a_clear_error(make_host: HostFactory) -> None:
    class Wrong(LogPaglet):
        def deactivation_policy(self, request: DeactivationRequest) -> DeactivationPolicy:
            return "later"  # type: ignore[return-value]

    alpha = make_host("alpha")
    proxy = alpha.create(Wrong)
    with pytest.raises(LifecycleError, match="not a DeactivationPolicy"):
        alpha.deactivate(proxy.agent_id)
    assert proxy.send("append", args={"item": 1}, timeout=TIMEOUT) == 1  # still active


def test_a_timed_wake_up_survives_a_restart(make_host: HostFactory, tmp_path: Path) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(LogPaglet)
    alpha.deactivate(proxy.agent_id, DeactivationRequest(policy=DeactivationPolicy(wake_after=1.0)))
    alpha.stop(timeout=TIMEOUT)
    again = make_host("alpha", persistence_dir=tmp_path)
    assert again.info()["inactive"] == 1
    wait_for(lambda: again.info()["active"] == 1, timeout=3 * TIMEOUT)


def test_timed_deactivations_share_one_thread(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    proxies = [alpha.create(LogPaglet) for _ in range(50)]
    for proxy in proxies:
        alpha.deactivate(
            proxy.agent_id, DeactivationRequest(policy=DeactivationPolicy(wake_after=60.0))
        )
    wakers = [t for t in threading.enumerate() if t.name == "wake-alpha"]
    assert len(wakers) == 1
    assert alpha._operations.activation.scheduler.pending() == 50
    assert len(alpha.get_proxies(INACTIVE)) == 50
    alpha.activate(proxies[0].agent_id)
    assert alpha._operations.activation.scheduler.pending() == 49


def test_one_database_holds_everything_and_older_files_are_folded_in(
    make_host: HostFactory, tmp_path: Path
) -> None:
    legacy = sqlite3.connect(tmp_path / "paglet_files.sqlite3")
    legacy.execute(
        "CREATE TABLE paglet_files (agent_id TEXT NOT NULL, name TEXT NOT NULL, "
        "path TEXT NOT NULL, mode TEXT NOT NULL, PRIMARY KEY (agent_id, name))"
    )
    legacy.execute("INSERT INTO paglet_files VALUES ('a', 'data', '/tmp/data', 'copy')")
    legacy.commit()
    legacy.close()
    alpha = make_host("alpha", persistence_dir=tmp_path)
    source = tmp_path / "blob.bin"
    source.write_bytes(b"x" * 4096)
    record = alpha.artifacts.import_file(source)
    rows = alpha._store.db.query("SELECT sha256 FROM artifacts")
    assert rows == [(record.sha256,)]  # artifact metadata: in the host database
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == [DATABASE_NAME]
    assert (tmp_path / "paglet_files.sqlite3.migrated").exists()  # kept, not deleted
    assert alpha._work_area.load_table("a") == {"data": ("/tmp/data", "copy")}
    tables = {row[0] for row in alpha._store.db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
    assert {"inactive_paglets", "queued_messages", "checkpoints", "transfers", "quarantine",
            "events", "jobs", "artifacts", "paglet_files"} <= tables  # fmt: skip


def test_the_event_history_is_kept_in_the_host_database_across_a_restart(
    make_host: HostFactory, tmp_path: Path
) -> None:
    alpha = make_host("alpha", persistence_dir=tmp_path)
    proxy = alpha.create(LogPaglet)
    alpha.deactivate(proxy.agent_id)
    alpha.stop()
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    try:
        rows = db.execute("SELECT kind, agent_id, detail FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    kinds = [kind for kind, agent_id, _ in rows if agent_id == proxy.agent_id]
    assert kinds == ["create", "deactivate"]
    assert rows[-1][0] == "host-stopped"
    detail = msgpack.unpackb(rows[0][2])
    assert detail["host_name"] == "alpha" and detail["kind"] == rows[0][0]
    again = make_host("alpha", persistence_dir=tmp_path)
    again.stop()
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    try:
        (count,) = db.execute("SELECT count(*) FROM events WHERE kind = 'host-started'").fetchone()
    finally:
        db.close()
    assert count == 2  # both runs, one table
