"""The whole simulated apparatus: one world, one emulator per instrument, on loopback.

``SimulatedApparatus`` starts every emulator on its own 127.0.0.1 TCP port (VISA
instruments as raw SCPI sockets, serial ones as serial-over-TCP) and writes the
apparatus TOML that points xbeam at them: the tune table that matches the world's
physics, the two gas lines with their relays, manometers and true volumes, and the
gases by their definition files.  The effective-volume deviation is not written: it is
measured (argon runs), as on the real apparatus; ``exact_effective_volume=True`` writes
its exact inverse for tests that isolate other physics.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType

import simulators
from foundation.clock import Clock
from simulators.server import InstrumentServer
from simulators.world import ELECTRODE_MAP, GAUGE_CHANNELS, HV_MODULES, LINE_RELAYS, LINES, World, WorldConfig

__all__ = ["SimulatedApparatus", "ROLES"]

log = logging.getLogger(__name__)

#: role -> the model that fills it in the simulated installation, in port order
#: (base_port + index); the emulator of each model is found by the model's name
ROLES: dict[str, str] = {
    "gauges": "pfeiffer_tpg362",
    "valves": "numato_relay",
    "goniometer": "newport_smc100",
    "filament": "keysight_e36xx",
    "picoammeter": "keithley_6485",
    "counter": "keysight_53230a",
    **{module: "iseg_hv" for module in HV_MODULES},
    # last: the ports of the instruments before it stay where the README lists them
    "line_gauges": "pfeiffer_tpg362",  # the reference line's manometer (channel 2: no sensor)
}

#: tune-table rows written for the simulated apparatus (eV)
TUNE_ENERGIES_EV = tuple(range(40, 301, 10))
#: effective-volume correction rows (deg): the analysis interpolates between them
EV_ANGLES_DEG = tuple(range(15, 141, 1))

#: per-electrode limits and ramp rates of the simulated installation
_RAMP_V_PER_S = {"channeltron": 100.0}
_DEFAULT_RAMP_V_PER_S = 50.0


@cache
def emulators() -> dict[str, ModuleType]:
    """Model name -> the simulators module that declares it emulates that model
    (``EMULATES``, ``EMULATOR``, ``TRANSPORT``, optionally ``TAKES_NAME``): a new
    emulator module is found without an edit here."""
    found = {}
    for info in pkgutil.iter_modules(simulators.__path__):
        if info.name.startswith("_") or info.name in _NOT_EMULATORS:
            continue
        module = importlib.import_module(f"simulators.{info.name}")
        if hasattr(module, "EMULATES"):
            found[module.EMULATES] = module
    return found


_NOT_EMULATORS = frozenset({"apparatus", "gas_flow", "operator", "server", "world"})


def _emulator(role: str, world: World):
    """The emulator for one role; one of several like instruments (an HV module, a gauge
    controller, whose module declares ``TAKES_NAME = True``) is told which of the
    world's it is."""
    module = emulators()[ROLES[role]]
    return module.EMULATOR(world, role) if getattr(module, "TAKES_NAME", False) else module.EMULATOR(world)


def _serial(role: str) -> bool:
    return emulators()[ROLES[role]].TRANSPORT == "serial"


