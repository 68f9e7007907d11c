"""In-process apparatus fakes with zero latency: for engine benchmarks and engine tests.

``FakeApparatus`` offers the same operations as :class:`acquisition.apparatus.Apparatus`
but answers from a few lines of arithmetic instead of instruments, so what a
benchmark measures is the engine itself.  Monitors can be scripted (``monitor_hook``)
to trip interlocks at chosen times.
"""

from __future__ import annotations

import math

import numpy as np

from acquisition.apparatus import GAS_PATHS, MonitorReading, standby_potentials
from acquisition.events import ApparatusStatus, ElectrodeReading
from drivers.keysight_53230a import SubgateCount
from foundation.clock import Clock

__all__ = ["FakeApparatus"]


class FakeApparatus:
    """Zero-latency stand-in for the apparatus (see module docstring)."""

    def __init__(
        self,
        config,
        clock: Clock,
        *,
        rate_cps: float = 2000.0,
        background_fraction: float = 0.2,
        poisson: bool = False,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rate_cps = rate_cps
        self.background_fraction = background_fraction
        self.rng = np.random.default_rng(seed) if poisson else None
        self.energy_eV: float | None = None
        self.angle_deg: float | None = None
        self.angle_readback_deg: float | None = None
        self.angle_offset_deg = 0.0  #: where the fake stage stops relative to the target
        self.gas_paths: dict[str, str | None] = {"target": None}
        self.channeltron_is_on = False
        self.filament_A = 0.0
        self.electrodes_V: dict[str, float] = {name: 0.0 for name in config.electrodes}
        self.monitor_hook = None  # callable(MonitorReading) -> MonitorReading, to script faults
        self.calls: list[str] = []  # operations in order, for tests of ordering (channeltron first)
        self.record_calls = False

    def _log(self, what: str) -> None:
        if self.record_calls:
            self.calls.append(what)

    def prepare(self) -> None:
        self._log("prepare")
        self.channeltron_is_on = True

    def set_energy(self, energy_eV: float) -> None:
        for _what, step in self.tune_steps(energy_eV):
            step()

    def tune_steps(self, energy_eV: float):
        """One step per HV module of the config, like the apparatus (each logged)."""
        modules = sorted({e.module for e in self.config.electrodes.values()})

        def ramp(module):
            self._log(f"ramp {module}")

        def reached():
            self._log(f"energy {energy_eV:g}")
            self.energy_eV = float(energy_eV)
            self.electrodes_V.update(self.config.tune.potentials_at(energy_eV))

        return [(f"ramp {m}", lambda m=m: ramp(m)) for m in modules] + [("tuned", reached)]

    def move_to(self, angle_deg: float) -> float:
        self._log(f"angle {angle_deg:g}")
        self.angle_deg = float(angle_deg)
        self.angle_readback_deg = self.angle_deg + self.angle_offset_deg
        return self.angle_readback_deg

    def configure_monitors(self) -> None:
        self._log("configure monitors")

    def home(self) -> None:
        self._log("home")
        self.angle_deg = self.angle_readback_deg = None

    def stop_motion(self) -> None:
        self._log("stop")
        self.angle_deg = self.angle_readback_deg = None

    def ramp_filament(self, current_A: float) -> float:
        self._log(f"filament {current_A:g}")
        self.filament_A = float(current_A)
        return current_A

    @property
    def gas_path(self) -> str | None:
        return self.gas_paths.get("target")

    @gas_path.setter
    def gas_path(self, path: str | None) -> None:
        self.gas_paths["target"] = path

    def select_gas(self, path: str, settle_s: float | None = None, *, line: str = "target") -> None:
        self.route_gas({line: path}, settle_s)

    def route_gas(self, paths, settle_s: float | None = None) -> None:
        for line, path in paths.items():
            if path not in GAS_PATHS:
                raise ValueError(path)
            self._log(f"gas {path}" if line == "target" else f"gas {line} {path}")
            self.gas_paths[line] = path
        self.clock.sleep(self.config.gas_line.settle_s if settle_s is None else settle_s)

    def read_monitors(self) -> MonitorReading:
        gas = self.gas_path in ("needle", "side_leak")
        reading = MonitorReading(self.clock.now(), 1.0e-7, 1.3e-6 if gas else 1.0e-7, 0.3)
        return self.monitor_hook(reading) if self.monitor_hook else reading

    def _rate(self) -> float:
        if not self.channeltron_is_on:
            return 0.0
        s = math.sin(math.radians(self.angle_deg or 90.0))
        rate = self.rate_cps / max(s, 0.1)
        return rate * (self.background_fraction if self.gas_path == "side_leak" else 1.0)

    def count(self, subgate_s: float, n: int, check=None) -> SubgateCount:
        counts: list[int] = []
        mean = self._rate() * subgate_s
        for _ in range(n):
            self.clock.sleep(subgate_s)
            counts.append(int(self.rng.poisson(mean)) if self.rng is not None else int(mean))
            if check is not None and not check(counts):
                return SubgateCount(tuple(counts), subgate_s, False)
        return SubgateCount(tuple(counts), subgate_s, True)

    def channeltron_off_now(self) -> None:
        self._log("channeltron off")
        self.channeltron_is_on = False

    def channeltron_on(self) -> None:
        self._log("channeltron on")
        self.channeltron_is_on = True

    def apply_end_state(self, end=None) -> list[str]:
        """Like the apparatus: every step is tried, the failures are returned."""
        self._log("safe state")
        problems = []
        if end is None or end.channeltron_off:
            try:
                self.channeltron_off_now()
            except Exception as exc:
                problems.append(f"channeltron off: {exc}")
        if end is not None and end.electrodes_standby:
            self.electrodes_V.update(standby_potentials(self.config))
            self.energy_eV = None
        if end is None or end.close_gas:
            self.gas_path = "closed"
        if end is not None and end.filament_down:
            self.filament_A = 0.0
        return problems

    def standby_potentials(self) -> dict[str, float]:
        return standby_potentials(self.config)

    def read_status(self) -> tuple[ApparatusStatus, dict[str, str | None]]:
        """What the panel would show, from the fake's own state; every instrument answers."""
        cem = self.config.detector.channeltron_electrode
        volts = {**self.electrodes_V, cem: self.config.detector.channeltron_V if self.channeltron_is_on else 0.0}
        electrodes = tuple(ElectrodeReading(name, e.module, volts[name], volts[name],
                                            volts[name] != 0.0 or name == cem and self.channeltron_is_on)
                           for name, e in self.config.electrodes.items())
        m = self.read_monitors()
        angle = self.angle_readback_deg if self.angle_readback_deg is not None else math.nan
        status = ApparatusStatus(m.t, self.clock.utc(m.t), self.energy_eV, angle, "READY", True, self.gas_path,
                                 self.filament_A, 0.0, self.filament_A, self.filament_A > 0, electrodes, cem,
                                 m.beam_current_A, m.chamber_mbar, m.needle_mbar)
        return status, {name: None for name in self.config.instruments}

    def snapshot(self) -> dict:
        return {"fake": {"model": "FakeApparatus", "rate_cps": self.rate_cps}}

    def close(self) -> None:
        pass
