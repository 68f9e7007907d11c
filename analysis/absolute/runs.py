"""Typed readers of the three kinds of run ``xbeam absolute`` combines (issue 10).

On top of :func:`acquisition.storage.reader.read_run`, each reader checks the run's kind
and the data it needs, and returns what the chain (:mod:`.chain`) works on:

* :class:`RelativeRun` (a ``"dcs"`` run of the target gas) and :class:`VolumeRun` (a
  ``"volume"`` run of argon through the needle): per (energy, angle) the relative DCS,
  its sweeps combined (:func:`analysis.export.combine_sweeps`), the statistical error,
  the short-term-stability term from the sweep scatter
  (:func:`.budget.stability_from_sweeps`) and the flags (OR over sweeps).  The
  effective-volume factor the run applied (column ``effective_volume_factor``) is
  divided out, so that the factor measured with argon is applied instead.
* :class:`RfmRun` (an ``"rfm"`` run): per (cycle, energy, angle, gas) the intensity
  recomputed from the raw gate columns (:func:`.rfm.beam_normalised_intensity`, with the
  dead time of the run's own detector config), every rate-of-rise record fitted
  (:func:`.rate_of_rise.fit_early_linear` for a rise, :func:`.rate_of_rise.fit_rate_of_rise`
  for a base) and the flow of each (cycle, energy, gas)
  (:func:`.rate_of_rise.flow_from_rise`, volume and temperature from the record); the
  gas definitions from ``run.plan["rfm"]``.

Several runs of one role (energies split over runs, repeated runs) are combined by
(energy, angle) with :func:`combine_relative`: every sweep of every run is one sample.

A wrong kind, a missing column or a run that holds no usable point is an
:class:`AbsoluteInputError` whose one line names the option, the file and what it
holds.  A record that cannot give a flow (too few readings, curved even at its start)
is left out with a warning (``warnings``): the chain refuses only when an energy is left
without any RFM point.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.events import PointFlag
from acquisition.storage import StorageError
from acquisition.storage.reader import RunData, read_run
from analysis.export import combine_sweeps

from .budget import stability_from_sweeps
from .rate_of_rise import Flow, NonLinearRise, RateOfRise, fit_early_linear, fit_rate_of_rise, flow_from_rise
from .rfm import Intensity, beam_normalised_intensity

__all__ = [
    "EXCLUDING_FLAGS",
    "AbsoluteInputError",
    "CombinedDcs",
    "GasInfo",
    "RelativeRun",
    "RfmFlow",
    "RfmIntensity",
    "RfmRun",
    "RiseRecord",
    "RunSource",
    "VolumeRun",
    "combine_relative",
    "energy_key",
    "angle_key",
    "read_relative",
    "read_rfm",
    "read_volume",
    "relative_from_run",
    "rfm_from_run",
    "volume_from_run",
]

#: point flags that leave a point out of every normalisation (the scale onto the RFM
#: points, <r>_good, the ICS shape): the counts cannot be trusted as they stand.
#: BACKGROUND_INTERPOLATED and REDONE are kept in the flags text but do not exclude.
EXCLUDING_FLAGS = PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW | PointFlag.LOW_BEAM | PointFlag.UNSTEADY

_MBAR_TO_PA = 100.0
_CM3_TO_M3 = 1e-6
_NANO = 1e-9


class AbsoluteInputError(Exception):
    """A user's mistake in the input of ``xbeam absolute``: ``str(self)`` is one line
    naming the option or file, the bad value and what is allowed (exit code 2)."""


def energy_key(energy_eV: float) -> float:
    """The (energy, angle) matching key of an energy: the plan's numbers, to 1e-6 eV."""
    return round(float(energy_eV), 6)


