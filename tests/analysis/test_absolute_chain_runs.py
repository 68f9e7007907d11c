"""The typed readers of `xbeam absolute` (analysis.absolute.runs) on factory runs: kinds,
missing data, sweeps combined, the stored effective-volume factor divided out, RFM
intensities recomputed from the raw gates, rate-of-rise records fitted into flows."""

import dataclasses
import math

import numpy as np
import pytest

from acquisition.counting import corrected_rate
from acquisition.events import PointFlag
from analysis.absolute.budget import stability_from_sweeps
from analysis.absolute.runs import (
    AbsoluteInputError,
    combine_relative,
    relative_from_run,
    rfm_from_run,
    volume_from_run,
)
from tests.analysis.test_absolute_chain_factory import World, dcs_run, deviation, rfm_run, volume_run, with_kind


def old_factor(angle):
    """A factor a run applied (the apparatus file's old table): not the truth."""
    return 1.0 / (1.0 - 0.2 * math.exp(-(angle - 25.0) / 10.0))


# --------------------------------------------------------------------------- relative and volume


def test_the_stored_effective_volume_factor_is_divided_out():
    world = World(seed=1)
    plain = relative_from_run(dcs_run(world, sweeps=2, rel_err=1e-9))
    world = World(seed=1)
    factored = relative_from_run(dcs_run(world, sweeps=2, rel_err=1e-9, stored_factor=old_factor))
    assert np.allclose(factored.dcs.value, plain.dcs.value, rtol=1e-12)
    assert np.allclose(factored.dcs.stat_err, plain.dcs.stat_err, rtol=1e-12)
    # what is left is the truth times the deviation (the measured C removes it)
    i = plain.dcs.index(100.0, 25.0)
    expected = 1000.0 * World().truth(100.0, [25.0])[0] * deviation(25.0)
    assert plain.dcs.value[i] == pytest.approx(expected, rel=1e-6)


def test_sweeps_are_combined_with_statistics_and_the_stability_term():
    world = World(seed=3)
    run = dcs_run(world, sweeps=4, rel_err=0.01, sweep_jitter=0.05)
    rel = relative_from_run(run)
    p = run.points
    sel = (p["energy"] == 50.0) & (p["angle"] == 60.0)
    values, errors = p["rel_dcs"][sel], p["rel_dcs_err"][sel]
    w = 1 / errors**2
    i = rel.dcs.index(50.0, 60.0)
    assert rel.dcs.value[i] == pytest.approx(np.sum(w * values) / np.sum(w))
    assert rel.dcs.stat_err[i] == pytest.approx(1 / math.sqrt(np.sum(w)))
    assert rel.dcs.stability[i] == pytest.approx(stability_from_sweeps(values, errors))
    assert rel.dcs.n_sweeps[i] == 4
    assert np.median(rel.dcs.stability) > 0.01  # the 5 % jitter shows beyond the 1 % statistics


def test_a_point_measured_again_counts_once_the_last():
    world = World(seed=2, energies_eV=(100.0,))
    run = dcs_run(world, sweeps=1)
    p = {k: np.concatenate([v, v[:1]]) for k, v in run.points.items()}
    p["rel_dcs"][-1] = 12345.0  # the redone first point
    p["seq"][-1] = p["seq"].max() + 1
    rel = relative_from_run(dataclasses.replace(run, points=p))
    i = rel.dcs.index(100.0, 25.0)
    assert rel.dcs.value[i] == 12345.0 and rel.dcs.n_sweeps[i] == 1


def test_flags_are_ored_over_sweeps_and_some_exclude():
    world = World(seed=2)
    run = dcs_run(world, flags={(50.0, 25.0): int(PointFlag.RATE), (50.0, 30.0): int(PointFlag.REDONE)})
    rel = relative_from_run(run)
    i, j = rel.dcs.index(50.0, 25.0), rel.dcs.index(50.0, 30.0)
    assert rel.dcs.flags[i] & PointFlag.RATE and rel.dcs.excluded[i]
    assert rel.dcs.flags[j] & PointFlag.REDONE and not rel.dcs.excluded[j]


def test_several_relative_runs_are_combined_by_energy_and_angle():
    world = World(seed=5)
    a = relative_from_run(dcs_run(world, energies=(50.0, 100.0), sweeps=2, path="a.h5"))
    b = relative_from_run(dcs_run(world, energies=(100.0, 200.0), sweeps=3, path="b.h5"))
    both = combine_relative([a, b])
    assert list(both.energies) == [50.0, 100.0, 200.0]
    assert both.n_sweeps[both.index(50.0, 40.0)] == 2
    assert both.n_sweeps[both.index(100.0, 40.0)] == 5  # every sweep of both runs
    assert both.n_sweeps[both.index(200.0, 40.0)] == 3
    assert [s.path.name for s in both.sources] == ["a.h5", "b.h5"]


