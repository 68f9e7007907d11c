"""The absolute chain (analysis.absolute.chain) on factory runs with a known truth: it
recovers the target's DCS within its uncertainty and the world's effective-volume
deviation, and leaving sqrt(M) out or measuring at equal pressures gives a measurably
wrong answer.  Every refusal of the chain is one line naming the option."""

import dataclasses
import math

import numpy as np
import pytest

from acquisition.events import PointFlag
from analysis.absolute.chain import (
    ARGON_FLAGGED,
    FLOW_PRESSURE,
    SCALE_FROM_FLAGGED,
    UNEQUAL_MFP,
    ChainOptions,
    rfm_cycle_points,
    run_chain,
    self_extrapolation_shapes,
)
from analysis.absolute.ics import integrate_function
from analysis.absolute.runs import AbsoluteInputError, relative_from_run, rfm_from_run, volume_from_run
from analysis.absolute.volume import volume_factors_against_table
from foundation.dcs_table import DcsTable
from tests.analysis.test_absolute_chain_factory import (
    ARGON,
    ISOFLURANE,
    MADE_UP,
    World,
    dcs_run,
    deviation,
    made_up_table,
    rfm_run,
    volume_run,
)


def old_factor(angle):
    return 1.0 / (1.0 - 0.2 * math.exp(-(angle - 25.0) / 10.0))


def chain(world: World, *, rel_kwargs=None, vol_kwargs=None, rfm_kwargs=None, shapes=(), reference=None, **options):
    rel = relative_from_run(dcs_run(world, stored_factor=old_factor, **(rel_kwargs or {})))
    vol = volume_from_run(volume_run(world, **(vol_kwargs or {})))
    rfm = rfm_from_run(rfm_run(world, **(rfm_kwargs or {}))[0])
    options.setdefault("angular_fwhm_deg", world.fwhm_deg)
    return run_chain(rel.dcs, vol.dcs, [rfm], reference or world.reference_table, shapes=shapes,
                     options=ChainOptions(**options), warnings=rfm.warnings)


def pulls(world: World, result) -> tuple[np.ndarray, np.ndarray]:
    """(DCS - truth) / u without the reference term (the factory uses the same argon table),
    and DCS / truth, at the unflagged points."""
    b = result.budget
    truth = np.array([world.truth(e, [a])[0] for e, a in zip(b.energy_eV, b.angle_deg)])
    u = np.sqrt(b.u_total**2 - b.u_reference**2)
    ok = ~result.flagged
    return ((b.dcs - truth) / u)[ok], (b.dcs / truth)[ok]


# --------------------------------------------------------------------------- recovering the truth


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("volume_term", ["measured", "study"])
def test_the_chain_recovers_the_truth_within_its_uncertainty(seed, volume_term):
    world = World(seed=seed)
    result = chain(world, volume_term=volume_term)
    pull, ratio = pulls(world, result)
    assert pull.size == 63
    assert np.mean(np.abs(pull) < 2) >= 0.90
    assert abs(np.mean(ratio) - 1) < 0.01
    assert result.warnings == () or all("looks curved" in w for w in result.warnings)


def test_the_made_up_gas_with_its_shape_gives_the_dcs_and_the_ics():
    """Nothing tuned to isoflurane: another mass, diameter and DCS (known on 0-180 deg)."""
    table = made_up_table()
    world = World(seed=8, target=dict(MADE_UP), target_table=table)
    result = chain(world, volume_term="measured", shapes=[("made-up shape", table)])
    pull, ratio = pulls(world, result)
    assert np.mean(np.abs(pull) < 2) >= 0.90 and abs(np.mean(ratio) - 1) < 0.01
    for item in result.ics:
        for kind in ("ics", "mtcs"):
            true = integrate_function(lambda g, e=item.energy_eV: table(e, g), kind=kind)
            x = getattr(item.result, kind)
            assert x.value == pytest.approx(true, rel=0.03), (item.energy_eV, kind)
            assert abs(x.value - true) < 2 * x.u_total
            assert 0 < x.window_fraction < 1
        assert item.method == "shape" and item.shape_names == ("made-up shape",)
    assert "made-up shape" in result.ics_note


def test_without_a_shape_the_ics_extrapolates_the_dcs_itself_and_says_so():
    world = World(seed=2)
    result = chain(world)
    assert "log-linearly from the DCS itself (no --shape given)" in result.ics_note
    for item in result.ics:
        assert item.method == "self" and len(item.shape_names) == 3
        x = item.result.ics
        assert x.value > x.window > 0 and x.u_extrapolation > 0 and x.u_integration < 0.01 * x.value
        # the window part is the data's own integral: above the constant-cap lower bound's window
        assert 0.2 < x.window_fraction < 0.9


