"""The queue panel: the Qt-free model on a queue with an item in every state (plain
pytest), then the panel in the window on the simulated apparatus, driven by its buttons:
a queue run in-window on the window's own session, Stop after this item, Add plan's
validation, edits refused for a started item, a second runner refused naming the holder.

Nothing here waits on wall-clock time: every wait is for a state (qtbot.waitUntil)."""

import os
import sqlite3
import threading

import pytest
from PySide6.QtCore import Qt

from acquisition.plans import parse_plan
from acquisition.queue import QueueError, QueueStore, RunnerLock
from gui.viewmodels.queue import QueueController, QueueModel, open_reader
from tests.gui.conftest import SHORT_PLAN
from tests.plans import plan_text


def click(qtbot, button):
    assert button.isEnabled(), f"{button.objectName() or button.text()} is disabled"
    qtbot.mouseClick(button, Qt.LeftButton)


# --------------------------------------------------------------------------- the model
def _plan(sample, energies=(100,)):
    return parse_plan(plan_text(sample=sample, energies=energies), source=f"{sample}.toml")


def _queue_in_every_state(path):
    """Items pending, running, interrupted, done, skipped and failed (as a runner leaves
    them), and an instruction not yet run."""
    with QueueStore(path) as store:
        items = {name: store.add_plan(_plan(name, (100, 150) if name == "done" else (100,)))
                 for name in ("done", "skipped", "failed", "interrupted", "running", "pending")}
        wait = store.add_instruction("pause-for-operator", "change the gas bottle")
        for name, state in (("done", "done"), ("skipped", "skipped"), ("failed", "failed"),
                            ("interrupted", "interrupted")):
            attempt = store.start_attempt(store.get(items[name].id), f"{name}.h5")
            store.end_attempt(attempt, items[name].id, item_state=state, status="success" if state == "done" else state,
                              reason="" if state == "done" else f"{name} for a reason", points_in_file=2,
                              policy_action="skipped to the next item" if state == "skipped" else "")
        store.start_attempt(store.get(items["running"].id), "running.h5")
        store.set_status({"state": "running", "item": items["running"].id, "label": items["running"].label,
                          "done": 1, "total": 3, "item_eta_s": 90.0, "queue_eta_s": 250.0, "speed": 1.0,
                          "last_event": "2026-01-14T22:00:00Z suspended: chamber pressure"})
    return {name: item.id for name, item in items.items()} | {"wait": wait.id}


def test_the_model_reads_every_state_and_says_what_may_be_done(tmp_path):
    path = tmp_path / "q.sqlite"
    ids = _queue_in_every_state(path)
    model = QueueModel(path)
    assert model.poll() and model.version == 1
    by_state = {r.state: r for r in model.items}
    assert set(by_state) == {"pending", "running", "interrupted", "done", "skipped", "failed"}
    assert [r.id for r in model.items] == [ids[n] for n in ("done", "skipped", "failed", "interrupted", "running",
                                                            "pending", "wait")]
    # readable metadata, not only ids; positions count the items still to do
    done = by_state["done"]
    assert (done.sample, done.gas, done.energies, done.points) == ("done", "isoflurane", "100, 150 eV", "2/6")
    assert done.estimate.endswith("s") and done.estimate_s > 0 and done.position is None
    assert by_state["skipped"].reason == "skipped for a reason"
    assert by_state["skipped"].policy_action == "skipped to the next item"
    assert [r.position for r in model.items if r.position] == [1, 2, 3, 4]
    assert model.item(ids["wait"]).kind == "pause-for-operator" and model.item(ids["wait"]).gas == ""
    # no runner alive: the item left running is the current one, and the status says so
    assert model.current.id == ids["running"] and not model.runner_alive
    assert "none alive" in model.runner_text()
    assert "point 1/3 (33 %)" in model.status_text() and "ETA item 1 min 30 s" in model.status_text()
    assert model.progress() == (1, 3) and "suspended" in model.last_event_text()
    assert model.counts() == {"done": 1, "skipped": 1, "failed": 1, "to do": 4}
    assert [e.kind for e in model.events][:2] == ["start", "end"] and len(model.history) == 5

    # the actions: edit, remove, move only for an item not yet started
    pending, wait = model.actions(ids["pending"]), model.actions(ids["wait"])
    assert pending.edit and pending.remove and pending.move_down and not pending.move_up
    assert wait.move_up and not wait.move_down
    for name in ("running", "interrupted", "done", "skipped", "failed"):
        actions = model.actions(ids[name])
        assert not (actions.edit or actions.remove or actions.move_up or actions.move_down), name
    assert model.actions(ids["failed"]).retry and not model.actions(ids["done"]).retry
    nothing = model.actions(None)
    assert nothing.run and not (nothing.continue_ or nothing.stop_item or nothing.stop_point or nothing.stop_now)

    # the version changes only when something changed
    assert not model.poll() and model.version == 1
    with QueueStore(path) as store:
        store.add_instruction("safe-state", "standby")
    assert model.poll() and model.version == 2
    assert not model.poll() and model.version == 2

    # a runner holds the lock and waits for the operator: continue and stop, no run
    with QueueStore(path) as store, RunnerLock(path):
        store.set_status({"state": "waiting for the operator", "item": ids["wait"], "label": "pause"})
        assert model.poll()
        actions = model.actions(ids["pending"])
        assert actions.continue_ and actions.stop_item and actions.stop_point
        assert not actions.run and not actions.stop_now  # not this window's runner: no Stop now
        assert model.foreign_runner and f"pid {os.getpid()}" in model.runner_text()
        assert model.current.id == ids["wait"]
    assert model.poll() and not model.runner_alive and model.actions(None).run
    model.close()


