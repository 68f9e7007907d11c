"""The relative flow method (RFM): absolute DCS points against argon (PHYSICS.md §1, §3).

Per energy, per cycle (the plan's ``sweeps``), for the target gas and then the
reference gas (argon):

1. **Pressures.**  Both lines are set to the pressures of equal mean free paths
   (:func:`acquisition.plans.rfm_pressures`, from the two gas definition files): the
   operator turns each manual leak valve until its manometer reads the target and
   confirms (:mod:`acquisition.operator`); a line that already reads its target within
   the tolerance is confirmed without asking.  Both lines flow to the pump meanwhile.
2. **Intensities.**  This gas through the needle, the other through the side entrance
   (the same total gas load); at each angle a signal gate, then a background gate with
   both gases through the side entrance.  The intensity is the dead-time-corrected net
   rate per nA of beam, never divided by a pressure.
3. **Flow.**  Right after, the line's rate of rise: its outlet closed (to the bypass
   first, then shut), its inlet closed too for the base rate (outgassing; the plan needs
   the inlet valve), then the inlet opened again for the rise.  The manometer is
   sampled every ``sample_s`` and everything goes raw into the run file
   (:class:`~acquisition.events.PressureRise`); the analysis fits it.  A rise is cut
   short if the line reaches the gas-line interlock's trip level, and the line always
   goes back to its bypass.

Points (intensities) have the key ``(2 * cycle + gas_index, energy_index,
angle_index)``, so a run file's ``sweep`` axis holds cycle and gas (gas_index 0: the
target gas through the needle).  Flow items have the key ``("rise", cycle,
energy_index, gas_index)``; a resumed run skips those whose rise record is in the file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from acquisition.events import Point, PointFlag, PressureRise
from acquisition.operator import OperatorDeclined, PressureRequest, within
from acquisition.plans import rfm_pressures
from acquisition.reduction import RfmPointResult
from acquisition.runner import SafetyStop
from drivers.errors import InstrumentError

from .dcs import DcsScan

__all__ = ["RfmIntensity", "RfmRise", "RfmScan", "NoOperator"]

LINES = ("target", "reference")
#: how often a line is asked for again when it reads outside the tolerance after the
#: operator confirmed (a valve that creeps, a confirmation too early)
CONFIRM_ATTEMPTS = 3
#: a line counts as steady when two readings this far apart differ by less than a
#: quarter of the tolerance
STEADY_INTERVAL_S = 5.0


class NoOperator(RuntimeError):
    """An RFM run needs somebody (or a motor) to set the line pressures."""


@dataclass(frozen=True)
class RfmIntensity:
    """One gas through the needle at one angle, in one cycle."""

    cycle: int
    gas_index: int
    energy_index: int
    angle_index: int
    energy_eV: float
    angle_deg: float
    measure_background: bool = True

    @property
    def sweep(self) -> int:
        return 2 * self.cycle + self.gas_index

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.sweep, self.energy_index, self.angle_index)

    def describe(self) -> str:
        return f"cycle {self.cycle}/{LINES[self.gas_index]}/{self.energy_eV:g} eV/{self.angle_deg:g} deg"


@dataclass(frozen=True)
class RfmRise:
    """One line's flow by rate of rise, after its intensities of one cycle."""

    cycle: int
    gas_index: int
    energy_index: int
    energy_eV: float

    @property
    def key(self) -> tuple:
        return ("rise", self.cycle, self.energy_index, self.gas_index)

    def describe(self) -> str:
        return f"cycle {self.cycle}/{LINES[self.gas_index]}/{self.energy_eV:g} eV/rate of rise"


