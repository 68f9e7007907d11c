"""The apparatus: drivers composed into the operations an experiment is made of.

Set energy (apply the tune, ramping electrodes in a safe order and waiting for their
readbacks), move to angle, select the gas path (needle, side leak, closed) and let
the pressures settle, count for a gate in sub-gates, read the monitors, go to a safe
state.  Nothing here knows about scans; the engine decides what to do and when.

``Apparatus`` takes already-built drivers (real or fake) keyed by role;
:func:`connect` builds them from an :class:`~acquisition.config.ApparatusConfig`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from acquisition.events import ApparatusStatus, ElectrodeReading, LineReading
from acquisition.roles import Counter, FilamentSupply, GaugeController, Goniometer, HVModule, Picoammeter, ValveRelays
from foundation.clock import Clock

__all__ = ["KEEP_READY", "SAFE", "SHUTDOWN", "Apparatus", "ApparatusUnreachable", "EndState", "MonitorReading", "GAS_PATHS", "connect", "build_driver"]

log = logging.getLogger(__name__)

#: where a gas line sends its gas: the needle (signal), the side entrance (the same gas
#: load, background), closed (away from the chamber through the line's bypass to the
#: pump: its pressure stays), shut (the bypass shut too: the pressure rises at the rate
#: of the flow that was passing), sealed (shut and the inlet closed: the base rate)
GAS_PATHS = ("needle", "side_leak", "closed", "shut", "sealed")


@dataclass(frozen=True)
class MonitorReading:
    """Slow monitors at one moment: beam current (positive, A) and the two pressures."""

    t: float
    beam_current_A: float
    chamber_mbar: float
    needle_mbar: float


@dataclass(frozen=True)
class EndState:
    """What the apparatus is left in when a run ends: the caller's policy.

    The default is the safe state of a single run: channeltron high voltage off, gas
    closed, filament left hot (it takes minutes to stabilise; the next run wants it).
    A queue between items keeps the channeltron on (``channeltron_off=False``); the end
    of a night ramps the filament down too (``filament_down=True``).  A run that is
    aborted or fails always ends at least safe (:meth:`at_least_safe`)."""

    channeltron_off: bool = True
    close_gas: bool = True
    filament_down: bool = False
    #: every electrode but the channeltron ramped to its standby potential
    #: (:meth:`Apparatus.electrodes_to_standby`): the end of a queue, an unattended fault
    electrodes_standby: bool = False

    def at_least_safe(self) -> EndState:
        return replace(self, channeltron_off=True, close_gas=True)


#: how often an end-state step is tried when it fails on a transient link fault
END_STATE_ATTEMPTS = 4

#: the end of a single run: channeltron off, gas closed, filament hot
SAFE = EndState()
#: between the items of a queue: gas closed, channeltron left on its plateau
KEEP_READY = EndState(channeltron_off=False)
#: the end of a night: everything down, electrodes to standby, filament included
SHUTDOWN = EndState(filament_down=True, electrodes_standby=True)


def standby_potentials(config) -> dict[str, float]:
    """Electrode -> its standby potential: 0 V, or the configured limit nearest 0 V for
    an electrode whose range excludes it (never a value outside its limits).  The
    channeltron is not among them (it has its own switch)."""
    cem = config.detector.channeltron_electrode
    return {name: min(max(0.0, e.min_V), e.max_V) for name, e in config.electrodes.items() if name != cem}


def path_from_relays(line, relays) -> str | None:
    """The path a line's relay states mean (None: an impossible mix, needle and side
    open together)."""
    def on(relay):
        return relay is not None and relay < len(relays) and bool(relays[relay])

    needle, side = on(line.needle_relay), on(line.side_relay)
    if needle and side:
        return None
    if needle or side:
        return "needle" if needle else "side_leak"
    if on(line.shut_relay):
        return "sealed" if on(line.inlet_relay) else "shut"
    return "closed"


def build_driver(
    model: str,
    address: str,
    *,
    clock: Clock,
    visa_backend: str = "@py",
    timeout_s: float | None = None,
    name: str | None = None,
    **options,
):
    """Construct the driver for ``model`` (the names apparatus files use)."""
    from drivers import driver_class

    cls = driver_class(model)
    return cls(address, visa_backend=visa_backend, timeout_s=timeout_s, clock=clock, name=name, **options)


class ApparatusUnreachable(RuntimeError):
    """One or more instruments of the apparatus file did not connect or identify:
    nothing was moved or heated.  ``problems``: one line per instrument."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("instruments not reachable (nothing was moved or heated): " + "; ".join(problems))


