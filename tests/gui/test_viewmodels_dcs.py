"""DcsPlotModel on crafted records: masks, overlay against average (numbers by hand),
hover text, non-finite points, and a night of points added one at a time."""

import math

import numpy as np
import pytest

from acquisition.events import PointFlag
from gui.viewmodels import DcsPlotModel, PointRecord

NAN = float("nan")


def rec(seq, sweep, angle, y, err, *, energy=100.0, flags=0, sloss=0.001, bloss=0.0, sig=1000.0, bg=50.0,
        attempts=1):
    return PointRecord(seq, sweep, energy, angle, y, err, sig, bg, sloss, bloss, int(flags), attempts)


def crafted():
    return [
        rec(0, 0, 40.0, 2.0, 1.0),
        rec(1, 0, 50.0, 1.0, 0.1, flags=PointFlag.RATE),
        rec(2, 0, 60.0, NAN, NAN),  # a failed reduction: not drawn, still listed
        rec(3, 0, 70.0, 1.0, 0.0),  # an error that cannot weight
        rec(4, 1, 70.0, 3.0, NAN),
        rec(5, 1, 60.0, 5.0, 0.5, sloss=0.06),  # loss warning, not saturated
        rec(6, 1, 50.0, 3.0, 0.1, flags=PointFlag.REDONE, attempts=2),
        rec(7, 1, 40.0, 4.0, 2.0, sloss=0.2, flags=PointFlag.LOSS),  # saturated (not a loss warning)
        rec(8, 0, 40.0, 7.0, 0.7, energy=50.0),
    ]


@pytest.fixture
def model():
    m = DcsPlotModel(warn_loss_fraction=0.05)
    m.set_grid([50.0, 100.0], [40.0, 50.0, 60.0, 70.0], 2)
    m.add(crafted())
    return m


def test_overlay_is_one_curve_per_energy_and_sweep_sorted_by_angle(model):
    curves = model.curves()
    assert [(c.energy_eV, c.sweep) for c in curves] == [(50.0, 0), (100.0, 0), (100.0, 1)]
    s0, s1 = curves[1], curves[2]
    np.testing.assert_array_equal(s0.angle, [40, 50, 70])  # 60 has no finite rel_dcs
    np.testing.assert_array_equal(s0.y, [2.0, 1.0, 1.0])
    np.testing.assert_array_equal(s1.angle, [40, 50, 60, 70])
    np.testing.assert_array_equal(s1.y, [4.0, 3.0, 5.0, 3.0])
    np.testing.assert_array_equal(s0.saturated, [False, True, False])
    np.testing.assert_array_equal(s1.saturated, [True, False, False, False])
    np.testing.assert_array_equal(s1.loss_warning, [False, False, True, False])  # 0.2 loss is saturated instead
    np.testing.assert_array_equal(s1.flags, [PointFlag.LOSS, PointFlag.REDONE, 0, 0])


def test_average_is_inverse_variance_weighted_with_flags_or_ed(model):
    model.mode = "average"
    curves = model.curves()
    assert [(c.energy_eV, c.sweep) for c in curves] == [(50.0, None), (100.0, None)]
    c = curves[1]
    np.testing.assert_array_equal(c.angle, [40, 50, 60, 70])
    # 40: 2 +- 1 and 4 +- 2: weights 1 and 1/4 -> (2 + 1) / 1.25 = 2.4, error 1/sqrt(1.25)
    # 50: 1 +- 0.1 and 3 +- 0.1: equal weights -> 2, error 0.1/sqrt(2)
    # 60: only 5 +- 0.5 is finite
    # 70: no usable error at all: plain mean 2, error unknown
    np.testing.assert_allclose(c.y, [2.4, 2.0, 5.0, 2.0])
    np.testing.assert_allclose(c.yerr, [1 / math.sqrt(1.25), 0.1 / math.sqrt(2), 0.5, NAN])
    np.testing.assert_array_equal(c.count, [2, 2, 1, 2])
    np.testing.assert_array_equal(c.saturated, [True, True, False, False])
    np.testing.assert_array_equal(c.loss_warning, [False, False, True, False])
    np.testing.assert_array_equal(c.flags, [PointFlag.LOSS, PointFlag.RATE | PointFlag.REDONE, 0, 0])