def angle_key(angle_deg: float) -> float:
    """The matching key of an angle: to 1e-4 deg (plans give 0.1-deg steps at most)."""
    return round(float(angle_deg), 4)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class RunSource:
    """Where a run came from: what the analysis file records of each input."""

    option: str  #: the command-line option that named it (--relative, --volume, --rfm)
    path: Path  #: absolute
    size_bytes: int  #: -1: no such file (a run built in memory)
    sha256: str  #: "" when there is no file
    run_id: str
    kind: str
    status: str
    gas: str
    software_version: str = ""
    start_utc: str = ""

    @classmethod
    def of(cls, run: RunData, option: str, gas: str) -> RunSource:
        path = Path(os.path.abspath(run.path))
        size, digest = -1, ""
        if path.is_file():
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            size, digest = path.stat().st_size, h.hexdigest()
        return cls(option, path, size, digest, run.run_id, run.kind, run.status, gas, run.software_version,
                   run.start_utc)

    def describe(self) -> str:
        return f"{self.option} {self.path}"


def _read(path: str | os.PathLike, option: str) -> RunData:
    try:
        return read_run(path)
    except StorageError as exc:
        text = str(exc)
        raise AbsoluteInputError(text if text.startswith(option) else f"{option} {text}") from None


def _kind_check(run: RunData, option: str, kind: str, what: str) -> None:
    if run.kind != kind:
        raise AbsoluteInputError(
            f"{option} {run.path}: a {run.kind!r} run ({_holds(run)}); {option} takes {what} (run_kind {kind!r})")


def _holds(run: RunData) -> str:
    gas = _scan_gas(run) or run.sample or "unknown gas"
    energies = ", ".join(f"{e:g}" for e in np.asarray(run.energies_eV).tolist()) or "no energies"
    return f"{gas}, {energies} eV, {run.n_points} points"


def _scan_gas(run: RunData) -> str:
    scan = run.plan.get("scan") if isinstance(run.plan, Mapping) else None
    gas = scan.get("gas") if isinstance(scan, Mapping) else None
    return str(gas) if gas else (run.sample if run.sample and run.sample != "unknown" else "")


def _status_warnings(run: RunData, option: str) -> list[str]:
    if run.status == "success":
        return []
    reason = f" ({run.status_reason})" if run.status_reason else ""
    return [f"{option} {run.path}: run status {run.status!r}{reason}: only its {run.n_points} committed points are used"]


def _columns(run: RunData, option: str, names: Iterable[str], what: str) -> None:
    missing = [n for n in names if n not in run.points]
    if missing:
        raise AbsoluteInputError(f"{option} {run.path}: no column {', '.join(missing)} in /entry/points: "
                                 f"not {what} as xbeam writes it")


def _latest_rows(points: Mapping[str, np.ndarray]) -> list[int]:
    """The row of each (sweep, energy_index, angle_index): a point written twice (measured
    again after a resume) counts once, the last (as :func:`analysis.export.export_csv`)."""
    latest: dict[tuple[int, int, int], int] = {}
    keys = zip(points["sweep"].tolist(), points["energy_index"].tolist(), points["angle_index"].tolist())
    for i, key in enumerate(keys):
        latest[key] = i
    return sorted(latest.values())


# --------------------------------------------------------------------------- relative DCS


def index_of(energies_eV, angles_deg, energy_eV: float, angle_deg: float) -> int | None:
    """The row of (``energy_eV``, ``angle_deg``) in parallel energy and angle arrays
    (compared by :func:`energy_key` and :func:`angle_key`); None if absent."""
    ek, ak = energy_key(energy_eV), angle_key(angle_deg)
    for i, (e, a) in enumerate(zip(np.asarray(energies_eV).tolist(), np.asarray(angles_deg).tolist())):
        if energy_key(e) == ek and angle_key(a) == ak:
            return i
    return None


