"""The simulated apparatus: its roles, the apparatus file it writes (read with tomllib:
the schema is the acquisition's), and the shipped gas definitions it names."""

import math
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from foundation.clock import VirtualClock
from foundation.gas import SHIPPED_GASES_DIR, load_gas, shipped_gas
from simulators.apparatus import ROLES, SimulatedApparatus
from simulators.pfeiffer_tpg362 import TPG362Emulator
from simulators.world import World, WorldConfig

ROOT = Path(__file__).resolve().parents[2]


def written(config: WorldConfig | None = None, **kwargs) -> dict:
    with SimulatedApparatus(VirtualClock(), config or WorldConfig(seed=1)) as sim:
        text = sim.apparatus_toml(**kwargs)
        data = tomllib.loads(text)
        data["_addresses"] = {role: sim.address(role) for role in ROLES}
        data["_emulators"] = {role: server.emulator for role, server in sim.servers.items()}
    return data


def test_examples_gases_are_the_shipped_ones():
    examples = sorted((ROOT / "examples" / "gases").glob("*.toml"))
    assert [p.name for p in examples] == sorted(p.name for p in SHIPPED_GASES_DIR.glob("*.toml"))
    for path in examples:
        shipped = shipped_gas(path.stem)
        assert replace(load_gas(path), source="") == replace(shipped, source="")
        assert (SHIPPED_GASES_DIR / path.name).read_bytes() == path.read_bytes()
        assert Path(shipped.source) == (SHIPPED_GASES_DIR / path.name).resolve()


def test_shipped_gas_unknown_name():
    with pytest.raises(ValueError, match="shipped: argon, isoflurane"):
        shipped_gas("xenon")


def test_line_gauges_role_last_and_its_emulator():
    # last, so that every other instrument keeps the port the README's probe lines name
    assert list(ROLES)[:2] == ["gauges", "valves"] and list(ROLES)[-1] == "line_gauges"
    assert ROLES["line_gauges"] == "pfeiffer_tpg362"
    data = written()
    emulators = data["_emulators"]
    assert isinstance(emulators["line_gauges"], TPG362Emulator) and emulators["line_gauges"].name == "line_gauges"
    assert emulators["gauges"].name == "gauges"
    assert data["instruments"]["line_gauges"] == {"model": "pfeiffer_tpg362", "address": data["_addresses"]["line_gauges"],
                                                  "timeout_s": 2.0}


def test_apparatus_file_gas_lines_and_gases():
    data = written()
    assert data["gas_line"] == {"needle_relay": 0, "side_leak_relay": 1, "settle_s": 8.0}
    assert data["gas_lines"]["target"] == {
        "needle_relay": 0, "side_relay": 1, "shut_relay": 2, "inlet_relay": 6, "gauge": "gauges",
        "gauge_channel": 2, "volume_cm3": 20.0, "temperature_K": 296.0, "leak_valve": "manual",
    }
    assert data["gas_lines"]["reference"] == {
        "gas": "argon", "needle_relay": 3, "side_relay": 4, "shut_relay": 5, "inlet_relay": 7,
        "gauge": "line_gauges", "gauge_channel": 1, "volume_cm3": 20.0, "temperature_K": 296.0,
        "leak_valve": "manual",
    }
    assert data["gases"] == {
        "isoflurane": {"definition": (SHIPPED_GASES_DIR / "isoflurane.toml").as_posix()},
        "argon": {"definition": (SHIPPED_GASES_DIR / "argon.toml").as_posix()},
    }
    for gas in data["gases"].values():
        assert Path(gas["definition"]).is_absolute() and Path(gas["definition"]).is_file()


def test_no_effective_volume_unless_asked_for_exactly():
    data = written()
    assert "effective_volume" not in data
    assert "angular_fwhm_deg" not in data["detector"]
    exact = written(exact_effective_volume=True)["effective_volume"]
    world = World(VirtualClock(), WorldConfig(seed=1))
    for angle, factor in zip(exact["angles_deg"], exact["factors"]):
        excess = math.sin(math.radians(angle)) * world.geometry(angle)  # 1/V(theta)
        assert factor == pytest.approx(1 / excess, abs=1e-6)
    assert exact["factors"][exact["angles_deg"].index(25.0)] == pytest.approx(1 / 1.15, abs=1e-6)
    assert exact["factors"][-1] == pytest.approx(1.0, abs=1e-6)


def test_angular_response_written_to_the_detector():
    assert written(WorldConfig(seed=1, angular_fwhm_deg=4.0))["detector"]["angular_fwhm_deg"] == 4.0


def test_target_gas_from_its_file_and_the_true_volume(tmp_path):
    table = tmp_path / "x_dcs.csv"
    table.write_text("angle_deg,energy_eV,dcs\n0,50,2\n180,50,1\n0,300,4\n180,300,0.5\n")
    path = tmp_path / "madeup.toml"
    path.write_text('name = "madeup"\nmolar_mass_g_mol = 90.0\ndcs_table = "x_dcs.csv"\n'
                    '[diameter]\nvalue_A = 4.5\nkind = "hard-sphere"\nprovenance = "made up for a test"\n')
    data = written(WorldConfig(seed=1, target_gas=load_gas(path), line_volume_cm3=23.5))
    assert data["gases"]["madeup"] == {"definition": path.resolve().as_posix()}
    assert set(data["gases"]) == {"madeup", "argon"}
    assert data["gas_lines"]["target"]["volume_cm3"] == 23.5 == data["gas_lines"]["reference"]["volume_cm3"]


def test_a_dcs_override_is_written_beside_the_definition(tmp_path):
    table = tmp_path / "other.csv"
    table.write_text("angle_deg,energy_eV,dcs\n0,50,2\n180,50,1\n0,300,4\n180,300,0.5\n")
    data = written(WorldConfig(seed=1, target_dcs=table))
    assert data["gases"]["isoflurane"]["dcs_table"] == table.resolve().as_posix()
    assert "dcs_table" not in data["gases"]["argon"]
    assert written(target_gas="iso")["gases"]["iso"]["definition"].endswith("isoflurane.toml")


def test_a_gas_without_a_file_is_refused():
    gas = replace(shipped_gas("isoflurane"), source="")
    with SimulatedApparatus(VirtualClock(), WorldConfig(seed=1, target_gas=gas)) as sim:
        with pytest.raises(ValueError, match="no definition file"):
            sim.apparatus_toml()
