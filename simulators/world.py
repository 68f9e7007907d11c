"""The physics model of the apparatus that every instrument emulator shares.

Emulators set actuators (filament supply, high-voltage channels, goniometer, relays,
the manual leak valves) and read sensors (gauges, Faraday cup, channeltron pulses); the
world evolves on the shared clock.  Everything that moves does so at a finite rate:
filament temperature, the gas beam and the chamber's gas follow first-order lags, the
gas lines' pressures follow their flow equations (:mod:`simulators.gas_flow`), high
voltages ramp linearly, the goniometer travels at constant speed.  State is evaluated
lazily at the clock's ``now()``, so a virtual clock makes a night pass in seconds with
the same physics.

Two gas lines, ``target`` (the sample) and ``reference`` (argon), each a volume fed
through a manual leak valve and emptied through its needle (the directed beam), its
side entrance (diffuse, into the chamber) or its bypass to the pump (relays in
:data:`LINE_RELAYS`).  The density each line gives in the interaction region follows its
flow and its gas's mean speed, relative to the target gas at ``needle_line_mbar``
through the needle::

    beam_l    = needle_lag * F_l(p_l) / vbar_l * peaking(Kn_l)  /  [F_0 / vbar_0 * peaking(Kn_0)]
    diffuse_l = chamber_lag * (needle + side) F_l(p_l) / vbar_l  /  [F_0 / vbar_0]

(``F_l(p)`` molecules/s through one outlet, the 0 quantities those of the target gas at
``needle_line_mbar``).  The count rate seen by the channeltron::

    n_true = C * (I_beam / 100 nA) * T_analyzer * eta(V_cem)
             * sum_l DCS_l(E, theta) * [ beam_l * geometry(theta)
                                         + diffuse_fraction * diffuse_l / sin(theta) ]
             + dark + aperture_rate * I_beam / 100 nA

(DCS_l optionally convolved in angle with a Gaussian response of ``angular_fwhm_deg``),
then the channeltron gain sags at high rate (pulses fall below the discriminator:
``n_det = n_true / (1 + (n_true / n_sag)^k)``), then the counting chain's dead time
(non-paralyzable ``m = n/(1+n tau)`` or paralyzable ``m = n exp(-n tau)``), then Poisson
counts of the integral of ``m`` over the gate.  The chamber pressure is
``base + gas_load_mbar * sum_l chamber flow_l / F_0``.

``geometry(theta)`` is the effective path length: ``1/sin(theta)`` times a small-angle
deviation of the effective interaction volume (:meth:`World.volume_deviation`), the
thing the argon measurement finds; the simulated apparatus file does not carry it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from foundation.clock import Clock
from foundation.dcs_table import DcsTable
from foundation.gas import Gas, shipped_gas
from simulators.gas_flow import GasLine, Tube, beam_peaking

__all__ = [
    "World", "WorldConfig", "HVChannel", "Lag", "Goniometer", "ELECTRODE_MAP", "HV_MODULES", "TUNE_LAWS",
    "LINES", "LINE_RELAYS", "GAUGE_CHANNELS", "RELAY_NEEDLE", "RELAY_SIDE_LEAK",
]

ELEMENTARY_CHARGE = 1.602176634e-19

#: high-voltage modules of the simulated apparatus: name -> (channels, nominal V, nominal A)
HV_MODULES: dict[str, tuple[int, float, float]] = {
    "hv_gun": (8, 1000.0, 1e-3),
    "hv_analyzer": (16, 1000.0, 1e-3),
    "hv_detector": (4, 4000.0, 2e-3),
}

#: named electrode -> (module, channel)
ELECTRODE_MAP: dict[str, tuple[str, int]] = {
    "cathode": ("hv_gun", 0),
    "wehnelt": ("hv_gun", 1),
    "anode": ("hv_gun", 2),
    "gun_L1": ("hv_gun", 3),
    "gun_L2": ("hv_gun", 4),
    "gun_L3": ("hv_gun", 5),
    "gun_L4": ("hv_gun", 6),
    "gun_L5": ("hv_gun", 7),
    "lens_A1": ("hv_analyzer", 0),
    "lens_A2": ("hv_analyzer", 1),
    "lens_A3": ("hv_analyzer", 2),
    "lens_A4": ("hv_analyzer", 3),
    "cyl_inner": ("hv_analyzer", 4),
    "cyl_outer": ("hv_analyzer", 5),
    "lens_B1": ("hv_analyzer", 6),
    "lens_B2": ("hv_analyzer", 7),
    "lens_B3": ("hv_analyzer", 8),
    "channeltron": ("hv_detector", 0),
}

#: tuned potential of each electrode as (slope, offset): V_opt = slope * E + offset.
#: The cathode sets the energy (E = -V_cathode); the channeltron sits on its plateau.
TUNE_LAWS: dict[str, tuple[float, float]] = {
    "cathode": (-1.0, 0.0),
    "wehnelt": (-1.0, -12.0),
    "anode": (0.8, 120.0),
    "gun_L1": (0.35, 40.0),
    "gun_L2": (-0.25, 15.0),
    "gun_L3": (0.6, 10.0),
    "gun_L4": (0.15, -5.0),
    "gun_L5": (0.0, 0.0),
    "lens_A1": (0.0, 0.0),
    "lens_A2": (0.55, 8.0),
    "lens_A3": (-0.3, 20.0),
    "lens_A4": (0.9, -4.0),
    "cyl_inner": (0.42, 0.0),
    "cyl_outer": (-0.58, 0.0),
    "lens_B1": (0.5, 3.0),
    "lens_B2": (-0.2, 12.0),
    "lens_B3": (0.3, 0.0),
    "channeltron": (0.0, 2500.0),
}

GUN_ELECTRODES = ("wehnelt", "anode", "gun_L1", "gun_L2", "gun_L3", "gun_L4", "gun_L5")
ANALYZER_ELECTRODES = (
    "lens_A1", "lens_A2", "lens_A3", "lens_A4", "cyl_inner", "cyl_outer", "lens_B1", "lens_B2", "lens_B3",
)

#: the gas lines: the sample ("target") and the argon reference
LINES = ("target", "reference")
#: relay numbers on the Numato module, per line.  needle/side: energised = open;
#: shut (the outlet, with needle and side closed) and inlet (upstream of the leak
#: valve): energised = closed
LINE_RELAYS: dict[str, dict[str, int]] = {
    "target": {"needle": 0, "side": 1, "shut": 2, "inlet": 6},
    "reference": {"needle": 3, "side": 4, "shut": 5, "inlet": 7},
}
RELAY_NEEDLE = LINE_RELAYS["target"]["needle"]
RELAY_SIDE_LEAK = LINE_RELAYS["target"]["side"]
#: gauge controller (instrument role) -> channel -> what its sensor measures
#: ("chamber" or a line's manometer), None: no sensor on that channel
GAUGE_CHANNELS: dict[str, dict[int, str | None]] = {
    "gauges": {1: "chamber", 2: "target"},
    "line_gauges": {1: "reference", 2: None},
}
#: the freeze() name of each line's manometer reading
_LINE_FREEZE = {"target": "needle_pressure", "reference": "reference_line_pressure"}
#: shipped gas of each line when WorldConfig names none
_DEFAULT_GASES = {"target": "isoflurane", "reference": "argon"}
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass
class WorldConfig:
    """Every constant of the simulated apparatus, with realistic defaults."""

    seed: int | None = None
    #: the gases of the two lines (foundation.gas.Gas); None: the shipped isoflurane / argon
    target_gas: Gas | None = None
    reference_gas: Gas | None = None
    #: the DCS tables (the world's truth); None: the gas's own ``dcs_table``
    target_dcs: str | Path | None = None
    reference_dcs: str | Path | None = None
    # beam
    filament_resistance_ohm: float = 0.55
    filament_tau_s: float = 3.0
    beam_at_2p2A_A: float = 100e-9  # about 2.2 A gives about 100 nA (at 100 eV)
    emission_slope_A: float = 0.1  # e-fold of emission per 0.1 A of filament current
    beam_max_A: float = 5e-6
    beam_drift: float = 0.02  # relative amplitude of the slow beam drift
    # gas
    base_pressure_mbar: float = 1.0e-7
    gas_load_mbar: float = 1.2e-6
    chamber_tau_s: float = 1.5
    needle_tau_s: float = 0.3  # the directed gas beam forms and vanishes faster than the chamber fills
    # gas lines (both the same build): the target line starts at needle_line_mbar, which
    # is also the nominal of the density (the target gas there through the needle: 1)
    needle_line_mbar: float = 0.30
    reference_line_mbar: float = 0.40
    reservoir_mbar: float = 20.0
    line_volume_cm3: float = 20.0
    line_temperature_K: float = 296.0
    needle_diameter_mm: float = 0.3  # needle, side entrance and bypass: the same tube
    needle_length_mm: float = 10.0
    leak_valve_full_L_s: float = 2e-5  # the leak valve's conductance fully open
    line_outgassing_mbar_s: float = 2e-6  # the base rate of a shut line
    line_drift: float = 0.004  # slow drift and depletion of the reservoirs (the lines follow)
    line_depletion_per_h: float = 0.002
    # scattering
    rate_constant_cps: float = 2.0e4  # counts/s per (100 nA) per 1e-20 m^2/sr at nominal pressure, 90 deg
    diffuse_fraction: float = 0.25
    small_angle_excess: float = 0.15  # effective volume grows by 15 % at 25 deg ...
    small_angle_length_deg: float = 6.0  # ... and this excess decays over a few degrees
    angular_fwhm_deg: float = 0.0  # the analyzer's angular response (Gaussian FWHM), 0: none
    dark_rate_cps: float = 0.5
    aperture_rate_cps: float = 3.0
    # analyzer and detector
    tune_width_fraction: float = 0.02  # transmission 1/e^0.5 when off by 2 % of |V_opt| + tune_width_V
    tune_width_V: float = 2.0
    cem_plateau_V: float = 2100.0
    cem_plateau_width_V: float = 60.0
    efficiency: float = 1.0
    cem_resistance_ohm: float = 100e6
    gain_sag_rate_cps: float = 4.0e5
    gain_sag_power: float = 6.0
    dead_time_s: float = 50e-9
    dead_time_model: str = "nonparalyzable"  # or "paralyzable"
    # channeltron pulses at the counter input: negative, Gaussian heights; the counted
    # rate is that of the pulses beyond the reference discriminator level
    cem_pulse_height_V: float = 0.05
    cem_pulse_sigma_V: float = 0.015
    cem_discriminator_V: float = 0.01
    # goniometer
    goniometer_speed_deg_s: float = 5.0
    goniometer_travel_deg: tuple[float, float] = (-10.0, 170.0)
    angle_offset_deg: float = 0.0
    # monitors
    picoammeter_noise: float = 1e-4
    gauge_noise: float = 1e-4
    # counting integration step (s): the rate is sampled this often over a gate
    integration_step_s: float = 0.5


class Lag:
    """First-order lag toward a target, evaluated exactly at any time."""

    def __init__(self, value: float, tau_s: float, t: float) -> None:
        self.tau_s = tau_s
        self._v0 = value
        self._target = value
        self._t0 = t

    def value(self, t: float) -> float:
        elapsed = t - self._t0
        if self.tau_s <= 0 or elapsed > 50.0 * self.tau_s:  # settled: exp(-50) ~ 2e-22
            return self._target
        return self._target + (self._v0 - self._target) * math.exp(-max(0.0, elapsed) / self.tau_s)

    def set_target(self, target: float, t: float) -> None:
        self._v0 = self.value(t)
        self._t0 = t
        self._target = target

    @property
    def target(self) -> float:
        return self._target


class HVChannel:
    """One high-voltage output: ramps linearly at ``ramp_V_per_s`` toward its set voltage.

    Voltages are signed.  Off means ramping toward 0 V (iseg ramps down on OFF);
    an emergency off drops the output at once.
    """

    def __init__(self, nominal_V: float, nominal_A: float, t: float) -> None:
        self.nominal_V = nominal_V
        self.nominal_A = nominal_A
        self.set_V = 0.0
        self.on = False
        self.ramp_V_per_s = 0.05 * nominal_V
        self.current_limit_A = nominal_A
        self.emergency_off = False
        self.load_ohm = 1e9  # leakage; the channeltron channel gets its strip resistance
        self._v0 = 0.0
        self._t0 = t
        self.on_change = None  # the world's hook: cached transmissions are stale after a change

    def _goal(self) -> float:
        return self.set_V if (self.on and not self.emergency_off) else 0.0

    def voltage(self, t: float) -> float:
        """Output voltage: the ramp, held where the load draws the current limit (CC)."""
        limit = self.current_limit_A * self.load_ohm
        return max(-limit, min(limit, self._ramp_voltage(t)))

    def _ramp_voltage(self, t: float) -> float:
        goal = self._goal()
        step = self.ramp_V_per_s * max(0.0, t - self._t0)
        if abs(goal - self._v0) <= step:
            return goal
        return self._v0 + math.copysign(step, goal - self._v0)

    def is_ramping(self, t: float) -> bool:
        return self._ramp_voltage(t) != self._goal()

    def settles_at(self) -> float:
        """Time at which the present ramp ends (the past if it has)."""
        if self.ramp_V_per_s <= 0:
            return math.inf if self._goal() != self._v0 else self._t0
        return self._t0 + abs(self._goal() - self._v0) / self.ramp_V_per_s

    def current(self, t: float) -> float:
        return self.voltage(t) / self.load_ohm

    def _rebase(self, t: float, clamped: bool = True) -> None:
        # a ramp starts from the output as it is (held at the current limit in CC)
        self._v0 = self.voltage(t) if clamped else self._ramp_voltage(t)
        self._t0 = t
        if self.on_change is not None:
            self.on_change()

    def set_voltage(self, volts: float, t: float) -> None:
        self._rebase(t)
        self.set_V = float(volts)

    def set_on(self, on: bool, t: float) -> None:
        self._rebase(t)
        self.on = bool(on)

    def set_ramp(self, volts_per_s: float, t: float) -> None:
        self._rebase(t)
        self.ramp_V_per_s = float(volts_per_s)

    def set_current_limit(self, amps: float, t: float) -> None:
        """Iset: above it the output holds the voltage at which the load draws it."""
        self._rebase(t, clamped=False)  # a raised limit lets the output back to the ramp at once
        self.current_limit_A = abs(float(amps))

    def trip(self, t: float) -> None:
        """Emergency off: output to 0 V at once, until cleared."""
        self.emergency_off = True
        self._v0 = 0.0
        self._t0 = t
        if self.on_change is not None:
            self.on_change()

    def clear_trip(self, t: float) -> None:
        self._rebase(t)
        self.emergency_off = False


class Goniometer:
    """The analyzer turntable: constant-speed travel, homing, stop."""

    def __init__(self, speed_deg_s: float, travel: tuple[float, float], t: float) -> None:
        self.speed = speed_deg_s
        self.travel = travel
        self.homed = False
        self._p0 = 0.0
        self._target = 0.0
        self._t0 = t
        self.homing = False

    def position(self, t: float) -> float:
        step = self.speed * max(0.0, t - self._t0)
        if abs(self._target - self._p0) <= step:
            return self._target
        return self._p0 + math.copysign(step, self._target - self._p0)

    def is_moving(self, t: float) -> bool:
        moving = self.position(t) != self._target
        if not moving and self.homing:
            self.homing = False
            self.homed = True
        return moving

    def move_to(self, target: float, t: float) -> None:
        lo, hi = self.travel
        self._p0 = self.position(t)
        self._t0 = t
        self._target = min(max(float(target), lo), hi)

    def stop(self, t: float) -> None:
        self.move_to(self.position(t), t)
        self.homing = False

    def home(self, t: float) -> None:
        self.move_to(0.0, t)
        self.homing = True


class World:
    """Shared physical state of the simulated apparatus (see module docstring)."""

    def __init__(self, clock: Clock, config: WorldConfig | None = None) -> None:
        self.clock = clock
        self.config = cfg = config or WorldConfig()
        self.lock = threading.RLock()
        self.rng = np.random.default_rng(cfg.seed)
        t = clock.now()
        self._t_start = t
        #: line -> its gas, the path of its DCS table, the table
        self.gases: dict[str, Gas] = {
            line: getattr(cfg, f"{line}_gas") or shipped_gas(_DEFAULT_GASES[line]) for line in LINES
        }
        self.dcs_paths: dict[str, Path] = {}
        for line in LINES:
            path = getattr(cfg, f"{line}_dcs") or self.gases[line].dcs_table
            if path is None:
                raise ValueError(f"the {line} gas {self.gases[line].name!r} has no dcs_table: name one in its "
                                 f"gas file or give WorldConfig.{line}_dcs")
            self.dcs_paths[line] = Path(path)
        self.dcs_tables = {line: DcsTable.from_csv(path) for line, path in self.dcs_paths.items()}
        # filament supply (Keysight E36xx): setpoints and the lagging filament temperature
        self.filament_current_set_A = 0.0
        self.filament_voltage_set_V = 0.0
        self.filament_output = False
        self._filament = Lag(0.0, cfg.filament_tau_s, t)
        # high voltage
        self.hv = {
            name: [HVChannel(nom_v, nom_a, t) for _ in range(n)] for name, (n, nom_v, nom_a) in HV_MODULES.items()
        }
        module, ch = ELECTRODE_MAP["channeltron"]
        self.hv[module][ch].load_ohm = cfg.cem_resistance_ohm
        self._hv_version = 0
        self._transmission_cache: dict[tuple[str, ...], tuple[int, float, float, float]] = {}
        for channels in self.hv.values():
            for channel in channels:
                channel.on_change = self._hv_changed
        # goniometer, valves, gas
        self.goniometer = Goniometer(cfg.goniometer_speed_deg_s, cfg.goniometer_travel_deg, t)
        self.relays = [False] * 8
        # drift phases and fault windows
        self._phase = self.rng.uniform(0, 2 * math.pi, size=4)
        self._make_lines(t)
        self._bursts: list[tuple[float, float, float]] = []
        self._beam_losses: list[tuple[float, float]] = []
        self._frozen: dict[str, float] = {}
        self._dcs_cache: dict[tuple, float] = {}

    # ------------------------------------------------------------------ helpers
    def now(self) -> float:
        return self.clock.now()

    def electrode(self, name: str) -> HVChannel:
        module, ch = ELECTRODE_MAP[name]
        return self.hv[module][ch]

    def electrode_voltage(self, name: str, t: float | None = None) -> float:
        return self.electrode(name).voltage(self.now() if t is None else t)

    @staticmethod
    def tuned_potential(name: str, energy_eV: float) -> float:
        """The potential that maximises transmission for electrode ``name`` at ``energy_eV``."""
        slope, offset = TUNE_LAWS[name]
        return slope * energy_eV + offset

    def tune_table(self, energies_eV) -> dict[str, list[float]]:
        """Exact tune rows for an apparatus file: electrode -> potentials per energy."""
        return {name: [round(self.tuned_potential(name, e), 3) for e in energies_eV] for name in TUNE_LAWS}

    def _reading(self, name: str, value: float) -> float:
        return self._frozen.get(name, value)

    # ------------------------------------------------------------------ beam
    def energy_eV(self, t: float | None = None) -> float:
        """Incident energy: filament potential below ground."""
        return max(0.0, -self.electrode_voltage("cathode", t))

    def _hv_changed(self) -> None:
        self._hv_version += 1

    def _transmission(self, names, energy: float, t: float) -> float:
        """Transmission of a set of electrodes at ``energy``, cached while the high
        voltages stand still (it is evaluated for every integration step of every
        count, and all the electrodes' ramps make it the world's costliest number)."""
        cached = self._transmission_cache.get(names)
        if cached is not None and cached[0] == self._hv_version and cached[1] == energy and t >= cached[2]:
            return cached[3]
        value = self._transmission_now(names, energy, t)
        settled = max(self.electrode(n).settles_at() for n in names)
        if t >= settled:
            self._transmission_cache[names] = (self._hv_version, energy, settled, value)
        return value

    def _transmission_now(self, names, energy: float, t: float) -> float:
        cfg = self.config
        exponent = 0.0
        for name in names:
            opt = self.tuned_potential(name, energy)
            width = cfg.tune_width_fraction * abs(opt) + cfg.tune_width_V
            exponent += ((self.electrode_voltage(name, t) - opt) / width) ** 2
        return math.exp(-0.5 * exponent)

    def filament_current_A(self, t: float | None = None) -> float:
        """Current through the filament (CC limited by the voltage setting)."""
        if not self.filament_output:
            return 0.0
        return min(self.filament_current_set_A, self.filament_voltage_set_V / self.config.filament_resistance_ohm)

    def _update_filament(self) -> None:
        self._filament.set_target(self.filament_current_A(), self.now())

    def set_filament(self, *, current_A: float | None = None, voltage_V: float | None = None, output: bool | None = None) -> None:
        with self.lock:
            if current_A is not None:
                self.filament_current_set_A = float(current_A)
            if voltage_V is not None:
                self.filament_voltage_set_V = float(voltage_V)
            if output is not None:
                self.filament_output = bool(output)
            self._update_filament()

    def filament_voltage_V(self) -> float:
        return self.filament_current_A() * self.config.filament_resistance_ohm

    def beam_current_A(self, t: float | None = None) -> float:
        """Electron beam current reaching the interaction region and the Faraday cup."""
        t = self.now() if t is None else t
        cfg = self.config
        energy = self.energy_eV(t)
        heat = self._filament.value(t)
        if energy < 1.0 or heat < 1.0:
            return 0.0
        for start, stop in self._beam_losses:
            if start <= t < stop:
                return 0.0
        emission = cfg.beam_at_2p2A_A * math.exp((heat - 2.2) / cfg.emission_slope_A) * (energy / 100.0) ** 0.3
        emission = min(emission, cfg.beam_max_A)
        hours = (t - self._t_start) / 3600.0
        drift = 1 + cfg.beam_drift * (
            math.sin(2 * math.pi * hours / 1.5 + self._phase[0]) + 0.5 * math.sin(2 * math.pi * hours / 0.37 + self._phase[1])
        )
        return emission * drift * self._transmission(GUN_ELECTRODES, energy, t)

    def faraday_current_A(self, t: float | None = None) -> float:
        """Picoammeter reading on the Faraday cup at ``t`` (default now): electrons arrive, so negative."""
        with self.lock:
            i = self.beam_current_A(t)
            noisy = -i * (1 + self.config.picoammeter_noise * self.rng.standard_normal()) + 2e-14 * self.rng.standard_normal()
            return self._reading("beam_current", noisy)

    # ------------------------------------------------------------------ gas
    def _make_lines(self, t: float) -> None:
        cfg = self.config
        tube = Tube(cfg.needle_diameter_mm * 1e-3, cfg.needle_length_mm * 1e-3)
        initial = {"target": cfg.needle_line_mbar, "reference": cfg.reference_line_mbar}
        phases = {"target": self._phase[2], "reference": self._phase[3]}
        self.lines: dict[str, GasLine] = {}
        self._states: list[_LineState] = []
        for name in LINES:
            line = GasLine(
                name, self.gases[name], t,
                volume_m3=cfg.line_volume_cm3 * 1e-6, temperature_K=cfg.line_temperature_K,
                reservoir_Pa=cfg.reservoir_mbar * 100.0, tube=tube, leak_full_m3_s=cfg.leak_valve_full_L_s * 1e-3,
                outgassing_Pa_s=cfg.line_outgassing_mbar_s * 100.0, initial_Pa=initial[name] * 100.0,
                reservoir_factor=self._reservoir_drift(phases[name]),
            )
            self.lines[name] = line
            self._states.append(_LineState(name, line, Lag(0.0, cfg.needle_tau_s, t), Lag(0.0, cfg.chamber_tau_s, t)))
        # normalisation: the target gas at needle_line_mbar through the needle gives 1
        target = self.lines["target"]
        p0 = cfg.needle_line_mbar * 100.0
        self.nominal_flow = target.outlet_flow(p0)  # molecules/s
        diffuse0 = self.nominal_flow / target.mean_speed
        beam0 = diffuse0 * beam_peaking(target.knudsen(p0))
        for state in self._states:
            state.beam_scale = 1.0 / (state.line.mean_speed * beam0)
            state.diffuse_scale = 1.0 / (state.line.mean_speed * diffuse0)
        by_name = {state.name: state for state in self._states}
        self._needle_flow = by_name["target"].needle_lag  # the target line's lags, as before the two lines
        self._gas_load = by_name["target"].chamber_lag
        self._line_state = by_name

    def _reservoir_drift(self, phase: float):
        """The reservoir's slow drift and depletion, relative to its pressure at the start."""
        cfg, t_start = self.config, self._t_start
        start = 1 + cfg.line_drift * math.sin(phase)

        def factor(t: float) -> float:
            hours = (t - t_start) / 3600.0
            drift = 1 + cfg.line_drift * math.sin(2 * math.pi * hours / 0.8 + phase)
            return (1 - cfg.line_depletion_per_h * hours) * drift / start

        return factor

    def _line(self, line: str) -> GasLine:
        try:
            return self.lines[line]
        except KeyError:
            raise ValueError(f"unknown gas line {line!r}: one of {', '.join(LINES)}") from None

    def set_relay(self, n: int, on: bool) -> None:
        with self.lock:
            self.relays[n] = bool(on)
            t = self.now()
            for state in self._states:
                relays = LINE_RELAYS[state.name]
                if n not in relays.values():
                    continue
                needle, side = self.relays[relays["needle"]], self.relays[relays["side"]]
                state.line.set_valves(t, needle=needle, side=side, shut=self.relays[relays["shut"]],
                                      inlet_closed=self.relays[relays["inlet"]])
                state.needle_lag.set_target(1.0 if needle else 0.0, t)
                state.chamber_lag.set_target(float(needle) + float(side), t)

    def set_leak_valve(self, line: str, opening: float) -> None:
        """Turn the manual leak valve of ``line`` to ``opening`` (0 closed .. 1 open)."""
        with self.lock:
            self._line(line).set_leak_valve(opening, self.now())

    def leak_valve(self, line: str) -> float:
        """The present opening of the leak valve of ``line``."""
        return self._line(line).opening

    def leak_valve_for(self, line: str, p_mbar: float, outlets: int = 1) -> float:
        """The model's opening that holds ``p_mbar`` steady in ``line`` through ``outlets``
        open outlets, the reservoir as now (above 1: beyond the valve's reach)."""
        return self._line(line).opening_for(p_mbar * 100.0, self.now(), outlets)

    def line_pressure_mbar(self, line: str, t: float | None = None) -> float:
        """True pressure in ``line`` (mbar) at ``t`` (default now)."""
        with self.lock:  # the line's pressure grid grows as it is read
            return self._line(line).pressure(self.now() if t is None else t) / 100.0

    def needle_line_mbar(self, t: float | None = None) -> float:
        """Pressure behind the gas needle of the target line (its capacitance manometer)."""
        with self.lock:
            return self.lines["target"].pressure(self.now() if t is None else t) / 100.0

    def line_flow(self, line: str, t: float | None = None) -> float:
        """Molecules/s through one open outlet of ``line`` at its pressure at ``t``."""
        ln = self._line(line)
        with self.lock:
            return ln.outlet_flow(ln.pressure(self.now() if t is None else t))

    def needle_density(self, line: str, t: float | None = None) -> float:
        """The directed-beam density of ``line`` in the interaction region (1: the target
        gas at ``needle_line_mbar`` through the needle)."""
        with self.lock:
            return self._densities(self._line_state[self._line(line).name], self.now() if t is None else t)[0]

    def diffuse_density(self, line: str, t: float | None = None) -> float:
        """The diffuse (chamber) density of ``line``, same unit."""
        with self.lock:
            return self._densities(self._line_state[self._line(line).name], self.now() if t is None else t)[1]

    def _densities(self, state: "_LineState", t: float) -> tuple[float, float, float]:
        """(beam, diffuse, chamber flow / nominal flow) of one line at ``t``."""
        needle = state.needle_lag.value(t)
        chamber = state.chamber_lag.value(t)
        if needle < 1e-12 and chamber < 1e-12:
            return 0.0, 0.0, 0.0
        line = state.line
        p = line.pressure(t)
        flow = line.outlet_flow(p)
        beam = needle * flow * state.beam_scale * beam_peaking(line.knudsen(p)) if needle >= 1e-12 else 0.0
        chamber_flow = chamber * flow
        return beam, chamber_flow * state.diffuse_scale, chamber_flow / self.nominal_flow

    def _burst_mbar(self, t: float) -> float:
        total = 0.0
        for start, duration, peak in self._bursts:
            if start <= t < start + duration:
                total += peak
            elif t >= start + duration:
                total += peak * math.exp(-(t - start - duration) / self.config.chamber_tau_s)
        return total

    def chamber_mbar(self, t: float | None = None) -> float:
        t = self.now() if t is None else t
        cfg = self.config
        with self.lock:
            flow = sum(self._densities(state, t)[2] for state in self._states)
        return cfg.base_pressure_mbar + cfg.gas_load_mbar * flow + self._burst_mbar(t)

    def chamber_gauge_mbar(self) -> float:
        with self.lock:
            p = self.chamber_mbar() * (1 + self.config.gauge_noise * self.rng.standard_normal())
            return self._reading("chamber_pressure", p)

    def line_gauge_mbar(self, line: str) -> float:
        """The capacitance manometer of ``line``: its pressure with the gauge's noise."""
        with self.lock:
            p = self.line_pressure_mbar(line) * (1 + self.config.gauge_noise * self.rng.standard_normal())
            return self._reading(_LINE_FREEZE[line], p)

    def needle_gauge_mbar(self) -> float:
        return self.line_gauge_mbar("target")

    def gauge_sensors(self, controller: str) -> dict[int, str | None]:
        """What each channel of gauge controller ``controller`` measures (:data:`GAUGE_CHANNELS`)."""
        try:
            return dict(GAUGE_CHANNELS[controller])
        except KeyError:
            raise ValueError(f"unknown gauge controller {controller!r}: one of {', '.join(GAUGE_CHANNELS)}") from None

    def gauge_readers(self, controller: str):
        """Channel -> the reading function (mbar) of controller ``controller``'s sensor,
        None where the channel has no sensor."""
        readers = {}
        for channel, what in self.gauge_sensors(controller).items():
            if what is None:
                readers[channel] = None
            elif what == "chamber":
                readers[channel] = self.chamber_gauge_mbar
            else:
                readers[channel] = lambda line=what: self.line_gauge_mbar(line)
        return readers

    # ------------------------------------------------------------------ detector
    def scattering_angle_deg(self, t: float | None = None) -> float:
        t = self.now() if t is None else t
        return self.goniometer.position(t) + self.config.angle_offset_deg

    def geometry(self, angle_deg: float) -> float:
        """Effective path length factor (1 at 90 deg)."""
        cfg = self.config
        s = abs(math.sin(math.radians(angle_deg)))
        excess = 1 + cfg.small_angle_excess * math.exp(-(angle_deg - 25.0) / cfg.small_angle_length_deg)
        return excess / max(s, 0.05)

    def volume_deviation(self, angle_deg: float) -> float:
        """The effective volume's deviation V(theta) from 1/sin(theta): ``sin(theta) *
        geometry(theta)`` away from 0 and 180 deg (1 at large angles, 1 + excess at 25 deg)."""
        cfg = self.config
        return 1 + cfg.small_angle_excess * math.exp(-(angle_deg - 25.0) / cfg.small_angle_length_deg)

    def effective_volume_correction(self, angle_deg: float) -> float:
        """``1/V(theta)``: the factor that makes the relative DCS exact under the reduction
        ``rel_dcs = net rate / nA / mbar * sin(theta) * factor`` (for tests that isolate
        other physics; the simulated apparatus file does not carry it by default)."""
        return 1.0 / self.volume_deviation(angle_deg)

    def _dcs(self, line: str, energy: float, angle: float) -> float:
        key = (line, round(energy, 3), round(angle, 4))
        value = self._dcs_cache.get(key)
        if value is None:
            table = self.dcs_tables[line]
            fwhm = self.config.angular_fwhm_deg
            value = float(table(energy, angle)) if fwhm <= 0 else _convolved(table, energy, angle, fwhm)
            if len(self._dcs_cache) > 100000:
                self._dcs_cache.clear()
            self._dcs_cache[key] = value
        return value

    def cem_efficiency(self, t: float) -> float:
        cfg = self.config
        v = abs(self.electrode_voltage("channeltron", t))
        return cfg.efficiency / (1 + math.exp(-(v - cfg.cem_plateau_V) / cfg.cem_plateau_width_V))

    def true_rate(self, t: float | None = None) -> float:
        """Rate of electrons reaching the channeltron (before gain sag and dead time)."""
        t = self.now() if t is None else t
        cfg = self.config
        eta = self.cem_efficiency(t)
        if eta < 1e-9:
            return 0.0
        beam = self.beam_current_A(t) / 100e-9
        energy = self.energy_eV(t)
        angle = self.scattering_angle_deg(t)
        if beam <= 0 or energy < 1:
            return cfg.dark_rate_cps * eta
        beam_term = diffuse_term = 0.0
        with self.lock:  # the lines' pressure grids grow as they are read
            for state in self._states:
                needle, diffuse, _ = self._densities(state, t)
                if needle or diffuse:
                    dcs = self._dcs(state.name, energy, angle)
                    beam_term += dcs * needle
                    diffuse_term += dcs * diffuse
        burst = self._burst_mbar(t) if self._bursts else 0.0
        if burst:  # a burst of the target gas (outgassing, a valve slip)
            diffuse_term += self._dcs("target", energy, angle) * burst / cfg.gas_load_mbar
        sin = max(abs(math.sin(math.radians(angle))), 0.05)
        transmission = self._transmission(ANALYZER_ELECTRODES, energy, t)
        path = beam_term * self.geometry(angle) + cfg.diffuse_fraction * diffuse_term / sin
        scattered = cfg.rate_constant_cps * beam * path * transmission
        return (scattered + cfg.aperture_rate_cps * beam * transmission + cfg.dark_rate_cps) * eta

    def detected_rate(self, n_true: float) -> float:
        """Pulses above the discriminator: the channeltron gain sags at high rate."""
        cfg = self.config
        return n_true / (1 + (n_true / cfg.gain_sag_rate_cps) ** cfg.gain_sag_power)

    def pulse_fraction(self, level_V: float) -> float:
        """Fraction of the counted pulses that cross a counter threshold at ``level_V``.

        The pulses are negative: a level at or above 0 V is never crossed; a level
        between 0 V and the reference discriminator crosses no more pulses than are
        counted (the world has no noise or small pulses below it)."""
        if level_V >= 0.0:
            return 0.0
        cfg = self.config

        def beyond(v: float) -> float:
            return 0.5 * math.erfc((v - cfg.cem_pulse_height_V) / (cfg.cem_pulse_sigma_V * math.sqrt(2.0)))

        return min(1.0, beyond(-level_V) / beyond(cfg.cem_discriminator_V))

    def counted_rate(self, n_detected: float) -> float:
        """What the counter records after the chain's dead time."""
        tau = self.config.dead_time_s
        if self.config.dead_time_model == "paralyzable":
            return n_detected * math.exp(-n_detected * tau)
        return n_detected / (1 + n_detected * tau)

    def measured_rate(self, t: float | None = None) -> float:
        """Expected counter rate at ``t``: true rate, gain sag, dead time."""
        return self.counted_rate(self.detected_rate(self.true_rate(t)))

    def expected_counts(self, t0: float, t1: float) -> float:
        """Integral of the measured rate over [t0, t1] (midpoint rule, step ``integration_step_s``)."""
        if t1 <= t0:
            return 0.0
        n = max(1, min(400, math.ceil((t1 - t0) / self.config.integration_step_s)))
        dt = (t1 - t0) / n
        return sum(self.measured_rate(t0 + (i + 0.5) * dt) for i in range(n)) * dt

    def detector_counts(self, t0: float, t1: float) -> int:
        """Channeltron pulses counted over [t0, t1]: Poisson around the expected count."""
        with self.lock:
            return int(self.rng.poisson(self.expected_counts(t0, t1)))

    # ------------------------------------------------------------------ faults
    def pressure_burst(self, peak_mbar: float, duration_s: float, start: float | None = None) -> None:
        """A chamber pressure burst (outgassing, a valve slip): ``peak_mbar`` for ``duration_s``."""
        with self.lock:
            self._bursts.append((self.now() if start is None else start, duration_s, peak_mbar))

    def beam_loss(self, duration_s: float, start: float | None = None) -> None:
        """No beam for ``duration_s`` (filament flicker, an arc in the gun)."""
        with self.lock:
            start = self.now() if start is None else start
            self._beam_losses.append((start, start + duration_s))

    def freeze(self, quantity: str, value: float | None = None) -> None:
        """Freeze a reading (``beam_current``, ``chamber_pressure``, ``needle_pressure`` (the
        target line's manometer), ``reference_line_pressure``) at its present value (or
        ``value``): a stuck sensor."""
        readers = {
            "beam_current": lambda: -self.beam_current_A(),
            "chamber_pressure": self.chamber_mbar,
            "needle_pressure": self.needle_line_mbar,
            "reference_line_pressure": lambda: self.line_pressure_mbar("reference"),
        }
        if quantity not in readers:
            raise ValueError(f"cannot freeze {quantity!r}: one of {sorted(readers)}")
        with self.lock:
            self._frozen[quantity] = readers[quantity]() if value is None else value

    def unfreeze(self, quantity: str | None = None) -> None:
        with self.lock:
            if quantity is None:
                self._frozen.clear()
            else:
                self._frozen.pop(quantity, None)


