"""The DCS plot's model: relative DCS against angle, per energy, overlaid by sweep or
averaged over sweeps, with the points that should not be trusted marked.

Why it is built this way:

* points arrive one at a time for hours and the view redraws several times a second,
  so the numbers live in numpy columns that grow by doubling (:mod:`._growing`), each
  energy (and each sweep of it) keeps the row indices of its points, and a curve is
  built once and cached until a point of *its* energy (overlay: its sweep) arrives;
* a point whose rel_dcs is not finite (a failed reduction) cannot be drawn, but the
  operator must still find it: it is left out of the curves and kept in
  :meth:`DcsPlotModel.points_at` / :meth:`DcsPlotModel.describe`;
* "saturated" (LOSS, RATE or OVERFLOW: the number is biased) and "loss warning" (the
  dead-time loss is getting large but the point is still trusted) are separate masks,
  because the view draws them differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from acquisition.events import PointFlag

from ._growing import GrowingArray, GrowingTable
from .records import PointRecord

__all__ = ["Curve", "RateCurve", "DcsPlotModel", "MODES"]

MODES = ("overlay", "average")
_SATURATED = int(PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW)
_ANGLE_TOL_DEG = 1e-6

_DTYPES = {
    "seq": np.int64, "sweep": np.int64, "energy": np.float64, "angle": np.float64,
    "y": np.float64, "yerr": np.float64, "signal": np.float64, "background": np.float64,
    "loss": np.float64, "flags": np.int64,
}


@dataclass(frozen=True, eq=False)
class Curve:
    """One line of the DCS plot, sorted by angle; arrays of equal length.

    The arrays are shared with the model's cache: read them, do not write them."""

    energy_eV: float
    sweep: int | None  #: None: averaged over sweeps
    angle: np.ndarray
    y: np.ndarray  #: rel_dcs (finite only); an average: inverse-variance weighted mean
    yerr: np.ndarray
    saturated: np.ndarray  #: bool: LOSS, RATE or OVERFLOW (an average: any contributing point)
    loss_warning: np.ndarray  #: bool: loss > warn_loss_fraction and not saturated
    flags: np.ndarray  #: int PointFlag bits (an average: OR of the contributing points)
    count: np.ndarray | None = None  #: added: points averaged at each angle (None: overlay, one each)

    def __len__(self) -> int:
        return self.angle.shape[0]

    def for_log(self) -> Curve:
        """The same curve without the points a log axis cannot show (y <= 0)."""
        keep = self.y > 0
        if keep.all():
            return self
        return Curve(self.energy_eV, self.sweep, self.angle[keep], self.y[keep], self.yerr[keep],
                     self.saturated[keep], self.loss_warning[keep], self.flags[keep],
                     None if self.count is None else self.count[keep])


@dataclass(frozen=True, eq=False)
class RateCurve:
    """Raw rates of one energy (every sweep), sorted by angle."""

    energy_eV: float
    angle: np.ndarray
    signal_cps: np.ndarray
    background_cps: np.ndarray  #: NaN: the point had no background gate
    sweep: np.ndarray | None = None  #: added: each point's sweep
    saturated: np.ndarray | None = None  #: added: bool, as Curve.saturated


