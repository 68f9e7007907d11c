"""The physics of one point, as pure functions: used live by the DCS procedure and
offline by analysis (which re-reduces the raw gates stored in a run file).

A point is a signal gate (gas through the needle) and, where the plan measures one, a
background gate (the same gas load through the side leak).  :func:`reduce_dcs_point`
turns them into a :class:`DcsPointResult`: dead-time corrections of *each* rate before
subtracting (PHYSICS.md §1: the loss depends on the total rate at the detector),
normalisation of each gate to its own beam current and gas-line pressure (both drift
between the two gates), background subtraction and the effective-volume factor.

The result is a typed record whose field names carry their unit; each field's
metadata gives the unit string and a description.  Run files take their per-point
columns from these fields (:func:`result_columns`), so a new derived quantity is one
field here, not an edit in the engine, the writer and the reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from acquisition import counting
from acquisition.events import Gate, PointFlag

__all__ = [
    "DcsPointResult",
    "DcsReducer",
    "effective_volume_factors",
    "path_factor",
    "DetectorModel",
    "ReducedPoint",
    "RESULT_TYPES",
    "RfmPointResult",
    "grid_fields",
    "ResultColumn",
    "reduce_dcs_point",
    "result_columns",
]


def quantity(units: str, doc: str) -> Any:
    """A result field: a float with its unit and meaning (``NaN`` when it does not exist)."""
    return field(default=math.nan, metadata={"units": units, "doc": doc})


@dataclass(slots=True)
class DcsPointResult:
    """What one DCS point yields, in the units its field names say.  Treat it as
    immutable: it is not frozen only because a frozen dataclass costs 1.2 us more to
    build (an object.__setattr__ per field), a third of the runner's budget growth."""

    signal_rate_cps: float = quantity("1/s", "raw signal rate: counts / counted time")
    background_rate_cps: float = quantity("1/s", "raw background rate (NaN: borrowed from another angle)")
    signal_loss: float = quantity("1", "dead-time loss fraction of the signal gate")
    background_loss: float = quantity("1", "dead-time loss fraction of the background gate")
    signal_corrected_cps: float = quantity("1/s", "dead-time-corrected signal rate")
    background_corrected_cps: float = quantity("1/s", "dead-time-corrected background rate, at the signal's beam and pressure")
    net_rate_cps: float = quantity("1/s", "signal minus background, at the signal gate's beam and pressure")
    net_rate_var: float = quantity("1/s^2", "variance of net_rate_cps (Poisson, through the dead-time correction)")
    rel_dcs: float = quantity("arb", "relative DCS: net rate per nA per mbar times sin(angle) times the "
                                     "effective-volume factor")
    rel_dcs_err: float = quantity("arb", "statistical error of rel_dcs")
    effective_volume_factor: float = quantity("1", "per-angle effective-volume correction applied (the "
                                                   "small-angle deviation; 1 where none is known)")
    path_factor: float = quantity("1", "sin(angle): the 1/sin(angle) path length of the electron beam through "
                                       "the gas, divided out")


@dataclass(slots=True)
class RfmPointResult:
    """One intensity of the relative flow method: a gas through the needle at one angle
    (the other gas through the side entrance), its background with both gases through
    the side entrance.  The intensity is the dead-time-corrected net rate per nA of
    beam and is never divided by a pressure: the flow, measured by the rate of rise,
    carries the density (PHYSICS.md §1, §3)."""

    cycle: float = quantity("1", "RFM cycle (0-based)")
    gas_index: float = quantity("1", "0: the target gas through the needle; 1: the reference gas")
    signal_rate_cps: float = quantity("1/s", "raw signal rate: counts / counted time")
    background_rate_cps: float = quantity("1/s", "raw background rate")
    signal_loss: float = quantity("1", "dead-time loss fraction of the signal gate")
    background_loss: float = quantity("1", "dead-time loss fraction of the background gate")
    signal_corrected_cps: float = quantity("1/s", "dead-time-corrected signal rate")
    background_corrected_cps: float = quantity("1/s", "dead-time-corrected background rate, at the signal's beam")
    net_rate_cps: float = quantity("1/s", "signal minus background, at the signal gate's beam")
    net_rate_var: float = quantity("1/s^2", "variance of net_rate_cps")
    intensity_cps_per_nA: float = quantity("1/(s nA)", "net rate per nA of beam (dead time corrected on each gate)")
    intensity_err: float = quantity("1/(s nA)", "statistical error of intensity_cps_per_nA")
    line_pressure_mbar: float = quantity("mbar", "the needle line's manometer during the signal gate")


