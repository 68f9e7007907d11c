"""The small view-models: health lights, run control, log, panel meter, log records."""

import math

import pytest

from acquisition.events import (
    ApparatusStatus,
    ElectrodeReading,
    InstrumentHealth,
    Message,
    Monitor,
    Paused,
    PointFlag,
    Progress,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)
from gui.viewmodels import (
    HealthModel,
    LogModel,
    LogRecord,
    PanelModel,
    PointRecord,
    RunControlModel,
    RunViewModel,
    format_duration,
    log_record,
    log_records,
)

UTC = "2026-12-01T10:00:00.000000Z"


def start(planned=96):
    return RunStart(run_id="r1", utc=UTC, t=0.0, plan={}, plan_text="", apparatus={}, apparatus_text="",
                    snapshot={}, software_version="test", metadata={}, energies_eV=(100.0,),
                    angles_deg=(40.0, 50.0), sweeps=1, planned_points=planned)


# ------------------------------------------------------------------ health


def test_health_goes_ok_retrying_fault_ok_with_reasons_and_since():
    h = HealthModel(["gauges", "gun", "counter"])
    assert h.items() == [("gauges", "unknown", ""), ("gun", "unknown", ""), ("counter", "unknown", "")]
    assert h.worst() == "unknown"
    h.on_health(InstrumentHealth(1.0, "gauges", "ok"))
    assert h.state("gauges") == ("ok", "", 1.0)
    v = h.version
    h.on_health(InstrumentHealth(2.0, "gauges", "retrying", "timeout after 1 s"))
    assert h.version > v and h.state("gauges") == ("retrying", "timeout after 1 s", 2.0)
    assert h.worst() == "retrying"
    h.on_health(InstrumentHealth(3.0, "gauges", "retrying", "timeout after 1 s"))
    assert h.state("gauges")[2] == 2.0  # still the same trouble: since when it began
    h.on_health(InstrumentHealth(4.0, "gauges", "fault", "no reply after 5 retries"))
    assert h.state("gauges") == ("fault", "no reply after 5 retries", 4.0) and h.worst() == "fault"
    h.on_health(InstrumentHealth(9.0, "gauges", "ok"))
    assert h.state("gauges") == ("ok", "", 9.0)
    # an instrument not in the config appears on first mention, after the configured ones
    h.on_health(InstrumentHealth(10.0, "goniometer", "retrying", "busy"))
    assert [name for name, _, _ in h.items()] == ["gauges", "gun", "counter", "goniometer"]
    assert h.state("nothing") == ("unknown", "", None)
    for name in ("gun", "counter", "goniometer"):
        h.on_health(InstrumentHealth(11.0, name, "ok"))
    assert h.worst() == "ok"


# ------------------------------------------------------------------ run control


def buttons(rc):
    return {name for name in ("can_start", "can_pause", "can_resume", "can_abort") if getattr(rc, name)}


def test_run_control_buttons_through_a_run():
    rc = RunControlModel(speed=10.0)
    assert rc.state == "idle" and buttons(rc) == {"can_start"}
    rc.mark_requested("start")
    assert rc.state == "starting" and buttons(rc) == {"can_abort"}  # no double start
    rc.on_event(start())
    assert rc.state == "running" and buttons(rc) == {"can_pause", "can_abort"}
    rc.on_event(Progress(60.0, 12, 96, 600.0, 4200.0))
    assert rc.progress_text() == "12 / 96 points (12 %), 10 min 00 s elapsed"
    assert rc.eta_text() == "ETA 7 min 00 s (1 h 10 min beam time at x10)"
    rc.mark_requested("pause")
    assert rc.state == "pausing" and buttons(rc) == {"can_abort"}
    rc.on_event(Paused(70.0, UTC, "paused by operator"))
    assert rc.state == "paused" and buttons(rc) == {"can_resume", "can_abort"}
    rc.mark_requested("resume")
    assert rc.state == "resuming"
    rc.on_event(Resumed(80.0, UTC, "resumed by operator"))
    assert rc.state == "running" and rc.interlock_text() == "interlocks clear"
    rc.on_event(Suspended(90.0, UTC, "chamber pressure 2e-4 mbar above 1e-4", (0, 0, 3)))
    assert rc.state == "suspended" and buttons(rc) == {"can_abort"}
    assert rc.interlock_text() == "SUSPENDED: chamber pressure 2e-4 mbar above 1e-4"
    rc.on_event(Resumed(95.0, UTC, "recovered from: chamber pressure"))
    assert rc.state == "running" and rc.interlock_text() == "interlocks clear"
    rc.on_event(RunStop(100.0, UTC, "success", "plan complete", 96))
    assert rc.state == "finished" and buttons(rc) == {"can_start"}
    assert rc.last_stop == ("success", "plan complete") and rc.eta_text() == "ETA -"


