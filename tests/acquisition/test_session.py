"""The session driven the way the GUI will drive it: from a thread of its own, manual
operations as futures while the monitors poll, then a run started, paused, resumed and
aborted, every apparatus call on the session's one worker thread."""

import threading

import pytest

from acquisition.config import parse_apparatus
from acquisition.events import Monitor, Paused, Point, Resumed, RunStart, RunStop
from acquisition.plans import parse_plan
from acquisition.runner import RunState
from acquisition.session import Session, SessionBusy
from acquisition.storage import read_run
from drivers.errors import DeviceError, InstrumentTimeout, LimitError
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.world import WorldConfig
from tests.plans import plan_text

PLAN = plan_text(energies=(100,), angles=(40, 50, 60, 70, 80, 90, 100, 110), dwell_s=10.0,
                 background_dwell_s=None, energy_s=1.0)


class Events(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.append((threading.current_thread().name, event))

    def of(self, kind):
        with self.lock:
            return [e for _, e in self if isinstance(e, kind)]


def wait_until(condition, timeout_s=30.0):
    done = threading.Event()
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError("condition not reached")


@pytest.fixture
def session():
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=7)) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<sim>")
        with Session.connect(config, clock, monitor_interval_s=0.01) as session:
            yield session


def test_gui_thread_drives_manual_operations_then_a_run(session, tmp_path):
    events = Events()
    session.bus.subscribe(events)
    calls = []
    app = session.apparatus
    for name in ("set_energy", "move_to", "select_gas", "ramp_filament", "channeltron_on", "read_monitors",
                 "prepare", "count"):
        original = getattr(app, name)

        def traced(*args, _original=original, _name=name, **kwargs):
            calls.append((_name, threading.current_thread().name))
            return _original(*args, **kwargs)

        setattr(app, name, traced)

    plan = parse_plan(PLAN, source="<plan>", apparatus=session.config)
    first_point, paused_sent = threading.Event(), threading.Event()
    result = {}

    def hold_first_point(event):  # keeps the run at its first point until the GUI has pressed pause
        if isinstance(event, Point) and not first_point.is_set():
            first_point.set()
            paused_sent.wait(10)

    def gui():
        # manual operations: futures, never blocking this thread on an instrument
        session.home().result(30)
        energy = session.set_energy(100.0)
        angle = session.move_to(60.0)
        gas = session.select_gas("needle")
        filament = session.ramp_filament(2.2)
        result["futures_returned_at_once"] = not (energy.done() and angle.done() and gas.done() and filament.done())
        assert angle.result(30) == pytest.approx(60.0, abs=0.01)
        energy.result(30), gas.result(30), filament.result(30)
        wait_until(lambda: len(events.of(Monitor)) >= 3)  # the idle poller publishes the monitors
        # a run; manual operations are refused while it owns the apparatus
        session.bus.subscribe(hold_first_point)
        handle = session.run_plan(plan, tmp_path / "run.h5")
        with pytest.raises(SessionBusy):
            session.move_to(90.0)
        first_point.wait(30)
        handle.pause()
        paused_sent.set()
        wait_until(lambda: handle.state == RunState.PAUSED)
        result["points_when_paused"] = len(events.of(Point))
        handle.resume()
        wait_until(lambda: len(events.of(Point)) >= 4)
        handle.abort("operator went home")
        result["stop"] = handle.join(60)
        result["state"] = handle.state

    thread = threading.Thread(target=gui, name="gui", daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()

    stop = result["stop"]
    assert result["futures_returned_at_once"]
    assert stop.status == "aborted" and "operator went home" in stop.reason and result["state"] == RunState.FINISHED
    assert result["points_when_paused"] == 1  # the pause took effect at the point boundary
    assert events.of(Paused) and any(r.reason == "resumed by operator" for r in events.of(Resumed))
    assert 4 <= stop.points_done < 8
    # every apparatus call ran on the session's worker thread, none on the GUI's
    assert calls and {thread_name for _, thread_name in calls} == {"xbeam-apparatus_0"}
    assert {"set_energy", "move_to", "select_gas", "ramp_filament", "count"} <= {name for name, _ in calls}
    # the run's events came from the same worker; the file holds what was measured
    run_events = [(t, e) for t, e in events if isinstance(e, (RunStart, Point, RunStop))]
    assert {t for t, _ in run_events} == {"xbeam-apparatus_0"}
    run = read_run(tmp_path / "run.h5")
    assert run.status == "aborted" and run.n_points == stop.points_done
    # after the run the apparatus is the session's again
    assert session.move_to(90.0).result(30) == pytest.approx(90.0, abs=0.01)


def test_urgent_stop_does_not_queue_behind_the_move_it_stops(session):
    gonio = session.apparatus.goniometer
    moving, stopped, order = threading.Event(), threading.Event(), []

    def move_until_stopped(angle, **kw):  # a move that only ends when ST arrives, short of its target
        moving.set()
        ended = stopped.wait(10)
        order.append("move returned" if ended else "move timed out")
        raise DeviceError("stopped at 75 deg, 45 deg short of 120 deg", instrument="goniometer", address="sim")

    def stop():
        order.append("stop sent")
        stopped.set()

    gonio.move_to, gonio.stop = move_until_stopped, stop
    move = session.move_to(120.0)
    assert moving.wait(10)
    session.stop_motion().result(10)
    with pytest.raises(DeviceError, match="short"):
        move.result(20)
    assert order == ["stop sent", "move returned"]  # queued behind the move, it would have timed out first
    assert session.apparatus.angle_deg is None  # stopped somewhere: unknown until the next move


def test_status_shows_the_panel_and_follows_each_instrument_health(session):
    from acquisition.events import ApparatusStatus, InstrumentHealth

    events = Events()
    session.bus.subscribe(events)
    session.ramp_filament(2.0).result(30)
    session.set_energy(100.0).result(30)
    session.select_gas("needle").result(30)
    status = session.read_status().result(30)
    assert isinstance(status, ApparatusStatus) and status.energy_eV == 100.0
    assert status.gas_path == "needle" and status.filament_on
    assert status.filament_current_A == pytest.approx(2.0, abs=0.01)
    tune = session.config.tune.potentials_at(100.0)
    readbacks = {e.name: e for e in status.electrodes}
    assert set(tune) <= set(readbacks)
    for name, volts in tune.items():
        assert readbacks[name].setpoint_V == pytest.approx(volts, abs=0.1)
        assert readbacks[name].readback_V == pytest.approx(volts, abs=session.config.electrodes[name].tolerance_V)
    assert 0 < status.beam_current_A < 1e-3 and status.chamber_mbar > 0
    # a single electrode by hand, within its limits
    lens = next(n for n in tune if n not in ("cathode", session.config.detector.channeltron_electrode))
    e = session.config.electrodes[lens]
    target = min(e.max_V, max(e.min_V, tune[lens] + 5.0))
    session.set_electrode(lens, target).result(30)
    after = {r.name: r for r in session.read_status().result(30).electrodes}
    assert after[lens].readback_V == pytest.approx(target, abs=e.tolerance_V)
    with pytest.raises(LimitError, match="refused before sending: allowed"):
        session.set_electrode(lens, e.max_V + 100.0).result(30)
    with pytest.raises(ValueError, match="channeltron"):
        session.set_electrode(session.config.detector.channeltron_electrode, 100.0).result(30)
    assert not events.of(InstrumentHealth)  # nothing changed: nothing published
    # the gauge controller stops answering: its light goes to fault, then back to ok
    gauges = session.apparatus.gauges
    original = gauges.pressures

    def silent():
        raise InstrumentTimeout("no reply", instrument="gauges (x)")

    gauges.pressures = silent
    faulty = session.read_status().result(30)
    assert faulty.chamber_mbar != faulty.chamber_mbar  # NaN, not a stale number
    assert [(h.instrument, h.state) for h in events.of(InstrumentHealth)] == [("gauges", "fault")]
    assert session.health["gauges"][0] == "fault" and "no reply" in session.health["gauges"][1]
    gauges.pressures = original
    session.read_status().result(30)
    assert [(h.instrument, h.state) for h in events.of(InstrumentHealth)] == [("gauges", "fault"), ("gauges", "ok")]


def test_a_run_publishes_the_panel_status_at_each_new_energy(session, tmp_path):
    from acquisition.events import ApparatusStatus

    events = Events()
    session.bus.subscribe(events)
    text = PLAN.replace("energies_eV = [100]", "energies_eV = [100, 200]").replace(
        "angles_deg = [40, 50, 60, 70, 80, 90, 100, 110]", "angles_deg = [60, 90]")
    plan = parse_plan(text, source="<plan>", apparatus=session.config)
    session.run_plan(plan, tmp_path / "run.h5").join(120)
    in_run = []
    running = False
    for _, e in events:
        running = True if isinstance(e, RunStart) else False if isinstance(e, RunStop) else running
        if running and isinstance(e, ApparatusStatus):
            in_run.append(e)
    assert [s.energy_eV for s in in_run] == [100.0, 200.0]
    for status in in_run:
        tune = session.config.tune.potentials_at(status.energy_eV)
        readback = {r.name: r.readback_V for r in status.electrodes}
        for name, volts in tune.items():
            assert readback[name] == pytest.approx(volts, abs=session.config.electrodes[name].tolerance_V)
    assert read_run(tmp_path / "run.h5").n_points == 4  # the readings are the panel's, not the file's points
