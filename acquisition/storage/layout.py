"""Run-file layout: where every quantity of a run lives in its HDF5 file, and the small
helpers that write and read HDF5 text.

Layout (``/entry@xbeam_file_version = 1``)::

    /                         @default=entry, NeXus root attributes
    /entry                    NXentry  @default=rel_dcs
        title, start_time, end_time, duration, program_name(@version, @configuration),
        run_id, entry_identifier, run_kind, status, status_reason, points_done,
        planned_points, recovered, sessions
        plan                  NXnote   the plan TOML as written (data), type text/x-toml
        plan_parsed           NXnote   the validated plan as JSON
        user                  NXuser   operator
        notes                 NXnote   operator metadata as JSON
        sample                NXsample name = gas
        instrument            NXinstrument
            apparatus         NXnote   apparatus TOML as written
            apparatus_parsed  NXnote   validated apparatus config as JSON
            snapshot          NXnote   every instrument's identity and settings, JSON
            tune_table        NXcollection  energy (eV) + one dataset per electrode (V)
            beam_current, chamber_pressure, needle_pressure   NXlog (value, time@start)
        points                NXcollection  one 1-D dataset per quantity, one row per point
        event_log             NXcollection  time, utc, kind, text
        rel_dcs               NXdata   data[sweep, energy, angle], data_errors, axes sweep,
                                       energy (eV), angle (deg); the default plot

The per-point columns are the point's keys, both gates' raw readings and the fields of
the run kind's result type (:mod:`acquisition.reduction`).  ``run_kind`` is absent in
files written before run kinds existed; they are DCS runs.

HDF5 format: ``libver=('v110', 'v114')`` (SWMR needs v110; 'latest' would write
types older tools cannot read); flags are uint8.  Strings written after the switch
to SWMR are fixed-length UTF-8 (``TEXT_LEN`` bytes for log text, truncated).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from acquisition.events import PointFlag, RunStart
from acquisition.reduction import RESULT_TYPES, DcsPointResult, grid_fields, result_columns
from foundation.clock import utc_iso

log = logging.getLogger(__name__)

#: the HDF5 format signature; a superblock starts with it at 0, 512, 1024, 2048, ...
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: version of the file layout; ``read_run`` dispatches on ``/entry@xbeam_file_version``
FILE_VERSION = 1
#: HDF5 format bounds: v110 is the oldest that supports SWMR; v114 rather than
#: 'latest' so that HDF5 1.10/1.12/1.14 tools read the file.
LIBVER = ("v110", "v114")

STATUS_LEN = 16  #: bytes of /entry/status ("running", "success", "aborted", "failed")
UTC_LEN = 40  #: bytes of a UTC timestamp ("2024-05-01T12:00:00.123456Z" is 27)
KIND_LEN = 16  #: bytes of an event-log kind
TEXT_LEN = 512  #: bytes of event-log text and of the status reason (longer is truncated)
CHUNK = 256  #: rows per chunk of the appendable datasets

GATES = ("signal", "background")

MONITOR_LOGS = {  # NXlog name -> (Monitor attribute, units)
    "beam_current": ("beam_current_A", "A"),
    "chamber_pressure": ("chamber_mbar", "mbar"),
    "needle_pressure": ("needle_mbar", "mbar"),
}


class StorageError(RuntimeError):
    """A run file cannot be written, read or recovered as asked."""


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One per-point dataset of ``/entry/points``."""

    name: str
    dtype: Any
    units: str | None  #: None: a count, index or code (no physical unit)
    doc: str
    missing: Any  #: value stored when the quantity does not exist (no background gate)


def str_dtype(length: int):
    return h5py.string_dtype("utf-8", length)


def gate_columns(g: str) -> list[Column]:
    nan = float("nan")
    return [
        Column(f"{g}_counts", "i8", "counts", f"{g} channeltron counts (-1: no {g} gate)", -1),
        Column(f"{g}_gate_s", "f8", "s", f"{g} counted time (sum of completed sub-gates)", nan),
        Column(f"{g}_subgate_s", "f8", "s", f"{g} nominal sub-gate length", nan),
        Column(f"{g}_t_start", "f8", "s", f"{g} gate start, clock seconds of the session", nan),
        Column(f"{g}_t_stop", "f8", "s", f"{g} gate stop, clock seconds of the session", nan),
        Column(f"{g}_utc_start", str_dtype(UTC_LEN), None, f"{g} gate start, ISO 8601 UTC", ""),
        Column(f"{g}_beam_current", "f8", "A", f"{g} beam current, mean of before and after", nan),
        Column(f"{g}_beam_current_before", "f8", "A", f"{g} beam current read before the gate", nan),
        Column(f"{g}_beam_current_after", "f8", "A", f"{g} beam current read after the gate", nan),
        Column(f"{g}_needle_pressure", "f8", "mbar", f"{g} pressure behind the gas needle", nan),
        Column(f"{g}_chamber_pressure", "f8", "mbar", f"{g} chamber pressure", nan),
        Column(f"{g}_angle_readback", "f8", "deg", f"{g} goniometer angle read back", nan),
        Column(f"{g}_subgate_chi2", "f8", "1", f"{g} sub-gates: chi2 per dof against a steady rate (NaN: untested)", nan),
        Column(f"{g}_subgate_offset", "i8", None, f"first index of this point in {g}_subgate_counts", -1),
        Column(f"{g}_subgate_length", "i8", None, f"number of sub-gates of this point in {g}_subgate_counts", 0),
    ]


