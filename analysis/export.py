"""CSV export of a run: one row per measured (energy, angle), the sweeps combined."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping

import numpy as np

from acquisition.events import PointFlag
from acquisition.storage import StorageError
from acquisition.storage.reader import read_run

__all__ = ["CSV_COLUMNS", "combine_sweeps", "export_csv"]


CSV_COLUMNS = (
    "energy_eV",
    "angle_deg",
    "rel_dcs",
    "rel_dcs_err",
    "rel_dcs_sweep_err",
    "signal_rate_cps",
    "background_rate_cps",
    "loss_max",
    "flags",
    "flags_text",
    "n_sweeps",
)


def combine_sweeps(values: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean (weights 1/err^2) of per-sweep values, its statistical error,
    and the standard error of the mean from the sweep-to-sweep scatter."""
    ok = np.isfinite(values)
    values, errors = values[ok], errors[ok]
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    scatter = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    if np.all(np.isfinite(errors) & (errors > 0)):
        w = 1.0 / errors**2
        return float(np.sum(w * values) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w))), scatter
    return float(np.mean(values)), float("nan"), scatter  # no usable errors: plain mean


def export_csv(path: str | os.PathLike, out_path: str | os.PathLike) -> int:
    """Write one CSV row per measured (energy, angle), combining the sweeps.

    Columns (``CSV_COLUMNS``): energy_eV, angle_deg; rel_dcs and rel_dcs_err (weighted
    mean over sweeps with weights 1/rel_dcs_err^2, and 1/sqrt(sum of weights));
    rel_dcs_sweep_err (std of the sweeps / sqrt(n), NaN for one sweep);
    signal_rate_cps and background_rate_cps (total counts / total gate time);
    loss_max (largest signal or background dead-time loss over sweeps); flags (OR
    over sweeps, int) and flags_text; n_sweeps.  A point written twice counts once
    (the last).  Returns the number of rows written.
    """
    run = read_run(path)
    if run.kind not in ("dcs", "volume"):
        # an RFM run's sweeps are cycle and gas: averaging them would mix two gases
        raise StorageError(f"{path}: an {run.kind!r} run; export writes the relative DCS of dcs and volume runs "
                           "(`xbeam absolute --rfm` reads RFM runs)")
    p = run.points
    latest: dict[tuple[int, int, int], int] = {}
    for i, key in enumerate(zip(p["sweep"].tolist(), p["energy_index"].tolist(), p["angle_index"].tolist())):
        latest[key] = i
    cells: dict[tuple[int, int], list[int]] = {}
    for (_, e, a), i in sorted(latest.items()):
        cells.setdefault((e, a), []).append(i)
    rows = 0
    with open(out_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for _cell, idx in sorted(cells.items()):
            ix = np.asarray(idx)
            value, err, scatter = combine_sweeps(p["rel_dcs"][ix], p["rel_dcs_err"][ix])
            flags = int(np.bitwise_or.reduce(p["flags"][ix].astype(int)))
            losses = np.concatenate([p["signal_loss"][ix], p["background_loss"][ix]])
            losses = losses[np.isfinite(losses)]
            writer.writerow(
                [
                    repr(float(p["energy"][ix[0]])),
                    repr(float(p["angle"][ix[0]])),
                    repr(value),
                    repr(err),
                    repr(scatter),
                    repr(_total_rate(p, "signal", ix)),
                    repr(_total_rate(p, "background", ix)),
                    repr(float(losses.max()) if len(losses) else float("nan")),
                    flags,
                    PointFlag(flags).describe(),
                    len(ix),
                ]
            )
            rows += 1
    return rows


def _total_rate(p: Mapping[str, np.ndarray], gate: str, ix: np.ndarray) -> float:
    counts, gate_s = p[f"{gate}_counts"][ix], p[f"{gate}_gate_s"][ix]
    ok = (counts >= 0) & np.isfinite(gate_s) & (gate_s > 0)
    total_s = float(np.sum(gate_s[ok]))
    return float(np.sum(counts[ok])) / total_s if total_s > 0 else float("nan")
