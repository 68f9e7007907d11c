"""PHYSICS.md §5, the uncertainty budget in quadrature (analysis.absolute.budget)."""

import math

import numpy as np
import pytest

from acquisition.events import PointFlag
from analysis.absolute.budget import TERMS, build_budget, quadrature, small_angle_volume_term, stability_from_sweeps
from foundation.dcs_table import DcsTable, reference_path

TABLE1 = DcsTable.from_csv(reference_path("isoflurane_dcs_table1.csv"))


def test_case_5_1_reference_and_small_angle_volume():
    assert quadrature(20, 20) == pytest.approx(28.28, abs=5e-3)
    budget = build_budget(100.0, 25.0, 5.6, stat=0.0)  # reference 20 %, volume 20 % at 25 deg by default
    assert budget.relative_total[0] == pytest.approx(0.2828, abs=5e-5)
    assert 1.6 / 5.6 == pytest.approx(0.286, abs=5e-4)  # Table 1, 100 eV, 25 deg: 28.6 %
    assert budget.u_total[0] == pytest.approx(1.58, abs=5e-3)  # 5.6(16) to the printed digits


def test_the_ics_budget_of_the_study():
    # DCS 25 % on average, extrapolation 15 %, integration 8 % -> 30.2 %
    assert quadrature(25, 15, 8) == pytest.approx(30.2, abs=0.05)


def test_table_1_relative_uncertainties_show_the_small_angle_term():
    # "28-32 % at 25-40 deg and 20-25 % at 45-125 deg at every energy" (to the rounding of the
    # printed two-digit uncertainties: 28.2-32.1 % and 19.7-25.7 %).
    rel = TABLE1.dcs_err / TABLE1.dcs
    small = TABLE1.angles_deg <= 40
    assert 0.28 <= rel[:, small].min() and rel[:, small].max() <= 0.322
    assert 0.195 <= rel[:, ~small].min() and rel[:, ~small].max() <= 0.258
    # the budget reproduces the step: sqrt(r^2 + 0.2^2) at 25-40 from the 45-125 level r
    for i in range(len(TABLE1.energies_eV)):
        r = np.median(rel[i, ~small])
        assert np.median(rel[i, small]) == pytest.approx(math.hypot(r, 0.20), abs=0.012)


def test_small_angle_volume_term_configurable():
    angles = np.array([25.0, 40.0, 40.5, 90.0])
    assert small_angle_volume_term(angles).tolist() == [0.2, 0.2, 0.0, 0.0]
    assert small_angle_volume_term(angles, relative=0.1, hi_deg=50, elsewhere=0.02).tolist() == [0.1, 0.1, 0.1, 0.02]
    assert small_angle_volume_term(30.0) == 0.2


def test_every_term_kept_and_combined_in_quadrature():
    b = build_budget([100.0, 100.0], [30.0, 90.0], [2.0, 0.2], stat=[0.01, 0.03], stability=0.02,
                     reference=0.2, flow=0.03, rfm_stat=0.015, flags=[PointFlag.NONE, PointFlag.LOSS | PointFlag.RATE])
    assert TERMS == ("stat", "stability", "reference", "volume", "flow", "rfm_stat")
    assert b.u_stat.tolist() == pytest.approx([0.02, 0.006])
    assert b.u_volume.tolist() == pytest.approx([0.4, 0.0])
    expected = [2.0 * math.sqrt(0.01**2 + 0.02**2 + 0.2**2 + 0.2**2 + 0.03**2 + 0.015**2),
                0.2 * math.sqrt(0.03**2 + 0.02**2 + 0.2**2 + 0.03**2 + 0.015**2)]
    assert b.u_total.tolist() == pytest.approx(expected)
    assert b.flags == ("", "LOSS|RATE")
    assert build_budget(100.0, 90.0, 1.0, stat=0.01, flags="near_minimum").flags == ("near_minimum",)
    with pytest.raises(ValueError, match="negative"):
        build_budget(100.0, 90.0, 1.0, stat=-0.01)


def test_stability_is_the_scatter_beyond_statistics():
    assert stability_from_sweeps([1.0], [0.01]) == 0.0
    assert stability_from_sweeps([1.00, 1.01, 0.99, 1.00], [0.02] * 4) == 0.0  # scatter below statistics
    values = [1.00, 1.10, 0.90, 1.00]
    s2_over_n = np.var(values, ddof=1) / 4
    expected = math.sqrt(s2_over_n - 0.01**2 / 4)
    assert stability_from_sweeps(values, [0.01] * 4) == pytest.approx(expected)
