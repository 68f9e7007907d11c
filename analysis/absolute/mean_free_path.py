"""Equal mean free paths behind the needle: the functions live in
:mod:`foundation.mean_free_path` (the RFM procedure sets its line pressures with them,
and acquisition may not import analysis); re-exported here beside the rest of the
absolute-scale physics."""

from foundation.mean_free_path import (
    equal_mfp_pressure_ratio,
    equal_mfp_pressures,
    mean_free_path,
    pressure_for_mean_free_path,
)

__all__ = ["equal_mfp_pressure_ratio", "equal_mfp_pressures", "mean_free_path", "pressure_for_mean_free_path"]
