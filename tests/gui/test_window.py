"""The main window on the simulated apparatus, driven as an operator drives it: by its
buttons and entries (pytest-qt), with the session's threads underneath.

Nothing here waits on wall-clock time: every wait is for a state (qtbot.waitUntil)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import LONG_PLAN, SHORT_PLAN

REPO = Path(__file__).resolve().parents[2]


def click(qtbot, button):
    assert button.isEnabled(), f"{button.objectName() or button.text()} is disabled"
    qtbot.mouseClick(button, Qt.LeftButton)


def wait_state(qtbot, window, *states, timeout=30000):
    qtbot.waitUntil(lambda: window.vm.control.state in states, timeout=timeout)


def test_window_opens_on_the_simulated_apparatus(qtbot, window, session):
    # a light per instrument of the apparatus file, all green once the first status is read
    assert set(window.panel.lights) == set(session.config.instruments)
    qtbot.waitUntil(lambda: window.vm.panel.status is not None, timeout=10000)
    qtbot.waitUntil(lambda: all(light.state == "ok" for light in window.panel.lights.values()), timeout=10000)
    # the panel shows the status: pressures in scientific notation, the beam in nA
    qtbot.waitUntil(lambda: "mbar" in window.panel.chamber.text() and "e-" in window.panel.chamber.text())
    assert window.panel.beam.text().endswith("nA")
    assert all(label.text() != "—" for label in window.panel.readbacks.values())
    # the entries' ranges are the apparatus file's limits
    cfg = session.config
    assert window.panel.angle.minimum() == cfg.instruments["goniometer"].options["min_angle_deg"]
    assert window.panel.angle.maximum() == cfg.instruments["goniometer"].options["max_angle_deg"]
    assert window.panel.energy.minimum() == min(cfg.tune.energies_eV)
    assert window.panel.filament.maximum() == cfg.instruments["filament"].options["max_current_A"]
    e = cfg.electrodes["anode"]
    assert (window.panel.setpoints["anode"].minimum(), window.panel.setpoints["anode"].maximum()) == (e.min_V, e.max_V)
    # no plan: Start disabled; no run: Pause/Resume/Abort disabled
    assert not any(b.isEnabled() for b in (window.scan.start, window.scan.pause, window.scan.resume, window.scan.abort))
    ticks = window.ticks
    qtbot.waitUntil(lambda: window.ticks > ticks + 2)


def test_short_plan_runs_from_the_start_button_to_completion(qtbot, window, plan_file, tmp_path):
    assert window.load_plan(str(plan_file()))
    qtbot.waitUntil(window.scan.start.isEnabled)
    click(qtbot, window.scan.start)
    wait_state(qtbot, window, "finished")
    assert window.last_stop.status == "success"
    qtbot.waitUntil(lambda: window.scan.start.isEnabled() and not window.scan.abort.isEnabled())
    assert "run.h5" in window.scan.file_label.text()
    # the plot holds every measured point, one curve for the one energy
    dcs = window.vm.dcs
    qtbot.waitUntil(lambda: dcs.n_points == 4)
    window.redraw()
    curves = list(window.plot._curves.values())
    assert len(curves) == 1
    x, y = curves[0][0].getData()
    assert sorted(x.tolist()) == [25.0, 30.0, 60.0, 90.0]
    assert np.all(np.isfinite(y))
    # the saturated points (50 eV, 25 and 30 deg: beyond the linear limit) carry the red cross
    sat_x, _ = window.plot.saturated_marks.getData()
    assert sorted(sat_x.tolist()) == [25.0, 30.0]
    assert window.plot.saturated_marks.opts["symbol"] == "x"
    legend = [label.text for _, label in window.plot.legend.items]
    assert "saturated" in legend and "50 eV" in legend and any("loss" in t for t in legend)
    assert window.plot.flag_list.count() == 2 and "RATE" in window.plot.flag_list.item(0).text()
    assert "SATURATED" in window.plot.summary.text()
    # the run file is what the session wrote
    from acquisition.storage import read_run

    assert read_run(tmp_path / "run.h5").n_points == 4
    # hovering a point tells its numbers and flags
    text = window.plot.show_point(50.0, 25.0)
    assert "RATE" in text and "50 eV" in text


def test_hover_over_a_saturated_point_shows_its_flags(qtbot, window, plan_file):
    window.load_plan(str(plan_file()))
    click(qtbot, window.scan.start)
    wait_state(qtbot, window, "finished")
    window.redraw()
    item = window.plot.dcs_item
    item.vb.autoRange()  # the view range is settled (pyqtgraph ranges lazily, at paint)
    QApplication.processEvents()
    (x, y) = window.plot._points[np.argmin(window.plot._points[:, 0])]  # 25 deg
    scene = item.vb.mapViewToScene(QPointF(float(x), float(y)))
    window.plot._hover(scene)
    assert "RATE" in window.plot.info.text() and "25°" in window.plot.info.text()


def test_pause_resume_and_abort_from_their_buttons(qtbot, window, plan_file, hold):
    window.load_plan(str(plan_file(LONG_PLAN)))
    click(qtbot, window.scan.start)
    assert hold.first.wait(30)  # the worker is inside the first point's emit
    qtbot.waitUntil(window.scan.pause.isEnabled)
    click(qtbot, window.scan.pause)
    hold.release.set()
    wait_state(qtbot, window, "paused")
    window.redraw()
    assert window.scan.resume.isEnabled() and window.scan.abort.isEnabled() and not window.scan.pause.isEnabled()
    assert "PAUSED" in window.banner.text()
    assert window.vm.dcs.n_points == 1  # the pause took effect at the point boundary
    # paused: the manual controls stay disabled (the run owns the apparatus), the urgent ones not
    window.redraw()
    assert not window.panel.energy.isEnabled() and window.panel.stop.isEnabled() and window.panel.cem_off.isEnabled()
    click(qtbot, window.scan.resume)
    qtbot.waitUntil(lambda: window.vm.dcs.n_points >= 3, timeout=30000)
    click(qtbot, window.scan.abort)
    wait_state(qtbot, window, "aborted")
    qtbot.waitUntil(lambda: window.handle.done())
    assert window.last_stop.status == "aborted"
    assert 3 <= window.last_stop.points_done < window.vm.control.total
    qtbot.waitUntil(lambda: window.exit_code == 4)
    window.redraw()
    assert window.panel.energy.isEnabled()  # the apparatus is the operator's again


def test_setting_an_energy_by_hand_changes_the_electrode_readbacks(qtbot, window, session):
    qtbot.waitUntil(lambda: window.vm.panel.status is not None, timeout=10000)
    target = session.config.tune.potentials_at(150.0)
    name = max((n for n in target if n in window.panel.readbacks), key=lambda n: abs(target[n]))
    spin = window.panel.energy
    before = window.panel.readbacks[name].text()
    assert before != f"{target[name]:.1f} V"
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "150")
    assert spin.pending  # typed, not applied: shown as such
    assert window.vm.panel.energy_eV is None  # nothing was sent
    qtbot.keyClick(spin, Qt.Key_Return)
    qtbot.waitUntil(lambda: window.panel.readbacks[name].text() == f"{target[name]:.1f} V", timeout=30000)
    qtbot.waitUntil(lambda: window.vm.panel.energy_eV == pytest.approx(150.0))
    assert "150.0 eV" in window.panel.energy_readback.text()
    assert not spin.pending


def test_setpoint_entries_ignore_the_wheel_unless_focused(qtbot, window):
    spin = window.panel.setpoints["anode"]
    assert spin.focusPolicy() == Qt.StrongFocus and not spin.keyboardTracking()
    window.panel.energy.setFocus()
    qtbot.waitUntil(lambda: not spin.hasFocus())
    applied = []
    spin.applied.connect(applied.append)
    value = spin.value()
    wheel = QWheelEvent(QPointF(5, 5), QPointF(spin.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, 120),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(spin, wheel)
    assert spin.value() == value and not applied
    # focused, the wheel steps the value, but nothing is applied before Enter
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    QApplication.sendEvent(spin, wheel)
    assert spin.value() != value and spin.pending and not applied
    qtbot.keyClick(spin, Qt.Key_Escape)
    assert spin.value() == value and not spin.pending


def test_a_silent_instrument_shows_faulted_the_loop_keeps_turning_and_abort_ends_the_run(qtbot, window, session,
                                                                                         plan_file, hold):
    window.load_plan(str(plan_file(LONG_PLAN)))
    click(qtbot, window.scan.start)
    assert hold.first.wait(30)
    session.sim.servers["gauges"].faults.inject("silence", count=100000)  # the gauge controller stops answering
    hold.release.set()
    ticks = window.ticks
    light = window.panel.lights["gauges"]
    qtbot.waitUntil(lambda: light.state == "fault", timeout=30000)
    assert light.reason and light.reason in light.toolTip() and "FAULT" in light.label.text()
    assert "INSTRUMENT FAULT" in window.banner.text() and "gauges" in window.banner.text()
    # the GUI thread never waited on the silent instrument: the redraw timer kept ticking
    # (waited for, not asserted at once: how many ticks pass in a second is wall time, and
    # the redraw pacer stretches the period on a loaded machine; liveness is what counts)
    qtbot.waitUntil(lambda: window.ticks > ticks + 10, timeout=60000)
    qtbot.waitUntil(window.scan.abort.isEnabled)
    click(qtbot, window.scan.abort)
    wait_state(qtbot, window, "aborted", timeout=30000)
    qtbot.waitUntil(lambda: window.handle.done(), timeout=30000)
    assert window.last_stop.status == "aborted"
    session.sim.servers["gauges"].faults.clear()


def test_a_plan_with_mistakes_lists_every_issue_and_cannot_start(qtbot, window, plan_file):
    bad = SHORT_PLAN.replace("energies_eV = [50]", "energies_eV = [5000]").replace("dwell_s = 10.0", "dwell_s = -1")
    assert not window.load_plan(str(plan_file(bad, "bad.toml")))
    table = window.scan.issues
    assert table.isVisible() and table.rowCount() >= 2
    rows = [[table.item(r, c).text() for c in range(4)] for r in range(table.rowCount())]
    assert all(row[0].endswith("bad.toml") for row in rows)
    keys = {row[1] for row in rows}
    assert any("energies_eV" in k for k in keys) and any("dwell_s" in k for k in keys)
    assert all(row[3] for row in rows)  # what is allowed, for every issue
    window.redraw()
    assert not window.scan.start.isEnabled()


def test_the_dry_run_estimate_is_computed_off_the_gui_thread(qtbot, window, plan_file):
    import threading
    from dataclasses import dataclass

    @dataclass
    class Estimate:
        duration_s: float
        points: int
        file_mb: float
        flagged: dict

    release, threads = threading.Event(), []

    def dry_run(path):
        threads.append(threading.current_thread())
        release.wait(30)
        return Estimate(3 * 3600 + 60, 4, 1.25, {(50.0, 25.0): "RATE", (50.0, 30.0): "RATE"})

    window.dry_run = dry_run
    window.load_plan(str(plan_file()))
    assert "estimating" in window.scan.estimate.text()
    ticks = window.ticks
    qtbot.waitUntil(lambda: window.ticks > ticks + 3)  # the GUI turns while the estimate runs
    release.set()
    qtbot.waitUntil(lambda: "3h01m" in window.scan.estimate.text())
    text = window.scan.estimate.text()
    assert "4 points" in text and "1.2 MB" in text and "2 cells" in text and "50 eV 25°: RATE" in text
    assert threads and threads[0] is not threading.main_thread()


def test_run_gui_starts_the_plan_and_quits_when_done_with_the_cli_exit_code(qtbot, session, plan_file, tmp_path):
    from gui.app import run_gui

    code = run_gui(session=session, plan_path=str(plan_file()), start=True, output=tmp_path / "gui.h5",
                   quit_when_done=True)
    assert code == 0
    from acquisition.storage import read_run

    run = read_run(tmp_path / "gui.h5")
    assert run.status == "success" and run.n_points == 4
    # a plan with mistakes and --start: refused, exit code 2, nothing written
    bad = plan_file(SHORT_PLAN.replace("[50]", "[5000]"), "bad.toml")
    assert run_gui(session=session, plan_path=str(bad), start=True, output=tmp_path / "bad.h5",
                   quit_when_done=True) == 2
    assert not (tmp_path / "bad.h5").exists()


def _cli_run(plan: Path, out: Path, time_scale: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "acquisition.cli", "run", str(plan), "--sim", "--time-scale",
                             str(time_scale), "-o", str(out), "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_the_viewer_follows_a_file_another_process_is_writing(qtbot, settings, plan_file, tmp_path):
    from gui.window import MainWindow

    plan = plan_file(SHORT_PLAN.replace("angles_deg = [25, 30, 60, 90]",
                                        "angles_deg = [25, 30, 40, 50, 60, 70, 80, 90]"))
    out = tmp_path / "followed.h5"
    proc = _cli_run(plan, out, time_scale=40)
    try:
        qtbot.waitUntil(lambda: out.exists() or proc.poll() is not None, timeout=30000)
        assert out.exists(), proc.communicate()[0].decode()
        viewer = MainWindow(view_path=str(out), settings=settings)
        qtbot.addWidget(viewer)
        viewer.follow_timer.setInterval(100)
        viewer.show()
        assert viewer.follower is not None and "read-only" in viewer.windowTitle()
        assert viewer.panel is None and not viewer.scan.start.isEnabled()  # a file: nothing to steer
        seen = set()

        def progressed():
            seen.add(viewer.vm.dcs.n_points)
            return viewer.vm.dcs.n_points == 8 and proc.poll() is not None

        qtbot.waitUntil(progressed, timeout=60000)
        assert proc.returncode == 0, proc.communicate()[0].decode()
        assert any(0 < n < 8 for n in seen), seen  # points appeared while the other process wrote
        qtbot.waitUntil(lambda: viewer.vm.control.state == "finished", timeout=10000)
        viewer.redraw()
        sat_x, _ = viewer.plot.saturated_marks.getData()
        assert sorted(sat_x.tolist()) == [25.0, 30.0]  # the file's flags, drawn as the live ones
        viewer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_crashed_file_opens_read_only(qtbot, settings, tmp_path):
    import shutil

    from gui.window import MainWindow

    crashed = tmp_path / "crashed.h5"
    shutil.copy(REPO / "tests" / "data" / "v1_crashed.h5", crashed)
    before = crashed.read_bytes()
    viewer = MainWindow(view_path=str(crashed), settings=settings)
    qtbot.addWidget(viewer)
    assert viewer.follower is not None
    qtbot.waitUntil(lambda: viewer.vm.dcs.n_points > 0)
    viewer.close()
    assert crashed.read_bytes() == before  # opened, read, never written (no recovery here)


def test_a_live_window_opens_a_run_file_in_a_viewer_beside_it(qtbot, window, tmp_path):
    import shutil

    path = tmp_path / "finished.h5"
    shutil.copy(REPO / "tests" / "data" / "v1_finished.h5", path)
    viewer = window.open_run(str(path))
    assert viewer is not None and viewer is not window and viewer.follower is not None
    qtbot.waitUntil(lambda: viewer.vm.dcs.n_points > 0)
    assert window.vm.dcs.n_points == 0  # the live view is untouched
    assert str(path) in window._recent_runs()
    viewer.close()


def test_a_curve_without_a_finite_point_is_drawn_as_nothing(qtbot):
    """A sweep whose only point has a net rate below zero (background above signal: it
    happens at a weak angle) has nothing to draw on a log axis: nothing is drawn, and the
    redraw does not fail."""
    from gui.viewmodels.dcs_plot import DcsPlotModel
    from gui.viewmodels.records import PointRecord
    from gui.widgets.dcs_plot import DcsPlotWidget

    model = DcsPlotModel()
    model.add([PointRecord(0, 0, 100.0, 40.0, -0.5, 0.1, 1e3, 1.2e3, 0.0, 0.0, 0, 1),
               PointRecord(1, 1, 100.0, 40.0, 2.0, 0.1, 1e3, 50.0, 0.0, 0.0, 0, 1)])
    widget = DcsPlotWidget(model)
    qtbot.addWidget(widget)
    widget.redraw()
    assert len(widget._points) == 1


def test_resume_after_a_device_fault_pause_goes_on_and_the_light_turns_green(qtbot, window, session, plan_file, hold):
    """The gauge controller stops answering: retries, then the run pauses with the reason
    and the light is red. Once it answers again, Resume (the button) measures the
    interrupted point again, the light goes back to green and the run completes."""
    window.load_plan(str(plan_file()))
    click(qtbot, window.scan.start)
    assert hold.first.wait(30)
    gauges = session.sim.servers["gauges"]
    gauges.faults.inject("silence", count=100000)
    hold.release.set()
    light = window.panel.lights["gauges"]
    qtbot.waitUntil(lambda: light.state == "fault", timeout=30000)
    wait_state(qtbot, window, "paused", timeout=30000)
    assert "device fault" in (window.vm.control.paused_reason or "")
    gauges.faults.clear()
    qtbot.waitUntil(window.scan.resume.isEnabled)
    click(qtbot, window.scan.resume)
    qtbot.waitUntil(lambda: window.handle.done(), timeout=60000)
    assert window.last_stop.status == "success"
    qtbot.waitUntil(lambda: light.state == "ok", timeout=10000)
    assert window.vm.dcs.n_points == 4  # every point of the plan, the interrupted one once


def test_layout_plot_options_and_recent_runs_are_remembered(qtbot, session, settings, tmp_path):
    """Closing the window keeps its layout (docks), the sweep mode, the strip-chart window
    and the run files opened; the next window opens with them.  (The offscreen screen
    clamps a restored size, so the size itself is not compared.)"""
    from gui.window import MainWindow

    first = MainWindow(session=session, settings=settings)
    qtbot.addWidget(first)
    first.show()
    first.log_dock.hide()
    first.plot.set_mode("average")
    first.strips.set_window("1 h")
    first._remember_run(str(tmp_path / "night.h5"))
    first.close()

    second = MainWindow(session=session, settings=settings)
    qtbot.addWidget(second)
    second.show()
    assert second.vm.dcs.mode == "average" and second.plot.average.isChecked()
    assert second.strips.window_box.currentText() == "1 h"
    assert second.log_dock.isHidden() and not second.scan_dock.isHidden()
    assert not settings.value("window/geometry").isEmpty()
    assert [a.text() for a in second.recent_menu.actions()][:1] == [str(tmp_path / "night.h5")]
    second.close()
