"""Equal mean free paths behind the needle (PHYSICS.md §3); pure, shared by the RFM
procedure (its line pressures) and the analysis.

The relative flow method holds only if both gases leave the needle with the same beam
profile, i.e. at the same mean free path.  For hard spheres at the same temperature::

    lambda = k_B T / (sqrt(2) pi d^2 p)     =>     p_x / p_Ar = (d_Ar / d_x)^2

with no mass factor (the mean free path depends on the density and the cross section,
not on the speed).  The diameters must be of the same kind (both hard-sphere, e.g.
viscosity diameters; never a hard-sphere diameter against a Lennard-Jones sigma); they
come from the gas definition files (:mod:`foundation.gas`), never from constants here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.constants import k as K_B

from foundation.gas import Gas

__all__ = ["equal_mfp_pressure_ratio", "equal_mfp_pressures", "mean_free_path", "pressure_for_mean_free_path"]


def _positive(**values) -> None:
    for name, value in values.items():
        v = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def mean_free_path(pressure_Pa, diameter_m, temperature_K):
    """Hard-sphere mean free path (m): ``k_B T / (sqrt(2) pi d^2 p)``."""
    _positive(pressure_Pa=pressure_Pa, diameter_m=diameter_m, temperature_K=temperature_K)
    return K_B * np.asarray(temperature_K, float) / (math.sqrt(2) * math.pi * np.asarray(diameter_m, float) ** 2
                                                       * np.asarray(pressure_Pa, float))


def pressure_for_mean_free_path(mfp_m, diameter_m, temperature_K):
    """The pressure (Pa) at which a hard-sphere gas has the mean free path ``mfp_m``."""
    _positive(mfp_m=mfp_m, diameter_m=diameter_m, temperature_K=temperature_K)
    return K_B * np.asarray(temperature_K, float) / (math.sqrt(2) * math.pi * np.asarray(diameter_m, float) ** 2
                                                       * np.asarray(mfp_m, float))


def equal_mfp_pressure_ratio(reference_diameter_m, target_diameter_m):
    """``p_target / p_reference = (d_reference / d_target)^2`` at equal mean free path.

    Any unit, as long as both diameters share it (and their kind).  No mass factor.
    """
    _positive(reference_diameter_m=reference_diameter_m, target_diameter_m=target_diameter_m)
    return (np.asarray(reference_diameter_m, float) / np.asarray(target_diameter_m, float)) ** 2


def equal_mfp_pressures(target: Gas, reference: Gas, mfp_m: float, temperature_K: float) -> tuple[float, float]:
    """``(p_target, p_reference)`` in Pa giving both gases the mean free path ``mfp_m``.

    Raises ``ValueError`` when the two gas files give diameters of different kinds.
    """
    if target.diameter_kind != reference.diameter_kind:
        raise ValueError(
            f"cannot compare mean free paths: {target.name} has a {target.diameter_kind} diameter "
            f"({target.source or 'no file'}), {reference.name} a {reference.diameter_kind} one "
            f"({reference.source or 'no file'}); use the same kind of diameter for both gases"
        )
    p_ref = float(pressure_for_mean_free_path(mfp_m, reference.diameter_m, temperature_K))
    return p_ref * float(equal_mfp_pressure_ratio(reference.diameter_m, target.diameter_m)), p_ref