def test_the_model_reads_through_a_read_only_connection_a_writer_never_blocks(tmp_path):
    path = tmp_path / "q.sqlite"
    with QueueStore(path) as store:
        store.add_plan(_plan("a"))
    model = QueueModel(path)
    conn = model._reader._conn()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM items")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE items SET label = 'being changed'")
    seen = []
    reader = threading.Thread(target=lambda: seen.append(model.poll()))
    reader.start()
    reader.join(10)
    assert seen == [True] and model.items[0].label.startswith("a (isoflurane)")  # the committed state, at once
    writer.execute("ROLLBACK")
    writer.close()
    model.close()
    # a file that is not a queue is refused, and left alone
    notes = tmp_path / "notes.sqlite"
    notes.write_text("my notes\n")
    with pytest.raises(QueueError, match="not an xbeam queue"):
        open_reader(notes)
    assert notes.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.sqlite", "q.sqlite", "q.sqlite-shm", "q.sqlite-wal"]


def test_the_controller_edits_only_items_not_yet_started(tmp_path):
    path = tmp_path / "q.sqlite"
    ids = _queue_in_every_state(path)
    controller = QueueController(path)
    for name in ("running", "done", "interrupted"):
        with pytest.raises(QueueError, match="only an item not yet started"):
            controller.remove(ids[name])
    controller.move(ids["wait"], -1)
    assert [i.id for i in controller.store.items()][-2:] == [ids["wait"], ids["pending"]]
    with pytest.raises(QueueError, match="already the first"):
        controller.move(ids["wait"], -1)
    controller.edit_argument(ids["wait"], "refill the trap")
    assert controller.store.get(ids["wait"]).label == "pause for the operator: refill the trap"
    controller.close()


# --------------------------------------------------------------------------- the panel in the window
@pytest.fixture
def queue_window(qtbot, session, settings, tmp_path):
    """A live window on the simulated session with the queue tmp/q.sqlite open (--queue)."""
    from gui.window import MainWindow

    w = MainWindow(session=session, settings=settings, queue_path=tmp_path / "q.sqlite")
    w.confirm = lambda *a: True
    w.panel.confirm = lambda *a: True
    qtbot.addWidget(w)
    w.show()
    yield w
    controller = w.queue_controller
    if controller is not None and controller.running:
        controller.interrupt("test teardown")
        assert controller.wait(60)
    if w.handle is not None and not w.handle.done():
        w.handle.abort("test teardown")
        w.handle.join(30)
    w.close()


def _add_plans(qtbot, w, path, n=1):
    w.queue_panel.ask_plan = lambda *a: str(path)
    for _ in range(n):
        click(qtbot, w.queue_panel.add_plan_button)


def _wait_queue_done(qtbot, w):
    qtbot.waitUntil(lambda: w.queue_outcome is not None, timeout=60000)
    qtbot.waitUntil(lambda: not w.queue_running)
    return w.queue_outcome


