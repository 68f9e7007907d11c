"""Counting statistics and detector corrections: numbers worked out by hand, Monte Carlo
checks with fixed seeds, and scipy (tests only) as an independent Lambert W."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acquisition import counting as c
from acquisition.events import PointFlag

TAU = 100e-9  # s
OMEGA = 0.5671432904097838  # W0(1), the omega constant


# --------------------------------------------------------------------------- Lambert W


def test_lambert_w0_known_values():
    assert c.lambert_w0(1.0) == pytest.approx(OMEGA, rel=1e-15, abs=0)
    assert c.lambert_w0(-math.exp(-1)) == -1.0
    assert c.lambert_w0(0.0) == 0.0
    assert c.lambert_w0(math.e) == pytest.approx(1.0, rel=1e-15)
    assert c.lambert_w0(2 * math.e**2) == pytest.approx(2.0, rel=1e-15)  # 2 e^2 = w e^w at w = 2
    assert c.lambert_w0(-0.5 * math.exp(-0.5)) == pytest.approx(-0.5, rel=1e-14)  # w = -1/2
    assert c.lambert_w0(1e-300) == pytest.approx(1e-300, rel=1e-15)


def test_lambert_w0_outside_domain_is_nan():
    w = c.lambert_w0(np.array([-0.37, -1.0, np.nan, np.inf]))
    assert np.isnan(w[:3]).all()
    assert w[3] == np.inf


def test_lambert_w0_solves_its_equation_and_matches_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate(
        [
            -math.exp(-1) * (1 - np.logspace(-8, 0, 200)),  # from the branch point to 0
            -np.logspace(-300, -0.5, 100),
            np.logspace(-300, 300, 400),
        ]
    )
    w = c.lambert_w0(x)
    assert w.shape == x.shape
    assert np.all(w >= -1)
    np.testing.assert_allclose(w, special.lambertw(x).real, rtol=1e-12, atol=0)
    small = np.abs(x) < 1e100  # w e^w overflows beyond
    np.testing.assert_allclose(w[small] * np.exp(w[small]), x[small], rtol=1e-12, atol=1e-300)


def test_lambert_w0_returns_scalar_for_scalar():
    w = c.lambert_w0(1.0)
    assert isinstance(w, float) and np.ndim(w) == 0
    assert c.lambert_w0([[1.0, 0.0]]).shape == (1, 2)


# --------------------------------------------------------------------------- dead time


def test_nonparalyzable_hand_values():
    # tau = 100 ns, m = 1e6 cps: m tau = 0.1, n = 1e6 / 0.9, 10 % of the true counts lost.
    assert c.true_rate(1e6, TAU) == pytest.approx(1.0e6 / 0.9, rel=1e-15)
    assert c.true_rate(1e6, TAU) == pytest.approx(1.1111e6, rel=1e-4)
    assert c.loss_fraction(1e6, TAU) == pytest.approx(0.10, rel=1e-12)
    assert c.measured_rate(1e6, TAU, "nonparalyzable") == pytest.approx(1e6 / 1.1, rel=1e-15)
    assert c.rate_derivative(1e6, TAU) == pytest.approx(1 / 0.81, rel=1e-14)


def test_nonparalyzable_beyond_one_over_tau_is_nan():
    n = c.true_rate(np.array([9.99e6, 1e7, 2e7]), TAU)
    assert np.isfinite(n[0]) and np.isnan(n[1:]).all()
    assert np.isnan(c.loss_fraction(1e7, TAU))


def test_paralyzable_hand_values():
    # n tau = 0.1: m tau = 0.1 exp(-0.1) = 0.0904837418035960, loss = 1 - exp(-0.1).
    m = 0.1 * math.exp(-0.1) / TAU
    assert m == pytest.approx(904837.418035960, rel=1e-14)
    assert c.measured_rate(1e6, TAU, "paralyzable") == pytest.approx(m, rel=1e-15)
    assert c.true_rate(m, TAU, "paralyzable") == pytest.approx(1e6, rel=1e-13)
    assert c.loss_fraction(m, TAU, "paralyzable") == pytest.approx(0.09516258196404048, rel=1e-12)
    assert c.rate_derivative(m, TAU, "paralyzable") == pytest.approx(math.exp(0.1) / 0.9, rel=1e-12)
    # The same reading corrected as non-paralyzable gives less: the models differ at 10 %.
    assert c.true_rate(m, TAU) < 1e6


def test_paralyzable_round_trip_over_the_physical_branch():
    n = np.concatenate([[0.0, 1.0], np.logspace(0, math.log10(0.99 / TAU), 300)])
    m = c.measured_rate(n, TAU, "paralyzable")
    np.testing.assert_allclose(c.true_rate(m, TAU, "paralyzable"), n, rtol=1e-11, atol=0)
    nm = c.measured_rate(n, TAU, "nonparalyzable")
    np.testing.assert_allclose(c.true_rate(nm, TAU, "nonparalyzable"), n, rtol=1e-12, atol=0)
    np.testing.assert_allclose(c.loss_fraction(m, TAU, "paralyzable"), -np.expm1(-n * TAU), rtol=1e-11, atol=0)


def test_paralyzable_maximum_and_beyond():
    # The counter's maximum m = 1/(e tau) comes from n = 1/tau; above it no n fits.
    assert c.true_rate(1 / (math.e * TAU), TAU, "paralyzable") == pytest.approx(1 / TAU, rel=1e-7)
    assert c.rate_derivative(1 / (math.e * TAU), TAU, "paralyzable") > 1e6
    assert np.isnan(c.true_rate(1.001 / (math.e * TAU), TAU, "paralyzable"))
    assert np.isnan(c.loss_fraction(4e6, TAU, "paralyzable"))


@pytest.mark.parametrize("model", c.DEAD_TIME_MODELS)
def test_rate_derivative_matches_finite_difference(model):
    m = np.array([1e3, 1e5, 1e6, 3e6])
    h = m * 1e-6
    numeric = (c.true_rate(m + h, TAU, model) - c.true_rate(m - h, TAU, model)) / (2 * h)
    np.testing.assert_allclose(c.rate_derivative(m, TAU, model), numeric, rtol=1e-6)


@pytest.mark.parametrize("model", c.DEAD_TIME_MODELS)
def test_edge_inputs(model):
    assert c.true_rate(0.0, TAU, model) == 0.0
    assert c.loss_fraction(0.0, TAU, model) == 0.0
    assert c.true_rate(5e5, 0.0, model) == 5e5  # no dead time, no correction
    assert c.measured_rate(5e5, 0.0, model) == 5e5
    assert np.isnan(c.true_rate(-1.0, TAU, model))
    assert np.isnan(c.true_rate(np.nan, TAU, model))
    assert np.isnan(c.measured_rate(-1.0, TAU, model))


def test_bad_model_or_dead_time_raise():
    with pytest.raises(ValueError, match="unknown dead-time model 'extendable'"):
        c.true_rate(1e5, TAU, "extendable")
    with pytest.raises(ValueError, match="dead time"):
        c.true_rate(1e5, -TAU)
    with pytest.raises(ValueError, match="unknown counting statistics"):
        c.corrected_rate(100, 1.0, TAU, statistics="gauss")


def test_scalars_in_scalars_out_arrays_broadcast():
    n = c.true_rate(1e6, TAU)
    assert isinstance(n, float)
    arr = c.true_rate(np.array([[1e5], [1e6]]), np.array([TAU, 2 * TAU]))
    assert arr.shape == (2, 2)
    assert arr[1, 1] == pytest.approx(1e6 / 0.8)
    rate, var = c.corrected_rate([100, 200], 1.0, TAU)
    assert rate.shape == var.shape == (2,)


# --------------------------------------------------------------------------- corrected rate and its variance


def test_corrected_rate_hand_values():
    # 10000 counts in 10 ms: m = 1e6 cps, var(m) = N/t^2 = 1e8; dn/dm = 1/0.81.
    rate, var = c.corrected_rate(10000, 0.01, TAU)
    assert rate == pytest.approx(1e6 / 0.9, rel=1e-14)
    assert var == pytest.approx(1e8 / 0.81**2, rel=1e-14)
    assert c.corrected_rate(0, 1.0, TAU) == (0.0, 0.0)
    assert np.isnan(c.corrected_rate(10, 0.0, TAU)).all()
    assert np.isnan(c.corrected_rate(2e7, 1.0, TAU)).all()  # m tau = 2: no true rate


@pytest.mark.parametrize("model", c.DEAD_TIME_MODELS)
def test_corrected_rate_variance_by_monte_carlo(model):
    # Counts Poisson about the dead-time-reduced mean (as the simulator draws them); the
    # scatter of the corrected rates is the propagated variance.  20 % loss on purpose.
    rng = np.random.default_rng(20240611)
    gate_s, tau = 0.02, 200e-9
    n_true = 1.25e6
    mean_counts = c.measured_rate(n_true, tau, model) * gate_s
    counts = rng.poisson(mean_counts, size=40000)
    rates, _ = c.corrected_rate(counts, gate_s, tau, model)
    _, var = c.corrected_rate(mean_counts, gate_s, tau, model)
    assert rates.mean() == pytest.approx(n_true, rel=2e-3)
    # standard error of a variance from 40000 draws: sqrt(2/40000) = 0.7 %
    assert rates.var(ddof=1) == pytest.approx(var, rel=0.04)


def _nonparalyzable_counter(rng, n_cps, tau_s, gate_s, reps):
    """Counts of a non-paralyzable counter, event by event: after each recorded pulse the
    counter is dead for tau; the next recorded pulse is the first arrival after that
    (memoryless), so recorded intervals are tau + Exp(1/n); the counter starts live."""
    expected = gate_s * n_cps / (1 + n_cps * tau_s)
    k = int(expected + 10 * math.sqrt(expected) + 20)
    intervals = rng.exponential(1 / n_cps, size=(reps, k)) + tau_s
    intervals[:, 0] -= tau_s
    times = np.cumsum(intervals, axis=1)
    assert np.all(times[:, -1] > gate_s)
    return (times < gate_s).sum(axis=1)


def _paralyzable_counter(rng, n_cps, tau_s, gate_s, reps):
    """Counts of a paralyzable counter: every arrival restarts the dead time, so an arrival
    is recorded only if the previous arrival is at least tau earlier; the counter starts live."""
    k = int(n_cps * gate_s + 10 * math.sqrt(n_cps * gate_s) + 20)
    gaps = rng.exponential(1 / n_cps, size=(reps, k))
    times = np.cumsum(gaps, axis=1)
    assert np.all(times[:, -1] > gate_s)
    recorded = gaps >= tau_s
    recorded[:, 0] = True
    return ((times < gate_s) & recorded).sum(axis=1)


@pytest.mark.parametrize(
    ("model", "counter"), [("nonparalyzable", _nonparalyzable_counter), ("paralyzable", _paralyzable_counter)]
)
def test_renewal_statistics_match_an_event_level_counter(model, counter):
    # A real counter behind a dead time counts more regularly than Poisson (n tau = 0.3:
    # var/N = 0.59 non-paralyzable, 0.56 paralyzable): "renewal" describes it,
    # "poisson" overestimates the variance (the conservative default).
    rng = np.random.default_rng(7)
    tau, n_true, gate_s = 1e-6, 3e5, 0.01  # about 2300 recorded counts per gate
    counts = counter(rng, n_true, tau, gate_s, 6000)
    m = c.measured_rate(n_true, tau, model)
    assert counts.mean() == pytest.approx(m * gate_s, rel=2e-3)
    factor = c.count_variance_factor(m, tau, model, "renewal")
    assert factor == pytest.approx(0.59 if model == "nonparalyzable" else 0.556, abs=0.005)
    assert counts.var(ddof=1) / counts.mean() == pytest.approx(factor, rel=0.06)
    rates = c.corrected_rate(counts, gate_s, tau, model)[0]
    _, var_renewal = c.corrected_rate(m * gate_s, gate_s, tau, model, statistics="renewal")
    _, var_poisson = c.corrected_rate(m * gate_s, gate_s, tau, model)
    assert rates.var(ddof=1) == pytest.approx(var_renewal, rel=0.07)
    assert var_poisson == pytest.approx(var_renewal / factor, rel=1e-12)


# --------------------------------------------------------------------------- net rate, normalisation


def test_net_rate_hand_values():
    # 900 counts in 3 s with gas through the needle, 100 counts in 1 s through the side leak.
    rate, var = c.net_rate_from_counts(900, 3.0, 100, 1.0)
    assert rate == pytest.approx(200.0) and var == pytest.approx(900 / 9 + 100)
    assert c.net_rate(300.0, 100.0, 100.0, 100.0) == (200.0, 200.0)
    assert np.isnan(c.net_rate_from_counts(900, 0.0, 100, 1.0)[0])


def test_net_rate_variance_by_monte_carlo():
    rng = np.random.default_rng(11)
    ts, tb, rs, rb = 3.0, 1.5, 800.0, 300.0
    ns = rng.poisson(rs * ts, 50000)
    nb = rng.poisson(rb * tb, 50000)
    rate, _ = c.net_rate_from_counts(ns, ts, nb, tb)
    _, var = c.net_rate_from_counts(rs * ts, ts, rb * tb, tb)
    assert rate.mean() == pytest.approx(rs - rb, rel=2e-3)
    assert rate.var(ddof=1) == pytest.approx(var, rel=0.03)


def test_normalise_per_nA_per_mbar():
    value, var = c.normalise(200.0, 200.0, 100e-9, 0.5)  # 100 nA, 0.5 mbar: 50 nA mbar
    assert value == pytest.approx(4.0) and var == pytest.approx(200 / 2500)
    assert np.isnan(c.normalise(200.0, 200.0, 0.0, 0.5)).all()
    assert np.isnan(c.normalise(200.0, 200.0, 100e-9, -1.0)).all()


# --------------------------------------------------------------------------- time budget


def test_optimal_split_hand_values_and_edges():
    assert c.optimal_split(400.0, 100.0) == pytest.approx(2.0)
    assert c.split_time(30.0, 400.0, 100.0) == pytest.approx((20.0, 10.0))
    assert c.optimal_split(400.0, 0.0) == np.inf
    assert c.split_time(30.0, 400.0, 0.0) == (30.0, 0.0)
    assert c.split_time(30.0, 0.0, 0.0) == (15.0, 15.0)
    assert np.isnan(c.optimal_split(0.0, 0.0))
    assert np.isnan(c.optimal_split(-1.0, 1.0))


@pytest.mark.parametrize(("rs", "rb"), [(400.0, 100.0), (50.0, 45.0), (1e4, 3.0)])
def test_optimal_split_minimises_variance_at_fixed_total(rs, rb):
    total = 100.0
    ts = np.linspace(0.001, total - 0.001, 200001)
    var = rs / ts + rb / (total - ts)  # variance of Ns/ts - Nb/tb with expected counts
    best = ts[np.argmin(var)]
    ts_opt, tb_opt = c.split_time(total, rs, rb)
    assert ts_opt == pytest.approx(best, abs=2e-3)
    assert ts_opt / tb_opt == pytest.approx(c.optimal_split(rs, rb))
    assert rs / ts_opt + rb / tb_opt <= var.min() * (1 + 1e-12)


def test_time_for_precision_hand_value_and_consistency():
    # (sqrt 400 + sqrt 100)^2 / (0.01^2 (400 - 100)^2) = 900 / 9 = 100 s.
    total = c.time_for_precision(400.0, 100.0, 0.01)
    assert total == pytest.approx(100.0)
    ts, tb = c.split_time(total, 400.0, 100.0)
    assert c.relative_uncertainty(400.0 * ts, ts, 100.0 * tb, tb) == pytest.approx(0.01, rel=1e-12)
    assert c.precision_reached(400.0 * ts, ts, 100.0 * tb, tb, 0.01 * (1 + 1e-9)) is True
    ts, tb = c.split_time(0.95 * total, 400.0, 100.0)
    assert c.precision_reached(400.0 * ts, ts, 100.0 * tb, tb, 0.01) is False


def test_time_for_precision_edges():
    assert c.time_for_precision(100.0, 100.0, 0.01) == np.inf
    assert c.time_for_precision(50.0, 100.0, 0.01) == np.inf
    assert c.time_for_precision(400.0, 0.0, 0.1) == pytest.approx(1 / (0.01 * 400))  # pure Poisson: N = 1/e^2
    t = c.time_for_precision(np.array([400.0, 100.0]), 100.0, 0.01)
    assert t[0] == pytest.approx(100.0) and t[1] == np.inf


def test_relative_uncertainty_hand_values():
    assert c.relative_uncertainty(900, 3.0, 100, 1.0) == pytest.approx(math.sqrt(200) / 200)
    assert c.relative_uncertainty(100, 1.0, 100, 1.0) == np.inf  # no net signal
    reached = c.precision_reached(np.array([900, 90000]), 3.0, 100, 1.0, 0.01)
    assert reached.tolist() == [False, True]


# --------------------------------------------------------------------------- saturation flags

SAT = {"max_loss_fraction": 0.10, "linear_limit_cps": 5e5}


def test_flags_each_cause_alone():
    assert c.saturation_flags(1e5, TAU, **SAT) == PointFlag.NONE
    # 2e5 cps with 1 us dead time: 20 % loss, corrected rate 2.5e5 under the linear limit.
    assert c.saturation_flags(2e5, 1e-6, **SAT) == PointFlag.LOSS
    # 6e5 cps with 10 ns: 0.6 % loss, but the channeltron is beyond its linear range.
    assert c.saturation_flags(6e5, 10e-9, **SAT) == PointFlag.RATE
    assert c.saturation_flags(1e3, TAU, **SAT, overflow=True) == PointFlag.OVERFLOW
    assert c.saturation_flags(np.nan, TAU, **SAT) == PointFlag.OVERFLOW
    assert c.saturation_flags(-5.0, TAU, **SAT) == PointFlag.OVERFLOW
    # No true rate explains the reading: LOSS (the limit set high to see it alone).
    assert c.saturation_flags(1e7, TAU, max_loss_fraction=0.1, linear_limit_cps=1e9) == PointFlag.LOSS
    assert (
        c.saturation_flags(1.01 / (math.e * TAU), TAU, "paralyzable", max_loss_fraction=0.9, linear_limit_cps=1e9)
        == PointFlag.LOSS
    )


def test_flags_threshold_is_strict():
    # m tau = 2^17 * 2^-20 = 0.125 exactly: a loss equal to the limit is accepted.
    tau, m = 2.0**-20, 2.0**17
    assert c.loss_fraction(m, tau) == 0.125
    assert c.saturation_flags(m, tau, max_loss_fraction=0.125, linear_limit_cps=1e9) == PointFlag.NONE
    assert c.saturation_flags(m, tau, max_loss_fraction=0.1249, linear_limit_cps=1e9) == PointFlag.LOSS


def test_rate_flag_uses_the_rate_the_channeltron_sees():
    # recorded 4.8e5 (< limit), dead-time corrected 4.8e5/0.952 = 5.04e5 (> limit)
    assert c.saturation_flags(4.8e5, TAU, **SAT) == PointFlag.RATE
    assert c.saturation_flags(4.7e5, TAU, **SAT) == PointFlag.NONE


def test_flags_combined():
    flags = c.saturation_flags(2e6, TAU, **SAT)  # 20 % loss and 2.5e6 cps at the channeltron
    assert flags == PointFlag.LOSS | PointFlag.RATE
    assert flags.saturated and flags.describe() == "LOSS|RATE"
    everything = c.saturation_flags(2e6, TAU, **SAT, overflow=True)
    assert everything == PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW
    assert isinstance(everything, PointFlag)


def test_flags_array_version():
    m = np.array([1e5, 2e6, 6e5, 1e3, np.nan])
    overflow = np.array([False, False, False, True, False])
    flags = c.saturation_flags(m, np.array([TAU, TAU, 10e-9, TAU, TAU]), **SAT, overflow=overflow)
    assert flags.dtype == np.uint8
    assert flags.tolist() == [0, PointFlag.LOSS | PointFlag.RATE, PointFlag.RATE, PointFlag.OVERFLOW, PointFlag.OVERFLOW]


# --------------------------------------------------------------------------- effective volume, relative DCS

ANGLES = [20.0, 30.0, 50.0]
FACTORS = [1.2, 1.0, 0.9]


def test_effective_volume_interpolates_linearly_in_angle():
    assert c.effective_volume_factor(25.0, ANGLES, FACTORS) == pytest.approx(1.1)
    assert c.effective_volume_factor(40.0, ANGLES, FACTORS) == pytest.approx(0.95)
    assert c.effective_volume_factor(30.0, ANGLES, FACTORS) == 1.0
    np.testing.assert_allclose(c.effective_volume_factor([20.0, 45.0, 50.0], ANGLES, FACTORS), [1.2, 0.925, 0.9])
    # order of the table rows does not matter
    assert c.effective_volume_factor(25.0, ANGLES[::-1], FACTORS[::-1]) == pytest.approx(1.1)
    # readback rounding at the edge is tolerated
    assert c.effective_volume_factor(50.0 + 1e-9, ANGLES, FACTORS) == pytest.approx(0.9)


@pytest.mark.parametrize("angle", [15.0, 50.5, np.nan])
def test_effective_volume_outside_table_raises(angle):
    with pytest.raises(ValueError, match=r"outside the effective-volume table range 20-50 deg") as err:
        c.effective_volume_factor(angle, ANGLES, FACTORS)
    assert f"{angle:g}" in str(err.value)


def test_effective_volume_array_with_one_angle_outside_raises_naming_it():
    with pytest.raises(ValueError, match=r"angle 55 deg outside"):
        c.effective_volume_factor([25.0, 55.0], ANGLES, FACTORS)


def test_effective_volume_bad_table():
    with pytest.raises(ValueError, match="more than once"):
        c.effective_volume_factor(25.0, [20.0, 20.0, 30.0], FACTORS)
    with pytest.raises(ValueError, match="as many factors as angles"):
        c.effective_volume_factor(25.0, ANGLES, [1.0, 1.0])


def test_relative_dcs():
    value, sigma = c.relative_dcs(200.0, 200.0, 100e-9, 0.5, 1.1)
    assert value == pytest.approx(4.4)
    assert sigma == pytest.approx(1.1 * math.sqrt(200) / 50)
    values, sigmas = c.relative_dcs(np.array([200.0, 100.0]), np.array([200.0, 100.0]), 100e-9, 0.5, [1.0, 2.0])
    np.testing.assert_allclose(values, [4.0, 4.0])
    np.testing.assert_allclose(sigmas, [math.sqrt(200) / 50, 2 * math.sqrt(100) / 50])


# --------------------------------------------------------------------------- stability, shape normalisation


def test_short_term_stability_hand_values():
    assert c.short_term_stability([100, 100, 100, 100], 0.5) == (0.0, 0.0)
    chi2, excess = c.short_term_stability([90, 110, 90, 110], 0.5)
    # mean 100, sample variance 400/3: chi2_red = 4/3, excess = sqrt(100/3)/100
    assert chi2 == pytest.approx(4 / 3)
    assert excess == pytest.approx(math.sqrt(100 / 3) / 100)
    assert np.isnan(c.short_term_stability([5], 1.0)).all()
    assert np.isnan(c.short_term_stability([0, 0, 0], 1.0)).all()


def test_short_term_stability_by_monte_carlo():
    rng = np.random.default_rng(3)
    poisson = rng.poisson(1000.0, size=(4000, 10))
    chi2, excess = c.short_term_stability(poisson, 0.1)
    assert chi2.shape == excess.shape == (4000,)
    assert chi2.mean() == pytest.approx(1.0, abs=0.02)
    # 5 % multiplicative drift between sub-gates on top of Poisson
    drifting = rng.poisson(1000.0 * (1 + 0.05 * rng.standard_normal((4000, 10))))
    chi2, excess = c.short_term_stability(drifting, 0.1)
    assert chi2.mean() == pytest.approx(1 + 0.05**2 * 1000, rel=0.03)
    assert np.sqrt(np.mean(excess**2)) == pytest.approx(0.05, rel=0.05)


def test_normalise_per_energy_to_unit_mean():
    values = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    sigmas = 0.1 * values
    v, s = c.normalise_per_energy(values, sigmas)
    np.testing.assert_allclose(v, [[0.5, 1.0, 1.5]] * 2)
    np.testing.assert_allclose(s, [[0.05, 0.1, 0.15]] * 2)
    v, _ = c.normalise_per_energy(values.T, sigmas.T, axis=0)
    np.testing.assert_allclose(v, [[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]])
    v, _ = c.normalise_per_energy([2.0, np.nan, 4.0], [0.1, 0.1, 0.1])  # nan points ignored
    np.testing.assert_allclose(v, [2 / 3, np.nan, 4 / 3])
    assert np.isnan(c.normalise_per_energy([-1.0, 0.5], [0.1, 0.1])[0]).all()


# --------------------------------------------------------------------------- scalar fast path
@pytest.mark.parametrize("model", ["nonparalyzable", "paralyzable"])
@pytest.mark.parametrize("counts", [0, 1, 37, 12345, 2_000_000, 3_500_000, 9_000_000])
@pytest.mark.parametrize("tau", [0.0, 50e-9, 1e-7, 1e-6])
def test_correct_gate_equals_the_array_functions(model, counts, tau):
    from acquisition.counting import correct_gate

    gate = 10.0
    fast = correct_gate(counts, gate, tau, model, max_loss_fraction=0.1, linear_limit_cps=1e5)
    rate, var = c.corrected_rate(counts, gate, tau, model)
    m = counts / gate
    loss = c.loss_fraction(m, tau, model)
    flags = c.saturation_flags(m, tau, model, max_loss_fraction=0.1, linear_limit_cps=1e5)
    assert fast.raw_cps == m
    np.testing.assert_allclose([fast.rate_cps, fast.var, fast.loss], [rate, var, loss], rtol=1e-9, atol=0, equal_nan=True)
    assert fast.flags == flags


def test_correct_gate_invalid_input_is_overflow():
    from acquisition.counting import correct_gate

    assert correct_gate(10, 0.0, 1e-7, "nonparalyzable", max_loss_fraction=0.1, linear_limit_cps=1e5).flags == PointFlag.OVERFLOW
    assert correct_gate(10, 1.0, 1e-7, "nonparalyzable", max_loss_fraction=0.1, linear_limit_cps=1e5,
                        overflow=True).flags == PointFlag.OVERFLOW


def test_scalar_paths_of_normalise_and_net_rate_equal_the_array_paths():
    cases = [(200.0, 200.0, 100e-9, 0.5), (3.5e4, 3.5e3, 81e-9, 0.301), (10.0, 1.0, 0.0, 0.5), (10.0, 1.0, 1e-7, -1.0)]
    for rate, var, current, p in cases:
        fast = c.normalise(rate, var, current, p)
        slow = c.normalise(np.array([rate]), np.array([var]), current, p)
        np.testing.assert_allclose(fast, [slow[0][0], slow[1][0]], rtol=1e-15, equal_nan=True)
    fast = c.net_rate(3.0, 0.5, 1.0, 0.25)
    slow = c.net_rate(np.array([3.0]), 0.5, 1.0, 0.25)
    assert fast == (slow[0][0], slow[1][0])
