"""SIGKILL of `xbeam queue run` at random moments, ten times over one queue, each kill
followed by another `xbeam queue run`: the queue completes, every point of every item
is in its own run file exactly once, and the history is consistent (every attempt a
kill cut short is closed as crashed by the next runner, the last attempt of every item
succeeded, the points in the file never go down from one attempt to the next)."""

import os
import random
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from acquisition.queue import QueueStore, holder
from acquisition.storage import read_run
from foundation.clock import RealClock
from tests.plans import plan_text

pytestmark = pytest.mark.slow

_WALL = RealClock()  # waiting on another process: wall time, through the clock like every wait
TRIALS = 10


def xbeam(*args):
    return [sys.executable, "-m", "acquisition.cli", *args]


def points_done(queue: Path) -> int:
    """Points the runner reported committed: finished items' plus the running item's."""
    try:
        with QueueStore(queue, create=False) as store:
            status = store.status()
            items = store.items()
    except Exception:
        return -1
    done = sum(i.points_done for i in items if i.state == "done")
    running = status.get("item")
    if running is not None and status.get("done") and all(i.state != "done" for i in items if i.id == running):
        done += status["done"]
    return done


def test_sigkill_queue_run_ten_times_then_complete(tmp_path):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng = random.Random(seed)
    queue = tmp_path / "night.sqlite"
    plans = []
    for i, energies in enumerate(((100, 150), (60, 80), (200, 250), (120, 280), (90, 140), (160, 220))):
        path = tmp_path / f"plan{i}.toml"
        # four sweeps: enough work that ten kills always land on a running queue (a kill
        # "anywhere" may come 1.5 s after the start, and virtual time runs ~50 points a
        # second: with one sweep a run of such kills once let the queue finish first)
        path.write_text(plan_text(sample=f"s{i}", energies=energies, angles=(30, 45, 60, 75, 90, 105, 120),
                                  sweeps=4, dwell_s=40.0, background_dwell_s=20.0))
        plans.append(path)
    q = ["--queue", str(queue)]
    subprocess.run(xbeam("queue", "add", *map(str, plans[:3]), "--sim", *q), check=True, capture_output=True)
    later = (datetime.now() + timedelta(hours=2)).strftime("%H:%M")
    subprocess.run(xbeam("queue", "add", "--wait-until", later, *q), check=True, capture_output=True)
    subprocess.run(xbeam("queue", "add", *map(str, plans[3:]), *q), check=True, capture_output=True)
    subprocess.run(xbeam("queue", "add", "--safe-state", "standby", *q), check=True, capture_output=True)
    with QueueStore(queue, create=False) as store:
        planned = {i.id: i.points_planned for i in store.items() if i.kind == "plan"}

    kills = 0
    for trial in range(TRIALS):
        log = (tmp_path / f"trial{trial}.log").open("w")
        proc = subprocess.Popen(xbeam("queue", "run", "--sim", "--virtual", "-q", "--seed", str(trial), *q),
                                stdout=log, stderr=subprocess.STDOUT)
        if rng.random() < 0.3:  # anywhere: imports, connecting, the first file being created
            _WALL.sleep(rng.uniform(0.05, 1.5))
        else:  # after a few points of real work
            start, wanted = points_done(queue), rng.randint(1, 5)
            deadline = _WALL.now() + 60
            while proc.poll() is None and _WALL.now() < deadline:
                _WALL.sleep(0.005)
                now = points_done(queue)
                if now < start:  # a killed item's points are counted again once the item ends
                    start = now
                if now >= start + wanted:
                    break
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        log.close()
        assert holder(queue) is None, "a killed runner left its lock behind"
        with QueueStore(queue, create=False) as store:  # the database opens and reads after every kill
            store.items()
            store.history()
        if proc.returncode == 0:  # the queue finished before this kill: nothing left to cut
            break

    done = subprocess.run(xbeam("queue", "run", "--sim", "--virtual", "-q", *q), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"seed {seed}: {done.stdout}{done.stderr}"
    assert kills == TRIALS, f"seed {seed}: only {kills} kills landed while the queue ran"
    print(f"seed {seed}: {kills} kills")

    with QueueStore(queue, create=False) as store:
        items = store.items()
        history = store.history()
        status = store.status()
    assert all(i.state == "done" for i in items), [(i.id, i.state, i.reason) for i in items]
    assert status["state"] == "completed"
    assert "filament 0.00 A" in status["safe_state"] and "channeltron 0 V off" in status["safe_state"]
    assert all(a.status in ("success", "crashed") for a in history), [(a.item_id, a.status) for a in history]
    assert not any(a.end_utc == "" for a in history)
    assert sum(a.status == "crashed" for a in history) <= kills
    print(f"{sum(a.status == 'crashed' for a in history)} attempts crashed, {len(history)} attempts")
    for item in items:
        rows = [a for a in history if a.item_id == item.id]
        assert rows and rows[-1].status == "success", (seed, item.id, rows)
        assert [a.attempt for a in rows] == list(range(1, len(rows) + 1))
        if item.kind != "plan":
            continue
        assert {a.run_file for a in rows} == {item.run_file}
        in_file = [a.points_in_file for a in rows]
        assert in_file == sorted(in_file), (seed, item.id, in_file)
        run = read_run(item.run_file)
        keys = list(zip(run.points["sweep"], run.points["energy_index"], run.points["angle_index"]))
        assert len(keys) == len(set(keys)) == planned[item.id] == run.planned_points, (seed, item.id)
        assert run.status == "success"
        assert run.recovered == sum(a.status == "crashed" and a.points_in_file > 0 for a in rows) or \
            run.recovered <= len(rows) - 1
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len([r for r in runs if r.endswith(".h5")]) == len(planned), runs  # one file per plan, no strays
