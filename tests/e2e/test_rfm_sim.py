"""The RFM procedure on the simulated apparatus, in virtual time: what an operator at the
apparatus relies on beyond the numbers.  A declined pressure stops the run safe; a rise
that reaches the gas-line interlock is cut and the line goes back to its bypass; an
interrupted run resumes without measuring a finished rate of rise again; a session
without an operator refuses the plan before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from acquisition.config import parse_apparatus
from acquisition.events import Message, PressureRise
from acquisition.operator import OperatorDeclined
from acquisition.plans import parse_plan
from acquisition.procedures.rfm import NoOperator
from acquisition.session import Session
from acquisition.storage import read_run
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.operator import SimulatedOperator
from simulators.world import LINE_RELAYS, WorldConfig

ROOT = Path(__file__).resolve().parents[2]
PLAN = (ROOT / "examples" / "isoflurane_rfm.toml").read_text().replace(
    "[50, 100, 150, 200, 250, 300]", "[100, 200]").replace("dwell_s = 60.0", "dwell_s = 20.0").replace(
    "background_dwell_s = 30.0", "background_dwell_s = 10.0")


class Declining:
    def set_line_pressure(self, request, read):
        raise OperatorDeclined(f"the operator declined to {request.describe()}")


def session_on(sim, clock, operator="sim", edits=()):
    text = sim.apparatus_toml()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    config = parse_apparatus(text, source="<sim>")
    operator = SimulatedOperator(sim.world) if operator == "sim" else operator
    return Session.connect(config, clock, monitor_interval_s=None, operator=operator), config


def run_to_end(session, plan, path, collect=None):
    handle = session.run_plan(plan, path, also=(collect,) if collect else ())
    return handle.join(600)


def test_a_declined_pressure_aborts_the_run_safe(tmp_path):
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=3)) as sim:
        session, config = session_on(sim, clock, operator=Declining())
        # ask for a pressure the lines do not hold, so the operator must act
        plan = parse_plan(PLAN.replace("target_pressure_mbar = 0.15", "target_pressure_mbar = 0.10"),
                          source="<plan>", apparatus=config)
        with session:
            stop = run_to_end(session, plan, tmp_path / "declined.h5")
        assert stop.status == "aborted" and "declined" in stop.reason  # resumable, like Ctrl-C
        assert not any(sim.world.relays)  # every line to its bypass, none left shut or open to the chamber
        assert sim.world.electrode("channeltron").emergency_off or not sim.world.electrode("channeltron").on
    assert read_run(tmp_path / "declined.h5").n_points == 0


def test_a_rise_reaching_the_interlock_is_cut_and_the_line_reopened(tmp_path):
    clock = VirtualClock()
    messages, rises = [], []

    def collect(event):
        if isinstance(event, Message):
            messages.append(event.text)
        if isinstance(event, PressureRise):
            rises.append(event)

    with SimulatedApparatus(clock, WorldConfig(seed=4)) as sim:
        # argon sits at 0.40 mbar and rises ~5e-3 mbar/s: a trip level of 0.48 mbar is reached in ~16 s
        session, config = session_on(sim, clock, edits=(("needle_max_mbar = 1.0", "needle_max_mbar = 0.48"),
                                                        ("needle_resume_mbar = 0.8", "needle_resume_mbar = 0.45")))
        plan = parse_plan(PLAN.replace("[100, 200]", "[100]").replace("sweeps = 2 ", "sweeps = 1 "),
                          source="<plan>", apparatus=config)
        with session:
            stop = run_to_end(session, plan, tmp_path / "cut.h5", collect)
        assert stop.status == "success", stop.reason
        argon = [r for r in rises if r.line == "reference" and r.kind == "rise"]
        assert argon and max(argon[0].pressures_mbar) >= 0.48 and argon[0].times_s[-1] < 25
        assert any("record cut after" in m for m in messages)
        shut = LINE_RELAYS["reference"]["shut"]
        assert not sim.world.relays[shut]  # the line went back to its bypass
    run = read_run(tmp_path / "cut.h5")
    assert run.n_rises == 4 and set(run.rises["kind"]) == {"base", "rise"}


def test_an_interrupted_rfm_run_resumes_without_measuring_a_rise_again(tmp_path):
    clock = VirtualClock()
    path = tmp_path / "rfm.h5"
    with SimulatedApparatus(clock, WorldConfig(seed=6)) as sim:
        session, config = session_on(sim, clock)
        plan = parse_plan(PLAN, source="<plan>", apparatus=config)
        with session:
            handle = None
            seen = []

            def abort_after_second_rise(event):
                if isinstance(event, PressureRise) and event.kind == "rise":
                    seen.append(event.key)
                    if len(seen) == 2:
                        handle.abort("test: interrupted")

            handle = session.run_plan(plan, path, also=(abort_after_second_rise,))
            assert handle.join(600).status == "aborted"
            first = read_run(path)
            assert first.done_rise_keys() == set(seen)
            resumed = session.resume_run(path)
            assert resumed.join(600).status == "success"
    run = read_run(path)
    keys = [(int(c), int(e), int(g)) for c, e, g, k in zip(run.rises["cycle"], run.rises["energy_index"],
                                                          run.rises["gas_index"], run.rises["kind"]) if k == "rise"]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 2 * 2 * 2  # energies x cycles x gases, once each
    assert run.n_points == 2 * 2 * 2 * 2 and run.status == "success"
    assert len(run.done_keys()) == run.planned_points


def test_a_session_without_an_operator_refuses_an_rfm_plan(tmp_path):
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=7)) as sim:
        session, config = session_on(sim, clock, operator=None)
        plan = parse_plan(PLAN, source="<plan>", apparatus=config)
        with session, pytest.raises(NoOperator, match="needs an operator"):
            session.run_plan(plan, tmp_path / "none.h5")
    assert not (tmp_path / "none.h5").exists()


def test_the_panel_status_reads_both_lines():
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=8)) as sim:
        session, config = session_on(sim, clock)
        with session:
            session.apparatus.route_gas({"target": "needle", "reference": "side_leak"}, 0.0)
            status, health = session.apparatus.read_status()
    lines = {line.name: line for line in status.lines}
    assert (lines["target"].path, lines["reference"].path) == ("needle", "side_leak")
    assert lines["reference"].gas == "argon" and abs(lines["reference"].pressure_mbar - 0.40) < 0.01
    assert abs(lines["target"].pressure_mbar - 0.30) < 0.01 and health["line_gauges"] is None


class LateOperator:
    """Gets the valve right only at the third request (the run must count that one)."""

    def __init__(self, world):
        self.asked = 0
        self.real = SimulatedOperator(world)

    def set_line_pressure(self, request, read):
        self.asked += 1
        if self.asked % 3 == 0:
            self.real.set_line_pressure(request, read)


def test_the_last_confirmation_counts(tmp_path):
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=9)) as sim:
        operator = LateOperator(sim.world)
        session, config = session_on(sim, clock, operator=operator)
        plan = parse_plan(PLAN.replace("[100, 200]", "[100]").replace("sweeps = 2 ", "sweeps = 1 ").replace(
            "target_pressure_mbar = 0.15", "target_pressure_mbar = 0.12"), source="<plan>", apparatus=config)
        with session:
            stop = run_to_end(session, plan, tmp_path / "late.h5")
    assert stop.status == "success", stop.reason
    assert operator.asked % 3 == 0 and operator.asked >= 3


def test_a_valve_that_crept_during_a_block_is_set_again_before_the_next_point(tmp_path):
    """The target valve is turned down after the block's first point (a pause, a knock):
    the next point finds the line out of tolerance and the pressures are set again, so
    every intensity and the rate of rise are at the block's pressure."""
    clock = VirtualClock()
    messages, points = [], []
    with SimulatedApparatus(clock, WorldConfig(seed=10)) as sim:
        session, config = session_on(sim, clock)
        plan = parse_plan(PLAN.replace("[100, 200]", "[100]").replace("sweeps = 2 ", "sweeps = 1 "),
                          source="<plan>", apparatus=config)

        def knock(event):
            if isinstance(event, Message):
                messages.append(event.text)
            if type(event).__name__ == "Point":
                points.append(event)
                if len(points) == 1:
                    sim.world.set_leak_valve("target", 0.8 * sim.world.leak_valve("target"))
                    sim.world.clock.sleep(900)  # long enough for the line to settle lower

        with session:
            stop = run_to_end(session, plan, tmp_path / "knock.h5", knock)
    assert stop.status == "success", stop.reason
    assert any("outside 2% of 0.15 mbar: setting the pressures again" in m for m in messages), messages
    run = read_run(tmp_path / "knock.h5")
    target = run.points["line_pressure_mbar"][run.points["gas_index"] == 0]
    assert abs(target / 0.15 - 1).max() < 0.02
    rises = run.rises["steady_mbar"][(run.rises["gas_index"] == 0) & (run.rises["kind"] == "rise")]
    assert abs(rises / 0.15 - 1).max() < 0.02


