"""The run machine's trust fixes (issue "Trust"), on zero-latency fakes: each test
reproduces what a hostile night did to the previous engine."""

import math
import threading
from dataclasses import replace

import pytest

from acquisition.events import Message, Point, PointFlag, RunStop, Suspended
from acquisition.fakes import FakeApparatus
from drivers.errors import DeviceError, InstrumentTimeout
from foundation.clock import VirtualClock
from tests.acquisition.test_runner_dcs import config, make_plan, run_engine  # noqa: F401  (fixture)


def hv_link_down(fake, rec, *, failures: int | None):
    """The channeltron HV-off reply is lost while an interlock trips (``failures``
    attempts, or for ever with None); records counts started with the channeltron on
    while the trip was unconfirmed."""
    state = {"tripped_at": None, "off_failures": 0, "counts_while_unconfirmed": 0, "confirmed": False}
    original_off, original_count = fake.channeltron_off_now, fake.count

    def monitors(m):
        if state["tripped_at"] is None and len(rec.of(Point)) == 1 and fake.gas_path == "needle":
            state["tripped_at"] = m.t
        if state["tripped_at"] is not None and m.t < state["tripped_at"] + 20:
            return replace(m, chamber_mbar=1e-4)
        return m

    def off():
        if state["tripped_at"] is not None and (failures is None or state["off_failures"] < failures):
            state["off_failures"] += 1
            raise InstrumentTimeout("no reply", instrument="hv_detector", address="x", command=":VOLT:EMCY OFF")
        original_off()
        state["confirmed"] = state["tripped_at"] is not None

    def count(*args):
        if state["tripped_at"] is not None and not state["confirmed"] and fake.channeltron_is_on:
            state["counts_while_unconfirmed"] += 1
        return original_count(*args)

    fake.monitor_hook, fake.channeltron_off_now, fake.count = monitors, off, count
    return state