#: the typed result of one point, by run kind (storage lays out a run's columns from it)
RESULT_TYPES: dict[str, type] = {"dcs": DcsPointResult, "volume": DcsPointResult, "rfm": RfmPointResult}
#: the result fields a run kind's default plot (/entry/rel_dcs) shows: value, error
GRID_FIELDS: dict[str, tuple[str, str]] = {"rfm": ("intensity_cps_per_nA", "intensity_err")}


def grid_fields(kind: str) -> tuple[str, str]:
    return GRID_FIELDS.get(kind, ("rel_dcs", "rel_dcs_err"))


class ResultColumn(NamedTuple):
    name: str
    units: str
    doc: str


def result_columns(result_type: type) -> tuple[ResultColumn, ...]:
    """The stored columns of a result type: one float column per field."""
    return tuple(ResultColumn(f.name, f.metadata["units"], f.metadata["doc"]) for f in fields(result_type))


@dataclass(frozen=True)
class DetectorModel:
    """What the reduction needs of the counting chain (``[detector]`` of the apparatus)."""

    dead_time_s: float
    dead_time_model: str = "nonparalyzable"
    max_loss_fraction: float = 0.10
    linear_limit_cps: float = 1.0e5

    @classmethod
    def from_config(cls, detector: Any) -> DetectorModel:
        return cls(detector.dead_time_s, detector.dead_time_model, detector.max_loss_fraction,
                   detector.linear_limit_cps)

    def correct(self, gate: Gate) -> counting.GateNumbers:
        """Raw rate, dead-time-corrected rate and variance, loss fraction, flags of one gate."""
        return counting.correct_gate(gate.counts, gate.gate_s, self.dead_time_s, self.dead_time_model,
                                     max_loss_fraction=self.max_loss_fraction,
                                     linear_limit_cps=self.linear_limit_cps)


class ReducedPoint(NamedTuple):
    result: DcsPointResult
    flags: PointFlag  #: what the counts say of the point (saturation, borrowed background)
    #: this point's own background, per nA per mbar, and its variance: what a later
    #: point without a background gate borrows.  None when the point had no background gate.
    background_norm: tuple[float, float] | None


def reduce_dcs_point(
    signal: Gate,
    background: Gate | None,
    detector: DetectorModel,
    *,
    effective_volume_factor: float = 1.0,
    path_factor: float = 1.0,
    borrowed_background: tuple[float, float] | None = None,
) -> ReducedPoint:
    """Reduce one point (see the module docstring).

    ``background`` is this point's own background gate.  Without one,
    ``borrowed_background`` is the normalised background (cps/(nA mbar)) and its
    variance measured at another angle of the same sweep and energy (``(nan, nan)`` if
    none was measured yet): the point is flagged BACKGROUND_INTERPOLATED.  With neither,
    the plan measures no background and nothing is subtracted.
    """
    s_raw, s_rate, s_var, s_loss, flags = detector.correct(signal)
    if not signal.steady or (background is not None and not background.steady):
        flags |= PointFlag.UNSTEADY
    s_norm, s_norm_var = counting.normalise(s_rate, s_var, signal.beam_current_A, signal.needle_mbar)
    own = None
    if background is not None:
        b_raw, b_rate, b_var, b_loss, b_flags = detector.correct(background)
        flags |= b_flags
        b_norm, b_norm_var = counting.normalise(b_rate, b_var, background.beam_current_A, background.needle_mbar)
        own = (b_norm, b_norm_var)
    elif borrowed_background is None:
        b_raw = b_rate = b_loss = b_norm = b_norm_var = 0.0
    else:
        b_norm, b_norm_var = borrowed_background
        b_raw, b_rate, b_loss = math.nan, None, None  # b_rate: set below, at this gate's conditions
        flags |= PointFlag.BACKGROUND_INTERPOLATED
    net, net_var = counting.net_rate(s_norm, s_norm_var, b_norm, b_norm_var)
    # the background as it was under this signal gate's beam and pressure (cps)
    per_cps, _ = counting.normalise(1.0, 0.0, signal.beam_current_A, signal.needle_mbar)
    b_at_signal, b_at_signal_var = b_norm / per_cps, b_norm_var / per_cps**2
    if b_rate is None:
        b_rate, b_loss = b_at_signal, math.nan
    factor = effective_volume_factor * path_factor
    result = DcsPointResult(
        signal_rate_cps=s_raw,
        background_rate_cps=b_raw,
        signal_loss=s_loss,
        background_loss=b_loss,
        signal_corrected_cps=s_rate,
        background_corrected_cps=b_rate,
        net_rate_cps=s_rate - b_at_signal,
        net_rate_var=s_var + b_at_signal_var,
        rel_dcs=net * factor,
        rel_dcs_err=math.sqrt(net_var) * factor,
        effective_volume_factor=effective_volume_factor,
        path_factor=path_factor,
    )
    return ReducedPoint(result, flags, own)