def connect(config, clock: Clock, *, identify: bool = True) -> Apparatus:
    """Open every instrument of an apparatus config (electrodes go to their HV modules)
    and, with ``identify``, ask each for its identity: an address that opens but does not
    answer must be found before the first command that moves or heats anything.

    Every instrument is tried; :class:`ApparatusUnreachable` lists each that failed."""
    from drivers.base import Electrode
    from drivers.errors import InstrumentError

    drivers: dict[str, Any] = {}
    problems: list[str] = []
    for name, inst in config.instruments.items():
        options = dict(inst.options)
        if name in config.hv_modules:
            options["electrodes"] = {
                e_name: Electrode(e.channel, e.min_V, e.max_V, e.ramp_V_per_s, e.tolerance_V)
                for e_name, e in config.electrodes.items()
                if e.module == name
            }
        try:
            driver = build_driver(
                inst.model,
                inst.address,
                clock=clock,
                visa_backend=inst.visa_backend,
                timeout_s=inst.timeout_s,
                name=f"{name} ({inst.model})",
                **options,
            )
        except InstrumentError as exc:
            problems.append(str(exc))
            continue
        drivers[name] = driver
        if identify:
            try:
                driver.identity()
            except InstrumentError as exc:
                problems.append(str(exc))
    if problems:
        for d in drivers.values():
            d.close()
        raise ApparatusUnreachable(problems)
    return Apparatus(config, drivers, clock)