@dataclass(eq=False)
class _LineState:
    """A gas line as the world sees it: the line, the lags of its gas beam and of its
    chamber gas, and the scales that turn its flow into the relative densities."""

    name: str
    line: GasLine
    needle_lag: Lag
    chamber_lag: Lag
    beam_scale: float = 0.0
    diffuse_scale: float = 0.0


_CONVOLUTION_STEP_DEG = 0.05
_CONVOLUTION_HALF_WIDTH_SIGMAS = 5.0


def _convolved(table: DcsTable, energy: float, angle: float, fwhm_deg: float) -> float:
    """The table at ``angle`` averaged over a Gaussian response of ``fwhm_deg`` (reflected
    at 0 and 180 deg, a polar angle), on a grid of 0.05 deg over +-5 sigma: the same
    recipe as the analysis's convolved reference, so its argon factors are exact."""
    sigma = fwhm_deg / _FWHM_PER_SIGMA
    offsets = np.arange(-_CONVOLUTION_HALF_WIDTH_SIGMAS * sigma,
                        _CONVOLUTION_HALF_WIDTH_SIGMAS * sigma + _CONVOLUTION_STEP_DEG / 2, _CONVOLUTION_STEP_DEG)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    where = np.abs(angle + offsets)
    where = np.where(where > 180.0, 360.0 - where, where)
    return float(np.asarray(table(energy, where), dtype=float) @ kernel)