def point_columns(result_type: type = DcsPointResult) -> tuple[Column, ...]:
    """Every per-point dataset of ``/entry/points`` for a run whose points yield
    ``result_type`` (its fields become the derived columns, with their units)."""
    return (
        Column("seq", "i8", None, "sequence number of the point in the run", -1),
        Column("sweep", "i4", None, "sweep index", -1),
        Column("energy_index", "i4", None, "index into /entry/rel_dcs/energy", -1),
        Column("angle_index", "i4", None, "index into /entry/rel_dcs/angle", -1),
        Column("energy", "f8", "eV", "incident electron energy", float("nan")),
        Column("angle", "f8", "deg", "nominal scattering angle", float("nan")),
        *gate_columns("signal"),
        *gate_columns("background"),
        *(Column(c.name, "f8", c.units, c.doc, float("nan")) for c in result_columns(result_type)),
        Column("flags", "u1", None, "PointFlag bits: " + ", ".join(f"{f.name}={int(f)}" for f in PointFlag if f), 0),
        Column("attempts", "i4", None, "how many times the point was started", 0),
        Column("session", "i4", None, "writer session (0 = first; +1 per resume): t_* restart with each", -1),
    )


def result_type_of(kind: str) -> type:
    """The point result type of a run kind (StorageError for a kind no procedure yields)."""
    try:
        return RESULT_TYPES[kind]
    except KeyError:
        raise StorageError(f"run kind {kind!r} has no point result type; known: {', '.join(RESULT_TYPES)}") from None


#: the columns of a DCS run (the only kind files of version 1 held)
POINT_COLUMNS: tuple[Column, ...] = point_columns(DcsPointResult)
#: derived numbers of a DCS point stored as columns, with their units
DERIVED_UNITS: dict[str, str] = {c.name: c.units for c in result_columns(DcsPointResult)}


# --------------------------------------------------------------------------- helpers


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)  # paths, datetimes, anything else: readable text beats failing a run


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=json_default, indent=1, sort_keys=False)


def fit(text: str, nbytes: int) -> bytes:
    """UTF-8 ``text`` cut to ``nbytes`` without splitting a character."""
    raw = str(text).encode("utf-8")
    if len(raw) <= nbytes:
        return raw
    return raw[: nbytes - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."


def decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return decode(value[()])
    return str(value)


def now_utc() -> str:
    return utc_iso(datetime.now(UTC))


def _nexus_name(text: str) -> str:
    """A valid NeXus field name (letters, digits, underscore; not starting with a digit)."""
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in str(text))
    return name if name and not name[0].isdigit() else f"_{name}"


def gas_name(start: RunStart) -> str:
    for source in (start.metadata, start.plan):
        for key in ("gas", "sample", "target"):
            value = source.get(key) if isinstance(source, Mapping) else None
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping):
                for sub in ("gas", "name", "formula"):
                    if isinstance(value.get(sub), str) and value[sub]:
                        return value[sub]
    return "unknown"


def operator_name(start: RunStart) -> str:
    value = start.metadata.get("operator") or start.metadata.get("user")
    if isinstance(value, Mapping):
        value = value.get("name")
    return str(value) if value else "unknown"


