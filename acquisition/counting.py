"""Counting statistics and detector corrections for the channeltron and its counter.

Pure numpy functions: each takes scalars or arrays (broadcast together) and returns the
same shape, a numpy scalar (``np.float64``) when every input is a scalar.  Impossible
inputs (negative rates, zero gate time, a dead-time inversion with no physical answer)
give ``nan`` rather than an exception, so one bad point never stops a vectorised
evaluation; configuration errors (negative dead time, unknown model, an angle outside
the effective-volume table) raise ``ValueError``.

Units: rates in counts per second (cps), times in seconds, beam current in ampere,
pressure in mbar, angles in degrees.

The detector (DESIGN.md §1, "The detector saturates"): electrons reach the channeltron at
rate ``n``; the counting chain has a dead time ``tau`` and records ``m``:

* non-paralyzable: ``m = n / (1 + n tau)``, inverse ``n = m / (1 - m tau)``;
* paralyzable: ``m = n exp(-n tau)``, inverse ``n = -W0(-m tau) / tau`` (Lambert W,
  principal branch, i.e. the low-rate branch ``n tau <= 1``).

Above about 1e5-1e6 cps the channeltron's gain sags and pulses fall below the
discriminator; that loss is not a dead time and no dead-time correction recovers it, so
it is flagged (:data:`PointFlag.RATE`), never corrected.
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple

import numpy as np

from acquisition.events import PointFlag

__all__ = [
    "GateNumbers",
    "correct_gate",
    "DEAD_TIME_MODELS",
    "COUNTING_STATISTICS",
    "lambert_w0",
    "true_rate",
    "measured_rate",
    "loss_fraction",
    "rate_derivative",
    "count_variance_factor",
    "corrected_rate",
    "net_rate",
    "net_rate_from_counts",
    "normalise",
    "optimal_split",
    "split_time",
    "time_for_precision",
    "relative_uncertainty",
    "precision_reached",
    "saturation_flags",
    "effective_volume_factor",
    "relative_dcs",
    "short_term_stability",
    "normalise_per_energy",
]

log = logging.getLogger(__name__)

DEAD_TIME_MODELS = ("nonparalyzable", "paralyzable")
COUNTING_STATISTICS = ("poisson", "renewal")

_INV_E = 0.36787944117144233  # 1/e rounded to double ...
_INV_E_LO = -1.2428753672788363e-17  # ... and the rest, so x + 1/e near the branch point is exact
_NANO = 1e-9  # A per nA


# --------------------------------------------------------------------------- helpers


def _arrays(*values: Any) -> tuple[bool, list[np.ndarray]]:
    """Broadcast the inputs to float arrays; also say whether all of them were scalars."""
    scalar = all(np.ndim(v) == 0 for v in values)
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))
    # Writable copies, at least 1-d so that arithmetic keeps returning arrays (masks work).
    return scalar, [np.array(a, dtype=float, ndmin=1) for a in arrays]


def _scalars(*values: Any) -> bool:
    """True when every input is a plain number: then plain float arithmetic serves,
    without numpy's per-call cost (the engine calls these once or twice per gate)."""
    return all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in values)


def _out(value: Any, scalar: bool) -> Any:
    value = np.asarray(value, dtype=float)
    return value.reshape(())[()] if scalar else value


def _check_model(model: str) -> str:
    if model not in DEAD_TIME_MODELS:
        raise ValueError(f"unknown dead-time model {model!r}: expected one of {', '.join(DEAD_TIME_MODELS)}")
    return model


def _check_dead_time(tau: np.ndarray) -> None:
    if np.any(tau < 0) or not np.all(np.isfinite(tau)):
        raise ValueError(f"dead time must be finite and >= 0 s, got {tau[(tau < 0) | ~np.isfinite(tau)].ravel()[0]!r}")


# --------------------------------------------------------------------------- Lambert W