def test_runs_of_different_gases_are_not_combined():
    world = World(seed=5)
    a = relative_from_run(dcs_run(world, path="a.h5"))
    b = relative_from_run(dcs_run(world, path="b.h5", gas={"name": "sevoflurane"}))
    with pytest.raises(AbsoluteInputError, match=r"^--relative: runs of different gases .*a\.h5: isoflurane.*"
                                                  r"b\.h5: sevoflurane"):
        combine_relative([a, b])


def test_the_volume_run_brings_its_angular_response():
    world = World()
    assert volume_from_run(volume_run(world, fwhm_in_apparatus=2.5)).angular_fwhm_deg == 2.5
    assert volume_from_run(volume_run(world)).angular_fwhm_deg is None
    with pytest.raises(AbsoluteInputError, match=r"^--volume argon\.h5: .*angular_fwhm_deg = -1.*>= 0"):
        volume_from_run(volume_run(world, fwhm_in_apparatus=-1.0))


@pytest.mark.parametrize("reader, kind, allowed", [
    (relative_from_run, "volume", "relative DCS runs of the target gas \\(run_kind 'dcs'\\)"),
    (volume_from_run, "dcs", "effective-volume runs of argon \\(run_kind 'volume'\\)"),
    (rfm_from_run, "dcs", "relative-flow-method runs \\(run_kind 'rfm'\\)"),
])
def test_a_run_of_the_wrong_kind_is_refused_naming_what_it_holds(reader, kind, allowed):
    run = with_kind(dcs_run(World(), path="runs/x.h5"), kind)
    with pytest.raises(AbsoluteInputError) as exc:
        reader(run)
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(("--relative runs/x.h5: a ", "--volume runs/x.h5: a ", "--rfm runs/x.h5: a "))
    assert f"a {kind!r} run (isoflurane, 50, 100, 200 eV, 189 points)" in text
    assert __import__("re").search(allowed, text)


def test_a_missing_column_or_no_usable_point_is_refused():
    run = dcs_run(World())
    points = {k: v for k, v in run.points.items() if k != "effective_volume_factor"}
    with pytest.raises(AbsoluteInputError, match=r"^--relative rel\.h5: no column effective_volume_factor"):
        relative_from_run(dataclasses.replace(run, points=points))
    points = dict(run.points, rel_dcs=np.full_like(run.points["rel_dcs"], np.nan))
    with pytest.raises(AbsoluteInputError, match=r"^--relative rel\.h5: no measured point with a finite rel_dcs"):
        relative_from_run(dataclasses.replace(run, points=points))
    points = dict(run.points, effective_volume_factor=np.zeros_like(run.points["rel_dcs"]))
    with pytest.raises(AbsoluteInputError, match=r"effective_volume_factor must be finite and > 0 .*got 50 eV, "
                                                  r"25 deg: 0.0 and 188 more"):
        relative_from_run(dataclasses.replace(run, points=points))


def test_a_run_from_before_rel_dcs_carried_sin_theta_is_refused():
    run = dcs_run(World())
    points = {k: v for k, v in run.points.items() if k != "path_factor"}
    with pytest.raises(AbsoluteInputError, match=r"^--relative rel\.h5: written by an xbeam whose relative DCS did "
                                                  r"not carry sin\(theta\)"):
        relative_from_run(dataclasses.replace(run, points=points))


def test_an_unfinished_run_is_used_with_a_warning():
    run = dataclasses.replace(dcs_run(World()), status="aborted", status_reason="Ctrl-C")
    rel = relative_from_run(run)
    assert rel.warnings == ("--relative rel.h5: run status 'aborted' (Ctrl-C): only its 189 committed points are used",)


# --------------------------------------------------------------------------- RFM


def test_rfm_intensities_are_recomputed_from_the_gates_with_the_runs_dead_time():
    world = World(seed=11, dead_time_s=2e-7)
    run, _ = rfm_run(world)
    rfm = rfm_from_run(run)
    assert rfm.dead_time_s == 2e-7 and rfm.dead_time_model == "nonparalyzable"
    p = run.points
    for it in rfm.intensities:
        i = int(np.flatnonzero((p["cycle"] == it.cycle) & (p["gas_index"] == it.gas_index)
                               & (p["energy"] == it.energy_eV) & (p["angle"] == it.angle_deg))[0])
        rs, _ = corrected_rate(p["signal_counts"][i], p["signal_gate_s"][i], 2e-7)
        rb, _ = corrected_rate(p["background_counts"][i], p["background_gate_s"][i], 2e-7)
        # each gate at its own beam current, each rate corrected before the subtraction
        expected = rs / (p["signal_beam_current"][i] * 1e9) - rb / (p["background_beam_current"][i] * 1e9)
        assert it.intensity.cps_per_nA == pytest.approx(expected, rel=1e-12)
        assert it.intensity.cps_per_nA == pytest.approx(it.stored_cps_per_nA, rel=1e-12)
        assert it.line_pressure_mbar == pytest.approx(p["line_pressure_mbar"][i])
    # without the dead-time correction the recomputed intensities would be lower
    loss = max(p["signal_rate_cps"]) * 2e-7
    assert loss > 0.005


