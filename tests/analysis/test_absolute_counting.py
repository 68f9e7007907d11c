"""PHYSICS.md §1-2 with their numbers: the relative rate of one point, dead time, and the
linearity check (analysis.absolute.linearity).  The counting functions themselves live in
acquisition.counting (reused, not duplicated); tests/acquisition/test_counting.py checks
them on other hand values, these are PHYSICS.md's."""

import math

import numpy as np
import pytest

from acquisition import counting as c
from acquisition.events import PointFlag
from analysis.absolute.linearity import fit_linearity
from analysis.absolute.rfm import beam_normalised_intensity


def test_case_1_1_net_rate_and_beam_normalisation():
    rate, var = c.net_rate_from_counts(120000, 100.0, 20000, 100.0)
    assert rate == pytest.approx(1000.000, abs=5e-4)
    assert math.sqrt(var) == pytest.approx(3.7417, abs=5e-5)
    assert math.sqrt(var) / rate == pytest.approx(0.00374, abs=5e-6)  # 0.374 %
    intensity = beam_normalised_intensity(120000, 100.0, 20000, 100.0, 100e-9)  # no dead time
    assert intensity.cps_per_nA == pytest.approx(10.000, abs=5e-4)
    assert intensity.err_cps_per_nA == pytest.approx(0.037417, abs=5e-7)


def test_case_1_2_optimal_split():
    total = c.time_for_precision(1000.0, 100.0, 0.01)
    assert total == pytest.approx(21.388, abs=5e-4)
    ts, tb = c.split_time(total, 1000.0, 100.0)
    assert (ts, tb) == pytest.approx((16.250, 5.139), abs=5e-4)
    assert c.relative_uncertainty(1000.0 * ts, ts, 100.0 * tb, tb) == pytest.approx(0.01, rel=1e-12)


@pytest.mark.parametrize(
    ("tau", "m", "n_np", "loss_np", "n_p", "loss_p"),
    [
        (50e-9, 1e6, 1052631.6, 0.0500, 1054119.7, 0.0513),
        (100e-9, 2e6, 2500000.0, 0.2000, 2591711.0, 0.2283),
        (1e-6, 1e5, 111111.1, 0.1000, 111832.6, 0.1058),
    ],
)
def test_section_2_dead_time_table(tau, m, n_np, loss_np, n_p, loss_p):
    assert c.true_rate(m, tau, "nonparalyzable") == pytest.approx(n_np, abs=0.05)
    assert c.loss_fraction(m, tau, "nonparalyzable") == pytest.approx(loss_np, abs=5e-5)
    assert c.true_rate(m, tau, "paralyzable") == pytest.approx(n_p, abs=0.05)
    assert c.loss_fraction(m, tau, "paralyzable") == pytest.approx(loss_p, abs=5e-5)
    assert c.loss_fraction(m, tau, "paralyzable") == pytest.approx(1 - m / c.true_rate(m, tau, "paralyzable"))


def test_section_2_dead_time_table_last_row_has_no_paralyzable_solution():
    # 1 us, 5e5 cps: non-paralyzable 1.0e6 (50 % lost); paralyzable m tau = 0.5 > 1/e: flagged.
    assert c.true_rate(5e5, 1e-6, "nonparalyzable") == pytest.approx(1.0e6)
    assert c.loss_fraction(5e5, 1e-6, "nonparalyzable") == pytest.approx(0.50)
    assert math.isnan(c.true_rate(5e5, 1e-6, "paralyzable"))
    flags = c.saturation_flags(5e5, 1e-6, "paralyzable", max_loss_fraction=0.10, linear_limit_cps=1e7)
    assert flags & PointFlag.LOSS


CURRENTS = np.array([1, 2, 5, 10, 20, 50, 100.0])


def test_case_2_1_linearity_fit_recovers_tau_and_gain():
    true = 2e4 * CURRENTS
    m = c.measured_rate(true, 100e-9, "nonparalyzable")
    np.testing.assert_allclose(m, [19960.1, 39840.6, 99009.9, 196078.4, 384615.4, 909090.9, 1666666.7], atol=0.05)
    fit = fit_linearity(CURRENTS, m)  # the fit chooses m tau < 0.02 itself
    assert fit.dead_time_s == pytest.approx(1.0000e-7, abs=5e-12)
    assert fit.gain_cps_per_nA == pytest.approx(20000.0, abs=0.05)
    assert fit.used_in_fit.tolist() == [True, True, True, True, False, False, False]
    np.testing.assert_allclose(fit.ratio, 1.0, atol=1e-12)
    assert not fit.saturated.any() and math.isnan(fit.onset_cps)


def test_case_2_1_gain_sag_marks_the_50_and_100_nA_points_saturated():
    n = 2e4 * CURRENTS
    m = c.measured_rate(n, 100e-9, "nonparalyzable") / (1 + (n / 3e6) ** 2)  # sag below the dead-time curve
    fit = fit_linearity(CURRENTS, m, fit_below_cps=2e5)
    np.testing.assert_allclose(fit.ratio, [0.9999, 1.0002, 1.0004, 0.9989, 0.9892, 0.9150, 0.7136], atol=5e-5)
    assert fit.saturated.tolist() == [False] * 5 + [True, True]
    assert fit.onset_cps == pytest.approx(m[5])
    # the sag is absorbed partly into the fitted tau (1.187e-7, not 1e-7): why the fit is kept low
    assert fit.dead_time_s == pytest.approx(1.1868e-7, rel=1e-4)


def test_linearity_up_then_down_and_3_sigma_rule():
    n = 2e4 * np.concatenate([CURRENTS, CURRENTS[::-1]])
    m = c.measured_rate(n, 100e-9, "nonparalyzable") / (1 + (n / 3e6) ** 2)
    fit = fit_linearity(np.concatenate([CURRENTS, CURRENTS[::-1]]), m, fit_below_cps=2e5)
    assert fit.saturated.sum() == 4
    # a large counting uncertainty (3 sigma = 12 %) hides the 8.5 % deficit at 50 nA
    wide = fit_linearity(CURRENTS, m[:7], fit_below_cps=2e5, sigma_cps=0.04 * m[:7])
    assert wide.saturated.tolist() == [False] * 6 + [True]


def test_linearity_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fit_linearity([1, 2], [1e4, 2e4])
    with pytest.raises(ValueError, match="> 0"):
        fit_linearity([1, 2, 0], [1e4, 2e4, 3e4])
    with pytest.raises(ValueError, match="only 1 points below"):
        fit_linearity(CURRENTS, 2e4 * CURRENTS, fit_below_cps=3e4)