def lambert_w0(x: Any) -> Any:
    """Principal branch W0 of the Lambert W function: the solution ``w >= -1`` of ``w e^w = x``.

    Defined for ``x >= -1/e`` (``nan`` below, and for ``nan``); ``W0(-1/e) = -1``,
    ``W0(0) = 0``, ``W0(1) = 0.5671432904097838`` (the omega constant), ``W0(e) = 1``.

    Halley's iteration ``w <- w - f / (e^w (w+1) - (w+2) f / (2w+2))`` with
    ``f = w e^w - x``, started from the branch-point series
    ``w = -1 + p - p^2/3 + 11 p^3/72 - 43 p^4/540`` with ``p = sqrt(2 (e x + 1))`` near
    ``-1/e``, from ``log1p(x)`` for moderate ``x`` and ``L1 - L2 + L2/L1`` (``L1 = ln x``,
    ``L2 = ln ln x``) for large ``x``.  Converges to a few ulp in under 10 steps.
    """
    scalar, (x,) = _arrays(x)
    w = np.full_like(x, np.nan)
    # q = e x + 1 = e (x + 1/e): near -1/e, x + 1/e is exact (Sterbenz) with 1/e split in
    # two doubles, where e*x + 1 would lose every digit.  Allow a few ulp below -1/e for
    # inputs that were themselves rounded there (e.g. m*tau computed as 1/e).
    q = np.e * ((x + _INV_E) + _INV_E_LO)
    valid = np.isfinite(x) & (q >= -8 * np.finfo(float).eps)
    w[np.isposinf(x)] = np.inf
    q = np.clip(q, 0.0, None)

    near = valid & (q < 0.3)  # x below about -0.26: series about the branch point
    mid = valid & ~near & (x < 3.0)
    far = valid & (x >= 3.0)
    p = np.sqrt(2.0 * q[near])
    w[near] = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0))))
    w[mid] = np.log1p(x[mid])
    l1 = np.log(x[far])
    l2 = np.log(l1)
    w[far] = l1 - l2 + l2 / l1

    # Halley only where it can improve: at the branch point the series is exact.
    todo = valid & (q > 0) & (x != 0)
    for _ in range(50):
        if not np.any(todo):
            break
        wi = w[todo]
        xi = x[todo]
        ew = np.exp(wi)
        f = wi * ew - xi
        wp1 = wi + 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / (ew * wp1 - (wi + 2.0) * f / (2.0 * wp1))
        step = np.where(np.isfinite(step), step, 0.0)
        wn = np.maximum(wi - step, -1.0)  # the principal branch never goes below -1
        w[todo] = wn
        done = np.abs(wn - wi) <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(wn))
        todo_idx = np.flatnonzero(todo)
        todo.flat[todo_idx[done]] = False
    return _out(w, scalar)


# --------------------------------------------------------------------------- dead time


def true_rate(measured_cps: Any, dead_time_s: Any, model: str = "nonparalyzable") -> Any:
    """Dead-time-corrected rate ``n`` (cps) from the recorded rate ``m`` (cps).

    * non-paralyzable: ``n = m / (1 - m tau)``; ``nan`` where ``m tau >= 1`` (no finite
      true rate gives that reading);
    * paralyzable: ``n = -W0(-m tau) / tau = m exp(-W0(-m tau))``, the low-rate branch
      (``n tau <= 1``); ``nan`` where ``m tau > 1/e`` (above the counter's maximum).  A
      paralyzable reading is always ambiguous in principle: the same ``m`` also comes
      from ``n tau > 1`` (the upper branch, ``W_-1``); this returns the physical branch a
      scan approaches from below.

    ``tau = 0`` gives ``n = m``.  Negative or non-finite ``m`` gives ``nan``.
    """
    _check_model(model)
    scalar, (m, tau) = _arrays(measured_cps, dead_time_s)
    _check_dead_time(tau)
    x = m * tau
    bad = ~np.isfinite(m) | (m < 0)
    if model == "nonparalyzable":
        with np.errstate(divide="ignore", invalid="ignore"):
            n = m / (1.0 - x)
        bad |= x >= 1.0
    else:
        with np.errstate(over="ignore"):
            n = m * np.exp(-np.asarray(lambert_w0(-x)))
        bad |= x > _INV_E * (1 + 4 * np.finfo(float).eps)
    n[bad] = np.nan
    return _out(n, scalar)


def measured_rate(true_cps: Any, dead_time_s: Any, model: str = "nonparalyzable") -> Any:
    """Forward model: the rate ``m`` (cps) the counter records for a true rate ``n`` (cps).

    non-paralyzable ``m = n / (1 + n tau)``; paralyzable ``m = n exp(-n tau)``.
    Negative or ``nan`` ``n`` gives ``nan``; ``n = inf`` gives ``1/tau`` resp. ``0``.
    """
    _check_model(model)
    scalar, (n, tau) = _arrays(true_cps, dead_time_s)
    _check_dead_time(tau)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if model == "nonparalyzable":
            m = np.where(np.isposinf(n), 1.0 / tau, n / (1.0 + n * tau))
        else:
            m = np.where(np.isposinf(n), 0.0, n * np.exp(-n * tau))
    m = np.where(tau == 0, n, m)  # no dead time: every count recorded (also n = inf)
    m[np.isnan(n) | (n < 0)] = np.nan
    return _out(m, scalar)


