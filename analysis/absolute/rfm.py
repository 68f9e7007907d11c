"""The relative flow method (PHYSICS.md §1 and §3).

One absolute point, in the flow form (both gases at the same temperature)::

    DCS_x = DCS_Ar * (I_x / I_Ar) * (F_Ar / F_x) * sqrt(M_Ar / M_x)

``sqrt(M)`` because the density of an effusing beam is ``n = F g(r) <1/v>`` with
``<1/v> ~ sqrt(M/T)``.  In the purely molecular regime ``F = C p`` with
``C ~ sqrt(T/M)``, so the same point in the pressure form is
``DCS_x = DCS_Ar (I_x/I_Ar)(p_Ar/p_x)`` with NO ``sqrt(M)``.

The API makes the wrong combination (pressure form with ``sqrt(M)``) impossible to
write by accident: the density ratio ``n_Ar/n_x`` is a :class:`DensityRatio`, made
either by :func:`flow_density_ratio` (which alone takes the molar masses) or by
:func:`molecular_pressure_density_ratio` (which takes none), and :func:`rfm_point`
accepts nothing else (a bare number is a ``TypeError``).

``I`` is the beam-normalised, background-subtracted rate with each rate corrected for
dead time before the subtraction, and NOT divided by the pressure (the flow carries the
density): :func:`beam_normalised_intensity`.

Then the cycles (target, argon, repeated 2-3 times) are combined
(:func:`combine_cycles`) and the relative DCS of an energy is scaled onto its absolute
points (:func:`scale_factor`): weights from the uncorrelated terms only, the common
ones (the argon reference, a shared gauge factor) added once after averaging.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from acquisition.counting import corrected_rate

from .rate_of_rise import Flow

__all__ = [
    "DensityRatio",
    "Intensity",
    "RfmPoint",
    "Scale",
    "beam_normalised_intensity",
    "combine_cycles",
    "flow_density_ratio",
    "intensity_ratio",
    "molecular_pressure_density_ratio",
    "rfm_point",
    "scale_factor",
    "scale_from_points",
]

_NANO = 1e-9  # A per nA


# --------------------------------------------------------------------------- intensity


@dataclass(frozen=True)
class Intensity:
    """A beam-normalised net rate ``I = (D(m_s) - D(m_b)) / I_e`` in cps/nA, with its
    standard uncertainty (counting statistics, grown by ``dn/dm`` for dead time)."""

    cps_per_nA: float
    err_cps_per_nA: float
    net_cps: float
    net_err_cps: float

    @property
    def relative_err(self) -> float:
        return self.err_cps_per_nA / abs(self.cps_per_nA) if self.cps_per_nA else math.inf


def beam_normalised_intensity(signal_counts: float, signal_s: float, background_counts: float, background_s: float,
                              beam_current_A: float, *, dead_time_s: float = 0.0,
                              model: str = "nonparalyzable") -> Intensity:
    """``R = D(N_s/t_s) - D(N_b/t_b)``, ``I = R / I_e`` (PHYSICS.md §1).

    Each rate is corrected for dead time (:func:`acquisition.counting.corrected_rate`)
    BEFORE subtracting: the loss depends on the total rate at the detector, so
    correcting the difference is wrong.  Not divided by the pressure: in the RFM the
    flow carries the density.
    """
    if not beam_current_A > 0:
        raise ValueError(f"beam current must be > 0 A, got {beam_current_A!r}")
    n_s, var_s = corrected_rate(signal_counts, signal_s, dead_time_s, model)
    n_b, var_b = corrected_rate(background_counts, background_s, dead_time_s, model)
    net, err = float(n_s - n_b), math.sqrt(float(var_s + var_b))
    current_nA = beam_current_A / _NANO
    return Intensity(net / current_nA, err / current_nA, net, err)


def intensity_ratio(target: Intensity, reference: Intensity) -> tuple[float, float]:
    """``(I_x / I_Ar, its relative statistical uncertainty)``: the two are independent counts."""
    if not (target.cps_per_nA > 0 and reference.cps_per_nA > 0):
        raise ValueError(f"intensities must be > 0: target {target.cps_per_nA!r}, reference {reference.cps_per_nA!r}")
    return target.cps_per_nA / reference.cps_per_nA, math.hypot(target.relative_err, reference.relative_err)


# --------------------------------------------------------------------------- density ratio


@dataclass(frozen=True)
class DensityRatio:
    """``n_Ar / n_x`` in the interaction region per unit of flow or pressure, and its
    relative standard uncertainty (uncorrelated: the flow fits).

    Made by :func:`flow_density_ratio` or :func:`molecular_pressure_density_ratio`;
    building one by hand bypasses the check this type exists for.
    """

    value: float
    relative_err: float
    form: Literal["flow", "molecular-pressure"]

    def __post_init__(self) -> None:
        if self.form not in ("flow", "molecular-pressure"):
            raise ValueError(f"DensityRatio form {self.form!r}: must be 'flow' or 'molecular-pressure'")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"density ratio must be finite and > 0, got {self.value!r}")


def flow_density_ratio(reference_flow: Flow, target_flow: Flow, *, molar_mass_reference_g_mol: float,
                       molar_mass_target_g_mol: float) -> DensityRatio:
    """Flow form: ``(F_Ar / F_x) sqrt(M_Ar / M_x)``, the flows' uncertainties propagated.

    The flows must be :class:`~analysis.absolute.rate_of_rise.Flow` objects (from
    :func:`~analysis.absolute.rate_of_rise.flow_rate` or ``flow_from_rise``), so that a
    pressure cannot be passed as a flow (which would be the pressure form with
    ``sqrt(M)``).  When V and T are shared they cancel; any common V and T serve.  The
    masses are keyword-only: ``sqrt(M_Ar/M_x)`` upside down is a factor ``M_x/M_Ar``.
    """
    for what, flow in (("reference_flow", reference_flow), ("target_flow", target_flow)):
        if not isinstance(flow, Flow):
            raise TypeError(f"{what} must be a Flow (analysis.absolute.rate_of_rise.flow_rate), "
                            f"not {type(flow).__name__}: a pressure is not a flow")
    f_ref, f_x = reference_flow.molecules_per_s, target_flow.molecules_per_s
    if not (f_ref > 0 and f_x > 0):
        raise ValueError(f"flows must be > 0: reference {f_ref!r}, target {f_x!r}")
    if not (molar_mass_reference_g_mol > 0 and molar_mass_target_g_mol > 0):
        raise ValueError("molar masses must be > 0")
    value = f_ref / f_x * math.sqrt(molar_mass_reference_g_mol / molar_mass_target_g_mol)
    return DensityRatio(value, math.hypot(reference_flow.relative_err, target_flow.relative_err), "flow")


def molecular_pressure_density_ratio(reference_pressure_Pa: float, target_pressure_Pa: float, *,
                                     relative_err: float = 0.0) -> DensityRatio:
    """Pressure form, purely molecular regime only: ``p_Ar / p_x``, NO ``sqrt(M)``.

    Takes no masses on purpose (the conductance's ``sqrt(T/M)`` cancels the beam's
    ``sqrt(M/T)``).  Near Kn ~ 1 the conductance is not molecular: measure the flows
    and use :func:`flow_density_ratio`.
    """
    if not (reference_pressure_Pa > 0 and target_pressure_Pa > 0):
        raise ValueError(f"pressures must be > 0: reference {reference_pressure_Pa!r}, target {target_pressure_Pa!r}")
    return DensityRatio(reference_pressure_Pa / target_pressure_Pa, float(relative_err), "molecular-pressure")


# --------------------------------------------------------------------------- one point, cycles


@dataclass(frozen=True)
class RfmPoint:
    """One absolute DCS point (1e-20 m^2/sr) and its uncertainty terms (absolute, same unit).

    ``err_stat``: counting statistics of both intensities; ``err_flow``: the flow fits;
    ``reference_relative_err``: the argon reference DCS, common to every point (added
    once, after averaging; not in ``err_uncorrelated``).
    """

    dcs: float
    err_stat: float
    err_flow: float
    reference_relative_err: float = 0.0
    energy_eV: float = math.nan
    angle_deg: float = math.nan

    @property
    def err_uncorrelated(self) -> float:
        return math.hypot(self.err_stat, self.err_flow)

    @property
    def err_total(self) -> float:
        return math.hypot(self.err_uncorrelated, self.dcs * self.reference_relative_err)


def rfm_point(reference_dcs: float, intensity_ratio: float, density: DensityRatio, *,
              intensity_ratio_relative_err: float = 0.0, reference_relative_err: float = 0.0,
              energy_eV: float = math.nan, angle_deg: float = math.nan) -> RfmPoint:
    """``DCS_x = DCS_Ar (I_x/I_Ar) (n_Ar/n_x)`` with ``n_Ar/n_x`` a :class:`DensityRatio`.

    ``intensity_ratio`` is ``I_x / I_Ar`` (beam-normalised, background-subtracted);
    ``intensity_ratio_relative_err`` its relative statistical uncertainty.
    """
    if not isinstance(density, DensityRatio):
        raise TypeError(
            f"density must be a DensityRatio from flow_density_ratio (flow form, with sqrt(M)) or "
            f"molecular_pressure_density_ratio (pressure form, no sqrt(M)), not {type(density).__name__}"
        )
    dcs = reference_dcs * intensity_ratio * density.value
    return RfmPoint(dcs, abs(dcs) * intensity_ratio_relative_err, abs(dcs) * density.relative_err,
                    reference_relative_err, energy_eV, angle_deg)


def combine_cycles(points: Sequence[RfmPoint]) -> RfmPoint:
    """Weighted mean of one (energy, angle)'s cycles, weights ``1/err_uncorrelated^2``.

    The statistical and flow terms are propagated separately
    (``err_stat = sqrt(sum w_i^2 err_stat_i^2) / sum w_i``, likewise for the flow), so
    the budget keeps both; the common reference term is not averaged down.  Equal
    weights when no point carries an uncorrelated uncertainty.
    """
    if not points:
        raise ValueError("no RFM points to combine")
    refs = {p.reference_relative_err for p in points}
    if len(refs) > 1:
        raise ValueError(f"cycles with different reference uncertainties {sorted(refs)}: not one reference DCS")
    dcs = np.array([p.dcs for p in points])
    stat = np.array([p.err_stat for p in points])
    flow = np.array([p.err_flow for p in points])
    var = stat**2 + flow**2
    w = 1.0 / var if np.all(var > 0) else np.ones_like(dcs)
    sw = w.sum()
    mean = float(np.sum(w * dcs) / sw)
    err_stat = float(math.sqrt(np.sum(w**2 * stat**2)) / sw)
    err_flow = float(math.sqrt(np.sum(w**2 * flow**2)) / sw)
    first = points[0]
    return RfmPoint(mean, err_stat, err_flow, first.reference_relative_err, first.energy_eV, first.angle_deg)


# --------------------------------------------------------------------------- scaling


@dataclass(frozen=True)
class Scale:
    """``DCS_abs = k R``: the factor, its uncorrelated and common uncertainty (absolute)."""

    k: float
    err_uncorrelated: float  #: 1/sqrt(sum w_i): from the points' uncorrelated terms
    err_common: float  #: k * common relative term, added once
    n_points: int
    #: with :func:`scale_from_points`: the relative parts of ``err_uncorrelated`` from the
    #: RFM statistics (with the relative DCS's own at those angles) and from the flows,
    #: the budget's ``rfm_stat`` and ``flow`` terms (nan from :func:`scale_factor`)
    stat_relative_err: float = math.nan
    flow_relative_err: float = math.nan

    @property
    def err_total(self) -> float:
        return math.hypot(self.err_uncorrelated, self.err_common)

    @property
    def relative_err(self) -> float:
        return self.err_total / abs(self.k)


def scale_factor(absolute, relative, uncorrelated_relative_err, common_relative_err: float = 0.0) -> Scale:
    """``k = sum w_i (A_i/R_i) / sum w_i`` with ``w_i = 1/(k_i u_i)^2``, ``k_i = A_i/R_i``.

    ``absolute``: the RFM points ``A_i``; ``relative``: the relative DCS ``R_i`` at the
    same (energy, angle); ``uncorrelated_relative_err``: per point, the relative
    uncertainty of ``A_i/R_i`` from the uncorrelated terms only (statistics, flow,
    stability: they average down); ``common_relative_err``: the terms shared by every
    point (the argon reference, a shared gauge factor), added once after averaging.
    Equal weights when every uncorrelated term is 0.
    """
    a = np.atleast_1d(np.asarray(absolute, dtype=float))
    r = np.atleast_1d(np.asarray(relative, dtype=float))
    u = np.broadcast_to(np.asarray(uncorrelated_relative_err, dtype=float), a.shape)
    if a.shape != r.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"{a.size} absolute points but {r.size} relative values")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(r) & (r != 0)) and np.all(u >= 0)):
        raise ValueError("absolute and relative values must be finite (relative != 0), uncertainties >= 0")
    ratio = a / r
    if np.all(u == 0):
        k, err = float(ratio.mean()), 0.0
    elif np.all(u > 0):
        w = 1.0 / (ratio * u) ** 2
        k, err = float(np.sum(w * ratio) / w.sum()), float(1.0 / math.sqrt(w.sum()))
    else:
        raise ValueError("either every point has an uncorrelated uncertainty or none has")
    return Scale(k, err, abs(k) * common_relative_err, int(a.size))


def scale_from_points(points: Sequence[RfmPoint], relative, relative_err) -> Scale:
    """:func:`scale_factor` from combined RFM points and the relative DCS ``R_i`` (with
    its statistical uncertainty ``relative_err``) at the same angles, keeping the parts.

    Per point ``k_i = A_i / R_i`` with relative terms ``s_i`` (the RFM statistics and
    ``R_i``'s) and ``f_i`` (the flows); ``w_i = 1/(k_i^2 (s_i^2 + f_i^2))``; then
    ``stat_relative_err = sqrt(sum w_i^2 k_i^2 s_i^2) / sum w_i / k`` and likewise for
    the flow, which add in quadrature to ``err_uncorrelated / k``.  The common term is
    the points' reference uncertainty (one reference DCS for all).
    """
    if not points:
        raise ValueError("no RFM points to scale onto")
    refs = {p.reference_relative_err for p in points}
    if len(refs) > 1:
        raise ValueError(f"points with different reference uncertainties {sorted(refs)}: not one reference DCS")
    a = np.array([p.dcs for p in points])
    r = np.atleast_1d(np.asarray(relative, dtype=float))
    u_r = np.broadcast_to(np.asarray(relative_err, dtype=float), r.shape)
    if r.shape != a.shape:
        raise ValueError(f"{a.size} RFM points but {r.size} relative values")
    s = np.hypot(np.array([p.err_stat for p in points]) / a, u_r / r)
    f = np.array([p.err_flow for p in points]) / a
    scale = scale_factor(a, r, np.hypot(s, f), refs.pop())
    ratio = a / r
    if np.all(np.hypot(s, f) > 0):
        w = 1.0 / (ratio**2 * (s**2 + f**2))
    else:
        w = np.ones_like(ratio)

    def part(rel: np.ndarray) -> float:
        return float(math.sqrt(np.sum(w**2 * ratio**2 * rel**2)) / w.sum() / abs(scale.k))

    return dataclasses.replace(scale, stat_relative_err=part(s), flow_relative_err=part(f))
