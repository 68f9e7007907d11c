"""Effective-volume factors with argon (PHYSICS.md §4).

::

    r(theta)  = (DCS_Ar,ref (x) g)(theta) / R_Ar(theta)    R_Ar: measured relative argon DCS, same tune and energy
    C(theta)  = r(theta) / <r>_good                        <r>_good: weighted mean over theta >= theta_good
    R_x'(theta) = C(theta) R_x(theta)

``(x) g``: the reference convolved with the analyzer's angular response (a Gaussian of
the configured FWHM) before use.  Points within about 5 deg of a reference minimum are
left out of the normalisation and marked (the minima deepen under the response: for a
4 deg FWHM the argon minima near 123 deg at 100 eV and 115 deg at 150 eV by 1.34x, so a
small error in the response or the angle zero moves ``r`` a lot there).  The argon DCS
falls 7-16 % per degree at 25-40 deg, so an angle-zero error of 1 deg moves C by that
much; the minimum positions double as an angle-zero check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from foundation.dcs_table import DcsTable

__all__ = [
    "VolumeFactorTable",
    "VolumeFactors",
    "apply_volume_factors",
    "convolved_reference",
    "reference_minima",
    "volume_factors",
    "volume_factors_against_table",
]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def convolved_reference(table: DcsTable, energy_eV: float, angles_deg, fwhm_deg: float,
                        *, step_deg: float = 0.05, half_width_sigmas: float = 5.0) -> np.ndarray:
    """``(DCS_ref (x) g)(theta)``: the reference at ``energy_eV`` averaged over a Gaussian
    angular response of ``fwhm_deg`` centred on each angle (1e-20 m^2/sr).

    An energy outside the table's range is a ``ValueError`` (the table itself would clamp).
    The table is interpolated (log-linear, :class:`~foundation.dcs_table.DcsTable`) on a
    grid of ``step_deg`` over +-``half_width_sigmas`` sigma; the kernel is normalised on
    that grid, and the reference is reflected at 0 and 180 deg (an angle is a polar
    angle).  ``fwhm_deg = 0`` returns the reference itself.
    """
    angles = np.asarray(angles_deg, dtype=float)
    if fwhm_deg < 0 or not math.isfinite(fwhm_deg):
        raise ValueError(f"angular response FWHM must be >= 0 deg, got {fwhm_deg!r}")
    lo, hi = float(table.energies_eV[0]), float(table.energies_eV[-1])
    if not lo <= energy_eV <= hi:  # the table would clamp: 40 eV would silently be the 50-eV DCS
        raise ValueError(f"{energy_eV:g} eV outside the reference table's {lo:g}-{hi:g} eV "
                         f"({table.source or 'table'}): no extrapolation in energy")
    if fwhm_deg == 0:
        return np.asarray(table(energy_eV, angles), dtype=float)
    sigma = fwhm_deg / _FWHM_PER_SIGMA
    offsets = np.arange(-half_width_sigmas * sigma, half_width_sigmas * sigma + step_deg / 2, step_deg)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    where = angles.reshape(-1, 1) + offsets
    where = np.abs(where)  # reflect at 0 deg
    where = np.where(where > 180.0, 360.0 - where, where)  # and at 180 deg
    values = np.asarray(table(energy_eV, where.ravel()), dtype=float).reshape(where.shape)
    return (values @ kernel).reshape(angles.shape)


def reference_minima(table: DcsTable, energy_eV: float, *, lo_deg: float = 0.0, hi_deg: float = 180.0,
                     fwhm_deg: float = 0.0, step_deg: float = 0.1) -> np.ndarray:
    """Angles (deg) of the local minima of the (convolved) reference at ``energy_eV``,
    strictly inside ``[lo_deg, hi_deg]``, to ``step_deg``."""
    grid = np.arange(lo_deg, hi_deg + step_deg / 2, step_deg)
    y = convolved_reference(table, energy_eV, grid, fwhm_deg)
    inner = (y[1:-1] < y[:-2]) & (y[1:-1] <= y[2:])
    return grid[1:-1][inner]


@dataclass(frozen=True)
class VolumeFactors:
    """C(theta) at one energy, with the masks that say how each angle was treated."""

    energy_eV: float
    angles_deg: np.ndarray
    factors: np.ndarray  #: C(theta), dimensionless
    errors: np.ndarray  #: standard uncertainty of C (from R_Ar's statistics and <r>_good)
    in_normalisation: np.ndarray  #: bool: the angles <r>_good was taken over
    near_minimum: np.ndarray  #: bool: within exclude_within_deg of a reference minimum
    minima_deg: tuple[float, ...] = ()


def volume_factors(angles_deg, measured, reference, *, measured_err=None, theta_good_deg: float = 60.0,
                   minima_deg: Iterable[float] = (), exclude_within_deg: float = 5.0,
                   energy_eV: float = math.nan) -> VolumeFactors:
    """``C = r / <r>_good`` with ``r = reference / measured`` (both at ``angles_deg``).

    ``reference``: the convolved reference DCS at those angles; ``measured``: the
    relative argon DCS (any unit: it cancels); ``measured_err``: its standard
    uncertainty (optional; gives the weights ``1/u_r^2`` of the mean and ``errors``;
    equal weights and zero errors without it).  Angles within ``exclude_within_deg`` of
    one of ``minima_deg`` are left out of the mean and marked ``near_minimum``; their C
    is still computed.  Raises ``ValueError`` when no angle is left for the mean.
    """
    angles = np.asarray(angles_deg, dtype=float).ravel()
    m = np.asarray(measured, dtype=float).ravel()
    ref = np.asarray(reference, dtype=float).ravel()
    if not (angles.size == m.size == ref.size) or angles.size == 0:
        raise ValueError(f"{angles.size} angles, {m.size} measured values, {ref.size} reference values")
    if not (np.all(np.isfinite(m) & (m > 0)) and np.all(np.isfinite(ref) & (ref > 0))):
        raise ValueError("measured and reference argon DCS must be finite and > 0")
    u_m = np.zeros_like(m) if measured_err is None else np.broadcast_to(np.asarray(measured_err, float), m.shape)
    r = ref / m
    u_r = r * u_m / m
    minima = tuple(float(x) for x in minima_deg)
    near = np.zeros_like(angles, dtype=bool)
    for x in minima:
        near |= np.abs(angles - x) <= exclude_within_deg
    good = (angles >= theta_good_deg) & ~near
    if not good.any():
        raise ValueError(f"no angle >= theta_good = {theta_good_deg:g} deg away from the reference minima "
                         f"{', '.join(f'{x:g}' for x in minima) or '(none)'} to normalise on")
    if measured_err is not None and np.all(u_r[good] > 0):
        w = 1.0 / u_r[good] ** 2
        mean, u_mean = float(np.sum(w * r[good]) / w.sum()), float(1.0 / math.sqrt(w.sum()))
    else:
        mean, u_mean = float(r[good].mean()), 0.0
    c = r / mean
    # The mean shares the good points' own errors; the correlation is small for many
    # points and is neglected (an overestimate of u_C at the good angles).
    err = c * np.sqrt((u_r / r) ** 2 + (u_mean / mean) ** 2)
    return VolumeFactors(float(energy_eV), angles, c, err, good, near, minima)


def volume_factors_against_table(table: DcsTable, energy_eV: float, angles_deg, measured, *, measured_err=None,
                                 fwhm_deg: float = 0.0, theta_good_deg: float = 60.0,
                                 exclude_within_deg: float = 5.0) -> VolumeFactors:
    """:func:`volume_factors` against a reference table (default in practice:
    ``foundation/data/argon_dcs_elsepa.csv``), convolved with the angular response, its
    minima (of the convolved curve, within the measured range +- ``exclude_within_deg``)
    found and left out of the normalisation."""
    angles = np.asarray(angles_deg, dtype=float).ravel()
    ref = convolved_reference(table, energy_eV, angles, fwhm_deg)
    minima = reference_minima(table, energy_eV, lo_deg=max(0.0, angles.min() - exclude_within_deg),
                              hi_deg=min(180.0, angles.max() + exclude_within_deg), fwhm_deg=fwhm_deg)
    return volume_factors(angles, measured, ref, measured_err=measured_err, theta_good_deg=theta_good_deg,
                          minima_deg=minima, exclude_within_deg=exclude_within_deg, energy_eV=energy_eV)


@dataclass(frozen=True)
class VolumeFactorTable:
    """C per (energy, angle), stored and applied exactly where it was measured."""

    factors: dict[tuple[float, float], tuple[float, float]] = field(default_factory=dict)
    angle_tolerance_deg: float = 0.05
    energy_tolerance_eV: float = 1e-6

    @classmethod
    def from_factors(cls, sets: Iterable[VolumeFactors], **kwargs) -> VolumeFactorTable:
        table: dict[tuple[float, float], tuple[float, float]] = {}
        for s in sets:
            for a, c, u in zip(s.angles_deg, s.factors, s.errors):
                table[(float(s.energy_eV), float(a))] = (float(c), float(u))
        return cls(table, **kwargs)

    def lookup(self, energy_eV: float, angle_deg: float) -> tuple[float, float]:
        """``(C, u_C)`` at a measured (energy, angle); ``KeyError`` naming the point if
        the argon run did not measure it (never interpolated across energies)."""
        for (e, a), value in self.factors.items():
            if abs(e - energy_eV) <= self.energy_tolerance_eV and abs(a - angle_deg) <= self.angle_tolerance_deg:
                return value
        raise KeyError(f"no effective-volume factor at {energy_eV:g} eV, {angle_deg:g} deg "
                       f"(the argon volume run must cover every energy and angle of the target run)")


def apply_volume_factors(table: VolumeFactorTable, energies_eV, angles_deg, values, errors=None):
    """``R' = C R`` per point: ``(R', u_R', u_C R')``.

    ``u_R'`` carries ``R``'s own error only (``C u_R``); the factor's uncertainty
    ``u_C R`` is returned separately, as the budget's volume term from the data (the
    study's practice adds a flat small-angle term instead: :mod:`.budget`).
    """
    e = np.atleast_1d(np.asarray(energies_eV, float))
    a = np.atleast_1d(np.asarray(angles_deg, float))
    v = np.atleast_1d(np.asarray(values, float))
    e, a, v = np.broadcast_arrays(e, a, v)
    u = np.zeros_like(v) if errors is None else np.broadcast_to(np.asarray(errors, float), v.shape)
    cu = np.array([table.lookup(float(x), float(y)) for x, y in zip(e.ravel(), a.ravel())]).reshape(*v.shape, 2)
    c, uc = cu[..., 0], cu[..., 1]
    return c * v, c * u, uc * v