def test_hv_off_lost_during_a_trip_is_retried_before_anything_counts(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    state = hv_link_down(fake, rec, failures=5)
    stop = engine.run()
    assert stop.status == "success" and len(rec.of(Point)) == 12
    assert state["off_failures"] == 5 and state["confirmed"]
    assert state["counts_while_unconfirmed"] == 0  # the old engine started new counts with the HV on
    assert any("HV off confirmed after 6 attempts" in m.text for m in rec.of(Message))
    assert len(rec.of(Suspended)) == 1


def test_hv_off_that_cannot_be_confirmed_stops_the_run_loudly(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    state = hv_link_down(fake, rec, failures=None)
    stop = engine.run()
    assert stop.status == "failed" and "could not be confirmed" in stop.reason
    assert state["counts_while_unconfirmed"] == 0
    assert any(m.level == "error" and "could not be confirmed" in m.text for m in rec.of(Message))
    assert "safe state incomplete: channeltron off" in stop.reason  # the end state tried once more, said so


@pytest.mark.parametrize("quantity", ["chamber_mbar", "needle_mbar", "beam_current_A"])
def test_an_unreadable_monitor_trips_its_interlock(config, quantity):  # noqa: F811
    engine, fake, rec = run_engine(config)
    window = {}

    def monitors(m):
        if not window and len(rec.of(Point)) == 3:
            window["t"] = m.t
        if window and m.t < window["t"] + 10:
            return replace(m, **{quantity: math.nan})
        return m

    fake.monitor_hook = monitors
    stop = engine.run()
    assert stop.status == "success"
    suspended = rec.of(Suspended)
    assert len(suspended) == 1 and "nan" in suspended[0].reason  # the old engine never tripped on NaN
    assert len(rec.of(Point)) == 12


def burst_in_subgate(fake, rec, *, gates: int, factor: float = 11.0):
    """A gas burst inside the third sub-gate of the next ``gates`` signal counts of point 2."""
    original = fake.count
    state = {"left": gates}

    def count(subgate_s, n, check):
        if len(rec.of(Point)) == 2 and fake.gas_path == "needle" and state["left"] > 0:
            state["left"] -= 1
            counts = []
            mean = fake._rate() * subgate_s
            for i in range(n):
                fake.clock.sleep(subgate_s)
                counts.append(int(mean * (factor if i == 2 else 1.0)))
                if not check(list(counts)):
                    break
            return None
        return original(subgate_s, n, check)

    fake.count = count
    return state


def test_a_burst_inside_a_subgate_is_counted_again(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    burst_in_subgate(fake, rec, gates=1)
    assert engine.run().status == "success"
    third = rec.of(Point)[2]
    assert not third.flags & PointFlag.UNSTEADY and third.signal.steady
    assert max(third.signal.subgate_counts) < 2 * min(third.signal.subgate_counts)  # the recount, not the burst
    notes = [m.text for m in rec.of(Message) if "not a steady rate" in m.text]
    assert len(notes) == 1 and "counting the gate again" in notes[0]


def test_a_gate_that_stays_unsteady_is_flagged_and_the_reason_logged(config, tmp_path):  # noqa: F811
    from acquisition.storage import RunRecorder, read_run

    engine, fake, rec = run_engine(config)
    recorder = RunRecorder(tmp_path / "run.h5")
    engine.bus.subscribe(recorder, critical=True)
    burst_in_subgate(fake, rec, gates=10)
    stop = engine.run()
    recorder.close(stop)
    third = rec.of(Point)[2]
    assert third.flags & PointFlag.UNSTEADY and not third.signal.steady
    assert third.signal.subgate_chi2 > 100
    run = read_run(tmp_path / "run.h5")
    assert run.points["flags"][2] & PointFlag.UNSTEADY and run.points["signal_subgate_chi2"][2] > 100
    assert not run.points["flags"][3] & PointFlag.UNSTEADY
    assert any("kept, flagged UNSTEADY" in text for _, _, _, text in run.log)


def test_a_transient_counter_fault_keeps_the_completed_subgates(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    original = fake.count
    asked = []

    def count(subgate_s, n, check):
        asked.append(n)
        if len(asked) == 1:  # the first count breaks after 3 of its 5 sub-gates
            def check_then_fail(counts):
                if len(counts) == 4:
                    raise InstrumentTimeout("no reply", instrument="counter", address="x", command="R?")
                return check(counts)

            return original(subgate_s, n, check_then_fail)
        return original(subgate_s, n, check)

    fake.count = count
    assert engine.run().status == "success"
    assert asked[:2] == [5, 2]  # the old engine counted all 5 again
    first = rec.of(Point)[0]
    assert len(first.signal.subgate_counts) == 5 and first.signal.gate_s == 10.0
    assert any("3 of 5 sub-gates kept" in m.text for m in rec.of(Message))


def test_the_angle_stored_is_the_angle_the_controller_reported(config):  # noqa: F811
    fake = FakeApparatus(config, VirtualClock())
    fake.angle_offset_deg = -0.3  # the stage stops 0.3 deg short, within the driver's tolerance
    engine, fake, rec = run_engine(config, fake=fake)
    engine.run()
    for p in rec.of(Point):
        assert p.signal.angle_readback_deg == pytest.approx(p.angle_deg - 0.3)
        assert p.background.angle_readback_deg == pytest.approx(p.angle_deg - 0.3)


def test_a_stage_that_misses_its_target_is_a_fault_not_a_point(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    original = fake.move_to
    missed = {"n": 0}

    def move(angle):
        if angle == 60 and missed["n"] == 0:
            missed["n"] += 1
            raise DeviceError("stopped at 59.2 deg, 0.8 deg short of 60 deg (tolerance 0.05 deg)",
                              instrument="goniometer", address="x", command="1PA60")
        return original(angle)

    fake.move_to = move

    def operator():
        from tests.acquisition.test_runner_dcs import wait_for

        wait_for(lambda: engine.state.value == "paused")
        engine.resume()

    threading.Thread(target=operator, daemon=True).start()
    stop = engine.run()
    assert stop.status == "success"
    assert all(p.signal.angle_readback_deg == p.angle_deg for p in rec.of(Point))
    assert len(rec.of(Point)) == 12 and isinstance(rec.events[-1], RunStop)


def test_a_transient_fault_in_one_ramp_retries_that_ramp_not_the_whole_tune(config):  # noqa: F811
    engine, fake, rec = run_engine(config)
    fake.record_calls = True
    original = fake.tune_steps
    failed = {"done": False}

    def tune_steps(energy_eV):
        steps = original(energy_eV)
        what, second = steps[1]

        def flaky():
            if not failed["done"]:
                failed["done"] = True
                raise InstrumentTimeout("no reply", instrument="hv", address="x", command=":VOLT 100,(@0)")
            return second()

        return [steps[0], (what, flaky), *steps[2:]]

    fake.tune_steps = tune_steps
    assert engine.run().status == "success"
    modules = sorted({e.module for e in config.electrodes.values()})
    first_tune = fake.calls[: fake.calls.index("energy 50")]
    # the first module's ramp once, the second retried alone (the old engine re-ran the whole tune)
    assert [c for c in first_tune if c.startswith("ramp")] == [f"ramp {m}" for m in modules]
    assert any("retry 1/" in m.text and "ramp" in m.text for m in rec.of(Message))


def test_a_run_file_that_cannot_be_created_fails_the_run_with_its_reason(config, tmp_path):  # noqa: F811
    from acquisition.storage import RunRecorder

    engine, fake, rec = run_engine(config)
    fake.record_calls = True
    target = tmp_path / "no such directory" / "run.h5"
    engine.bus.subscribe(RunRecorder(target), critical=True)
    stop = engine.run()  # before, the RunStop then raised "first event must be RunStart, got RunStop"
    assert stop.status == "failed" and str(target) in stop.reason
    assert not rec.of(Point) and "prepare" not in fake.calls  # nothing was measured, nothing heated
