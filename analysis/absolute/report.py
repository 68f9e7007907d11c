"""The text and picture outputs of ``xbeam absolute``: ``table1.csv``, ``table1.txt``,
``budget.csv`` (the writers of :mod:`.table1`) and ``dcs.png``.

Every output is written to a temporary file beside it and renamed over it once all of
them are written (:func:`write_outputs`), so a failure leaves no half-written file and
no output from the failed attempt.  :func:`check_outputs` refuses existing outputs
unless ``force``, and never replaces an input file or an HDF5 file other than an
analysis file ``xbeam absolute`` wrote.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .chain import AbsoluteResult
from .runs import AbsoluteInputError
from .table1 import Table1, format_table1, table1_from_budget, write_budget_csv, write_table1_csv

__all__ = ["OUTPUT_NAMES", "check_outputs", "plot_dcs", "table_of", "table_text", "text_writers", "write_outputs"]

#: the files written into OUTDIR, in order
OUTPUT_NAMES = ("table1.csv", "table1.txt", "budget.csv", "dcs.png", "absolute.h5")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def table_of(result: AbsoluteResult) -> Table1:
    """Table 1 of the result: the budget's points with the ICS row."""
    ics = {float(i.energy_eV): (i.result.ics.value, i.result.ics.u_total) for i in result.ics}
    return table1_from_budget(result.budget, ics)


def table_text(result: AbsoluteResult) -> str:
    """``table1.txt``: the study's layout, then the notes a reader of the table needs."""
    title = (f"Absolute elastic DCS of {result.target_gas.name} (xbeam absolute; relative flow method against "
             f"{result.reference_gas.name})")
    lines = [format_table1(table_of(result), title=title).rstrip("\n"), ""]
    o = result.options
    lines.append(f"Uncertainties: total in quadrature (statistics, stability, reference {o.reference_relative_err:.0%}, "
                 f"effective volume ({_volume_text(result)}), flow, RFM statistics); budget.csv has every term.")
    flagged = int(np.count_nonzero(result.flagged))
    if flagged:
        lines.append(f"{flagged} flagged points (budget.csv's flags) are in the table but left out of the scale and "
                     "the ICS normalisation.")
    lines.append(result.ics_note + ".")
    for s in result.scales:
        lines.append(f"scale {s.energy_eV:g} eV: k = {s.scale.k:.6g} +- {s.scale.err_uncorrelated:.2g} "
                     f"(uncorrelated; RFM angles {', '.join(f'{a:g}' for a in s.angles_deg)} deg)")
    return "\n".join(lines) + "\n"


def _volume_text(result: AbsoluteResult) -> str:
    o = result.options
    if o.volume_term == "study":
        lo, hi = o.small_angle_range_deg
        return f"{o.small_angle_term:.0%} at {lo:g}-{hi:g} deg as the study, with C's statistics"
    return "C's measured uncertainty"


# --------------------------------------------------------------------------- the picture


