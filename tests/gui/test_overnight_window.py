"""The whole overnight plan in the window, as a user would start it for a demo:

    xbeam gui --sim --virtual --plan examples/isoflurane_overnight.toml --start -o R.h5 --quit-when-done

All 378 points reach the file, the window closes itself with exit code 0, and its
resident memory at the end is within 100 MB of what it was after the first energy
(a window that kept a copy of every event would grow by far more over a real night)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("gui_overnight", ROOT / "bench" / "gui_overnight.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_overnight_plan_runs_to_completion_in_the_window(tmp_path):
    result = _bench().run(ROOT / "examples" / "isoflurane_overnight.toml", tmp_path / "R.h5",
                          timeout_s=240.0, config_home=tmp_path / "config")
    assert result.code == 0, result.stderr[-2000:]
    assert result.points == result.planned == 378
    assert result.rss_first_energy_mb == result.rss_first_energy_mb  # sampled (not NaN)
    assert result.growth_mb <= 100.0
