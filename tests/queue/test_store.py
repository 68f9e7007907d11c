"""The queue database: order and edits, what may be changed when, a file that is not a
queue, readers that a writer never blocks."""

import sqlite3
import threading

import pytest

from acquisition.plans import parse_plan
from acquisition.queue import QueueError, QueueStore
from acquisition.queue.store import wait_target
from tests.plans import plan_text


@pytest.fixture
def store(tmp_path):
    with QueueStore(tmp_path / "q.sqlite") as s:
        yield s


def plan(sample="a", energies=(100,)):
    return parse_plan(plan_text(sample=sample, energies=energies), source=f"{sample}.toml")


def order(store):
    return [i.metadata.get("sample") or i.kind for i in store.items()]


def test_items_carry_readable_metadata_and_keep_their_order(store):
    a = store.add_plan(plan("a", (100, 150)))
    assert a.label.startswith("a (isoflurane) 100, 150 eV, 3 angles 40-80 deg")
    assert a.metadata["gas"] == "isoflurane" and a.metadata["energies_eV"] == [100, 150]
    assert a.points_planned == 6 and a.metadata["estimate_s"] > 0
    store.add_plan(plan("b"))
    store.add_plan(plan("c"), position=1)
    store.add_instruction("safe-state", "standby", before=a.id)
    store.add_plan(plan("d"), after=a.id)
    assert order(store) == ["c", "safe-state", "a", "d", "b"]
    store.move(a.id, position=1)
    assert order(store) == ["a", "c", "safe-state", "d", "b"]
    assert store.next_item().id == a.id
    store.remove(a.id)
    assert order(store) == ["c", "safe-state", "d", "b"]


def test_only_an_item_not_yet_started_is_edited_or_moved(store):
    a = store.add_plan(plan("a"))
    b = store.add_plan(plan("b"))
    store.edit(a.id, plan=plan("a2"), overrides={"pause_timeout_s": 60, "on_fault": "stop"})
    edited = store.get(a.id)
    assert edited.metadata["sample"] == "a2" and edited.overrides == {"pause_timeout_s": 60.0, "on_fault": "stop"}
    attempt = store.start_attempt(edited, "run.h5")
    with pytest.raises(QueueError, match="only an item not yet started"):
        store.edit(a.id, plan=plan("x"))
    with pytest.raises(QueueError, match="only items not yet run"):
        store.move(a.id, position=2)
    store.end_attempt(attempt, a.id, item_state="done", status="success")
    with pytest.raises(QueueError, match="not a per-item setting"):
        store.edit(b.id, overrides={"end_state": "safe"})
    with pytest.raises(QueueError, match="must be one of skip, stop"):
        store.edit(b.id, overrides={"on_fault": "maybe"})
    with pytest.raises(QueueError, match="item 99: no such item"):
        store.get(99)
    assert store.clear() == 1 and [i.id for i in store.items()] == [a.id]  # finished items stay


def test_instructions_are_checked_when_added(store):
    with pytest.raises(QueueError, match="must be HH:MM"):
        store.add_instruction("wait-until", "25:00")
    with pytest.raises(QueueError, match="one of safe, standby, shutdown"):
        store.add_instruction("safe-state", "off")
    assert store.add_instruction("safe-state").argument == "shutdown"
    assert store.add_instruction("wait-until", "2030-01-01T06:30Z").label == "wait until 2030-01-01T06:30Z"


def test_wait_until_hh_mm_is_the_next_such_moment():
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc)
    local = now.astimezone()
    soon = (local + timedelta(hours=1)).strftime("%H:%M")
    earlier = (local - timedelta(hours=1)).strftime("%H:%M")
    assert timedelta(minutes=59) < wait_target(soon, now) - now <= timedelta(hours=1)
    assert timedelta(hours=22) < wait_target(earlier, now) - now <= timedelta(hours=23)


def test_a_file_that_is_not_a_queue_is_refused_and_left_alone(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(QueueError, match="not an xbeam queue"):
        QueueStore(junk)
    assert junk.read_bytes() == b"not a database at all" * 100
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(QueueError, match="an SQLite database but not an xbeam queue"):
        QueueStore(other)
    with pytest.raises(QueueError, match="no such queue"):
        QueueStore(tmp_path / "none.sqlite", create=False)


def test_wal_readers_are_not_blocked_by_a_writer(store, tmp_path):
    store.add_plan(plan("a"))
    assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE items SET label = 'being changed'")
    seen = []
    reader = threading.Thread(target=lambda: seen.append([i.label for i in QueueStore(store.path).items()]))
    reader.start()
    reader.join(10)
    assert seen and seen[0][0].startswith("a (isoflurane)")  # the last committed state, at once
    writer.execute("ROLLBACK")
    writer.close()


def test_a_crashed_attempt_is_closed_by_the_next_runner(store):
    a = store.add_plan(plan("a"))
    store.start_attempt(a, "nowhere.h5")
    assert store.get(a.id).state == "running"
    closed = store.recover_crashed()
    assert [r.item_id for r in closed] == [a.id]
    row = store.history(a.id)[0]
    assert row.status == "crashed" and row.end_utc and "killed, crashed or a power cut" in row.reason
    assert store.get(a.id).state == "interrupted" and store.next_item().id == a.id


def test_a_plan_object_changed_in_memory_is_refused(store):
    from dataclasses import replace

    p = plan("a")
    with pytest.raises(QueueError, match="differs from its text"):
        store.add_plan(replace(p, scan=replace(p.scan, sweeps=5)))
    assert store.items() == []