def plot_dcs(path: str | os.PathLike, result: AbsoluteResult) -> None:
    """``dcs.png``: one panel per energy, the absolute DCS against angle on a log axis
    with its total uncertainty; flagged points as open symbols, the RFM points, and the
    extrapolation the ICS used."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    b = result.budget
    energies = np.unique(b.energy_eV)
    n = energies.size
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows + 0.9), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    total = b.u_total
    ics = {i.energy_eV: i for i in result.ics}
    handles = {}
    for ax, energy in zip(axes, energies):
        idx = np.flatnonzero(b.energy_eV == energy)
        a, y, u, fl = b.angle_deg[idx], b.dcs[idx], total[idx], result.flagged[idx]
        lower = np.clip(np.minimum(u, 0.95 * y), 0, None)  # a log axis: keep the lower bar above 0
        # a value at or below 0 (a saturated or background-dominated point) has no place on
        # a log axis: it stays in the table and budget.csv, not in the picture
        drawable = np.isfinite(y) & (y > 0) & np.isfinite(u)
        good, bad = ~fl & drawable, fl & drawable
        h = ax.errorbar(a[good], y[good], yerr=[lower[good], u[good]], fmt="o", ms=4.5, color="C0", ecolor="C0",
                        elinewidth=1, capsize=2, label="absolute DCS")
        handles.setdefault("absolute DCS (total uncertainty)", h)
        if bad.any():
            h = ax.errorbar(a[bad], y[bad], yerr=[lower[bad], u[bad]], fmt="o", ms=5, mfc="white", mec="C3",
                            color="C3", ecolor="C3", elinewidth=1, capsize=2)
            handles.setdefault("flagged (not in the scale or ICS fit)", h)
        rfm = [c for c in result.rfm_points if c.energy_eV == energy]
        if rfm:
            h = ax.errorbar([c.angle_deg for c in rfm], [c.point.dcs for c in rfm],
                            yerr=[c.point.err_total for c in rfm], fmt="D", ms=6, mfc="none", mec="k", color="k",
                            elinewidth=1, capsize=3)
            handles.setdefault("RFM points (combined cycles)", h)
        if energy in ics:
            e = ics[energy]
            (h,) = ax.plot(e.grid_deg, e.curve, "--", color="0.45", lw=1)
            handles.setdefault("extrapolation used for the ICS", h)
            text = f"ICS {e.result.ics.value:.3g} $\\pm$ {e.result.ics.u_total:.2g}"
            ax.text(0.97, 0.95, text, transform=ax.transAxes, ha="right", va="top", fontsize=8.5)
        ax.set_yscale("log")
        ax.set_xlim(0, 180)
        finite = y[np.isfinite(y) & (y > 0)]
        if finite.size:  # the data, and the extrapolation up to 30 times beyond them
            lo, hi = finite.min() / 4, finite.max() * 4
            if energy in ics:
                curve = ics[energy].curve[np.isfinite(ics[energy].curve) & (ics[energy].curve > 0)]
                if curve.size:
                    lo, hi = max(min(lo, curve.min() / 1.5), finite.min() / 30), min(max(hi, curve.max() * 1.5),
                                                                                    finite.max() * 30)
            ax.set_ylim(lo, hi)
        ax.set_xticks(range(0, 181, 30))
        ax.grid(True, which="major", color="0.88", lw=0.6)
        ax.set_title(f"{energy:g} eV", fontsize=10)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("scattering angle (deg)")
    for ax in axes[::cols]:
        ax.set_ylabel(r"DCS ($10^{-20}$ m$^2$/sr)")
    fig.suptitle(f"{result.target_gas.name}: absolute elastic DCS (relative flow method against "
                 f"{result.reference_gas.name})", fontsize=11)
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncols=min(2 if cols < 3 else 4, len(handles)),
               fontsize=8.5, frameon=False)
    fig.savefig(path, format="png")


# --------------------------------------------------------------------------- writing


def _is_hdf5(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(8) == _HDF5_SIGNATURE
    except OSError:
        return False


def check_outputs(outdir: Path, *, force: bool, inputs: Iterable[Path] = (), names: Sequence[str] = OUTPUT_NAMES,
                  ours: Callable[[Path], bool] | None = None) -> list[Path]:
    """The output paths in ``outdir``, refused (:class:`AbsoluteInputError`) when
    one exists and ``force`` is not given, when one is an input, or when one is an HDF5
    file ``ours`` does not recognise (a run file is never replaced)."""
    if outdir.exists() and not outdir.is_dir():
        raise AbsoluteInputError(f"-o {outdir}: exists and is not a folder")
    parent = Path(os.path.abspath(outdir)).parent
    if not outdir.exists() and not parent.is_dir():
        raise AbsoluteInputError(f"-o {outdir}: no such folder {parent} (OUTDIR itself is created)")
    paths = [outdir / name for name in names]
    inputs = [Path(p) for p in inputs]
    for path in paths:
        if not path.exists():
            continue
        for source in inputs:
            if source.exists() and os.path.samefile(path, source):
                raise AbsoluteInputError(f"-o {outdir}: {path.name} there is the input {source}: choose another folder")
        if path.is_dir():
            raise AbsoluteInputError(f"-o {outdir}: {path.name} there is a folder: choose another -o")
        if _is_hdf5(path) and not (ours is not None and ours(path)):
            raise AbsoluteInputError(f"-o {outdir}: {path.name} there is an HDF5 file xbeam absolute did not write "
                                     "(a run file?): never replaced, --force or not; choose another -o")
        if not force:
            raise AbsoluteInputError(f"-o {outdir}: {path.name} exists there; --force replaces the outputs")
    return paths


def write_outputs(outdir: Path, writers: Mapping[str, Callable[[Path], object]]) -> list[Path]:
    """``writers[name](tmp)`` for each output, each to a temporary file in ``outdir``,
    then every temporary renamed over its output.  Nothing is renamed unless every
    writer succeeded; no temporary file is left behind."""
    outdir.mkdir(parents=True, exist_ok=True)
    tmps: dict[str, Path] = {}
    try:
        for name, write in writers.items():
            tmp = outdir / f".{name}.{os.getpid()}.partial"
            tmps[name] = tmp
            write(tmp)
        done = []
        for name, tmp in tmps.items():
            os.replace(tmp, outdir / name)
            done.append(outdir / name)
        return done
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def text_writers(result: AbsoluteResult) -> dict[str, Callable[[Path], object]]:
    """The writers of ``table1.csv``, ``table1.txt``, ``budget.csv`` and ``dcs.png``."""
    table = table_of(result)

    def txt(path: Path) -> None:
        path.write_text(table_text(result), encoding="utf-8")

    return {
        "table1.csv": lambda p: write_table1_csv(p, table),
        "table1.txt": txt,
        "budget.csv": lambda p: write_budget_csv(p, result.budget),
        "dcs.png": lambda p: plot_dcs(p, result),
    }
