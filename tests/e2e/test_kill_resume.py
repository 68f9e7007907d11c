"""A run killed with SIGKILL at a random point is finished by `xbeam resume` in the same file."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from acquisition.storage import read_run
from foundation.clock import RealClock

_WALL = RealClock()  # waiting on another process: wall time, through the clock like every wait

PLAN = """
[metadata]
sample = "isoflurane"
operator = "kill test"
[scan]
gas = "isoflurane"
energies_eV = [50, 150]
angles_deg = { start = 25, stop = 125, step = 10 }
sweeps = 2
[counting]
dwell_s = 20.0
background_dwell_s = 10.0
subgate_s = 5.0
[background]
mode = "every"
[settle]
energy_s = 5.0
angle_s = 1.0
gas_s = 5.0
"""
PLANNED = 2 * 11 * 2


def xbeam(*args, **kwargs):
    return [sys.executable, "-m", "acquisition.cli", *args]


def points_in(path: Path) -> int:
    try:
        return read_run(path).n_points
    except Exception:  # not created yet, or caught between the create and the SWMR switch
        return 0


def test_sigkill_then_resume_holds_every_point_once(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    run = tmp_path / "run.h5"
    kill_after = random.Random().randint(3, PLANNED - 5)
    proc = subprocess.Popen(xbeam("run", str(plan), "--sim", "--virtual", "-q", "-o", str(run), "--seed", "7"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while points_in(run) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        _WALL.sleep(0.02)
    assert proc.poll() is None, f"run ended before the kill: {proc.stdout.read().decode()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    crashed = read_run(run)  # readable as it was left, every flushed point in it
    assert kill_after <= crashed.n_points < PLANNED
    assert crashed.status == "running"

    done = subprocess.run(xbeam("resume", str(run), "--sim", "--virtual", "-q", "--seed", "8"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    final = read_run(run)
    p = final.points
    keys = list(zip(p["sweep"], p["energy_index"], p["angle_index"]))
    assert len(keys) == len(set(keys)) == PLANNED
    assert final.status == "success" and final.recovered == 1
    assert final.run_id == crashed.run_id
    # the points measured before the crash are untouched
    before = {k: c for k, c in zip(zip(crashed.points["sweep"], crashed.points["energy_index"], crashed.points["angle_index"]),
                                   crashed.points["signal_counts"])}
    after = dict(zip(keys, p["signal_counts"]))
    assert all(after[k] == c for k, c in before.items())
    assert np.all(np.isfinite(p["rel_dcs"]))


SMALL = PLAN.replace("energies_eV = [50, 150]", "energies_eV = [100]").replace(
    "angles_deg = { start = 25, stop = 125, step = 10 }", "angles_deg = [40, 60, 80]").replace("sweeps = 2", "sweeps = 1")


def test_a_kill_in_the_first_moments_leaves_no_file_or_a_resumable_one(tmp_path):
    """Before, a kill in the first ~80 ms left a file nothing could open, and `run -o`
    then refused the path. Kill as soon as the hidden partial file appears, and as soon
    as the run file itself appears (0 points)."""
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL)
    for moment in ("partial", "file"):
        run = tmp_path / f"{moment}.h5"
        partial = tmp_path / f".{moment}.h5.partial"
        watched = partial if moment == "partial" else run
        proc = subprocess.Popen(xbeam("run", str(plan), "--sim", "--virtual", "-q", "-o", str(run)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not watched.exists() and proc.poll() is None and time.monotonic() < deadline:
            _WALL.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if run.exists():  # resumable, however few points it holds
            done = subprocess.run(xbeam("resume", str(run), "--sim", "--virtual", "-q"),
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        else:  # nothing under the name: the same command starts afresh
            done = subprocess.run(xbeam("run", str(plan), "--sim", "--virtual", "-q", "-o", str(run)),
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        final = read_run(run)
        assert final.status == "success" and final.n_points == 3, moment
