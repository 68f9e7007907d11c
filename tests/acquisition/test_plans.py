"""Scan plans: execution order, angle alternation, background selection, counts, and
every malformed plan reported with file, key path, value and what is allowed."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

import pytest

from acquisition.config import ConfigError, load_apparatus
from acquisition.plans import BackgroundConfig, Plan, PlannedPoint, load_plan, parse_plan

from .test_config import DELETE, assert_issue, lab_data, mutate, parse, to_toml

ROOT = Path(__file__).resolve().parents[2]
OVERNIGHT = ROOT / "examples" / "isoflurane_overnight.toml"
LAB = ROOT / "examples" / "apparatus_lab.toml"
SOURCE = "bad_plan.toml"


def small(**changes) -> dict:
    data = {
        "metadata": {"sample": "isoflurane"},
        "scan": {"gas": "isoflurane", "energies_eV": [100, 200], "angles_deg": [30, 40, 50], "sweeps": 2},
        "counting": {"dwell_s": 10.0, "subgate_s": 5.0},
    }
    return mutate(data, {k.replace("__", "."): v for k, v in changes.items()})


def plan_of(data: dict, apparatus=None) -> Plan:
    return parse_plan(to_toml(data), source=SOURCE, apparatus=apparatus)


def error_of(data: dict, apparatus=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        plan_of(data, apparatus)
    return info.value


@pytest.fixture(scope="module")
def lab():
    return load_apparatus(LAB)


# ---------------------------------------------------------------- the example
def test_overnight_example_validates_against_the_lab_apparatus(lab):
    plan = load_plan(OVERNIGHT, lab)
    assert plan.source == str(OVERNIGHT)
    assert plan.metadata.sample == "isoflurane"
    assert plan.scan.energies_eV == (50, 100, 150, 200, 250, 300)
    assert plan.scan.angles_deg == tuple(float(a) for a in range(25, 126, 5))
    assert plan.scan.sweeps == 3
    assert plan.n_points == 6 * 21 * 3 == 378
    points = plan.points()
    assert len(points) == 378 and all(p.measure_background for p in points)
    assert plan.counting.mode == "dwell"
    assert plan.counting.signal_subgates == 12 and plan.counting.background_subgates == 6
    assert plan.text == OVERNIGHT.read_text()
    assert plan == load_plan(OVERNIGHT)  # the apparatus only checks, it changes nothing


def test_overnight_example_is_a_night_of_beam_time(lab):
    plan = load_plan(OVERNIGHT, lab)
    hours = plan.estimate_duration_s(goniometer_speed_deg_s=5.0, apparatus=lab) / 3600
    assert 10.0 <= hours <= 12.0
    # the arithmetic in the file's comment
    assert plan.estimate_duration_s(5.0, lab) == pytest.approx(37800 + 722 + 360 + 180)


def test_to_dict_is_plain_json_data(lab):
    plan = load_plan(OVERNIGHT, lab)
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["scan"]["angles_deg"][-1] == 125.0
    assert data["counting"]["dwell_s"] == 60.0 and data["counting"]["target_precision"] is None
    assert data["background"] == {"mode": "every", "n": None}
    assert data["n_points"] == 378
    assert "text" not in data


# ---------------------------------------------------------------- order
def test_energy_major_order_with_alternating_angles():
    plan = plan_of(small())
    got = [p.key for p in plan.points()]
    forward, backward = [0, 1, 2], [2, 1, 0]
    expected = (
        [(0, 0, a) for a in forward]
        + [(0, 1, a) for a in backward]
        + [(1, 0, a) for a in forward]
        + [(1, 1, a) for a in backward]
    )
    assert got == expected
    first = plan.points()[0]
    assert first == PlannedPoint(0, 0, 0, 100.0, 30.0, True)
    assert [p.angle_deg for p in plan.points()[:6]] == [30, 40, 50, 50, 40, 30]
    assert [p.energy_eV for p in plan.points()[:6]] == [100] * 3 + [200] * 3


def test_without_alternation_every_pass_runs_forward():
    plan = plan_of(small(scan__alternate_angles=False))
    assert [p.angle_index for p in plan.points()] == [0, 1, 2] * 4


@pytest.mark.parametrize("n_energies", [1, 2, 3, 5])
@pytest.mark.parametrize("sweeps", [1, 2, 3])
def test_consecutive_passes_meet_at_the_same_angle(n_energies, sweeps):
    """Alternation runs across energies and sweeps: the goniometer never goes back
    across the range, whether the number of energies is odd or even."""
    energies = [50 * (i + 1) for i in range(n_energies)]
    plan = plan_of(small(scan__energies_eV=energies, scan__sweeps=sweeps, scan__angles_deg=[25, 30, 35, 40]))
    points = plan.points()
    for a, b in itertools.pairwise(points):
        if (a.sweep, a.energy_index) != (b.sweep, b.energy_index):
            assert a.angle_index == b.angle_index
        else:
            assert abs(a.angle_index - b.angle_index) == 1
    travel = sum(abs(b.angle_deg - a.angle_deg) for a, b in itertools.pairwise(points))
    assert travel == 15 * n_energies * sweeps


@pytest.mark.parametrize(
    ("sweeps", "energies", "angles"),
    [(1, [100], [90]), (3, [50, 100, 300], [25, 30, 35, 40, 45]), (2, [300, 50], [120, 30, 60])],
)
def test_every_point_exactly_once_in_the_right_number(sweeps, energies, angles):
    plan = plan_of(small(scan__sweeps=sweeps, scan__energies_eV=energies, scan__angles_deg=angles))
    points = plan.points()
    assert len(points) == plan.n_points == sweeps * len(energies) * len(angles)
    keys = [p.key for p in points]
    assert sorted(keys) == sorted(itertools.product(range(sweeps), range(len(energies)), range(len(angles))))
    for p in points:
        assert p.energy_eV == energies[p.energy_index] and p.angle_deg == angles[p.angle_index]
    # energies in the order given, each sweep
    order = [p.energy_index for p in points if p.angle_index == points[0].angle_index and p.sweep == 0]
    assert order == list(range(len(energies)))


def test_angles_given_as_a_list_keep_their_order():
    plan = plan_of(small(scan__angles_deg=[90, 30, 60], scan__sweeps=1, scan__energies_eV=[100]))
    assert [p.angle_deg for p in plan.points()] == [90, 30, 60]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"start": 25, "stop": 125, "step": 5}, [25.0 + 5 * k for k in range(21)]),
        ({"start": 30, "stop": 30, "step": 5}, [30.0]),
        ({"start": 25, "stop": 26, "step": 0.1}, [round(25 + 0.1 * k, 9) for k in range(11)]),
        ({"start": 20.5, "stop": 22.0, "step": 0.5}, [20.5, 21.0, 21.5, 22.0]),
    ],
)
def test_angle_range_includes_stop(spec, expected):
    plan = plan_of(small(scan__angles_deg=spec))
    assert list(plan.scan.angles_deg) == expected
    assert plan.scan.angles_deg[-1] == spec["stop"]


# ---------------------------------------------------------------- background
@pytest.mark.parametrize(
    ("mode", "n", "n_angles", "with_background"),
    [
        ("every", None, 5, {0, 1, 2, 3, 4}),
        ("none", None, 5, set()),
        ("every_nth", 3, 8, {0, 3, 6, 7}),  # and always the last angle
        ("every_nth", 3, 7, {0, 3, 6}),
        ("every_nth", 2, 5, {0, 2, 4}),
        ("every_nth", 1, 4, {0, 1, 2, 3}),
        ("every_nth", 10, 4, {0, 3}),
    ],
)
def test_background_selection(mode, n, n_angles, with_background):
    background = {"mode": mode} if n is None else {"mode": mode, "n": n}
    angles = [25 + 5 * i for i in range(n_angles)]
    plan = plan_of(small(background=background, scan__angles_deg=angles))
    assert plan.background == BackgroundConfig(mode, n)
    for p in plan.points():  # the same angles in forward and backward passes
        assert p.measure_background == (p.angle_index in with_background), p


def test_background_defaults_to_every_angle():
    plan = plan_of(small())
    assert plan.background.mode == "every"
    assert all(p.measure_background for p in plan.points())


# ---------------------------------------------------------------- counting
def test_background_dwell_defaults_to_dwell():
    plan = plan_of(small())
    assert plan.counting.background_dwell_s == 10.0
    assert plan.counting.signal_subgates == 2 == plan.counting.background_subgates


def test_target_precision_mode():
    counting = {"target_precision": 0.02, "max_time_s": 300.0, "subgate_s": 5.0}
    plan = plan_of(small(counting=counting))
    c = plan.counting
    assert c.mode == "target_precision"
    assert (c.target_precision, c.max_time_s, c.dwell_s, c.background_dwell_s) == (0.02, 300.0, None, None)
    # 12 points, each at most 300 s of gates, plus settles: an upper bound
    assert plan.estimate_duration_s() >= 12 * 300


def test_settle_defaults_and_values():
    assert plan_of(small()).settle.energy_s == 10.0
    plan = plan_of(small(settle={"energy_s": 1.0, "angle_s": 0.0, "gas_s": 3.0}))
    assert (plan.settle.energy_s, plan.settle.angle_s, plan.settle.gas_s) == (1.0, 0.0, 3.0)


def test_estimate_counts_gates_settles_and_travel():
    data = small(
        scan__energies_eV=[100],
        scan__sweeps=1,
        scan__angles_deg=[30, 40],
        settle={"energy_s": 7.0, "angle_s": 2.0, "gas_s": 3.0},
        background={"mode": "none"},
    )
    plan = plan_of(data)
    # energy 7; angle 2; needle 3; gate 10; travel 10/5 + settle 2; gate 10 (needle stays open)
    assert plan.estimate_duration_s(goniometer_speed_deg_s=5.0) == 7 + 2 + 3 + 10 + 2 + 2 + 10


# ---------------------------------------------------------------- malformed plans
# (changes, key, shown value or None, text of what is allowed)
MALFORMED = [
    ({"metadata.sample": DELETE}, "metadata.sample", None, "missing; required"),
    ({"metadata.operater": "J. M."}, "metadata.operater", '"J. M."', "did you mean 'operator'"),
    ({"metadata.notes": 3}, "metadata.notes", "3", "must be a string"),
    ({"metadata": DELETE}, "metadata", None, "missing; required"),
    ({"scan.gas": DELETE}, "scan.gas", None, "missing; required"),
    ({"scan.gas": 5}, "scan.gas", "5", "non-empty string"),
    ({"scan.energies_eV": [100, 200, 100]}, "scan.energies_eV[2]", "100", "duplicate of entry [0]"),
    ({"scan.energies_eV": [100, -50]}, "scan.energies_eV[1]", "-50", "> 0"),
    ({"scan.energies_eV": 100}, "scan.energies_eV", "100", "non-empty list of numbers"),
    ({"scan.angles_deg": {"start": 25, "stop": 125, "step": -5}}, "scan.angles_deg.step", "-5", "must be a number > 0"),
    ({"scan.angles_deg": {"start": 25, "stop": 125, "step": 0}}, "scan.angles_deg.step", "0", "> 0"),
    ({"scan.angles_deg": {"start": 25, "stop": 20, "step": 5}}, "scan.angles_deg.stop", "20", ">= start = 25"),
    (
        {"scan.angles_deg": {"start": 25, "stop": 123, "step": 5}},
        "scan.angles_deg.stop",
        "123",
        "whole number of steps of 5 deg (e.g. 120 or 125)",
    ),
    ({"scan.angles_deg": {"start": 25, "stop": 125, "stpe": 5}}, "scan.angles_deg.stpe", "5", "did you mean 'step'"),
    ({"scan.angles_deg": {"start": 25, "stop": 125}}, "scan.angles_deg.step", None, "missing; required"),
    ({"scan.angles_deg": {"start": 25, "stop": 190, "step": 5}}, "scan.angles_deg.stop", "190", "<= 180"),
    ({"scan.angles_deg": [30, 40, 30]}, "scan.angles_deg[2]", "30", "duplicate"),
    ({"scan.angles_deg": [30, 200]}, "scan.angles_deg[1]", "200", "<= 180"),
    ({"scan.angles_deg": "25-125"}, "scan.angles_deg", '"25-125"', "non-empty list of numbers"),
    ({"scan.sweeps": 0}, "scan.sweeps", "0", "integer >= 1"),
    ({"scan.sweeps": 1.5}, "scan.sweeps", "1.5", "integer"),
    ({"scan.order": "angle-major"}, "scan.order", '"angle-major"', "one of 'energy-major'"),
    ({"scan.alternate_angles": "yes"}, "scan.alternate_angles", '"yes"', "true or false"),
    ({"scan.sweep": 3}, "scan.sweep", "3", "did you mean 'sweeps'"),
    (
        {"counting.target_precision": 0.02},
        "counting.target_precision",
        "0.02",
        "either dwell_s or target_precision, not both",
    ),
    (
        {"counting.dwell_s": DELETE},
        "counting.dwell_s",
        None,
        "missing; required: dwell_s (seconds per point) or target_precision",
    ),
    (
        {"counting.dwell_s": 32.0},
        "counting.dwell_s",
        "32.0",
        "whole number of sub-gates of subgate_s = 5 s (e.g. 30 or 35)",
    ),
    ({"counting.dwell_s": 3.0}, "counting.dwell_s", "3.0", "at least one sub-gate: >= subgate_s = 5"),
    ({"counting.background_dwell_s": 12.0}, "counting.background_dwell_s", "12.0", "whole number of sub-gates"),
    ({"counting.background_dwell_s": 0}, "counting.background_dwell_s", "0", "> 0"),
    ({"counting.dwell_s": -10.0}, "counting.dwell_s", "-10.0", "> 0"),
    ({"counting.subgate_s": DELETE}, "counting.subgate_s", None, "missing; required"),
    ({"counting.subgate_s": 0}, "counting.subgate_s", "0", "> 0"),
    ({"counting.max_time_s": 300}, "counting.max_time_s", "300", "only used with target_precision"),
    ({"counting.dwel_s": 10.0, "counting.dwell_s": DELETE}, "counting.dwel_s", "10.0", "did you mean 'dwell_s'"),
    ({"counting": {"target_precision": 0.02, "subgate_s": 5.0}}, "counting.max_time_s", None, "missing; required"),
    (
        {"counting": {"target_precision": 2, "max_time_s": 300, "subgate_s": 5.0}},
        "counting.target_precision",
        "2",
        "< 1",
    ),
    (
        {"counting": {"target_precision": 0.02, "max_time_s": 302, "subgate_s": 5.0}},
        "counting.max_time_s",
        "302",
        "whole number of sub-gates",
    ),
    (
        {"counting": {"target_precision": 0.02, "max_time_s": 300, "subgate_s": 5.0, "background_dwell_s": 10}},
        "counting.background_dwell_s",
        "10",
        "only used with dwell_s",
    ),
    ({"background": {"mode": "sometimes"}}, "background.mode", '"sometimes"', "one of 'every', 'every_nth', 'none'"),
    ({"background": {"mode": "every_nth"}}, "background.n", None, "missing; required"),
    ({"background": {"mode": "every_nth", "n": 0}}, "background.n", "0", ">= 1"),
    ({"background": {"mode": "every", "n": 3}}, "background.n", "3", "only used with mode = 'every_nth'"),
    ({"background": {"mode": "every_nht", "n": 3}}, "background.mode", '"every_nht"', "did you mean 'every_nth'"),
    ({"settle": {"energy_s": -1}}, "settle.energy_s", "-1", ">= 0"),
    ({"settle": {"gass_s": 5}}, "settle.gass_s", "5", "did you mean 'gas_s'"),
    ({"scna": {}}, "scna", "{}", "unknown section; did you mean 'scan'"),
]


@pytest.mark.parametrize(
    ("changes", "key", "value", "allowed"), MALFORMED, ids=[m[1] + ":" + m[3][:24] for m in MALFORMED]
)
def test_malformed_plan_is_reported_with_file_key_value_and_allowed(changes, key, value, allowed):
    err = error_of(mutate(small(), changes))
    assert err.source == SOURCE
    assert_issue(err, key, value, allowed)
    assert len(str(err).splitlines()) == len(err.issues)


def test_every_problem_of_a_plan_is_reported_at_once():
    keys = ["metadata.operater", "scan.angles_deg.step", "scan.sweeps", "counting.background_dwell_s", "settle.gass_s"]
    chosen = [next(m for m in MALFORMED if m[1] == key) for key in keys]
    changes = {}
    for c, *_ in chosen:
        changes.update(c)
    err = error_of(mutate(small(), changes))
    for _, key, value, allowed in chosen:
        assert_issue(err, key, value, allowed)
    assert len(err.issues) == len(keys)


def test_plan_file_errors_name_the_file(tmp_path):
    path = tmp_path / "night.toml"
    path.write_text(to_toml(small(scan__sweeps=0)))
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value) == f"{path}: scan.sweeps = 0: must be an integer >= 1"


def test_toml_syntax_error_in_a_plan(tmp_path):
    path = tmp_path / "night.toml"
    path.write_text(OVERNIGHT.read_text().replace("sweeps = 3", "sweeps = "))
    with pytest.raises(ConfigError, match=r"night.toml: not valid TOML: .*line"):
        load_plan(path)


# ---------------------------------------------------------------- against the apparatus
AGAINST_LAB = [
    (
        {"scan.gas": "isofluran"},
        "scan.gas",
        '"isofluran"',
        "did you mean 'isoflurane'? must be one of 'isoflurane', 'argon' (apparatus",
    ),
    ({"scan.gas": "xenon"}, "scan.gas", '"xenon"', "unknown gas"),
    ({"scan.energies_eV": [100, 350]}, "scan.energies_eV[1]", "350", "within the tune table 40..300 eV"),
    ({"scan.energies_eV": [30, 100]}, "scan.energies_eV[0]", "30", "40..300 eV (tune.mode = 'interpolate') (apparatus"),
    (
        {"scan.angles_deg": {"start": 15, "stop": 125, "step": 5}},
        "scan.angles_deg.start",
        "15",
        "goniometer limits 20.0..130.0 deg",
    ),
    (
        {"scan.angles_deg": {"start": 25, "stop": 135, "step": 5}},
        "scan.angles_deg.stop",
        "135",
        "goniometer limits 20.0..130.0 deg",
    ),
    ({"scan.angles_deg": [25, 135, 60]}, "scan.angles_deg[1]", "135", "goniometer limits"),
    (
        {"counting.subgate_s": 2000.0, "counting.dwell_s": 2000.0},
        "counting.subgate_s",
        "2000.0",
        "<= the counter's max_gate_s",
    ),
]


@pytest.mark.parametrize(("changes", "key", "value", "allowed"), AGAINST_LAB, ids=[m[1] for m in AGAINST_LAB])
def test_plan_is_checked_against_the_apparatus(lab, changes, key, value, allowed):
    data = mutate(small(), changes)
    plan_of(data)  # fine on its own
    err = error_of(data, lab)
    assert_issue(err, key, value, allowed)
    assert str(LAB) in str(err)  # says which apparatus file sets the limit


def test_exact_tune_mode_refuses_energies_between_rows():
    data = lab_data()
    data["tune"]["mode"] = "exact"
    apparatus = parse(data)
    assert plan_of(small(scan__energies_eV=[100, 150]), apparatus).scan.energies_eV == (100, 150)
    err = error_of(small(scan__energies_eV=[100, 110, 150]), apparatus)
    assert_issue(err, "scan.energies_eV[1]", "110", "one of the tune rows [40.0, 50.0, 60.0")
    assert "tune.mode = 'exact'" in str(err)


def test_goniometer_limits_come_from_the_apparatus_options():
    data = mutate(lab_data(), {"instruments.goniometer.min_angle_deg": 10.0})
    apparatus = parse(data)
    plan = plan_of(small(scan__angles_deg={"start": 15, "stop": 25, "step": 5}), apparatus)
    assert plan.scan.angles_deg == (15.0, 20.0, 25.0)


def test_overnight_example_matches_the_examples_on_disk():
    """The example is a TOML file a person edits: its [counting] arithmetic holds."""
    raw = tomllib.loads(OVERNIGHT.read_text())
    assert raw["scan"]["angles_deg"] == {"start": 25, "stop": 125, "step": 5}
    assert raw["counting"]["dwell_s"] % raw["counting"]["subgate_s"] == 0