def test_the_gas_definitions_come_from_the_plan():
    rfm = rfm_from_run(rfm_run(World())[0])
    assert (rfm.target_gas.name, rfm.target_gas.molar_mass_g_mol, rfm.target_gas.diameter_A) == \
        ("isoflurane", 184.49, 5.83)
    assert (rfm.reference_gas.name, rfm.reference_gas.molar_mass_g_mol) == ("argon", 39.948)
    assert rfm.temperature_K == 296.0


def test_rate_of_rise_records_give_the_flows():
    world = World(seed=4)
    run, truth = rfm_run(world)
    rfm = rfm_from_run(run)
    assert len(rfm.flows) == world.cycles * len(world.energies_eV) * 2
    for f in rfm.flows:
        i = world.energies_eV.index(f.energy_eV)
        true = truth.flows[(f.cycle, i, f.gas_index)]
        # the fit takes only the early straight part; the filling bends the rest
        assert f.rise.fit.n_points < f.rise.n_samples or f.rise.fit.curvature_p >= 0.01
        assert f.flow.molecules_per_s == pytest.approx(true, rel=5e-3)
        assert f.base.kind == "base" and f.rise.kind == "rise"
        assert f.rise.volume_cm3 == 20.0 and f.rise.temperature_K == 296.0


def test_a_record_that_cannot_give_a_flow_is_left_out_with_a_warning():
    world = World(seed=4)
    run, _ = rfm_run(world, short_records={(0, 1, 0, "rise")}, drop_records={(1, 2, 1, "base")})
    rfm = rfm_from_run(run)
    assert rfm.flow(0, 100.0, 0) is None and rfm.flow(1, 200.0, 1) is None
    assert rfm.flow(0, 100.0, 1) is not None
    text = " ".join(rfm.warnings)
    assert "cycle 0, gas_index 0, 100 eV: rise record" in text and "3 readings, fewer than min_points = 5" in text
    assert "cycle 1, gas_index 1 at 200 eV: no base record: that flow is left out" in text


def test_rfm_refusals():
    world = World()
    run, _ = rfm_run(world, path="r.h5")
    no_plan = dataclasses.replace(run, plan={"kind": "rfm"})
    with pytest.raises(AbsoluteInputError, match=r"^--rfm r\.h5: its plan has no \[rfm\] table"):
        rfm_from_run(no_plan)
    plan = {**run.plan, "rfm": {**run.plan["rfm"], "target_gas": {"name": "x", "molar_mass_g_mol": -1,
                                                                   "diameter_A": 5}}}
    with pytest.raises(AbsoluteInputError, match=r"plan rfm\.target_gas\.molar_mass_g_mol = -1\.0: must be > 0"):
        rfm_from_run(dataclasses.replace(run, plan=plan))
    with pytest.raises(AbsoluteInputError, match=r"no detector\.dead_time_s"):
        rfm_from_run(dataclasses.replace(run, apparatus={}))
    bare = dataclasses.replace(run)
    bare.rises, bare.rise_samples = {}, {}
    with pytest.raises(AbsoluteInputError, match=r"^--rfm r\.h5: no rate-of-rise records"):
        rfm_from_run(bare)
    wrong_gas, _ = rfm_run(World(), path="r.h5", record_gas={(0, 0, 1): "neon"})
    with pytest.raises(AbsoluteInputError, match=r"rise record \d+ is of gas 'neon', but gas_index 1 is 'argon'"):
        rfm_from_run(wrong_gas)
    points = {k: v for k, v in run.points.items() if k != "gas_index"}
    with pytest.raises(AbsoluteInputError, match=r"no column gas_index"):
        rfm_from_run(dataclasses.replace(run, points=points))


def test_stored_intensities_that_disagree_with_the_gates_are_reported():
    run, _ = rfm_run(World(seed=11))
    run.points["intensity_cps_per_nA"][3] *= 1.02
    rfm = rfm_from_run(run)
    assert any("1 of 24 intensities recomputed from the gates" in w and "by up to 1.96 %" in w for w in rfm.warnings)
    assert not any("recomputed" in w for w in rfm_from_run(rfm_run(World(seed=11))[0]).warnings)
