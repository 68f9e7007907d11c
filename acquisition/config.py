"""Apparatus configuration: one TOML file describing the instruments and the physics.

The file is read with :mod:`tomllib` and validated into frozen dataclasses *before any
hardware is touched*.  Every problem is a :class:`ConfigError` (a ``ValueError``) whose
lines each name the file, the key path (``electrodes.cathode.max_V``), the bad value
and what is allowed; all problems of a file are collected and reported together, one
per line, so that a user fixes a file in one pass.  Unknown keys are errors too (a
typo must never be silently ignored) and come with a "did you mean" suggestion.

Layout of an apparatus file (``examples/apparatus_lab.toml`` is an annotated one)::

    [instruments.<name>]   model, address, visa_backend = "@py", timeout_s, options...
    [electrodes.<name>]    module, channel, min_V, max_V, ramp_V_per_s, tolerance_V = 0.5
    [tune]                 mode = "interpolate" | "exact", energies_eV = [...]
    [tune.potentials]      <electrode> = [one potential per energy]
    [detector]             channeltron_electrode, channeltron_V, dead_time_s, ...
    [beam]                 filament_current_A, filament_voltage_limit_V, ...
    [gas_line]             needle_relay, side_leak_relay, settle_s, gauge channels
    [gas_lines.<line>]     optional: the target and reference (argon) lines of the relative
                           flow method: relays (needle, side, shut, inlet), manometer, volume
    [gases.<name>]         definition (a gas file) or molar_mass_g_mol + kinetic_diameter_nm;
                           dcs_table
    [interlocks]           trip / resume thresholds (hysteresis), wait_after_recovery_s
    [effective_volume]     optional: angles_deg, factors
    [simulator]            optional, written by `xbeam sim`: time_scale (its clock)

Instrument roles are fixed names (:data:`ROLE_MODELS`, derived from the role
protocols of :mod:`acquisition.roles`: any model whose driver can fill a role may);
high-voltage modules may have any name and are referred to by the electrodes.  Keys of
an instrument table other than ``model``, ``address``, ``visa_backend`` and
``timeout_s`` are model options, declared by each driver (``options``) and passed
unchanged to its constructor; a model may be written by its name (the driver module's)
or an older alias.

The checking toolkit (:class:`~acquisition.tomlcheck.Reader`, ``Table``, the error
type) is :mod:`acquisition.tomlcheck`, shared with :mod:`acquisition.plans`; this
module is the apparatus schema.  A section's allowed keys and its optional keys'
defaults come from its dataclass below.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition.roles import HV_MODULE, OPTIONAL_ROLES, ROLES, models_for, role_what, satisfies
from acquisition.tomlcheck import (
    MISSING,
    REQUIRED,
    ConfigError,
    ConfigIssue,
    Reader,
    Table,
    default_of,
    is_number,
    keys_of,
    one_of,
    plain_data,
    read_source,
    show,
    suggestion,
)
from drivers import MODELS as DRIVER_MODELS
from drivers import aliases as driver_aliases
from drivers import canonical_model, driver_class
from drivers.base import Option
from drivers.transport import is_visa_address

__all__ = [
    "MODELS",
    "HV_MODELS",
    "ROLE_MODELS",
    "ApparatusConfig",
    "BeamConfig",
    "ConfigError",
    "ConfigIssue",
    "DetectorConfig",
    "EffectiveVolume",
    "ElectrodeConfig",
    "GasConfig",
    "GasLineConfig",
    "InstrumentConfig",
    "InterlockConfig",
    "SimulatorConfig",
    "TuneTable",
    "load_apparatus",
    "parse_apparatus",
]

log = logging.getLogger(__name__)


# ====================================================================== the apparatus

#: instrument models xbeam has drivers for (drivers.MODELS: the model modules' names)
MODELS: tuple[str, ...] = tuple(DRIVER_MODELS)

#: instrument role (table name under [instruments]) -> the models whose drivers can
#: fill it (derived from the role protocols in acquisition.roles; any other
#: instrument name must be a high-voltage module)
ROLE_MODELS: dict[str, tuple[str, ...]] = {role: tuple(models_for(protocol)) for role, protocol in ROLES.items()}
#: the optional roles (``line_gauges``) and their models
OPTIONAL_ROLE_MODELS: dict[str, tuple[str, ...]] = {
    role: tuple(models_for(protocol)) for role, protocol in OPTIONAL_ROLES.items()}
#: the models that can be high-voltage modules
HV_MODELS: tuple[str, ...] = tuple(models_for(HV_MODULE))


def is_hv_model(model: str | None) -> bool:
    return model in HV_MODELS


def model_options(model: str | None) -> dict[str, Option]:
    """The options an apparatus file may give an instrument of ``model`` (its driver's)."""
    if model is None:
        return {}
    try:
        return dict(driver_class(model).options)
    except (ImportError, ValueError):  # a driver that cannot be imported here
        return {}


def _models_text(models: tuple[str, ...]) -> str:
    return f"model {models[0]!r}" if len(models) == 1 else f"one of the models {one_of(models)}"


def driver_default(model: str, option: str) -> Any:
    """The default of a driver constructor's keyword argument (None if unknown)."""
    import inspect

    try:
        parameter = inspect.signature(driver_class(model).__init__).parameters.get(option)
    except (ImportError, ValueError, AttributeError):  # a driver that cannot be imported here
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


_DEFAULT_HV_CHANNELS = 8
_DEFAULT_RELAY_COUNT = 8


def _option_default(model: str, option: str, fallback: Any) -> Any:
    value = driver_default(model, option)
    return fallback if value is None else value


#: pyserial URL schemes (serial.serial_for_url protocol handlers)
_SERIAL_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep", "cp2110")
_ADDRESS_HELP = (
    "must be a VISA resource (TCPIP::192.168.1.20::5025::SOCKET, GPIB0::14::INSTR, ASRL/dev/ttyUSB0::INSTR) "
    "or a pyserial port or URL (/dev/ttyUSB0, COM3, socket://host:port)"
)


def address_ok(address: str) -> bool:
    """A plausible VISA resource string or pyserial port/URL (nothing is opened)."""
    if is_visa_address(address):
        return True
    if "://" in address:
        scheme, _, rest = address.partition("://")
        if scheme.lower() not in _SERIAL_SCHEMES:
            return False
        if scheme.lower() in ("socket", "rfc2217"):
            host, _, port = rest.partition("?")[0].rpartition(":")
            return bool(host) and port.isdigit() and 0 < int(port) < 65536
        return True
    return address.startswith("/dev/") or re.fullmatch(r"COM\d+", address, re.IGNORECASE) is not None


@dataclass(frozen=True)
class InstrumentConfig:
    """One instrument: a driver model, where it is, and options for its constructor."""

    name: str
    model: str
    address: str
    visa_backend: str = "@py"
    timeout_s: float | None = None  #: None: the driver's default
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return plain_data(
            {
                "name": self.name,
                "model": self.model,
                "address": self.address,
                "visa_backend": self.visa_backend,
                "timeout_s": self.timeout_s,
                "options": self.options,
            }
        )


@dataclass(frozen=True)
class ElectrodeConfig:
    """A named electrode on one channel of a high-voltage module, with its limits."""

    name: str
    module: str  #: name of an ``iseg_hv`` instrument
    channel: int
    min_V: float
    max_V: float
    ramp_V_per_s: float
    tolerance_V: float = 0.5  #: |readback - set| that counts as "arrived"

    def allows(self, voltage_V: float) -> bool:
        return self.min_V <= voltage_V <= self.max_V


#: an energy that equals a tune row within this many eV is that row
_ENERGY_MATCH_eV = 1e-6


@dataclass(frozen=True)
class TuneTable:
    """Electrode potentials per incident energy.

    ``mode = "interpolate"``: any energy between the first and last row, potentials
    linear between the neighbouring rows.  ``mode = "exact"``: only the energies of
    the rows (the lens voltages were tuned there and nowhere else).
    """

    mode: str
    energies_eV: tuple[float, ...]
    potentials: dict[str, tuple[float, ...]]  #: electrode -> potential per energy row
    source: str = "<string>"

    @property
    def electrodes(self) -> tuple[str, ...]:
        return tuple(self.potentials)

    def describe(self) -> str:
        if self.mode == "exact":
            return f"one of the tune rows {show(list(self.energies_eV))} eV (tune.mode = 'exact')"
        return f"within the tune table {self.energies_eV[0]:g}..{self.energies_eV[-1]:g} eV (tune.mode = 'interpolate')"

    def _row(self, energy_eV: float) -> int | None:
        for i, e in enumerate(self.energies_eV):
            if abs(e - energy_eV) <= _ENERGY_MATCH_eV:
                return i
        return None

    def allows(self, energy_eV: float) -> bool:
        """True if :meth:`potentials_at` can give potentials for ``energy_eV``."""
        if not is_number(energy_eV) or not math.isfinite(energy_eV):
            return False
        if self.mode == "exact":
            return self._row(energy_eV) is not None
        lo, hi = self.energies_eV[0], self.energies_eV[-1]
        return lo - _ENERGY_MATCH_eV <= energy_eV <= hi + _ENERGY_MATCH_eV

    def potentials_at(self, energy_eV: float) -> dict[str, float]:
        """Every tuned electrode's potential (V) at ``energy_eV``.

        Raises :class:`ConfigError` (a ``ValueError``) naming the energy and the allowed
        range (or rows) when the table does not cover it.
        """
        if not self.allows(energy_eV):
            raise ConfigError.single(
                self.source, "tune.energies_eV", energy_eV, f"energy not covered: must be {self.describe()}"
            )
        row = self._row(energy_eV)
        if row is not None:
            return {name: values[row] for name, values in self.potentials.items()}
        # linear between the two neighbouring rows (allows() excluded the outside)
        hi = next(i for i, e in enumerate(self.energies_eV) if e > energy_eV)
        lo = hi - 1
        e0, e1 = self.energies_eV[lo], self.energies_eV[hi]
        w = (energy_eV - e0) / (e1 - e0)
        return {name: values[lo] + w * (values[hi] - values[lo]) for name, values in self.potentials.items()}

    def to_dict(self) -> dict[str, Any]:
        return plain_data({"mode": self.mode, "energies_eV": self.energies_eV, "potentials": self.potentials})


@dataclass(frozen=True)
class DetectorConfig:
    """The channeltron and the counting chain's known non-linearities."""

    channeltron_electrode: str
    channeltron_V: float
    dead_time_s: float
    dead_time_model: str = "nonparalyzable"  #: or "paralyzable"
    max_loss_fraction: float = 0.10  #: dead-time loss above which a point is flagged
    linear_limit_cps: float = 1.0e5  #: raw rate above which the channeltron gain sags
    #: relative sub-gate scatter beyond Poisson that still counts as a steady rate (beam
    #: and gas fluctuations the monitors do not follow); a gate beyond it is counted again
    steady_rate_tolerance: float = 0.01
    #: FWHM of the analyzer's angular response (deg): the reference argon DCS is
    #: convolved with it before the effective-volume factors are taken (0: none)
    angular_fwhm_deg: float = 0.0


@dataclass(frozen=True)
class BeamConfig:
    """Filament heating: target current, compliance voltage, and how gently to get there."""

    filament_current_A: float
    filament_voltage_limit_V: float
    filament_step_A: float = 0.05
    filament_step_delay_s: float = 1.0


@dataclass(frozen=True)
class GasLineConfig:
    """Relays of the valves and gauge channels of the gas line."""

    needle_relay: int
    side_leak_relay: int
    settle_s: float = 5.0  #: hardware minimum wait after switching needle / side leak
    chamber_gauge_channel: int = 1  #: gauge controller channel of the chamber gauge
    needle_gauge_channel: int = 2  #: gauge controller channel of the manometer behind the needle


#: the lines the relative flow method knows: the sample's and the reference gas's (argon)
LINE_NAMES = ("target", "reference")
#: how a line's leak valve is turned: by the operator (prompted), or by a motor xbeam drives
LEAK_VALVES = ("manual", "motorised")


@dataclass(frozen=True)
class LineConfig:
    """One gas line: where its valves and manometer are, and what the rate of rise needs.

    ``needle_relay`` / ``side_relay`` open the line to the gas needle (signal) or the side
    entrance (the same gas load, background).  With both closed the line flows to the
    pump through its bypass, so its pressure does not move.  ``shut_relay`` (energised =
    closed) shuts that bypass too: the line's pressure then rises at the rate of the flow
    that was passing (the rate-of-rise measurement).  ``inlet_relay`` (energised =
    closed) isolates the line upstream of its leak valve: what still rises is the base
    rate (outgassing).  ``volume_cm3`` and ``temperature_K`` turn a rate of rise into a
    flow; ``gas``: the gas the line holds (None: whatever the plan measures)."""

    name: str
    needle_relay: int
    side_relay: int
    gauge: str = "gauges"  #: instrument holding the line's capacitance manometer
    gauge_channel: int = 2
    shut_relay: int | None = None
    inlet_relay: int | None = None
    gas: str | None = None
    volume_cm3: float | None = None
    temperature_K: float = 296.0
    leak_valve: str = "manual"  #: "manual" (operator prompted) or "motorised"
    #: the instrument that turns a motorised valve (no driver yet: declared for the future)
    leak_valve_instrument: str | None = None

    @property
    def can_measure_rise(self) -> bool:
        return self.shut_relay is not None and self.volume_cm3 is not None

    def relays(self) -> dict[str, int]:
        """Valve role -> relay number, the declared ones only."""
        out = {"needle": self.needle_relay, "side": self.side_relay}
        if self.shut_relay is not None:
            out["shut"] = self.shut_relay
        if self.inlet_relay is not None:
            out["inlet"] = self.inlet_relay
        return out


@dataclass(frozen=True)
class GasConfig:
    """A gas the line can hold: what the relative flow method needs to know of it."""

    name: str
    molar_mass_g_mol: float
    kinetic_diameter_nm: float
    dcs_table: Path | None = None  #: absolute path of a reference DCS table (CSV)
    #: the gas definition file (foundation.gas) the numbers came from, if one was named
    definition: Path | None = None
    diameter_kind: str | None = None  #: from the definition file: hard-sphere, ...

    def gas(self):
        """The :class:`foundation.gas.Gas` of a gas given by its definition file (the
        relative flow method needs its diameter's kind and provenance); None otherwise,
        or when the file is not here (an apparatus stored in a run file)."""
        if self.definition is None or not self.definition.is_file():
            return None
        from foundation.gas import load_gas

        return load_gas(self.definition)


@dataclass(frozen=True)
class InterlockConfig:
    """Suspenders with hysteresis: trip past one threshold, recover past another, then wait."""

    chamber_max_mbar: float
    chamber_resume_mbar: float
    needle_max_mbar: float
    needle_resume_mbar: float
    beam_min_A: float
    beam_resume_A: float
    wait_after_recovery_s: float = 30.0


@dataclass(frozen=True)
class EffectiveVolume:
    """Per-angle effective-volume correction factors (from argon runs)."""

    angles_deg: tuple[float, ...]
    factors: tuple[float, ...]

    def factor_at(self, angle_deg: float) -> float:
        """Factor at ``angle_deg``, linear between the tabulated angles; ValueError outside."""
        a = self.angles_deg
        if not a[0] - 1e-9 <= angle_deg <= a[-1] + 1e-9:
            raise ValueError(f"angle {angle_deg} deg outside the effective-volume table {a[0]:g}..{a[-1]:g} deg")
        for i in range(len(a) - 1):
            if angle_deg <= a[i + 1]:
                w = (angle_deg - a[i]) / (a[i + 1] - a[i])
                return self.factors[i] + w * (self.factors[i + 1] - self.factors[i])
        return self.factors[-1]


@dataclass(frozen=True)
class SimulatorConfig:
    """Optional ``[simulator]``: written by ``xbeam sim`` into the apparatus file it
    writes.  A run against that simulator must keep its clock."""

    time_scale: float = 1.0  #: the simulator's time runs this many times faster than life


@dataclass(frozen=True)
class ApparatusConfig:
    """A validated apparatus file. ``text`` is the file as read (for the run file)."""

    source: str
    instruments: dict[str, InstrumentConfig]
    electrodes: dict[str, ElectrodeConfig]
    tune: TuneTable
    detector: DetectorConfig
    beam: BeamConfig
    gas_line: GasLineConfig
    gases: dict[str, GasConfig]
    interlocks: InterlockConfig
    effective_volume: EffectiveVolume | None
    text: str
    simulator: SimulatorConfig | None = None  #: set in files written by ``xbeam sim``
    #: line name -> its config; always holds "target" (from [gas_line] when
    #: [gas_lines] is absent); "reference" only where declared
    gas_lines: dict[str, LineConfig] = field(default_factory=dict)

    def line_for(self, gas: str) -> LineConfig:
        """The line holding ``gas``: the one declaring it, else the target line."""
        for line in self.gas_lines.values():
            if line.gas == gas:
                return line
        return self.gas_lines["target"]

    def instrument(self, role: str) -> InstrumentConfig:
        """The instrument with that role (``"goniometer"``) or name."""
        return self.instruments[role]

    @property
    def hv_modules(self) -> dict[str, InstrumentConfig]:
        """The ``iseg_hv`` instruments by name."""
        return {n: i for n, i in self.instruments.items() if is_hv_model(i.model)}

    @property
    def angle_limits_deg(self) -> tuple[float | None, float | None]:
        """The goniometer's (min_angle_deg, max_angle_deg): the options, else the driver's defaults."""
        g = self.instruments["goniometer"]
        return tuple(g.option(name, driver_default(g.model, name)) for name in ("min_angle_deg", "max_angle_deg"))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (no ``text``) for the run file's apparatus snapshot."""
        return {
            "source": self.source,
            "instruments": {n: i.to_dict() for n, i in self.instruments.items()},
            "electrodes": {n: plain_data(vars(e)) for n, e in self.electrodes.items()},
            "tune": self.tune.to_dict(),
            "detector": plain_data(vars(self.detector)),
            "beam": plain_data(vars(self.beam)),
            "gas_line": plain_data(vars(self.gas_line)),
            "gases": {n: plain_data(vars(g)) for n, g in self.gases.items()},
            "interlocks": plain_data(vars(self.interlocks)),
            "effective_volume": None if self.effective_volume is None else plain_data(vars(self.effective_volume)),
            "gas_lines": {n: plain_data(vars(line)) for n, line in self.gas_lines.items()},
        } | ({} if self.simulator is None else {"simulator": plain_data(vars(self.simulator))})


# ====================================================================== parsing

#: keys every instrument table has; the rest are its model's options
_COMMON_INSTRUMENT_KEYS = keys_of(InstrumentConfig, exclude=("name", "options"))

#: the sections of an apparatus file: the fields of ApparatusConfig that come from it
_TOP_KEYS = keys_of(ApparatusConfig, exclude=("source", "text"))


def load_apparatus(path: str | Path) -> ApparatusConfig:
    """Read and validate an apparatus file; relative paths in it are relative to it."""
    path, text = read_source(path)
    return parse_apparatus(text, source=str(path), base_dir=path.parent)


def parse_apparatus(
    text: str, source: str = "<string>", base_dir: str | Path | None = None, *, check_paths: bool = True
) -> ApparatusConfig:
    """Validate apparatus TOML ``text``; ``base_dir`` resolves relative paths (default: cwd).

    ``check_paths=False`` accepts referenced files (``dcs_table``) that do not exist
    here: for re-reading the apparatus stored in a run file on another machine.
    Raises :class:`ConfigError` listing every problem.
    """
    reader = Reader(source)
    root = reader.parse(text)
    if root is None:
        reader.raise_if_errors()
    root.reject_unknown(_TOP_KEYS, what="section")
    base = Path(base_dir) if base_dir is not None else Path.cwd()

    instruments = _instruments(root)
    electrodes = _electrodes(root, instruments)
    # names as declared, so that an electrode with a bad field is still "known" below
    raw = root.data.get("electrodes")
    declared = list(raw) if isinstance(raw, dict) and raw else None
    detector = _detector(root, electrodes, declared)
    raw = root.data.get("detector")
    channeltron = raw.get("channeltron_electrode") if isinstance(raw, dict) else None
    tune = _tune(root, electrodes, declared, channeltron, detector, source)
    beam = _beam(root, instruments)
    gas_line = _gas_line(root, instruments)
    gases = _gases(root, base, check_paths)
    gas_lines = _gas_lines(root, instruments, gas_line, gases)
    interlocks = _interlocks(root)
    effective_volume = _effective_volume(root)
    simulator = _simulator(root)
    reader.raise_if_errors()
    config = ApparatusConfig(
        source=source,
        instruments=instruments,
        electrodes=electrodes,
        tune=tune,
        detector=detector,
        beam=beam,
        gas_line=gas_line,
        gases=gases,
        interlocks=interlocks,
        effective_volume=effective_volume,
        text=text,
        simulator=simulator,
        gas_lines=gas_lines,
    )
    log.debug(
        "apparatus %s: %d instruments, %d electrodes, %d tune rows",
        source,
        len(instruments),
        len(electrodes),
        len(tune.energies_eV),
    )
    return config


def _instruments(root: Table) -> dict[str, InstrumentConfig]:
    section = root.table("instruments", what="one table per instrument")
    if section is None:
        return {}
    out: dict[str, InstrumentConfig] = {}
    for name, t in section.subtables("an instrument: model, address, ...").items():
        inst = _instrument(name, t)
        if inst is not None:
            out[name] = inst
    # roles: present, and of a model that can fill them; other names are high-voltage modules
    for role, models in ROLE_MODELS.items():
        what = role_what(ROLES[role]).lower()
        if role not in section.data:
            section.error(role, MISSING, f"required: an instrument of {_models_text(models)} ({what})")
        elif role in out and out[role].model not in models:
            lacks = satisfies(driver_class(out[role].model), ROLES[role])
            section.reader.error(
                section.key(role) + ".model",
                out[role].model,
                f"the {role!r} instrument must be of {_models_text(models)} ({what}; this model has no "
                f"{', '.join(lacks)})",
            )
    for role, models in OPTIONAL_ROLE_MODELS.items():
        if role in out and out[role].model not in models:
            section.reader.error(section.key(role) + ".model", out[role].model,
                                 f"the {role!r} instrument must be of {_models_text(models)} "
                                 f"({role_what(OPTIONAL_ROLES[role]).lower()})")
    hv = _models_text(HV_MODELS)
    known = {**ROLE_MODELS, **OPTIONAL_ROLE_MODELS}
    for name, inst in out.items():
        if name not in known and not is_hv_model(inst.model):
            hint = suggestion(name, known)
            section.reader.error(
                section.key(name),
                section.data[name],
                f"unknown instrument role; {hint}roles: {one_of(known)}; any other name must be a "
                f"high-voltage module ({hv})",
            )
    if section.data and not any(is_hv_model(i.model) for i in out.values()):
        section.reader.error(
            section.path,
            {n: i.model for n, i in out.items()},
            f"at least one instrument of {hv} is required (the electrodes refer to it)",
        )
    seen: dict[str, str] = {}
    for name, inst in out.items():
        if inst.address in seen:
            section.reader.error(
                section.key(name) + ".address",
                inst.address,
                f"already used by instrument {seen[inst.address]!r}; each instrument needs its own address",
            )
        seen.setdefault(inst.address, name)
    return out


def _model(t: Table) -> str | None:
    """The instrument's model, by its name or an older alias (the model's name is kept)."""
    written = t.string("model", choices=MODELS + tuple(driver_aliases()))
    return None if written is None else canonical_model(written)


def _instrument(name: str, t: Table) -> InstrumentConfig | None:
    model = _model(t)
    known_options = model_options(model)
    # options are judged against the model; with a wrong model for the role (reported
    # by _instruments) they would only add misleading "unknown key" lines
    if model and model in ROLE_MODELS.get(name, (model,)):
        t.reject_unknown(_COMMON_INSTRUMENT_KEYS + tuple(known_options))
    address = t.string("address", what="VISA resource or pyserial URL")
    if address is not None and not address_ok(address):
        t.error("address", address, _ADDRESS_HELP)
        address = None
    backend = t.string("visa_backend", default=default_of(InstrumentConfig, "visa_backend"))
    if backend is not None and "@" not in backend:
        t.error(
            "visa_backend",
            backend,
            "must be a pyvisa backend: '@py' (pyvisa-py), '@ivi' (vendor VISA) or 'file.yaml@sim'",
        )
        backend = None
    timeout_s = t.number("timeout_s", default=default_of(InstrumentConfig, "timeout_s"), gt=0, le=600, what="seconds")
    options: dict[str, Any] = {}
    for option, spec in known_options.items():
        if not t.has(option):
            continue
        read = t.integer if spec.kind == "int" else t.number
        value = read(option, what=spec.doc, **spec.bounds)
        if value is not None:
            options[option] = value
    if model is not None:  # checks between options: the driver's own
        for key, value, allowed in driver_class(model).check_options(options, lambda o: driver_default(model, o)):
            t.error(key, value, allowed)
    if model is None or address is None or backend is None:
        return None
    return InstrumentConfig(
        name=name, model=model, address=address, visa_backend=backend, timeout_s=timeout_s, options=options
    )




def _electrodes(root: Table, instruments: dict[str, InstrumentConfig]) -> dict[str, ElectrodeConfig]:
    section = root.table("electrodes", what="one table per electrode")
    if section is None:
        return {}
    modules = {n: i for n, i in instruments.items() if is_hv_model(i.model)}
    hv_what = "an " + " or ".join(repr(m) for m in HV_MODELS) + " module"
    raw = root.data.get("instruments")
    declared = raw if isinstance(raw, dict) else None  # None: [instruments] itself is reported
    out: dict[str, ElectrodeConfig] = {}
    used: dict[tuple[str, int], str] = {}
    for name, t in section.subtables("an electrode: module, channel, min_V, max_V, ramp_V_per_s").items():
        t.reject_unknown(keys_of(ElectrodeConfig))
        module = t.string("module", what=hv_what)
        if module is not None and module not in modules:
            if declared is None or (module in declared and module not in instruments):
                pass  # the instrument table is broken and reported on its own
            elif module in instruments:
                allowed = (
                    f"instrument {module!r} is a {instruments[module].model!r}, not {hv_what}; "
                    f"modules: {one_of(modules)}"
                )
            else:
                hint = suggestion(module, modules)
                choices = one_of(modules) or "none is declared"
                allowed = f"unknown module; {hint}must be {hv_what}: {choices}"
            if declared is not None and not (module in declared and module not in instruments):
                t.error("module", module, allowed)
            module = None
        channels = (
            modules[module].option("channels", _option_default(modules[module].model, "channels", _DEFAULT_HV_CHANNELS))
            if module
            else None
        )
        channel = t.integer("channel", ge=0, lt=channels, what=f"channel of module {module!r}" if module else "")
        min_V = t.number("min_V")
        max_V = t.number("max_V")
        if min_V is not None and max_V is not None and not min_V < max_V:
            t.error("max_V", max_V, f"must be greater than min_V = {show(min_V)}")
            max_V = None
        ramp = t.number("ramp_V_per_s", gt=0)
        tolerance = t.number("tolerance_V", default=default_of(ElectrodeConfig, "tolerance_V"), gt=0)
        if module is not None:
            limit = modules[module].option("max_voltage_V")
            for key, v in (("min_V", min_V), ("max_V", max_V)):
                if limit is not None and v is not None and abs(v) > limit:
                    t.error(key, v, f"must be within +-{show(limit)} V (max_voltage_V of module {module!r})")
        if module is not None and channel is not None:
            other = used.get((module, channel))
            if other is not None:
                t.error(
                    "channel",
                    channel,
                    f"module {module!r} channel {channel} is already electrode {other!r}; one electrode per channel",
                )
            used.setdefault((module, channel), name)
        if None in (module, channel, min_V, max_V, ramp, tolerance):
            continue
        out[name] = ElectrodeConfig(name, module, channel, min_V, max_V, ramp, tolerance)
    if not section.data:
        root.error("electrodes", {}, "at least one electrode is required")
    return out


def _detector(root: Table, electrodes: dict[str, ElectrodeConfig], declared: list[str] | None) -> DetectorConfig | None:
    t = root.table("detector", keys_of(DetectorConfig))
    if t is None:
        return None
    name = t.string("channeltron_electrode", what="an electrode name")
    if name is not None and declared is not None and name not in declared:
        t.error(
            "channeltron_electrode",
            name,
            f"unknown electrode; {suggestion(name, declared)}electrodes: {one_of(declared)}",
        )
    if name not in electrodes:
        name = None
    volts = t.number("channeltron_V")
    if name is not None and volts is not None and not electrodes[name].allows(volts):
        e = electrodes[name]
        t.error("channeltron_V", volts, f"must be within electrode {name!r} limits {show(e.min_V)}..{show(e.max_V)} V")
        volts = None
    # 1e-5 s: a dead time in seconds never gets near that; 50 written for 50 ns does
    dead = t.number("dead_time_s", ge=0, lt=1e-5, what="seconds, e.g. 50e-9 for 50 ns")
    model = t.string("dead_time_model", default=default_of(DetectorConfig, "dead_time_model"),
                     choices=("nonparalyzable", "paralyzable"))
    loss = t.number("max_loss_fraction", default=default_of(DetectorConfig, "max_loss_fraction"), gt=0, lt=1)
    linear = t.number("linear_limit_cps", default=default_of(DetectorConfig, "linear_limit_cps"), gt=0)
    steady = t.number("steady_rate_tolerance", default=default_of(DetectorConfig, "steady_rate_tolerance"),
                      ge=0, lt=1, what="relative scatter, e.g. 0.01")
    fwhm = t.number("angular_fwhm_deg", default=default_of(DetectorConfig, "angular_fwhm_deg"), ge=0, lt=20,
                    what="degrees, the analyzer's angular response (FWHM)")
    if None in (name, volts, dead, model, loss, linear, steady, fwhm):
        return None
    return DetectorConfig(name, volts, dead, model, loss, linear, steady, fwhm)


def _tune(
    root: Table,
    electrodes: dict[str, ElectrodeConfig],
    declared: list[str] | None,
    channeltron: str | None,
    detector: DetectorConfig | None,
    source: str,
) -> TuneTable | None:
    t = root.table("tune", keys_of(TuneTable, exclude=("source",)))
    if t is None:
        return None
    mode = t.string("mode", default="interpolate", choices=("interpolate", "exact"))
    energies = t.number_list("energies_eV", gt=0, increasing=True, what="eV")
    rows = t.table("potentials", what="electrode = [one potential per energy]")
    if rows is None:
        return None
    n = len(energies) if energies else None
    potentials: dict[str, tuple[float, ...]] = {}
    for name in rows.data:
        if declared is not None and name not in declared:
            rows.error(
                name, rows.data[name], f"unknown electrode; {suggestion(name, declared)}electrodes: {one_of(declared)}"
            )
            continue
        values = rows.number_list(name, length=n, what="one per tune.energies_eV" if n else "")
        if values is None or name not in electrodes:
            continue
        e = electrodes[name]
        bad = False
        for i, v in enumerate(values):
            if not e.allows(v):
                energy = f" at {energies[i]:g} eV" if energies else ""
                rows.reader.error(
                    f"{rows.key(name)}[{i}]",
                    v,
                    f"outside electrode {name!r} limits {show(e.min_V)}..{show(e.max_V)} V{energy}",
                )
                bad = True
        if name == channeltron:
            # the channeltron sits on its plateau, set once from [detector]; a row is only
            # tolerated when it says the same thing (files generated from all TUNE_LAWS)
            if detector is not None and any(v != detector.channeltron_V for v in values):
                rows.error(
                    name,
                    list(values),
                    "the channeltron is not tuned per energy: leave it out or make every entry "
                    f"detector.channeltron_V = {show(detector.channeltron_V)}",
                )
            continue
        if not bad:
            potentials[name] = values
    missing = [name for name in declared or () if name != channeltron and name not in rows.data]
    if channeltron not in (declared or ()) and len(missing) == 1:
        # [detector] names no valid channeltron (reported there): the one electrode
        # without a row is presumably it
        missing = []
    for name in missing:
        rows.error(
            name,
            MISSING,
            f"required: every electrode except the channeltron needs a tune row ({n or 'one per energy'} potentials)",
        )
    if mode is None or energies is None:
        return None
    return TuneTable(mode=mode, energies_eV=energies, potentials=potentials, source=source)


def _beam(root: Table, instruments: dict[str, InstrumentConfig]) -> BeamConfig | None:
    t = root.table("beam", keys_of(BeamConfig))
    if t is None:
        return None
    supply = instruments.get("filament")
    max_A = supply.option("max_current_A", driver_default(supply.model, "max_current_A")) if supply else None
    max_V = supply.option("max_voltage_V", driver_default(supply.model, "max_voltage_V")) if supply else None
    current = t.number(
        "filament_current_A", gt=0, le=max_A, what="max_current_A of the filament supply" if max_A else ""
    )
    voltage = t.number(
        "filament_voltage_limit_V", gt=0, le=max_V, what="max_voltage_V of the filament supply" if max_V else ""
    )
    step = t.number("filament_step_A", default=default_of(BeamConfig, "filament_step_A"), gt=0)
    delay = t.number("filament_step_delay_s", default=default_of(BeamConfig, "filament_step_delay_s"), ge=0)
    if current is not None and step is not None and step > current:
        t.error("filament_step_A", step, f"must be <= filament_current_A = {show(current)}")
        step = None
    if None in (current, voltage, step, delay):
        return None
    return BeamConfig(current, voltage, step, delay)


def _gas_line(root: Table, instruments: dict[str, InstrumentConfig]) -> GasLineConfig | None:
    t = root.table("gas_line", keys_of(GasLineConfig))
    if t is None:
        return None
    valves = instruments.get("valves")
    count = (
        valves.option("relay_count", _option_default(valves.model, "relay_count", _DEFAULT_RELAY_COUNT))
        if valves
        else _DEFAULT_RELAY_COUNT
    )
    what = f"relay of the 'valves' module ({count} relays)"
    needle = t.integer("needle_relay", ge=0, lt=count, what=what)
    side = t.integer("side_leak_relay", ge=0, lt=count, what=what)
    if needle is not None and side is not None and needle == side:
        t.error("side_leak_relay", side, f"must differ from needle_relay = {needle}")
        side = None
    settle = t.number("settle_s", default=default_of(GasLineConfig, "settle_s"), ge=0)
    chamber = t.integer("chamber_gauge_channel", default=default_of(GasLineConfig, "chamber_gauge_channel"),
                        ge=1, le=2, what="TPG 362 channel")
    needle_ch = t.integer("needle_gauge_channel", default=default_of(GasLineConfig, "needle_gauge_channel"),
                          ge=1, le=2, what="TPG 362 channel")
    if chamber is not None and needle_ch is not None and chamber == needle_ch:
        t.error("needle_gauge_channel", needle_ch, f"must differ from chamber_gauge_channel = {chamber}")
        needle_ch = None
    if None in (needle, side, settle, chamber, needle_ch):
        return None
    return GasLineConfig(needle, side, settle, chamber, needle_ch)


def _gases(root: Table, base: Path, check_paths: bool = True) -> dict[str, GasConfig]:
    section = root.table("gases", what="one table per gas")
    if section is None:
        return {}
    out = {}
    for name, t in section.subtables("a gas: definition, or molar_mass_g_mol and kinetic_diameter_nm").items():
        t.reject_unknown(keys_of(GasConfig, exclude=("name", "diameter_kind")))
        definition = _gas_definition(t, base, check_paths)
        given = definition is not None and definition is not MISSING
        named = definition is not None  # a broken definition file has been reported already
        mass = t.number("molar_mass_g_mol", gt=1, lt=2000, what="g/mol", default=None if named else REQUIRED)
        # kinetic diameters of gases are 0.2-1 nm; 3.4 means Angstrom was written
        diameter = t.number("kinetic_diameter_nm", gt=0.1, lt=2, what="nm, e.g. 0.340 for argon",
                            default=None if named else REQUIRED)
        table = t.string("dcs_table", default=default_of(GasConfig, "dcs_table"), what="path of a DCS CSV file")
        path = None
        if table is not None:
            path = (base / table).resolve()
            if check_paths and not path.is_file():
                t.error(
                    "dcs_table",
                    table,
                    f"no such file {str(path)!r} (relative paths are relative to the apparatus file)",
                )
                continue
        kind = None
        if given:
            gas, file = definition
            for key, value, own in (("molar_mass_g_mol", mass, gas.molar_mass_g_mol),
                                    ("kinetic_diameter_nm", diameter, gas.diameter_A / 10)):
                if value is not None and math.isfinite(own) and abs(value - own) > 1e-9 * own:
                    t.error(key, value, f"must agree with the definition file {str(file)!r} ({show(own)}), "
                                        "or be left out")
            if math.isfinite(gas.molar_mass_g_mol):
                mass, diameter, kind = gas.molar_mass_g_mol, gas.diameter_A / 10, gas.diameter_kind
            else:
                mass = math.nan if mass is None else mass
                diameter = math.nan if diameter is None else diameter
            path = path or gas.dcs_table
            definition = file
        elif definition is MISSING:  # a broken definition file: reported already
            continue
        if mass is not None and diameter is not None:
            out[name] = GasConfig(name, mass, diameter, path, definition if given else None, kind)
    if not section.data:
        root.error("gases", {}, "at least one gas is required")
    return out


def _gas_definition(t: Table, base: Path, check_paths: bool):
    """``definition = FILE`` of a gas: (Gas, path); None when absent; MISSING (with the
    problem reported) when the file is absent or invalid."""
    from foundation.gas import GasFileError, load_gas

    written = t.string("definition", default=None, what="path of a gas definition file (.toml)")
    if written is None:
        return MISSING if t.has("definition") else None
    path = (base / written).resolve()
    if not path.is_file():
        if check_paths:
            t.error("definition", written, f"no such file {str(path)!r} (relative paths are relative to the "
                                           "apparatus file)")
            return MISSING
        # the apparatus stored in a run file, read on another machine: the gas is known
        # by name (a plan may name it); what only its file says is unknown (NaN), so an
        # RFM plan that needs it is refused when it asks (GasConfig.gas)
        return _UnknownGas(), path
    try:
        return load_gas(path), path
    except GasFileError as exc:
        problems = "; ".join(line.removeprefix(f"{path}: ") for line in exc.lines)
        t.error("definition", written, f"not a valid gas definition: {problems}")
        return MISSING


class _UnknownGas:
    """A definition file that is absent where a stored apparatus is read again."""

    molar_mass_g_mol = math.nan
    diameter_A = math.nan
    diameter_kind = None
    dcs_table = None


def _gas_lines(root: Table, instruments: dict[str, InstrumentConfig], gas_line: GasLineConfig | None,
               gases: dict[str, GasConfig]) -> dict[str, LineConfig]:
    """``[gas_lines.<line>]``; without it, the target line is ``[gas_line]``'s relays."""
    section = root.table("gas_lines", what="one table per gas line (target, reference)", required=False)
    out: dict[str, LineConfig] = {}
    if section is None:
        if gas_line is not None:
            out["target"] = LineConfig("target", gas_line.needle_relay, gas_line.side_leak_relay,
                                       gauge_channel=gas_line.needle_gauge_channel)
        return out
    valves = instruments.get("valves")
    count = (valves.option("relay_count", _option_default(valves.model, "relay_count", _DEFAULT_RELAY_COUNT))
             if valves else _DEFAULT_RELAY_COUNT)
    relay_what = f"relay of the 'valves' module ({count} relays)"
    # the declared names, valid or not: an instrument with a bad address is reported
    # there, not again as an unknown gauge of every line
    declared = root.data.get("instruments")
    declared = declared if isinstance(declared, dict) else instruments
    gauges = [n for n in declared if n in ("gauges", *OPTIONAL_ROLE_MODELS)]
    used: dict[int, str] = {}
    for name, t in section.subtables("a gas line: needle_relay, side_relay, gauge, ...").items():
        if name not in LINE_NAMES:
            section.error(name, t.data, f"unknown gas line; {suggestion(name, LINE_NAMES)}allowed: {one_of(LINE_NAMES)}")
            continue
        t.reject_unknown(keys_of(LineConfig, exclude=("name",)))
        relays = {}
        for key in ("needle_relay", "side_relay", "shut_relay", "inlet_relay"):
            required = key in ("needle_relay", "side_relay")
            value = t.integer(key, ge=0, lt=count, what=relay_what, **({} if required else {"default": None}))
            if value is not None and value in used:
                t.error(key, value, f"already the {used[value]}; each valve needs its own relay")
                value = None
            elif value is not None:
                used[value] = f"{key.removesuffix('_relay')} valve of the {name} line"
            relays[key] = value
        gauge = t.string("gauge", default="gauges", choices=tuple(gauges) or ("gauges",))
        channel = t.integer("gauge_channel", default=default_of(LineConfig, "gauge_channel"), ge=1, le=2,
                            what="TPG 362 channel")
        if gauge == "gauges" and gas_line is not None and channel == gas_line.chamber_gauge_channel:
            t.error("gauge_channel", channel, f"is the chamber gauge (gas_line.chamber_gauge_channel = {channel})")
            channel = None
        gas = t.string("gas", default=None, choices=tuple(gases) or None)
        volume = t.number("volume_cm3", default=None, gt=0, what="cm^3, the line's volume behind the needle")
        temperature = t.number("temperature_K", default=default_of(LineConfig, "temperature_K"), gt=200, lt=400,
                               what="K")
        leak = t.string("leak_valve", default="manual", choices=LEAK_VALVES)
        motor = t.string("leak_valve_instrument", default=None)
        if leak == "motorised" and motor is None:
            t.error("leak_valve_instrument", MISSING, "required for a motorised leak valve (the instrument "
                                                      "that turns it)")
        if relays["shut_relay"] is not None and volume is None:
            t.error("volume_cm3", MISSING, "required with shut_relay: a rate of rise becomes a flow only "
                                           "with the line's volume")
        if None in (relays["needle_relay"], relays["side_relay"], gauge, channel, temperature, leak):
            continue
        out[name] = LineConfig(name, relays["needle_relay"], relays["side_relay"], gauge, channel,
                               relays["shut_relay"], relays["inlet_relay"], gas, volume, temperature, leak, motor)
    if section.data and "target" not in section.data:
        section.error("target", MISSING, "required: the line of the sample gas")
    if gas_line is not None and "target" in out:
        target = out["target"]
        if (target.needle_relay, target.side_relay) != (gas_line.needle_relay, gas_line.side_leak_relay):
            section.error("target", {"needle_relay": target.needle_relay, "side_relay": target.side_relay},
                       f"must use the relays of [gas_line] (needle_relay = {gas_line.needle_relay}, "
                       f"side_leak_relay = {gas_line.side_leak_relay})")
    return out


def _interlocks(root: Table) -> InterlockConfig | None:
    t = root.table("interlocks", keys_of(InterlockConfig))
    if t is None:
        return None
    chamber_max = t.number("chamber_max_mbar", gt=0)
    chamber_resume = t.number(
        "chamber_resume_mbar", gt=0, lt=chamber_max, what="below chamber_max_mbar: hysteresis" if chamber_max else ""
    )
    needle_max = t.number("needle_max_mbar", gt=0)
    needle_resume = t.number(
        "needle_resume_mbar", gt=0, lt=needle_max, what="below needle_max_mbar: hysteresis" if needle_max else ""
    )
    beam_min = t.number("beam_min_A", gt=0)
    beam_resume = t.number(
        "beam_resume_A", gt=beam_min if beam_min else 0, what="above beam_min_A: hysteresis" if beam_min else ""
    )
    wait = t.number("wait_after_recovery_s", default=default_of(InterlockConfig, "wait_after_recovery_s"), ge=0)
    values = (chamber_max, chamber_resume, needle_max, needle_resume, beam_min, beam_resume, wait)
    if None in values:
        return None
    return InterlockConfig(*values)


def _effective_volume(root: Table) -> EffectiveVolume | None:
    t = root.table("effective_volume", keys_of(EffectiveVolume), required=False)
    if t is None:
        return None
    angles = t.number_list("angles_deg", ge=0, le=180, increasing=True, what="degrees")
    factors = t.number_list(
        "factors", gt=0, length=len(angles) if angles else None, what="one per angle" if angles else ""
    )
    if angles is None or factors is None:
        return None
    return EffectiveVolume(angles, factors)


def _simulator(root: Table) -> SimulatorConfig | None:
    t = root.table("simulator", keys_of(SimulatorConfig), required=False)
    if t is None:
        return None
    scale = t.number("time_scale", default=default_of(SimulatorConfig, "time_scale"), gt=0,
                     what="how many times faster than life the simulator runs (1: real time)")
    return None if scale is None else SimulatorConfig(scale)