def test_run_control_pause_requested_during_a_suspension_waits_for_it():
    rc = RunControlModel()
    rc.on_event(start())
    rc.on_event(Suspended(1.0, UTC, "beam low"))
    rc.mark_requested("pause")
    assert rc.state == "suspended"
    rc.on_event(Resumed(2.0, UTC, "recovered from: beam low"))
    assert rc.state == "pausing"  # the pause is still to come at the next boundary
    rc.mark_requested("abort")
    assert rc.state == "aborting" and buttons(rc) == set()
    rc.on_event(Paused(3.0, UTC, "paused by operator"))
    assert rc.state == "aborting"
    rc.on_event(RunStop(4.0, UTC, "aborted", "aborted by operator", 3))
    assert rc.state == "aborted" and buttons(rc) == {"can_start"} and rc.done == 3


def test_eta_text_by_clock_speed():
    rc = RunControlModel(speed=float("inf"))
    rc.on_event(start())
    rc.on_event(Progress(1.0, 1, 96, 30.0, 3725.0))
    assert rc.eta_text() == "ETA 1 h 02 min (beam time)"  # a virtual clock: wall time would say 0
    rc.speed = 1.0
    assert rc.eta_text() == "ETA 1 h 02 min"
    assert format_duration(65) == "1 min 05 s" and format_duration(math.nan) == "-"


def test_viewer_run_control_enables_nothing_and_follows_the_file_status():
    rc = RunControlModel(controllable=False)
    rc.on_file_status("running", 10, 96)
    assert rc.state == "running" and buttons(rc) == set() and rc.progress_text().startswith("10 / 96")
    rc.on_file_status("aborted", 12)
    assert rc.state == "aborted" and rc.total == 96


def test_a_refused_start_gives_start_back():
    rc = RunControlModel()
    rc.mark_requested("start")
    rc.start_failed()
    assert buttons(rc) == {"can_start"}
    with pytest.raises(ValueError):
        rc.mark_requested("explode")


# ------------------------------------------------------------------ log


def test_log_model_keeps_maxlen_and_counts_what_it_keeps():
    log = LogModel(maxlen=3)
    log.extend([LogRecord(UTC, "error", "a"), LogRecord(UTC, "info", "b")])
    log.add(LogRecord(UTC, "info", "c"))
    log.add(LogRecord(UTC, "warning", "d"))
    assert [r.text for r in log.records()] == ["b", "c", "d"]
    assert log.counts_by_level == {"info": 2, "warning": 1}
    assert log.added == 4 and log.version == 4


def test_log_lines_of_events_read_like_the_file_log():
    assert log_record(Message(1.0, UTC, "warning", "gauge retry 1")) == LogRecord(UTC, "warning", "gauge retry 1")
    susp = log_record(Suspended(1.0, UTC, "beam low", (0, 1, 2)))
    assert susp.level == "warning" and susp.text == "suspended: beam low at (sweep, energy_index, angle_index) = (0, 1, 2)"
    assert log_record(RunStop(1.0, UTC, "failed", "HV", 3)) == LogRecord(UTC, "error", "stop: failed: HV")
    assert log_record(InstrumentHealth(1.0, "gauges", "ok")) is None
    fault = log_record(InstrumentHealth(1.0, "gauges", "fault", "no reply"), utc=UTC)
    assert fault == LogRecord(UTC, "error", "gauges: fault: no reply")
    assert log_record(Progress(1.0, 1, 2, 1.0, 1.0)) is None
    assert "r1 started" in log_record(start()).text
    entries = [(1.0, UTC, "message", "warning: gauge retry 1"), (2.0, UTC, "suspended", "beam low"),
               (3.0, UTC, "stop", "aborted: by operator"), (4.0, UTC, "recovered", "after crash")]
    assert log_records(entries) == [LogRecord(UTC, "warning", "gauge retry 1"),
                                    LogRecord(UTC, "warning", "suspended: beam low"),
                                    LogRecord(UTC, "warning", "stop: aborted: by operator"),
                                    LogRecord(UTC, "warning", "recovered: after crash")]