@dataclass(frozen=True)
class CombinedDcs:
    """A relative DCS per (energy, angle), sweeps (and runs) combined; one entry per
    point, sorted by energy then angle.  Arbitrary unit (it cancels in C and in k)."""

    energy_eV: np.ndarray
    angle_deg: np.ndarray
    value: np.ndarray
    stat_err: np.ndarray  #: absolute: 1/sqrt(sum 1/u_i^2) over the sweeps
    stability: np.ndarray  #: relative: the sweep scatter beyond statistics (0 for one sweep)
    flags: np.ndarray  #: int: PointFlag bits, OR over the sweeps
    n_sweeps: np.ndarray  #: int
    sources: tuple[RunSource, ...] = ()

    def __len__(self) -> int:
        return int(self.value.size)

    @property
    def energies(self) -> np.ndarray:
        return np.unique(self.energy_eV)

    @property
    def excluded(self) -> np.ndarray:
        """bool: a flag of :data:`EXCLUDING_FLAGS` is set."""
        return (self.flags.astype(int) & int(EXCLUDING_FLAGS)) != 0

    def at_energy(self, energy_eV: float) -> np.ndarray:
        """Indices of the points at ``energy_eV``, by angle."""
        return np.flatnonzero(np.array([energy_key(e) == energy_key(energy_eV) for e in self.energy_eV], bool))

    def index(self, energy_eV: float, angle_deg: float) -> int | None:
        return index_of(self.energy_eV, self.angle_deg, energy_eV, angle_deg)

    def describe_sources(self) -> str:
        return ", ".join(str(s.path) for s in self.sources) or "(no file)"


@dataclass
class _Sweeps:
    """Every sweep sample of one (energy, angle): the raw material of :class:`CombinedDcs`."""

    energy_eV: float
    angle_deg: float
    values: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    flags: int = 0


@dataclass(frozen=True)
class RelativeRun:
    """A ``"dcs"`` run of the target gas, per (energy, angle)."""

    source: RunSource
    gas: str
    dcs: CombinedDcs
    sweep_samples: tuple[_Sweeps, ...]
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return self.source.path


@dataclass(frozen=True)
class VolumeRun(RelativeRun):
    """A ``"volume"`` run (argon through the needle), per (energy, angle): read like a
    relative run, with the angular response its apparatus declared."""

    #: ``[detector] angular_fwhm_deg`` of the run's apparatus (None: not configured)
    angular_fwhm_deg: float | None = None


_DCS_COLUMNS = ("sweep", "energy_index", "angle_index", "energy", "angle", "rel_dcs", "rel_dcs_err",
                "effective_volume_factor", "flags")


def _sweep_samples(run: RunData, option: str) -> list[_Sweeps]:
    _columns(run, option, _DCS_COLUMNS, f"a {run.kind} run")
    p = run.points
    if "path_factor" not in p:
        # before the path_factor column, rel_dcs did not carry sin(theta) itself and the
        # simulator's effective-volume table folded it in: the two reductions cannot be mixed
        raise AbsoluteInputError(f"{option} {run.path}: written by an xbeam whose relative DCS did not carry "
                                 "sin(theta) (no path_factor column); measure it again with this version")
    cells: dict[tuple[float, float], _Sweeps] = {}
    bad_factor = []
    for i in _latest_rows(p):
        factor = float(p["effective_volume_factor"][i])
        value, err = float(p["rel_dcs"][i]), float(p["rel_dcs_err"][i])
        if not (math.isfinite(factor) and factor > 0):
            bad_factor.append(f"{float(p['energy'][i]):g} eV, {float(p['angle'][i]):g} deg: {factor!r}")
            continue
        key = (energy_key(p["energy"][i]), angle_key(p["angle"][i]))
        cell = cells.setdefault(key, _Sweeps(key[0], key[1]))
        if math.isfinite(value):
            cell.values.append(value / factor)
            cell.errors.append(err / factor)
        cell.flags |= int(p["flags"][i])
    if bad_factor:
        raise AbsoluteInputError(f"{option} {run.path}: effective_volume_factor must be finite and > 0 "
                                 f"(it is divided out), got {bad_factor[0]}"
                                 + (f" and {len(bad_factor) - 1} more" if len(bad_factor) > 1 else ""))
    usable = [c for c in cells.values() if c.values]
    if not usable:
        raise AbsoluteInputError(f"{option} {run.path}: no measured point with a finite rel_dcs ({_holds(run)})")
    return sorted(usable, key=lambda c: (c.energy_eV, c.angle_deg))