class DcsPlotModel:
    """Per-energy DCS arrays with flags; see the module docstring for why."""

    def __init__(self, warn_loss_fraction: float = 0.05) -> None:
        self._warn = float(warn_loss_fraction)
        self._mode = "overlay"
        self.version = 0
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget every point and the grid (a new run)."""
        self._records: list[PointRecord] = []
        self._cols = GrowingTable(_DTYPES)
        self._energies: list[float] = []  # slot -> energy, grid order then first seen
        self._slot_of: dict[float, int] = {}
        self._rows: list[GrowingArray] = []  # slot -> row indices of its points
        self._sweep_rows: list[dict[int, GrowingArray]] = []  # slot -> sweep -> row indices
        self._average_cache: dict[int, list[Curve]] = {}  # slot -> [its average curve] (or [])
        self._overlay_cache: dict[tuple[int, int], Curve | None] = {}  # (slot, sweep) -> curve
        self._rate_cache: dict[int, RateCurve] = {}
        self._all_curves: tuple[int, list[Curve]] | None = None  # (version, curves)
        self.grid_angles: np.ndarray = np.zeros(0)
        self.sweeps = 0
        self.version += 1

    def set_grid(self, energies_eV: Iterable[float], angles_deg: Iterable[float], sweeps: int) -> None:
        """The planned grid: energies keep this order (stable colours), angles give the
        axis range before the first point."""
        for e in energies_eV:
            self._slot(float(e))
        self.grid_angles = np.asarray(list(angles_deg), dtype=float)
        self.sweeps = int(sweeps)
        self.version += 1

    def _slot(self, energy: float) -> int:
        slot = self._slot_of.get(energy)
        if slot is None:
            slot = self._slot_of[energy] = len(self._energies)
            self._energies.append(energy)
            self._rows.append(GrowingArray(np.int64, 64))
            self._sweep_rows.append({})
        return slot

    def add(self, records: Iterable[PointRecord]) -> None:
        """Append points; only the energies (overlay: the sweeps) they belong to are
        rebuilt on the next :meth:`curves`.  The rows go into the columns in one
        extend per column, so a file's thousands of rows cost little more than a loop."""
        touched: set[tuple[int, int]] = set()
        n0 = len(self._records)
        new = list(records)
        if not new:
            return
        for i, r in enumerate(new, start=n0):
            slot = self._slot(r.energy_eV)
            self._rows[slot].append(i)
            rows = self._sweep_rows[slot].get(r.sweep)
            if rows is None:
                rows = self._sweep_rows[slot][r.sweep] = GrowingArray(np.int64, 64)
            rows.append(i)
            touched.add((slot, r.sweep))
        self._records.extend(new)
        if len(new) == 1:  # the live path: scalar stores beat ten one-element arrays
            r = new[0]
            self._cols.append(seq=r.seq, sweep=r.sweep, energy=r.energy_eV, angle=r.angle_deg, y=r.rel_dcs,
                              yerr=r.rel_dcs_err, signal=r.signal_rate_cps, background=r.background_rate_cps,
                              loss=r.loss, flags=r.flags)
        else:
            self._cols.extend({
                "seq": [r.seq for r in new], "sweep": [r.sweep for r in new], "energy": [r.energy_eV for r in new],
                "angle": [r.angle_deg for r in new], "y": [r.rel_dcs for r in new], "yerr": [r.rel_dcs_err for r in new],
                "signal": [r.signal_rate_cps for r in new], "background": [r.background_rate_cps for r in new],
                "loss": [r.loss for r in new], "flags": [r.flags for r in new],
            })
        for slot, sweep in touched:
            self._rate_cache.pop(slot, None)
            self._average_cache.pop(slot, None)
            self._overlay_cache.pop((slot, sweep), None)
        self.version += 1

    @property
    def n_points(self) -> int:
        return len(self._records)

    @property
    def energies(self) -> list[float]:
        return list(self._energies)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        if value != self._mode:
            self._mode = value
            self.version += 1

    @property
    def warn_loss_fraction(self) -> float:
        return self._warn

    @warn_loss_fraction.setter
    def warn_loss_fraction(self, value: float) -> None:
        self._warn = float(value)
        self._average_cache.clear()
        self._overlay_cache.clear()
        self.version += 1

    # ------------------------------------------------------------------ curves

    def curves(self) -> list[Curve]:
        """Every curve of the current mode, energies in grid order (then sweeps).

        The list and its curves are cached (the same objects until the model changes):
        read them, do not modify them."""
        if self._all_curves is not None and self._all_curves[0] == self.version:
            return self._all_curves[1]
        out: list[Curve] = []
        for slot in range(len(self._energies)):
            if self._mode == "average":
                cached = self._average_cache.get(slot)
                if cached is None:
                    cached = self._average_cache[slot] = self._average(slot, self._rows[slot].view())
                out.extend(cached)
                continue
            for sweep in sorted(self._sweep_rows[slot]):
                key = (slot, sweep)
                if key in self._overlay_cache:
                    curve = self._overlay_cache[key]
                else:
                    curve = self._overlay_cache[key] = self._overlay(slot, sweep)
                if curve is not None:
                    out.append(curve)
        self._all_curves = (self.version, out)
        return out

    def _masks(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        saturated = (self._cols["flags"][rows] & _SATURATED) != 0
        loss_warning = (self._cols["loss"][rows] > self._warn) & ~saturated
        return saturated, loss_warning

    def _overlay(self, slot: int, sweep: int) -> Curve | None:
        """One sweep of one energy (None: none of its points has a finite rel_dcs)."""
        c = self._cols
        rows = self._sweep_rows[slot][sweep].view()
        rows = rows[np.isfinite(c["y"][rows])]
        if rows.shape[0] == 0:
            return None
        rows = rows[np.argsort(c["angle"][rows], kind="stable")]
        saturated, loss_warning = self._masks(rows)
        return Curve(self._energies[slot], int(sweep), c["angle"][rows], c["y"][rows], c["yerr"][rows],
                     saturated, loss_warning, c["flags"][rows])

    def _average(self, slot: int, rows: np.ndarray) -> list[Curve]:
        """Inverse-variance weighted mean over sweeps at each angle.

        A point whose error is not finite and positive cannot be weighted: it takes part
        only where no point of its angle can be, as a plain mean with a NaN error."""
        c = self._cols
        rows = rows[np.isfinite(c["y"][rows])]
        if rows.shape[0] == 0:
            return []
        angles, group = np.unique(c["angle"][rows], return_inverse=True)
        y, err = c["y"][rows], c["yerr"][rows]
        ok = np.isfinite(err) & (err > 0)
        w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
        k = angles.shape[0]
        sum_w = np.bincount(group, w, k)
        count = np.bincount(group, None, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            weighted = np.bincount(group, w * y, k) / sum_w
            plain = np.bincount(group, y, k) / count
            mean = np.where(sum_w > 0, weighted, plain)
            mean_err = np.where(sum_w > 0, 1.0 / np.sqrt(sum_w), np.nan)
        order = np.argsort(group, kind="stable")
        starts = np.searchsorted(group[order], np.arange(k))
        flags = np.bitwise_or.reduceat(c["flags"][rows][order], starts)
        loss = np.fmax.reduceat(c["loss"][rows][order], starts)
        saturated = (flags & _SATURATED) != 0
        with np.errstate(invalid="ignore"):
            loss_warning = (loss > self._warn) & ~saturated
        return [Curve(self._energies[slot], None, angles, mean, mean_err, saturated, loss_warning, flags, count)]

    def rate_curves(self) -> list[RateCurve]:
        """Signal and background raw rates per energy, every sweep, sorted by angle
        (points with a non-finite rel_dcs included: their rates are still news)."""
        c, out = self._cols, []
        for slot, energy in enumerate(self._energies):
            curve = self._rate_cache.get(slot)
            if curve is None:
                rows = self._rows[slot].view()
                rows = rows[np.argsort(c["angle"][rows], kind="stable")]
                curve = RateCurve(energy, c["angle"][rows], c["signal"][rows], c["background"][rows],
                                  c["sweep"][rows], (c["flags"][rows] & _SATURATED) != 0)
                self._rate_cache[slot] = curve
            if len(curve.angle):
                out.append(curve)
        return out

    # ------------------------------------------------------------------ single points

    def _slot_near(self, energy_eV: float) -> int | None:
        slot = self._slot_of.get(float(energy_eV))
        if slot is not None:
            return slot
        for slot, e in enumerate(self._energies):
            if math.isclose(e, energy_eV, rel_tol=1e-9, abs_tol=1e-9):
                return slot
        return None

    def points_at(self, energy_eV: float, angle_deg: float) -> list[PointRecord]:
        """Every point measured at (energy, angle), in the order measured, whatever its rel_dcs."""
        slot = self._slot_near(energy_eV)
        if slot is None:
            return []
        rows = self._rows[slot].view()
        rows = rows[np.abs(self._cols["angle"][rows] - angle_deg) <= _ANGLE_TOL_DEG]
        return [self._records[i] for i in rows.tolist()]

    def describe(self, energy_eV: float, angle_deg: float) -> str:
        """Hover/click text: each point's rel_dcs ± err, rates, loss, flags."""
        points = self.points_at(energy_eV, angle_deg)
        head = f"{energy_eV:g} eV, {angle_deg:g}°"
        if not points:
            return f"{head}: not measured"
        lines = [f"{head}: {len(points)} point{'s' if len(points) != 1 else ''}"]
        for r in points:
            flags = r.flags
            if r.loss > self._warn and not r.saturated:
                flags_text = f"{PointFlag(flags).describe()} (loss warning)"
            else:
                flags_text = PointFlag(flags).describe()
            dcs = f"{r.rel_dcs:.4g} ± {r.rel_dcs_err:.2g}" if math.isfinite(r.rel_dcs) else f"{r.rel_dcs} (not plotted)"
            redo = f", {r.attempts} attempts" if r.attempts > 1 else ""
            lines.append(
                f"  sweep {r.sweep} (#{r.seq}): rel DCS {dcs}; signal {r.signal_rate_cps:.4g} cps, "
                f"background {r.background_rate_cps:.4g} cps; loss {_percent(r.signal_loss)} / "
                f"{_percent(r.background_loss)}; flags {flags_text}{redo}"
            )
        if self._mode == "average" and len(points) > 1:
            for curve in self.curves():
                if curve.energy_eV == self._energies[self._slot_near(energy_eV)]:
                    hit = np.flatnonzero(np.abs(curve.angle - angle_deg) <= _ANGLE_TOL_DEG)
                    if hit.size:
                        i = int(hit[0])
                        lines.append(f"  average: {curve.y[i]:.4g} ± {curve.yerr[i]:.2g} "
                                     f"({int(curve.count[i])} points)")
        return "\n".join(lines)

    def nearest(self, energy_eV: float | None, angle_deg: float, log_y: bool = True,
                y: float | None = None) -> PointRecord | None:
        """The plotted point nearest the cursor, for hover.

        ``energy_eV`` None: any energy; then ``y`` (the cursor's data value, linear)
        picks among energies at the nearest angle, compared in log10 when ``log_y``.
        A point the axis cannot show (non-finite, or y <= 0 on a log axis) is skipped."""
        c = self._cols
        if energy_eV is None:
            rows = np.arange(len(self._records))
        else:
            slot = self._slot_near(energy_eV)
            if slot is None:
                return None
            rows = self._rows[slot].view()
        yy = c["y"][rows]
        keep = np.isfinite(yy) & (yy > 0) if log_y else np.isfinite(yy)
        rows = rows[keep]
        if rows.shape[0] == 0:
            return None
        d_angle = np.abs(c["angle"][rows] - angle_deg)
        rows = rows[d_angle <= d_angle.min() + _ANGLE_TOL_DEG]
        if y is not None and math.isfinite(y) and rows.shape[0] > 1:
            yy = c["y"][rows]
            if log_y and y > 0:
                d_y = np.abs(np.log10(yy) - math.log10(y))
            else:
                d_y = np.abs(yy - y)
            rows = rows[[int(np.argmin(d_y))]]
        return self._records[int(rows[-1])]

    def flagged(self) -> list[PointRecord]:
        """Points that are saturated or carry a loss warning, in the order measured."""
        c = self._cols
        saturated = (c["flags"] & _SATURATED) != 0
        with np.errstate(invalid="ignore"):
            bad = saturated | (c["loss"] > self._warn)
        return [self._records[i] for i in np.flatnonzero(bad).tolist()]


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %" if math.isfinite(fraction) else "-"