def test_self_extrapolation_follows_the_end_slopes():
    theta = np.arange(25.0, 126.0, 5.0)
    dcs = 3.0 * np.exp(-theta / 20.0) + 0.1
    shapes = self_extrapolation_shapes(theta, dcs)
    s = shapes[0]
    assert s(theta) == pytest.approx(dcs, rel=1e-12)  # the data inside
    slope = np.polyfit(theta[:3], np.log(dcs[:3]), 1)
    assert s([0.0])[0] == pytest.approx(math.exp(np.polyval(slope, 0.0)), rel=1e-6)
    assert [x.name for x in shapes] == [f"log-linear extrapolation of the DCS ({n} end points)" for n in (3, 2, 4)]


def test_the_volume_factors_follow_the_worlds_deviation():
    world = World(seed=4)
    result = chain(world, volume_term="measured")
    inside = 0
    total = 0
    for s in result.volume_sets:
        f = s.factors
        expected = 1.0 / deviation(f.angles_deg)
        expected /= np.mean(expected[f.in_normalisation])  # C is 1 on average over <r>_good
        inside += int(np.sum(np.abs(f.factors - expected) < 2 * f.errors))
        total += f.factors.size
        assert f.factors == pytest.approx(expected, rel=0.03)
    assert inside / total >= 0.9


def test_the_angular_response_is_applied_to_the_reference():
    world = World(seed=5, fwhm_deg=3.0)
    result = chain(world, volume_term="measured")
    pull, ratio = pulls(world, result)
    assert np.mean(np.abs(pull) < 2) >= 0.90 and abs(np.mean(ratio) - 1) < 0.01
    for s in result.volume_sets:  # the minima of the convolved argon DCS are left out of <r>_good
        near = s.factors.near_minimum
        assert not np.any(near & s.factors.in_normalisation)
    assert any(s.factors.near_minimum.any() for s in result.volume_sets)


def test_the_reference_term_is_common_and_added_once():
    world = World(seed=6)
    result = chain(world, reference_relative_err=0.20)
    b = result.budget
    assert b.u_reference == pytest.approx(0.20 * np.abs(b.dcs))
    for s in result.scales:
        assert s.scale.err_common == pytest.approx(0.20 * s.scale.k)
        assert s.scale.err_uncorrelated / s.scale.k < 0.05  # the 20 % did not go into the weights
        rel = math.hypot(s.scale.stat_relative_err, s.scale.flow_relative_err)
        assert rel == pytest.approx(s.scale.err_uncorrelated / s.scale.k, rel=1e-9)
    zero = chain(World(seed=6), reference_relative_err=0.0)
    assert np.all(zero.budget.u_reference == 0)


def test_the_study_volume_term_is_20_percent_at_small_angles():
    world = World(seed=6)
    study = chain(world, volume_term="study").budget
    measured = chain(World(seed=6), volume_term="measured").budget
    small = (study.angle_deg >= 25) & (study.angle_deg <= 40)
    rel_study, rel_measured = study.u_volume / study.dcs, measured.u_volume / measured.dcs
    assert rel_study[small] == pytest.approx(np.hypot(0.20, rel_measured[small]))
    assert rel_study[~small] == pytest.approx(rel_measured[~small])  # C's own statistics stay


# --------------------------------------------------------------------------- measurably wrong


def test_leaving_sqrt_m_out_is_measurably_wrong():
    world = World(seed=2)
    wrong_mass = dict(ISOFLURANE, molar_mass_g_mol=ARGON["molar_mass_g_mol"])  # sqrt(M_Ar/M_x) = 1
    result = chain(world, rfm_kwargs={"plan_target": wrong_mass}, volume_term="measured")
    pull, ratio = pulls(world, result)
    assert np.mean(ratio) == pytest.approx(math.sqrt(184.49 / 39.948), rel=0.02)  # 2.15 times too large
    assert np.all(np.abs(pull) > 5)