def test_export_refuses_an_rfm_run_in_one_line(tmp_path, capsys):
    from acquisition.cli import main

    plan = tmp_path / "rfm.toml"
    plan.write_text(PLAN.replace("[100, 200]", "[100]").replace("sweeps = 2 ", "sweeps = 1 "))
    assert main(["run", str(plan), "--sim", "--virtual", "-q", "-o", str(tmp_path / "rfm.h5")]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "rfm.h5"), "-o", str(tmp_path / "rfm.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "an 'rfm' run" in err and "xbeam absolute --rfm" in err
    assert not (tmp_path / "rfm.csv").exists()


def test_an_rfm_run_with_nobody_at_the_terminal_is_refused_before_anything_moves(tmp_path):
    """stdin not a terminal (nohup, a pipe) and no --sim: nobody can turn the valves."""
    import subprocess
    import sys

    plan = tmp_path / "rfm.toml"
    plan.write_text(PLAN)
    sim_file = tmp_path / "sim.toml"
    with SimulatedApparatus(VirtualClock(), WorldConfig(seed=1)) as sim:
        sim.write_apparatus(sim_file)
        done = subprocess.run([sys.executable, "-m", "acquisition.cli", "run", str(plan), "--apparatus", str(sim_file),
                               "-o", str(tmp_path / "r.h5")], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "stdin is not a terminal" in done.stderr and not (tmp_path / "r.h5").exists()
