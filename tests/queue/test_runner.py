"""The queue runner on the fake apparatus: the unattended policy (pause timeout,
suspension limit, skip or stop), the notification hook, edits at item boundaries,
stop after the item or the point and the resume into the same file, instructions."""

import json
import threading

import pytest

from acquisition.events import Point
from acquisition.plans import parse_plan
from acquisition.queue import Notifier, QueuePolicy, QueueRunner, QueueStore
from acquisition.storage import read_run
from drivers.errors import DeviceError
from foundation.clock import RealClock
from tests.plans import plan_text

_WALL = RealClock()


@pytest.fixture
def store(tmp_path):
    with QueueStore(tmp_path / "q.sqlite") as s:
        yield s


def add(store, session, sample, **kwargs):
    return store.add_plan(parse_plan(plan_text(sample=sample), source=f"{sample}.toml", apparatus=session.config),
                          **kwargs)


def runner(store, session, tmp_path, **kwargs):
    return QueueRunner(store, session, run_dir=tmp_path / "runs", poll_s=0.02, **kwargs)


def test_a_queue_runs_in_order_into_one_file_per_item(store, fake_session, tmp_path):
    a, b = add(store, fake_session, "a"), add(store, fake_session, "b")
    outcome = runner(store, fake_session, tmp_path).run()
    assert outcome.status == "completed" and [r.status for r in outcome.items] == ["done", "done"]
    for item in (store.get(a.id), store.get(b.id)):
        assert item.state == "done" and read_run(item.run_file).n_points == 3
    assert [h.status for h in store.history()] == ["success", "success"]
    assert fake_session.apparatus.gas_path == "closed" and not fake_session.apparatus.channeltron_is_on


def fault_forever(session):
    def count(*args, **kwargs):
        raise DeviceError("counter: no reply ever again", instrument="counter")

    session.apparatus.count = count


def test_a_fault_that_outlives_the_retries_is_given_up_after_pause_timeout_and_skipped(store, fake_session,
                                                                                      tmp_path):
    store.set_policy(QueuePolicy(pause_timeout_s=600.0, on_fault="skip"))
    hook_log = tmp_path / "hook.log"
    store.set_policy(store.policy().with_values("test", {
        "notify": f'echo "$XBEAM_EVENT|$XBEAM_ITEM|$XBEAM_STATUS|$XBEAM_REASON|$XBEAM_RUN_FILE" >> {hook_log}'}))
    a = add(store, fake_session, "a")
    b = add(store, fake_session, "b", overrides={"pause_timeout_s": 60.0})
    c = add(store, fake_session, "c")
    clock = fake_session.clock
    original = fake_session.apparatus.count
    started = {}

    def watch(event):  # the counter dies during item a; item c finds it working again
        if isinstance(event, Point) and event.seq == 1 and "a" not in started:
            started["a"] = clock.now()
            fault_forever(fake_session)

    fake_session.bus.subscribe(watch)
    rn = runner(store, fake_session, tmp_path)
    orig_run_plan = rn._run_plan

    def run_plan(item):  # repair the counter before item c
        if item.id == c.id:
            fake_session.apparatus.count = original
        t0 = clock.now()
        result = orig_run_plan(item)
        started[item.id] = clock.now() - t0
        return result

    rn._run_plan = run_plan
    outcome = rn.run()
    assert outcome.status == "completed"
    items = {i.id: i for i in store.items()}
    assert items[a.id].state == "skipped" and items[b.id].state == "skipped" and items[c.id].state == "done"
    assert items[a.id].reason.startswith("unattended policy: device fault: ")
    assert "pause_timeout_s" in items[a.id].reason and "600 s" in items[a.id].reason
    assert "60 s" in items[b.id].reason  # the item's own override
    assert items[a.id].policy_action == "shutdown state, skipped to the next item"
    assert started[a.id] >= 600 and started[b.id] < 600  # clock time waited: the queue's, then the item's
    history = store.history()
    assert [h.status for h in history] == ["aborted", "aborted", "success"]
    assert "shutdown" in history[0].safe_state
    lines = [line.split("|") for line in hook_log.read_text().splitlines()]
    assert [line[0] for line in lines] == ["policy", "policy", "item-end", "queue-end"]
    assert lines[0][1] == str(a.id) and lines[0][2] == "skipped" and "device fault" in lines[0][3]
    assert lines[0][4] == items[a.id].run_file
    assert read_run(items[a.id].run_file).n_points == 2  # the points before the fault are kept (resumable)


