"""Screenshots of the real window for the docs: docs/screenshots/main_window.png (a scan
with saturated points on the live plot), docs/screenshots/instrument_panel.png and
docs/screenshots/queue_panel.png (an overnight queue run in the window, its second plan
going).

Runs offscreen on the simulated apparatus in this process (virtual clock: seconds of
wall time), through the window's own buttons and view-models:

    python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: forward angles at 50 and 100 eV are beyond the channeltron's linear limit on the
#: simulated apparatus: the plot shows the saturation marks
PLAN = """
[metadata]
sample = "isoflurane"
operator = "screenshots"
[scan]
gas = "isoflurane"
energies_eV = [50, 100, 200, 300]
angles_deg = { start = 20, stop = 130, step = 5 }
sweeps = 2
order = "energy-major"
alternate_angles = true
[counting]
dwell_s = 60.0
background_dwell_s = 30.0
subgate_s = 5.0
[background]
mode = "every"
[settle]
energy_s = 10.0
angle_s = 2.0
gas_s = 5.0
"""


#: the queue screenshot's plans: (sample, energies, angles)
QUEUE_PLANS = (("isoflurane-A", "[100, 150]", "{ start = 30, stop = 120, step = 10 }"),
               ("isoflurane-B", "[200, 250, 300]", "{ start = 30, stop = 120, step = 10 }"),
               ("isoflurane-C", "[50, 100]", "[40, 60, 90, 120]"))


def queue_plan(sample: str, energies: str, angles: str) -> str:
    return (PLAN.replace('sample = "isoflurane"', f'sample = "{sample}"')
            .replace("energies_eV = [50, 100, 200, 300]", f"energies_eV = {energies}")
            .replace("angles_deg = { start = 20, stop = 130, step = 5 }", f"angles_deg = {angles}")
            .replace("sweeps = 2", "sweeps = 1"))


def queue_screenshot(app, window, tmp: Path, out: Path) -> None:
    """A queue of three plans and two instructions run in the window; the picture is
    taken while the second plan is halfway (done, running and pending items)."""
    from acquisition.events import Point, RunStart

    paths = []
    for sample, energies, angles in QUEUE_PLANS:
        path = tmp / f"{sample}.toml"
        path.write_text(queue_plan(sample, energies, angles))
        paths.append(path)
    window.open_queue(tmp / "overnight.sqlite")
    panel = window.queue_panel
    panel.add_plan(str(paths[0]))
    panel.add_instruction("pause-for-operator", "change the gas bottle")
    panel.add_plan(str(paths[1]))
    panel.add_plan(str(paths[2]))
    panel.add_instruction("safe-state", "shutdown")
    held, release = threading.Event(), threading.Event()
    runs, points = [], []

    def hold(event):  # the second plan is held halfway; the pause for the operator goes on at once
        if isinstance(event, RunStart):
            runs.append(event.run_id)
            points.clear()
        elif isinstance(event, Point) and len(runs) == 2:
            points.append(event.seq)
            if len(points) == 15:
                held.set()
                release.wait(60)

    undo = window.session.bus.subscribe(hold)
    window.run_queue()
    spin(app, lambda: window.queue_model.waiting_for_operator or held.is_set())
    window.queue_controller.continue_()
    spin(app, held.is_set)
    spin(app, lambda: window.vm.dcs.n_points >= 15)
    window.poll_queue()
    panel.select(window.queue_model.items[3].id)  # the next plan, as to be moved or edited
    window.queue_dock.setFloating(True)
    window.queue_dock.resize(1500, 430)
    for _ in range(10):
        window.redraw()
        app.processEvents()
    panel.grab().save(str(out / "queue_panel.png"))
    window.queue_controller.interrupt("screenshots taken")
    release.set()
    spin(app, lambda: not window.queue_running)
    undo()
    window.queue_dock.setFloating(False)


def pressure_dialog_screenshot(app, window, sim, out: Path) -> None:
    """The window's operator dialog as an RFM run shows it: the argon line asked for
    0.40 mbar, the simulated line reading a little below it (outside the tolerance)."""
    from acquisition.operator import PressureRequest

    operator = window.session.operator  # the window's DialogOperator (the session had none)
    request = PressureRequest("reference", "argon", 0.3978, 0.02, why="equal mean free paths of 0.18 mm")
    asked = threading.Thread(target=lambda: _ignore_declined(operator, request, sim), daemon=True)
    asked.start()
    spin(app, lambda: operator.dialog is not None and "mbar (" in operator.dialog.reading.text())
    for _ in range(5):
        app.processEvents()
    operator.dialog.grab().save(str(out / "pressure_dialog.png"))
    operator.dialog.stop_button.click()
    asked.join(10)


def _ignore_declined(operator, request, sim) -> None:
    from acquisition.operator import OperatorDeclined

    try:
        operator.set_line_pressure(request, lambda: 0.97 * sim.world.line_pressure_mbar("reference"))
    except OperatorDeclined:
        pass


def spin(app, until, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit("screenshots: timed out waiting for the window")
        app.processEvents()
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["xbeam-screenshots"])
    from acquisition.cli import dry_run_estimate
    from acquisition.config import parse_apparatus
    from acquisition.events import Point
    from acquisition.session import Session
    from foundation.clock import VirtualClock
    from gui.window import MainWindow
    from simulators.apparatus import SimulatedApparatus
    from simulators.world import WorldConfig

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plan_path = tmp / "isoflurane_forward.toml"
        plan_path.write_text(PLAN)
        settings = QSettings(str(tmp / "gui.ini"), QSettings.IniFormat)
        clock = VirtualClock()
        with SimulatedApparatus(clock, WorldConfig(seed=7)) as sim:
            config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
            with Session.connect(config, clock, monitor_interval_s=0.05) as session:
                window = MainWindow(session=session, dry_run=lambda p: dry_run_estimate(p, seed=7),
                                    output=tmp / "20260114T2130Z_isoflurane.h5", settings=settings)
                window.resize(1920, 1140)
                window.show()
                spin(app, lambda: window.vm.panel.status is not None)
                window.load_plan(str(plan_path))
                spin(app, lambda: window.estimate is not None)
                held, release = threading.Event(), threading.Event()
                seen = []

                def hold(event):  # keeps the worker at point 150 until Pause is pressed
                    if isinstance(event, Point):
                        seen.append(event.seq)
                        if len(seen) == 150:
                            held.set()
                            release.wait(60)

                session.bus.subscribe(hold)
                window.scan.start.click()
                spin(app, held.is_set)
                spin(app, lambda: window.vm.dcs.n_points >= 150)
                window.scan.pause.click()
                release.set()
                spin(app, lambda: window.vm.control.state == "paused")
                # the operator clicked the worst point: its numbers and flags under the plot
                flagged = window.vm.dcs.flagged()
                if flagged:
                    worst = max(flagged, key=lambda r: r.signal_rate_cps)
                    window.plot.show_point(worst.energy_eV, worst.angle_deg, sticky=True)
                    window.plot.flag_list.setCurrentRow(0)
                window.strips.set_window("all")
                for _ in range(10):
                    window.redraw()
                    app.processEvents()
                window.grab().save(str(out / "main_window.png"))
                # the panel between runs: every readback live again
                window.scan.abort.click()
                spin(app, lambda: window.handle.done() and window.vm.control.state == "aborted")
                status = window.vm.panel.status
                spin(app, lambda: window.vm.panel.status is not status)
                for _ in range(5):
                    window.redraw()
                    app.processEvents()
                window.panel.widget().grab().save(str(out / "instrument_panel.png"))
                queue_screenshot(app, window, tmp, out)
                pressure_dialog_screenshot(app, window, sim, out)
                window.close()
    print(f"screenshots: {out / 'main_window.png'}, {out / 'instrument_panel.png'}, {out / 'queue_panel.png'}, "
          f"{out / 'pressure_dialog.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
