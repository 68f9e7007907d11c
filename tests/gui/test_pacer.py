"""The redraw pacer keeps the GUI thread within its share of a processor."""

import pytest

from gui.viewmodels.pacer import RedrawPacer


def test_an_idle_window_redraws_at_its_fastest():
    pacer = RedrawPacer(fastest_s=0.05, slowest_s=2.0, budget=0.1)
    for _ in range(20):
        interval = pacer.update(cpu_s=0.001, wall_s=0.05)
    assert interval == 0.05


def test_a_flooded_window_slows_down_until_its_share_is_within_the_budget():
    """A redraw costing 40 ms: at 50 ms that is 80 % of a processor; the period grows to
    where 40 ms is about a tenth of it, and not beyond the slowest period."""
    pacer = RedrawPacer(fastest_s=0.05, slowest_s=2.0, budget=0.1)
    interval = pacer.fastest_s
    for _ in range(60):
        interval = pacer.update(cpu_s=0.040, wall_s=interval)
    assert 0.25 <= interval <= 0.6
    assert pacer.share == pytest.approx(0.1, rel=0.6)
    for _ in range(10):  # a frame that costs more than the slowest period allows
        interval = pacer.update(cpu_s=1.0, wall_s=interval)
    assert interval == 2.0


def test_it_comes_back_once_the_flood_is_over():
    pacer = RedrawPacer()
    interval = pacer.fastest_s
    for _ in range(30):
        interval = pacer.update(cpu_s=0.2, wall_s=interval)
    assert interval > 0.5
    for _ in range(30):
        interval = pacer.update(cpu_s=0.001, wall_s=interval)
    assert interval == pacer.fastest_s


@pytest.mark.parametrize("kwargs", [dict(fastest_s=0), dict(fastest_s=3, slowest_s=2), dict(budget=1.5)])
def test_nonsense_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        RedrawPacer(**kwargs)
