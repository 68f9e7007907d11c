"""The study's Table 1: angles down, energies across, ``value(uncertainty)`` (PHYSICS.md §5-6).

Each cell is the DCS with the uncertainty in units of its last digits, in parentheses:
``5.6(16)`` is 5.6 +- 1.6, ``0.472(96)`` is 0.472 +- 0.096.  The uncertainty is given to
two significant digits and the value rounded to the same decimal place (the isoflurane
Table 1 throughout: :func:`format_value` reproduces every one of its cells from the
numbers).  An ICS row closes the table.

Writers: ``table1.csv`` (numbers), ``table1.txt`` (the printed layout) and
``budget.csv`` (one row per point, every term of the budget, absolute).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from .budget import TERMS, Budget

__all__ = [
    "BUDGET_COLUMNS",
    "Table1",
    "format_table1",
    "format_value",
    "table1_from_budget",
    "write_budget_csv",
    "write_table1_csv",
    "write_table1_txt",
]

#: budget.csv's columns: the issue's ten, then the RFM statistics term
BUDGET_COLUMNS = ("energy_eV", "angle_deg", "dcs", "u_total", "u_stat", "u_stability", "u_reference", "u_volume",
                  "u_flow", "flags", "u_rfm_stat")


def format_value(value: float, uncertainty: float, digits: int = 2) -> str:
    """``value(uncertainty)`` with ``digits`` significant digits of the uncertainty.

    ``format_value(5.6, 1.6) == "5.6(16)"``, ``format_value(3.4, 1) == "3.4(10)"``,
    ``format_value(0.472, 0.096) == "0.472(96)"``; an uncertainty reaching past the
    decimal point keeps its digits: ``format_value(330, 150) == "330(150)"``.  Rounding
    is half-up on the decimal text of the numbers.  Without a positive finite
    uncertainty the value alone, to 3 significant digits; ``nan`` gives ``""``.
    """
    if value is None or not math.isfinite(value):
        return ""
    if uncertainty is None or not (math.isfinite(uncertainty) and uncertainty > 0):
        return f"{value:.3g}"
    u = Decimal(repr(float(uncertainty)))
    exponent = u.adjusted() - (digits - 1)  # the decimal place of the last kept digit
    rounded = u.scaleb(-exponent).quantize(Decimal(1), ROUND_HALF_UP)
    if rounded >= 10**digits:  # 0.996 -> 1.0: one digit fewer after the point
        exponent += 1
        rounded = u.scaleb(-exponent).quantize(Decimal(1), ROUND_HALF_UP)
    v = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(exponent), ROUND_HALF_UP)
    if exponent > 0:  # the digits reach left of the point: print integers
        return f"{int(v)}({int(rounded) * 10**exponent})"
    return f"{v:f}({int(rounded)})"


@dataclass(frozen=True)
class Table1:
    """A Table 1: ``dcs[i_angle, i_energy]`` and its total uncertainty (nan: not measured),
    and optionally the ICS per energy."""

    energies_eV: np.ndarray
    angles_deg: np.ndarray
    dcs: np.ndarray
    u_dcs: np.ndarray
    ics: np.ndarray | None = None
    u_ics: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = (len(self.angles_deg), len(self.energies_eV))
        for name in ("dcs", "u_dcs"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"Table1.{name} must be (angles, energies) = {shape}, got {np.shape(getattr(self, name))}")
        for name in ("ics", "u_ics"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != shape[1:]:
                raise ValueError(f"Table1.{name} must have one value per energy ({shape[1]})")


def table1_from_budget(budget: Budget, ics: Mapping[float, tuple[float, float]] | None = None) -> Table1:
    """The (angle, energy) grid of a budget's points (``u_total``), with an optional ICS
    ``{energy_eV: (ics, u_ics)}``."""
    energies = np.unique(budget.energy_eV)
    angles = np.unique(budget.angle_deg)
    dcs = np.full((angles.size, energies.size), np.nan)
    u = np.full_like(dcs, np.nan)
    total = budget.u_total
    for e, a, v, t in zip(budget.energy_eV, budget.angle_deg, budget.dcs, total):
        i, j = np.searchsorted(angles, a), np.searchsorted(energies, e)
        dcs[i, j], u[i, j] = v, t
    ics_values = u_ics = None
    if ics is not None:
        ics_values = np.array([ics.get(float(e), (np.nan, np.nan))[0] for e in energies])
        u_ics = np.array([ics.get(float(e), (np.nan, np.nan))[1] for e in energies])
    return Table1(energies, angles, dcs, u, ics_values, u_ics)


def _g(x: float) -> str:
    return f"{x:g}"


def format_table1(table: Table1, *, title: str | None = None) -> str:
    """The printed layout: a header of energies (eV), one row per angle (deg), each cell
    :func:`format_value`; ``-`` where nothing was measured; the ICS row last."""
    header = ["angle (deg)"] + [f"{_g(e)} eV" for e in table.energies_eV]
    rows = [[_g(a)] + [format_value(v, u) or "-" for v, u in zip(table.dcs[i], table.u_dcs[i])]
            for i, a in enumerate(table.angles_deg)]
    if table.ics is not None:
        u_ics = table.u_ics if table.u_ics is not None else np.full_like(table.ics, np.nan)
        rows.append(["ICS"] + [format_value(v, u) or "-" for v, u in zip(table.ics, u_ics)])
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = [title] if title else []
    lines.append("DCS in 1e-20 m^2/sr (ICS in 1e-20 m^2); uncertainty in units of the last digits")
    for r in [header, *rows]:
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines) + "\n"


def write_table1_txt(path: str | os.PathLike, table: Table1, *, title: str | None = None) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(format_table1(table, title=title))


def write_table1_csv(path: str | os.PathLike, table: Table1) -> None:
    """Numbers in the same layout: ``angle_deg, dcs_<E>eV, u_<E>eV, ...``, the ICS row
    with ``angle_deg = ICS``; empty cells where nothing was measured."""
    def num(x: float) -> str:
        return repr(float(x)) if math.isfinite(x) else ""

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["angle_deg"] + [f"{k}_{_g(e)}eV" for e in table.energies_eV for k in ("dcs", "u")])
        for i, a in enumerate(table.angles_deg):
            writer.writerow([_g(a)] + [num(x) for pair in zip(table.dcs[i], table.u_dcs[i]) for x in pair])
        if table.ics is not None:
            u_ics = table.u_ics if table.u_ics is not None else np.full_like(table.ics, np.nan)
            writer.writerow(["ICS"] + [num(x) for pair in zip(table.ics, u_ics) for x in pair])


def write_budget_csv(path: str | os.PathLike, budget: Budget | Sequence[Budget]) -> int:
    """One row per point: :data:`BUDGET_COLUMNS`, uncertainties absolute in the DCS unit.
    Returns the number of rows."""
    budgets = [budget] if isinstance(budget, Budget) else list(budget)
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(BUDGET_COLUMNS)
        for b in budgets:
            total = b.u_total
            terms = {t: getattr(b, f"u_{t}") for t in TERMS}
            for i in range(len(b)):
                writer.writerow([repr(float(b.energy_eV[i])), repr(float(b.angle_deg[i])), repr(float(b.dcs[i])),
                                 repr(float(total[i])), *(repr(float(terms[t][i])) for t in TERMS[:5]),
                                 b.flags[i], repr(float(terms["rfm_stat"][i]))])
                rows += 1
    return rows