def test_equal_pressures_are_measurably_wrong_and_warned():
    world = World(seed=2, target_pressure_mbar=0.40)  # not the equal-mean-free-path 0.151 mbar
    result = chain(world, volume_term="measured")
    _, ratio = pulls(world, result)
    bias = np.mean(ratio) - 1
    scale_err = max(s.scale.err_uncorrelated / s.scale.k for s in result.scales)
    assert abs(bias) > 0.03 and abs(bias) > 3 * scale_err
    assert any("unequal mean free paths" in w and "lambda_isoflurane/lambda_argon = 0.377" in w
               for w in result.warnings)
    assert all(UNEQUAL_MFP in f for f in result.budget.flags)
    # at the equal-mean-free-path pressures: no warning, no flag
    good = chain(World(seed=2), volume_term="measured")
    assert not any("mean free path" in w for w in good.warnings)
    assert not any(UNEQUAL_MFP in f for f in good.budget.flags)


# --------------------------------------------------------------------------- flags


def test_a_flagged_argon_point_marks_the_target_point_and_leaves_the_normalisation():
    bits = int(PointFlag.RATE)
    world = World(seed=3)
    flags = {(100.0, 25.0): bits, (100.0, 80.0): bits}
    result = chain(world, vol_kwargs={"flags": flags}, volume_term="measured")
    b = result.budget
    for angle in (25.0, 80.0):
        i = int(np.flatnonzero((b.energy_eV == 100.0) & (b.angle_deg == angle))[0])
        assert ARGON_FLAGGED in b.flags[i].split("|") and result.flagged[i]
    s = next(s for s in result.volume_sets if s.factors.energy_eV == 100.0)
    assert np.all(np.isfinite(s.factors.errors))
    keep = ~s.excluded
    alone = volume_factors_against_table(world.reference_table, 100.0, s.factors.angles_deg[keep], s.measured[keep],
                                         measured_err=s.measured_err[keep])
    assert s.factors.factors[keep] == pytest.approx(alone.factors, rel=1e-12)
    assert s.factors.errors[keep] == pytest.approx(alone.errors, rel=1e-12)


def test_a_flagged_relative_point_is_left_out_of_the_scale():
    world = World(seed=3)
    result = chain(world, rel_kwargs={"flags": {(100.0, 60.0): int(PointFlag.LOSS)}})
    s = result.scale_at(100.0)
    assert s.angles_deg == (90.0,) and s.scale.n_points == 1
    assert result.scale_at(50.0).angles_deg == (60.0, 90.0)


def test_when_every_rfm_point_is_flagged_the_scale_uses_them_and_says_so():
    world = World(seed=3)
    flags = {(c, 100.0, a, 0): int(PointFlag.UNSTEADY) for c in range(2) for a in (60.0, 90.0)}
    result = chain(world, rfm_kwargs={"flags": flags})
    s = result.scale_at(100.0)
    assert s.flags == (SCALE_FROM_FLAGGED,) and s.scale.n_points == 2
    b = result.budget
    assert all(SCALE_FROM_FLAGGED in f for f, e in zip(b.flags, b.energy_eV) if e == 100.0)
    assert any("100 eV: every RFM point or its relative point is flagged" in w for w in result.warnings)


def test_a_flow_measured_at_another_pressure_than_its_intensities_is_left_out():
    """A rate of rise taken after the line moved (a resume into a block, a creeping valve)
    measures another flow than the intensities had: flagged, out of the scale."""
    world = World(seed=4)
    run, _ = rfm_run(world)
    rises = dict(run.rises)
    steady = rises["steady_mbar"].copy()
    moved = (rises["cycle"] == 0) & (rises["gas_index"] == 0)
    steady[moved] *= 1.2
    rises["steady_mbar"] = steady
    rfm = rfm_from_run(dataclasses.replace(run, rises=rises))
    points, warnings = rfm_cycle_points(rfm, world.reference_table, fwhm_deg=world.fwhm_deg)
    for p in points:
        assert (FLOW_PRESSURE in p.flags) == (p.cycle == 0) and p.excluded == (p.cycle == 0)
    assert any("was measured at" in w and "left out of the scale" in w for w in warnings)


# --------------------------------------------------------------------------- refusals


def refused(match, world=None, **kwargs):
    with pytest.raises(AbsoluteInputError) as exc:
        chain(world or World(), **kwargs)
    text = str(exc.value)
    assert "\n" not in text
    assert __import__("re").search(match, text), text
    return text


def test_the_argon_runs_must_cover_every_energy_and_angle():
    refused(r"^--volume .*argon\.h5: no argon points at 200 eV \(they hold 50, 100 eV\): the volume runs must "
            r"cover every energy of --relative", vol_kwargs={"energies": (50.0, 100.0)})
    refused(r"^--volume .*argon\.h5: no effective-volume factor at 50 eV, 125 deg",
            vol_kwargs={"angles": tuple(float(a) for a in range(25, 125, 5))})


