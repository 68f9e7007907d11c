"""The live plot: relative DCS against angle (log y) and the raw rates beside it.

One curve per energy (per energy and sweep in the overlay mode), each energy its own
colour, with error bars.  A saturated point (dead-time loss, rate beyond the linear
limit, counter overflow) is marked with a large red cross, a point whose loss is above
the warning fraction with an orange triangle; both marks are in the legend whether or
not a point carries them, so the operator knows what to look for.  Hovering over a
point (or clicking it) shows its numbers and flags; the flagged points are listed
beside the plot.

The y axis is logarithmic: the view plots log10 of the values on a linear view box
whose axis is labelled in decades (so the error bars, which pyqtgraph does not
transform, are drawn in the same space as the points).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSplitter,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from acquisition.events import PointFlag
from gui.widgets.common import COLOURS
from gui.widgets.plotting import LogAxis, fmt_tick, log10, style_plot

__all__ = ["DcsPlotWidget", "energy_colour"]

#: colours for successive energies (Okabe-Ito and Tableau, distinct on white and for
#: the common colour-vision deficiencies); red and orange are kept for the flags
PALETTE = ("#0072b2", "#009e73", "#7b3294", "#56b4e9", "#000000", "#cc79a7", "#8c564b", "#1b9e77",
           "#4d4dff", "#7f7f7f", "#bcbd22", "#17becf")

SATURATED_SYMBOL = dict(symbol="x", size=20, pen=pg.mkPen(COLOURS["saturated"], width=3.5),
                        brush=pg.mkBrush(COLOURS["saturated"]))
WARNING_SYMBOL = dict(symbol="t", size=15, pen=pg.mkPen("#a04000", width=1.5), brush=pg.mkBrush(COLOURS["warning"]))

SATURATED_LABEL = "saturated"

#: how low an error bar is drawn when value - error <= 0 (on a log axis): this many decades
_FLOOR_DECADES = 1.0


def energy_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _log10(y) -> np.ndarray:
    return log10(y)


def _style(plot, title: str, y_label: str) -> pg.PlotItem:
    return style_plot(plot, title, "scattering angle", y_label, x_units="deg")


class DcsPlotWidget(QWidget):
    """Draws a :class:`~gui.viewmodels.dcs_plot.DcsPlotModel` (see the module docstring)."""

    #: "overlay" or "average": the operator's choice (the window stores it in QSettings)
    modeChanged = Signal(str)  # noqa: N815 - Qt's naming

    def __init__(self, model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        top.addWidget(QLabel("Sweeps:"))
        self.overlay = QRadioButton("overlay")
        self.average = QRadioButton("average")
        self.overlay.setToolTip("one curve per energy and sweep: the sweep-to-sweep scatter shows")
        self.average.setToolTip("one curve per energy: the inverse-variance mean over the sweeps")
        group = QButtonGroup(self)
        group.addButton(self.overlay)
        group.addButton(self.average)
        self.overlay.setChecked(True)
        self.overlay.toggled.connect(self._mode_clicked)
        top.addWidget(self.overlay)
        top.addWidget(self.average)
        top.addStretch(1)
        self.summary = QLabel("")
        self.summary.setStyleSheet("font-weight: bold;")
        top.addWidget(self.summary)
        outer.addLayout(top)

        split = QSplitter(Qt.Horizontal)
        outer.addWidget(split, 1)
        plots = QWidget()
        column = QVBoxLayout(plots)
        column.setContentsMargins(0, 0, 0, 0)
        # one graphics view: the DCS above the rates, the legend in a column of its own
        # to their right (inside a plot it would cover the forward-angle points)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumHeight(420)
        self.dcs_item = self.graphics.addPlot(row=0, col=0, axisItems={"left": LogAxis(orientation="left")})
        _style(self.dcs_item, "Relative DCS", "relative DCS (arb. units)")
        self.rates_item = self.graphics.addPlot(row=1, col=0, axisItems={"left": LogAxis(orientation="left")})
        _style(self.rates_item, "Raw rates: signal ● solid, background □ dashed", "rate (counts/s)")
        for item in (self.dcs_item, self.rates_item):
            item.getAxis("left").setWidth(72)  # the two angle axes line up
        self.rates_item.setXLink(self.dcs_item)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        column.addWidget(self.graphics, 1)
        self.info = QLabel("Hover over a point (or click it) for its numbers and flags.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.info.setStyleSheet("font-family: monospace; font-size: 12px; padding: 2px;")
        self.info.setMinimumHeight(48)
        column.addWidget(self.info)
        split.addWidget(plots)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        self.flag_title = QLabel("Flagged points: none")
        self.flag_title.setStyleSheet("font-weight: bold;")
        side_layout.addWidget(self.flag_title)
        self.flag_list = QListWidget()
        self.flag_list.setMinimumWidth(150)
        self.flag_list.setToolTip("saturated (red) and loss-warning (orange) points; click one for its numbers")
        self.flag_list.itemClicked.connect(self._flag_clicked)
        self.flag_list.currentItemChanged.connect(lambda item, _prev: self._flag_clicked(item))
        side_layout.addWidget(self.flag_list, 1)
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 200])

        # top centre: a DCS peaks forward (left) and often rises backward (right), the
        # middle of the top is where it is empty; two columns keep the box short
        self.legend = self.dcs_item.addLegend(labelTextSize="10pt", labelTextColor="k", colCount=2, verSpacing=-2,
                                              horSpacing=14, brush=pg.mkBrush(255, 255, 255, 215), pen=pg.mkPen("#aaa"))
        self.legend.anchor(itemPos=(0.5, 0), parentPos=(0.5, 0), offset=(0, 4))
        self.limit_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(COLOURS["saturated"], width=1.5,
                                                                               style=Qt.DashLine),
                                          label="linear limit", labelOpts={"color": COLOURS["saturated"],
                                                                           "position": 0.98, "anchors": [(1, 1), (1, 1)],
                                                                           "fill": (255, 255, 255, 200)})
        self.limit_line.setVisible(False)
        self.rates_item.addItem(self.limit_line, ignoreBounds=True)
        #: energy -> (first sweep or average, later sweeps, error bars)
        self._curves: dict[float, tuple[pg.PlotDataItem, pg.PlotDataItem, pg.ErrorBarItem]] = {}
        #: energy -> (the model's curves drawn, angle, log10 y, saturated, warning)
        self._energy_drawn: dict[float, tuple] = {}
        self._flag_keys: list[tuple] = []  #: the flagged points listed, in order
        self._rates_drawn: dict[float, tuple] = {}  #: energy -> (the model's rate curve drawn, saturated marks)
        self._rate_curves: dict[float, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._colours: dict[float, str] = {}
        self._named: set[float] = set()
        self.saturated_marks = pg.ScatterPlotItem(**SATURATED_SYMBOL)
        self.warning_marks = pg.ScatterPlotItem(**WARNING_SYMBOL)
        self.saturated_marks.setZValue(20)
        self.warning_marks.setZValue(19)
        self.dcs_item.addItem(self.saturated_marks)
        self.dcs_item.addItem(self.warning_marks)
        self.legend.addItem(self.saturated_marks, SATURATED_LABEL)
        self._warning_label = ""
        self._set_warning_label()
        self.rate_saturated = pg.ScatterPlotItem(**SATURATED_SYMBOL)
        self.rates_item.addItem(self.rate_saturated)
        self._points = np.zeros((0, 2))  #: (angle, log10 y) of every drawn point, for hover
        self._point_energy = np.zeros(0)  #: the energy of each
        self._drawn = -1
        self._last_curves: list = []
        self._sticky: tuple[float, float] | None = None
        self.graphics.scene().sigMouseMoved.connect(self._hover)
        self.graphics.scene().sigMouseClicked.connect(self._click)

    def set_linear_limit(self, cps: float | None) -> None:
        """Draw the channeltron's linear limit across the rate plot."""
        if cps is None or not (cps > 0 and math.isfinite(cps)):
            self.limit_line.setVisible(False)
            return
        self.limit_line.setValue(math.log10(cps))
        self.limit_line.label.setFormat(f"linear limit {fmt_tick(cps)} cps")
        self.limit_line.setVisible(True)

    # ------------------------------------------------------------ mode
    def _mode_clicked(self, _checked: bool) -> None:
        mode = "overlay" if self.overlay.isChecked() else "average"
        if self.model.mode != mode:
            self.model.mode = mode
            self.modeChanged.emit(mode)

    def set_mode(self, mode: str) -> None:
        (self.overlay if mode == "overlay" else self.average).setChecked(True)
        self.model.mode = mode

    def set_model(self, model) -> None:
        self.model = model
        self.clear()

    def clear(self) -> None:
        for items in self._curves.values():
            for item in items:
                self.dcs_item.removeItem(item)
        self._energy_drawn.clear()
        self._flag_keys = []
        self.flag_list.clear()
        self._rates_drawn.clear()
        for sig, bg in self._rate_curves.values():
            self.rates_item.removeItem(sig)
            self.rates_item.removeItem(bg)
        self._curves.clear()
        self._rate_curves.clear()
        self._colours.clear()
        self._named.clear()
        self.legend.clear()
        self.legend.addItem(self.saturated_marks, SATURATED_LABEL)
        self._warning_label = ""
        self._set_warning_label()
        self._drawn = -1

    def _set_warning_label(self) -> None:
        label = f"loss > {self.model.warn_loss_fraction * 100:g} %"
        if label != self._warning_label:
            if self._warning_label:
                self.legend.removeItem(self.warning_marks)
            self.legend.addItem(self.warning_marks, label)
            self._warning_label = label

    def colour(self, energy: float) -> str:
        if energy not in self._colours:
            self._colours[energy] = energy_colour(len(self._colours))
        return self._colours[energy]

    # ------------------------------------------------------------ drawing
    def redraw(self, force: bool = False) -> None:
        model = self.model
        if model.version == self._drawn and not force:
            return
        self._drawn = model.version
        for energy in model.energies:
            self.colour(energy)
        self._draw_dcs(model.curves())
        self._draw_rates(model.rate_curves())
        self._draw_flagged(model.flagged())
        n_sat = int(sum(int(np.count_nonzero(c.saturated)) for c in self._last_curves))
        self.summary.setText(f"{model.n_points} points" + (f"   ·   {n_sat} SATURATED" if n_sat else ""))
        self.summary.setStyleSheet(f"font-weight: bold; color: {COLOURS['saturated']};" if n_sat
                                   else "font-weight: bold;")
        if self._sticky is not None:
            self.info.setText(model.describe(*self._sticky))

    def _draw_dcs(self, curves) -> None:
        """Three plot items per energy, whatever the number of sweeps: the first sweep
        (or the average) solid, the later sweeps dashed in one item (their curves joined
        by a ``connect`` array, not one item each), and the error bars of all of them.
        A night of 10,000 points in 80 sweeps is 18 items to paint, not 960; and an
        energy whose curves the model hands back unchanged (the same objects) is not
        set again."""
        self._last_curves = curves
        by_energy: dict[float, list] = {}
        for c in curves:
            by_energy.setdefault(c.energy_eV, []).append(c)
        changed = False
        for energy in [e for e in self._curves if e not in by_energy]:  # a reset model
            for item in self._curves.pop(energy):
                self.dcs_item.removeItem(item)
            self._energy_drawn.pop(energy, None)
            changed = True
        for energy, group in by_energy.items():
            if energy not in self._curves:
                self._curves[energy] = self._energy_items(energy)
            key = tuple(group)  # the curves themselves, kept: an id could be reused once one is freed
            drawn = self._energy_drawn.get(energy)
            if drawn is not None and len(drawn[0]) == len(key) and all(a is b for a, b in zip(drawn[0], key)):
                continue
            changed = True
            first, later, bars = self._curves[energy]
            parts = [_curve_arrays(c) for c in group]
            solo = [c for c in group if c.sweep in (None, 0)]
            if drawn is None or len(drawn[5]) != len(solo) or any(a is not b for a, b in zip(drawn[5], solo)):
                fx, fy, fconnect = _joined([p for p, c in zip(parts, group) if c.sweep in (None, 0)])
                first.setData(fx, fy, connect=fconnect)
            x, y, connect = _joined([p for p, c in zip(parts, group) if c.sweep not in (None, 0)])
            later.setData(x, y, connect=connect)
            angle = _cat([p[0] for p in parts])
            ly = _cat([p[1] for p in parts])
            top, bottom = _cat([p[2] for p in parts]), _cat([p[3] for p in parts])
            bars.setData(x=angle, y=ly, top=top, bottom=bottom)
            sat = _cat([p[4] for p in parts]).astype(bool)
            warn = _cat([p[5] for p in parts]).astype(bool)
            self._energy_drawn[energy] = (key, angle, ly, sat, warn, tuple(solo))
        self._set_warning_label()
        if not changed:
            return
        drawn = [self._energy_drawn[e][:5] + (e,) for e in by_energy]
        self.saturated_marks.setData(_cat([d[1][d[3]] for d in drawn]), _cat([d[2][d[3]] for d in drawn]))
        self.warning_marks.setData(_cat([d[1][d[4]] for d in drawn]), _cat([d[2][d[4]] for d in drawn]))
        if drawn:
            self._points = np.column_stack([_cat([d[1] for d in drawn]), _cat([d[2] for d in drawn])])
            self._point_energy = _cat([np.full(len(d[1]), d[5]) for d in drawn])
        else:
            self._points, self._point_energy = np.zeros((0, 2)), np.zeros(0)

    def _energy_items(self, energy: float) -> tuple[pg.PlotDataItem, pg.PlotDataItem, pg.ErrorBarItem]:
        colour = self.colour(energy)
        first = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=7, symbolBrush=colour,
                                symbolPen=pg.mkPen(colour))
        # the later sweeps thinner and paler, solid: a dashed pen over thousands of points
        # is the slowest thing Qt paints (a third of a frame at 10,000 points)
        pale = QColor(colour)
        pale.setAlpha(150)
        later = pg.PlotDataItem(pen=pg.mkPen(pale, width=1), symbol="o", symbolSize=5, symbolBrush=pale,
                                symbolPen=pg.mkPen(pale))
        bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), pen=pg.mkPen(colour, width=1.2), beam=0.6)
        for item in (bars, later, first):
            self.dcs_item.addItem(item)
        if energy not in self._named:
            self._named.add(energy)
            self.legend.addItem(first, f"{energy:g} eV")
        return first, later, bars

    def _draw_rates(self, rate_curves) -> None:
        """Signal (solid) and background (dashed) per energy; an energy whose curve the
        model hands back unchanged (the same object) is not set again."""
        for r in rate_curves:
            colour = self.colour(r.energy_eV)
            if r.energy_eV not in self._rate_curves:
                sig = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6, symbolBrush=colour,
                                      symbolPen=pg.mkPen(colour), name=f"{r.energy_eV:g} eV")
                bg = pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5, style=Qt.DashLine), symbol="s", symbolSize=5,
                                     symbolBrush=QBrush(QColor("white")), symbolPen=pg.mkPen(colour))
                self.rates_item.addItem(sig)
                self.rates_item.addItem(bg)
                self._rate_curves[r.energy_eV] = (sig, bg)
            drawn = self._rates_drawn.get(r.energy_eV)
            if drawn is not None and drawn[0] is r:
                continue
            sig, bg = self._rate_curves[r.energy_eV]
            angle = np.asarray(r.angle, dtype=float)
            ls, lb = _log10(r.signal_cps), _log10(r.background_cps)
            ok_s, ok_b = np.isfinite(ls), np.isfinite(lb)
            sig.setData(angle[ok_s], ls[ok_s])
            bg.setData(angle[ok_b], lb[ok_b])
            saturated = getattr(r, "saturated", None)
            mark = ok_s & np.asarray(saturated, dtype=bool) if saturated is not None else np.zeros(len(angle), bool)
            self._rates_drawn[r.energy_eV] = (r, angle[mark], ls[mark])
        marks = [self._rates_drawn[r.energy_eV] for r in rate_curves]
        self.rate_saturated.setData(_cat([m[1] for m in marks]), _cat([m[2] for m in marks]))

    def _draw_flagged(self, records) -> None:
        keys = [(r.seq, r.sweep, r.energy_eV, r.angle_deg) for r in records]
        if keys == self._flag_keys:
            return
        n = len(records)
        n_sat = sum(1 for r in records if _saturated(r.flags))
        self.flag_title.setText(f"Flagged points: {n}" + (f" ({n_sat} saturated)" if n_sat else "") if n
                                else "Flagged points: none")
        self.flag_title.setStyleSheet(f"font-weight: bold; color: {COLOURS['saturated']};" if n_sat
                                      else "font-weight: bold;")
        shown = self._flag_keys
        current = self.flag_list.currentRow()
        self.flag_list.blockSignals(True)
        if keys[:len(shown)] == shown:  # points only arrive: add the new ones, keep the list (and its scroll)
            new = records[len(shown):]
        else:
            self.flag_list.clear()
            new = records
        self._flag_keys = keys
        for r in new:
            saturated = _saturated(r.flags)
            loss = max(r.signal_loss, r.background_loss) if math.isfinite(r.background_loss) else r.signal_loss
            text = (f"{'✖' if saturated else '▲'} {r.energy_eV:g} eV {r.angle_deg:g}° s{r.sweep} "
                    f"{_flags_text(r.flags)} {loss * 100:.1f}%")
            item = QListWidgetItem(text)
            item.setToolTip(f"{r.energy_eV:g} eV, {r.angle_deg:g}°, sweep {r.sweep}: {_flags_text(r.flags)}, "
                            f"dead-time loss {loss * 100:.2f} %, raw rate {r.signal_rate_cps:.0f} cps")
            item.setForeground(QBrush(QColor(COLOURS["saturated"] if saturated else "#b35900")))
            item.setData(Qt.UserRole, (r.energy_eV, r.angle_deg))
            self.flag_list.addItem(item)
        if 0 <= current < n:
            self.flag_list.setCurrentRow(current)
        self.flag_list.blockSignals(False)

    # ------------------------------------------------------------ hover and click
    def _nearest(self, scene_pos) -> tuple[float, float] | None:
        if not len(self._points):
            return None
        vb = self.dcs_item.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        here = vb.mapSceneToView(scene_pos)
        px, py = vb.viewPixelSize()  # view units per screen pixel
        if not (px > 0 and py > 0):
            return None
        d = np.hypot((self._points[:, 0] - here.x()) / px, (self._points[:, 1] - here.y()) / py)
        i = int(np.argmin(d))
        return (float(self._point_energy[i]), float(self._points[i, 0])) if d[i] <= 12 else None

    def point_text(self, energy: float, angle: float) -> str:
        return self.model.describe(energy, angle)

    def show_point(self, energy: float, angle: float, sticky: bool = False, tooltip: bool = False) -> str:
        text = self.point_text(energy, angle)
        self.info.setText(text)
        if sticky:
            self._sticky = (energy, angle)
        if tooltip:
            QToolTip.showText(QCursor.pos(), text, self.graphics)
        return text

    def _hover(self, scene_pos) -> None:
        hit = self._nearest(scene_pos)
        if hit is not None:
            self.show_point(*hit, tooltip=True)
        elif self._sticky is not None:
            self.info.setText(self.model.describe(*self._sticky))

    def _click(self, event) -> None:
        hit = self._nearest(event.scenePos())
        if hit is not None:
            self.show_point(*hit, sticky=True)

    def _flag_clicked(self, item) -> None:
        if item is None:
            return
        energy, angle = item.data(Qt.UserRole)
        self.show_point(energy, angle, sticky=True)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _curve_arrays(c) -> tuple[np.ndarray, ...]:
    """A model curve in the plot's space: angle, log10 y, the error bar's top and
    bottom lengths in decades, the saturated and warning masks; finite points only."""
    angle = np.asarray(c.angle, dtype=float)
    y = np.asarray(c.y, dtype=float)
    err = np.asarray(c.yerr, dtype=float)
    ly = _log10(y)
    ok = np.isfinite(ly)
    with np.errstate(divide="ignore", invalid="ignore"):
        good_err = np.where(np.isfinite(err) & (err > 0), err, 0.0)
        top = _log10(y + good_err) - ly
        low = y - good_err
        bottom = np.where(low > 0, ly - _log10(np.where(low > 0, low, 1.0)), _FLOOR_DECADES)
    sat = np.asarray(c.saturated, dtype=bool)
    warn = np.asarray(c.loss_warning, dtype=bool)
    return angle[ok], ly[ok], top[ok], bottom[ok], sat[ok], warn[ok]


def _joined(parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several curves as one item's data: x, y and the ``connect`` array that joins each
    point to the next only within its own curve (a curve with no finite point adds none)."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    x = _cat([p[0] for p in parts])
    y = _cat([p[1] for p in parts])
    connect = np.ones(len(x), dtype=bool)
    ends = np.cumsum([len(p[0]) for p in parts]) - 1
    connect[ends] = False
    return x, y, connect


def _saturated(flags: int) -> bool:
    return PointFlag(int(flags)).saturated


def _flags_text(flags: int) -> str:
    return PointFlag(int(flags)).describe()
