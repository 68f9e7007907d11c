"""Analysis reduces a run file again with the reduction the run used live, and gets
every stored derived number back (borrowed backgrounds included)."""

import math
from dataclasses import fields, replace

import numpy as np
import pytest

from acquisition.config import parse_apparatus
from acquisition.events import PointFlag
from acquisition.plans import parse_plan
from acquisition.reduction import DcsPointResult
from acquisition.session import Session
from acquisition.storage import read_run
from analysis.reduce import reduce_run
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.world import WorldConfig

PLAN = """
[metadata]
sample = "isoflurane"
[scan]
gas = "isoflurane"
energies_eV = [100, 200]
angles_deg = [30, 45, 60, 75, 90]
sweeps = 2
[counting]
dwell_s = 10.0
subgate_s = 5.0
[background]
mode = "every_nth"
n = 2
[settle]
energy_s = 1.0
angle_s = 1.0
gas_s = 5.0
"""


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reduce") / "run.h5"
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=4)) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
        with Session.connect(config, clock, monitor_interval_s=None) as session:
            stop = session.run_plan(parse_plan(PLAN, apparatus=config), path).join(120)
    assert stop.status == "success"
    return read_run(path)


def test_reducing_the_file_again_gives_every_stored_number(run_file):
    run = run_file
    reduced = reduce_run(run)
    assert len(reduced) == run.n_points == 20
    borrowed = 0
    for i, point in enumerate(reduced):
        for f in fields(DcsPointResult):
            stored, again = float(run.points[f.name][i]), getattr(point.result, f.name)
            assert (math.isnan(stored) and math.isnan(again)) or stored == again, (i, f.name, stored, again)
        stored_flags = PointFlag(int(run.points["flags"][i])) & ~PointFlag.REDONE
        assert point.flags == stored_flags, i
        borrowed += bool(point.flags & PointFlag.BACKGROUND_INTERPOLATED)
    assert borrowed == 8  # angles 45 and 75 of every pass borrow a background


def test_another_effective_volume_table_changes_only_what_it_should(run_file):
    run = run_file
    base = reduce_run(run)
    angles = run.angles_deg.tolist()
    doubled = reduce_run(run, effective_volume=(angles, [2.0] * len(angles)))
    for a, b in zip(base, doubled):
        assert b.result.rel_dcs == pytest.approx(2.0 * a.result.rel_dcs / a.result.effective_volume_factor)
        assert b.result.net_rate_cps == a.result.net_rate_cps


def test_a_run_of_another_kind_is_refused(run_file):
    with pytest.raises(ValueError, match="not a DCS run"):
        reduce_run(replace(run_file, kind="argon_volume"))
    assert np.all(np.isfinite(run_file.points["rel_dcs"]))