def _combine_samples(cells: Sequence[_Sweeps], sources: tuple[RunSource, ...]) -> CombinedDcs:
    n = len(cells)
    out = {k: np.zeros(n) for k in ("energy", "angle", "value", "err", "stab")}
    flags, count = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for j, c in enumerate(cells):
        v, u = np.asarray(c.values, float), np.asarray(c.errors, float)
        value, err, _scatter = combine_sweeps(v, u)
        out["energy"][j], out["angle"][j], out["value"][j], out["err"][j] = c.energy_eV, c.angle_deg, value, err
        out["stab"][j] = stability_from_sweeps(v, u)
        flags[j], count[j] = c.flags, v.size
    return CombinedDcs(out["energy"], out["angle"], out["value"], out["err"], out["stab"], flags, count, sources)


def combine_relative(runs: Sequence[RelativeRun | VolumeRun]) -> CombinedDcs:
    """Several runs of one role combined by (energy, angle): every sweep of every run is
    one sample of the weighted mean, and of the scatter the stability term comes from.

    Runs of different gases are refused (one target, one reference)."""
    if not runs:
        raise ValueError("no runs to combine")
    gases = {r.gas for r in runs}
    if len(gases) > 1:
        listing = "; ".join(f"{r.source.path}: {r.gas}" for r in runs)
        raise AbsoluteInputError(f"{runs[0].source.option}: runs of different gases ({listing}): one gas per option")
    merged: dict[tuple[float, float], _Sweeps] = {}
    for r in runs:
        for c in r.sweep_samples:
            cell = merged.setdefault((c.energy_eV, c.angle_deg), _Sweeps(c.energy_eV, c.angle_deg))
            cell.values.extend(c.values)
            cell.errors.extend(c.errors)
            cell.flags |= c.flags
    cells = sorted(merged.values(), key=lambda c: (c.energy_eV, c.angle_deg))
    return _combine_samples(cells, tuple(r.source for r in runs))


def relative_from_run(run: RunData, option: str = "--relative") -> RelativeRun:
    """A :class:`RelativeRun` from a run already read (the ``"dcs"`` kind)."""
    _kind_check(run, option, "dcs", "relative DCS runs of the target gas")
    gas = _scan_gas(run) or "unknown"
    cells = _sweep_samples(run, option)
    source = RunSource.of(run, option, gas)
    return RelativeRun(source, gas, _combine_samples(cells, (source,)), tuple(cells),
                       tuple(_status_warnings(run, option)))


def volume_from_run(run: RunData, option: str = "--volume") -> VolumeRun:
    """A :class:`VolumeRun` from a run already read (the ``"volume"`` kind)."""
    _kind_check(run, option, "volume", "effective-volume runs of argon")
    gas = _scan_gas(run) or "unknown"
    cells = _sweep_samples(run, option)
    source = RunSource.of(run, option, gas)
    detector = run.apparatus.get("detector") if isinstance(run.apparatus, Mapping) else None
    fwhm = detector.get("angular_fwhm_deg") if isinstance(detector, Mapping) else None
    if fwhm is not None:
        try:
            fwhm = float(fwhm)
        except (TypeError, ValueError):
            fwhm = math.nan
        if not (math.isfinite(fwhm) and fwhm >= 0):
            raise AbsoluteInputError(f"{option} {run.path}: its apparatus's detector.angular_fwhm_deg = "
                                     f"{detector.get('angular_fwhm_deg')!r}: must be >= 0 deg (or give --angular-fwhm)")
    return VolumeRun(source, gas, _combine_samples(cells, (source,)), tuple(cells),
                     tuple(_status_warnings(run, option)), angular_fwhm_deg=fwhm)


