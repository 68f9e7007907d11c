"""Scan plans: what to measure, in which order, for how long.

A plan is a TOML file validated into a frozen :class:`Plan` before anything moves;
problems are reported like the apparatus file's (:class:`~acquisition.config.ConfigError`:
file, key path, value, what is allowed; every problem at once; unknown keys with a
"did you mean").  Given the apparatus, a plan is also checked against it: energies
the tune table covers, angles inside the goniometer's limits, a gas the apparatus
knows, a sub-gate the counter can do.

Layout (``examples/isoflurane_overnight.toml`` is an annotated one)::

    [metadata]    sample (required), operator, notes
    [scan]        gas, energies_eV, angles_deg (list or {start, stop, step}), sweeps,
                  order = "energy-major", alternate_angles = true
    [counting]    dwell_s (+ background_dwell_s) OR target_precision + max_time_s; subgate_s
    [background]  mode = "every" | "every_nth" (with n) | "none"
    [settle]      energy_s, angle_s, gas_s
    kind          "dcs" (default) | "volume" | "rfm": which procedure runs the plan
    [rfm]         only for kind = "rfm": reference_gas, target_pressure_mbar,
                  pressure_tolerance, line_settle_s, rise_s, base_s, sample_s

Run kinds: ``dcs`` is the relative-DCS scan of the plan's gas.  ``volume`` is the
effective-volume run: the same scan of the reference gas (argon) through the needle,
with no effective-volume factor applied (its ratio to a reference DCS *is* the factor).
``rfm`` is the relative flow method: per energy and cycle (``sweeps``), the target gas
and the reference gas each through the needle at equal mean free paths, the intensity
at each of ``angles_deg``, then the line's flow by rate of rise.

Execution order (:meth:`Plan.points`), ``order = "energy-major"``: for each sweep, for
each energy in the order given, every angle.  One run through the angles at one
energy is a *pass*; pass ``p = sweep * len(energies) + energy_index``.  With
``alternate_angles`` (the default) even passes run the angle list as given and odd
passes run it backward, so every pass starts at the angle where the previous one
ended: the goniometer never travels back across the range, neither between energies
nor between sweeps.  Without it every pass runs the list as given.

Background (side leak, same gas load) is measured right after the signal of a point
when :meth:`BackgroundConfig.at` says so: at every angle (``"every"``), at angles whose
*index in the angle list* is a multiple of ``n`` plus always the last angle
(``"every_nth"``; the same angles in both directions; the engine interpolates the
others), or never (``"none"``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ApparatusConfig, driver_default
from .tomlcheck import (
    MISSING,
    ConfigError,
    Reader,
    Table,
    default_of,
    keys_of,
    one_of,
    plain_data,
    read_source,
    show,
    suggestion,
)

__all__ = [
    "BackgroundConfig",
    "ConfigError",
    "CountingConfig",
    "Metadata",
    "Plan",
    "PlannedPoint",
    "ScanConfig",
    "SettleConfig",
    "load_plan",
    "parse_plan",
]

log = logging.getLogger(__name__)

ORDERS = ("energy-major",)
BACKGROUND_MODES = ("every", "every_nth", "none")

#: angles from a {start, stop, step} range are rounded to this many decimals, so that
#: 25 + 3 * 0.1 is 25.3 and not 25.300000000000001
_ANGLE_DECIMALS = 9
#: relative slack when checking that a length is a whole number of steps or sub-gates
_WHOLE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PlannedPoint:
    """One (sweep, energy, angle) of a plan, in execution order."""

    sweep: int
    energy_index: int
    angle_index: int
    energy_eV: float
    angle_deg: float
    measure_background: bool

    @property
    def key(self) -> tuple[int, int, int]:
        """(sweep, energy_index, angle_index): unique within a plan (resuming uses it)."""
        return (self.sweep, self.energy_index, self.angle_index)

    def describe(self) -> str:
        return f"{self.sweep}/{self.energy_eV:g} eV/{self.angle_deg:g} deg"


@dataclass(frozen=True)
class Metadata:
    sample: str
    operator: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ScanConfig:
    gas: str
    energies_eV: tuple[float, ...]
    angles_deg: tuple[float, ...]
    sweeps: int = 1
    order: str = "energy-major"
    alternate_angles: bool = True


@dataclass(frozen=True)
class CountingConfig:
    """Gate times.  Exactly one of ``dwell_s`` / ``target_precision`` is set.

    ``dwell_s`` mode: the signal is counted for ``dwell_s`` and the background for
    ``background_dwell_s``, both whole numbers of sub-gates.  ``target_precision``
    mode: count in sub-gates until the net rate's relative uncertainty reaches
    ``target_precision`` or signal plus background time reaches ``max_time_s`` (a whole
    number of sub-gates); the engine chooses the signal/background split from the rates.
    """

    subgate_s: float
    dwell_s: float | None = None
    background_dwell_s: float | None = None
    target_precision: float | None = None
    max_time_s: float | None = None

    @property
    def mode(self) -> str:
        """``"dwell"`` or ``"target_precision"``."""
        return "dwell" if self.dwell_s is not None else "target_precision"

    @property
    def signal_subgates(self) -> int | None:
        return None if self.dwell_s is None else round(self.dwell_s / self.subgate_s)

    @property
    def background_subgates(self) -> int | None:
        return None if self.background_dwell_s is None else round(self.background_dwell_s / self.subgate_s)


@dataclass(frozen=True)
class BackgroundConfig:
    mode: str = "every"
    n: int | None = None  #: only for ``"every_nth"``

    def at(self, angle_index: int, n_angles: int) -> bool:
        """Whether the point at ``angle_index`` (of ``n_angles``) measures background."""
        if self.mode == "every":
            return True
        if self.mode == "none":
            return False
        return angle_index % self.n == 0 or angle_index == n_angles - 1


@dataclass(frozen=True)
class SettleConfig:
    """Waits before counting after a change.

    ``gas_s`` follows a needle / side-leak switch; the apparatus' own
    ``gas_line.settle_s`` is the hardware minimum, and the longer of the two applies.
    """

    energy_s: float = 10.0
    angle_s: float = 2.0
    gas_s: float = 5.0


#: the procedures a plan may ask for (acquisition.procedures.PROCEDURES)
KINDS = ("dcs", "volume", "rfm")


@dataclass(frozen=True)
class RfmConfig:
    """The relative flow method's settings (``[rfm]`` of a plan of kind "rfm").

    The reference pressure follows from equal mean free paths:
    ``p_ref = p_target (d_target / d_ref)^2`` with the diameters of the two gas
    definition files (:func:`foundation.mean_free_path.equal_mfp_pressures`)."""

    target_pressure_mbar: float
    reference_gas: str = "argon"
    pressure_tolerance: float = 0.02  #: relative: how close the operator must set a line
    line_settle_s: float = 30.0  #: wait after routing before a line counts as steady
    rise_s: float = 30.0  #: length of a rate-of-rise record (short: the line fills, the rise curves)
    base_s: float = 20.0  #: length of a base-rate record (inlet closed too)
    sample_s: float = 1.0  #: manometer sampling interval of both records


@dataclass(frozen=True)
class Plan:
    """A validated plan; ``text`` is the file as read (for the run file)."""

    source: str
    metadata: Metadata
    scan: ScanConfig
    counting: CountingConfig
    background: BackgroundConfig
    settle: SettleConfig
    text: str
    kind: str = "dcs"  #: the procedure that runs it (KINDS)
    rfm: RfmConfig | None = None  #: only for kind "rfm"

    def angle_order(self, sweep: int, energy_index: int) -> list[int]:
        """Angle indices in the order the pass (sweep, energy_index) measures them."""
        n = len(self.scan.angles_deg)
        p = sweep * len(self.scan.energies_eV) + energy_index
        forward = not self.scan.alternate_angles or p % 2 == 0
        return list(range(n)) if forward else list(range(n - 1, -1, -1))

    def points(self) -> list[PlannedPoint]:
        """Every point in execution order (see the module docstring)."""
        scan = self.scan
        n_angles = len(scan.angles_deg)
        out = []
        for sweep in range(scan.sweeps):
            for ie, energy in enumerate(scan.energies_eV):
                for ia in self.angle_order(sweep, ie):
                    out.append(
                        PlannedPoint(
                            sweep=sweep,
                            energy_index=ie,
                            angle_index=ia,
                            energy_eV=energy,
                            angle_deg=scan.angles_deg[ia],
                            measure_background=self.background.at(ia, n_angles),
                        )
                    )
        return out

    @property
    def n_points(self) -> int:
        return self.scan.sweeps * len(self.scan.energies_eV) * len(self.scan.angles_deg)

    def estimate_duration_s(
        self, goniometer_speed_deg_s: float = 5.0, apparatus: ApparatusConfig | None = None
    ) -> float:
        """Rough beam time of the plan: gates, settles, goniometer travel.

        Counts an energy settle per energy change, travel plus an angle settle per angle
        change, a gas settle per valve switch (the needle stays open between points
        without background), and the gates (``max_time_s`` per point in target-precision
        mode: an upper bound).  Ignores high-voltage ramps, filament warm-up and
        interlock waits.
        """
        gas_s = self.settle.gas_s
        if apparatus is not None:
            gas_s = max(gas_s, apparatus.gas_line.settle_s)
        c = self.counting
        total = 0.0
        valve = None
        energy = angle = None
        for point in self.points():
            if point.energy_eV != energy:
                total += self.settle.energy_s
                energy = point.energy_eV
            if point.angle_deg != angle:
                travel = 0.0 if angle is None else abs(point.angle_deg - angle) / goniometer_speed_deg_s
                total += travel + self.settle.angle_s
                angle = point.angle_deg
            if valve != "needle":
                total += gas_s
                valve = "needle"
            if c.mode == "dwell":
                total += c.dwell_s
                if point.measure_background:
                    total += gas_s + c.background_dwell_s
                    valve = "side_leak"
            else:
                total += c.max_time_s
                if point.measure_background:
                    total += gas_s
                    valve = "side_leak"
        return total

    def to_dict(self) -> dict[str, Any]:
        """Plain data (no ``text``) for the run file."""
        return {
            "source": self.source,
            "metadata": plain_data(vars(self.metadata)),
            "scan": plain_data(vars(self.scan)),
            "counting": plain_data(vars(self.counting)),
            "background": plain_data(vars(self.background)),
            "settle": plain_data(vars(self.settle)),
            "n_points": self.n_points,
            "kind": self.kind,
        } | ({} if self.rfm is None else {"rfm": plain_data(vars(self.rfm))})


# ====================================================================== parsing

#: the sections of a plan: the fields of Plan that come from the file
_TOP_KEYS = keys_of(Plan, exclude=("source", "text"))


def load_plan(path: str | Path, apparatus: ApparatusConfig | None = None) -> Plan:
    """Read and validate a plan file (against ``apparatus`` when given)."""
    path, text = read_source(path)
    return parse_plan(text, source=str(path), apparatus=apparatus)


def parse_plan(text: str, source: str = "<string>", apparatus: ApparatusConfig | None = None) -> Plan:
    """Validate plan TOML ``text``; raises :class:`ConfigError` listing every problem."""
    reader = Reader(source)
    root = reader.parse(text)
    if root is None:
        reader.raise_if_errors()
    root.reject_unknown(_TOP_KEYS, what="section")
    metadata = _metadata(root)
    scan, angles_table = _scan(root)
    counting = _counting(root)
    background = _background(root)
    settle = _settle(root)
    kind = root.string("kind", default="dcs", choices=KINDS)
    rfm = _rfm(root, kind)
    if kind == "rfm" and background is not None and background.mode != "every":
        root.error("background", root.data.get("background"), "a plan of kind 'rfm' measures a background with "
                                                                "every intensity: leave [background] out")
    if apparatus is not None:
        _check_against(root, apparatus, scan, angles_table, counting)
        if kind in ("volume", "rfm") and scan is not None:
            _check_absolute(root, apparatus, kind, scan, rfm)
    reader.raise_if_errors()
    plan = Plan(source, metadata, scan, counting, background, settle, text, kind, rfm)
    log.debug("plan %s: %d points", source, plan.n_points)
    return plan


def _metadata(root: Table) -> Metadata | None:
    t = root.table("metadata", keys_of(Metadata), what="sample, operator, notes")
    if t is None:
        return None
    sample = t.string("sample", what="what is in the gas line")
    operator = t.text("operator", default=default_of(Metadata, "operator"))
    notes = t.text("notes", default=default_of(Metadata, "notes"))
    if None in (sample, operator, notes):
        return None
    return Metadata(sample, operator, notes)


def _scan(root: Table) -> tuple[ScanConfig | None, Table | None]:
    t = root.table("scan", keys_of(ScanConfig))
    if t is None:
        return None, None
    gas = t.string("gas", what="a gas of the apparatus file")
    energies = t.number_list("energies_eV", gt=0, unique=True, what="eV, measured in this order")
    angles, angles_table = _angles(t)
    sweeps = t.integer("sweeps", default=default_of(ScanConfig, "sweeps"), ge=1)
    order = t.string("order", default=default_of(ScanConfig, "order"), choices=ORDERS)
    alternate = t.boolean("alternate_angles", default=default_of(ScanConfig, "alternate_angles"))
    if None in (gas, energies, angles, sweeps, order, alternate):
        return None, angles_table
    return ScanConfig(gas, energies, angles, sweeps, order, alternate), angles_table


def _angles(scan: Table) -> tuple[tuple[float, ...] | None, Table | None]:
    """``angles_deg`` as a list, or as ``{start, stop, step}`` with ``stop`` included."""
    value = scan.data.get("angles_deg", MISSING)
    if not isinstance(value, dict):
        angles = scan.number_list("angles_deg", ge=0, le=180, unique=True, what="degrees, measured in this order")
        return angles, None
    t = scan.table("angles_deg", ("start", "stop", "step"))
    start = t.number("start", ge=0, le=180, what="degrees")
    stop = t.number("stop", ge=0, le=180, what="degrees, included")
    step = t.number("step", gt=0, what="degrees")
    if None in (start, stop, step):
        return None, t
    if stop < start:
        t.error("stop", t.data["stop"], f"must be >= start = {start:g} (the range goes up; alternation runs it down)")
        return None, t
    steps = (stop - start) / step
    n = round(steps)
    if abs(steps - n) > _WHOLE_TOLERANCE * max(1.0, steps):
        lower = start + math.floor(steps) * step
        t.error(
            "stop",
            t.data["stop"],
            f"must be start plus a whole number of steps of {step:g} deg (e.g. {lower:g} or {lower + step:g})",
        )
        return None, t
    return tuple(round(start + k * step, _ANGLE_DECIMALS) for k in range(n + 1)), t


def _whole_subgates(t: Table, name: str, length_s: float | None, subgate_s: float | None) -> bool:
    """Check that ``length_s`` is a whole number (>= 1) of sub-gates; record an issue if not."""
    if length_s is None or subgate_s is None:
        return True
    ratio = length_s / subgate_s
    n = round(ratio)
    if n >= 1 and abs(ratio - n) <= _WHOLE_TOLERANCE * max(1.0, ratio):
        return True
    if ratio < 1:
        t.error(name, t.data[name], f"must be at least one sub-gate: >= subgate_s = {subgate_s:g}")
    else:
        below = math.floor(ratio) * subgate_s
        t.error(
            name,
            t.data[name],
            f"must be a whole number of sub-gates of subgate_s = {subgate_s:g} s (e.g. {below:g} or {below + subgate_s:g})",
        )
    return False


def _counting(root: Table) -> CountingConfig | None:
    t = root.table("counting", keys_of(CountingConfig))
    if t is None:
        return None
    subgate = t.number("subgate_s", gt=0, what="seconds per sub-gate")
    has_dwell, has_target = t.has("dwell_s"), t.has("target_precision")
    if has_dwell and has_target:
        t.error("target_precision", t.data["target_precision"], "give either dwell_s or target_precision, not both")
        return None
    if not has_dwell and not has_target:
        t.error("dwell_s", MISSING, "required: dwell_s (seconds per point) or target_precision (with max_time_s)")
        return None
    if has_dwell:
        if t.has("max_time_s"):
            t.error(
                "max_time_s", t.data["max_time_s"], "only used with target_precision; with dwell_s the gate is fixed"
            )
        dwell = t.number("dwell_s", gt=0, what="seconds of signal per point")
        background = t.number("background_dwell_s", default=dwell, gt=0, what="seconds; default dwell_s")
        ok = _whole_subgates(t, "dwell_s", dwell, subgate)
        if t.has("background_dwell_s"):
            ok = _whole_subgates(t, "background_dwell_s", background, subgate) and ok
        if not ok or None in (subgate, dwell, background) or t.has("max_time_s"):
            return None
        return CountingConfig(subgate_s=subgate, dwell_s=dwell, background_dwell_s=background)
    if t.has("background_dwell_s"):
        t.error(
            "background_dwell_s",
            t.data["background_dwell_s"],
            "only used with dwell_s; with target_precision the split follows the rates",
        )
    precision = t.number("target_precision", gt=0, lt=1, what="relative uncertainty of the net rate, e.g. 0.02")
    max_time = t.number("max_time_s", gt=0, what="seconds of signal + background per point at most")
    ok = _whole_subgates(t, "max_time_s", max_time, subgate)
    if not ok or None in (subgate, precision, max_time) or t.has("background_dwell_s"):
        return None
    return CountingConfig(subgate_s=subgate, target_precision=precision, max_time_s=max_time)


def _background(root: Table) -> BackgroundConfig | None:
    t = root.table("background", keys_of(BackgroundConfig), required=False)
    if t is None:
        return BackgroundConfig()
    mode = t.string("mode", default=default_of(BackgroundConfig, "mode"), choices=BACKGROUND_MODES)
    if mode == "every_nth":
        n = t.integer("n", ge=1, what="background at angle indices 0, n, 2n, ... and the last")
        return None if n is None else BackgroundConfig(mode, n)
    if t.has("n"):
        t.error("n", t.data["n"], "only used with mode = 'every_nth'")
        return None
    return None if mode is None else BackgroundConfig(mode)


def _settle(root: Table) -> SettleConfig | None:
    t = root.table("settle", keys_of(SettleConfig), required=False)
    if t is None:
        return SettleConfig()
    energy = t.number("energy_s", default=SettleConfig.energy_s, ge=0, what="seconds after an energy change")
    angle = t.number("angle_s", default=SettleConfig.angle_s, ge=0, what="seconds after the goniometer stops")
    gas = t.number("gas_s", default=SettleConfig.gas_s, ge=0, what="seconds after a needle / side-leak switch")
    if None in (energy, angle, gas):
        return None
    return SettleConfig(energy, angle, gas)


def _rfm(root: Table, kind: str | None) -> RfmConfig | None:
    t = root.table("rfm", keys_of(RfmConfig), required=kind == "rfm")
    if t is None:
        return None
    if kind != "rfm":
        root.error("rfm", t.data, f"only for a plan of kind = 'rfm' (this one is {kind!r})")
        return None
    pressure = t.number("target_pressure_mbar", gt=0, what="mbar, the target line's pressure behind the needle")
    reference = t.string("reference_gas", default=default_of(RfmConfig, "reference_gas"),
                         what="a gas of the apparatus file")
    tolerance = t.number("pressure_tolerance", default=default_of(RfmConfig, "pressure_tolerance"), gt=0, lt=0.2,
                         what="relative, e.g. 0.02")
    settle = t.number("line_settle_s", default=default_of(RfmConfig, "line_settle_s"), ge=0, what="seconds")
    rise = t.number("rise_s", default=default_of(RfmConfig, "rise_s"), gt=0, what="seconds")
    base = t.number("base_s", default=default_of(RfmConfig, "base_s"), gt=0, what="seconds")
    sample = t.number("sample_s", default=default_of(RfmConfig, "sample_s"), gt=0, what="seconds")
    for name, length in (("rise_s", rise), ("base_s", base)):
        if length is not None and sample is not None and length < 5 * sample:
            t.error(name, length, f"must hold at least 5 samples of sample_s = {show(sample)} s (a fit needs them)")
            return None
    if None in (pressure, reference, tolerance, settle, rise, base, sample):
        return None
    return RfmConfig(pressure, reference, tolerance, settle, rise, base, sample)


def rfm_pressures(plan: Plan, apparatus: ApparatusConfig) -> tuple[float, float, float]:
    """``(p_target, p_reference)`` in mbar at equal mean free paths, and the mean free
    path (m), from the two gases' definition files; ValueError if they cannot be
    compared (no definition file, diameters of different kinds)."""
    from foundation.mean_free_path import mean_free_path, pressure_for_mean_free_path

    gases = []
    for name in (plan.scan.gas, plan.rfm.reference_gas):
        gas = apparatus.gases[name].gas()
        if gas is None:
            raise ValueError(f"gas {name!r} has no definition file in the apparatus file, or it is not on this "
                             f"machine (gases.{name}.definition): "
                             "the relative flow method needs its diameter's kind and provenance")
        gases.append(gas)
    target, reference = gases
    if target.diameter_kind != reference.diameter_kind:
        raise ValueError(f"cannot compare mean free paths: {target.name} has a {target.diameter_kind} diameter, "
                         f"{reference.name} a {reference.diameter_kind} one; use the same kind for both gases")
    # each line at its own temperature: equal mean free paths, not equal p d^2
    lines = apparatus.gas_lines
    t_target = lines["target"].temperature_K
    t_reference = lines["reference"].temperature_K if "reference" in lines else t_target
    mfp = float(mean_free_path(plan.rfm.target_pressure_mbar * 100.0, target.diameter_m, t_target))
    p_reference = float(pressure_for_mean_free_path(mfp, reference.diameter_m, t_reference))
    return plan.rfm.target_pressure_mbar, p_reference / 100.0, mfp


def _check_absolute(root: Table, apparatus: ApparatusConfig, kind: str, scan: ScanConfig,
                    rfm: RfmConfig | None) -> None:
    """What a volume or RFM plan needs of the apparatus: the lines, their valves, the gas
    definitions, pressures within the gas-line interlock."""
    where = f"(apparatus {apparatus.source})"
    reader = root.reader
    lines = apparatus.gas_lines
    if kind == "volume":
        # argon through the line that holds it: with a reference line, one must say so
        # (line_for would otherwise send "argon" through the sample's line)
        declared = [line for line in lines.values() if line.gas == scan.gas]
        if "reference" in lines and not declared:
            reader.error("scan.gas", scan.gas, f"no gas line holds it: declare gas_lines.reference.gas = "
                                               f"{scan.gas!r} {where}")
        return
    if rfm is None or scan.gas not in apparatus.gases or rfm.reference_gas not in apparatus.gases:
        if rfm is not None and rfm.reference_gas not in apparatus.gases:
            reader.error("rfm.reference_gas", rfm.reference_gas,
                         f"unknown gas; must be one of {one_of(apparatus.gases)} {where}")
        return
    if rfm.reference_gas == scan.gas:
        reader.error("rfm.reference_gas", rfm.reference_gas, f"must differ from scan.gas = {scan.gas!r}")
        return
    if "reference" not in lines:
        reader.error("kind", "rfm", f"needs a reference gas line: [gas_lines.reference] {where}")
        return
    for name in ("target", "reference"):
        line = lines[name]
        if not line.can_measure_rise:
            reader.error("kind", "rfm", f"needs gas_lines.{name}.shut_relay and volume_cm3 (the rate of rise) {where}")
        if line.inlet_relay is None:
            reader.error("kind", "rfm", f"needs gas_lines.{name}.inlet_relay (the base rate: outgassing, with the "
                                        f"line isolated before its leak valve) {where}")
        if line.leak_valve == "motorised":
            reader.error("kind", "rfm", f"gas_lines.{name}.leak_valve = 'motorised': xbeam has no driver for a "
                                        f"motorised leak valve yet; declare it 'manual' {where}")
    if lines["reference"].gas not in (None, rfm.reference_gas):
        reader.error("rfm.reference_gas", rfm.reference_gas,
                     f"the reference line holds {lines['reference'].gas!r} {where}")
    plan = Plan("", None, scan, None, None, None, "", kind, rfm)
    try:
        p_target, p_reference, _ = rfm_pressures(plan, apparatus)
    except ValueError as exc:
        reader.error("rfm.reference_gas", rfm.reference_gas, f"{exc} {where}")
        return
    limit = apparatus.interlocks.needle_resume_mbar if apparatus.interlocks else math.inf
    for name, gas, p in (("target", scan.gas, p_target), ("reference", rfm.reference_gas, p_reference)):
        if p >= limit:
            reader.error("rfm.target_pressure_mbar", rfm.target_pressure_mbar,
                         f"puts the {name} line ({gas}) at {p:.3g} mbar at equal mean free paths, at or above "
                         f"the gas-line interlock's resume level {limit:g} mbar {where}; choose a lower pressure")


def _check_against(
    root: Table,
    apparatus: ApparatusConfig,
    scan: ScanConfig | None,
    angles_table: Table | None,
    counting: CountingConfig | None,
) -> None:
    """Issues where the plan asks for what this apparatus cannot do."""
    where = f"(apparatus {apparatus.source})"
    reader = root.reader
    raw = root.data.get("scan")
    raw = raw if isinstance(raw, dict) else {}
    gas = raw.get("gas")
    if isinstance(gas, str) and gas not in apparatus.gases:
        hint = suggestion(gas, apparatus.gases)
        reader.error("scan.gas", gas, f"unknown gas; {hint}must be one of {one_of(apparatus.gases)} {where}")
    energies = raw.get("energies_eV")
    if isinstance(energies, list):
        tune = apparatus.tune
        for i, energy in enumerate(energies):
            if isinstance(energy, (int, float)) and not isinstance(energy, bool) and not tune.allows(energy):
                reader.error(f"scan.energies_eV[{i}]", energy, f"must be {tune.describe()} {where}")
    lo, hi = apparatus.angle_limits_deg
    if scan is not None and lo is not None and hi is not None:
        limits = f"must be within the goniometer limits {show(lo)}..{show(hi)} deg {where}"
        if angles_table is not None:
            for name, angle in (("start", scan.angles_deg[0]), ("stop", scan.angles_deg[-1])):
                if not lo <= angle <= hi:
                    angles_table.error(name, angles_table.data[name], limits)
        else:
            for i, angle in enumerate(scan.angles_deg):
                if not lo <= angle <= hi:
                    reader.error(f"scan.angles_deg[{i}]", raw["angles_deg"][i], limits)
    counter = apparatus.instruments.get("counter")
    if counting is not None and counter is not None:
        shortest = counter.option("min_gate_s", driver_default(counter.model, "min_gate_s"))
        longest = counter.option("max_gate_s", driver_default(counter.model, "max_gate_s"))
        if shortest is not None and counting.subgate_s < shortest:
            reader.error(
                "counting.subgate_s",
                counting.subgate_s,
                f"must be >= the counter's min_gate_s = {show(shortest)} {where}",
            )
        if longest is not None and counting.subgate_s > longest:
            reader.error(
                "counting.subgate_s",
                counting.subgate_s,
                f"must be <= the counter's max_gate_s = {show(longest)} {where}",
            )