def test_on_fault_stop_ends_the_queue_in_the_safe_state(store, fake_session, tmp_path):
    store.set_policy(QueuePolicy(pause_timeout_s=60.0, on_fault="stop"))
    add(store, fake_session, "a")
    b = add(store, fake_session, "b")
    fault_forever(fake_session)
    outcome = runner(store, fake_session, tmp_path).run()
    assert outcome.status == "policy-stop" and "stopped the queue" in outcome.reason
    assert store.get(b.id).state == "pending"
    assert not fake_session.apparatus.channeltron_is_on and fake_session.apparatus.gas_path == "closed"


def test_a_suspension_longer_than_the_limit_is_given_up(store, fake_session, tmp_path):
    from dataclasses import replace

    store.set_policy(QueuePolicy(suspend_limit_s=900.0, on_fault="skip"))
    a = add(store, fake_session, "a")
    b = add(store, fake_session, "b")
    state = {"beam": True}
    fake_session.apparatus.monitor_hook = lambda m: m if state["beam"] else replace(m, beam_current_A=0.0)

    def watch(event):
        if isinstance(event, Point) and event.seq == 0 and state.get("first", True):
            state.update(beam=False, first=False)

    fake_session.bus.subscribe(watch)
    rn = runner(store, fake_session, tmp_path)
    orig = rn._run_plan

    def run_plan(item):
        if item.id == b.id:
            state["beam"] = True  # the beam is back for the next item
        return orig(item)

    rn._run_plan = run_plan
    outcome = rn.run()
    assert store.get(a.id).state == "skipped" and store.get(b.id).state == "done", outcome
    assert "suspended for" in store.get(a.id).reason and "suspend_limit_s 900" in store.get(a.id).reason


def test_a_failing_hook_is_logged_and_recorded_never_fatal(store, fake_session, tmp_path, caplog):
    store.set_policy(QueuePolicy(notify="exit 7", notify_timeout_s=5.0))
    add(store, fake_session, "a")
    outcome = runner(store, fake_session, tmp_path).run()
    assert outcome.status == "completed"
    assert "notification hook (item-end) failed: exit status 7" in caplog.text
    assert any(e["kind"] == "notify-failed" for e in store.events(100))
    missing = Notifier("/nonexistent/hook", store.path, timeout_s=5)
    assert missing("item-end") is False and missing.failed == 1
    slow = Notifier("sleep 5", store.path, timeout_s=0.2)
    assert slow("queue-end") is False


def test_edits_take_effect_at_item_boundaries(store, fake_session, tmp_path):
    a = add(store, fake_session, "a")
    b = add(store, fake_session, "b")
    added = {}

    def editor(event):  # another terminal adds an item in front and removes b while a runs
        if isinstance(event, Point) and not added:
            with QueueStore(store.path) as other:
                added["x"] = other.add_plan(parse_plan(plan_text(sample="x"), source="x.toml"), position=1)
                other.remove(b.id)

    fake_session.bus.subscribe(editor)
    outcome = runner(store, fake_session, tmp_path).run()
    assert [r.item_id for r in outcome.items] == [a.id, added["x"].id]  # a finished first, then x; b gone


def test_stop_after_the_item_and_after_the_point_then_resume_into_the_same_file(store, fake_session, tmp_path):
    a = add(store, fake_session, "a")
    b = add(store, fake_session, "b")

    def stopper(event):
        if isinstance(event, Point) and event.seq == 0:
            QueueStore(store.path).request_stop("item")

    undo = fake_session.bus.subscribe(stopper)
    outcome = runner(store, fake_session, tmp_path).run()
    undo()
    assert outcome.status == "stopped" and store.get(a.id).state == "done" and store.get(b.id).state == "pending"

    gate = threading.Event()

    def hold(event):  # hold the first point of b until the stop --now has been seen
        if isinstance(event, Point) and event.seq == 0:
            QueueStore(store.path).request_stop("point")
            gate.wait(5)

    undo = fake_session.bus.subscribe(hold)
    rn = runner(store, fake_session, tmp_path)
    threading.Timer(0.3, gate.set).start()
    outcome = rn.run()
    undo()
    item = store.get(b.id)
    assert outcome.status == "stopped" and item.state == "interrupted"
    assert 1 <= read_run(item.run_file).n_points < 3
    outcome = runner(store, fake_session, tmp_path).run()  # the next run resumes b into its file
    item = store.get(b.id)
    assert outcome.status == "completed" and item.state == "done"
    run = read_run(item.run_file)
    keys = list(zip(run.points["sweep"], run.points["energy_index"], run.points["angle_index"]))
    assert len(keys) == len(set(keys)) == 3 and run.sessions == 2
    assert [h.status for h in store.history(b.id)] == ["stopped", "success"]


