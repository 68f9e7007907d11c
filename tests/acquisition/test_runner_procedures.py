"""A procedure the runner has never seen runs through it unchanged: pause, abort, a
suspender trip, retries and redo come from the runner, not from the procedure."""

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from acquisition.config import load_apparatus
from acquisition.events import EventBus, Paused, Point, PointFlag, Resumed, RunStart, RunStop, Suspended
from acquisition.fakes import FakeApparatus
from acquisition.reduction import quantity
from acquisition.runner import Runner, RunState
from foundation.clock import VirtualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class ToyResult:
    rate_cps: float = quantity("1/s", "counts per second")


@dataclass(frozen=True)
class Step:
    index: int
    angle_deg: float

    @property
    def key(self):
        return (0, 0, self.index)


class AngleSurvey:
    """A toy procedure: count once at each of a few angles, gas through the needle."""

    kind = "toy"

    def __init__(self, angles):
        self.steps = [Step(i, a) for i, a in enumerate(angles)]
        self.prepared = 0
        self.attempts: list[tuple[int, int]] = []

    def points(self):
        return self.steps

    def run_start(self):
        angles = tuple(s.angle_deg for s in self.steps)
        return {"plan": {"kind": "toy"}, "plan_text": "", "metadata": {"sample": "toy"},
                "energies_eV": (100.0,), "angles_deg": angles, "sweeps": 1}

    def prepare(self, run):
        self.prepared += 1
        run.apparatus.prepare()
        run.call("select gas", run.apparatus.select_gas, "needle", 0.0)

    def measure(self, run, step, attempt):
        self.attempts.append((step.index, attempt))
        run.call("move", run.apparatus.move_to, step.angle_deg)
        gate = run.count(1.0, 4, step.key)
        return Point(seq=run.seq, sweep=0, energy_index=0, angle_index=step.index, energy_eV=100.0,
                     angle_deg=step.angle_deg, signal=gate, background=None,
                     derived=ToyResult(gate.rate_cps), flags=PointFlag.REDONE if attempt > 1 else PointFlag.NONE,
                     attempts=attempt)


class Recorder(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


def wait_until(condition, timeout_s=10.0):
    done = threading.Event()
    for _ in range(int(timeout_s / 0.002)):
        if condition():
            return
        done.wait(0.002)
    raise AssertionError("condition not reached")


@pytest.fixture
def rig():
    config = load_apparatus(EXAMPLES / "apparatus_lab.toml")
    clock = VirtualClock()
    fake = FakeApparatus(config, clock)
    fake.record_calls = True
    bus, rec = EventBus(), Recorder()
    bus.subscribe(rec)
    return config, clock, fake, bus, rec


def test_a_new_procedure_runs_with_pause_suspender_trip_and_abort(rig):
    config, clock, fake, bus, rec = rig
    survey = AngleSurvey([30, 40, 50, 60, 70, 80, 90, 100])
    runner = Runner(fake, survey, bus=bus, clock=clock, poll_s=1.0)
    trip = {}

    def monitors(m):
        # the chamber pressure bursts during the third point's count, for 15 s
        if "t" not in trip and len(rec.of(Point)) == 2 and fake.channeltron_is_on:
            trip["t"] = m.t
        if "t" in trip and m.t < trip["t"] + 15:
            return replace(m, chamber_mbar=1e-4)
        return m

    fake.monitor_hook = monitors

    def operator(event):
        if isinstance(event, Point) and event.angle_index in (4, 5):
            runner.pause()  # takes effect at the next point boundary

    bus.subscribe(operator)

    def gui_thread():
        wait_until(lambda: runner.state == RunState.PAUSED)
        runner.resume()
        wait_until(lambda: len(rec.of(Paused)) == 2 and runner.state == RunState.PAUSED)
        runner.abort("operator went home")

    helper = threading.Thread(target=gui_thread, daemon=True)
    helper.start()
    stop = runner.run()
    helper.join(5)

    assert stop.status == "aborted" and "operator went home" in stop.reason
    start = rec.of(RunStart)[0]
    assert start.kind == "toy" and start.planned_points == 8 and survey.prepared == 1
    # the trip: channeltron off first, suspended at the third point, measured again after recovery
    suspended = rec.of(Suspended)
    assert len(suspended) == 1 and "chamber pressure" in suspended[0].reason and suspended[0].point == (0, 0, 2)
    i = fake.calls.index("channeltron off")
    assert fake.calls[i + 1] == "channeltron on"
    assert (2, 2) in survey.attempts
    points = rec.of(Point)
    third = next(p for p in points if p.angle_index == 2)
    assert third.attempts == 2 and third.flags & PointFlag.REDONE
    assert third.signal.t_start >= trip["t"] + 15 + config.interlocks.wait_after_recovery_s
    # the pause at the boundary after the fifth point, then resumed by the operator
    assert rec.of(Paused)[0].reason == "paused by operator"
    assert any(r.reason == "resumed by operator" for r in rec.of(Resumed))
    # paused again after the sixth point and aborted from the other thread; each point once, in order
    assert len(points) == 6
    assert [p.angle_index for p in points] == list(range(len(points)))
    assert all(isinstance(p.derived, ToyResult) and p.derived.rate_cps > 0 for p in points)
    assert fake.calls[-2:] == ["safe state", "channeltron off"]  # an aborted run ends safe
    assert isinstance(rec[-1], RunStop) and runner.state == RunState.FINISHED


def test_the_end_state_is_the_callers_choice(rig):
    from acquisition.apparatus import KEEP_READY

    config, clock, fake, bus, rec = rig
    stop = Runner(fake, AngleSurvey([30, 60]), bus=bus, clock=clock, end_state=KEEP_READY).run()
    assert stop.status == "success"
    assert fake.calls[-1] == "safe state" and fake.channeltron_is_on  # a queue keeps it on between items
    assert fake.gas_path == "closed"
