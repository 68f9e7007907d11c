"""A DCS run reduced again from what its file stores: the raw gates, through the same
:class:`acquisition.reduction.DcsReducer` the run used live.

The run file keeps every gate's counts, gate and sub-gate times, monitor readings and
angle; the apparatus as validated (detector, effective-volume table) is stored beside
them.  Reducing again gives the stored derived numbers back exactly, or, with another
detector model or effective-volume table (e.g. one measured with argon later),
the numbers those would have given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from acquisition.events import Gate, PointFlag
from acquisition.reduction import DcsReducer, DetectorModel, ReducedPoint, effective_volume_factors
from acquisition.storage.reader import RunData

__all__ = ["gate_of", "reduce_run"]


def gate_of(run: RunData, row: int, gate: str) -> Gate | None:
    """The ``gate`` ("signal" or "background") of point ``row`` as it was measured; None
    if the point had no such gate."""
    p = run.points
    if int(p[f"{gate}_counts"][row]) < 0:
        return None

    def value(name: str, default: float = math.nan) -> float:
        column = p.get(f"{gate}_{name}")
        return float(column[row]) if column is not None else default

    return Gate(
        counts=int(p[f"{gate}_counts"][row]),
        gate_s=value("gate_s"),
        t_start=value("t_start"),
        t_stop=value("t_stop"),
        utc_start=str(p[f"{gate}_utc_start"][row]),
        subgate_counts=tuple(int(c) for c in run.subgate_counts(row, gate)),
        subgate_s=value("subgate_s"),
        beam_current_A=value("beam_current"),
        beam_current_before_A=value("beam_current_before"),
        beam_current_after_A=value("beam_current_after"),
        needle_mbar=value("needle_pressure"),
        chamber_mbar=value("chamber_pressure"),
        angle_readback_deg=value("angle_readback"),
        subgate_chi2=value("subgate_chi2"),
        # the file keeps the point's flag, not each gate's: a gate of an UNSTEADY point
        # counts as unsteady, which gives the point the same flag again
        steady=not int(p["flags"][row]) & PointFlag.UNSTEADY,
    )


def _detector(apparatus: Mapping[str, Any], override: DetectorModel | None) -> DetectorModel:
    if override is not None:
        return override
    stored = apparatus["detector"]
    return DetectorModel(**{f.name: stored[f.name] for f in fields(DetectorModel)})


def reduce_run(run: RunData, *, detector: DetectorModel | None = None,
               effective_volume: tuple[list[float], list[float]] | None = None) -> list[ReducedPoint]:
    """Every point of a DCS run reduced again, in the order they were measured (row order).

    ``detector`` and ``effective_volume`` (angles, factors) default to what the run's
    stored apparatus had.  A point written twice (measured again after a resume) is
    reduced where it stands, as the run did."""
    if run.kind != "dcs":
        raise ValueError(f"{run.path}: a {run.kind!r} run, not a DCS run")
    if effective_volume is None:
        ev = run.apparatus.get("effective_volume")
        effective_volume = (ev["angles_deg"], ev["factors"]) if ev else None
    factors = effective_volume_factors(run.angles_deg.tolist(), *(effective_volume or ()))
    mode = run.plan.get("background", {}).get("mode", "every")
    reducer = DcsReducer(_detector(run.apparatus, detector), factors, background_subtracted=mode != "none")
    p = run.points
    order = sorted(range(run.n_points), key=lambda i: int(p["seq"][i]))
    out: list[ReducedPoint | None] = [None] * run.n_points
    for i in order:
        out[i] = reducer.reduce(int(p["sweep"][i]), int(p["energy_index"][i]), float(p["angle"][i]),
                                gate_of(run, i, "signal"), gate_of(run, i, "background"))
    return out  # type: ignore[return-value]
