"""Flow by the rate of pressure rise in a known volume (PHYSICS.md §3).

With the line's outlet shut, its pressure rises at the rate of the flow that was
passing.  The slope is fitted by ordinary least squares::

    b   = sum (t_i - tm)(p_i - pm) / sum (t_i - tm)^2
    s_b = sqrt( sum r_i^2 / (n - 2) / sum (t_i - tm)^2 ),   r_i = p_i - (a + b t_i)
    F   = V / (k_B T) * (b - b_0)          b_0: the base rate (gas off), fitted the same way

The rise is only linear early on (the line's pressure changes what flows in); a fit
whose residuals show significant curvature is rejected: the quadratic term of a
``p = a + b t + q t^2`` fit is tested with an F-test (equivalently the t-test of ``q``)
against the straight line.  :func:`fit_early_linear` shortens the window from its end
until the curvature is no longer significant.  Pressures come from a gas-independent
gauge (capacitance manometer); V and T cancel in the flow ratio of two gases when shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import constants, stats

__all__ = [
    "Flow",
    "NonLinearRise",
    "RateOfRise",
    "curvature_test",
    "fit_early_linear",
    "fit_rate_of_rise",
    "flow_from_rise",
    "flow_rate",
]

#: Boltzmann's constant (J/K), exact in the SI
K_B = constants.k


class NonLinearRise(ValueError):
    """A rate-of-rise fit whose residuals show significant curvature."""


@dataclass(frozen=True)
class RateOfRise:
    """An OLS straight line through a pressure rise (Pa against s)."""

    slope_Pa_s: float  #: b
    slope_err_Pa_s: float  #: s_b
    intercept_Pa: float  #: a (the pressure at t = 0)
    n_points: int
    t_start_s: float
    t_end_s: float
    residual_rms_Pa: float  #: sqrt(sum r^2 / (n - 2))
    curvature_F: float  #: F statistic of the quadratic term (nan: fewer than 4 points)
    curvature_p: float  #: its p-value (small: curved); nan with fewer than 4 points
    curved: bool  #: curvature_p < alpha: do not use as a flow

    @property
    def relative_err(self) -> float:
        return self.slope_err_Pa_s / abs(self.slope_Pa_s) if self.slope_Pa_s else math.inf


def _clean(t_s, p_Pa) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t_s, dtype=float).ravel()
    p = np.asarray(p_Pa, dtype=float).ravel()
    if t.size != p.size:
        raise ValueError(f"{t.size} times but {p.size} pressures")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("times and pressures must be finite")
    if t.size < 3:
        raise ValueError(f"a rate-of-rise fit needs at least 3 readings (for s_b), got {t.size}")
    if np.ptp(t) <= 0:
        raise ValueError("the readings span no time")
    return t, p


def curvature_test(t_s, p_Pa) -> tuple[float, float]:
    """F-test of a quadratic against a straight line: ``(F, p_value)``.

    ``F = (RSS_1 - RSS_2) / (RSS_2 / (n - 3))`` with 1 and ``n - 3`` degrees of freedom,
    the residual sums of squares of the linear and the quadratic least-squares fits
    (times centred and scaled, so the normal equations stay well conditioned).  A line
    exact to rounding gives ``(0, 1)``; ``(nan, nan)`` for fewer than 4 points.
    """
    t, p = _clean(t_s, p_Pa)
    n = t.size
    if n < 4:
        return math.nan, math.nan
    u = (t - t.mean()) / np.ptp(t)
    rss = []
    for degree in (1, 2):
        coef = np.polynomial.polynomial.polyfit(u, p, degree)
        r = p - np.polynomial.polynomial.polyval(u, coef)
        rss.append(float(r @ r))
    rss1, rss2 = rss
    noise_floor = (64 * np.finfo(float).eps * max(1.0, float(np.max(np.abs(p))))) ** 2 * n
    if rss1 <= noise_floor:
        return 0.0, 1.0
    if rss2 <= noise_floor:
        return math.inf, 0.0
    F = max(rss1 - rss2, 0.0) / (rss2 / (n - 3))
    return F, float(stats.f.sf(F, 1, n - 3))


def fit_rate_of_rise(t_s, p_Pa, *, alpha: float = 0.01) -> RateOfRise:
    """OLS slope, its standard error ``s_b`` and the intercept, with the curvature test.

    ``alpha``: the p-value below which the curvature is significant (``curved``).
    """
    t, p = _clean(t_s, p_Pa)
    n = t.size
    tm, pm = t.mean(), p.mean()
    sxx = float(np.sum((t - tm) ** 2))
    b = float(np.sum((t - tm) * (p - pm)) / sxx)
    a = float(pm - b * tm)
    r = p - (a + b * t)
    s2 = float(r @ r) / (n - 2)
    s_b = math.sqrt(s2 / sxx)
    F, pval = curvature_test(t, p)
    curved = bool(pval < alpha) if math.isfinite(pval) else False
    return RateOfRise(b, s_b, a, n, float(t.min()), float(t.max()), math.sqrt(s2), F, pval, curved)


def fit_early_linear(t_s, p_Pa, *, alpha: float = 0.01, min_points: int = 5) -> RateOfRise:
    """The longest early part of the rise that is a straight line.

    Fits the readings from the first on, dropping the last one while the curvature is
    significant (``alpha``), down to ``min_points``; raises :class:`NonLinearRise` if
    even those are curved (the rise was never linear: a leak, a valve not shut, a gauge
    not settled).
    """
    t, p = _clean(t_s, p_Pa)
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    if t.size < min_points:
        raise ValueError(f"{t.size} readings, fewer than min_points = {min_points}")
    for end in range(t.size, min_points - 1, -1):
        fit = fit_rate_of_rise(t[:end], p[:end], alpha=alpha)
        if not fit.curved:
            return fit
    raise NonLinearRise(
        f"the pressure rise is curved even over its first {min_points} readings "
        f"({t[0]:g}-{t[min_points - 1]:g} s; curvature p = {fit.curvature_p:.3g} < {alpha:g})"
    )


@dataclass(frozen=True)
class Flow:
    """A gas flow (molecules/s) and its standard uncertainty from the two slope fits.

    V and T are not in the uncertainty: when shared by the two gases they cancel in the
    flow ratio; otherwise they are a term of their own (``flow`` in the budget).
    """

    molecules_per_s: float
    err_molecules_per_s: float
    net_slope_Pa_s: float  #: b - b_0

    @property
    def relative_err(self) -> float:
        return self.err_molecules_per_s / abs(self.molecules_per_s) if self.molecules_per_s else math.inf


def flow_rate(slope_Pa_s: float, base_slope_Pa_s: float, volume_m3: float, temperature_K: float,
              *, slope_err_Pa_s: float = 0.0, base_slope_err_Pa_s: float = 0.0) -> Flow:
    """``F = V/(k_B T) (b - b_0)`` in molecules/s, ``u_F = V/(k_B T) sqrt(s_b^2 + s_b0^2)``."""
    if not (volume_m3 > 0 and temperature_K > 0):
        raise ValueError(f"volume ({volume_m3!r} m^3) and temperature ({temperature_K!r} K) must be > 0")
    scale = volume_m3 / (K_B * temperature_K)
    net = slope_Pa_s - base_slope_Pa_s
    return Flow(scale * net, scale * math.hypot(slope_err_Pa_s, base_slope_err_Pa_s), net)


def flow_from_rise(rise: RateOfRise, base: RateOfRise | float, volume_m3: float, temperature_K: float,
                   *, allow_curved: bool = False) -> Flow:
    """The flow of a fitted rise minus the base rate (a fit, or a slope in Pa/s).

    Raises :class:`NonLinearRise` for a curved rise or base fit unless ``allow_curved``.
    """
    fits = [("rise", rise)] + ([("base", base)] if isinstance(base, RateOfRise) else [])
    for what, fit in fits:
        if fit.curved and not allow_curved:
            raise NonLinearRise(f"the {what} fit ({fit.t_start_s:g}-{fit.t_end_s:g} s) is curved "
                                f"(curvature p = {fit.curvature_p:.3g}): fit the early linear part")
    if isinstance(base, RateOfRise):
        b0, s_b0 = base.slope_Pa_s, base.slope_err_Pa_s
    else:
        b0, s_b0 = float(base), 0.0
    return flow_rate(rise.slope_Pa_s, b0, volume_m3, temperature_K,
                     slope_err_Pa_s=rise.slope_err_Pa_s, base_slope_err_Pa_s=s_b0)