def test_instructions_pause_for_the_operator_wait_until_and_safe_state(store, fake_session, tmp_path):
    p = store.add_instruction("pause-for-operator", "change the gas bottle")
    w = store.add_instruction("wait-until", "2099-01-01T06:30Z")
    s = store.add_instruction("safe-state", "safe")
    rn = runner(store, fake_session, tmp_path)

    def operator():
        while store.status().get("state") != "waiting for the operator":
            _WALL.sleep(0.01)
        QueueStore(store.path).request_continue()

    t = threading.Thread(target=operator)
    t.start()
    outcome = rn.run()
    t.join()
    assert outcome.status == "completed"
    assert [store.get(i.id).state for i in (p, w, s)] == ["done", "done", "done"]
    assert fake_session.clock.wall_utc().year >= 2099  # the wait passed in (virtual) clock time
    assert json.loads(json.dumps(store.get(w.id).metadata))["target_utc"].startswith("2099-01-01T06:30")


def test_status_gives_the_item_and_the_queue_eta(store, fake_session, tmp_path):
    a = add(store, fake_session, "a")
    b = add(store, fake_session, "b")
    seen = []
    fake_session.bus.subscribe(lambda e: seen.append(store.status()) if isinstance(e, Point) else None)
    runner(store, fake_session, tmp_path).run()
    first = next(s for s in seen if s.get("item") == a.id and s.get("done") == 1)
    assert first["total"] == 3 and first["run_file"].endswith(".h5")
    assert first["queue_eta_s"] >= first["item_eta_s"] + 0.9 * b.metadata["estimate_s"]


def test_a_run_a_script_started_on_the_queue_session_skips_the_item_by_the_policy(store, fake_session, tmp_path):
    """A script that starts a run of its own on the queue's session between two items:
    the queue's next item cannot start (SessionBusy).  Before, the error escaped the
    queue runner.  Now the item is recorded as failed with the reason, and since the
    policy's safe state cannot be applied while the script's run owns the apparatus,
    the queue stops and says so (never hidden)."""
    store.set_policy(QueuePolicy(on_fault="skip"))
    a, b = add(store, fake_session, "a"), add(store, fake_session, "b")
    held = threading.Event()
    release = threading.Event()

    def hold(event):  # the script's run stays at its first point until the test lets it go
        if isinstance(event, Point) and not held.is_set():
            held.set()
            release.wait(30)

    original = QueueRunner._run_plan

    def script_starts_a_run_before_item_b(self, item):
        if item.id == b.id and not held.is_set():
            plan = parse_plan(plan_text(sample="script"), source="script.toml", apparatus=fake_session.config)
            fake_session.bus.subscribe(hold)
            self.script_run = fake_session.run_plan(plan, tmp_path / "script.h5")
            assert held.wait(30)
        try:
            return original(self, item)
        finally:
            release.set()

    q = runner(store, fake_session, tmp_path)
    q._run_plan = script_starts_a_run_before_item_b.__get__(q)
    outcome = q.run()
    q.script_run.join(30)
    assert [r.status for r in outcome.items] == ["done", "failed"]
    reason = store.get(b.id).reason
    assert "could not start" in reason and "already going" in reason, reason
    assert store.get(a.id).state == "done"
    assert outcome.status != "completed" and "SessionBusy" in store.status().get("safe_state", ""), outcome


def test_the_end_of_the_queue_reads_back_the_state_it_reached(store, fake_session, tmp_path):
    """The safe state is read back from the apparatus, not assumed: the fakes report
    their state like the apparatus (before, the fake was excused: 'cannot report it')."""
    add(store, fake_session, "a")
    outcome = runner(store, fake_session, tmp_path).run()
    assert outcome.status == "completed" and not outcome.safe_state_problems
    reached = outcome.safe_state
    assert "shutdown" in reached and "channeltron 0 V off" in reached, reached
    assert "electrodes within 0.0 V of standby" in reached and "filament 0.00 A off" in reached, reached
    assert "gas closed" in reached and "cannot report" not in reached, reached
