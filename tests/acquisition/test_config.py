"""Apparatus configuration: the example parses, every malformed variant is reported with
file, key path, value and what is allowed, all problems at once, before any hardware."""

from __future__ import annotations

import copy
import inspect
import json
import math
import pickle
import shutil
import tomllib
from pathlib import Path

import pytest

from acquisition.config import (
    MODELS,
    ROLE_MODELS,
    ApparatusConfig,
    ConfigError,
    TuneTable,
    address_ok,
    load_apparatus,
    parse_apparatus,
)
from drivers import MODELS as DRIVER_MODELS
from drivers import driver_class
from simulators.world import ELECTRODE_MAP, HV_MODULES, TUNE_LAWS, World

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LAB = EXAMPLES / "apparatus_lab.toml"
SOURCE = "bad_apparatus.toml"
DELETE = object()


# ---------------------------------------------------------------- helpers
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def to_toml(data: dict) -> str:
    """A minimal TOML writer (tables as [a.b] sections) for building test files."""
    lines: list[str] = []

    def emit(table: dict, path: list[str]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path and (scalars or not subs):
            lines.append(f"[{'.'.join(path)}]")
        for k, v in scalars.items():
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
        for k, v in subs.items():
            emit(v, [*path, toml_key(k)])

    emit(data, [])
    return "\n".join(lines) + "\n"


def mutate(data: dict, changes: dict) -> dict:
    """Copy of ``data`` with ``{"a.b.c": value}`` applied (DELETE removes the key)."""
    data = copy.deepcopy(data)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        if value is DELETE:
            node.pop(last, None)
        elif callable(value):
            node[last] = value(node.get(last))
        else:
            node[last] = value
    return data


def lab_data() -> dict:
    """The lab example as data, its gas definition files named absolutely (the tests
    write variants of it anywhere)."""
    data = tomllib.loads(LAB.read_text())
    for gas in data["gases"].values():
        if "definition" in gas:
            gas["definition"] = str((EXAMPLES / gas["definition"]).resolve())
    return data


def parse(data: dict) -> ApparatusConfig:
    return parse_apparatus(to_toml(data), source=SOURCE, base_dir=EXAMPLES)


def error_of(data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data)
    return info.value


def assert_issue(err: ConfigError, key: str, value: str | None, allowed: str) -> None:
    """One line of the error names the file, ``key``, the ``value`` and contains ``allowed``."""
    lines = str(err).splitlines()
    assert all(line.startswith(f"{err.source}: ") for line in lines), str(err)
    prefix = f"{err.source}: {key}"
    candidates = [line for line in lines if line.startswith((prefix + " = ", prefix + ": "))]
    assert candidates, f"no line for {key!r} in:\n{err}"
    for line in candidates:
        if (value is None or f"{key} = {value}" in line) and allowed in line:
            return
    raise AssertionError(f"no line for {key!r} with value {value!r} and {allowed!r} in:\n{err}")


# ---------------------------------------------------------------- the example
def test_lab_example_parses_with_the_simulator_electrode_names():
    config = load_apparatus(LAB)
    assert config.source == str(LAB)
    assert set(ROLE_MODELS) <= set(config.instruments)
    for role, models in ROLE_MODELS.items():
        assert config.instrument(role).model in models
    assert set(config.hv_modules) == set(HV_MODULES)
    for name, (module, channel) in ELECTRODE_MAP.items():
        electrode = config.electrodes[name]
        assert (electrode.module, electrode.channel) == (module, channel)
    assert set(config.electrodes) == set(ELECTRODE_MAP)
    assert config.detector.channeltron_electrode == "channeltron"
    assert "channeltron" not in config.tune.potentials
    assert config.tune.energies_eV[0] == 40 and config.tune.energies_eV[-1] == 300
    # the tune rows are the simulator's optimum potentials
    for energy in config.tune.energies_eV:
        for name, value in config.tune.potentials_at(energy).items():
            assert value == pytest.approx(World.tuned_potential(name, energy), abs=1e-9)
    assert set(config.gases) == {"isoflurane", "argon"}
    argon = config.gases["argon"]
    assert argon.dcs_table == (ROOT / "foundation/data/argon_dcs_elsepa.csv").resolve()
    assert config.gases["isoflurane"].dcs_table.name == "isoflurane_dcs_table1.csv"  # its definition's
    assert config.gases["isoflurane"].diameter_kind == config.gases["argon"].diameter_kind == "hard-sphere"
    assert config.instrument("picoammeter").address == "GPIB0::14::INSTR"
    assert config.instrument("filament").options == {"max_current_A": 2.6, "max_voltage_V": 4.0}
    assert config.angle_limits_deg == (20.0, 130.0)
    assert config.effective_volume is None
    assert config.text == LAB.read_text()


def test_to_dict_is_plain_json_data_without_the_text():
    config = load_apparatus(LAB)
    data = config.to_dict()
    again = json.loads(json.dumps(data))
    assert again == data
    assert "text" not in data
    assert data["instruments"]["goniometer"]["options"]["min_angle_deg"] == 20.0
    assert data["electrodes"]["cathode"]["channel"] == 0
    assert data["tune"]["potentials"]["gun_L1"][1] == 57.5
    assert data["gases"]["argon"]["dcs_table"].endswith("argon_dcs_elsepa.csv")


def test_the_stored_text_parses_back_to_the_same_config():
    config = load_apparatus(LAB)
    again = parse_apparatus(config.text, source=config.source, base_dir=LAB.parent)
    assert again == config


def test_relative_dcs_table_is_resolved_against_the_file_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "tables").mkdir()
    shutil.copy(ROOT / "foundation/data/argon_dcs_elsepa.csv", tmp_path / "tables/ar.csv")
    data = mutate(lab_data(), {"gases.argon.dcs_table": "../tables/ar.csv"})
    path = tmp_path / "cfg" / "app.toml"
    path.write_text(to_toml(data))
    monkeypatch.chdir(ROOT)
    config = load_apparatus(path)
    assert config.gases["argon"].dcs_table == (tmp_path / "tables/ar.csv").resolve()