def read_relative(path: str | os.PathLike, option: str = "--relative") -> RelativeRun:
    return relative_from_run(_read(path, option), option)


def read_volume(path: str | os.PathLike, option: str = "--volume") -> VolumeRun:
    return volume_from_run(_read(path, option), option)


# --------------------------------------------------------------------------- RFM


@dataclass(frozen=True)
class GasInfo:
    """A gas as the RFM plan recorded it (``run.plan["rfm"]["target_gas"]``)."""

    name: str
    molar_mass_g_mol: float
    diameter_A: float
    diameter_kind: str
    diameter_provenance: str = ""
    source: str = ""

    @property
    def diameter_m(self) -> float:
        return self.diameter_A * 1e-10


@dataclass(frozen=True)
class RfmIntensity:
    """One RFM point: one gas through the needle at one (cycle, energy, angle)."""

    cycle: int
    gas_index: int  #: 0: the target gas through the needle; 1: the reference
    energy_eV: float
    angle_deg: float
    intensity: Intensity  #: recomputed from the raw gates (cps/nA)
    stored_cps_per_nA: float  #: the run's own intensity_cps_per_nA (nan if absent)
    line_pressure_mbar: float  #: the needle line's manometer over the signal gate
    flags: int


@dataclass(frozen=True)
class RiseRecord:
    """One rate-of-rise record and its fit (pressures in Pa in the fit)."""

    record: int
    cycle: int
    energy_index: int
    energy_eV: float
    gas_index: int
    kind: str  #: "rise" | "base"
    line: str
    gas: str
    volume_cm3: float
    temperature_K: float
    steady_mbar: float
    n_samples: int
    fit: RateOfRise | None  #: None: the record could not be fitted (``problem`` says why)
    problem: str = ""


@dataclass(frozen=True)
class RfmFlow:
    """The flow of one gas at one (cycle, energy): rise minus base."""

    cycle: int
    energy_eV: float
    gas_index: int
    gas: str
    flow: Flow
    rise: RiseRecord
    base: RiseRecord


@dataclass(frozen=True)
class RfmRun:
    """An ``"rfm"`` run: its intensities, rate-of-rise records and flows."""

    source: RunSource
    target_gas: GasInfo
    reference_gas: GasInfo
    energies_eV: np.ndarray
    angles_deg: np.ndarray
    intensities: tuple[RfmIntensity, ...]
    records: tuple[RiseRecord, ...]
    flows: tuple[RfmFlow, ...]
    dead_time_s: float
    dead_time_model: str
    temperature_K: float  #: plan["rfm"]["temperature_K"] (nan if absent)
    plan: Mapping[str, Any]  #: plan["rfm"] as stored
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def gases(self) -> tuple[GasInfo, GasInfo]:
        return self.target_gas, self.reference_gas

    def flow(self, cycle: int, energy_eV: float, gas_index: int) -> RfmFlow | None:
        for f in self.flows:
            if f.cycle == cycle and f.gas_index == gas_index and energy_key(f.energy_eV) == energy_key(energy_eV):
                return f
        return None


_RFM_COLUMNS = ("sweep", "energy_index", "angle_index", "energy", "angle", "cycle", "gas_index", "signal_counts",
                "signal_gate_s", "signal_beam_current", "background_counts", "background_gate_s",
                "background_beam_current", "flags")
_RISE_COLUMNS = ("record", "cycle", "energy_index", "gas_index", "kind", "line", "gas", "volume_cm3",
                 "temperature_K", "steady_mbar", "sample_offset", "sample_length")