class Apparatus:
    """Operations on the apparatus (see module docstring)."""

    def __init__(self, config, drivers: dict[str, Any], clock: Clock) -> None:
        self.config = config
        self.drivers = drivers
        self.clock = clock
        # by role (acquisition.roles states what each must do)
        self.gauges: GaugeController = drivers["gauges"]
        self.filament: FilamentSupply = drivers["filament"]
        self.goniometer: Goniometer = drivers["goniometer"]
        self.counter: Counter = drivers["counter"]
        self.picoammeter: Picoammeter = drivers["picoammeter"]
        self.valves: ValveRelays = drivers["valves"]
        self.hv_modules: dict[str, HVModule] = {n: d for n, d in drivers.items() if n in config.hv_modules}
        self.energy_eV: float | None = None
        self.angle_deg: float | None = None  #: the nominal angle the analyzer was last sent to
        self.angle_readback_deg: float | None = None  #: where the controller said it stopped
        #: line -> the path it was last sent to (None: unknown, as after connecting)
        self.gas_paths: dict[str, str | None] = {name: None for name in config.gas_lines}
        #: the line whose gas the running procedure measures (its pressure is the monitors'
        #: "needle" pressure while no line is on the needle: a background gate)
        self.measured_line = "target"
        #: the gauge controllers by instrument name (the lines' manometers may sit on either)
        self._gauge_drivers = {name: drivers[name] for name in ("gauges", "line_gauges") if name in drivers}
        det = config.detector
        self._cem_name = det.channeltron_electrode
        self._cem_module = self.hv_modules[config.electrodes[self._cem_name].module]

    # ------------------------------------------------------------------ operations
    def configure_monitors(self) -> None:
        """Make the slow monitors readable: the picoammeter set up for the Faraday cup
        (zero check off, range, integration).  Moves and heats nothing."""
        self.picoammeter.configure_for_beam()

    def refresh_states(self) -> None:
        """Ask every instrument again for the state its driver remembers (the 6485's zero
        check, the gauge unit): at the start of every run and resume, the instruments
        may have been power-cycled or touched since the last one."""
        for driver in self.drivers.values():
            driver.refresh_state()

    def prepare(self) -> None:
        """Bring the apparatus up for a run: monitors configured, goniometer referenced,
        filament heated in steps, channeltron on its plateau."""
        self.refresh_states()
        self.configure_monitors()
        state = self.goniometer.state()
        if not state.referenced:
            log.info("goniometer not referenced: homing")
            self.goniometer.home()
        # the ramp switches an off output on at 0 A itself: switching on here would put
        # a cold filament straight onto whatever setpoint was left in the supply
        self.ramp_filament(self.config.beam.filament_current_A)
        self.channeltron_on()

    def set_energy(self, energy_eV: float) -> None:
        """Apply the tune for ``energy_eV``: every step of :meth:`tune_steps` in order."""
        for _what, step in self.tune_steps(energy_eV):
            step()

    def tune_steps(self, energy_eV: float) -> list[tuple[str, Callable[[], Any]]]:
        """The tune for ``energy_eV`` as separate steps, one ramp per HV module, so that
        a caller retrying a transient fault retries the step, not the whole tune.

        Safe order: the analyzer first (it then passes nothing until the beam arrives
        at the new energy, so the channeltron never sees a mistuned flood), then the
        gun with its cathode, whose potential *is* the energy.  Every ramp waits until
        the readbacks are within tolerance.  The energy is known only after the last
        step; an energy the tune table does not cover raises here, before any step."""
        potentials = self.config.tune.potentials_at(energy_eV)
        electrodes = self.config.electrodes
        gun_modules = {electrodes["cathode"].module} if "cathode" in electrodes else set()
        by_module: dict[str, dict[str, float]] = {}
        # analyzer modules first, then the gun's: dicts keep this insertion order
        for gun in (False, True):
            for name, volts in potentials.items():
                module = electrodes[name].module
                if (module in gun_modules) == gun:
                    by_module.setdefault(module, {})[name] = volts

        def unknown() -> None:
            self.energy_eV = None  # a tune interrupted halfway is at no energy

        def reached() -> None:
            self.energy_eV = float(energy_eV)

        steps: list[tuple[str, Callable[[], Any]]] = [("start the tune", unknown)]
        for module, group in by_module.items():
            steps.append((f"ramp {module} ({', '.join(group)})", partial(self.hv_modules[module].ramp_to, group)))
        steps.append((f"tuned for {energy_eV:g} eV", reached))
        return steps

    def move_to(self, angle_deg: float) -> float:
        """Turn the analyzer to ``angle_deg``; returns the position the controller
        reports at the end of the move (a miss beyond the driver's tolerance raises).

        ``angle_deg`` becomes the nominal angle of the scan and ``angle_readback_deg``
        the measured one, which the gates record."""
        self.angle_deg = self.angle_readback_deg = None  # unknown until the move has ended well
        readback = float(self.goniometer.move_to(angle_deg))
        self.angle_deg, self.angle_readback_deg = float(angle_deg), readback
        return readback

    def home(self) -> None:
        """Reference the goniometer (a home search unless it is referenced already)."""
        self.goniometer.home()
        self.angle_deg = self.angle_readback_deg = None

    def stop_motion(self) -> None:
        """Stop the goniometer where it is; the angle is unknown until the next move."""
        self.goniometer.stop()
        self.angle_deg = self.angle_readback_deg = None

    def ramp_filament(self, current_A: float) -> float:
        """Filament current to ``current_A`` in the configured steps; returns the readback.

        Heating sets the compliance voltage to its configured limit first: a supply in
        constant current regulates nothing with a voltage limit of 0 V (as after *RST),
        and a hand ramp must heat the way a run's does."""
        beam = self.config.beam
        if current_A > 0:
            self.filament.voltage = beam.filament_voltage_limit_V
        return self.filament.ramp_current_to(current_A, step_A=beam.filament_step_A,
                                             step_delay_s=beam.filament_step_delay_s)

    @property
    def gas_path(self) -> str | None:
        """The target line's path (the only line of a DCS run)."""
        return self.gas_paths.get("target")

    def select_gas(self, path: str, settle_s: float | None = None, *, line: str = "target") -> None:
        """Route one line's gas (:data:`GAS_PATHS`) and wait; see :meth:`route_gas`."""
        self.route_gas({line: path}, settle_s)

    def route_gas(self, paths: Mapping[str, str], settle_s: float | None = None) -> None:
        """Route each named line (``{"target": "needle", "reference": "side_leak"}``),
        then wait ``settle_s`` (default: the gas line's) and for the chamber pressure.

        Every valve that closes switches before any that opens, so two paths of a line
        are never open together (that would double its gas load for a moment).  A
        path a line has no valve for (``shut`` without a shut relay) is refused before
        any valve moves."""
        lines = self.config.gas_lines
        closing: list[tuple[int, bool]] = []
        opening: list[tuple[int, bool]] = []
        for name, path in paths.items():
            if path not in GAS_PATHS:
                raise ValueError(f"gas path {path!r}: allowed {', '.join(GAS_PATHS)}")
            if name not in lines:
                raise ValueError(f"gas line {name!r}: the apparatus has {', '.join(lines)}")
            line = lines[name]
            if path in ("shut", "sealed") and line.shut_relay is None:
                raise ValueError(f"gas line {name!r} has no shut_relay: it cannot be shut for a rate of rise")
            if path == "sealed" and line.inlet_relay is None:
                raise ValueError(f"gas line {name!r} has no inlet_relay: it cannot be sealed for a base rate")
            # (relay, energised): needle and side open when energised, shut and inlet close
            for relay, on, closes in (
                (line.needle_relay, path == "needle", path != "needle"),
                (line.side_relay, path == "side_leak", path != "side_leak"),
                (line.shut_relay, path in ("shut", "sealed"), path in ("shut", "sealed")),
                (line.inlet_relay, path == "sealed", path == "sealed"),
            ):
                if relay is not None:
                    (closing if closes else opening).append((relay, on))
        for name in paths:
            self.gas_paths[name] = None  # unknown until every valve has switched
        for relay, on in closing + opening:
            (self.valves.relay_on if on else self.valves.relay_off)(relay)
        self.gas_paths.update(paths)
        gl = self.config.gas_line
        self.clock.sleep(gl.settle_s if settle_s is None else settle_s)
        if settle_s != 0.0:
            self.wait_pressure_settled()

    def read_line_pressure(self, line: str) -> float:
        """The line's capacitance manometer (mbar)."""
        cfg = self.config.gas_lines[line]
        return float(self._gauge_drivers[cfg.gauge].pressure(cfg.gauge_channel).value_mbar)

    def needle_line(self) -> str:
        """The line whose gas goes through the needle now; with none on the needle, the
        procedure's own line (:attr:`measured_line`: a background gate is normalised
        to the pressure of the gas it measures, not to another line's)."""
        for name, path in self.gas_paths.items():
            if path == "needle":
                return name
        return self.measured_line if self.measured_line in self.config.gas_lines else "target"

    def wait_pressure_settled(self, *, tolerance: float = 0.02, interval_s: float = 1.0, max_wait_s: float = 60.0) -> bool:
        """After a valve change: wait until two chamber readings ``interval_s`` apart
        differ by less than ``tolerance`` (relative), at most ``max_wait_s``.

        The fixed settle time covers a healthy gas line; this catches a slow one (a
        sticking valve, a long line) instead of counting on a drifting target density.
        Returns False (and logs a warning) if the pressure never settled.
        """
        previous = self.gauges.pressure(self.config.gas_line.chamber_gauge_channel).value_mbar
        waited = 0.0
        while waited < max_wait_s:
            self.clock.sleep(interval_s)
            waited += interval_s
            now = self.gauges.pressure(self.config.gas_line.chamber_gauge_channel).value_mbar
            if abs(now - previous) <= tolerance * max(abs(now), abs(previous)):
                return True
            previous = now
        log.warning("chamber pressure still changing %.0f s after the valve change (%.3g mbar)", max_wait_s, previous)
        return False

    def read_monitors(self) -> MonitorReading:
        """Beam current, chamber pressure and the pressure behind the needle: the
        manometer of the line whose gas goes through it (one PRX query when that is the
        target line on the gauge controller's second channel, as in a DCS run)."""
        chamber, target = self.gauges.pressures()  # PRX: channel 1 chamber, channel 2 target line
        line = self.config.gas_lines.get(self.needle_line())
        if line is None or (line.gauge == "gauges" and line.gauge_channel == 2):
            needle = target.value_mbar
        else:
            needle = self.read_line_pressure(line.name)
        beam = abs(self.picoammeter.read_current())
        return MonitorReading(self.clock.now(), beam, chamber.value_mbar, needle)

    def set_electrode(self, name: str, volts: float) -> None:
        """One electrode to ``volts``, ramped at its own rate and within its configured
        limits (the driver refuses anything else before sending).  The channeltron has
        its own switch (:meth:`channeltron_on`); setting the cathode changes the energy,
        which is then unknown until the next full tune."""
        electrodes = self.config.electrodes
        if name not in electrodes:
            raise ValueError(f"electrode {name!r}: allowed {', '.join(electrodes)}")
        if name == self._cem_name:
            raise ValueError(f"{name} is the channeltron: switch it with channeltron on/off")
        if name == "cathode":
            self.energy_eV = None
        self.hv_modules[electrodes[name].module].ramp_to({name: float(volts)})

    def read_status(self) -> tuple[ApparatusStatus, dict[str, str | None]]:
        """Read everything the instrument panel shows: the status and, per instrument,
        None if it answered or the error text if it did not (its quantities are then
        NaN).  Moves and switches nothing; every instrument is asked even if one fails."""
        from drivers.errors import InstrumentError

        nan = float("nan")
        health: dict[str, str | None] = {}

        def ask(instrument: str, fn: Callable[[], Any], default: Any) -> Any:
            try:
                value = fn()
            except InstrumentError as exc:
                health[instrument] = str(exc)
                return default
            health.setdefault(instrument, None)
            return value

        # the apparatus file names each role's instrument by the role ("gauges", ...)
        monitors = ask("gauges", self.gauges.pressures, None)
        chamber, needle = (monitors[0].value_mbar, monitors[1].value_mbar) if monitors else (nan, nan)
        beam = abs(ask("picoammeter", self.picoammeter.read_current, nan))
        fil, goniometer = "filament", "goniometer"
        state = ask(goniometer, self.goniometer.state, None)
        relays = ask("valves", self.valves.states, None)
        target = self.config.gas_lines.get("target")
        gas = path_from_relays(target, relays) if relays is not None and target is not None else None
        lines = []
        for line in self.config.gas_lines.values():
            if line.gauge == "gauges" and line.gauge_channel == 2:  # read with the chamber gauge above
                pressure = needle
            else:
                pressure = ask(line.gauge, lambda n=line.name: self.read_line_pressure(n), nan)
            lines.append(LineReading(line.name, line.gas or "", path_from_relays(line, relays)
                                     if relays is not None else None, pressure))
        electrodes = []
        for name, e in self.config.electrodes.items():
            module = self.hv_modules[e.module]
            status = ask(e.module, lambda m=module, n=name: m.channel_status(n), None)
            electrodes.append(ElectrodeReading(
                name, e.module,
                ask(e.module, lambda m=module, n=name: m.voltage_setpoint(n), nan),
                ask(e.module, lambda m=module, n=name: m.measured_voltage(n), nan),
                bool(status is not None and status.is_on),
                status.fault if status is not None else None,
            ))
        t = self.clock.now()
        status = ApparatusStatus(
            t=t, utc=self.clock.utc(t), energy_eV=self.energy_eV,
            angle_deg=ask(goniometer, lambda: self.goniometer.position_deg, nan),
            goniometer=state.describe() if state is not None else "",
            referenced=bool(state is not None and state.referenced),
            gas_path=gas,
            filament_current_A=ask(fil, lambda: self.filament.measured_current, nan),
            filament_voltage_V=ask(fil, lambda: self.filament.measured_voltage, nan),
            filament_setpoint_A=ask(fil, lambda: self.filament.current, nan),
            filament_on=bool(ask(fil, lambda: self.filament.output, False)),
            electrodes=tuple(electrodes), channeltron=self._cem_name,
            beam_current_A=beam, chamber_mbar=chamber, needle_mbar=needle, lines=tuple(lines),
        )
        return status, health

    def count(self, subgate_s: float, n: int, check: Callable[[list[int]], bool] | None = None):
        """Count channeltron pulses for ``n`` sub-gates; ``check`` may stop early.

        (The counter driver configures timed totalize itself.)"""
        return self.counter.count_subgates(subgate_s, n, check)

    def channeltron_off_now(self) -> None:
        """Interlock action: channeltron high voltage off at once (emergency off)."""
        self._cem_module.emergency_off(self._cem_name)

    def channeltron_on(self) -> None:
        """Channeltron back on its plateau, ramped at its own rate."""
        status = self._cem_module.channel_status(self._cem_name)
        if status.emergency_off:
            self._cem_module.clear_emergency(self._cem_name)
        self._cem_module.ramp_to({self._cem_name: self.config.detector.channeltron_V})

    def apply_end_state(self, end: EndState = SAFE) -> list[str]:
        """Channeltron HV off first, then the electrodes to standby, then gas closed,
        then the filament down, as ``end`` asks.  Each step is attempted even if an
        earlier one fails, and tried again (up to :data:`END_STATE_ATTEMPTS` times) on a
        transient link fault; the failures are returned so the caller can report them."""
        steps = []
        if end.channeltron_off:
            steps.append(("channeltron off", self.channeltron_off_now))
        if end.electrodes_standby:
            steps.append(("electrodes to standby", self.electrodes_to_standby))
        if end.close_gas:
            # every line away from the chamber and none left shut (a shut line keeps rising)
            steps.append(("gas closed", lambda: self.route_gas({n: "closed" for n in self.config.gas_lines}, 0.0)))
        if end.filament_down:
            steps.append(("filament down", self.filament_down))
        from drivers.errors import TransientError

        problems = []
        for what, step in steps:
            for attempt in range(1, END_STATE_ATTEMPTS + 1):
                try:
                    step()
                    break
                except TransientError as exc:  # a dropped link or a garbled reply must not leave it unsafe
                    if attempt == END_STATE_ATTEMPTS:
                        log.error("end state: %s failed %d times: %s", what, attempt, exc)
                        problems.append(f"{what}: {exc} ({attempt} attempts)")
                    else:
                        log.warning("end state: %s: %s; trying again", what, exc)
                        self.clock.sleep(1.0)
                except Exception as exc:  # the end state must try every step
                    log.error("end state: %s failed: %s", what, exc)
                    problems.append(f"{what}: {exc}")
                    break
        return problems

    def filament_down(self) -> float:
        """The safe state's filament step: ramped to 0 A in the configured steps, then
        the supply's output switched off (at 0 A that is no step for the filament; left
        on, the morning's state read "filament 0.00 A on" and the next heating would
        start from an output nobody switched on)."""
        current = self.ramp_filament(0.0)
        self.filament.output = False
        return current

    def standby_potentials(self) -> dict[str, float]:
        return standby_potentials(self.config)

    def electrodes_to_standby(self) -> None:
        """Every electrode but the channeltron ramped to its standby potential, the gun's
        module first (the beam goes away first), then the analyzer's; each ramp waits
        for the readbacks.  The energy is unknown afterwards."""
        self.energy_eV = None
        electrodes = self.config.electrodes
        gun_modules = {electrodes["cathode"].module} if "cathode" in electrodes else set()
        by_module: dict[str, dict[str, float]] = {}
        for gun in (True, False):
            for name, volts in self.standby_potentials().items():
                module = electrodes[name].module
                if (module in gun_modules) == gun:
                    by_module.setdefault(module, {})[name] = volts
        for module, group in by_module.items():
            self.hv_modules[module].ramp_to(group)

    def snapshot(self) -> dict[str, Any]:
        return {name: d.snapshot() for name, d in self.drivers.items()}

    def close(self) -> None:
        for d in self.drivers.values():
            try:
                d.close()
            except Exception:
                pass