class DcsReducer:
    """Reduces the points of one DCS run in execution order.

    Keeps what one point needs from the earlier ones: the last own background of each
    (sweep, energy), which a point without a background gate borrows, and the last raw
    rates (what counting to a precision guesses from).  The DCS procedure uses it live
    and analysis offline on the gates stored in a run file, so both give the same
    numbers."""

    def __init__(self, detector: DetectorModel, factors: dict[float, float], *, background_subtracted: bool) -> None:
        """``factors``: angle (deg) -> effective-volume factor; ``background_subtracted``:
        False for a plan that measures no background (nothing is borrowed or subtracted)."""
        self.detector = detector
        self.factors = factors
        self.background_subtracted = background_subtracted
        self._last_background: dict[tuple[int, int], tuple[float, float]] = {}
        self._last_raw_rates: dict[tuple[int, int], tuple[float, float]] = {}

    def last_raw_rates(self, sweep: int, energy_index: int) -> tuple[float, float] | None:
        """Raw (signal, background) rates of this sweep and energy's last point with both."""
        return self._last_raw_rates.get((sweep, energy_index))

    def reduce(self, sweep: int, energy_index: int, angle_deg: float, signal: Gate,
               background: Gate | None) -> ReducedPoint:
        key = (sweep, energy_index)
        borrowed = None
        if background is None and self.background_subtracted:
            borrowed = self._last_background.get(key, (math.nan, math.nan))
        reduced = reduce_dcs_point(signal, background, self.detector,
                                   effective_volume_factor=self.factors[angle_deg],
                                   path_factor=path_factor(angle_deg), borrowed_background=borrowed)
        if reduced.background_norm is not None:
            self._last_background[key] = reduced.background_norm
            self._last_raw_rates[key] = (reduced.result.signal_rate_cps, reduced.result.background_rate_cps)
        return reduced


def path_factor(angle_deg: float) -> float:
    """``sin(angle)``: the electron beam crosses the gas along a path ``1/sin(angle)``
    long as seen by the analyzer, so the rate is multiplied by this to give a relative
    DCS.  The effective-volume factors then correct only what departs from it (the
    small-angle growth of the viewed volume: PHYSICS.md §4, ``C ~ 1/V``)."""
    return abs(math.sin(math.radians(angle_deg)))


def effective_volume_factors(angles_deg, table_angles_deg=None, table_factors=None) -> dict[float, float]:
    """The factor at each angle, linear in the table (all 1 without a table; ValueError
    for an angle outside it)."""
    if table_angles_deg is None:
        return {float(a): 1.0 for a in angles_deg}
    return {float(a): float(counting.effective_volume_factor(a, table_angles_deg, table_factors)) for a in angles_deg}
