"""PHYSICS.md §3, flow by the rate of pressure rise (analysis.absolute.rate_of_rise)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.absolute.rate_of_rise import (
    K_B,
    NonLinearRise,
    curvature_test,
    fit_early_linear,
    fit_rate_of_rise,
    flow_from_rise,
    flow_rate,
)

T_S = [0, 10, 20, 30, 40, 50]
P_PA = [1.000, 1.205, 1.398, 1.611, 1.799, 2.004]


def test_case_3_2_slope_error_intercept_and_flow():
    fit = fit_rate_of_rise(T_S, P_PA)
    assert fit.slope_Pa_s == pytest.approx(0.020043, abs=5e-7)
    assert fit.slope_err_Pa_s == pytest.approx(0.000129, abs=5e-7)
    assert fit.intercept_Pa == pytest.approx(1.00176, abs=5e-6)
    assert not fit.curved and fit.curvature_p > 0.5
    flow = flow_from_rise(fit, 0.000200, 1.0e-3, 295.0)  # V = 1.0 L, T = 295 K
    assert flow.molecules_per_s == pytest.approx(4.87191e15, rel=5e-6)
    assert flow.relative_err == pytest.approx(0.00648, abs=5e-6)  # 0.648 %


def test_case_3_2_by_the_formulas_written_out():
    t, p = np.array(T_S, float), np.array(P_PA, float)
    b = np.sum((t - t.mean()) * (p - p.mean())) / np.sum((t - t.mean()) ** 2)
    a = p.mean() - b * t.mean()
    s_b = math.sqrt(np.sum((p - a - b * t) ** 2) / 4 / np.sum((t - t.mean()) ** 2))
    fit = fit_rate_of_rise(t, p)
    assert (fit.slope_Pa_s, fit.slope_err_Pa_s, fit.intercept_Pa) == pytest.approx((b, s_b, a), rel=1e-12)
    assert flow_rate(b, 2e-4, 1e-3, 295.0).molecules_per_s == pytest.approx(1e-3 / (K_B * 295.0) * (b - 2e-4))
    assert K_B == 1.380649e-23


def test_base_rate_fit_subtracted_with_its_error():
    rise = fit_rate_of_rise(T_S, P_PA)
    base = fit_rate_of_rise([0, 10, 20, 30], [0.0100, 0.0121, 0.0139, 0.0161])
    flow = flow_from_rise(rise, base, 1e-3, 295.0)
    assert flow.net_slope_Pa_s == pytest.approx(rise.slope_Pa_s - base.slope_Pa_s)
    scale = 1e-3 / (K_B * 295.0)
    assert flow.err_molecules_per_s == pytest.approx(scale * math.hypot(rise.slope_err_Pa_s, base.slope_err_Pa_s))


def test_curved_rise_rejected_and_early_linear_part_kept():
    rng = np.random.default_rng(7)
    t = np.arange(0.0, 100.0, 5.0)
    p = 1.0 + 0.02 * t - 2e-5 * t**2 + rng.normal(0, 2e-3, t.size)  # the line fills: the rise slows
    whole = fit_rate_of_rise(t, p)
    assert whole.curved and whole.curvature_p < 1e-10
    with pytest.raises(NonLinearRise, match="curved"):
        flow_from_rise(whole, 0.0, 1e-3, 295.0)
    early = fit_early_linear(t, p)
    assert not early.curved and early.n_points < t.size
    assert early.slope_Pa_s == pytest.approx(0.02, rel=0.1)  # the initial rate, not the mean one
    assert abs(early.slope_Pa_s - 0.02) < abs(whole.slope_Pa_s - 0.02)
    with pytest.raises(NonLinearRise, match="first 5 readings"):
        fit_early_linear(t, 1.0 + 1e-2 * t**2, min_points=5)


def test_curvature_test_edges():
    assert curvature_test([0, 1, 2, 3], [1, 2, 3, 4]) == (0.0, 1.0)  # exact line
    assert curvature_test([0, 1, 2, 3], [0, 1, 4, 9])[1] == 0.0  # exact parabola
    assert all(math.isnan(x) for x in curvature_test([0, 1, 2], [0, 1, 3]))
    with pytest.raises(ValueError, match="at least 3"):
        fit_rate_of_rise([0, 1], [0, 1])
    with pytest.raises(ValueError, match="finite"):
        fit_rate_of_rise([0, 1, 2], [0, float("nan"), 1])
    with pytest.raises(ValueError, match="must be > 0"):
        flow_rate(0.01, 0.0, 0.0, 295.0)


@settings(max_examples=60, deadline=None)
@given(shift=st.floats(-1e3, 1e3), t0=st.floats(-1e3, 1e3))
def test_slope_invariant_to_a_constant_pressure_or_time_offset(shift, t0):
    ref = fit_rate_of_rise(T_S, P_PA)
    fit = fit_rate_of_rise(np.array(T_S) + t0, np.array(P_PA) + shift)
    assert fit.slope_Pa_s == pytest.approx(ref.slope_Pa_s, rel=1e-8, abs=1e-12)
    assert fit.slope_err_Pa_s == pytest.approx(ref.slope_err_Pa_s, rel=1e-5)
    assert fit.curvature_p == pytest.approx(ref.curvature_p, rel=1e-4, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(v=st.floats(1e-4, 1e-1), temp=st.floats(250.0, 350.0))
def test_volume_and_temperature_cancel_in_the_flow_ratio(v, temp):
    a, b = flow_rate(0.0145, 0.0, v, temp), flow_rate(0.0100, 0.0, v, temp)
    assert a.molecules_per_s / b.molecules_per_s == pytest.approx(1.45, rel=1e-12)