def test_a_queue_runs_in_the_window_on_its_own_session_and_the_panel_follows(qtbot, queue_window, plan_file, hold,
                                                                                 tmp_path):
    w, panel = queue_window, queue_window.queue_panel
    assert w.queue_dock.isVisible() and str(tmp_path / "q.sqlite") in panel.title.text()
    _add_plans(qtbot, w, plan_file(), n=2)
    panel.ask_choice = lambda title, label, choices, current="": "safe"
    panel.instruction_actions["safe-state"].trigger()
    assert [(r.kind, r.state) for r in w.queue_model.items] == [("plan", "pending"), ("plan", "pending"),
                                                                ("safe-state", "pending")]
    assert panel.table.rowCount() == 3 and panel.table.item(0, 4).text() == "isoflurane"
    assert panel.table.item(2, 9).text() == "safe state: safe"
    w.load_plan(str(plan_file()), estimate=False)
    w.redraw()
    assert w.scan.start.isEnabled()  # before the queue runs, Start could start the plan

    click(qtbot, panel.run_button)
    assert hold.first.wait(30)  # the first item's run is inside its first point
    qtbot.waitUntil(lambda: w.queue_model.current is not None and w.queue_model.current.state == "running")
    w.redraw()
    # the queue owns the apparatus: Start and the hand controls are off, the stops on
    assert not w.scan.start.isEnabled() and not w.panel.energy.isEnabled() and w.panel.cem_off.isEnabled()
    assert not panel.run_button.isEnabled()
    assert all(b.isEnabled() for b in (panel.stop_item_button, panel.stop_point_button, panel.stop_now_button))
    assert panel.runner_label.text() == "runner: this window"
    first = w.queue_model.items[0].id
    assert f"item {first}:" in panel.status_label.text()
    assert w.queue_model.items[0].state == "running" and panel.table.item(0, 2).text() == "running"
    assert panel.table.item(0, 2).background().color().name() == "#cfe0ff"
    hold.release.set()

    outcome = _wait_queue_done(qtbot, w)
    assert outcome.status == "completed" and [r.status for r in outcome.items] == ["done", "done", "done"]
    w.poll_queue()
    assert [r.state for r in w.queue_model.items] == ["done", "done", "done"]
    assert [r.points for r in w.queue_model.items[:2]] == ["4/4", "4/4"]
    assert panel.table.item(0, 2).background().color().name() == "#dff3e3"
    assert "completed" in panel.status_label.text() and "3 done" in panel.status_label.text()
    assert [a.status for a in w.queue_model.history] == ["success"] * 3
    assert panel.history.rowCount() == 3 and panel.events.count() >= 6
    # the live plot followed the items as it follows a single run: the last item's points
    last = outcome.items[1].run_file
    assert last.endswith(".h5") and last != outcome.items[0].run_file
    qtbot.waitUntil(lambda: w.vm.control.path == last and w.vm.dcs.n_points == 4)
    from acquisition.storage import read_run

    assert [read_run(r.run_file).n_points for r in outcome.items[:2]] == [4, 4]
    # the apparatus is the operator's again
    w.redraw()
    qtbot.waitUntil(lambda: w.scan.start.isEnabled())
    assert not panel.run_button.isEnabled()  # nothing left to run
    assert not any(b.isEnabled() for b in (panel.stop_item_button, panel.stop_point_button, panel.stop_now_button))


def test_stop_after_this_item_ends_the_queue_when_the_item_ends(qtbot, queue_window, plan_file, hold):
    w, panel = queue_window, queue_window.queue_panel
    _add_plans(qtbot, w, plan_file(), n=2)
    click(qtbot, panel.run_button)
    assert hold.first.wait(30)
    w.poll_queue()
    click(qtbot, panel.stop_item_button)
    assert w.queue_model.stop_request == "item" and "STOP requested after the current item" in panel.status_label.text()
    hold.release.set()
    outcome = _wait_queue_done(qtbot, w)
    assert outcome.status == "stopped" and [r.status for r in outcome.items] == ["done"]
    w.poll_queue()
    assert [r.state for r in w.queue_model.items] == ["done", "pending"]
    w.redraw()
    assert panel.run_button.isEnabled()  # the second item is still to do