def tune_table(apparatus: Mapping[str, Any]) -> tuple[list[float], dict[str, list[float]]] | None:
    """The tune table (energies and potentials per electrode) from the apparatus config.

    Accepted shapes (under ``tune``, ``tune_table`` or ``gun.tune``): columns
    ``{"energies_eV": [...], "potentials": {"<electrode>": [...]}}`` (as
    ``acquisition.config`` writes it; the potentials may also sit beside the
    energies or under ``potentials_V``/``electrodes``), rows ``[{"energy_eV": 50, "<electrode>": V}, ...]``
    or ``{"50": {"<electrode>": V}, ...}``.  None if there is no table.
    """
    table = None
    for key in ("tune", "tune_table"):
        if key in apparatus:
            table = apparatus[key]
            break
    else:
        gun = apparatus.get("gun")
        if isinstance(gun, Mapping):
            table = gun.get("tune") or gun.get("tune_table")
    if not table:
        return None
    energy_keys = ("energies_eV", "energy_eV", "energies", "energy")
    try:
        if isinstance(table, Mapping) and any(k in table for k in energy_keys):
            key = next(k for k in energy_keys if k in table)
            energies = [float(e) for e in table[key]]
            source = table.get("potentials") or table.get("potentials_V") or table.get("electrodes") or table
            columns = {
                str(k): [float(v) for v in vals]
                for k, vals in source.items()
                if k not in energy_keys and isinstance(vals, (list, tuple)) and len(vals) == len(energies)
            }
            return energies, columns
        if isinstance(table, Mapping):  # {"50": {...}, "100": {...}}
            rows = [dict(v, energy_eV=float(k)) for k, v in table.items() if isinstance(v, Mapping)]
        else:
            rows = [dict(r) for r in table]
        rows.sort(key=lambda r: float(next(r[k] for k in energy_keys if k in r)))
        energies = [float(next(r[k] for k in energy_keys if k in r)) for r in rows]
        names = [k for k in rows[0] if k not in energy_keys] if rows else []
        columns = {str(n): [float(r.get(n, float("nan"))) for r in rows] for n in names}
        return energies, columns
    except (TypeError, ValueError, StopIteration, KeyError):
        log.warning("tune table not understood; kept only in the apparatus JSON")
        return None


def write_text(group: h5py.Group, name: str, text: str, **attrs: Any) -> h5py.Dataset:
    ds = group.create_dataset(name, data=str(text), dtype=h5py.string_dtype("utf-8"))
    for key, value in attrs.items():
        ds.attrs[key] = value
    return ds


def write_fixed_text(group: h5py.Group, name: str, text: str, length: int) -> h5py.Dataset:
    """A scalar fixed-length string, overwritten in place under SWMR."""
    return group.create_dataset(name, data=fit(text, length), dtype=str_dtype(length))


def write_note(parent: h5py.Group, name: str, mime: str, data: str, description: str, file_name: Any = None) -> h5py.Group:
    note = parent.create_group(name)
    note.attrs["NX_class"] = "NXnote"
    write_text(note, "type", mime)
    write_text(note, "description", description)
    if file_name:
        write_text(note, "file_name", str(file_name))
    write_text(note, "data", data)
    return note


def appendable(group: h5py.Group, name: str, dtype: Any, units: str | None, doc: str, fill: Any) -> h5py.Dataset:
    ds = group.create_dataset(
        name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(CHUNK,), fillvalue=fill if fill != "" else None
    )
    if units is not None:
        ds.attrs["units"] = units
    ds.attrs["long_name"] = doc
    return ds


_ONE = h5py.h5s.create_simple((1,))


def put_row(ds: h5py.Dataset, n: int, value: Any) -> None:
    """Grow ``ds`` to ``n + 1`` rows and write row ``n``.  Through h5py's low-level
    API: half the cost of ``resize`` + ``ds[n] = value``, which matters for the
    64 columns of a point in a virtual-time overnight run."""
    ds.id.set_extent((n + 1,))
    space = ds.id.get_space()
    space.select_hyperslab((n,), (1,))
    ds.id.write(_ONE, space, np.asarray([value], dtype=ds.dtype))


def append(ds: h5py.Dataset, value: Any) -> None:
    put_row(ds, ds.id.get_space().shape[0], value)


def append_many(ds: h5py.Dataset, values: np.ndarray) -> None:
    n = ds.shape[0]
    if len(values):
        ds.resize((n + len(values),))
        ds[n:] = values


