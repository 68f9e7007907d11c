"""DCS tables: CSV files with columns ``angle_deg,energy_eV,dcs`` (1e-20 m^2/sr).

``#`` lines are comments; extra columns (``dcs_err``) are kept.  The table must be a
full grid (every angle at every energy).  Interpolation is linear in log(DCS), in
angle and in energy, because a DCS varies over decades and is positive; outside the
grid the edge slope is extended (the simulator's analyzer may look a little outside
the published angles).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["COLUMNS", "DcsTable", "DcsTableError", "reference_path"]

_DATA = Path(__file__).resolve().parent / "data"


def reference_path(name: str) -> Path:
    """A reference table shipped with xbeam (copies of ``shared/reference``)."""
    return _DATA / name


class DcsTableError(ValueError):
    """A DCS table file that cannot be read: the message names the file, the line and
    what is allowed."""


#: the columns a table must have (``dcs_err`` and others are optional)
COLUMNS = ("angle_deg", "energy_eV", "dcs")
_FORMAT = "CSV with a header line angle_deg,energy_eV,dcs[,dcs_err] (dcs in 1e-20 m^2/sr), one row per cell"

#: column -> (test, what is allowed)
_ALLOWED = {
    "angle_deg": (lambda v: 0 <= v <= 180, "from 0 to 180 (a finite number, in degrees)"),
    "energy_eV": (lambda v: v > 0, "> 0 (a finite number, in eV)"),
    "dcs": (lambda v: v > 0, "> 0 (a finite number, in 1e-20 m^2/sr)"),
    "dcs_err": (lambda v: v >= 0, ">= 0 or empty (a finite number, in 1e-20 m^2/sr)"),
}


def _number(path: Path, lineno: int, name: str, text: str) -> float:
    test, allowed = _ALLOWED[name]
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not test(value) or "_" in text:
        raise DcsTableError(f"{path}: line {lineno}: {name} = {text!r}: must be {allowed}")
    return value


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
        """Read a table; every malformed file raises :class:`DcsTableError` naming the
        file, the line and what is allowed (:data:`COLUMNS`)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DcsTableError(f"{path}: not a text CSV file (not UTF-8); expected {_FORMAT}") from None
        except OSError as exc:
            raise DcsTableError(f"{path}: cannot read the DCS table: {exc.strerror or exc}") from exc
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise DcsTableError(f"{path}: no header and no data; expected {_FORMAT}")
        (header_line, header_text), *data = lines
        header = [name.strip() for name in next(csv.reader([header_text]))]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise DcsTableError(f"{path}: line {header_line}: header {','.join(header)!r} lacks "
                                f"{', '.join(missing)}; expected {_FORMAT}")
        if not data:
            raise DcsTableError(f"{path}: no data rows after the header; expected {_FORMAT}")
        column = {name: header.index(name) for name in (*COLUMNS, "dcs_err") if name in header}
        cells: dict[tuple[float, float], tuple[float, float]] = {}
        first_line: dict[tuple[float, float], int] = {}
        for lineno, line in data:
            fields = [f.strip() for f in next(csv.reader([line]))]
            if len(fields) < len(header):
                raise DcsTableError(f"{path}: line {lineno}: {len(fields)} fields, the header has {len(header)} "
                                    f"({','.join(header)})")
            values = {}
            for name, i in column.items():
                if name == "dcs_err" and fields[i] == "":
                    values[name] = np.nan
                    continue
                values[name] = _number(path, lineno, name, fields[i])
            key = (values["energy_eV"], values["angle_deg"])
            if key in first_line:
                raise DcsTableError(f"{path}: line {lineno}: energy_eV = {key[0]:g}, angle_deg = {key[1]:g} "
                                    f"again (first on line {first_line[key]}); each cell once")
            first_line[key] = lineno
            cells[key] = (values["dcs"], values.get("dcs_err", np.nan))
        energies = np.array(sorted({e for e, _ in cells}))
        angles = np.array(sorted({a for _, a in cells}))
        if len(cells) != len(energies) * len(angles):
            hole = next((e, a) for e in energies for a in angles if (e, a) not in cells)
            raise DcsTableError(
                f"{path}: not a full grid: {len(cells)} cells for {len(energies)} energies x {len(angles)} angles "
                f"(no row for energy_eV = {hole[0]:g}, angle_deg = {hole[1]:g}); every angle at every energy"
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