def loss_fraction(measured_cps: Any, dead_time_s: Any, model: str = "nonparalyzable") -> Any:
    """Fraction of true counts lost to dead time, ``1 - m/n`` (dimensionless).

    non-paralyzable: ``1 - m/n = m tau`` exactly; paralyzable: ``1 - exp(-n tau)`` with
    ``n`` from :func:`true_rate` (written so that ``m = 0`` gives 0, not 0/0).
    ``nan`` where :func:`true_rate` is ``nan``.
    """
    _check_model(model)
    scalar, (m, tau) = _arrays(measured_cps, dead_time_s)
    n = np.asarray(true_rate(m, tau, model), dtype=float)
    if model == "nonparalyzable":
        loss = m * tau
    else:
        loss = -np.expm1(-n * tau)
    loss = np.where(np.isnan(n), np.nan, loss)
    return _out(np.asarray(loss, dtype=float), scalar)


def rate_derivative(measured_cps: Any, dead_time_s: Any, model: str = "nonparalyzable") -> Any:
    """``dn/dm`` (dimensionless): how the true rate moves with the recorded rate.

    non-paralyzable ``1 / (1 - m tau)^2``; paralyzable ``exp(n tau) / (1 - n tau)``
    (inverse of ``dm/dn = exp(-n tau) (1 - n tau)``), ``inf`` at ``m tau = 1/e``.
    ``nan`` where :func:`true_rate` is ``nan``.
    """
    _check_model(model)
    scalar, (m, tau) = _arrays(measured_cps, dead_time_s)
    n = np.asarray(true_rate(m, tau, model), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if model == "nonparalyzable":
            d = 1.0 / (1.0 - m * tau) ** 2
        else:
            y = n * tau
            d = np.where(y >= 1.0, np.inf, np.exp(y) / (1.0 - y))
    d = np.where(np.isnan(n), np.nan, d)
    return _out(np.asarray(d, dtype=float), scalar)


def count_variance_factor(
    measured_cps: Any, dead_time_s: Any, model: str = "nonparalyzable", statistics: str = "poisson"
) -> Any:
    """``var(N) / N`` of the recorded counts (dimensionless).

    * ``"poisson"``: 1 (recorded counts treated as Poisson, as DESIGN.md and the
      simulator do);
    * ``"renewal"``: a counter behind a dead time records a renewal process, more regular
      than Poisson; for gates much longer than ``tau`` (Müller's asymptotic result)
      non-paralyzable ``(1 - m tau)^2``, paralyzable ``1 - 2 n tau exp(-n tau)``.
      ``nan`` where :func:`true_rate` is ``nan``.
    """
    _check_model(model)
    if statistics not in COUNTING_STATISTICS:
        raise ValueError(
            f"unknown counting statistics {statistics!r}: expected one of {', '.join(COUNTING_STATISTICS)}"
        )
    scalar, (m, tau) = _arrays(measured_cps, dead_time_s)
    n = np.asarray(true_rate(m, tau, model), dtype=float)
    if statistics == "poisson":
        f = np.ones_like(m)
    elif model == "nonparalyzable":
        f = (1.0 - m * tau) ** 2
    else:
        y = n * tau
        f = 1.0 - 2.0 * y * np.exp(-y)
    f = np.where(np.isnan(n), np.nan, f)
    return _out(np.asarray(f, dtype=float), scalar)


def corrected_rate(
    counts: Any,
    gate_s: Any,
    dead_time_s: Any,
    model: str = "nonparalyzable",
    *,
    statistics: str = "poisson",
) -> tuple[Any, Any]:
    """Dead-time-corrected rate (cps) and its variance (cps^2) from ``counts`` in ``gate_s``.

    ``m = N/t``, ``n = true_rate(m)``; ``var(n) = (dn/dm)^2 var(m)`` with
    ``var(m) = N/t^2`` for ``statistics="poisson"`` (the default, DESIGN.md), or
    ``N/t^2 * count_variance_factor`` for ``"renewal"`` (the real counter's more regular
    counts: smaller variance, e.g. by ``(1 - m tau)^2`` non-paralyzable).  Poisson is the
    conservative choice and exact for the simulator.

    Zero counts give rate 0 and variance 0 (no information on the variance from the data).
    ``gate_s <= 0``, negative counts or a failed inversion give ``nan`` for both.
    """
    scalar, (N, t, tau) = _arrays(counts, gate_s, dead_time_s)
    bad = ~(t > 0) | ~(N >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(bad, np.nan, N / np.where(bad, 1.0, t))
        var_m = m / np.where(bad, 1.0, t)
    n = np.asarray(true_rate(m, tau, model), dtype=float)
    d = np.asarray(rate_derivative(m, tau, model), dtype=float)
    f = np.asarray(count_variance_factor(m, tau, model, statistics), dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        var_n = d**2 * f * var_m
    var_n = np.where(np.isnan(n), np.nan, var_n)
    return _out(n, scalar), _out(np.asarray(var_n, dtype=float), scalar)


# --------------------------------------------------------------------------- net rate and normalisation


def net_rate(signal_cps: Any, signal_var: Any, background_cps: Any, background_var: Any) -> tuple[Any, Any]:
    """Background-subtracted rate (cps) and variance (cps^2): ``Rs - Rb``, ``var_s + var_b``.

    Signal (gas through the needle) and background (same gas load through the side leak)
    are independent counts, so variances add.
    """
    if _scalars(signal_cps, signal_var, background_cps, background_var):
        return float(signal_cps - background_cps), float(signal_var + background_var)
    scalar, (s, vs, b, vb) = _arrays(signal_cps, signal_var, background_cps, background_var)
    return _out(s - b, scalar), _out(vs + vb, scalar)


def net_rate_from_counts(Ns: Any, ts: Any, Nb: Any, tb: Any) -> tuple[Any, Any]:
    """Net rate ``R = Ns/ts - Nb/tb`` (cps) and ``var(R) = Ns/ts^2 + Nb/tb^2`` (cps^2).

    Raw counts, no dead-time correction (DESIGN.md, "Counting statistics").  A gate
    time ``<= 0`` gives ``nan``.
    """
    scalar, (ns, t_s, nb, t_b) = _arrays(Ns, ts, Nb, tb)
    bad = ~(t_s > 0) | ~(t_b > 0)
    t_s = np.where(bad, np.nan, t_s)
    t_b = np.where(bad, np.nan, t_b)
    rate = ns / t_s - nb / t_b
    var = ns / t_s**2 + nb / t_b**2
    return _out(rate, scalar), _out(var, scalar)


def normalise(rate: Any, var: Any, beam_current_A: Any, pressure_mbar: Any) -> tuple[Any, Any]:
    """Rate per nA of beam per mbar of gas-line pressure: ``R / (I_nA p)`` in cps/(nA mbar).

    Variance ``var / (I_nA p)^2`` (cps^2/(nA mbar)^2): the monitors' own noise is not
    propagated here (it is part of the short-term-stability term of the budget).
    Non-positive or non-finite current or pressure gives ``nan``.
    """
    if _scalars(rate, var, beam_current_A, pressure_mbar):
        scale = (beam_current_A / _NANO) * pressure_mbar
        if not (beam_current_A > 0 and pressure_mbar > 0 and math.isfinite(scale)):
            return math.nan, math.nan
        return rate / scale, var / scale**2
    scalar, (r, v, current, p) = _arrays(rate, var, beam_current_A, pressure_mbar)
    scale = (current / _NANO) * p
    scale = np.where((current > 0) & (p > 0) & np.isfinite(scale), scale, np.nan)
    return _out(r / scale, scalar), _out(v / scale**2, scalar)


# --------------------------------------------------------------------------- time budget


def optimal_split(signal_cps: Any, background_cps: Any) -> Any:
    """Signal/background time ratio minimising ``var(R)`` for a fixed total time: ``ts/tb = sqrt(Rs/Rb)``.

    From ``var(R) = Rs/ts + Rb/tb`` with ``ts + tb = T``.  ``Rb = 0`` gives ``inf`` (all
    the time on the signal); ``Rs = Rb = 0`` or a negative rate gives ``nan``.
    """
    scalar, (rs, rb) = _arrays(signal_cps, background_cps)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(rs / rb)
    ratio = np.where((rs < 0) | (rb < 0), np.nan, ratio)
    return _out(np.asarray(ratio, dtype=float), scalar)


def split_time(total_s: Any, signal_cps: Any, background_cps: Any) -> tuple[Any, Any]:
    """Split ``total_s`` into ``(ts, tb)`` (s) at the optimal ratio ``ts/tb = sqrt(Rs/Rb)``.

    ``ts = T sqrt(Rs) / (sqrt(Rs) + sqrt(Rb))``, ``tb = T - ts``.  With both rates 0
    (nothing known yet) the time is split equally; a negative rate gives ``nan``.
    """
    scalar, (total, rs, rb) = _arrays(total_s, signal_cps, background_cps)
    a, b = np.sqrt(np.where(rs >= 0, rs, np.nan)), np.sqrt(np.where(rb >= 0, rb, np.nan))
    s = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(s > 0, a / np.where(s > 0, s, 1.0), 0.5)
    frac = np.where(np.isnan(s), np.nan, frac)
    ts = total * frac
    return _out(ts, scalar), _out(total - ts, scalar)


def time_for_precision(signal_cps: Any, background_cps: Any, rel_uncertainty: Any) -> Any:
    """Total time (s) to reach a relative uncertainty ``e`` on the net rate at the optimal split.

    ``T = (sqrt(Rs) + sqrt(Rb))^2 / (e^2 (Rs - Rb)^2)`` (DESIGN.md): with
    ``ts/tb = sqrt(Rs/Rb)``, ``var(R) = (sqrt(Rs) + sqrt(Rb))^2 / T``.  ``inf`` when
    ``Rs <= Rb`` (no net signal to measure) or ``e = 0``; ``nan`` for negative inputs.
    """
    scalar, (rs, rb, e) = _arrays(signal_cps, background_cps, rel_uncertainty)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.sqrt(rs) + np.sqrt(rb)) ** 2 / (e**2 * (rs - rb) ** 2)
    t = np.where(rs <= rb, np.inf, t)
    t = np.where((rs < 0) | (rb < 0) | (e < 0) | np.isnan(rs + rb + e), np.nan, t)
    return _out(np.asarray(t, dtype=float), scalar)


def relative_uncertainty(Ns: Any, ts: Any, Nb: Any, tb: Any) -> Any:
    """Relative standard uncertainty of the net rate: ``sqrt(Ns/ts^2 + Nb/tb^2) / |Ns/ts - Nb/tb|``.

    Dimensionless; ``inf`` when the net rate is 0, ``nan`` for a gate time ``<= 0``.
    """
    rate, var = net_rate_from_counts(Ns, ts, Nb, tb)
    scalar = np.ndim(rate) == 0
    rate, var = np.asarray(rate, dtype=float), np.asarray(var, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.sqrt(var) / np.abs(rate)
    rel = np.where((rate == 0) & ~np.isnan(var), np.inf, rel)
    return _out(np.asarray(rel, dtype=float), scalar)


def precision_reached(Ns: Any, ts: Any, Nb: Any, tb: Any, target: Any) -> Any:
    """Whether :func:`relative_uncertainty` is at or below ``target`` (dimensionless).

    ``bool`` for scalar inputs, a bool array otherwise; ``nan`` uncertainty is never reached.
    """
    rel = np.asarray(relative_uncertainty(Ns, ts, Nb, tb), dtype=float)
    scalar = all(np.ndim(v) == 0 for v in (Ns, ts, Nb, tb, target))
    reached = rel <= np.asarray(target, dtype=float)
    return bool(reached) if scalar else reached


# --------------------------------------------------------------------------- saturation


def saturation_flags(
    measured_cps: Any,
    dead_time_s: Any,
    model: str = "nonparalyzable",
    *,
    max_loss_fraction: float,
    linear_limit_cps: float,
    overflow: Any = False,
) -> Any:
    """Saturation flags of a recorded rate: a :class:`PointFlag` (scalar) or a uint8 array.

    * ``LOSS``: dead-time loss ``1 - m/n`` above ``max_loss_fraction`` (DESIGN.md: beyond
      10-20 % the correction is not to be trusted), or no true rate explains the reading
      (``m tau >= 1`` non-paralyzable, ``m tau > 1/e`` paralyzable);
    * ``RATE``: rate at the channeltron above ``linear_limit_cps`` (gain sag: pulses fall
      below the discriminator, which no dead-time correction recovers).  The rate
      compared is the dead-time-corrected one where the inversion succeeds (what the
      channeltron sees; it is >= the recorded rate), else the recorded one;
    * ``OVERFLOW``: the counter said so (``overflow`` true) or the reading is invalid
      (negative or not finite).  An invalid reading sets only ``OVERFLOW``.
    """
    _check_model(model)
    scalar, (m, tau, ovf) = _arrays(measured_cps, dead_time_s, overflow)
    invalid = ~np.isfinite(m) | (m < 0)
    m_ok = np.where(invalid, 0.0, m)
    loss = np.asarray(loss_fraction(m_ok, tau, model), dtype=float)
    n = np.asarray(true_rate(m_ok, tau, model), dtype=float)
    rate_at_cem = np.where(np.isnan(n), m_ok, n)
    flags = np.zeros(m.shape, dtype=np.uint8)
    flags |= np.where(~invalid & (np.isnan(loss) | (loss > max_loss_fraction)), np.uint8(PointFlag.LOSS), 0).astype(
        np.uint8
    )
    flags |= np.where(~invalid & (rate_at_cem > linear_limit_cps), np.uint8(PointFlag.RATE), 0).astype(np.uint8)
    flags |= np.where(invalid | (ovf != 0), np.uint8(PointFlag.OVERFLOW), 0).astype(np.uint8)
    return PointFlag(int(flags.ravel()[0])) if scalar else flags


# --------------------------------------------------------------------------- relative DCS


def effective_volume_factor(
    angle_deg: Any, table_angles_deg: Any, table_factors: Any, *, tolerance_deg: float = 1e-6
) -> Any:
    """Effective-volume correction factor (dimensionless) at ``angle_deg``, linear in angle.

    The table (from argon measured under the same conditions against a reference argon
    DCS) need not be sorted; repeated angles are an error.  An angle outside the table
    range (beyond ``tolerance_deg``, for readback rounding) raises ``ValueError`` naming
    the angle and the range: a correction is never extrapolated.
    """
    angles = np.asarray(table_angles_deg, dtype=float).ravel()
    factors = np.asarray(table_factors, dtype=float).ravel()
    if angles.size == 0 or angles.size != factors.size:
        raise ValueError(
            f"effective-volume table needs as many factors as angles (>= 1): got {angles.size} angles, "
            f"{factors.size} factors"
        )
    if not (np.all(np.isfinite(angles)) and np.all(np.isfinite(factors))):
        raise ValueError("effective-volume table contains non-finite angles or factors")
    order = np.argsort(angles, kind="stable")
    angles, factors = angles[order], factors[order]
    if np.any(np.diff(angles) == 0):
        dup = angles[1:][np.diff(angles) == 0][0]
        raise ValueError(f"effective-volume table lists angle {dup:g} deg more than once")
    scalar = np.ndim(angle_deg) == 0
    a = np.asarray(angle_deg, dtype=float)
    lo, hi = angles[0], angles[-1]
    outside = ~((a >= lo - tolerance_deg) & (a <= hi + tolerance_deg))  # also catches nan
    if np.any(outside):
        bad = a[outside].ravel() if a.ndim else np.array([a])
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(
            f"angle {shown} deg outside the effective-volume table range {lo:g}-{hi:g} deg (no extrapolation)"
        )
    value = np.interp(np.clip(a, lo, hi), angles, factors)
    return _out(np.asarray(value, dtype=float), scalar)


def relative_dcs(net_cps: Any, net_var: Any, beam_current_A: Any, pressure_mbar: Any, factor: Any) -> tuple[Any, Any]:
    """Relative DCS and its standard uncertainty from counting: ``f R / (I_nA p)``, ``f sqrt(var) / (I_nA p)``.

    Units cps/(nA mbar) times the dimensionless effective-volume factor ``f``.  Only
    counting statistics enter the uncertainty; the factor's own uncertainty is a
    separate term of the budget.
    """
    value, var = normalise(net_cps, net_var, beam_current_A, pressure_mbar)
    scalar = all(np.ndim(v) == 0 for v in (net_cps, net_var, beam_current_A, pressure_mbar, factor))
    f = np.asarray(factor, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.asarray(value * f, dtype=float)
        sigma = np.asarray(np.sqrt(var) * np.abs(f), dtype=float)
    return _out(out, scalar), _out(sigma, scalar)


def short_term_stability(subgate_counts: Any, subgate_s: Any) -> tuple[Any, Any]:
    """Scatter of equal sub-gate counts against Poisson: ``(reduced_chi2, excess_relative_scatter)``.

    Along the last axis of ``subgate_counts`` (``k >= 2`` sub-gates of ``subgate_s``
    seconds each; leading axes are separate gates), with ``c`` the mean and ``s^2`` the
    sample variance (``ddof=1``) of the counts:

    * ``reduced_chi2 = sum (c_i - c)^2 / c / (k - 1) = s^2 / c`` (1 for pure Poisson);
    * ``excess = sqrt(max(0, s^2 - c)) / c``: the relative rate scatter beyond Poisson
      (beam, pressure or detector drift within the gate), dimensionless.

    Both are dimensionless, so ``subgate_s`` only has to be positive (it cancels for
    equal sub-gates).  ``nan`` for ``k < 2``, zero mean counts or ``subgate_s <= 0``.
    """
    c = np.asarray(subgate_counts, dtype=float)
    if c.ndim == 0:
        raise ValueError("subgate_counts needs at least one axis (the sub-gates)")
    k = c.shape[-1]
    t = np.asarray(subgate_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = c.mean(axis=-1) if k else np.full(c.shape[:-1], np.nan)
        s2 = c.var(axis=-1, ddof=1) if k >= 2 else np.full(c.shape[:-1], np.nan)
        chi2 = s2 / mean
        excess = np.sqrt(np.maximum(0.0, s2 - mean)) / mean
    bad = ~(mean > 0) | ~np.all(t > 0)
    chi2 = np.where(bad, np.nan, chi2)
    excess = np.where(bad, np.nan, excess)
    scalar = c.ndim == 1
    return _out(np.asarray(chi2, dtype=float), scalar), _out(np.asarray(excess, dtype=float), scalar)


def subgate_dispersion(counts: Any, weights: Any = None, *, rel_tolerance: float = 0.0) -> tuple[float, int]:
    """How far the sub-gate counts of one gate are from a steady rate: ``(chi2, dof)``.

    A steady rate gives each sub-gate ``e_i = N w_i / sum(w)`` expected counts (``N`` the
    gate's total, ``w_i`` the beam current during sub-gate ``i``: the rate follows the
    beam; equal weights without one).  ``chi2 = sum (c_i - e_i)^2 / var_i`` with
    ``var_i = e_i + (rel_tolerance e_i)^2``: Poisson, plus the relative scatter the
    apparatus is allowed beyond it.  ``dof = k - 1`` for ``k`` sub-gates (the total is
    fitted).  Fewer than two sub-gates, or no counts, give ``(0.0, 0)``: nothing to test.

    A burst of gas inside one sub-gate (an 11x outlier) gives a chi2 of thousands; the
    monitors read between sub-gates would not see it.
    """
    c = [float(x) for x in counts]
    k = len(c)
    total = sum(c)
    if k < 2 or total <= 0:
        return 0.0, 0
    w = [1.0] * k if weights is None else [float(x) for x in weights]
    if len(w) != k:
        raise ValueError(f"{k} sub-gate counts but {len(w)} weights")
    w_total = sum(w)
    if not (w_total > 0 and all(x > 0 and math.isfinite(x) for x in w)):
        w, w_total = [1.0] * k, float(k)  # an unreadable beam current: test against a flat rate
    chi2 = 0.0
    for ci, wi in zip(c, w):
        e = total * wi / w_total
        chi2 += (ci - e) ** 2 / (e + (rel_tolerance * e) ** 2)
    return chi2, k - 1


_STEADY_LIMITS: dict[tuple[int, float], float] = {}


def steady_limit(dof: int, false_alarm: float) -> float:
    """The chi2 a steady gate exceeds with probability ``false_alarm`` (cached per dof)."""
    key = (dof, false_alarm)
    limit = _STEADY_LIMITS.get(key)
    if limit is None:
        from scipy.special import chdtri  # inverse of the chi2 survival function

        limit = _STEADY_LIMITS[key] = float(chdtri(dof, false_alarm))
    return limit


def is_steady(counts: Any, weights: Any = None, *, rel_tolerance: float = 0.0,
              false_alarm: float = 1e-4) -> tuple[bool, float]:
    """Whether a gate's sub-gates are consistent with a steady rate at the given false-alarm
    probability, and its reduced chi2 (``nan`` when there is nothing to test)."""
    if len(counts) < 2:  # the common one-sub-gate gate: nothing to test, and on the per-point path
        return True, math.nan
    chi2, dof = subgate_dispersion(counts, weights, rel_tolerance=rel_tolerance)
    if dof == 0:
        return True, math.nan
    return chi2 <= steady_limit(dof, false_alarm), chi2 / dof


def normalise_per_energy(values: Any, sigmas: Any, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Scale each set of relative DCS to unit (unweighted) mean along ``axis``, for shape comparison.

    ``v' = v / mean(v)``, ``sigma' = sigma / mean(v)``, the mean over the finite values
    along ``axis`` (e.g. the angles of one energy).  Unweighted on purpose: an
    inverse-variance weighted mean of a DCS, which spans decades, would be set by the
    smallest cross sections alone.  The scale's own uncertainty is common to the whole
    set and does not change the shape, so it is not added.  A set whose mean is not
    positive gives ``nan``.
    """
    v = np.asarray(values, dtype=float)
    s = np.asarray(sigmas, dtype=float)
    v, s = np.broadcast_arrays(v, s)
    finite = np.isfinite(v)
    count = finite.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(finite, v, 0.0).sum(axis=axis, keepdims=True) / count
    mean = np.where(mean > 0, mean, np.nan)
    return v / mean, s / mean


# --------------------------------------------------------------------------- one gate, scalar


class GateNumbers(NamedTuple):
    """Everything the engine derives from one gate's counts."""

    raw_cps: float  #: recorded rate N/t
    rate_cps: float  #: dead-time-corrected rate
    var: float  #: its variance (Poisson counts, propagated through dn/dm)
    loss: float  #: dead-time loss fraction 1 - m/n
    flags: PointFlag


def _lambert_w0_scalar(x: float) -> float:
    """Scalar W0 for ``-1/e <= x <= 0`` (the paralyzable inversion's range), pure math."""
    q = math.e * ((x + _INV_E) + _INV_E_LO)
    if q < 0:
        return math.nan
    if x == 0:
        return 0.0
    if q < 0.3:
        p = math.sqrt(2.0 * q)
        w = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0))))
    else:
        w = math.log1p(x)
    for _ in range(50):
        ew = math.exp(w)
        f = w * ew - x
        wp1 = w + 1.0
        denominator = ew * wp1 - (w + 2.0) * f / (2.0 * wp1) if wp1 != 0 else 0.0
        if denominator == 0 or q == 0:
            break
        wn = max(w - f / denominator, -1.0)
        if abs(wn - w) <= 4 * 2.220446049250313e-16 * max(1.0, abs(wn)):
            return wn
        w = wn
    return w


def correct_gate(
    counts: int,
    gate_s: float,
    dead_time_s: float,
    model: str,
    *,
    max_loss_fraction: float,
    linear_limit_cps: float,
    overflow: bool = False,
) -> GateNumbers:
    """Scalar fast path of :func:`corrected_rate`, :func:`loss_fraction` and
    :func:`saturation_flags` for one gate (Poisson statistics), in plain ``math``.

    The engine calls this once per gate: the array functions cost tens of microseconds
    per scalar call in numpy overhead.  Tests check it against them number for number.
    """
    _check_model(model)
    if not (gate_s > 0) or counts < 0 or overflow:
        return GateNumbers(math.nan, math.nan, math.nan, math.nan, PointFlag.OVERFLOW)
    m = counts / gate_s
    var_m = m / gate_s
    tau = dead_time_s
    if tau == 0:
        n, d, loss = m, 1.0, 0.0
    elif model == "nonparalyzable":
        x = m * tau
        if x >= 1:
            n = d = loss = math.nan
        else:
            n, d, loss = m / (1.0 - x), 1.0 / (1.0 - x) ** 2, x
    else:
        w = _lambert_w0_scalar(-m * tau)
        if math.isnan(w):
            n = d = loss = math.nan
        else:
            n = -w / tau
            y = n * tau
            d = math.inf if y >= 1.0 else math.exp(y) / (1.0 - y)
            loss = -math.expm1(-y)
    if math.isnan(n):
        return GateNumbers(m, math.nan, math.nan, math.nan, PointFlag.LOSS | (PointFlag.RATE if m > linear_limit_cps else 0))
    flags = PointFlag.NONE
    if loss > max_loss_fraction:
        flags |= PointFlag.LOSS
    if n > linear_limit_cps:
        flags |= PointFlag.RATE
    var = 0.0 if counts == 0 else d * d * var_m
    return GateNumbers(m, n, var, loss, flags)