def _gas_info(run: RunData, option: str, rfm: Mapping[str, Any], key: str) -> GasInfo:
    g = rfm.get(key)
    where = f"{option} {run.path}: plan rfm.{key}"
    if not isinstance(g, Mapping):
        raise AbsoluteInputError(f"{where} is missing: the RFM run must record both gas definitions")
    try:
        name = str(g["name"])
        mass, diameter = float(g["molar_mass_g_mol"]), float(g["diameter_A"])
        kind = str(g.get("diameter_kind") or "")
    except (KeyError, TypeError, ValueError) as exc:
        raise AbsoluteInputError(f"{where}: {exc} missing or not a number (needs name, molar_mass_g_mol, "
                                 "diameter_A, diameter_kind)") from None
    for what, value in (("molar_mass_g_mol", mass), ("diameter_A", diameter)):
        if not (math.isfinite(value) and value > 0):
            raise AbsoluteInputError(f"{where}.{what} = {value!r}: must be > 0")
    return GasInfo(name, mass, diameter, kind, str(g.get("diameter_provenance") or ""), str(g.get("source") or ""))


def _detector(run: RunData, option: str) -> tuple[float, str]:
    detector = run.apparatus.get("detector") if isinstance(run.apparatus, Mapping) else None
    try:
        tau = float(detector["dead_time_s"])  # type: ignore[index]
        model = str(detector.get("dead_time_model", "nonparalyzable"))  # type: ignore[union-attr]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise AbsoluteInputError(f"{option} {run.path}: its stored apparatus has no detector.dead_time_s: the "
                                 "intensities cannot be corrected for dead time") from None
    if not (math.isfinite(tau) and tau >= 0) or model not in ("nonparalyzable", "paralyzable"):
        raise AbsoluteInputError(f"{option} {run.path}: detector dead_time_s = {tau!r}, model {model!r}: "
                                 "must be >= 0 s, nonparalyzable or paralyzable")
    return tau, model


def _gate_intensity(counts: float, gate_s: float, current_A: float, tau: float, model: str) -> Intensity:
    """One gate's dead-time-corrected rate per nA (its own beam current)."""
    return beam_normalised_intensity(counts, gate_s, 0, 1.0, current_A, dead_time_s=tau, model=model)


def _intensity(p: Mapping[str, np.ndarray], i: int, tau: float, model: str) -> Intensity:
    """``I = D(m_s)/I_s - D(m_b)/I_b`` (cps/nA): each rate corrected for dead time, each
    gate normalised to its own beam current (the background as it was at the signal
    gate's current), never divided by a pressure.  When both gates share one current this
    is exactly :func:`.rfm.beam_normalised_intensity` of the two gates."""
    i_s, i_b = float(p["signal_beam_current"][i]), float(p["background_beam_current"][i])
    n_s, t_s = float(p["signal_counts"][i]), float(p["signal_gate_s"][i])
    n_b, t_b = float(p["background_counts"][i]), float(p["background_gate_s"][i])
    if i_s == i_b:
        return beam_normalised_intensity(n_s, t_s, n_b, t_b, i_s, dead_time_s=tau, model=model)
    s = _gate_intensity(n_s, t_s, i_s, tau, model)
    b = _gate_intensity(n_b, t_b, i_b, tau, model)
    value, err = s.cps_per_nA - b.cps_per_nA, math.hypot(s.err_cps_per_nA, b.err_cps_per_nA)
    current_nA = i_s / _NANO
    return Intensity(value, err, value * current_nA, err * current_nA)


