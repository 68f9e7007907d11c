"""Strip-chart ring buffers and the min/max envelope."""

import math

import numpy as np
import pytest

from gui.viewmodels import RingBuffer, StripChartModel, downsample_minmax


def test_ring_buffer_keeps_the_newest_in_time_order_after_wrapping():
    buf = RingBuffer(5, ("a", "b"))
    for i in range(8):
        buf.append(float(i), a=10.0 * i, b=-i)
    assert len(buf) == 5
    t, v = buf.arrays()
    np.testing.assert_array_equal(t, [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(v["a"], [30, 40, 50, 60, 70])
    np.testing.assert_array_equal(v["b"], [-3, -4, -5, -6, -7])
    assert buf.span() == (3.0, 7.0)
    t, a = buf.field("a", 4.0, 6.0)  # a clip across the wrap point
    np.testing.assert_array_equal(t, [4, 5, 6])
    np.testing.assert_array_equal(a, [40, 50, 60])


def test_ring_buffer_extend_wraps_and_overflows_like_appends():
    one, many = RingBuffer(7, ("x",)), RingBuffer(7, ("x",))
    chunks = [np.arange(0, 3), np.arange(3, 9), np.arange(9, 10), np.arange(10, 25)]
    for chunk in chunks:
        for i in chunk:
            one.append(float(i), x=2.0 * i)
        many.extend(chunk.astype(float), x=2.0 * chunk)
        np.testing.assert_array_equal(one.arrays()[0], many.arrays()[0])
        np.testing.assert_array_equal(one.arrays()[1]["x"], many.arrays()[1]["x"])
    np.testing.assert_array_equal(many.arrays()[0], np.arange(18, 25))


def test_ring_buffer_out_of_order_times_still_clip_right():
    buf = RingBuffer(10, ("x",))
    buf.extend([0.0, 5.0, 1.0, 6.0], x=[0.0, 5.0, 1.0, 6.0])
    assert not buf.monotonic
    np.testing.assert_array_equal(buf.field("x", 0.5, 5.5)[1], [5.0, 1.0])
    assert buf.span() == (0.0, 6.0)


def test_downsample_keeps_a_one_sample_spike_among_430k_and_respects_the_limit():
    n = 430_000
    t = np.arange(n) * 0.1
    y = np.full(n, 1e-6) + np.sin(np.arange(n) / 5000) * 1e-8
    y[312_345] = 5e-4  # a one-reading pressure burst
    y[7] = 1e-9  # and a one-reading dip
    for buckets in (1000, 997, 1):
        t_out, y_out = downsample_minmax(t, y, buckets)
        assert len(t_out) == len(y_out) <= 2 * buckets
        assert y_out.max() == 5e-4 and y_out.min() == 1e-9
        assert t_out[np.argmax(y_out)] == t[312_345]
        assert np.all(np.diff(t_out) >= 0)  # still in time order
    short_t, short_y = downsample_minmax(t[:50], y[:50], 100)
    np.testing.assert_array_equal(short_y, y[:50])


def test_downsample_skips_nans_but_keeps_an_all_nan_bucket_as_a_gap():
    y = np.array([1.0, np.nan, 3.0, 2.0, np.nan, np.nan, np.nan, np.nan, 0.5, 4.0])
    t = np.arange(10.0)
    _, out = downsample_minmax(t, y, 3)  # buckets of 4: [1 nan 3 2] [nan nan nan nan] [0.5 4]
    assert list(out[:2]) == [1.0, 3.0] and np.isnan(out[2:4]).all() and list(out[4:]) == [0.5, 4.0]


def test_strip_chart_view_of_a_night_is_clipped_and_bounded():
    chart = StripChartModel()
    n = 430_000
    t = np.arange(n) * 0.1
    chamber = np.full(n, 2e-6)
    chamber[200_000] = 3e-4
    chart.add_monitors(t, 1e-9, chamber, 0.5)
    chart.add_rate(100.0, 1234.0)
    v = chart.version
    chart.add_rate(200.0, 2345.0)
    assert chart.version > v
    tt, yy = chart.view("chamber_mbar", max_points=2000)
    assert len(tt) <= 2000 and yy.max() == 3e-4
    tt, yy = chart.view("chamber_mbar", t0=19_000.0, t1=21_000.0, max_points=500)
    assert len(tt) <= 500 and tt.min() >= 19_000.0 and tt.max() <= 21_000.0 and yy.max() == 3e-4
    tt, yy = chart.view("beam_current_A", t0=10.0, t1=10.25)
    np.testing.assert_array_equal(tt, t[100:103])
    np.testing.assert_array_equal(chart.view("count_rate_cps")[1], [1234.0, 2345.0])
    assert chart.span() == (0.0, t[-1])
    with pytest.raises(KeyError):
        chart.view("temperature")


def test_strip_chart_drops_samples_without_a_time_and_starts_empty():
    chart = StripChartModel(capacity=100)
    assert all(math.isnan(x) for x in chart.span())
    chart.add_monitor(math.nan, 1.0, 1.0, 1.0)
    chart.add_monitors([0.0, math.nan, 2.0], [1.0, 2.0, 3.0], 0.0, 0.0)
    np.testing.assert_array_equal(chart.raw("beam_current_A")[1], [1.0, 3.0])
    chart.clear()
    assert len(chart) == 0