def build_layout(f: h5py.File, start: RunStart, file_name: str | None = None) -> None:
    """Every group, dataset and attribute the run will ever need (SWMR forbids new ones).
    ``file_name``: the name the file will have (it may be built under another)."""
    f.attrs["NX_class"] = "NXroot"
    f.attrs["default"] = "entry"
    f.attrs["file_name"] = file_name or str(Path(f.filename).name)
    f.attrs["file_time"] = start.utc
    f.attrs["creator"] = "xbeam"
    f.attrs["creator_version"] = start.software_version
    f.attrs["HDF5_Version"] = h5py.version.hdf5_version
    f.attrs["h5py_version"] = h5py.version.version

    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "rel_dcs"
    entry.attrs["xbeam_file_version"] = np.int32(FILE_VERSION)
    title = (
        start.metadata.get("title")
        or start.plan.get("title")
        or start.plan.get("name")
        or f"{gas_name(start)}: xbeam run {start.run_id}"
    )
    write_text(entry, "title", str(title))
    write_text(entry, "run_id", start.run_id)
    write_text(entry, "entry_identifier", start.run_id)
    write_text(entry, "run_kind", start.kind)
    write_text(entry, "start_time", start.utc)
    write_fixed_text(entry, "end_time", "", UTC_LEN)
    entry.create_dataset("duration", data=np.int64(-1)).attrs["units"] = "s"  # NX_INT; -1 until closed
    write_text(entry, "program_name", "xbeam", version=start.software_version, configuration=f"clock={start.clock}")
    write_fixed_text(entry, "status", "running", STATUS_LEN)
    write_fixed_text(entry, "status_reason", "", TEXT_LEN)
    entry.create_dataset("points_done", data=np.int64(0))
    entry.create_dataset("planned_points", data=np.int64(start.planned_points))
    entry.create_dataset("recovered", data=np.int64(0))
    entry.create_dataset("sessions", data=np.int64(1))

    write_note(entry, "plan", "text/x-toml", start.plan_text, "the plan file as written", start.plan.get("source"))
    write_note(entry, "plan_parsed", "application/json", to_json(start.plan), "the validated plan")
    user = entry.create_group("user")
    user.attrs["NX_class"] = "NXuser"
    write_text(user, "name", operator_name(start))
    write_note(entry, "notes", "application/json", to_json(start.metadata), "operator metadata")
    sample = entry.create_group("sample")
    sample.attrs["NX_class"] = "NXsample"
    write_text(sample, "name", gas_name(start))

    inst = entry.create_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"
    write_text(inst, "name", "xbeam crossed-beam electron spectrometer")
    write_note(
        inst,
        "apparatus",
        "text/x-toml",
        start.apparatus_text,
        "the apparatus file as written",
        start.apparatus.get("source"),
    )
    write_note(inst, "apparatus_parsed", "application/json", to_json(start.apparatus), "the validated apparatus config")
    write_note(inst, "snapshot", "application/json", to_json(start.snapshot), "every instrument's identity and settings")
    tune = tune_table(start.apparatus)
    if tune is not None:
        group = inst.create_group("tune_table")
        group.attrs["NX_class"] = "NXcollection"
        energies, columns = tune
        tune_config = start.apparatus.get("tune")
        if isinstance(tune_config, Mapping) and tune_config.get("mode"):
            group.attrs["mode"] = str(tune_config["mode"])  # "interpolate" or "exact"
        group.create_dataset("energy", data=np.asarray(energies, dtype="f8")).attrs["units"] = "eV"
        for electrode, volts in columns.items():
            ds = group.create_dataset(_nexus_name(electrode), data=np.asarray(volts, dtype="f8"))
            ds.attrs["units"] = "V"
            ds.attrs["long_name"] = f"{electrode} potential"
    for name, (_, units) in MONITOR_LOGS.items():
        nxlog = inst.create_group(name)
        nxlog.attrs["NX_class"] = "NXlog"
        appendable(nxlog, "value", "f8", units, name.replace("_", " "), float("nan"))
        t = appendable(nxlog, "time", "f8", "s", "time since start", float("nan"))
        t.attrs["start"] = start.utc

    points = entry.create_group("points")
    points.attrs["NX_class"] = "NXcollection"
    for c in point_columns(result_type_of(start.kind)):
        appendable(points, c.name, c.dtype, c.units, c.doc, c.missing)
    for g in GATES:
        appendable(points, f"{g}_subgate_counts", "i8", "counts", f"{g} sub-gate counts, all points end to end", -1)

    events = entry.create_group("event_log")
    events.attrs["NX_class"] = "NXcollection"
    appendable(events, "time", "f8", "s", "time since start", float("nan"))
    appendable(events, "utc", str_dtype(UTC_LEN), None, "ISO 8601 UTC", "")
    appendable(events, "kind", str_dtype(KIND_LEN), None, "suspended|resumed|paused|message|recovered|stop|...", "")
    appendable(events, "text", str_dtype(TEXT_LEN), None, "what happened", "")

    if start.kind == "rfm":
        from .rises import build_rise_layout

        build_rise_layout(entry)

    shape = (max(start.sweeps, 1), len(start.energies_eV), len(start.angles_deg))
    grid = entry.create_group("rel_dcs")
    grid.attrs["NX_class"] = "NXdata"
    grid.attrs["signal"] = "data"
    grid.attrs["axes"] = ["sweep", "energy", "angle"]
    grid.attrs["sweep_indices"] = np.int32(0)
    grid.attrs["energy_indices"] = np.int32(1)
    grid.attrs["angle_indices"] = np.int32(2)
    write_text(grid, "title", f"relative DCS, run {start.run_id}")
    chunks = (1, max(shape[1], 1), max(shape[2], 1))
    for name in ("data", "data_errors"):  # <signal>_errors: NeXus since NIAC2018
        ds = grid.create_dataset(name, shape=shape, dtype="f8", chunks=chunks, fillvalue=np.nan)
        ds.attrs["units"] = "arb"
        ds.attrs["long_name"] = "relative DCS" if name == "data" else "relative DCS statistical error"
    grid.create_dataset("sweep", data=np.arange(shape[0], dtype="i4")).attrs["long_name"] = "sweep"
    ds = grid.create_dataset("energy", data=np.asarray(start.energies_eV, dtype="f8"))
    ds.attrs["units"] = "eV"
    ds.attrs["long_name"] = "incident energy (eV)"
    ds = grid.create_dataset("angle", data=np.asarray(start.angles_deg, dtype="f8"))
    ds.attrs["units"] = "deg"
    ds.attrs["long_name"] = "scattering angle (deg)"


