"""Strip charts: pressures (log), beam current and the channeltron rate against time.

The view asks the :class:`~gui.viewmodels.strip_chart.StripChartModel` for the visible
time range at no more points than the plot is wide (the model clips and keeps the
min/max envelope, so a one-sample pressure burst in a night of readings still shows).
The time axis counts minutes (or hours) since the first reading.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.widgets.plotting import LogAxis, log10, style_plot

__all__ = ["StripCharts", "TimeAxis", "WINDOWS"]

#: the time-window choices: label -> seconds (None: everything kept)
CHAMBER, NEEDLE, BEAM, RATE = "#1f4e9c", "#b0308a", "#1d7a2e", "#444444"

WINDOWS: dict[str, float | None] = {"10 min": 600.0, "1 h": 3600.0, "12 h": 43200.0, "all": None}


#: tick steps the time axis chooses from (seconds): round minutes and hours
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)


class TimeAxis(pg.AxisItem):
    """Seconds since the start, labelled in minutes below two hours and in hours above,
    at round steps (1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h…)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unit = ""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 - pyqtgraph's names
        span = maxVal - minVal
        if not span > 0:
            return super().tickSpacing(minVal, maxVal, size)
        wanted = max(2.0, size / 90.0)  # a label every ~90 px
        step = next((s for s in _STEPS if span / s <= wanted), _STEPS[-1] * math.ceil(span / _STEPS[-1] / wanted))
        minor = next((s for s in reversed(_STEPS) if s < step and step % s == 0 and step / s <= 6), step / 5)
        return [(float(step), 0.0), (float(minor), 0.0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        lo, hi = self.range
        hours = (hi - lo) > 2 * 3600
        unit = "h" if hours else "min"
        if unit != self.unit:
            self.unit = unit
            self.setLabel(f"time since start ({unit})")
        div = 3600.0 if hours else 60.0
        step = spacing / div
        digits = 0
        while digits < 3 and abs(step * 10 ** digits - round(step * 10 ** digits)) > 1e-6:
            digits += 1
        return [f"{v / div:.{digits}f}" for v in values]


def _plot(y_label: str, log_y: bool = False) -> pg.PlotWidget:
    axes = {"bottom": TimeAxis(orientation="bottom")}
    if log_y:
        axes["left"] = LogAxis(orientation="left")
    plot = pg.PlotWidget(axisItems=axes)
    item = style_plot(plot, "", "time since start (min)", y_label)
    item.setMouseEnabled(x=False, y=True)
    item.getAxis("left").setWidth(70)  # the three charts' time axes line up
    plot.setMinimumHeight(120)
    return plot


def _title(plot: pg.PlotWidget, name: str, traces: list[tuple[str, str]]) -> None:
    """The title names each trace in its own colour (a legend would cover the data)."""
    keys = "   ".join(f"<span style='color:{colour}'>━ {label}</span>" for label, colour in traces)
    plot.getPlotItem().setTitle(f"<b>{name}</b>&nbsp;&nbsp;&nbsp;{keys}", size="10pt", color="k")


class StripCharts(QWidget):
    """Three linked charts and a time-window choice; :meth:`redraw` draws the model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        top.addWidget(QLabel("Time window"))
        self.window_box = QComboBox()
        self.window_box.addItems(list(WINDOWS))
        self.window_box.setCurrentText("1 h")
        self.window_box.currentTextChanged.connect(lambda _t: self._force())
        top.addWidget(self.window_box)
        top.addStretch(1)
        layout.addLayout(top)
        self.pressure = _plot("p (mbar)", log_y=True)
        self.beam = _plot("I (nA)")
        self.rate = _plot("rate (cps)", log_y=True)
        _title(self.pressure, "Pressures", [("chamber", CHAMBER), ("gas line", NEEDLE)])
        _title(self.beam, "Beam current (Faraday cup)", [("beam", BEAM)])
        _title(self.rate, "Channeltron raw rate", [("signal gate of each point", RATE)])
        self.beam.setXLink(self.pressure)
        self.rate.setXLink(self.pressure)
        row = QHBoxLayout()  # side by side: a dock is wide and short
        for plot in (self.pressure, self.beam, self.rate):
            row.addWidget(plot, 1)
        layout.addLayout(row, 1)
        self.curves = {
            "chamber_mbar": self.pressure.plot(pen=pg.mkPen(CHAMBER, width=2)),
            "needle_mbar": self.pressure.plot(pen=pg.mkPen(NEEDLE, width=2)),
            "beam_current_A": self.beam.plot(pen=pg.mkPen(BEAM, width=2)),
            "count_rate_cps": self.rate.plot(pen=pg.mkPen(RATE, width=1), symbol="o", symbolSize=6,
                                             symbolBrush=RATE, symbolPen=None),
        }
        self.limit_line = pg.InfiniteLine(angle=0, movable=False,
                                          pen=pg.mkPen("#e01010", width=1.5, style=pg.QtCore.Qt.DashLine),
                                          label="linear limit", labelOpts={"color": "#e01010", "position": 0.98,
                                                                            "anchors": [(1, 1), (1, 1)],
                                                                            "fill": (255, 255, 255, 200)})
        self.limit_line.setVisible(False)
        self.rate.getPlotItem().addItem(self.limit_line, ignoreBounds=True)
        self._scale = {"beam_current_A": 1e9}
        self._log = {"chamber_mbar", "needle_mbar", "count_rate_cps"}
        self._drawn: tuple = ()
        self.origin: float | None = None  #: clock time shown as 0

    def set_linear_limit(self, cps: float | None) -> None:
        if cps is None or not (cps > 0 and math.isfinite(cps)):
            self.limit_line.setVisible(False)
            return
        self.limit_line.setValue(math.log10(cps))
        self.limit_line.setVisible(True)

    @property
    def window_s(self) -> float | None:
        return WINDOWS[self.window_box.currentText()]

    def set_window(self, label: str) -> None:
        if label in WINDOWS:
            self.window_box.setCurrentText(label)

    def reset(self) -> None:
        self.origin = None
        self._force()

    def _force(self) -> None:
        self._drawn = ()

    def redraw(self, model) -> None:
        width = max(100, int(self.pressure.getPlotItem().vb.width()))
        key = (model.version, self.window_box.currentText(), width)
        if key == self._drawn:
            return
        self._drawn = key
        first, last = model.span()
        if first is None or last is None or not (math.isfinite(first) and math.isfinite(last)):
            for curve in self.curves.values():
                curve.setData([], [])
            return
        if self.origin is None:
            self.origin = min(first, 0.0)  # the model's times are seconds since the run start
        window = self.window_s
        t0 = None if window is None else max(first, last - window)
        for trace, curve in self.curves.items():
            t, y = model.view(trace, t0, None, max_points=width)
            t = np.asarray(t, dtype=float)
            y = np.asarray(y, dtype=float) * self._scale.get(trace, 1.0)
            if trace in self._log:
                y = log10(y)
            keep = np.isfinite(y) & np.isfinite(t)
            curve.setData(t[keep] - self.origin, y[keep])
        lo = (t0 if t0 is not None else first) - self.origin
        hi = last - self.origin
        if hi <= lo:
            hi = lo + 1.0
        self.pressure.getPlotItem().setXRange(lo, hi, padding=0.02)
