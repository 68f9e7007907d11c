"""DCS tables: CSV files with columns ``angle_deg,energy_eV,dcs`` (1e-20 m^2/sr).

``#`` lines are comments; extra columns (``dcs_err``) are kept.  The table must be a
full grid (every angle at every energy).  Interpolation is linear in log(DCS), in
angle and in energy, because a DCS varies over decades and is positive; outside the
grid the edge slope is extended (the simulator's analyzer may look a little outside
the published angles).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DcsTable", "DcsTableError", "reference_path"]

_DATA = Path(__file__).resolve().parent / "data"


def reference_path(name: str) -> Path:
    """A reference table shipped with xbeam (copies of ``shared/reference``)."""
    return _DATA / name


class DcsTableError(ValueError):
    pass


@dataclass(frozen=True)
class DcsTable:
    """A DCS grid: ``dcs[i_energy, i_angle]`` on sorted ``energies_eV`` x ``angles_deg``."""

    angles_deg: np.ndarray
    energies_eV: np.ndarray
    dcs: np.ndarray
    dcs_err: np.ndarray | None = None
    source: str = ""

    @classmethod
    def from_csv(cls, path: str | Path) -> "DcsTable":
        path = Path(path)
        try:
            with path.open(newline="") as fh:
                rows = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise DcsTableError(f"{path}: cannot read DCS table: {exc}") from exc
        reader = csv.DictReader(rows)
        need = {"angle_deg", "energy_eV", "dcs"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DcsTableError(f"{path}: columns must include {sorted(need)}, found {reader.fieldnames}")
        cells: dict[tuple[float, float], tuple[float, float]] = {}
        for lineno, row in enumerate(reader, start=2):
            try:
                key = (float(row["energy_eV"]), float(row["angle_deg"]))
                value = float(row["dcs"])
                err = float(row["dcs_err"]) if row.get("dcs_err") not in (None, "") else np.nan
            except ValueError as exc:
                raise DcsTableError(f"{path}: data row {lineno - 1}: {exc}") from exc
            if not value > 0:
                raise DcsTableError(f"{path}: data row {lineno - 1}: dcs must be > 0, got {value}")
            cells[key] = (value, err)
        energies = np.array(sorted({e for e, _ in cells}))
        angles = np.array(sorted({a for _, a in cells}))
        if len(cells) != len(energies) * len(angles):
            raise DcsTableError(
                f"{path}: not a full grid: {len(cells)} cells for {len(energies)} energies x {len(angles)} angles"
            )
        dcs = np.array([[cells[(e, a)][0] for a in angles] for e in energies])
        err = np.array([[cells[(e, a)][1] for a in angles] for e in energies])
        return cls(angles, energies, dcs, None if np.isnan(err).all() else err, str(path))

    def __call__(self, energy_eV: float, angle_deg) -> np.ndarray | float:
        """DCS at one energy and one or more angles (1e-20 m^2/sr)."""
        log_at_energy = _interp_rows(np.log(self.dcs), self.energies_eV, float(energy_eV))
        out = np.exp(_interp_extrapolate(np.asarray(angle_deg, dtype=float), self.angles_deg, log_at_energy))
        return float(out) if np.ndim(out) == 0 else out


def _interp_extrapolate(x, xp, fp):
    """np.interp, but extending the end slopes instead of clamping."""
    y = np.interp(x, xp, fp)
    if len(xp) >= 2:
        lo, hi = x < xp[0], x > xp[-1]
        y = np.where(lo, fp[0] + (x - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0]), y)
        y = np.where(hi, fp[-1] + (x - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]), y)
    return y


def _interp_rows(table: np.ndarray, xp: np.ndarray, x: float) -> np.ndarray:
    """Row-wise linear interpolation of ``table[len(xp), :]`` at ``x`` (clamped in energy)."""
    if len(xp) == 1 or x <= xp[0]:
        return table[0]
    if x >= xp[-1]:
        return table[-1]
    i = int(np.searchsorted(xp, x)) - 1
    w = (x - xp[i]) / (xp[i + 1] - xp[i])
    return (1 - w) * table[i] + w * table[i + 1]
