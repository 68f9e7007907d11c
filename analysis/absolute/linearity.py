"""The detector's linearity check: beam-current steps at the highest-rate point (PHYSICS.md §2).

At the highest-rate point (25 deg, the lowest energy) the beam current is stepped over a
decade or more (e.g. 1, 2, 5, 10, 20, 50, 100 nA, up then down).  The true rate is
``n = c I``; a non-paralyzable counter records ``m = n / (1 + n tau)``, so

    1/m = tau + (1/c) (1/I)

is a straight line in ``1/I``.  It is fitted (ordinary least squares) on the low-rate
points only (``m tau < 0.02``), giving ``c`` (cps/nA) and ``tau``; the model
``m = measured_rate(c I, tau)`` (:func:`acquisition.counting.measured_rate`) is then
compared with every point.  The onset of saturation is the lowest rate where ``m``
falls below the model by more than ``max(3 sigma, 2 %)``: from there up the
channeltron's gain sags (a rate-dependent efficiency, not dead time) and no dead-time
correction recovers the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from acquisition.counting import measured_rate

__all__ = ["LinearityFit", "fit_linearity"]


@dataclass(frozen=True)
class LinearityFit:
    """The result of :func:`fit_linearity`; arrays are in the order of the input points."""

    dead_time_s: float  #: tau, the fitted intercept of 1/m against 1/I
    dead_time_err_s: float
    gain_cps_per_nA: float  #: c, the inverse of the fitted slope
    gain_err_cps_per_nA: float
    used_in_fit: np.ndarray  #: bool: the low-rate points the line was fitted on
    model_cps: np.ndarray  #: the non-paralyzable model c I / (1 + c I tau)
    ratio: np.ndarray  #: measured / model
    saturated: np.ndarray  #: bool: at or above the onset rate
    onset_cps: float  #: the lowest saturated measured rate (nan: none saturated)


def _line(inv_current: np.ndarray, inv_rate: np.ndarray) -> tuple[float, float, float, float]:
    fit = stats.linregress(inv_current, inv_rate)
    return float(fit.intercept), float(fit.intercept_stderr), float(fit.slope), float(fit.stderr)


def fit_linearity(
    current_nA,
    measured_cps,
    *,
    fit_below_cps: float | None = None,
    max_loss_in_fit: float = 0.02,
    sigma_cps=None,
    tolerance: float = 0.02,
    n_sigma: float = 3.0,
    min_points: int = 3,
) -> LinearityFit:
    """Fit ``1/m = tau + (1/c)(1/I)`` on the low-rate points and find the saturation onset.

    ``current_nA``, ``measured_cps``: the steps (any order, repeats allowed: up then
    down).  The fit uses the points with ``m < fit_below_cps`` when given; otherwise the
    points with ``m tau < max_loss_in_fit``, ``tau`` found by iterating from a fit on all
    points (at least ``min_points``, the lowest rates).  ``sigma_cps`` (optional, per
    point or one value) is the standard uncertainty of each measured rate, e.g.
    ``sqrt(N)/t``: a point is below the model when ``1 - m/model > max(n_sigma sigma /
    model, tolerance)``.  Raises ``ValueError`` for fewer than ``min_points`` usable
    points or non-positive currents or rates.
    """
    current = np.asarray(current_nA, dtype=float).ravel()
    m = np.asarray(measured_cps, dtype=float).ravel()
    if current.size != m.size:
        raise ValueError(f"{current.size} currents but {m.size} measured rates")
    if not (np.all(np.isfinite(current) & (current > 0)) and np.all(np.isfinite(m) & (m > 0))):
        raise ValueError("beam currents and measured rates must be finite and > 0")
    if current.size < min_points:
        raise ValueError(f"the linearity check needs at least {min_points} current steps, got {current.size}")
    x, y = 1.0 / current, 1.0 / m
    order = np.argsort(m, kind="stable")
    if fit_below_cps is not None:
        used = m < fit_below_cps
        if used.sum() < min_points:
            raise ValueError(f"only {int(used.sum())} points below {fit_below_cps:g} cps; "
                             f"the fit needs {min_points}")
    else:
        used = np.ones_like(m, dtype=bool)
        for _ in range(20):
            tau = _line(x[used], y[used])[0]
            new = m * max(tau, 0.0) < max_loss_in_fit
            new[order[:min_points]] = True
            if np.array_equal(new, used):
                break
            used = new
    tau, tau_err, slope, slope_err = _line(x[used], y[used])
    gain = 1.0 / slope
    gain_err = slope_err / slope**2
    model = np.asarray(measured_rate(gain * current, max(tau, 0.0), "nonparalyzable"), dtype=float)
    ratio = m / model
    limit = np.full_like(m, tolerance)
    if sigma_cps is not None:
        limit = np.maximum(limit, n_sigma * np.broadcast_to(np.asarray(sigma_cps, dtype=float), m.shape) / model)
    below = (1.0 - ratio) > limit
    onset = float(m[below].min()) if below.any() else math.nan
    saturated = m >= onset if below.any() else np.zeros_like(m, dtype=bool)
    return LinearityFit(tau, tau_err, gain, gain_err, used, model, ratio, saturated, onset)