# ------------------------------------------------------------------ panel


def point(rate, loss, flags=0):
    return PointRecord(0, 0, 100.0, 40.0, 1.0, 0.1, rate, 10.0, loss, 0.0, int(flags), 1)


def test_panel_meter_from_a_point():
    panel = PanelModel()
    assert panel.meter.fill == 0.0 and not panel.meter.saturated and panel.energy_eV is None
    panel.on_point(point(25_000.0, 0.01), linear_limit_cps=1e5, max_loss_fraction=0.1)
    m = panel.meter
    assert (m.rate_cps, m.loss, m.fill, m.saturated) == (25_000.0, 0.01, 0.25, False)
    assert panel.energy_eV == 100.0
    panel.on_point(point(150_000.0, 0.01), linear_limit_cps=1e5, max_loss_fraction=0.1)
    assert panel.meter.fill == 1.0 and panel.meter.saturated  # beyond the linear limit
    panel.on_point(point(50_000.0, 0.02, PointFlag.LOSS), 1e5, 0.1)
    assert panel.meter.fill == 0.5 and panel.meter.saturated  # the point's own verdict
    panel.on_point(point(50_000.0, 0.2), 1e5, 0.1)
    assert panel.meter.saturated  # the loss beyond the limit
    panel.on_point(point(math.nan, math.nan), 1e5, 0.1)
    assert panel.meter.fill == 0.0 and not panel.meter.saturated
    v = panel.version
    panel.on_monitor(Monitor(1.0, UTC, 1e-9, 1e-6, 0.5))
    assert panel.monitor.chamber_mbar == 1e-6 and panel.version > v
    status = ApparatusStatus(2.0, UTC, 50.0, 40.0, "READY", True, "needle", 2.2, 3.1, 2.2, True,
                             (ElectrodeReading("cone", "hv1", 100.0, 99.9, True),), "cone", 1e-9, 1e-6, 0.5)
    panel.on_status(status)
    assert panel.status is status and panel.energy_eV == 50.0


def test_panel_angle_follows_the_latest_of_status_and_points():
    """During a run the status is read only at each energy change: the angle the panel
    shows is the goniometer's readback of the latest point, unless a status is newer."""
    import dataclasses

    panel = PanelModel()
    status = ApparatusStatus(10.0, UTC, 50.0, 40.0, "READY", True, "needle", 2.2, 3.1, 2.2, True, (), "cem",
                             1e-9, 1e-6, 0.5)
    panel.on_status(status)
    assert panel.angle_deg == 40.0
    moved = dataclasses.replace(point(1e3, 0.0), angle_readback_deg=55.02, t_start=20.0)
    panel.on_point(moved, 1e5, 0.1)
    assert panel.angle_deg == 55.02
    older = dataclasses.replace(point(1e3, 0.0), angle_readback_deg=30.0, t_start=5.0)
    panel.on_point(older, 1e5, 0.1)  # a point older than what is shown (a file replayed): not shown
    assert panel.angle_deg == 55.02
    panel.on_status(dataclasses.replace(status, t=30.0, angle_deg=90.0))
    assert panel.angle_deg == 90.0


# ------------------------------------------------------------------ run view dispatch


def test_run_view_takes_detector_limits_and_instruments_from_the_run_start():
    vm = RunViewModel()
    s = start()
    s = RunStart(**{**s.__dict__, "apparatus": {"detector": {"linear_limit_cps": 2e4, "max_loss_fraction": 0.2},
                                                 "instruments": {"gun": {}, "gauges": {}}}})
    vm.feed(s)
    assert (vm.linear_limit_cps, vm.max_loss_fraction) == (2e4, 0.2)
    assert [n for n, _, _ in vm.health.items()] == ["gun", "gauges"]
    assert vm.dcs is vm.dcs_plot and vm.strip is vm.strip_chart and vm.control is vm.run_control
    v = vm.version
    vm.feed(Monitor(5.0, "2026-12-01T10:00:05.000000Z", 1e-9, 1e-6, 0.5))
    assert vm.version > v
    assert vm.strip_chart.raw("chamber_mbar")[0].tolist() == [5.0]  # seconds since the run start
    vm.feed(InstrumentHealth(6.0, "gauges", "fault", "no reply"))
    assert vm.health.worst() == "fault"
    assert vm.log.records()[-1] == LogRecord("2026-12-01T10:00:05.000000Z", "error", "gauges: fault: no reply")