def _rise_arrays(run: RunData, option: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rises = getattr(run, "rises", None) or {}
    samples = getattr(run, "rise_samples", None) or {}
    if not rises or not len(next(iter(rises.values()), ())):
        raise AbsoluteInputError(f"{option} {run.path}: no rate-of-rise records (/entry/rate_of_rise): the flows "
                                 "cannot be measured")
    missing = [n for n in _RISE_COLUMNS if n not in rises] + [n for n in ("time", "pressure") if n not in samples]
    if missing:
        raise AbsoluteInputError(f"{option} {run.path}: /entry/rate_of_rise lacks {', '.join(missing)}")
    return rises, samples


def _fit_record(rises: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray], j: int,
                energies: np.ndarray) -> RiseRecord:
    off, n = int(rises["sample_offset"][j]), int(rises["sample_length"][j])
    t = np.asarray(samples["time"][off:off + n], float) if n > 0 else np.zeros(0)
    p = np.asarray(samples["pressure"][off:off + n], float) * _MBAR_TO_PA if n > 0 else np.zeros(0)
    kind = str(rises["kind"][j])
    e_index = int(rises["energy_index"][j])
    energy = float(energies[e_index]) if 0 <= e_index < len(energies) else math.nan
    fit, problem = None, ""
    try:
        if t.size != n or p.size != n:
            raise ValueError(f"{n} samples announced, {t.size} stored")
        if kind == "rise":
            fit = fit_early_linear(t, p)
        elif kind == "base":
            fit = fit_rate_of_rise(t, p)
        else:
            raise ValueError(f"kind {kind!r} (rise or base)")
    except (ValueError, NonLinearRise) as exc:  # NonLinearRise is a ValueError; named for the reader
        problem = str(exc)
    return RiseRecord(int(rises["record"][j]), int(rises["cycle"][j]), e_index, energy, int(rises["gas_index"][j]),
                      kind, str(rises["line"][j]), str(rises["gas"][j]), float(rises["volume_cm3"][j]),
                      float(rises["temperature_K"][j]), float(rises["steady_mbar"][j]), n, fit, problem)


def _flows(records: Sequence[RiseRecord], gases: tuple[GasInfo, GasInfo], where: str) -> tuple[list[RfmFlow], list[str]]:
    groups: dict[tuple[int, int, int], dict[str, RiseRecord]] = {}
    warnings: list[str] = []
    for r in records:
        groups.setdefault((r.cycle, r.energy_index, r.gas_index), {})[r.kind] = r  # a record written twice: the last
    flows = []
    for (cycle, _e, gas_index), pair in sorted(groups.items()):
        rise, base = pair.get("rise"), pair.get("base")
        label = f"{where}: cycle {cycle}, gas_index {gas_index}"
        if rise is None or base is None:
            warnings.append(f"{label} at {(rise or base).energy_eV:g} eV: no {'rise' if rise is None else 'base'} "
                            "record: that flow is left out")
            continue
        label += f", {rise.energy_eV:g} eV"
        problems = [f"{r.kind} record {r.record}: {r.problem}" for r in (rise, base) if r.fit is None]
        if not problems:
            # The rise is straight by construction (fit_early_linear).  A base fit's
            # curvature test fails by chance at alpha (1 %) of records, and the base is a
            # small correction: its mean slope is used, with a warning.
            curved_base = base.fit.curved
            if curved_base:
                warnings.append(f"{label}: base record {base.record} looks curved (curvature p = "
                                f"{base.fit.curvature_p:.3g}): its mean slope {base.fit.slope_Pa_s:.3g} Pa/s is used")
            try:
                flow = flow_from_rise(rise.fit, base.fit, rise.volume_cm3 * _CM3_TO_M3, rise.temperature_K,
                                      allow_curved=curved_base)
            except ValueError as exc:  # a curved base fit, a volume or temperature <= 0
                problems.append(str(exc))
            else:
                if not flow.molecules_per_s > 0:
                    problems.append(f"flow {flow.molecules_per_s:.3g} molecules/s: the rise is not above the base")
        if problems:
            warnings.append(f"{label}: " + "; ".join(problems) + ": that flow is left out")
            continue
        expected = gases[gas_index].name if gas_index in (0, 1) else "?"
        if rise.gas != expected:
            raise AbsoluteInputError(f"{label}: rise record {rise.record} is of gas {rise.gas!r}, but gas_index "
                                     f"{gas_index} is {expected!r} in the plan")
        flows.append(RfmFlow(cycle, rise.energy_eV, gas_index, rise.gas, flow, rise, base))
    return flows, warnings