class RfmScan(DcsScan):
    """Runs a plan of ``kind = "rfm"`` (see module docstring)."""

    kind: ClassVar[str] = "rfm"
    applies_effective_volume: ClassVar[bool] = False
    uses_one_line: ClassVar[bool] = False  #: both lines, routed at every step

    def __init__(self, plan, config, operator=None) -> None:
        super().__init__(plan, config)
        self.operator = operator
        self.rfm = plan.rfm
        self.gases = (plan.scan.gas, plan.rfm.reference_gas)
        p_target, p_reference, self.mean_free_path_m = rfm_pressures(plan, config)
        self.pressures_mbar = (p_target, p_reference)
        self._ready: tuple[int, int, int] | None = None  #: the (cycle, energy, gas) whose pressures are set

    # ------------------------------------------------------------ the runner's calls
    def points(self):
        scan = self.plan.scan
        out: list[Any] = []
        n = len(scan.angles_deg)
        block = 0
        for ie, energy in enumerate(scan.energies_eV):
            for cycle in range(scan.sweeps):
                for gas in (0, 1):
                    # alternate the angle order so the goniometer never travels back
                    order = range(n) if block % 2 == 0 or not scan.alternate_angles else range(n - 1, -1, -1)
                    block += 1
                    out += [RfmIntensity(cycle, gas, ie, ia, energy, scan.angles_deg[ia]) for ia in order]
                    out.append(RfmRise(cycle, gas, ie, energy))
        return out

    def run_start(self) -> dict[str, Any]:
        start = super().run_start()
        gases = {}
        for role, name in zip(("target_gas", "reference_gas"), self.gases):
            gas = self.config.gases[name].gas()
            gases[role] = {"name": gas.name, "molar_mass_g_mol": gas.molar_mass_g_mol, "diameter_A": gas.diameter_A,
                           "diameter_kind": gas.diameter_kind, "diameter_provenance": gas.diameter_provenance,
                           "source": gas.source}
        start["plan"] = start["plan"] | {"rfm": dataclasses.asdict(self.rfm) | gases | {
            "target_pressure_mbar": self.pressures_mbar[0], "reference_pressure_mbar": self.pressures_mbar[1],
            "mean_free_path_m": self.mean_free_path_m,
            "temperature_K": self.config.gas_lines["target"].temperature_K,
            "reference_temperature_K": self.config.gas_lines["reference"].temperature_K,
            "angles_deg": list(self.plan.scan.angles_deg), "cycles": self.plan.scan.sweeps}}
        start["sweeps"] = 2 * self.plan.scan.sweeps
        return start

    def prepare(self, run) -> None:
        if self.operator is None:
            raise NoOperator("an RFM run needs an operator to set the line pressures (the command line's prompt, "
                             "the window's dialog, or --sim's simulated operator)")
        super().prepare(run)

    def measure(self, run, item, attempt: int):
        if isinstance(item, RfmRise):
            return self._rise(run, item, attempt)
        return self._intensity(run, item, attempt)

    # ------------------------------------------------------------ intensities
    def _intensity(self, run, pp: RfmIntensity, attempt: int) -> Point:
        self._goto(run, pp)
        self._ensure_pressures(run, (pp.cycle, pp.energy_index, pp.gas_index), attempt)
        app = run.apparatus
        here, other = LINES[pp.gas_index], LINES[1 - pp.gas_index]
        self._measure_line(run, here)
        routes = {"signal": {here: "needle", other: "side_leak"}, "background": {here: "side_leak", other: "side_leak"}}
        kinds = ["background", "signal"] if app.gas_paths.get(here) == "side_leak" else ["signal", "background"]
        gates = {}
        for kind in kinds:
            route = routes[kind]
            if any(app.gas_paths.get(line) != path for line, path in route.items()):
                run.call("route the gas lines", partial(app.route_gas, route, self._gas_settle_s))
            gates[kind] = self._gate(run, kind, pp, gates)
        return self._rfm_point(run, pp, gates["signal"], gates["background"], attempt)

    def _rfm_point(self, run, pp: RfmIntensity, signal, background, attempt: int) -> Point:
        # the reducer keeps the rates counting to a precision guesses from; its derived
        # numbers are a DCS point's (per mbar of whichever line is on the needle), not
        # an intensity: the background gate has no gas on the needle at all
        self.reducer.reduce(pp.sweep, pp.energy_index, pp.angle_deg, signal, background)
        detector = self.reducer.detector
        s_raw, s_rate, s_var, s_loss, flags = detector.correct(signal)
        b_raw, b_rate, b_var, b_loss, b_flags = detector.correct(background)
        flags |= b_flags
        if not (signal.steady and background.steady):
            flags |= PointFlag.UNSTEADY
        s_nA, b_nA = signal.beam_current_A * 1e9, background.beam_current_A * 1e9
        if s_nA > 0 and b_nA > 0:  # each rate corrected for dead time, then per nA of its own beam
            intensity = s_rate / s_nA - b_rate / b_nA
            variance = s_var / s_nA**2 + b_var / b_nA**2
            b_at_signal = b_rate * s_nA / b_nA
        else:
            intensity = variance = b_at_signal = math.nan
        result = RfmPointResult(
            cycle=pp.cycle, gas_index=pp.gas_index,
            signal_rate_cps=s_raw, background_rate_cps=b_raw, signal_loss=s_loss, background_loss=b_loss,
            signal_corrected_cps=s_rate, background_corrected_cps=b_at_signal,
            net_rate_cps=s_rate - b_at_signal, net_rate_var=variance * s_nA**2,
            intensity_cps_per_nA=intensity, intensity_err=math.sqrt(variance), line_pressure_mbar=signal.needle_mbar,
        )
        flags = flags | (PointFlag.REDONE if attempt > 1 else PointFlag.NONE)
        return Point(seq=run.seq, sweep=pp.sweep, energy_index=pp.energy_index, angle_index=pp.angle_index,
                     energy_eV=pp.energy_eV, angle_deg=pp.angle_deg, signal=signal, background=background,
                     derived=result, flags=flags, attempts=attempt)

    # ------------------------------------------------------------ pressures
    def _request(self, gas_index: int) -> PressureRequest:
        return PressureRequest(LINES[gas_index], self.gases[gas_index], self.pressures_mbar[gas_index],
                               self.rfm.pressure_tolerance,
                               why=f"equal mean free paths of {self.mean_free_path_m * 1e3:.3g} mm")

    def _ensure_pressures(self, run, block: tuple[int, int, int], attempt: int) -> None:
        """The block's line must read its target before anything of the block is measured:
        set both pressures when the block starts, and again when the point is measured
        again (a pause, a suspension, a device fault came between), when the run was
        resumed into the block, or when a quick reading finds the line out of tolerance
        (a creeping valve).  A rate of rise then measures the flow the intensities had."""
        if attempt > 1:
            self._ready = None
        if self._ready == block:
            request = self._request(block[2])
            reading = float(run.call(f"read the {request.line} line", run.apparatus.read_line_pressure,
                                     request.line))
            if within(request, reading):
                return
            run.message("warning", f"{request.line} line ({request.gas}) reads {reading:.4g} mbar, outside "
                                   f"{request.tolerance:.0%} of {request.target_mbar:.4g} mbar: setting the "
                                   "pressures again")
        self._ready = None
        self._set_pressures(run, block[2])
        self._ready = block

    def _set_pressures(self, run, gas_index: int) -> None:
        """Both lines to their equal-MFP pressures, the block's gas last (the other may
        drift a little while this one is set: it only feeds the side)."""
        app = run.apparatus
        run.call("gas lines to the bypass", partial(app.route_gas, {line: "closed" for line in LINES}, 0.0))
        for index in (1 - gas_index, gas_index):
            self._set_line(run, self._request(index))

    def _set_line(self, run, request: PressureRequest) -> None:
        app = run.apparatus

        def read() -> float:
            run.check_abort()  # an abort reaches an operator who is still turning the valve
            self._watch_interlocks(run)
            return float(run.call(f"read the {request.line} line", app.read_line_pressure, request.line))

        for attempt in range(1, CONFIRM_ATTEMPTS + 1):
            if self._steady_within(run, request, read):
                if attempt == 1:
                    run.message("info", f"{request.line} line ({request.gas}) reads its target "
                                        f"{request.target_mbar:.4g} mbar: confirmed without adjustment")
                return
            run.message("info", f"operator: {request.describe()}")
            try:
                self.operator.set_line_pressure(request, read)
            except OperatorDeclined as exc:  # the operator's choice: an abort (safe, resumable), not a failure
                run.abort(str(exc))
                run.check_abort()
            run.clock.sleep(self.rfm.line_settle_s)
        if self._steady_within(run, request, read):  # the last confirmation counts too
            return
        reading = read()
        raise OperatorDeclined(f"the {request.line} line reads {reading:.4g} mbar after {CONFIRM_ATTEMPTS} "
                               f"confirmations, not {request.target_mbar:.4g} mbar within "
                               f"{request.tolerance:.0%}: the run stops; check the leak valve")

    def _watch_interlocks(self, run) -> None:
        """While the operator turns a valve (minutes), the beam and the channeltron are on:
        the interlocks are watched as during a count.  A trip switches the channeltron off
        first and suspends until recovery (then it is ramped back on)."""
        reading = run.monitors()
        trip = run.tripped(reading)
        if trip:
            run.suspend(trip, None)

    def _steady_within(self, run, request: PressureRequest, read) -> bool:
        first = read()
        if not within(request, first):
            return False
        run.clock.sleep(STEADY_INTERVAL_S)
        second = read()
        return within(request, second) and abs(second - first) <= 0.25 * request.tolerance * request.target_mbar

    # ------------------------------------------------------------ flow
    def _rise(self, run, item: RfmRise, attempt: int = 1) -> PressureRise:
        app = run.apparatus
        line = LINES[item.gas_index]
        rfm = self.rfm
        # the flow of the block's pressure: after a resume, a pause or a creeping valve
        # the pressures are set (and confirmed) again before the line is shut
        self._ensure_pressures(run, (item.cycle, item.energy_index, item.gas_index), attempt)
        run.call("line to the bypass", partial(app.select_gas, "closed", 0.0, line=line))
        steady = sum(run.call(f"read the {line} line", app.read_line_pressure, line) for _ in range(3)) / 3
        try:
            # the plan check requires the inlet valve: without a base record the flow is unusable
            run.call("seal the line", partial(app.select_gas, "sealed", 0.0, line=line))
            base = self._record(run, item, "base", rfm.base_s, steady)
            run.call("shut the line", partial(app.select_gas, "shut", 0.0, line=line))
            rise = self._record(run, item, "rise", rfm.rise_s, steady)
        finally:
            # never leave a shut line: its pressure keeps rising, and a pause for a device
            # fault reads no monitors; if it cannot be reopened the run stops, and the
            # end state tries every line again
            try:
                run.call("line back to the bypass", partial(app.select_gas, "closed", 0.0, line=line))
            except InstrumentError as exc:
                raise SafetyStop(f"the {line} line could not be reopened after its rate of rise ({exc}): "
                                 "it fills while shut; run stopped in the safe state") from exc
        run.bus.emit(base)
        self._ready = None  # the line's pressure moved: set it again before it is used
        return rise

    def _record(self, run, item: RfmRise, kind: str, length_s: float, steady: float) -> PressureRise:
        app = run.apparatus
        line = LINES[item.gas_index]
        cfg = self.config.gas_lines[line]
        limit = self.config.interlocks.needle_max_mbar
        times: list[float] = []
        pressures: list[float] = []
        t0 = run.clock.now()
        n = int(round(length_s / self.rfm.sample_s)) + 1
        for k in range(n):
            wait = t0 + k * self.rfm.sample_s - run.clock.now()
            if wait > 0:
                run.clock.sleep(wait)
            run.check_abort()
            p = float(run.call(f"read the {line} line", app.read_line_pressure, line))
            times.append(run.clock.now() - t0)
            pressures.append(p)
            if not p < limit:  # NaN too: an unreadable line is no line to keep shut
                run.message("warning", f"{line} line at {p:.4g} mbar during its {kind} record: the gas-line "
                                       f"interlock trips at {limit:g} mbar; record cut after {times[-1]:.0f} s")
                break
        return PressureRise(t=t0, utc=run.utc(t0), key=item.key, cycle=item.cycle, energy_index=item.energy_index,
                            gas_index=item.gas_index, kind=kind, line=line, gas=self.gases[item.gas_index],
                            times_s=tuple(times), pressures_mbar=tuple(pressures), volume_cm3=float(cfg.volume_cm3),
                            temperature_K=cfg.temperature_K, steady_mbar=steady)
