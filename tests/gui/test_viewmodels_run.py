"""One code path for a point, live or from the file: a real (short, simulated) run is
recorded as events and as its run file; a RunViewModel fed the events and one fed the
file's RunFollower updates must draw the same DCS curves, rate curves, strip charts,
log lines and meter."""

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from acquisition.config import parse_apparatus
from acquisition.events import Monitor, Paused, Point, Resumed, RunStart, RunStop
from acquisition.plans import parse_plan
from acquisition.runner import RunState
from acquisition.session import Session
from acquisition.storage import RunFollower, RunUpdate, read_run
from foundation.clock import VirtualClock
from gui.viewmodels import RunViewModel, point_record, point_records
from gui.viewmodels.strip_chart import TRACES
from simulators.apparatus import SimulatedApparatus
from simulators.world import WorldConfig
from tests.plans import plan_text

PLAN = plan_text(energies=(50, 100), angles=(40, 60, 80), sweeps=2, dwell_s=10.0, background_dwell_s=None,
                 energy_s=1.0)


@dataclasses.dataclass
class Recorded:
    events: list
    path: Path
    start_utc: str


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    """The events of a 12-point run (paused once by the operator) and its file."""
    path = tmp_path_factory.mktemp("run") / "run.h5"
    events, lock = [], threading.Lock()
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=7)) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<sim>")
        with Session.connect(config, clock) as session:
            holder = {}

            def record(event):
                with lock:
                    events.append(event)
                if isinstance(event, Point) and event.seq == 2:
                    holder["handle"].pause()  # only sets a flag: fine on the worker thread

            session.bus.subscribe(record)
            plan = parse_plan(PLAN, source="<plan>", apparatus=session.config)
            holder["handle"] = handle = session.run_plan(plan, path)
            for _ in range(6000):
                if handle.state == RunState.PAUSED:
                    handle.resume()
                    break
                threading.Event().wait(0.005)
            stop = handle.join(60)
    assert stop.status == "success" and stop.points_done == 12
    with lock:
        start = next(i for i, e in enumerate(events) if isinstance(e, RunStart))
        end = next(i for i, e in enumerate(events) if isinstance(e, RunStop))
        run_events = events[start : end + 1]  # the run's events (an idle reading after it is not in the file)
    assert any(isinstance(e, Paused) for e in run_events) and any(isinstance(e, Resumed) for e in run_events)
    return Recorded(run_events, path, read_run(path).start_utc)


def live_model(recorded):
    vm = RunViewModel(speed=float("inf"))
    for event in recorded.events:
        vm.feed(event)
    return vm


def file_model(recorded, start_utc, updates=None, *, without_start_stamp=False):
    vm = RunViewModel()
    with RunFollower(recorded.path) as follower:
        if without_start_stamp:  # a follower of an older reader that did not hand the stamp out
            del follower.start_utc
        vm.load_follower(follower, start_utc=start_utc)
        for update in updates or [follower.poll()]:
            vm.feed_update(update)
    return vm


def assert_curves_equal(a, b):
    assert len(a) == len(b) and len(a) > 0
    for ca, cb in zip(a, b):
        for f in dataclasses.fields(ca):
            np.testing.assert_array_equal(getattr(ca, f.name), getattr(cb, f.name), err_msg=f.name)


def assert_same_view(live, file):
    assert live.dcs_plot.n_points == file.dcs_plot.n_points == 12
    assert live.dcs_plot.energies == file.dcs_plot.energies == [50.0, 100.0]
    for mode in ("overlay", "average"):
        live.dcs_plot.mode = file.dcs_plot.mode = mode
        assert_curves_equal(live.dcs_plot.curves(), file.dcs_plot.curves())
    assert_curves_equal(live.dcs_plot.rate_curves(), file.dcs_plot.rate_curves())
    assert live.dcs_plot.describe(100.0, 60.0) == file.dcs_plot.describe(100.0, 60.0)
    assert live.panel.meter == file.panel.meter
    assert live.run_control.done == file.run_control.done == 12


def test_point_record_of_an_event_equals_the_record_of_its_file_row(recorded):
    live = [point_record(e) for e in recorded.events if isinstance(e, Point)]
    stored = point_records(read_run(recorded.path).points)
    np.testing.assert_equal([dataclasses.astuple(r) for r in live], [dataclasses.astuple(r) for r in stored])


