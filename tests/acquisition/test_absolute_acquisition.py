"""The acquisition side of the absolute scale, below the simulator: the gas lines of
the apparatus file, plans of kind "volume" and "rfm", the operator prompt, the valve
order of a route, and rate-of-rise records in a run file (written, read, resumed)."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.apparatus import Apparatus, path_from_relays
from acquisition.config import ConfigError, load_apparatus
from acquisition.events import PressureRise
from acquisition.operator import OperatorDeclined, PressureRequest, PromptOperator, within
from acquisition.plans import parse_plan, rfm_pressures
from acquisition.reduction import RfmPointResult
from acquisition.storage import RunWriter, read_run
from acquisition.storage.rises import committed_rises
from foundation.clock import VirtualClock
from tests.acquisition.test_config import DELETE, EXAMPLES, LAB, assert_issue, error_of, lab_data, mutate, parse
from tests.acquisition.test_storage import make_point, make_start

ROOT = Path(__file__).resolve().parents[2]
GASES = ROOT / "examples" / "gases"


def rfm_lab() -> dict:
    """The lab example: both gases by their definition files, as an RFM needs."""
    data = lab_data()
    assert {gas.get("definition", "").rsplit("/", 1)[-1] for gas in data["gases"].values()} == {
        "isoflurane.toml", "argon.toml"}
    return data


# ---------------------------------------------------------------- apparatus file
def test_lab_example_declares_both_lines():
    config = load_apparatus(LAB)
    target, reference = config.gas_lines["target"], config.gas_lines["reference"]
    assert (target.needle_relay, target.side_relay, target.shut_relay, target.inlet_relay) == (0, 1, 2, 6)
    assert (reference.gauge, reference.gauge_channel, reference.gas) == ("line_gauges", 1, "argon")
    assert target.can_measure_rise and reference.can_measure_rise
    assert config.line_for("argon") is reference
    assert config.line_for("isoflurane") is target  # no line declares it: the target line


def test_without_gas_lines_the_target_line_is_gas_line():
    data = mutate(lab_data(), {"gas_lines": DELETE})
    config = parse(data)
    assert list(config.gas_lines) == ["target"]
    line = config.gas_lines["target"]
    assert (line.needle_relay, line.side_relay, line.gauge_channel, line.shut_relay) == (0, 1, 2, None)
    assert not line.can_measure_rise


@pytest.mark.parametrize(
    ("changes", "key", "value", "allowed"),
    [
        ({"gas_lines.reference.needle_relay": 2}, "gas_lines.reference.needle_relay", "2",
         "already the shut valve of the target line"),
        ({"gas_lines.spare": {"needle_relay": 3, "side_relay": 4}}, "gas_lines.spare", None, "unknown gas line"),
        ({"gas_lines.target.volume_cm3": DELETE}, "gas_lines.target.volume_cm3", None, "required with shut_relay"),
        ({"gas_lines.reference.leak_valve": "motorised"}, "gas_lines.reference.leak_valve_instrument", None,
         "required for a motorised leak valve"),
        ({"gas_lines.reference.leak_valve": "magic"}, "gas_lines.reference.leak_valve", '"magic"', "manual"),
        ({"gas_lines.reference.gauge": "gaugez"}, "gas_lines.reference.gauge", '"gaugez"', "line_gauges"),
        ({"gas_lines.target.gauge_channel": 1}, "gas_lines.target.gauge_channel", "1", "is the chamber gauge"),
        ({"gas_lines.target.side_relay": 4}, "gas_lines.reference.side_relay", "4", "already"),
        ({"gas_lines.target.needle_relay": 7, "gas_lines.reference.inlet_relay": DELETE}, "gas_lines.target",
         None, "must use the relays of [gas_line]"),
        ({"gas_lines.reference.gas": "neon"}, "gas_lines.reference.gas", '"neon"', "one of"),
        ({"gas_lines.reference.temperature_K": 500}, "gas_lines.reference.temperature_K", "500", "< 400"),
        ({"gas_lines.target.volum_cm3": 20.0}, "gas_lines.target.volum_cm3", "20.0", "did you mean 'volume_cm3'"),
        ({"gas_lines": {"reference": lab_data()["gas_lines"]["reference"]}}, "gas_lines.target", None, "required"),
        ({"instruments.line_gauges.model": "numato_relay"}, "instruments.line_gauges.model", '"numato_relay"',
         "must be of"),
    ],
)
def test_gas_line_mistakes(changes, key, value, allowed):
    assert_issue(error_of(mutate(lab_data(), changes)), key, value, allowed)


def test_gas_definition_files():
    config = parse(rfm_lab())
    iso = config.gases["isoflurane"]
    assert iso.definition == (GASES / "isoflurane.toml").resolve()
    assert iso.molar_mass_g_mol == pytest.approx(184.49)
    assert iso.kinetic_diameter_nm == pytest.approx(0.583)
    assert iso.diameter_kind == "hard-sphere"
    assert iso.dcs_table is not None and iso.dcs_table.name == "isoflurane_dcs_table1.csv"
    assert iso.gas().diameter_provenance


@pytest.mark.parametrize(
    ("changes", "key", "value", "allowed"),
    [
        ({"gases.argon.definition": "gases/none.toml"}, "gases.argon.definition", '"gases/none.toml"',
         "no such file"),
        ({"gases.argon.molar_mass_g_mol": 40.0}, "gases.argon.molar_mass_g_mol", "40.0",
         "must agree with the definition file"),
        ({"gases.argon.definition": str(EXAMPLES / "isoflurane_overnight.toml")}, "gases.argon.definition", None,
         "not a valid gas definition"),
    ],
)
def test_gas_definition_mistakes(changes, key, value, allowed):
    assert_issue(error_of(mutate(rfm_lab(), changes)), key, value, allowed)


# ---------------------------------------------------------------- plans
RFM_PLAN = (EXAMPLES / "isoflurane_rfm.toml").read_text()


def test_rfm_plan_pressures_are_equal_mean_free_paths():
    config = parse(rfm_lab())
    plan = parse_plan(RFM_PLAN, source="rfm.toml", apparatus=config)
    assert plan.kind == "rfm" and plan.rfm.target_pressure_mbar == 0.15
    p_target, p_reference, mfp = rfm_pressures(plan, config)
    assert p_target == pytest.approx(0.15)
    assert p_target / p_reference == pytest.approx((3.58 / 5.83) ** 2, rel=1e-12)  # PHYSICS.md case 3.1: 0.3771
    # lambda = kT / (sqrt 2 pi d^2 p) at 296 K for 5.83 A and 15 Pa
    assert mfp == pytest.approx(1.380649e-23 * 296 / (2**0.5 * np.pi * 5.83e-10**2 * 15.0), rel=1e-12)
    assert plan.to_dict()["rfm"]["reference_gas"] == "argon"


@pytest.mark.parametrize(
    ("plan_edit", "apparatus_changes", "key", "allowed"),
    [
        (("target_pressure_mbar = 0.15", "target_pressure_mbar = 0.40"), {}, "rfm.target_pressure_mbar",
         "at or above the gas-line interlock's resume level"),
        (("reference_gas = \"argon\"", "reference_gas = \"isoflurane\""), {}, "rfm.reference_gas",
         "must differ from scan.gas"),
        (None, {"gas_lines.reference.leak_valve": "motorised",
                "gas_lines.reference.leak_valve_instrument": "valve_motor"}, "kind", "no driver for a motorised"),
        (None, {"gas_lines.reference": DELETE}, "kind", "needs a reference gas line"),
        (None, {"gases.argon": {"molar_mass_g_mol": 39.948, "kinetic_diameter_nm": 0.358}}, "rfm.reference_gas",
         "has no definition file"),
        (("rise_s = 30.0", "rise_s = 2.0"), {}, "rfm.rise_s", "at least 5 samples"),
        (None, {"gas_lines.reference.inlet_relay": DELETE}, "kind", "needs gas_lines.reference.inlet_relay"),
        (("kind = \"rfm\"", "kind = \"dcs\""), {}, "rfm", "only for a plan of kind = 'rfm'"),
        (("kind = \"rfm\"", "kind = \"rmf\""), {}, "kind", "did you mean 'rfm'"),
        (("[settle]", "[background]\nmode = \"none\"\n\n[settle]"), {}, "background", "every intensity"),
    ],
)
def test_rfm_plan_mistakes(plan_edit, apparatus_changes, key, allowed):
    text = RFM_PLAN if plan_edit is None else RFM_PLAN.replace(*plan_edit)
    config = parse(mutate(rfm_lab(), apparatus_changes))
    with pytest.raises(ConfigError) as info:
        parse_plan(text, source="rfm.toml", apparatus=config)
    assert any(line.startswith(f"rfm.toml: {key}") and allowed in line for line in str(info.value).splitlines()), \
        str(info.value)


def test_the_lab_example_runs_the_rfm_plan():
    plan = parse_plan(RFM_PLAN, source="rfm.toml", apparatus=load_apparatus(LAB))
    assert plan.kind == "rfm"


def test_a_stored_apparatus_whose_definition_is_elsewhere_still_reads(tmp_path):
    """A run file read on another machine: the gas is known by name (a DCS plan resumes),
    an RFM plan is refused naming the missing file."""
    data = mutate(rfm_lab(), {"gases.isoflurane.definition": str(tmp_path / "gone.toml")})
    from acquisition.config import parse_apparatus
    from tests.acquisition.test_config import to_toml

    with pytest.raises(ConfigError, match="gases.isoflurane.definition"):
        parse_apparatus(to_toml(data), source="<run file>", base_dir=tmp_path)
    config = parse_apparatus(to_toml(data), source="<run file>", base_dir=tmp_path, check_paths=False)
    assert "isoflurane" in config.gases and np.isnan(config.gases["isoflurane"].molar_mass_g_mol)
    with pytest.raises(ConfigError, match="not on this machine"):
        parse_plan(RFM_PLAN, source="rfm.toml", apparatus=config)


def test_a_volume_plan_needs_the_line_that_holds_its_gas():
    text = (EXAMPLES / "isoflurane_volume.toml").read_text()
    config = parse(mutate(rfm_lab(), {"gas_lines.reference.gas": DELETE}))
    with pytest.raises(ConfigError, match=r"scan.gas = \"argon\": no gas line holds it: declare "
                                          r"gas_lines.reference.gas = 'argon'"):
        parse_plan(text, source="v.toml", apparatus=config)


def test_the_prompt_lets_an_abort_through():
    from acquisition.runner import Abort

    def read():
        raise Abort("interrupted (SIGINT)")

    slow_stdin = io.StringIO()  # never answers: only the abort can end the prompt
    slow_stdin.readline = lambda: threading.Event().wait(30) or ""
    with pytest.raises(Abort):
        PromptOperator(slow_stdin, io.StringIO(), refresh_s=0.01).set_line_pressure(request(), read)


def test_volume_plan_parses():
    plan = parse_plan((EXAMPLES / "isoflurane_volume.toml").read_text(), source="v.toml", apparatus=parse(rfm_lab()))
    assert (plan.kind, plan.scan.gas, plan.rfm) == ("volume", "argon", None)


# ---------------------------------------------------------------- the operator prompt
def request() -> PressureRequest:
    return PressureRequest("reference", "argon", 0.40, 0.02, why="equal mean free paths")


def test_prompt_confirms_within_tolerance():
    out = io.StringIO()
    PromptOperator(io.StringIO("\n"), out, refresh_s=0.01).set_line_pressure(request(), lambda: 0.401)
    assert "set the argon leak valve (reference line) to 0.4 mbar" in out.getvalue()
    assert "confirmed: 0.401 mbar" in out.getvalue()


def test_prompt_refuses_a_confirmation_outside_tolerance_then_asks_again():
    readings = iter([0.30, 0.399])
    out = io.StringIO()
    PromptOperator(io.StringIO("\n\n"), out, refresh_s=10).set_line_pressure(request(), lambda: next(readings))
    text = out.getvalue()
    assert "the gauge reads 0.3 mbar, outside 2% of 0.4 mbar" in text
    assert text.count("Press Enter") == 2 and "confirmed: 0.399" in text


@pytest.mark.parametrize("typed", ["q\n", ""])  # q, or the end of input: nobody to turn the valve
def test_prompt_declines(typed):
    with pytest.raises(OperatorDeclined, match="declined to set the argon leak valve"):
        PromptOperator(io.StringIO(typed), io.StringIO(), refresh_s=0.01).set_line_pressure(request(), lambda: 0.4)


def test_within_needs_a_finite_reading():
    assert within(request(), 0.3925) and not within(request(), 0.3915)
    assert not within(request(), float("nan"))


# ---------------------------------------------------------------- routing the valves
class Relays:
    """A relay module that records every switch and the state it leaves."""

    def __init__(self) -> None:
        self.state = [False] * 8
        self.calls: list[tuple[int, bool]] = []

    def relay_on(self, n: int) -> None:
        self.calls.append((n, True))
        self.state[n] = True

    def relay_off(self, n: int) -> None:
        self.calls.append((n, False))
        self.state[n] = False

    def states(self) -> list[bool]:
        return list(self.state)


class Gauge:
    def __init__(self, value: float = 1e-6) -> None:
        self.value = value

    def pressure(self, channel: int):
        return type("R", (), {"value_mbar": self.value})()


def route_apparatus():
    config = load_apparatus(LAB)
    drivers = {name: None for name in ("filament", "goniometer", "counter", "picoammeter")}
    drivers.update(valves=Relays(), gauges=Gauge(), line_gauges=Gauge(0.4))
    hv = type("HV", (), {})()
    drivers.update({name: hv for name in config.hv_modules})
    return Apparatus(config, drivers, VirtualClock())


def test_route_closes_every_valve_before_any_opens():
    app = route_apparatus()
    relays = app.valves
    app.route_gas({"target": "needle", "reference": "side_leak"}, 0.0)
    assert relays.state[0] and relays.state[4] and not relays.state[1] and not relays.state[3]
    relays.calls.clear()
    app.route_gas({"target": "side_leak", "reference": "needle"}, 0.0)
    opened = [i for i, (n, on) in enumerate(relays.calls) if (n, on) in ((1, True), (3, True))]
    closed = [i for i, (n, on) in enumerate(relays.calls) if (n, on) in ((0, False), (4, False))]
    assert max(closed) < min(opened), relays.calls
    assert app.gas_paths == {"target": "side_leak", "reference": "needle"}
    assert app.needle_line() == "reference"


@pytest.mark.parametrize(("path", "energised"), [
    ("needle", {0}), ("side_leak", {1}), ("closed", set()), ("shut", {2}), ("sealed", {2, 6}),
])
def test_every_path_of_a_line_and_back(path, energised):
    app = route_apparatus()
    app.select_gas(path, 0.0, line="target")
    assert {n for n, on in enumerate(app.valves.state) if on} == energised
    assert path_from_relays(app.config.gas_lines["target"], app.valves.state) == path
    app.apply_end_state()  # the safe state never leaves a line shut: it keeps rising
    assert not any(app.valves.state)


def test_a_line_without_a_shut_valve_is_never_half_routed():
    app = route_apparatus()
    app.config = replace(app.config, gas_lines={**app.config.gas_lines,
                                                "reference": replace(app.config.gas_lines["reference"],
                                                                     shut_relay=None)})
    with pytest.raises(ValueError, match="no shut_relay"):
        app.route_gas({"target": "needle", "reference": "shut"}, 0.0)
    assert app.valves.calls == []


def test_read_line_pressure_uses_the_lines_gauge():
    app = route_apparatus()
    assert app.read_line_pressure("reference") == 0.4
    assert app.read_line_pressure("target") == 1e-6


# ---------------------------------------------------------------- rate-of-rise records
def rfm_start():
    start = make_start(sweeps=4, energies=(100.0,), angles=(70.0, 90.0))
    return replace(start, kind="rfm", planned_points=4 * 2 + 4)


def rise_event(cycle: int, gas: int, kind: str, n: int = 6) -> PressureRise:
    t = np.arange(n, dtype=float)
    return PressureRise(t=100.0 * cycle, utc="2026-12-01T00:00:00Z", key=("rise", cycle, 0, gas), cycle=cycle,
                        energy_index=0, gas_index=gas, kind=kind, line=("target", "reference")[gas],
                        gas=("isoflurane", "argon")[gas], times_s=tuple(t), pressures_mbar=tuple(0.15 + 1e-3 * t),
                        volume_cm3=20.0, temperature_K=296.0, steady_mbar=0.15)


def test_rise_records_round_trip_and_count_as_done(tmp_path):
    start = rfm_start()
    path = tmp_path / "rfm.h5"
    with RunWriter.create(path, start) as writer:
        point = make_point(start, 0, 0, 0, 0)
        writer(replace(point, derived=RfmPointResult(cycle=0, gas_index=0, intensity_cps_per_nA=12.5)))
        writer(rise_event(0, 0, "base"))
        writer(rise_event(0, 0, "rise", n=9))
    run = read_run(path)
    assert run.kind == "rfm" and run.n_rises == 2
    assert list(run.rises["kind"]) == ["base", "rise"] and list(run.rises["line"]) == ["target", "target"]
    t, p = run.rise(1)
    np.testing.assert_allclose(t, np.arange(9.0))
    np.testing.assert_allclose(p, 0.15 + 1e-3 * np.arange(9.0))
    assert run.rises["volume_cm3"][1] == 20.0 and run.rises["steady_mbar"][0] == 0.15
    assert run.done_keys() == {(0, 0, 0), ("rise", 0, 0, 0)}
    assert run.points["intensity_cps_per_nA"][0] == 12.5
    with h5py.File(path) as f:  # the default plot of an RFM run shows the intensities
        assert f["entry/rel_dcs/data"][0, 0, 0] == 12.5  # the base record alone is not a done item


def test_a_half_written_rise_record_is_dropped_on_resume(tmp_path):
    start = rfm_start()
    path = tmp_path / "rfm.h5"
    with RunWriter.create(path, start) as writer:
        writer(rise_event(0, 0, "rise"))
        writer(rise_event(0, 1, "rise"))
    with h5py.File(path, "r+") as f:  # as if the writer died before counting the second record
        f["entry/rate_of_rise/records_done"][()] = 1
    assert read_run(path).n_rises == 1
    writer, data = RunWriter.resume(path)
    with writer:
        assert committed_rises(writer._entry) == 1
        writer(rise_event(0, 1, "rise", n=7))
    run = read_run(path)
    assert run.n_rises == 2 and len(run.rise(1)[0]) == 7
    assert list(run.rises["session"]) == [0, 1]


def test_a_dcs_run_file_refuses_a_rise_record(tmp_path):
    start = make_start()
    with RunWriter.create(tmp_path / "dcs.h5", start) as writer:
        with pytest.raises(Exception, match="no rate_of_rise group"):
            writer(rise_event(0, 0, "rise"))
    assert read_run(tmp_path / "dcs.h5").rises == {}