def test_stored_text_with_a_missing_table_parses_when_paths_are_not_checked(tmp_path):
    data = mutate(lab_data(), {"gases.argon.dcs_table": "tables/gone.csv"})
    with pytest.raises(ConfigError, match="gases.argon.dcs_table"):
        parse_apparatus(to_toml(data), source="<run file>", base_dir=tmp_path)
    config = parse_apparatus(to_toml(data), source="<run file>", base_dir=tmp_path, check_paths=False)
    assert config.gases["argon"].dcs_table == (tmp_path / "tables/gone.csv").resolve()


def test_a_file_written_from_the_simulator_world_parses(world):
    """What `xbeam sim` would write: loopback addresses, every TUNE_LAWS row (the
    channeltron row constant at channeltron_V is tolerated and kept out of the tune)."""
    data = lab_data()
    for i, name in enumerate(data["instruments"]):
        data["instruments"][name]["address"] = f"socket://127.0.0.1:{5001 + i}"
    data["instruments"]["counter"]["address"] = "TCPIP::127.0.0.1::5100::SOCKET"
    energies = [40, 60, 100, 150, 200, 300]
    data["tune"] = {"mode": "exact", "energies_eV": energies, "potentials": world.tune_table(energies)}
    assert set(data["tune"]["potentials"]) == set(TUNE_LAWS)
    config = parse(data)
    assert "channeltron" not in config.tune.potentials
    assert config.tune.potentials_at(150)["cathode"] == -150
    assert config.tune.mode == "exact"


def test_model_names_and_options_match_the_driver_constructors():
    from acquisition.config import model_options

    assert set(MODELS) == set(DRIVER_MODELS)
    for model in MODELS:
        parameters = inspect.signature(driver_class(model).__init__).parameters
        for option in model_options(model):
            assert option in parameters, f"{model} driver takes no {option!r}"
            assert parameters[option].kind is inspect.Parameter.KEYWORD_ONLY


def test_an_older_model_name_is_read_as_the_models_name():
    data = mutate(lab_data(), {"instruments.gauges.model": "tpg362"})
    assert parse(data).instrument("gauges").model == "pfeiffer_tpg362"
    data = mutate(lab_data(), {"instruments.gauges.model": "pfeiffer_tpg362"})
    assert parse(data).instrument("gauges").model == "pfeiffer_tpg362"


def test_goniometer_limits_default_to_the_driver_defaults():
    data = mutate(
        lab_data(), {"instruments.goniometer.min_angle_deg": DELETE, "instruments.goniometer.max_angle_deg": DELETE}
    )
    config = parse(data)
    expected = tuple(
        inspect.signature(driver_class("newport_smc100").__init__).parameters[n].default
        for n in ("min_angle_deg", "max_angle_deg")
    )
    assert config.angle_limits_deg == expected