def per_point_names(points: h5py.Group) -> list[str]:
    """The one-row-per-point datasets of ``/entry/points`` (the sub-gate arrays are flat)."""
    return [name for name, obj in points.items()
            if isinstance(obj, h5py.Dataset) and not name.endswith("_subgate_counts")]


def committed_points(entry: h5py.Group) -> int:
    """Rows every column of ``/entry/points`` holds and ``points_done`` has counted."""
    points = entry["points"]
    lengths = [points[name].shape[0] for name in per_point_names(points)]
    return min([int(entry["points_done"][()])] + lengths)


def trim_to_committed(f: h5py.File, n: int) -> None:
    """Before reopening a crashed file for SWMR appends: drop rows beyond the ``n``
    committed points and tails of half-written logs; rebuild the default plot."""
    entry = f["entry"]
    points = entry["points"]
    for name in per_point_names(points):
        points[name].resize((n,))
    for g in GATES:
        if n:
            end = int(points[f"{g}_subgate_offset"][n - 1]) + int(points[f"{g}_subgate_length"][n - 1])
            end = max(end, 0)
        else:
            end = 0
        # offsets of rows without sub-gates can lie at the end; never cut below them
        points[f"{g}_subgate_counts"].resize((end,))
    entry["points_done"][()] = n
    from .rises import trim_rises

    trim_rises(entry)
    logs = [entry["instrument"][name] for name in MONITOR_LOGS]
    m = min(min(g["time"].shape[0], g["value"].shape[0]) for g in logs)
    for g in logs:
        g["time"].resize((m,))
        g["value"].resize((m,))
    events = entry["event_log"]
    k = min(events[name].shape[0] for name in ("time", "utc", "kind", "text"))
    for name in ("time", "utc", "kind", "text"):
        events[name].resize((k,))
    grid = entry["rel_dcs"]
    data = np.full(grid["data"].shape, np.nan)
    errors = np.full(grid["data_errors"].shape, np.nan)
    s, e, a = (points[k][:n] for k in ("sweep", "energy_index", "angle_index"))
    ok = (s >= 0) & (s < data.shape[0]) & (e >= 0) & (e < data.shape[1]) & (a >= 0) & (a < data.shape[2])
    kind = decode(entry["run_kind"][()]) if "run_kind" in entry else "dcs"
    value, error = grid_fields(kind)
    data[s[ok], e[ok], a[ok]] = points[value][:n][ok]
    errors[s[ok], e[ok], a[ok]] = points[error][:n][ok]
    grid["data"][...] = data
    grid["data_errors"][...] = errors


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (POSIX); a no-op where a
    directory cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def default_run_path(plan) -> Path:
    """Where a run goes when nobody named its file (``xbeam run`` without ``-o``, the
    GUI's Start): ``runs/<UTC time>_<sample>.h5`` under the current directory, with
    ``-2``, ``-3``, ... when two runs start in the same second: never an existing file."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    sample = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(plan.metadata.sample))
    path = Path("runs") / f"{stamp}_{sample}.h5"
    n = 1
    while path.exists():
        n += 1
        path = path.with_name(f"{stamp}_{sample}-{n}.h5")
    return path