def rfm_from_run(run: RunData, option: str = "--rfm") -> RfmRun:
    """An :class:`RfmRun` from a run already read (the ``"rfm"`` kind)."""
    _kind_check(run, option, "rfm", "relative-flow-method runs")
    rfm = run.plan.get("rfm") if isinstance(run.plan, Mapping) else None
    if not isinstance(rfm, Mapping):
        raise AbsoluteInputError(f"{option} {run.path}: its plan has no [rfm] table: not an RFM run as xbeam writes it")
    gases = (_gas_info(run, option, rfm, "target_gas"), _gas_info(run, option, rfm, "reference_gas"))
    tau, model = _detector(run, option)
    _columns(run, option, _RFM_COLUMNS, "an RFM run")
    p = run.points
    where = f"{option} {run.path}"
    warnings = _status_warnings(run, option)
    intensities, no_background = [], 0
    for i in _latest_rows(p):
        gas_index = int(p["gas_index"][i])
        if gas_index not in (0, 1):
            raise AbsoluteInputError(f"{where}: point row {i} has gas_index {gas_index}: 0 (target) or 1 (reference)")
        if int(p["background_counts"][i]) < 0:
            no_background += 1
            continue
        try:
            intensity = _intensity(p, i, tau, model)
        except ValueError as exc:  # a beam current <= 0
            warnings.append(f"{where}: point row {i} left out: {exc}")
            continue
        if not math.isfinite(intensity.cps_per_nA):
            warnings.append(f"{where}: point row {i} left out: its intensity is not finite (gate times?)")
            continue
        stored = float(p["intensity_cps_per_nA"][i]) if "intensity_cps_per_nA" in p else math.nan
        pressure = float(p["line_pressure_mbar"][i]) if "line_pressure_mbar" in p else math.nan
        intensities.append(RfmIntensity(int(p["cycle"][i]), gas_index, float(p["energy"][i]), float(p["angle"][i]),
                                        intensity, stored, pressure, int(p["flags"][i])))
    if no_background:
        warnings.append(f"{where}: {no_background} points without a background gate left out (the RFM needs "
                        "both gases' diffuse load subtracted)")
    if not intensities:
        raise AbsoluteInputError(f"{where}: no RFM point with a signal and a background gate ({_holds(run)})")
    diffs = [abs(it.intensity.cps_per_nA / it.stored_cps_per_nA - 1.0) for it in intensities
             if math.isfinite(it.stored_cps_per_nA) and it.stored_cps_per_nA != 0]
    differ = [d for d in diffs if not d <= 1e-6]
    if differ:
        warnings.append(f"{where}: {len(differ)} of {len(diffs)} intensities recomputed from the gates (each gate at "
                        f"its own beam current, dead time {tau:g} s) differ from the stored intensity_cps_per_nA by "
                        f"up to {100 * max(differ):.3g} %: the recomputed ones are used")
    rises, samples = _rise_arrays(run, option)
    records = [_fit_record(rises, samples, j, np.asarray(run.energies_eV, float)) for j in range(len(rises["record"]))]
    flows, flow_warnings = _flows(records, gases, where)
    warnings.extend(flow_warnings)
    try:
        temperature = float(rfm.get("temperature_K", math.nan))
    except (TypeError, ValueError):
        temperature = math.nan
    source = RunSource.of(run, option, gases[0].name)
    return RfmRun(source, gases[0], gases[1], np.asarray(run.energies_eV, float), np.asarray(run.angles_deg, float),
                  tuple(intensities), tuple(records), tuple(flows), tau, model, temperature, dict(rfm),
                  tuple(warnings))


def read_rfm(path: str | os.PathLike, option: str = "--rfm") -> RfmRun:
    return rfm_from_run(_read(path, option), option)