def test_live_events_and_followed_file_draw_the_same_run(recorded):
    live, file = live_model(recorded), file_model(recorded, recorded.start_utc)
    assert_same_view(live, file)
    # the strip charts: same times (seconds since the start, from the same UTC stamps), same values
    n_monitors = sum(isinstance(e, Monitor) for e in recorded.events)
    for trace in TRACES:
        t_live, y_live = live.strip_chart.raw(trace)
        t_file, y_file = file.strip_chart.raw(trace)
        assert len(t_live) == (12 if trace == "count_rate_cps" else n_monitors) > 0
        np.testing.assert_array_equal(t_live, t_file, err_msg=trace)
        np.testing.assert_array_equal(y_live, y_file, err_msg=trace)
        np.testing.assert_array_equal(live.strip_chart.view(trace, max_points=20)[1],
                                      file.strip_chart.view(trace, max_points=20)[1])
    assert live.strip_chart.span() == file.strip_chart.span()
    assert live.strip_chart.span()[0] >= 0  # the run's own time axis
    # the log reads alike: the file has every line but the run-start one
    live_lines = [r for r in live.log.records() if not r.text.startswith("run ")]
    assert [r.text for r in live_lines] == [r.text for r in file.log.records()]
    assert live_lines == file.log.records()
    assert [r.text.split(":")[0] for r in live_lines] == ["paused", "resumed", "stop"]
    assert live.run_control.state == file.run_control.state == "finished"


def test_a_file_followed_in_pieces_draws_what_one_poll_draws(recorded):
    """A follower's updates come a few points at a time: batches must not change anything."""
    run = read_run(recorded.path)
    n = run.n_points
    pieces = []
    for lo in range(0, n, 5):
        hi = min(lo + 5, n)
        pieces.append(RunUpdate(lo, {k: v[lo:hi] for k, v in run.points.items()}, {}, {"time": np.zeros(0)},
                                [], "running", hi))
    pieces.append(RunUpdate(n, {k: v[:0] for k, v in run.points.items()}, {}, run.monitors, run.log, run.status, n))
    whole, chunked = file_model(recorded, recorded.start_utc), file_model(recorded, recorded.start_utc, pieces)
    assert_same_view(whole, chunked)
    for trace in TRACES:
        np.testing.assert_array_equal(whole.strip_chart.raw(trace)[0], chunked.strip_chart.raw(trace)[0])


def test_the_follower_start_stamp_places_rates_at_once(recorded):
    run = read_run(recorded.path)
    early = RunUpdate(0, {k: v[:6] for k, v in run.points.items()}, {}, {"time": np.zeros(0)}, [], "running", 6)
    vm = file_model(recorded, None, [early])
    assert len(vm.strip_chart.raw("count_rate_cps")[0]) == 6  # no log entry needed: the file's start stamp


def test_without_the_start_stamp_the_origin_comes_from_the_file_log(recorded):
    """A follower without the start stamp: the event log's (seconds since the start,
    UTC) pairs give it to a microsecond; rates seen before a log entry wait for it."""
    run = read_run(recorded.path)
    n = run.n_points
    early = RunUpdate(0, {k: v[:6] for k, v in run.points.items()}, {}, {"time": np.zeros(0)}, [], "running", 6)
    rest = RunUpdate(6, {k: v[6:] for k, v in run.points.items()}, {}, run.monitors, run.log, run.status, n)
    vm = file_model(recorded, None, [early], without_start_stamp=True)
    assert len(vm.strip_chart.raw("count_rate_cps")[0]) == 0  # no origin yet: nothing placed
    assert vm.dcs_plot.n_points == 6  # the plot does not wait
    vm = file_model(recorded, None, [early, rest], without_start_stamp=True)
    live = live_model(recorded)
    for trace in TRACES:
        np.testing.assert_allclose(vm.strip_chart.raw(trace)[0], live.strip_chart.raw(trace)[0], atol=2e-6)
        np.testing.assert_array_equal(vm.strip_chart.raw(trace)[1], live.strip_chart.raw(trace)[1])


def test_live_run_control_follows_the_run(recorded):
    vm = RunViewModel(speed=float("inf"))
    states = []
    for event in recorded.events:
        vm.feed(event)
        states.append(vm.run_control.state)
    assert states[0] == "running" and "paused" in states and states[-1] == "finished"
    assert vm.run_control.can_start and not vm.run_control.can_abort
    assert vm.run_control.last_stop == ("success", "plan complete")


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_a_batch_of_events_draws_what_the_events_one_by_one_draw(recorded, batch):
    """The window takes the bridge's events in batches (feed_many): the readings and the
    points of a batch go in as arrays, and the result is the same as event by event."""
    one_by_one = live_model(recorded)
    batched = RunViewModel(speed=float("inf"))
    events = list(recorded.events)
    for i in range(0, len(events), batch):
        batched.feed_many(events[i:i + batch])
    for mode in ("overlay", "average"):
        one_by_one.dcs_plot.mode = batched.dcs_plot.mode = mode
        assert_curves_equal(batched.dcs_plot.curves(), one_by_one.dcs_plot.curves())
    assert_curves_equal(batched.dcs_plot.rate_curves(), one_by_one.dcs_plot.rate_curves())
    for trace in TRACES:
        for a, b in zip(batched.strip_chart.raw(trace), one_by_one.strip_chart.raw(trace)):
            np.testing.assert_array_equal(a, b)
    assert batched.log.records() == one_by_one.log.records()
    assert batched.run_control.state == one_by_one.run_control.state == "finished"
    assert batched.panel.meter == one_by_one.panel.meter
