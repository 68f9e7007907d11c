"""Putting the simulated world straight into a working state, for tests below the engine.

Tests of one emulator or driver need a beam and a count rate without going through
the other instruments; these set the world's actuators directly.
"""

from simulators.world import ELECTRODE_MAP, RELAY_NEEDLE


def tune(world, energy_eV: float) -> None:
    """Every electrode (channeltron included) at its tuned potential, ramped at once."""
    t = world.clock.now()
    for name in ELECTRODE_MAP:
        ch = world.electrode(name)
        ch.set_ramp(1e5, t)
        ch.set_voltage(world.tuned_potential(name, energy_eV), t)
        ch.set_on(True, t)


def beam_on(world, energy_eV: float = 100.0, angle_deg: float = 60.0, filament_A: float = 2.2,
            settle_s: float = 60.0) -> None:
    """Tuned, filament hot, gas through the needle, analyzer at ``angle_deg``; then
    ``settle_s`` of clock time (many filament and gas time constants)."""
    tune(world, energy_eV)
    world.set_filament(current_A=filament_A, voltage_V=5.0, output=True)
    world.set_relay(RELAY_NEEDLE, True)
    world.goniometer.move_to(angle_deg, world.clock.now())
    world.clock.sleep(settle_s)
