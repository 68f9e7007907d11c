"""How fast the window draws, and what it costs the engine to be watched.

Three figures, each against a baseline measured in the same run (offscreen Qt; a
frame is one model update, the widget's redraw and a full paint into a pixmap,
``QWidget.grab``, which is what a screen refresh costs the GUI thread):

1. **Live plot, 10,000 points** (6 energies x 21 angles x 80 sweeps): the
   relative-DCS widget (curves per energy and sweep, error bars, saturation and loss
   markers, flagged list, rates plot) with one point added per frame, with the sweeps
   overlaid (every point drawn) and averaged.  Baseline: the same 10,000 points as one bare
   pyqtgraph scatter curve, painted at the same size.  Target >= 30 frames/s.
2. **A night of strip chart** (12 h at 10 Hz: 432,000 samples per trace, four
   traces): the strip-chart widget with one sample added per frame.  Baseline:
   bare pyqtgraph curves given all 432,000 samples with pyqtgraph's own
   clip-to-view and auto-downsampling.  Target >= 10 frames/s.
3. **Engine per-point overhead** on the zero-latency fakes (bench/engine_overhead.py's
   plan, storage off), the run on a worker thread as in the session: alone, and with
   the main window subscribed to the bus and its event loop drawing.  Target ratio
   <= 1.2.

    python bench/gui_redraw.py [--frames 60] [--points 52000]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from acquisition.config import load_apparatus  # noqa: E402
from acquisition.events import EventBus, PointFlag  # noqa: E402
from gui.viewmodels.dcs_plot import DcsPlotModel  # noqa: E402
from gui.viewmodels.records import PointRecord  # noqa: E402
from gui.viewmodels.strip_chart import StripChartModel  # noqa: E402

SIZE = (1100, 700)


def frames_per_s(step, frames: int) -> float:
    step(0)  # the first frame builds the items: not what a running night costs
    t0 = time.perf_counter()
    for i in range(1, frames + 1):
        step(i)
    return frames / (time.perf_counter() - t0)


def records(n: int, seed: int = 1) -> list[PointRecord]:
    """A long run: 6 energies x 21 angles, as many sweeps as n needs, some saturated."""
    rng = np.random.default_rng(seed)
    energies = [50.0, 100.0, 150.0, 200.0, 250.0, 300.0]
    angles = np.arange(25.0, 126.0, 5.0)
    out = []
    seq = 0
    while len(out) < n:
        sweep = seq // (len(energies) * len(angles))
        for e in energies:
            for a in angles:
                if len(out) >= n:
                    break
                y = 1e3 * np.exp(-a / 30.0) * (100.0 / e) * (1 + 0.03 * rng.standard_normal())
                loss = 0.12 if (e == 50.0 and a < 36) else 0.06 if a < 40 else 0.01
                flags = int(PointFlag.LOSS) if loss > 0.1 else 0
                out.append(PointRecord(seq, sweep, e, float(a), y, 0.03 * y, 5e4 * loss, 2e3, loss, 0.001, flags, 1))
                seq += 1
    return out


def live_plot(frames: int, n: int, mode: str = "overlay") -> tuple[float, float]:
    from gui.widgets.dcs_plot import DcsPlotWidget

    data = records(n + frames + 1)
    model = DcsPlotModel()
    model.mode = mode
    model.add(data[:n])
    widget = DcsPlotWidget(model)
    widget.resize(*SIZE)
    widget.show()

    def step(i: int) -> None:
        model.add([data[n + i]])
        widget.redraw()
        widget.grab()

    ours = frames_per_s(step, frames)
    widget.close()

    plot = pg.PlotWidget()
    plot.resize(*SIZE)
    plot.show()
    curve = plot.plot(symbol="o", pen=None, symbolSize=7)
    x = np.array([r.angle_deg for r in data])
    y = np.log10([r.rel_dcs for r in data])

    def bare(i: int) -> None:
        curve.setData(x[: n + i], y[: n + i])
        plot.grab()

    base = frames_per_s(bare, frames)
    plot.close()
    return ours, base


def strip_chart(frames: int) -> tuple[float, float]:
    from gui.widgets.strip_charts import StripCharts

    n = 12 * 3600 * 10
    t = np.arange(n + frames + 1, dtype=float) / 10.0
    rng = np.random.default_rng(2)
    beam = 1e-7 * (1 + 0.01 * rng.standard_normal(t.size))
    chamber = 2e-6 * (1 + 0.05 * rng.standard_normal(t.size))
    chamber[n // 3] = 5e-4  # one burst: a downsampled view must still show it
    needle = 0.3 * (1 + 0.01 * rng.standard_normal(t.size))
    rate = 3e4 * (1 + 0.05 * rng.standard_normal(t.size))
    model = StripChartModel()
    model.add_monitors(t[:n], beam[:n], chamber[:n], needle[:n])
    model.add_rates(t[:n:100], rate[:n:100])
    widget = StripCharts()
    widget.set_window("all")
    widget.resize(*SIZE)
    widget.show()

    def step(i: int) -> None:
        j = n + i
        model.add_monitor(t[j], beam[j], chamber[j], needle[j])
        widget.redraw(model)
        widget.grab()

    ours = frames_per_s(step, frames)
    widget.close()

    # pyqtgraph's own way: every sample handed over, clip-to-view and auto-downsampling on
    layout = pg.GraphicsLayoutWidget()
    layout.resize(*SIZE)
    layout.show()
    curves = []
    for row, series in enumerate((np.log10(chamber), beam * 1e9, needle, rate)):
        p = layout.addPlot(row=row, col=0)
        p.setClipToView(True)
        p.setDownsampling(auto=True, mode="peak")
        curves.append((p.plot(), series))

    def bare(i: int) -> None:
        for curve, series in curves:
            curve.setData(t[: n + i], series[: n + i])
        layout.grab()

    base = frames_per_s(bare, frames)
    layout.close()
    return ours, base


def engine(points: int, with_window: bool, app: QApplication) -> float:
    """us per point of the engine on the fakes, run on a worker thread."""
    from engine_overhead import PLAN

    from acquisition.fakes import FakeApparatus
    from acquisition.plans import parse_plan
    from acquisition.procedures import DcsScan
    from acquisition.runner import Runner
    from foundation.clock import VirtualClock

    config = load_apparatus(ROOT / "examples" / "apparatus_lab.toml")
    # engine_overhead's plan, with as many sweeps as the points need (26 energies x 100 angles each):
    # the run must last seconds, so that the window's redraw pacing is what is measured
    energies = [50 + 10 * i for i in range(26)]
    text = PLAN.format(energies=energies).replace("sweeps = 2", f"sweeps = {max(1, round(points / 2600))}")
    plan = parse_plan(text, source="<bench>", apparatus=config)
    clock = VirtualClock()
    bus = EventBus()
    window = None
    if with_window:
        from gui.window import MainWindow

        settings = QSettings(str(Path(os.environ.get("TMPDIR", "/tmp")) / "xbeam-bench-gui.ini"), QSettings.IniFormat)
        window = MainWindow(config=config, clock=clock, settings=settings)
        window.resize(1680, 1020)
        window.show()
        window.bridge.subscribe(bus)
    runner = Runner(FakeApparatus(config, clock), DcsScan(plan, config), bus=bus, clock=clock, snapshot=False)
    result = {}

    def work() -> None:
        t0 = time.perf_counter()
        stop = runner.run()
        result["per_point"] = (time.perf_counter() - t0) / stop.points_done

    thread = threading.Thread(target=work, name="xbeam-apparatus_0")
    thread.start()
    timer = QTimer()
    timer.timeout.connect(lambda: None if thread.is_alive() else app.quit())
    timer.start(5)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    app.exec()
    result["gui_share"] = (time.thread_time() - cpu0) / (time.perf_counter() - wall0)
    thread.join()
    timer.stop()
    if window is not None:
        result["interval_s"] = window.pacer.interval_s
        window.close()
    engine.last = result
    return result["per_point"] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--points", type=int, default=52000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    for mode in ("overlay", "average"):
        ours, base = live_plot(args.frames, 10_000, mode)
        print(f"live plot, 10,000 points, {mode:7s}: {ours:6.1f} frames/s   bare pyqtgraph scatter {base:6.1f} "
              f"frames/s   ratio {ours / base:.2f}   (target >= 30 frames/s)")
    ours, base = strip_chart(max(10, args.frames // 3))
    print(f"strip chart, 12 h at 10 Hz:    {ours:6.1f} frames/s   pyqtgraph clip+downsample {base:6.1f} frames/s   "
          f"ratio {ours / base:.2f}   (target >= 10 frames/s)")
    alone = min(engine(args.points, False, app) for _ in range(args.repeat))
    watched = min(engine(args.points, True, app) for _ in range(args.repeat))
    print(f"engine per point, {args.points} points:  alone {alone:6.1f} us   window subscribed and drawing "
          f"{watched:6.1f} us   ratio {watched / alone:.2f}   (target <= 1.2)")
    last = engine.last
    print(f"  (last watched run: the GUI thread used {100 * last['gui_share']:.0f} % of a processor; "
          f"redraw period at the end {1000 * last['interval_s']:.0f} ms)")


if __name__ == "__main__":
    main()