def test_add_plan_refuses_a_bad_plan_with_its_issues_and_accepts_a_good_one(qtbot, queue_window, plan_file):
    w, panel = queue_window, queue_window.queue_panel
    bad = plan_file(SHORT_PLAN.replace("energies_eV = [50]", "energies_eV = [1000]") + "sweeps_count = 2\n",
                    name="bad.toml")
    _add_plans(qtbot, w, bad)
    assert w.queue_model.items == []  # nothing queued
    assert panel.problem.isVisible() and panel.issues.isVisible()
    assert "problems in bad.toml: not queued" in panel.problem.text()
    keys = {panel.issues.item(r, 1).text() for r in range(panel.issues.rowCount())}
    assert "scan.energies_eV[0]" in keys and "settle.sweeps_count" in keys
    assert all(panel.issues.item(r, 0).text().endswith("bad.toml") for r in range(panel.issues.rowCount()))
    _add_plans(qtbot, w, plan_file())
    assert not panel.problem.isVisible() and not panel.issues.isVisible()
    assert [(r.kind, r.sample, r.energies) for r in w.queue_model.items] == [("plan", "isoflurane", "50 eV")]
    assert panel.table.rowCount() == 1
    # an instruction with a bad argument is refused in one line, nothing queued
    panel.ask_text = lambda *a: "25:99"
    panel.instruction_actions["wait-until"].trigger()
    assert "wait-until not queued" in panel.problem.text() and "HH:MM" in panel.problem.text()
    assert len(w.queue_model.items) == 1


def test_edits_are_refused_for_a_started_item(qtbot, queue_window, plan_file):
    w, panel = queue_window, queue_window.queue_panel
    _add_plans(qtbot, w, plan_file(), n=2)
    first, second = (r.id for r in w.queue_model.items)
    with QueueStore(w.queue_controller.path) as other:  # a runner elsewhere started the first item
        other.start_attempt(other.get(first), "elsewhere.h5")
    w.poll_queue()
    panel.select(first)
    assert panel.selected_id == first
    assert not any(b.isEnabled() for b in (panel.edit_button, panel.remove_button, panel.up_button,
                                           panel.down_button))
    assert panel.remove_selected() is None  # asked anyway: refused in one line, nothing changed
    assert "only an item not yet started" in panel.problem.text()
    assert [r.id for r in w.queue_model.items] == [first, second]
    panel.select(second)
    assert panel.edit_button.isEnabled() and panel.remove_button.isEnabled()
    assert not panel.up_button.isEnabled()  # the only item not yet started: nowhere to move
    click(qtbot, panel.remove_button)
    assert [r.id for r in w.queue_model.items] == [first] and not panel.problem.isVisible()


def test_run_queue_is_refused_while_another_runner_holds_the_lock(qtbot, queue_window, plan_file):
    w, panel = queue_window, queue_window.queue_panel
    _add_plans(qtbot, w, plan_file())
    path = w.queue_controller.path
    with QueueStore(path) as other, RunnerLock(path):  # "another process": the lock held elsewhere
        other.set_status({"state": "running", "item": w.queue_model.items[0].id, "label": "elsewhere"})
        w.poll_queue()
        w.redraw()
        assert "another process" in panel.runner_label.text() and f"pid {os.getpid()}" in panel.runner_label.text()
        assert not panel.run_button.isEnabled() and not panel.stop_now_button.isEnabled()
        assert panel.stop_item_button.isEnabled()  # a stop request reaches any runner through the database
        assert w.run_queue() is None  # asked anyway: refused, naming the holder
        assert not w.queue_running
        text = panel.problem.text()
        assert "Run queue refused" in text and "another runner holds this queue" in text
        assert f"pid {os.getpid()}" in text
        # watching and editing still work
        panel.ask_text = lambda *a: "check the filament"
        panel.instruction_actions["pause-for-operator"].trigger()
        assert [r.kind for r in w.queue_model.items] == ["plan", "pause-for-operator"]
    w.poll_queue()
    w.redraw()
    assert panel.runner_label.text().startswith("runner: none") and panel.run_button.isEnabled()


def test_closing_the_window_stops_its_queue_then_closes(qtbot, queue_window, plan_file, hold):
    w = queue_window
    _add_plans(qtbot, w, plan_file(), n=2)
    click(qtbot, w.queue_panel.run_button)
    assert hold.first.wait(30)
    w.close()  # confirmed (the test's confirm): the queue is told to stop, the window waits for it
    assert w.isVisible() and w.queue_running
    hold.release.set()
    outcome = _wait_queue_done(qtbot, w)
    qtbot.waitUntil(lambda: not w.isVisible())
    assert outcome.status == "interrupted" and [r.status for r in outcome.items] == ["interrupted"]
    assert outcome.safe_state.startswith("shutdown")
    with QueueStore(w.queue_controller.path if w.queue_controller else w.settings.value("files/last_queue")) as s:
        assert [i.state for i in s.items()] == ["interrupted", "pending"]  # the next Run queue resumes it