def test_mode_switch_bumps_version_and_bad_mode_is_refused(model):
    v = model.version
    model.mode = "average"
    assert model.version > v
    v = model.version
    model.mode = "average"
    assert model.version == v
    with pytest.raises(ValueError):
        model.mode = "mean"


def test_non_finite_point_is_kept_out_of_the_curves_but_listed_and_described(model):
    at_60 = model.points_at(100.0, 60.0)
    assert [r.seq for r in at_60] == [2, 5]
    text = model.describe(100.0, 60.0)
    assert "2 points" in text and "not plotted" in text and "loss warning" in text
    text = model.describe(100.0, 50.0)
    assert "RATE" in text and "REDONE" in text and "2 attempts" in text
    assert "LOSS" in model.describe(100.0, 40.0)
    assert "not measured" in model.describe(100.0, 90.0)
    assert model.points_at(75.0, 40.0) == []


def test_flagged_lists_saturated_and_loss_warned_points(model):
    assert [r.seq for r in model.flagged()] == [1, 5, 7]
    model.warn_loss_fraction = 0.5
    assert [r.seq for r in model.flagged()] == [1, 7]
    assert not model.curves()[2].loss_warning.any()


def test_rate_curves_hold_every_point_of_an_energy(model):
    rates = model.rate_curves()
    assert [r.energy_eV for r in rates] == [50.0, 100.0]
    np.testing.assert_array_equal(rates[1].angle, [40, 40, 50, 50, 60, 60, 70, 70])
    assert rates[1].signal_cps.shape == rates[1].background_cps.shape == (8,)


def test_nearest_picks_the_energy_closest_in_log_y(model):
    assert model.nearest(100.0, 41.0).angle_deg == 40.0
    hit = model.nearest(None, 40.2, log_y=True, y=6.0)
    assert (hit.energy_eV, hit.angle_deg) == (50.0, 40.0)
    hit = model.nearest(None, 40.2, log_y=True, y=2.1)
    assert (hit.energy_eV, hit.sweep) == (100.0, 0)
    assert model.nearest(200.0, 40.0) is None


def test_log_axis_curve_drops_non_positive_values():
    m = DcsPlotModel()
    m.add([rec(0, 0, 40.0, 1.0, 0.1), rec(1, 0, 50.0, -0.5, 0.1), rec(2, 0, 60.0, 0.0, 0.1)])
    curve = m.curves()[0]
    assert len(curve) == 3  # a linear axis shows a negative net rate
    np.testing.assert_array_equal(curve.for_log().angle, [40.0])


def test_reset_forgets_points_and_grid(model):
    model.reset()
    assert model.n_points == 0 and model.curves() == [] and model.energies == []


def test_ten_thousand_points_one_at_a_time_only_rebuild_the_touched_energy():
    """The redraw path: curves() after every 100 points.  Not timed (the project's rule):
    the cache must hand back the untouched energy's curves as the very same objects."""
    m = DcsPlotModel()
    m.set_grid([50.0, 100.0], np.arange(10.0, 130.0, 1.0), 100)
    m.add([rec(-1, 0, 20.0, 1.0, 0.1, energy=50.0)])
    untouched = m.curves()[0]
    rng = np.random.default_rng(1)
    previous = {}
    for i in range(10_000):
        m.add([rec(i, i // 120, 10.0 + i % 120, float(rng.uniform(1, 2)), 0.1)])
        if i % 100 == 99:
            curves = m.curves()
            assert curves[0] is untouched
            assert curves is m.curves()  # unchanged model: not even the list is rebuilt
            by_sweep = {c.sweep: c for c in curves[1:]}
            touched = range((i - 99) // 120, i // 120 + 1)  # the sweeps of this batch's points
            # overlay: a sweep that got no point is not rebuilt either
            assert all(by_sweep[s] is c for s, c in previous.items() if s not in touched)
            assert all(by_sweep[s] is not previous[s] for s in touched if s in previous)
            previous = by_sweep
    m.mode = "average"
    avg = m.curves()[1]
    assert avg.angle.shape == (120,) and avg.count.sum() == 10_000
    m.mode = "overlay"
    assert sum(len(c) for c in m.curves()) == 10_001
