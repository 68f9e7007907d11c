"""The absolute chain of ``xbeam absolute``: pure steps from the typed runs (:mod:`.runs`)
to the absolute DCS, its budget and the ICS.  No files: every function takes arrays and
dataclasses (the readers and writers are :mod:`.runs`, :mod:`.report`, :mod:`.nexus`).

1. :func:`volume_factor_sets`: C(theta) per energy from the argon volume run against the
   reference argon DCS convolved with the angular response (:mod:`.volume`); argon
   points with an excluding flag are left out of ``<r>_good`` and mark the target
   points at their (energy, angle).
2. :func:`correct_relative`: ``R' = C R`` per (energy, angle), exactly where the argon
   run measured (:class:`.volume.VolumeFactorTable`).
3. :func:`rfm_cycle_points`: one absolute point per (cycle, energy, angle), flow form
   (:func:`.rfm.flow_density_ratio`: ``(F_Ar/F_x) sqrt(M_Ar/M_x)``), the reference DCS
   convolved like the volume factors; the mean free paths of the two gases at their line
   pressures are compared (unequal ones bias the RFM: a warning and a flag).
   :func:`combine_rfm_points`: the cycles combined (:func:`.rfm.combine_cycles`).
4. :func:`energy_scales`: ``k`` per energy (:func:`.rfm.scale_from_points`): the
   uncorrelated terms (RFM statistics and flows, the relative DCS's statistics and
   stability and C's statistics at the RFM angles) weight the points, the reference term
   is common and added once, in the budget.
5. :func:`absolute_budget`: ``DCS = k C R`` with every term (:func:`.budget.build_budget`).
6. :func:`integral_cross_sections`: ICS and MTCS (:func:`.ics.cross_sections`) with the
   user's shapes, or without any, a log-linear extrapolation of the DCS itself
   (:func:`self_extrapolation_shapes`), which the outputs say.

:func:`run_chain` runs them in order and returns an :class:`AbsoluteResult`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from acquisition.events import PointFlag
from foundation.dcs_table import DcsTable

from .budget import Budget, build_budget, quadrature, small_angle_volume_term
from .ics import IcsResult, Shape, cross_sections, extrapolated_dcs
from .mean_free_path import mean_free_path
from .rfm import (
    DensityRatio,
    RfmPoint,
    Scale,
    combine_cycles,
    flow_density_ratio,
    intensity_ratio,
    rfm_point,
    scale_from_points,
)
from .runs import (
    EXCLUDING_FLAGS,
    AbsoluteInputError,
    CombinedDcs,
    GasInfo,
    RfmFlow,
    RfmIntensity,
    RfmRun,
    angle_key,
    energy_key,
    index_of,
)
from .volume import (
    VolumeFactors,
    VolumeFactorTable,
    apply_volume_factors,
    convolved_reference,
    volume_factors_against_table,
)

__all__ = [
    "VOLUME_TERMS",
    "AbsoluteResult",
    "ChainOptions",
    "CombinedRfmPoint",
    "CorrectedDcs",
    "CyclePoint",
    "EnergyIcs",
    "EnergyScale",
    "VolumeEnergy",
    "absolute_budget",
    "combine_rfm_points",
    "correct_relative",
    "energy_scales",
    "integral_cross_sections",
    "rfm_cycle_points",
    "run_chain",
    "self_extrapolation_shapes",
    "shapes_at",
    "volume_factor_sets",
]

#: --volume-term: "study" = the study's 20 % at 25-40 deg (in quadrature with C's own
#: statistics from the argon run); "measured" = C's uncertainty alone
VOLUME_TERMS = ("study", "measured")

# analysis flags (lower case, beside the PointFlag names in budget.csv's flags)
ARGON_FLAGGED = "argon_flagged"  #: the argon point at this (energy, angle) has an excluding flag
NEAR_ARGON_MINIMUM = "near_argon_minimum"  #: within exclude_within_deg of a minimum of the reference
#: an RFM point whose flow was measured at another line pressure than its intensity
FLOW_PRESSURE = "flow_pressure"
UNEQUAL_MFP = "unequal_mfp"  #: RFM: the two gases' mean free paths differ beyond mfp_tolerance
SCALE_FROM_FLAGGED = "scale_from_flagged"  #: every RFM point of this energy was flagged: used anyway


@dataclass(frozen=True)
class ChainOptions:
    """Every parameter of the chain (recorded in the analysis file)."""

    reference_relative_err: float = 0.20  #: the argon reference DCS (--reference-term)
    volume_term: Literal["study", "measured"] = "study"
    small_angle_term: float = 0.20  #: the study's effective-volume term ...
    small_angle_range_deg: tuple[float, float] = (25.0, 40.0)  #: ... at these angles
    theta_good_deg: float = 60.0  #: <r>_good over theta >= this
    angular_fwhm_deg: float = 0.0  #: the analyzer's Gaussian angular response
    exclude_within_deg: float = 5.0  #: reference minima: left out of <r>_good within this
    mfp_tolerance: float = 0.05  #: relative difference of the RFM mean free paths that warns

    def __post_init__(self) -> None:
        if self.volume_term not in VOLUME_TERMS:
            raise ValueError(f"volume_term {self.volume_term!r}: one of {', '.join(VOLUME_TERMS)}")
        for name in ("reference_relative_err", "small_angle_term", "angular_fwhm_deg", "exclude_within_deg",
                     "mfp_tolerance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} = {value!r}: must be a finite number >= 0")
        if not 0 <= self.theta_good_deg <= 180:
            raise ValueError(f"theta_good_deg = {self.theta_good_deg!r}: must be 0-180 deg")


# --------------------------------------------------------------------------- 1. volume factors


@dataclass(frozen=True)
class VolumeEnergy:
    """The volume factors of one energy and what they were computed from."""

    factors: VolumeFactors
    reference_dcs: np.ndarray  #: the convolved reference at the angles (1e-20 m^2/sr)
    measured: np.ndarray  #: R_Ar
    measured_err: np.ndarray  #: its uncertainty (statistics and stability)
    excluded: np.ndarray  #: bool: argon points with an excluding flag (not in <r>_good)


def _reference_at(reference: DcsTable, energy_eV: float, angles_deg, fwhm_deg: float, where: str) -> np.ndarray:
    try:
        return convolved_reference(reference, energy_eV, angles_deg, fwhm_deg)
    except ValueError as exc:
        raise AbsoluteInputError(f"--reference-dcs {reference.source or '(table)'}: {exc} ({where})") from None


def volume_factor_sets(volume: CombinedDcs, reference: DcsTable, *, fwhm_deg: float = 0.0,
                       theta_good_deg: float = 60.0, exclude_within_deg: float = 5.0) -> tuple[VolumeEnergy, ...]:
    """C(theta) at every energy of the argon runs (:func:`.volume.volume_factors_against_table`).

    ``R_Ar``'s uncertainty is its statistics and stability in quadrature.  Argon points
    with an excluding flag get no weight in ``<r>_good`` (their C is still computed, its
    uncertainty from their own statistics and the mean's).
    """
    out = []
    where = f"--volume {volume.describe_sources()}"
    for energy in volume.energies:
        idx = volume.at_energy(energy)
        angles, m = volume.angle_deg[idx], volume.value[idx]
        u = np.abs(m) * np.hypot(volume.stat_err[idx] / m, volume.stability[idx])
        excluded = volume.excluded[idx]
        if not np.all(np.isfinite(m) & (m > 0)):
            raise AbsoluteInputError(f"{where}: argon relative DCS at {energy:g} eV not all > 0: "
                                     f"{', '.join(f'{a:g} deg' for a in angles[~(m > 0)])}")
        if not np.all(np.isfinite(u) & (u > 0)):
            raise AbsoluteInputError(f"{where}: argon points at {energy:g} eV without a statistical error "
                                     f"({', '.join(f'{a:g} deg' for a in angles[~(u > 0)])}): C needs weights")
        weights_err = np.where(excluded, np.inf, u)  # no weight in <r>_good
        _reference_at(reference, energy, angles, fwhm_deg, f"the --volume run measured {energy:g} eV")
        none_left = AbsoluteInputError(f"{where}: at {energy:g} eV no unflagged argon point >= theta_good = "
                                       f"{theta_good_deg:g} deg away from the reference minima to normalise C on")
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                vf = volume_factors_against_table(reference, energy, angles, m, measured_err=weights_err,
                                                  fwhm_deg=fwhm_deg, theta_good_deg=theta_good_deg,
                                                  exclude_within_deg=exclude_within_deg)
        except ZeroDivisionError:  # every angle of <r>_good has no weight: all flagged
            raise none_left from None
        except ValueError as exc:
            raise AbsoluteInputError(f"{where}: at {energy:g} eV: {exc}") from None
        if not (vf.in_normalisation & ~excluded).any() or not np.all(np.isfinite(vf.factors)):
            raise none_left
        if excluded.any():
            rel_own = u / m
            ok = ~excluded
            rel_mean = float(np.median(np.sqrt(np.maximum(0.0, (vf.errors[ok] / vf.factors[ok]) ** 2
                                                          - rel_own[ok] ** 2))))
            errors = np.where(excluded, vf.factors * np.hypot(rel_own, rel_mean), vf.errors)
            vf = dataclasses.replace(vf, errors=errors)
        ref = convolved_reference(reference, energy, angles, fwhm_deg)
        out.append(VolumeEnergy(vf, ref, m, u, excluded))
    return tuple(out)


# --------------------------------------------------------------------------- 2. corrected relative DCS


@dataclass(frozen=True)
class CorrectedDcs:
    """The target's relative DCS with the measured C applied, per point."""

    energy_eV: np.ndarray
    angle_deg: np.ndarray
    value: np.ndarray  #: C R
    stat_err: np.ndarray  #: C u_R (absolute)
    stability: np.ndarray  #: relative
    factor: np.ndarray  #: C
    factor_err: np.ndarray  #: u_C
    flags: np.ndarray  #: PointFlag bits of the target point
    notes: tuple[tuple[str, ...], ...]  #: analysis flags per point
    excluded: np.ndarray  #: bool: left out of the scale and the ICS normalisation

    def index(self, energy_eV: float, angle_deg: float) -> int | None:
        return index_of(self.energy_eV, self.angle_deg, energy_eV, angle_deg)


def correct_relative(relative: CombinedDcs, sets: Sequence[VolumeEnergy], *,
                     volume_sources: str = "") -> CorrectedDcs:
    """``R' = C R`` at every point of ``relative`` (a point the argon runs did not measure
    is refused: C is never interpolated)."""
    measured = {energy_key(s.factors.energy_eV) for s in sets}
    missing = [e for e in relative.energies if energy_key(e) not in measured]
    if missing:
        raise AbsoluteInputError(
            f"--volume {volume_sources}: no argon points at {', '.join(f'{e:g}' for e in missing)} eV (they hold "
            f"{', '.join(f'{s.factors.energy_eV:g}' for s in sets)} eV): the volume runs must cover every energy "
            "of --relative")
    table = VolumeFactorTable.from_factors(s.factors for s in sets)
    try:
        value, err, u_c_abs = apply_volume_factors(table, relative.energy_eV, relative.angle_deg, relative.value,
                                                   relative.stat_err)
    except KeyError as exc:
        raise AbsoluteInputError(f"--volume {volume_sources}: {exc.args[0]}") from None
    factor = np.array([table.lookup(float(e), float(a))[0] for e, a in zip(relative.energy_eV, relative.angle_deg)])
    notes, argon_bad = [], np.zeros(len(relative), dtype=bool)
    lookup = {}
    for s in sets:
        for a, near, excl in zip(s.factors.angles_deg, s.factors.near_minimum, s.excluded):
            lookup[(energy_key(s.factors.energy_eV), angle_key(a))] = (bool(near), bool(excl))
    for i, (e, a) in enumerate(zip(relative.energy_eV, relative.angle_deg)):
        near, excl = lookup.get((energy_key(e), angle_key(a)), (False, False))
        notes.append(tuple(n for n, on in ((ARGON_FLAGGED, excl), (NEAR_ARGON_MINIMUM, near)) if on))
        argon_bad[i] = excl
    with np.errstate(invalid="ignore", divide="ignore"):
        factor_err = np.where(relative.value != 0, u_c_abs / relative.value, 0.0)
    return CorrectedDcs(relative.energy_eV.copy(), relative.angle_deg.copy(), value, err, relative.stability.copy(),
                        factor, np.abs(factor_err), relative.flags.copy(), tuple(notes),
                        relative.excluded | argon_bad)


# --------------------------------------------------------------------------- 3. RFM points


@dataclass(frozen=True)
class CyclePoint:
    """One absolute point of one cycle and everything it came from."""

    source_index: int  #: which --rfm file
    cycle: int
    energy_eV: float
    angle_deg: float
    point: RfmPoint
    intensity_ratio: float  #: I_x / I_Ar
    intensity_ratio_err: float  #: relative
    density: DensityRatio  #: (F_Ar/F_x) sqrt(M_Ar/M_x)
    reference_dcs: float  #: convolved argon reference at (energy, angle)
    target: RfmIntensity
    reference: RfmIntensity
    target_flow: RfmFlow
    reference_flow: RfmFlow
    mfp_ratio: float  #: lambda_target / lambda_reference at the two line pressures (nan: unknown)
    flags: tuple[str, ...]  #: analysis flags (unequal_mfp) and the PointFlag names of either gate
    excluded: bool  #: either intensity point has an excluding flag


def _mfp_ratio(target: RfmIntensity, reference: RfmIntensity, gases: tuple[GasInfo, GasInfo],
               temperature_K: float) -> float:
    if not (target.line_pressure_mbar > 0 and reference.line_pressure_mbar > 0 and temperature_K > 0):
        return math.nan
    lt = mean_free_path(target.line_pressure_mbar * 100.0, gases[0].diameter_m, temperature_K)
    lr = mean_free_path(reference.line_pressure_mbar * 100.0, gases[1].diameter_m, temperature_K)
    return float(lt / lr)


def rfm_cycle_points(rfm: RfmRun, reference: DcsTable, *, fwhm_deg: float = 0.0,
                     reference_relative_err: float = 0.20, mfp_tolerance: float = 0.05,
                     source_index: int = 0) -> tuple[list[CyclePoint], list[str]]:
    """Every (cycle, energy, angle) with both gases' intensities and flows: one
    :func:`.rfm.rfm_point` in the flow form.  Returns the points and the warnings
    (points left out, unequal mean free paths)."""
    where = f"--rfm {rfm.path}"
    gases = rfm.gases
    warnings: list[str] = []
    by_key: dict[tuple[int, float, float], dict[int, RfmIntensity]] = {}
    for it in rfm.intensities:
        by_key.setdefault((it.cycle, energy_key(it.energy_eV), angle_key(it.angle_deg)), {})[it.gas_index] = it
    if gases[0].diameter_kind != gases[1].diameter_kind:
        warnings.append(f"{where}: the gases' diameters are of different kinds ({gases[0].name} "
                        f"{gases[0].diameter_kind or '?'}, {gases[1].name} {gases[1].diameter_kind or '?'}): "
                        "their mean free paths cannot be compared")
    points, unequal, unknown_mfp = [], [], 0
    for (cycle, energy, angle), pair in sorted(by_key.items()):
        label = f"{where}: cycle {cycle}, {energy:g} eV, {angle:g} deg"
        if 0 not in pair or 1 not in pair:
            warnings.append(f"{label}: only the {'target' if 0 in pair else 'reference'} gas was measured: left out")
            continue
        tgt, ref = pair[0], pair[1]
        flows = [rfm.flow(cycle, energy, g) for g in (0, 1)]
        if None in flows:
            missing = " and ".join(gases[g].name for g in (0, 1) if flows[g] is None)
            warnings.append(f"{label}: no flow of {missing} for this cycle: left out")
            continue
        try:
            ratio, ratio_err = intensity_ratio(tgt.intensity, ref.intensity)
        except ValueError as exc:
            warnings.append(f"{label}: {exc}: left out")
            continue
        density = flow_density_ratio(flows[1].flow, flows[0].flow, molar_mass_reference_g_mol=gases[1].molar_mass_g_mol,
                                     molar_mass_target_g_mol=gases[0].molar_mass_g_mol)
        ref_dcs = float(_reference_at(reference, energy, [angle], fwhm_deg, f"the RFM point at {energy:g} eV")[0])
        point = rfm_point(ref_dcs, ratio, density, intensity_ratio_relative_err=ratio_err,
                          reference_relative_err=reference_relative_err, energy_eV=energy, angle_deg=angle)
        temperature = rfm.temperature_K if rfm.temperature_K > 0 else flows[0].rise.temperature_K
        mfp = _mfp_ratio(tgt, ref, gases, temperature) if gases[0].diameter_kind == gases[1].diameter_kind else math.nan
        flags = []
        if math.isfinite(mfp) and abs(mfp - 1.0) > mfp_tolerance:
            flags.append(UNEQUAL_MFP)
            unequal.append((cycle, energy, mfp, tgt.line_pressure_mbar, ref.line_pressure_mbar))
        elif not math.isfinite(mfp):
            unknown_mfp += 1
        # the flow must be that of the intensities: its line at the pressure they were measured at
        moved = [(gases[g].name, flow.rise.steady_mbar, it.line_pressure_mbar)
                 for g, (flow, it) in enumerate(zip(flows, (tgt, ref)))
                 if not abs(flow.rise.steady_mbar / it.line_pressure_mbar - 1.0) <= mfp_tolerance]
        if moved:
            flags.append(FLOW_PRESSURE)
            warnings.append(f"{label}: the flow of " + ", ".join(
                f"{name} was measured at {p_flow:.4g} mbar, its intensity at {p_point:.4g} mbar"
                for name, p_flow, p_point in moved) + ": left out of the scale")
        bits = PointFlag(tgt.flags | ref.flags)
        if bits:
            flags.extend(f.name for f in PointFlag if f and f in bits)
        points.append(CyclePoint(source_index, cycle, energy, angle, point, ratio, ratio_err, density, ref_dcs, tgt,
                                 ref, flows[0], flows[1], mfp, tuple(flags),
                                 bool(int(bits) & int(EXCLUDING_FLAGS)) or bool(moved)))
    if unequal:
        worst = max(unequal, key=lambda u: abs(u[2] - 1.0))
        warnings.append(
            f"{where}: unequal mean free paths at {len(unequal)} RFM points (worst: cycle {worst[0]}, {worst[1]:g} eV: "
            f"lambda_{gases[0].name}/lambda_{gases[1].name} = {worst[2]:.3f} at {worst[3]:.4g} and {worst[4]:.4g} mbar; "
            f"tolerance {mfp_tolerance:g}): the beam profiles differ and bias the absolute scale")
    if unknown_mfp and gases[0].diameter_kind == gases[1].diameter_kind:
        warnings.append(f"{where}: {unknown_mfp} RFM points without both line pressures: their mean free paths "
                        "were not compared")
    return points, warnings


@dataclass(frozen=True)
class CombinedRfmPoint:
    """The cycles of one (energy, angle) combined."""

    energy_eV: float
    angle_deg: float
    point: RfmPoint
    n_cycles: int
    chi2_per_dof: float  #: scatter of the cycles against their uncorrelated errors (nan: one cycle)
    flags: tuple[str, ...]
    excluded: bool  #: every cycle had an excluding flag (used only if nothing else is left)


def combine_rfm_points(points: Sequence[CyclePoint]) -> tuple[CombinedRfmPoint, ...]:
    """:func:`.rfm.combine_cycles` per (energy, angle) over every cycle of every file; the
    flagged cycles are left out unless no other is left."""
    groups: dict[tuple[float, float], list[CyclePoint]] = {}
    for p in points:
        groups.setdefault((energy_key(p.energy_eV), angle_key(p.angle_deg)), []).append(p)
    out = []
    for (energy, angle), members in sorted(groups.items()):
        use = [p for p in members if not p.excluded] or members
        combined = combine_cycles([p.point for p in use])
        chi2 = math.nan
        if len(use) > 1:
            d = np.array([p.point.dcs for p in use])
            e = np.array([p.point.err_uncorrelated for p in use])
            if np.all(e > 0):
                chi2 = float(np.sum(((d - combined.dcs) / e) ** 2) / (len(use) - 1))
        flags = tuple(sorted({f for p in use for f in p.flags}))
        out.append(CombinedRfmPoint(energy, angle, combined, len(use), chi2, flags, all(p.excluded for p in use)))
    return tuple(out)


# --------------------------------------------------------------------------- 4. scale factors


@dataclass(frozen=True)
class EnergyScale:
    """``k`` of one energy: ``DCS_abs = k C R``."""

    energy_eV: float
    scale: Scale
    angles_deg: tuple[float, ...]  #: the RFM angles used
    rfm_dcs: tuple[float, ...]  #: A_i
    relative: tuple[float, ...]  #: C R at those angles
    relative_err: tuple[float, ...]  #: its uncorrelated uncertainty (statistics, stability, C)
    flags: tuple[str, ...] = ()


def energy_scales(corrected: CorrectedDcs, combined: Sequence[CombinedRfmPoint], *,
                  rfm_sources: str = "") -> tuple[EnergyScale, ...]:
    """``k`` for every energy of ``corrected`` from the combined RFM points at its angles
    (unflagged relative points only, unless none is left)."""
    out = []
    for energy in np.unique(corrected.energy_eV):
        candidates = []
        for c in combined:
            if energy_key(c.energy_eV) != energy_key(energy):
                continue
            i = corrected.index(c.energy_eV, c.angle_deg)
            if i is not None:
                candidates.append((c, i))
        if not candidates:
            held = sorted({(c.energy_eV, c.angle_deg) for c in combined})
            listing = ", ".join(f"{e:g} eV/{a:g} deg" for e, a in held) or "none"
            raise AbsoluteInputError(
                f"--rfm {rfm_sources}: no RFM point at {energy:g} eV at an angle --relative measured (RFM points: "
                f"{listing}): every energy of --relative needs one")
        good = [(c, i) for c, i in candidates if not c.excluded and not corrected.excluded[i]]
        flags: tuple[str, ...] = ()
        if not good:
            good, flags = candidates, (SCALE_FROM_FLAGGED,)
        if any(UNEQUAL_MFP in c.flags for c, _ in good):  # the bias reaches every point through k
            flags += (UNEQUAL_MFP,)
        r = np.array([corrected.value[i] for _, i in good])
        u = np.abs(r) * np.sqrt((corrected.stat_err[[i for _, i in good]] / r) ** 2
                                + corrected.stability[[i for _, i in good]] ** 2
                                + corrected.factor_err[[i for _, i in good]] ** 2
                                / corrected.factor[[i for _, i in good]] ** 2)
        scale = scale_from_points([c.point for c, _ in good], r, u)
        out.append(EnergyScale(float(energy), scale, tuple(float(c.angle_deg) for c, _ in good),
                               tuple(float(c.point.dcs) for c, _ in good), tuple(r.tolist()), tuple(u.tolist()),
                               flags))
    return tuple(out)


# --------------------------------------------------------------------------- 5. budget


def absolute_budget(corrected: CorrectedDcs, scales: Sequence[EnergyScale], options: ChainOptions) -> Budget:
    """``DCS = k C R`` per point with every term of the budget (relative terms in,
    absolute out: :func:`.budget.build_budget`)."""
    k = np.empty(corrected.value.size)
    flow = np.empty_like(k)
    rfm_stat = np.empty_like(k)
    scale_flags: list[tuple[str, ...]] = []
    by_energy = {energy_key(s.energy_eV): s for s in scales}
    for i, e in enumerate(corrected.energy_eV):
        s = by_energy[energy_key(e)]
        k[i], flow[i], rfm_stat[i] = s.scale.k, s.scale.flow_relative_err, s.scale.stat_relative_err
        scale_flags.append(s.flags)
    dcs = k * corrected.value
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.abs(corrected.stat_err / corrected.value)
        c_rel = np.abs(corrected.factor_err / corrected.factor)
    if options.volume_term == "study":
        lo, hi = options.small_angle_range_deg
        volume = quadrature(small_angle_volume_term(corrected.angle_deg, relative=options.small_angle_term,
                                                    lo_deg=lo, hi_deg=hi), c_rel)
    else:
        volume = c_rel
    flags = []
    for i in range(dcs.size):
        names = [] if not corrected.flags[i] else [PointFlag(int(corrected.flags[i])).describe()]
        names += list(corrected.notes[i]) + list(scale_flags[i])
        flags.append("|".join(names))
    return build_budget(corrected.energy_eV, corrected.angle_deg, dcs, stat=stat, stability=corrected.stability,
                        reference=options.reference_relative_err, volume=volume, flow=flow, rfm_stat=rfm_stat,
                        flags=flags)


# --------------------------------------------------------------------------- 6. ICS and MTCS


@dataclass(frozen=True)
class EnergyIcs:
    """ICS and MTCS of one energy, with what they were extrapolated with."""

    energy_eV: float
    result: IcsResult
    method: str  #: "shape" (the user's) or "self" (log-linear extrapolation of the DCS)
    shape_names: tuple[str, ...]
    match_ranges_deg: tuple[tuple[float, float] | None, ...]
    grid_deg: np.ndarray  #: for the plot: the extrapolated DCS on 0-180 deg
    curve: np.ndarray


def shapes_at(energy_eV: float, tables: Sequence[tuple[str, DcsTable]]) -> list[Shape]:
    """The user's shapes (``--shape`` tables, angle_deg,energy_eV,dcs) at one energy: each
    must hold that energy in its range and cover 0-180 deg."""
    out = []
    for name, table in tables:
        lo, hi = float(table.energies_eV[0]), float(table.energies_eV[-1])
        if not lo - 1e-9 <= energy_eV <= hi + 1e-9:
            raise AbsoluteInputError(f"--shape {name}: {lo:g}-{hi:g} eV, no {energy_eV:g} eV (a shape is not "
                                     "extrapolated in energy): give a shape for every energy of --relative")
        angles = np.asarray(table.angles_deg, float)
        try:
            out.append(Shape(angles, np.asarray(table(energy_eV, angles), float), name))
        except ValueError as exc:
            raise AbsoluteInputError(f"--shape {name}: {exc}") from None
    return out


def self_extrapolation_shapes(theta_deg, dcs, *, end_points: Sequence[int] = (3, 2, 4),
                              step_deg: float = 0.5) -> list[Shape]:
    """Without a shape from the user: the DCS itself, log-linear between the points and
    extrapolated log-linearly (a straight line in log DCS against angle) from its first
    and last ``n`` points to 0 and 180 deg, for each ``n`` of ``end_points`` (the first is
    the nominal one; the others give the extrapolation term).  A rough estimate: the
    forward peak of a molecule is steeper than any such line."""
    theta, y = np.asarray(theta_deg, float), np.asarray(dcs, float)
    ok = np.isfinite(y) & (y > 0)
    theta, y = theta[ok], y[ok]
    order = np.argsort(theta)
    theta, logy = theta[order], np.log(y[order])
    if theta.size < 2:
        raise ValueError("the log-linear extrapolation needs at least two unflagged points")
    grid = np.linspace(0.0, 180.0, round(180.0 / step_deg) + 1)
    shapes = []
    for n in end_points:
        m = min(max(2, int(n)), theta.size)
        front = np.polyfit(theta[:m], logy[:m], 1)
        back = np.polyfit(theta[-m:], logy[-m:], 1)
        inside = np.interp(grid, theta, logy)
        values = np.where(grid < theta[0], np.polyval(front, grid), np.where(grid > theta[-1], np.polyval(back, grid),
                                                                             inside))
        shapes.append(Shape(grid, np.exp(values), f"log-linear extrapolation of the DCS ({m} end points)"))
    return shapes


def integral_cross_sections(budget: Budget, flagged: np.ndarray, tables: Sequence[tuple[str, DcsTable]] = (),
                            match_ranges_deg: Sequence[tuple[float, float] | None] | None = None,
                            ) -> tuple[EnergyIcs, ...]:
    """ICS and MTCS per energy (:func:`.ics.cross_sections`), the DCS's total uncertainty
    as its weights and its DCS term.  Shapes: the user's ``tables`` (nominal first), else
    :func:`self_extrapolation_shapes`.  Matching ranges: every unflagged point (nominal),
    the forward half and the backward half of the window (the extrapolation term)."""
    out = []
    total = budget.u_total
    for energy in np.unique(budget.energy_eV):
        idx = np.flatnonzero(budget.energy_eV == energy)
        theta, y, u, fl = budget.angle_deg[idx], budget.dcs[idx], total[idx], np.asarray(flagged, bool)[idx]
        use = ~fl & np.isfinite(y)
        if use.sum() < 2:
            continue
        if tables:
            shapes, method = shapes_at(float(energy), tables), "shape"
        else:
            shapes, method = self_extrapolation_shapes(theta[use], y[use]), "self"
        if match_ranges_deg is None:
            lo, hi = float(theta[use].min()), float(theta[use].max())
            mid = float(np.median(theta[use]))
            ranges: tuple = (None, (lo, mid), (mid, hi)) if use.sum() >= 4 else (None,)
        else:
            ranges = tuple(match_ranges_deg)
        result = cross_sections(theta, y, u, shapes, flagged=fl, match_ranges_deg=ranges)
        grid = np.linspace(0.0, 180.0, 361)
        curve = extrapolated_dcs(grid, theta, y, shapes[0], result.scale, use=use)
        out.append(EnergyIcs(float(energy), result, method, tuple(s.name for s in shapes), ranges, grid, curve))
    return tuple(out)


# --------------------------------------------------------------------------- the whole chain


@dataclass(frozen=True)
class AbsoluteResult:
    """Everything the chain computed, for the writers."""

    options: ChainOptions
    target_gas: GasInfo
    reference_gas: GasInfo
    relative: CombinedDcs
    volume: CombinedDcs
    volume_sets: tuple[VolumeEnergy, ...]
    corrected: CorrectedDcs
    cycle_points: tuple[CyclePoint, ...]
    rfm_points: tuple[CombinedRfmPoint, ...]
    scales: tuple[EnergyScale, ...]
    budget: Budget
    flagged: np.ndarray  #: bool per budget point: left out of the scale and the ICS normalisation
    ics: tuple[EnergyIcs, ...]
    ics_note: str  #: how the ICS was extrapolated, in a sentence
    reference_source: str
    warnings: tuple[str, ...] = ()

    def scale_at(self, energy_eV: float) -> EnergyScale:
        return next(s for s in self.scales if energy_key(s.energy_eV) == energy_key(energy_eV))


def _same_gas(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _check_gases(relative: CombinedDcs, volume: CombinedDcs, rfm_runs: Sequence[RfmRun]) -> tuple[GasInfo, GasInfo]:
    first = rfm_runs[0]
    for r in rfm_runs[1:]:
        for mine, theirs in zip(r.gases, first.gases):
            if (not _same_gas(mine.name, theirs.name) or mine.molar_mass_g_mol != theirs.molar_mass_g_mol
                    or mine.diameter_A != theirs.diameter_A):
                raise AbsoluteInputError(
                    f"--rfm {r.path}: gas {mine.name} ({mine.molar_mass_g_mol:g} g/mol, {mine.diameter_A:g} A) but "
                    f"{first.path} has {theirs.name} ({theirs.molar_mass_g_mol:g} g/mol, {theirs.diameter_A:g} A): "
                    "the RFM runs must use the same gas definitions")
    target, reference = first.gases
    for s in relative.sources:
        if s.gas and s.gas != "unknown" and not _same_gas(s.gas, target.name):
            raise AbsoluteInputError(f"--relative {s.path}: a run of {s.gas!r}, but the RFM target gas is "
                                     f"{target.name!r} ({first.path}): the same gas is needed")
    for s in volume.sources:
        if s.gas and s.gas != "unknown" and not _same_gas(s.gas, reference.name):
            raise AbsoluteInputError(f"--volume {s.path}: a run of {s.gas!r}, but the RFM reference gas is "
                                     f"{reference.name!r} ({first.path}): the volume run is of the reference gas")
    return target, reference


def run_chain(relative: CombinedDcs, volume: CombinedDcs, rfm_runs: Sequence[RfmRun], reference: DcsTable, *,
              shapes: Sequence[tuple[str, DcsTable]] = (), options: ChainOptions = ChainOptions(),
              warnings: Sequence[str] = ()) -> AbsoluteResult:
    """The whole chain: volume factors, corrected relative DCS, RFM points, scale factors,
    budget, ICS/MTCS.  ``warnings``: the readers' (carried into the result)."""
    if not rfm_runs:
        raise AbsoluteInputError("--rfm: at least one RFM run is needed")
    target, ref_gas = _check_gases(relative, volume, rfm_runs)
    notes = list(warnings)
    sets = volume_factor_sets(volume, reference, fwhm_deg=options.angular_fwhm_deg,
                              theta_good_deg=options.theta_good_deg, exclude_within_deg=options.exclude_within_deg)
    corrected = correct_relative(relative, sets, volume_sources=volume.describe_sources())
    cycle_points: list[CyclePoint] = []
    for j, run in enumerate(rfm_runs):
        points, w = rfm_cycle_points(run, reference, fwhm_deg=options.angular_fwhm_deg,
                                     reference_relative_err=options.reference_relative_err,
                                     mfp_tolerance=options.mfp_tolerance, source_index=j)
        cycle_points.extend(points)
        notes.extend(w)
    rfm_sources = ", ".join(str(r.path) for r in rfm_runs)
    if not cycle_points:
        raise AbsoluteInputError(f"--rfm {rfm_sources}: no usable RFM point (every one lacks an intensity or a flow; "
                                 "see the warnings)" + (f": {notes[-1]}" if notes else ""))
    combined = combine_rfm_points(cycle_points)
    scales = energy_scales(corrected, combined, rfm_sources=rfm_sources)
    for s in scales:
        if SCALE_FROM_FLAGGED in s.flags:
            notes.append(f"{s.energy_eV:g} eV: every RFM point or its relative point is flagged: the scale uses "
                         "them anyway")
    budget = absolute_budget(corrected, scales, options)
    flagged = corrected.excluded.copy()
    ics = integral_cross_sections(budget, flagged, shapes)
    if shapes:
        ics_note = ("ICS and MTCS extrapolated with the shape(s) " + ", ".join(n for n, _ in shapes)
                    + " normalised to the unflagged points")
    else:
        ics_note = ("ICS and MTCS extrapolated log-linearly from the DCS itself (no --shape given): a rough "
                    "estimate; give a theory shape with --shape")
    missing_ics = [f"{e:g}" for e in np.unique(budget.energy_eV) if all(i.energy_eV != e for i in ics)]
    if missing_ics:
        notes.append(f"no ICS at {', '.join(missing_ics)} eV: fewer than two unflagged points")
    return AbsoluteResult(options, target, ref_gas, relative, volume, sets, corrected, tuple(cycle_points), combined,
                          scales, budget, flagged, ics, ics_note, reference.source, tuple(notes))