def test_every_energy_needs_an_rfm_point_at_a_measured_angle():
    refused(r"^--rfm .*rfm\.h5: no RFM point at 200 eV at an angle --relative measured \(RFM points: 50 eV/60 deg, "
            r"50 eV/90 deg, 100 eV/60 deg, 100 eV/90 deg\): every energy of --relative needs one",
            rfm_kwargs={"energies": (50.0, 100.0)})
    world = World(rfm_angles_deg=(62.0,))
    refused(r"^--rfm .*: no RFM point at 50 eV at an angle --relative measured \(RFM points: 50 eV/62 deg", world)


def test_the_reference_must_hold_every_energy():
    argon = World().reference_table
    keep = argon.energies_eV <= 100
    short = DcsTable(argon.angles_deg, argon.energies_eV[keep], argon.dcs[keep], source="short_argon.csv")
    refused(r"^--reference-dcs short_argon\.csv: 200 eV outside the reference table's 50-100 eV", reference=short)


def test_the_gases_must_agree():
    refused(r"^--relative .*rel\.h5: a run of 'sevoflurane', but the RFM target gas is 'isoflurane'",
            rel_kwargs={"gas": {"name": "sevoflurane"}})
    refused(r"^--volume .*argon\.h5: a run of 'neon', but the RFM reference gas is 'argon'",
            vol_kwargs={"gas": {"name": "neon"}})
    world = World()
    rel = relative_from_run(dcs_run(world))
    vol = volume_from_run(volume_run(world))
    a = rfm_from_run(rfm_run(world, path="a.h5")[0])
    b = rfm_from_run(rfm_run(world, path="b.h5", plan_target=dict(ISOFLURANE, diameter_A=7.8))[0])
    with pytest.raises(AbsoluteInputError, match=r"^--rfm .*b\.h5: gas isoflurane \(184.49 g/mol, 7.8 A\) but .*a\.h5 "
                                                  r"has isoflurane \(184.49 g/mol, 5.83 A\)"):
        run_chain(rel.dcs, vol.dcs, [a, b], world.reference_table)


def test_shapes_must_cover_every_energy_and_0_to_180_deg():
    table = made_up_table(energies=(50.0, 100.0))
    refused(r"^--shape s\.csv: 50-100 eV, no 200 eV \(a shape is not extrapolated in energy\)",
            shapes=[("s.csv", table)])
    narrow = made_up_table()
    keep = narrow.angles_deg >= 10
    narrow = DcsTable(narrow.angles_deg[keep], narrow.energies_eV, narrow.dcs[:, keep])
    refused(r"^--shape n\.csv: shape 'n\.csv': angles must increase and cover 0-180 deg \(given 10-180\)",
            shapes=[("n.csv", narrow)])


def test_no_unflagged_argon_point_to_normalise_on_is_refused():
    flags = {(100.0, float(a)): int(PointFlag.OVERFLOW) for a in range(60, 130, 5)}
    refused(r"^--volume .*: at 100 eV no unflagged argon point >= theta_good = 60 deg", vol_kwargs={"flags": flags})
    refused(r"^--volume .*: at 50 eV: no angle >= theta_good = 130 deg", theta_good_deg=130.0)


def test_a_run_without_usable_rfm_points_is_refused():
    world = World()
    drop = {(c, i, g, "rise") for c in range(2) for i in range(3) for g in range(2)}
    refused(r"^--rfm .*rfm\.h5: no usable RFM point", world, rfm_kwargs={"drop_records": drop})


def test_options_are_checked():
    with pytest.raises(ValueError, match="volume_term 'guess'"):
        ChainOptions(volume_term="guess")
    with pytest.raises(ValueError, match="theta_good_deg = 200"):
        ChainOptions(theta_good_deg=200)
    with pytest.raises(ValueError, match="reference_relative_err = -0.1"):
        ChainOptions(reference_relative_err=-0.1)


def test_the_result_keeps_what_the_table_is_traced_to():
    world = World(seed=9)
    result = chain(world)
    assert len(result.cycle_points) == 2 * 3 * 2
    for p in result.cycle_points:
        assert p.density.form == "flow"
        assert p.mfp_ratio == pytest.approx(1.0, abs=1e-3)
        assert p.reference_dcs == pytest.approx(world.argon(p.energy_eV, [p.angle_deg])[0])
    assert len(result.rfm_points) == 6 and all(c.n_cycles == 2 for c in result.rfm_points)
    assert dataclasses.asdict(result.options)["volume_term"] == "study"
