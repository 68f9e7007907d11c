"""Apparatus operations against the simulated apparatus through the real stacks."""

import pytest

from acquisition.apparatus import connect
from acquisition.config import parse_apparatus
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.world import ELECTRODE_MAP, WorldConfig


@pytest.fixture
def rig():
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=2)) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<sim>")
        apparatus = connect(config, clock)
        yield clock, sim.world, config, apparatus
        apparatus.close()


def test_prepare_then_set_energy_applies_the_tune(rig):
    clock, world, config, app = rig
    app.prepare()
    assert world.electrode_voltage("channeltron") == pytest.approx(config.detector.channeltron_V)
    app.set_energy(150.0)
    for name in ELECTRODE_MAP:
        if name != "channeltron":
            assert world.electrode_voltage(name) == pytest.approx(world.tuned_potential(name, 150.0), abs=0.5)
    assert world.energy_eV() == pytest.approx(150.0, abs=0.5)
    m = app.read_monitors()
    assert m.beam_current_A == pytest.approx(world.beam_current_A(), rel=0.01)


def test_set_energy_outside_the_tune_table_is_refused_before_anything_moves(rig):
    clock, world, config, app = rig
    before = {name: world.electrode_voltage(name) for name in ELECTRODE_MAP}
    with pytest.raises(ValueError, match="350"):
        app.set_energy(350.0)
    assert {name: world.electrode_voltage(name) for name in ELECTRODE_MAP} == before


def test_gas_paths_and_settling(rig):
    clock, world, config, app = rig
    app.prepare()  # the picoammeter leaves zero check here
    app.select_gas("needle")
    assert world.relays[config.gas_line.needle_relay] and not world.relays[config.gas_line.side_leak_relay]
    p_needle = app.read_monitors().chamber_mbar
    app.select_gas("side_leak")
    assert world.relays[config.gas_line.side_leak_relay] and not world.relays[config.gas_line.needle_relay]
    assert app.read_monitors().chamber_mbar == pytest.approx(p_needle, rel=0.02)  # same gas load
    app.select_gas("closed")
    assert app.read_monitors().chamber_mbar < p_needle / 5
    with pytest.raises(ValueError, match="needle, side_leak, closed"):
        app.select_gas("open")


def test_settling_waits_for_a_slow_gas_line(rig):
    clock, world, config, app = rig
    world.config.chamber_tau_s = 20.0  # a sticking valve: the chamber fills slowly
    world._gas_load.tau_s = 20.0
    t0 = clock.now()
    app.select_gas("needle", settle_s=2.0)
    waited = clock.now() - t0
    assert waited > 2.0 + 10.0  # the fixed settle was not enough; it waited for the gauge
    p = world.chamber_mbar()
    assert abs(p - world.chamber_mbar(clock.now() + 1.0)) / p < 0.02


def test_channeltron_off_now_and_back(rig):
    clock, world, config, app = rig
    app.prepare()
    app.channeltron_off_now()
    assert world.electrode_voltage("channeltron") == 0.0
    app.channeltron_on()
    assert world.electrode_voltage("channeltron") == pytest.approx(config.detector.channeltron_V)


def test_safe_state_reports_what_failed_and_still_does_the_rest(rig):
    clock, world, config, app = rig
    app.prepare()
    app.select_gas("needle")

    def broken(*a, **k):
        raise RuntimeError("module unplugged")

    app.channeltron_off_now = broken
    problems = app.apply_end_state()
    assert problems and "channeltron off: module unplugged" in problems[0]
    assert not world.relays[config.gas_line.needle_relay]  # gas closed all the same


def test_snapshot_has_every_instrument(rig):
    clock, world, config, app = rig
    snap = app.snapshot()
    assert set(snap) == set(config.instruments)
    assert all("identity" in s for s in snap.values())


def test_prepare_never_steps_a_cold_filament_to_a_leftover_setpoint(rig):
    clock, world, config, app = rig
    app.filament.current = 2.8  # left over from earlier work, output off
    assert not world.filament_output
    seen = []
    original = world.set_filament

    def spy(**kwargs):
        original(**kwargs)
        seen.append(world.filament_current_A())

    world.set_filament = spy
    app.prepare()
    assert max(seen) == pytest.approx(config.beam.filament_current_A)
    steps = [b - a for a, b in zip(seen, seen[1:])]
    assert max(steps) <= config.beam.filament_step_A + 1e-9


def test_an_address_that_opens_but_never_answers_is_refused_before_anything_moves():
    """Before, the run homed the goniometer and heated the filament, then sat paused."""
    import socket

    from acquisition.apparatus import ApparatusUnreachable

    clock = VirtualClock()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        with SimulatedApparatus(clock, WorldConfig(seed=2)) as sim:
            port = silent.getsockname()[1]
            text = sim.apparatus_toml().replace(sim.address("counter"), f"TCPIP::127.0.0.1::{port}::SOCKET")
            config = parse_apparatus(text, source="<sim>")
            with pytest.raises(ApparatusUnreachable) as refused:
                connect(config, clock)
            assert refused.value.problems and len(refused.value.problems) == 1
            assert f"127.0.0.1::{port}" in str(refused.value) and "*IDN?" in str(refused.value)
            world = sim.world
            assert world.filament_current_A() == 0.0 and not world.goniometer.homed
    finally:
        silent.close()


def test_the_end_of_a_night_ramps_the_filament_down_then_switches_its_output_off(rig):
    from acquisition.apparatus import SHUTDOWN

    clock, world, config, app = rig
    app.prepare()
    assert world.filament_output and world.filament_current_A() > 1.0
    seen = []
    original = world.set_filament

    def spy(**kwargs):
        original(**kwargs)
        seen.append((world.filament_current_A(), world.filament_output))

    world.set_filament = spy
    assert app.apply_end_state(SHUTDOWN) == []
    assert not world.filament_output and world.filament_current_A() == 0.0
    on_steps = [a for a, on in seen if on]
    assert max(b - a for a, b in zip(on_steps[1:], on_steps)) <= config.beam.filament_step_A + 1e-9  # ramped down
    assert seen[-1] == (0.0, False)  # switched off only once at 0 A
