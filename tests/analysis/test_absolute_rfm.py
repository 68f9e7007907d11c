"""PHYSICS.md §1 and §3, the relative flow method (analysis.absolute.rfm)."""

import inspect
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquisition.counting import true_rate
from analysis.absolute.rate_of_rise import flow_rate
from analysis.absolute.rfm import (
    DensityRatio,
    RfmPoint,
    beam_normalised_intensity,
    combine_cycles,
    flow_density_ratio,
    intensity_ratio,
    molecular_pressure_density_ratio,
    rfm_point,
    scale_factor,
    scale_from_points,
)

M_AR, M_X = 39.948, 184.49
DCS_AR = 0.15345  # argon, 90 deg, 100 eV
SQRT_M = math.sqrt(M_AR / M_X)


def case_3_3_flows(volume_m3=1e-3, temperature_K=295.0):
    """Argon 0.0145 Pa/s, target 0.0100 Pa/s, same V and T."""
    return flow_rate(0.0145, 0.0, volume_m3, temperature_K), flow_rate(0.0100, 0.0, volume_m3, temperature_K)


def test_case_3_3_flow_form():
    assert SQRT_M == pytest.approx(0.465330, abs=5e-7)
    f_ar, f_x = case_3_3_flows()
    density = flow_density_ratio(f_ar, f_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    assert density.form == "flow" and density.value == pytest.approx(1.45 * 0.465330, rel=1e-6)
    point = rfm_point(DCS_AR, 2.0, density)
    assert point.dcs == pytest.approx(0.207074, abs=5e-7)
    assert round(point.dcs, 3) == 0.207  # Table 1, 100 eV, 90 deg


def test_case_3_3_pressure_form_in_the_molecular_regime_has_no_sqrt_m():
    # Molecular conductance C ~ sqrt(T/M): the pressures that carry the case's flows.
    f_ar, f_x = case_3_3_flows()
    p_ar = f_ar.molecules_per_s / math.sqrt(295.0 / M_AR)
    p_x = f_x.molecules_per_s / math.sqrt(295.0 / M_X)
    density = molecular_pressure_density_ratio(p_ar, p_x)
    assert density.form == "molecular-pressure"
    assert rfm_point(DCS_AR, 2.0, density).dcs == pytest.approx(0.207074, abs=5e-7)


def test_case_3_3_pressure_form_with_sqrt_m_only_when_forced():
    f_ar, f_x = case_3_3_flows()
    p_ar = f_ar.molecules_per_s / math.sqrt(295.0 / M_AR)
    p_x = f_x.molecules_per_s / math.sqrt(295.0 / M_X)
    # The API has no way to write it: the pressure form takes no masses ...
    assert not any("mass" in name for name in inspect.signature(molecular_pressure_density_ratio).parameters)
    with pytest.raises(TypeError):
        molecular_pressure_density_ratio(p_ar, p_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    # ... the flow form refuses pressures (numbers) ...
    with pytest.raises(TypeError, match="a pressure is not a flow"):
        flow_density_ratio(p_ar, p_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    # ... and a point takes only a DensityRatio, not a number multiplied by hand.
    with pytest.raises(TypeError, match="DensityRatio"):
        rfm_point(DCS_AR, 2.0, p_ar / p_x * SQRT_M)
    # Forced (a DensityRatio built by hand, bypassing both constructors): the wrong number.
    forced = DensityRatio(p_ar / p_x * SQRT_M, 0.0, "molecular-pressure")
    assert rfm_point(DCS_AR, 2.0, forced).dcs == pytest.approx(0.096358, abs=5e-7)
    with pytest.raises(ValueError, match="form"):
        DensityRatio(1.0, 0.0, "pressure-with-sqrt-m")


def test_masses_are_keyword_only_so_they_cannot_be_swapped_by_position():
    f_ar, f_x = case_3_3_flows()
    with pytest.raises(TypeError):
        flow_density_ratio(f_ar, f_x, M_AR, M_X)
    swapped = flow_density_ratio(f_ar, f_x, molar_mass_reference_g_mol=M_X, molar_mass_target_g_mol=M_AR)
    right = flow_density_ratio(f_ar, f_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    assert swapped.value / right.value == pytest.approx(M_X / M_AR)


@settings(max_examples=40, deadline=None)
@given(v=st.floats(1e-4, 1e-1), temp=st.floats(250.0, 350.0))
def test_shared_volume_and_temperature_cancel(v, temp):
    f_ar, f_x = case_3_3_flows(v, temp)
    density = flow_density_ratio(f_ar, f_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    assert rfm_point(DCS_AR, 2.0, density).dcs == pytest.approx(0.207074, abs=5e-7)


def test_uncertainties_of_a_point_kept_apart():
    f_ar = flow_rate(0.0145, 0.0, 1e-3, 295.0, slope_err_Pa_s=0.0145 * 0.03)
    f_x = flow_rate(0.0100, 0.0, 1e-3, 295.0, slope_err_Pa_s=0.0100 * 0.04)
    density = flow_density_ratio(f_ar, f_x, molar_mass_reference_g_mol=M_AR, molar_mass_target_g_mol=M_X)
    point = rfm_point(DCS_AR, 2.0, density, intensity_ratio_relative_err=0.02, reference_relative_err=0.20)
    assert point.err_flow / point.dcs == pytest.approx(0.05)  # 3 % and 4 %
    assert point.err_stat / point.dcs == pytest.approx(0.02)
    assert point.err_total / point.dcs == pytest.approx(math.sqrt(0.05**2 + 0.02**2 + 0.2**2))


def test_intensity_corrects_each_rate_before_subtracting():
    # tau = 100 ns, signal 1e6 cps, background 5e5 cps, 1 s each, 100 nA.
    tau = 100e-9
    intensity = beam_normalised_intensity(1_000_000, 1.0, 500_000, 1.0, 100e-9, dead_time_s=tau)
    right = true_rate(1e6, tau) - true_rate(5e5, tau)
    assert intensity.net_cps == pytest.approx(right) == pytest.approx(584795.3, abs=0.05)
    wrong = true_rate(1e6 - 5e5, tau)  # correcting the difference
    assert wrong == pytest.approx(526315.8, abs=0.05) and abs(wrong / right - 1) > 0.09
    assert intensity.cps_per_nA == pytest.approx(right / 100)  # not divided by the pressure


def test_cycles_combined_with_uncorrelated_weights():
    a = RfmPoint(0.20, 0.004, 0.006, 0.20, 100.0, 90.0)
    b = RfmPoint(0.21, 0.004, 0.006, 0.20, 100.0, 90.0)
    both = combine_cycles([a, b])
    assert both.dcs == pytest.approx(0.205)
    assert both.err_stat == pytest.approx(0.004 / math.sqrt(2)) and both.err_flow == pytest.approx(0.006 / math.sqrt(2))
    assert both.reference_relative_err == 0.20  # common: not averaged down
    c = RfmPoint(0.23, 0.008, 0.012, 0.20)  # twice the uncertainty: a quarter of the weight
    assert combine_cycles([a, c]).dcs == pytest.approx((4 * 0.20 + 0.23) / 5)
    with pytest.raises(ValueError, match="reference"):
        combine_cycles([a, RfmPoint(0.2, 0.004, 0.006, 0.10)])
    with pytest.raises(ValueError):
        combine_cycles([])


def test_case_3_4_scaling_with_uncorrelated_terms():
    scale = scale_factor([1.00, 0.40], [2.0, 0.85], [0.20, 0.20])
    assert scale.k == pytest.approx(0.48440, abs=5e-6)
    assert scale.err_uncorrelated == pytest.approx(0.06854, abs=5e-6)
    assert scale.relative_err == pytest.approx(0.1415, abs=5e-5)  # 14.15 %


def test_case_3_4_common_term_added_once():
    scale = scale_factor([1.00, 0.40], [2.0, 0.85], [0.0, 0.0], common_relative_err=0.20)
    assert scale.relative_err == pytest.approx(0.20)
    assert scale.k == pytest.approx((0.5 + 0.40 / 0.85) / 2)  # equal weights
    many = scale_factor([1.00, 0.40] * 8, [2.0, 0.85] * 8, 0.20, common_relative_err=0.20)
    assert many.err_common / many.k == pytest.approx(0.20)  # sixteen points: still 20 %
    assert many.err_uncorrelated == pytest.approx(0.06854 / math.sqrt(8), rel=1e-4)


def test_scale_factor_bad_input():
    with pytest.raises(ValueError, match="2 absolute points but 1"):
        scale_factor([1.0, 0.4], [2.0], 0.2)
    with pytest.raises(ValueError, match="either every point"):
        scale_factor([1.0, 0.4], [2.0, 0.85], [0.2, 0.0])


def test_scale_from_points_keeps_the_stat_and_flow_parts():
    points = [RfmPoint(1.00, 0.03, 0.04, 0.20), RfmPoint(0.40, 0.012, 0.016, 0.20)]  # 3 % stat, 4 % flow each
    scale = scale_from_points(points, [2.0, 0.85], [0.0, 0.0])
    plain = scale_factor([1.00, 0.40], [2.0, 0.85], 0.05, common_relative_err=0.20)
    assert scale.k == pytest.approx(plain.k) and scale.err_uncorrelated == pytest.approx(plain.err_uncorrelated)
    assert math.hypot(scale.stat_relative_err, scale.flow_relative_err) == pytest.approx(
        scale.err_uncorrelated / scale.k)
    assert scale.stat_relative_err / scale.flow_relative_err == pytest.approx(0.75)
    assert scale.err_common / scale.k == pytest.approx(0.20)
    with_rel = scale_from_points(points, [2.0, 0.85], [0.04 * 2.0, 0.04 * 0.85])  # the relative DCS's 4 %
    assert with_rel.stat_relative_err > scale.stat_relative_err
    assert math.isnan(plain.stat_relative_err)


def test_intensity_ratio_of_two_independent_counts():
    target = beam_normalised_intensity(40000, 10.0, 10000, 10.0, 100e-9)
    argon = beam_normalised_intensity(25000, 10.0, 5000, 10.0, 100e-9)
    ratio, rel = intensity_ratio(target, argon)
    assert ratio == pytest.approx(3000 / 2000)
    assert rel == pytest.approx(math.hypot(math.sqrt(50000) / 30000, math.sqrt(30000) / 20000))