def test_effective_volume_is_read_and_interpolated():
    data = mutate(lab_data(), {"effective_volume": {"angles_deg": [25.0, 35.0, 45.0], "factors": [0.8, 0.9, 1.0]}})
    ev = parse(data).effective_volume
    assert ev.angles_deg == (25.0, 35.0, 45.0)
    assert ev.factor_at(30.0) == pytest.approx(0.85)
    assert ev.factor_at(45.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside"):
        ev.factor_at(50.0)


# ---------------------------------------------------------------- tune table
def small_tune(mode: str = "interpolate") -> TuneTable:
    data = lab_data()
    energies = [40, 100, 300]
    data["tune"] = {
        "mode": mode,
        "energies_eV": energies,
        "potentials": {name: [World.tuned_potential(name, e) for e in energies] for name in data["electrodes"]},
    }
    del data["tune"]["potentials"]["channeltron"]
    data["tune"]["potentials"]["gun_L1"] = [10.0, 40.0, 20.0]  # not linear in energy
    return parse(data).tune


def test_interpolation_is_linear_between_neighbouring_rows():
    tune = small_tune()
    assert tune.potentials_at(70)["gun_L1"] == pytest.approx(25.0)  # halfway 40..100
    assert tune.potentials_at(200)["gun_L1"] == pytest.approx(30.0)  # halfway 100..300
    assert tune.potentials_at(250)["gun_L1"] == pytest.approx(25.0)
    assert tune.potentials_at(70)["cathode"] == pytest.approx(-70.0)
    assert tune.potentials_at(100)["gun_L1"] == 40.0  # a row: exactly its values
    assert tune.potentials_at(40)["gun_L1"] == 10.0
    assert tune.potentials_at(300)["gun_L1"] == 20.0
    assert set(tune.potentials_at(123)) == set(ELECTRODE_MAP) - {"channeltron"}
    assert tune.allows(40) and tune.allows(300) and tune.allows(123.4)
    assert not tune.allows(39.9) and not tune.allows(300.1) and not tune.allows(float("nan"))


@pytest.mark.parametrize("energy", [39.0, 300.5, 1000.0])
def test_energy_outside_the_table_is_refused_naming_energy_and_range(energy):
    tune = small_tune()
    with pytest.raises(ValueError) as info:
        tune.potentials_at(energy)
    assert isinstance(info.value, ConfigError)
    message = str(info.value)
    assert SOURCE in message and "tune.energies_eV" in message
    assert f"= {energy!r}" in message and "40..300 eV" in message


def test_exact_mode_only_allows_the_rows():
    tune = small_tune("exact")
    assert tune.allows(100) and tune.allows(100.0 + 1e-9)
    assert not tune.allows(70)
    assert tune.potentials_at(100)["gun_L1"] == 40.0
    with pytest.raises(ConfigError) as info:
        tune.potentials_at(70)
    message = str(info.value)
    assert "= 70" in message and "[40.0, 100.0, 300.0]" in message and "exact" in message


# ---------------------------------------------------------------- malformed files
def _raise_potential(i: int, value):
    def change(row):
        row = list(row)
        row[i] = value
        return row

    return change


def _no_hv_modules(data):
    return {n: i for n, i in data.items() if i["model"] != "iseg_hv"}


# (changes, key, shown value or None, text of what is allowed)
MALFORMED = [
    # instruments
    ({"instruments.gauges.model": "tpg361"}, "instruments.gauges.model", '"tpg361"', "did you mean 'tpg362'"),
    ({"instruments.gauges.model": DELETE}, "instruments.gauges.model", None, "missing; required (one of 'iseg_hv'"),
    (
        {"instruments.filament.address": "192.168.1.20"},
        "instruments.filament.address",
        '"192.168.1.20"',
        "VISA resource",
    ),
    (
        {"instruments.counter.address": "socket://localhost"},
        "instruments.counter.address",
        None,
        "pyserial port or URL",
    ),
    (
        {"instruments.counter.address": "http://x:80"},
        "instruments.counter.address",
        '"http://x:80"',
        "socket://host:port",
    ),
    (
        {"instruments.valves": DELETE},
        "instruments.valves",
        None,
        "missing; required: an instrument of model 'numato_relay'",
    ),
    (
        {"instruments.goniometer.model": "keysight_53230a"},
        "instruments.goniometer.model",
        '"keysight_53230a"',
        "must be of model 'newport_smc100'",
    ),
    (
        {"instruments.valvs": lambda _: lab_data()["instruments"]["valves"], "instruments.valves": DELETE},
        "instruments.valvs",
        None,
        "did you mean 'valves'",
    ),
    ({"instruments.gauges.timeout_s": 0}, "instruments.gauges.timeout_s", "0", "> 0"),
    ({"instruments.gauges.visa_backend": "py"}, "instruments.gauges.visa_backend", '"py"', "'@py'"),
    ({"instruments.hv_gun.channels": 0}, "instruments.hv_gun.channels", "0", ">= 1"),
    ({"instruments.hv_gun.chanels": 8}, "instruments.hv_gun.chanels", "8", "unknown key; did you mean 'channels'"),
    ({"instruments.hv_gun.max_current_A": 1e-3}, "instruments.hv_gun.max_current_A", "0.001", "unknown key"),
    (
        {"instruments.goniometer.max_angle_deg": 10.0},
        "instruments.goniometer.max_angle_deg",
        "10.0",
        "greater than min_angle_deg = 20.0",
    ),
    (
        {"instruments.picoammeter.address": "/dev/ttyUSB0"},
        "instruments.picoammeter.address",
        '"/dev/ttyUSB0"',
        "already used by instrument 'gauges'",
    ),
    ({"instruments.gauges": "tpg362"}, "instruments.gauges", '"tpg362"', "must be a table"),
    ({"instruments": _no_hv_modules}, "instruments", None, "at least one instrument of model 'iseg_hv'"),
    ({"instruments": DELETE}, "instruments", None, "missing; required"),
    # electrodes
    ({"electrodes.cathode.module": "hv_gnu"}, "electrodes.cathode.module", '"hv_gnu"', "did you mean 'hv_gun'"),
    (
        {"electrodes.cathode.module": "filament"},
        "electrodes.cathode.module",
        '"filament"',
        "is a 'keysight_e36xx', not an 'iseg_hv'",
    ),
    ({"electrodes.cathode.channel": 8}, "electrodes.cathode.channel", "8", "< 8"),
    ({"electrodes.cathode.channel": 1.0}, "electrodes.cathode.channel", "1.0", "must be an integer"),
    ({"electrodes.wehnelt.channel": 0}, "electrodes.wehnelt.channel", "0", "already electrode 'cathode'"),
    (
        {"electrodes.cathode.min_V": 0.0, "electrodes.cathode.max_V": -310.0},
        "electrodes.cathode.max_V",
        "-310.0",
        "greater than min_V = 0.0",
    ),
    ({"electrodes.cathode.ramp_V_per_s": 0}, "electrodes.cathode.ramp_V_per_s", "0", "must be a number > 0"),
    ({"electrodes.cathode.tolerance_V": -1.0}, "electrodes.cathode.tolerance_V", "-1.0", "> 0"),
    ({"electrodes.cathode.max_V": "0"}, "electrodes.cathode.max_V", '"0"', "must be a number"),
    ({"electrodes.cathode.min_V": True}, "electrodes.cathode.min_V", "true", "must be a number"),
    (
        {"electrodes.channeltron.max_V": 3500.0},
        "electrodes.channeltron.max_V",
        "3500.0",
        "max_voltage_V of module 'hv_detector'",
    ),
    (
        {"electrodes.cathode.ramp_V_per_sec": 5.0},
        "electrodes.cathode.ramp_V_per_sec",
        "5.0",
        "did you mean 'ramp_V_per_s'",
    ),
    (
        {"electrodes.anode.ramp_V_per_s": DELETE},
        "electrodes.anode.ramp_V_per_s",
        None,
        "missing; required (a number > 0)",
    ),
    ({"electrodes": {}}, "electrodes", "{}", "at least one electrode"),
    # tune
    ({"tune.mode": "nearest"}, "tune.mode", '"nearest"', "one of 'interpolate', 'exact'"),
    ({"tune.energies_eV": _raise_potential(3, 55)}, "tune.energies_eV[3]", "55", "strictly increasing"),
    ({"tune.energies_eV": []}, "tune.energies_eV", "[]", "non-empty list"),
    ({"tune.energies_eV": _raise_potential(0, -40)}, "tune.energies_eV[0]", "-40", "> 0"),
    ({"tune.potentials.cathode": lambda row: row[:-1]}, "tune.potentials.cathode", None, "must have 13 entries"),
    (
        {"tune.potentials.cathode": _raise_potential(0, -400)},
        "tune.potentials.cathode[0]",
        "-400",
        "outside electrode 'cathode' limits -310.0..0.0 V at 40 eV",
    ),
    ({"tune.potentials.gun_L1": _raise_potential(2, "x")}, "tune.potentials.gun_L1[2]", '"x"', "must be a number"),
    ({"tune.potentials.cathod": [0] * 13}, "tune.potentials.cathod", None, "unknown electrode; did you mean 'cathode'"),
    (
        {"tune.potentials.anode": DELETE},
        "tune.potentials.anode",
        None,
        "missing; required: every electrode except the channeltron",
    ),
    ({"tune.potentials.channeltron": [2400.0] * 13}, "tune.potentials.channeltron", None, "not tuned per energy"),
    ({"tune.potentials": DELETE}, "tune.potentials", None, "missing; required"),
    # detector
    (
        {"detector.channeltron_electrode": "channeltorn"},
        "detector.channeltron_electrode",
        '"channeltorn"',
        "did you mean 'channeltron'",
    ),
    ({"detector.channeltron_V": 3100.0}, "detector.channeltron_V", "3100.0", "limits 0.0..3000.0 V"),
    ({"detector.dead_time_s": 50}, "detector.dead_time_s", "50", "< 1e-05 (seconds, e.g. 50e-9 for 50 ns)"),
    ({"detector.dead_time_s": float("nan")}, "detector.dead_time_s", "nan", "must be a number"),
    (
        {"detector.dead_time_model": "paralysable"},
        "detector.dead_time_model",
        '"paralysable"',
        "did you mean 'paralyzable'",
    ),
    ({"detector.max_loss_fraction": 1.5}, "detector.max_loss_fraction", "1.5", "< 1"),
    ({"detector.linear_limit_cps": -1}, "detector.linear_limit_cps", "-1", "> 0"),
    ({"detector.dead_time_ns": 50}, "detector.dead_time_ns", "50", "did you mean 'dead_time_s'"),
    # beam
    (
        {"beam.filament_current_A": 3.0},
        "beam.filament_current_A",
        "3.0",
        "<= 2.6 (max_current_A of the filament supply)",
    ),
    ({"beam.filament_voltage_limit_V": 5.0}, "beam.filament_voltage_limit_V", "5.0", "<= 4.0"),
    ({"beam.filament_step_A": 2.5}, "beam.filament_step_A", "2.5", "<= filament_current_A = 2.2"),
    ({"beam.filament_step_delay_s": -1.0}, "beam.filament_step_delay_s", "-1.0", ">= 0"),
    ({"beam": DELETE}, "beam", None, "missing; required"),
    # gas line
    ({"gas_line.needle_relay": 8}, "gas_line.needle_relay", "8", "< 8"),
    ({"gas_line.side_leak_relay": 0}, "gas_line.side_leak_relay", "0", "must differ from needle_relay = 0"),
    ({"gas_line.settle_s": -1.0}, "gas_line.settle_s", "-1.0", ">= 0"),
    ({"gas_line.chamber_gauge_channel": 3}, "gas_line.chamber_gauge_channel", "3", "<= 2"),
    (
        {"gas_line.needle_gauge_channel": 1},
        "gas_line.needle_gauge_channel",
        "1",
        "must differ from chamber_gauge_channel",
    ),
    # gases
    ({"gases.argon.kinetic_diameter_nm": 3.4}, "gases.argon.kinetic_diameter_nm", "3.4", "< 2 (nm"),
    ({"gases.argon.molar_mass_g_mol": 0}, "gases.argon.molar_mass_g_mol", "0", "> 1"),
    ({"gases.argon.dcs_table": "nope.csv"}, "gases.argon.dcs_table", '"nope.csv"', "no such file"),
    (
        {"gases.argon.kinetic_diametre_nm": 0.34},
        "gases.argon.kinetic_diametre_nm",
        "0.34",
        "did you mean 'kinetic_diameter_nm'",
    ),
    ({"gases": {}}, "gases", "{}", "at least one gas"),
    # interlocks
    (
        {"interlocks.chamber_resume_mbar": 1e-4},
        "interlocks.chamber_resume_mbar",
        "0.0001",
        "< 5e-05 (below chamber_max_mbar",
    ),
    ({"interlocks.needle_resume_mbar": 1.0}, "interlocks.needle_resume_mbar", "1.0", "< 1.0"),
    ({"interlocks.beam_resume_A": 1e-9}, "interlocks.beam_resume_A", "1e-09", "> 5e-09 (above beam_min_A"),
    ({"interlocks.wait_after_recovery_s": -5}, "interlocks.wait_after_recovery_s", "-5", ">= 0"),
    ({"interlocks": DELETE}, "interlocks", None, "missing; required"),
    # effective volume
    (
        {"effective_volume": {"angles_deg": [30.0, 25.0], "factors": [1.0, 1.0]}},
        "effective_volume.angles_deg[1]",
        "25.0",
        "strictly increasing",
    ),
    (
        {"effective_volume": {"angles_deg": [25.0, 30.0], "factors": [1.0]}},
        "effective_volume.factors",
        "[1.0]",
        "must have 2 entries",
    ),
    (
        {"effective_volume": {"angles_deg": [25.0, 30.0], "factors": [1.0, 0.0]}},
        "effective_volume.factors[1]",
        "0.0",
        "> 0",
    ),
    # top level
    ({"tunes": {"mode": "exact"}}, "tunes", None, "unknown section; did you mean 'tune'"),
]


@pytest.mark.parametrize(
    ("changes", "key", "value", "allowed"), MALFORMED, ids=[m[1] + ":" + m[3][:24] for m in MALFORMED]
)
def test_malformed_apparatus_is_reported_with_file_key_value_and_allowed(changes, key, value, allowed):
    err = error_of(mutate(lab_data(), changes))
    assert err.source == SOURCE
    assert_issue(err, key, value, allowed)
    assert len(str(err).splitlines()) == len(err.issues)


def test_every_problem_of_a_file_is_reported_at_once():
    keys = [
        "instruments.filament.address",
        "instruments.hv_gun.chanels",
        "electrodes.cathode.channel",
        "tune.mode",
        "detector.dead_time_s",
        "beam.filament_step_A",
        "gas_line.side_leak_relay",
        "gases.argon.kinetic_diameter_nm",
        "interlocks.beam_resume_A",
        "tunes",
    ]
    chosen = [next(m for m in MALFORMED if m[1] == key) for key in keys]
    changes = {}
    for c, *_ in chosen:
        changes.update(c)
    err = error_of(mutate(lab_data(), changes))
    for _, key, value, allowed in chosen:
        assert_issue(err, key, value, allowed)
    lines = str(err).splitlines()
    assert len(lines) == len(err.issues) >= len(keys)


def test_unknown_key_without_a_close_match_lists_the_allowed_keys():
    err = error_of(mutate(lab_data(), {"beam.colour": "blue"}))
    assert_issue(err, "beam.colour", '"blue"', "unknown key; allowed: 'filament_current_A', 'filament_voltage_limit_V'")
    assert "did you mean" not in str(err)


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(LAB.read_text().replace("[beam]", "[beam"))
    with pytest.raises(ConfigError) as info:
        load_apparatus(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid TOML")
    assert "line" in message


def test_missing_file_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="nowhere.toml: cannot read the file"):
        load_apparatus(path)


def test_error_from_a_file_names_the_file_path(tmp_path):
    path = tmp_path / "lab.toml"
    data = mutate(lab_data(), {"detector.dead_time_s": 50, "gases.argon.dcs_table": DELETE})
    path.write_text(to_toml(data))
    with pytest.raises(ConfigError) as info:
        load_apparatus(path)
    assert (
        str(info.value)
        == f"{path}: detector.dead_time_s = 50: must be a number >= 0 and < 1e-05 (seconds, e.g. 50e-9 for 50 ns)"
    )


def test_config_error_is_a_value_error_and_pickles():
    err = error_of(mutate(lab_data(), {"beam.filament_step_A": -1, "interlocks": DELETE}))
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.source == err.source and again.issues == err.issues


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("TCPIP::192.168.1.20::5025::SOCKET", True),
        ("TCPIP0::192.168.1.20::inst0::INSTR", True),
        ("GPIB0::14::INSTR", True),
        ("ASRL/dev/ttyUSB0::INSTR", True),
        ("/dev/ttyUSB0", True),
        ("COM3", True),
        ("socket://127.0.0.1:5001", True),
        ("rfc2217://terminal-server:4001", True),
        ("loop://", True),
        ("socket://127.0.0.1", False),
        ("socket://127.0.0.1:0", False),
        ("ttyUSB0", False),
        ("192.168.1.20:5025", False),
        ("http://192.168.1.20", False),
    ],
)
def test_address_forms(address, ok):
    assert address_ok(address) is ok