class SimulatedApparatus:
    """World + emulators + servers.  Use as a context manager or call start/stop."""

    def __init__(self, clock: Clock, config: WorldConfig | None = None, *, base_port: int = 0) -> None:
        self.clock = clock
        self.world = World(clock, config)
        self.base_port = base_port
        self.servers: dict[str, InstrumentServer] = {}

    def start(self) -> "SimulatedApparatus":
        try:
            for i, role in enumerate(ROLES):
                port = self.base_port + i if self.base_port else 0
                server = InstrumentServer(_emulator(role, self.world), port=port, lock=self.world.lock)
                self.servers[role] = server.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> "SimulatedApparatus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def address(self, role: str) -> str:
        server = self.servers[role]
        return server.socket_url if _serial(role) else server.visa_address

    # ------------------------------------------------------------------ config
    def apparatus_toml(self, *, target_gas: str | None = None, dcs_table: str | Path | None = None,
                       exact_effective_volume: bool = False) -> str:
        """An apparatus file for xbeam pointing at these servers (see examples/apparatus_lab.toml).

        ``target_gas``: the name of the target gas's ``[gases.X]`` table (default: the
        world's target gas's name); ``dcs_table``: a DCS table written for it (default:
        the world's, when it is not the gas file's own); ``exact_effective_volume``:
        write ``[effective_volume]`` with the exact ``1/V(theta)`` of the world.
        """
        world = self.world
        lines = [
            "# Apparatus file written by `xbeam sim`: the simulated apparatus on loopback.",
            "# The tune table matches the simulator's physics exactly; the effective volume is",
            "# measured with argon, as on the real apparatus.",
            "",
        ]
        options = {
            "goniometer": {"min_angle_deg": 20.0, "max_angle_deg": 135.0, "backlash_deg": 0.5},
            "filament": {"max_current_A": 2.8, "max_voltage_V": 5.0},
            "valves": {"relay_count": 8},
        }
        for role, model in ROLES.items():
            lines += [f"[instruments.{role}]", f'model = "{model}"', f'address = "{self.address(role)}"', "timeout_s = 2.0"]
            opts = dict(options.get(role, {}))
            if model == "iseg_hv":
                opts["channels"] = HV_MODULES[role][0]
            for key, value in opts.items():
                lines.append(f"{key} = {value!r}")
            lines.append("")
        for name, (module, channel) in ELECTRODE_MAP.items():
            nominal = HV_MODULES[module][1]
            low, high = (0.0, 3000.0) if name == "channeltron" else (-nominal * 0.5, nominal * 0.5)
            ramp = _RAMP_V_PER_S.get(name, _DEFAULT_RAMP_V_PER_S)
            lines += [
                f"[electrodes.{name}]",
                f'module = "{module}"',
                f"channel = {channel}",
                f"min_V = {low}",
                f"max_V = {high}",
                f"ramp_V_per_s = {ramp}",
                "tolerance_V = 0.5",
                "",
            ]
        table = world.tune_table(TUNE_ENERGIES_EV)
        lines += ["[tune]", 'mode = "interpolate"', f"energies_eV = {list(map(float, TUNE_ENERGIES_EV))}", "", "[tune.potentials]"]
        for name, values in table.items():
            if name != "channeltron":
                lines.append(f"{name} = {values}")
        cfg = world.config
        lines += [
            "",
            "[detector]",
            'channeltron_electrode = "channeltron"',
            f"channeltron_V = {world.tuned_potential('channeltron', 0.0)}",
            f"dead_time_s = {cfg.dead_time_s!r}",
            f'dead_time_model = "{cfg.dead_time_model}"',
            "max_loss_fraction = 0.10",
            "linear_limit_cps = 1.0e5",
        ]
        if cfg.angular_fwhm_deg > 0:
            lines.append(f"angular_fwhm_deg = {float(cfg.angular_fwhm_deg)!r}")
        lines += [
            "",
            "[beam]",
            "filament_current_A = 2.2",
            "filament_voltage_limit_V = 3.0",
            "filament_step_A = 0.1",
            "filament_step_delay_s = 1.0",
            "",
            "# kept for the chamber gauge and the settling of the target line's valves",
            "[gas_line]",
            f"needle_relay = {LINE_RELAYS['target']['needle']}",
            f"side_leak_relay = {LINE_RELAYS['target']['side']}",
            "settle_s = 8.0",
            "",
        ]
        names = {"target": target_gas or world.gases["target"].name, "reference": world.gases["reference"].name}
        lines += self._gas_lines_toml(names)
        tables = {"target": dcs_table, "reference": None}
        for line in LINES:
            if line == "reference" and names["reference"] == names["target"]:
                continue  # one gas in both lines: one definition
            lines += self._gas_toml(line, names[line], tables[line])
        lines += [
            "[interlocks]",
            "chamber_max_mbar = 5e-5",
            "chamber_resume_mbar = 2e-5",
            "needle_max_mbar = 1.0",
            "needle_resume_mbar = 0.8",
            "beam_min_A = 5e-9",
            "beam_resume_A = 1e-8",
            "wait_after_recovery_s = 30.0",
            "",
        ]
        if exact_effective_volume:
            lines += [
                "# the world's exact 1/V(theta), for tests that isolate other physics (not measured)",
                "[effective_volume]",
                f"angles_deg = {list(map(float, EV_ANGLES_DEG))}",
                f"factors = {[round(world.effective_volume_correction(a), 6) for a in EV_ANGLES_DEG]}",
                "",
            ]
        return "\n".join(lines)

    def _gas_lines_toml(self, names: dict[str, str]) -> list[str]:
        """``[gas_lines.<line>]``: relays, the manometer (controller and channel), the
        line's true volume and temperature, the manual leak valve."""
        cfg = self.world.config
        out = []
        for line in LINES:
            controller, channel = next((c, ch) for c, channels in GAUGE_CHANNELS.items()
                                       for ch, what in channels.items() if what == line)
            relays = LINE_RELAYS[line]
            out += [f"[gas_lines.{line}]"]
            if line != "target":
                out.append(f'gas = "{names[line]}"')
            out += [f"{valve}_relay = {relays[valve]}" for valve in ("needle", "side", "shut", "inlet")]
            out += [
                f'gauge = "{controller}"',
                f"gauge_channel = {channel}",
                f"volume_cm3 = {float(cfg.line_volume_cm3)!r}",
                f"temperature_K = {float(cfg.line_temperature_K)!r}",
                'leak_valve = "manual"',
                "",
            ]
        return out

    def _gas_toml(self, line: str, name: str, dcs_table: str | Path | None) -> list[str]:
        """``[gases.<name>]``: the gas's definition file; the DCS table only when the
        world's is not the file's own (an override)."""
        world = self.world
        gas = world.gases[line]
        if not gas.source or not Path(gas.source).is_file():
            raise ValueError(f"the {line} gas {gas.name!r} has no definition file (Gas.source = {gas.source!r}): "
                             "the apparatus file names gases by their files; load it with foundation.gas.load_gas")
        out = [f"[gases.{name}]", f'definition = "{Path(gas.source).resolve().as_posix()}"']
        table = Path(dcs_table) if dcs_table else world.dcs_paths[line]
        if gas.dcs_table is None or table.resolve() != Path(gas.dcs_table).resolve():
            out.append(f'dcs_table = "{table.resolve().as_posix()}"')
        return out + [""]

    def write_apparatus(self, path: str | Path, **kwargs) -> Path:
        path = Path(path)
        path.write_text(self.apparatus_toml(**kwargs))
        return path
