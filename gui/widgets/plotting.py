"""What every plot of the window shares: a white background, black axes in a readable
size, and a log axis whose labels do not pile up.

Log axes: the views plot log10 of their values on a linear view box (error bars, which
pyqtgraph does not transform, live in the same space as the points) and the
:class:`LogAxis` labels that space in values: decades (1, 10, 100…) and, over less than
two decades, also 2 and 5 times them; the other minor ticks are drawn unlabelled.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem

__all__ = ["LogAxis", "fmt_tick", "log10", "style_plot"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

AXIS_PT = 10
LABEL_PT = "11pt"
TITLE_PT = "11pt"


def log10(values) -> np.ndarray:
    """log10 with NaN (not a warning) for what a log axis cannot show (<= 0, NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log10(np.asarray(values, dtype=float))
    y[~np.isfinite(y)] = np.nan
    return y


def fmt_tick(value: float) -> str:
    """2000, 0.05, 3×10⁻⁵, 10⁶: plain numbers in 0.01..10⁴, powers of ten outside."""
    if value <= 0 or not math.isfinite(value):
        return ""
    if 1 <= value < 1e4 and abs(value - round(value)) < 1e-6 * value:
        return str(int(round(value)))
    if 0.01 <= value < 1e4:
        return f"{value:.3g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10 ** exponent
    power = f"10{str(exponent).translate(_SUPERSCRIPT)}"
    return power if abs(mantissa - 1) < 1e-6 else f"{mantissa:.2g}×{power}"


class LogAxis(pg.AxisItem):
    """An axis over log10 values, labelled in the values themselves (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._labelled: set[float] = set()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 - pyqtgraph's names
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        span = maxVal - minVal
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        if span > 7:
            step = math.ceil(span / 6)
            majors = [float(d) for d in range(lo, hi + 1) if d % step == 0]
            minors = [float(d) for d in range(lo, hi + 1) if d % step]
            labelled_mantissas = ()
        else:
            majors = [float(d) for d in range(lo, hi + 1)]
            mantissas = range(2, 10)
            minors = [d + math.log10(m) for d in range(lo, hi + 1) for m in mantissas]
            labelled_mantissas = (2, 5) if span < 2 else ()
            if span < 0.7:
                labelled_mantissas = (2, 3, 4, 5, 6, 7, 8, 9)
        labelled_minor = [d + math.log10(m) for d in range(lo, hi + 1) for m in labelled_mantissas]
        inside = [v for v in majors + labelled_minor if minVal <= v <= maxVal]
        if len(inside) < 2 and span < 0.7:  # less than a decade without two labels: linear ticks in value
            self._labelled = set()
            return super().tickValues(minVal, maxVal, size)
        self._labelled = {round(v, 6) for v in majors + labelled_minor}
        return [(1.0, [v for v in majors if minVal <= v <= maxVal]),
                (0.1, [v for v in minors if minVal <= v <= maxVal])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        if not self._labelled:
            return [fmt_tick(10 ** v) for v in values]
        return [fmt_tick(10 ** v) if round(v, 6) in self._labelled else "" for v in values]


def style_plot(plot, title: str, x_label: str, y_label: str, x_units: str | None = None) -> pg.PlotItem:
    """White ground, black axes and labels in readable sizes, a light grid (``plot``: a
    PlotWidget or a PlotItem)."""
    if isinstance(plot, pg.PlotWidget):
        plot.setBackground("w")
        item = plot.getPlotItem()
    else:
        item = plot
    if title:
        item.setTitle(title, size=TITLE_PT, color="k", bold=True)
    item.setLabel("bottom", x_label, units=x_units, **{"font-size": LABEL_PT, "color": "#000"})
    item.setLabel("left", y_label, **{"font-size": LABEL_PT, "color": "#000"})
    item.showGrid(x=True, y=True, alpha=0.2)
    font = QFont()
    font.setPointSize(AXIS_PT)
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setTickFont(font)
        axis.setTextPen("k")
        axis.setPen(pg.mkPen("k"))
    for side in ("left", "bottom", "top", "right"):
        # an axis (with its grid) is drawn again from its tick text on every repaint
        # unless Qt keeps it as a pixmap; it changes only when its range or size does
        # (40 % of a live-plot frame at 10,000 points: bench/gui_redraw.py)
        item.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return item
