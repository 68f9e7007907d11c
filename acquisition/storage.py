"""Run files: one crash-safe, NeXus-shaped HDF5 file per run.

Layout (``/entry@xbeam_file_version = 1``)::

    /                         @default=entry, NeXus root attributes
    /entry                    NXentry  @default=rel_dcs
        title, start_time, end_time, duration, program_name(@version, @configuration),
        run_id, entry_identifier, status, status_reason, points_done, planned_points,
        recovered, sessions
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

Crash safety.  The whole layout, including every dataset that will ever be written
and fixed-length string datasets for the run status, is created first; then the file
switches to SWMR mode (no object or attribute can be created afterwards).  A point
is appended to every column, the file is flushed and fsync'ed, and only then is the
scalar ``/entry/points_done`` raised and flushed again: a row counts as written when
its index is below ``points_done`` and every column reaches it, so a ``kill -9`` or a
power cut loses at most the point in progress.  Log entries are flushed and
fsync'ed too; monitor readings are flushed (a kill -9 loses none) and made durable
by the next point's fsync.  A SWMR reader (the GUI, ``read_run``)
can follow the file while it grows.  :meth:`RunWriter.resume` clears the file's
consistency flags (as ``h5clear -s`` does), trims a half-written row and appends the
rest of the run into the same file.

HDF5 format: ``libver=('v110', 'v114')`` (SWMR needs v110; 'latest' would write
types older tools cannot read); flags are uint8.  Strings written after the switch
to SWMR are fixed-length UTF-8 (``TEXT_LEN`` bytes for log text, truncated).
"""

from __future__ import annotations

import csv
import ctypes
import glob
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

try:  # POSIX: an advisory lock tells resume() that a writer is still alive
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from acquisition.events import (
    Gate,
    Message,
    Monitor,
    Paused,
    Point,
    PointFlag,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)
from foundation.clock import utc_iso

__all__ = [
    "RunRecorder",
    "DERIVED_UNITS",
    "FILE_VERSION",
    "GATES",
    "LIBVER",
    "POINT_COLUMNS",
    "RunData",
    "RunWriter",
    "StorageError",
    "clear_status_flags",
    "export_csv",
    "read_run",
]

log = logging.getLogger(__name__)

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

#: derived numbers of a point (``Point.derived``) stored as columns, with units
DERIVED_UNITS: dict[str, str] = {
    "signal_rate_cps": "1/s",
    "background_rate_cps": "1/s",
    "signal_loss": "1",
    "background_loss": "1",
    "signal_corrected_cps": "1/s",
    "background_corrected_cps": "1/s",
    "net_rate_cps": "1/s",
    "net_rate_var": "1/s^2",
    "rel_dcs": "arb",
    "rel_dcs_err": "arb",
    "effective_volume_factor": "1",
}

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


def _str_dtype(length: int):
    return h5py.string_dtype("utf-8", length)


def _gate_columns(g: str) -> list[Column]:
    nan = float("nan")
    return [
        Column(f"{g}_counts", "i8", "counts", f"{g} channeltron counts (-1: no {g} gate)", -1),
        Column(f"{g}_gate_s", "f8", "s", f"{g} counted time (sum of completed sub-gates)", nan),
        Column(f"{g}_subgate_s", "f8", "s", f"{g} nominal sub-gate length", nan),
        Column(f"{g}_t_start", "f8", "s", f"{g} gate start, clock seconds of the session", nan),
        Column(f"{g}_t_stop", "f8", "s", f"{g} gate stop, clock seconds of the session", nan),
        Column(f"{g}_utc_start", _str_dtype(UTC_LEN), None, f"{g} gate start, ISO 8601 UTC", ""),
        Column(f"{g}_beam_current", "f8", "A", f"{g} beam current, mean of before and after", nan),
        Column(f"{g}_beam_current_before", "f8", "A", f"{g} beam current read before the gate", nan),
        Column(f"{g}_beam_current_after", "f8", "A", f"{g} beam current read after the gate", nan),
        Column(f"{g}_needle_pressure", "f8", "mbar", f"{g} pressure behind the gas needle", nan),
        Column(f"{g}_chamber_pressure", "f8", "mbar", f"{g} chamber pressure", nan),
        Column(f"{g}_angle_readback", "f8", "deg", f"{g} goniometer angle read back", nan),
        Column(f"{g}_subgate_offset", "i8", None, f"first index of this point in {g}_subgate_counts", -1),
        Column(f"{g}_subgate_length", "i8", None, f"number of sub-gates of this point in {g}_subgate_counts", 0),
    ]


POINT_COLUMNS: tuple[Column, ...] = (
    Column("seq", "i8", None, "sequence number of the point in the run", -1),
    Column("sweep", "i4", None, "sweep index", -1),
    Column("energy_index", "i4", None, "index into /entry/rel_dcs/energy", -1),
    Column("angle_index", "i4", None, "index into /entry/rel_dcs/angle", -1),
    Column("energy", "f8", "eV", "incident electron energy", float("nan")),
    Column("angle", "f8", "deg", "nominal scattering angle", float("nan")),
    *_gate_columns("signal"),
    *_gate_columns("background"),
    *(Column(k, "f8", u, f"derived: {k}", float("nan")) for k, u in DERIVED_UNITS.items()),
    Column("flags", "u1", None, "PointFlag bits: " + ", ".join(f"{f.name}={int(f)}" for f in PointFlag if f), 0),
    Column("attempts", "i4", None, "how many times the point was started", 0),
    Column("session", "i4", None, "writer session (0 = first; +1 per resume): t_* restart with each", -1),
)
_COLUMNS_BY_NAME = {c.name: c for c in POINT_COLUMNS}


# --------------------------------------------------------------------------- helpers


def _json_default(obj: Any) -> Any:
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


def _to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, indent=1, sort_keys=False)


def _fit(text: str, nbytes: int) -> bytes:
    """UTF-8 ``text`` cut to ``nbytes`` without splitting a character."""
    raw = str(text).encode("utf-8")
    if len(raw) <= nbytes:
        return raw
    return raw[: nbytes - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _decode(value[()])
    return str(value)


def _parse_utc(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now_utc() -> str:
    return utc_iso(datetime.now(UTC))


def _nexus_name(text: str) -> str:
    """A valid NeXus field name (letters, digits, underscore; not starting with a digit)."""
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in str(text))
    return name if name and not name[0].isdigit() else f"_{name}"


def _gas_name(start: RunStart) -> str:
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


def _operator(start: RunStart) -> str:
    value = start.metadata.get("operator") or start.metadata.get("user")
    if isinstance(value, Mapping):
        value = value.get("name")
    return str(value) if value else "unknown"


def _tune_table(apparatus: Mapping[str, Any]) -> tuple[list[float], dict[str, list[float]]] | None:
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


def _text(group: h5py.Group, name: str, text: str, **attrs: Any) -> h5py.Dataset:
    ds = group.create_dataset(name, data=str(text), dtype=h5py.string_dtype("utf-8"))
    for key, value in attrs.items():
        ds.attrs[key] = value
    return ds


def _fixed_text(group: h5py.Group, name: str, text: str, length: int) -> h5py.Dataset:
    """A scalar fixed-length string, overwritten in place under SWMR."""
    return group.create_dataset(name, data=_fit(text, length), dtype=_str_dtype(length))


def _note(parent: h5py.Group, name: str, mime: str, data: str, description: str, file_name: Any = None) -> h5py.Group:
    note = parent.create_group(name)
    note.attrs["NX_class"] = "NXnote"
    _text(note, "type", mime)
    _text(note, "description", description)
    if file_name:
        _text(note, "file_name", str(file_name))
    _text(note, "data", data)
    return note


def _appendable(group: h5py.Group, name: str, dtype: Any, units: str | None, doc: str, fill: Any) -> h5py.Dataset:
    ds = group.create_dataset(
        name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(CHUNK,), fillvalue=fill if fill != "" else None
    )
    if units is not None:
        ds.attrs["units"] = units
    ds.attrs["long_name"] = doc
    return ds


_ONE = h5py.h5s.create_simple((1,))


def _put_row(ds: h5py.Dataset, n: int, value: Any) -> None:
    """Grow ``ds`` to ``n + 1`` rows and write row ``n``.  Through h5py's low-level
    API: half the cost of ``resize`` + ``ds[n] = value``, which matters for the
    64 columns of a point in a virtual-time overnight run."""
    ds.id.set_extent((n + 1,))
    space = ds.id.get_space()
    space.select_hyperslab((n,), (1,))
    ds.id.write(_ONE, space, np.asarray([value], dtype=ds.dtype))


def _append(ds: h5py.Dataset, value: Any) -> None:
    _put_row(ds, ds.id.get_space().shape[0], value)


def _append_many(ds: h5py.Dataset, values: np.ndarray) -> None:
    n = ds.shape[0]
    if len(values):
        ds.resize((n + len(values),))
        ds[n:] = values


# --------------------------------------------------------------------------- clearing flags


def _hdf5_library() -> ctypes.CDLL | None:
    """The libhdf5 that h5py itself runs on (None if it cannot be located for sure)."""
    candidates: list[str] = []
    try:
        with open("/proc/self/maps") as maps:  # Linux: the copy actually loaded
            candidates = sorted(
                {line.split()[-1] for line in maps if "libhdf5" in line and "_hl" not in line and "/" in line}
            )
    except OSError:
        pass
    if not candidates:  # wheels on other platforms ship it next to the package
        root = Path(h5py.__file__).parent
        for pattern in ("../h5py.libs/libhdf5-*", ".dylibs/libhdf5.*", "hdf5.dll"):
            candidates += [p for p in glob.glob(str(root / pattern)) if "_hl" not in p]
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
            lib.H5Pset.argtypes = [ctypes.c_int64, ctypes.c_char_p, ctypes.c_void_p]
            lib.H5Pset.restype = ctypes.c_int
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _clear_with_hdf5(path: Path) -> bool:
    """What ``h5clear -s`` does: open read-write with the library's private
    ``clear_status_flags`` file-access property set, then close."""
    lib = _hdf5_library()
    if lib is None:
        return False
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    flag = ctypes.c_bool(True)
    if lib.H5Pset(fapl.id, b"clear_status_flags", ctypes.byref(flag)) < 0:
        return False
    try:
        fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDWR, fapl=fapl)
    except OSError as exc:
        log.warning("HDF5 could not clear the status flags of %s: %s", path, exc)
        return False
    fid.close()
    return True


_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = ((a - c) & _M32) ^ _rot(c, 4)
    c = (c + b) & _M32
    b = ((b - a) & _M32) ^ _rot(a, 6)
    a = (a + c) & _M32
    c = ((c - b) & _M32) ^ _rot(b, 8)
    b = (b + a) & _M32
    a = ((a - c) & _M32) ^ _rot(c, 16)
    c = (c + b) & _M32
    b = ((b - a) & _M32) ^ _rot(a, 19)
    a = (a + c) & _M32
    c = ((c - b) & _M32) ^ _rot(b, 4)
    b = (b + a) & _M32
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c = ((c ^ b) - _rot(b, 14)) & _M32
    a = ((a ^ c) - _rot(c, 11)) & _M32
    b = ((b ^ a) - _rot(a, 25)) & _M32
    c = ((c ^ b) - _rot(b, 16)) & _M32
    a = ((a ^ c) - _rot(c, 4)) & _M32
    b = ((b ^ a) - _rot(a, 14)) & _M32
    return ((c ^ b) - _rot(b, 24)) & _M32


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``: the checksum of HDF5 metadata
    (``H5_checksum_lookup3``)."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _M32
    i = 0
    while length - i > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _M32
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _M32
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _M32
        a, b, c = _mix(a, b, c)
        i += 12
    if length == i:  # nothing left (only for empty input): no final mixing
        return c
    tail = data[i:] + bytes(12 - (length - i))  # the last 1..12 bytes, zero-padded
    a = (a + int.from_bytes(tail[0:4], "little")) & _M32
    b = (b + int.from_bytes(tail[4:8], "little")) & _M32
    c = (c + int.from_bytes(tail[8:12], "little")) & _M32
    return _final(a, b, c)


def _clear_superblock(path: Path) -> bool:
    """Zero the consistency flags of a version 2/3 superblock and fix its checksum
    (the byte-level equivalent of ``h5clear -s``, for when libhdf5 is not reachable)."""
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        base = 0
        while base + 8 <= size:  # the superblock sits at 0, 512, 1024, 2048, ...
            fh.seek(base)
            if fh.read(8) == _SIGNATURE:
                break
            base = 512 if base == 0 else base * 2
        else:
            raise StorageError(f"{path}: no HDF5 superblock found")
        fh.seek(base)
        head = fh.read(12)
        version, offsets = head[8], head[9]
        if version not in (2, 3):
            raise StorageError(f"{path}: superblock version {version} has no SWMR flags to clear")
        body_len = 12 + 4 * offsets
        fh.seek(base)
        body = bytearray(fh.read(body_len))
        stored = int.from_bytes(fh.read(4), "little")
        if lookup3(bytes(body)) != stored:
            raise StorageError(f"{path}: superblock checksum does not match; not touching it")
        if body[11] == 0:
            return True
        body[11] = 0
        fh.seek(base)
        fh.write(bytes(body) + lookup3(bytes(body)).to_bytes(4, "little"))
        fh.flush()
        os.fsync(fh.fileno())
    return True


def clear_status_flags(path: str | os.PathLike, *, method: str = "auto") -> str:
    """Clear the file-consistency flags a crashed writer left in the superblock, as
    ``h5clear -s`` does, so that the file can be opened for writing again.

    ``method``: "hdf5" (libhdf5's own ``clear_status_flags`` open, through the copy
    h5py loaded), "superblock" (rewrite the flag byte and checksum in Python), or
    "auto" (the first, else the second).  Returns the method used.  Only call it when
    no process has the file open for writing.
    """
    path = Path(path)
    if method in ("auto", "hdf5") and _clear_with_hdf5(path):
        return "hdf5"
    if method == "hdf5":
        raise StorageError(f"{path}: libhdf5 could not clear the status flags")
    _clear_superblock(path)
    return "superblock"


# --------------------------------------------------------------------------- writer


class RunWriter:
    """Append a run's events to its HDF5 file; an event-bus subscriber (``__call__``).

    Build with :meth:`create` (new file) or :meth:`resume` (continue a crashed or
    stopped run in the same file).  Every write is flushed and fsync'ed before it
    returns.  Not thread-safe: call it from the engine's thread only.
    """

    def __init__(self, f: h5py.File, *, fsync: bool = True) -> None:
        self._f = f
        self.path = Path(f.filename)
        self._fsync = fsync
        self._monitor_queue: list[tuple[float, ...]] = []
        self._closed = False
        entry = f["entry"]
        self._entry = entry
        self._points = entry["points"]
        self._cols = {c.name: self._points[c.name] for c in POINT_COLUMNS}
        self._subgates = {g: self._points[f"{g}_subgate_counts"] for g in GATES}
        self._grid = entry["rel_dcs"]
        # dataset handles looked up once: group lookups cost as much as the writes
        self._logs = {
            name: (entry["instrument"][name]["time"], entry["instrument"][name]["value"]) for name in MONITOR_LOGS
        }
        self._events = {name: entry["event_log"][name] for name in ("time", "utc", "kind", "text")}
        self._start_utc = _parse_utc(_decode(entry["start_time"][()]))
        self._n = int(entry["points_done"][()])
        self._session = int(entry["sessions"][()]) - 1
        self._done: set[tuple[int, int, int]] = set(
            zip(
                self._cols["sweep"][: self._n].tolist(),
                self._cols["energy_index"][: self._n].tolist(),
                self._cols["angle_index"][: self._n].tolist(),
            )
        )
        self._unknown_derived: set[str] = set()
        self._last_log: tuple[float, str, str, str] | None = None
        self._lock = _hold_writer_lock(self.path)

    # ---- construction

    @classmethod
    def create(cls, path: str | os.PathLike, start: RunStart, *, fsync: bool = True) -> RunWriter:
        """Create the run file (refusing to overwrite one), lay out every dataset,
        write the run-start information and switch to SWMR."""
        path = Path(path)
        try:
            f = h5py.File(path, "w-", libver=LIBVER)
        except FileExistsError as exc:
            raise StorageError(f"{path}: run file exists; resume it or choose another name") from exc
        try:
            _build_layout(f, start)
            f.swmr_mode = True
        except BaseException:
            f.close()
            raise
        writer = cls(f, fsync=fsync)
        writer._sync()
        log.info("run %s: writing %s", start.run_id, path)
        return writer

    @classmethod
    def resume(cls, path: str | os.PathLike, *, fsync: bool = True) -> tuple[RunWriter, RunData]:
        """Reopen a run file to append the rest of the run.

        A file whose status is still "running" was left by a crash: its consistency
        flags are cleared (as ``h5clear -s``), a half-written row is dropped, the
        recovery counter is raised and "recovered after crash" is logged.  A stopped
        run ("aborted", ...) is simply reopened.  Returns the writer (SWMR, status
        "running") and the run as read, whose ``done_keys()`` the engine skips.
        """
        path = Path(path)
        _check_no_writer(path)
        data = read_run(path)
        crashed = data.status == "running"
        if crashed:
            method = clear_status_flags(path)
            log.warning("run %s: recovering %s after a crash (flags cleared via %s)", data.run_id, path, method)
        f = h5py.File(path, "r+", libver=LIBVER)
        try:
            _repair(f, data.n_points)
            entry = f["entry"]
            entry["sessions"][()] = int(entry["sessions"][()]) + 1
            if crashed:
                entry["recovered"][()] = int(entry["recovered"][()]) + 1
            entry["status"][()] = _fit("running", STATUS_LEN)
            entry["status_reason"][()] = b""
            entry["end_time"][()] = b""
            f.swmr_mode = True
        except BaseException:
            f.close()
            raise
        writer = cls(f, fsync=fsync)
        utc = _now_utc()
        if crashed:
            text = f"recovered after crash: {data.n_points} of {data.planned_points} points kept"
            writer.write_log("recovered", float("nan"), utc, text)
        else:
            writer.write_log("reopened", float("nan"), utc, f"reopened after status {data.status!r}")
        data = replace(
            data,
            status="running",
            status_reason="",
            recovered=data.recovered + int(crashed),
            sessions=data.sessions + 1,
            log=data.log + [writer._last_log],
        )
        return writer, data

    # ---- event-bus subscriber

    def __call__(self, event: Any) -> None:
        if isinstance(event, Point):
            self.write_point(event)
        elif isinstance(event, Monitor):
            self.write_monitor(event)
        elif isinstance(event, Suspended):
            where = "" if event.point is None else f" at (sweep, energy_index, angle_index) = {event.point}"
            self.write_log("suspended", event.t, event.utc, event.reason + where)
        elif isinstance(event, Resumed):
            self.write_log("resumed", event.t, event.utc, event.reason)
        elif isinstance(event, Paused):
            self.write_log("paused", event.t, event.utc, event.reason)
        elif isinstance(event, Message):
            self.write_log("message", event.t, event.utc, f"{event.level}: {event.text}")
        elif isinstance(event, RunStop):
            self.close(event)
        elif isinstance(event, RunStart):
            self._on_run_start(event)
        else:
            log.debug("storage ignores %s", type(event).__name__)

    def _on_run_start(self, start: RunStart) -> None:
        run_id = _decode(self._entry["run_id"][()])
        if start.run_id != run_id:
            raise StorageError(f"{self.path}: holds run {run_id!r}, not {start.run_id!r}")
        if start.resumed:
            self.write_log("resumed", start.t, start.utc, f"run resumed by xbeam {start.software_version}")

    # ---- writes

    def write_point(self, p: Point) -> None:
        """Append one point to every column, update the default plot, flush, fsync,
        then commit it (``points_done``)."""
        self._check_open()
        self._drain_monitors()
        key = (p.sweep, p.energy_index, p.angle_index)
        if key in self._done:
            # keep the data (it was measured) but say so: done_keys() stays a set
            self.write_log(
                "message", float("nan"), p.signal.utc_start, f"warning: point {key} written again (seq {p.seq})"
            )
        row = self._row(p)
        for g in GATES:
            gate: Gate | None = getattr(p, g)
            counts = np.asarray(gate.subgate_counts if gate is not None else (), dtype="i8")
            row[f"{g}_subgate_offset"] = self._subgates[g].shape[0]
            row[f"{g}_subgate_length"] = len(counts)
            _append_many(self._subgates[g], counts)
        n = self._n
        for name, ds in self._cols.items():
            _put_row(ds, n, row[name])
        self._put_grid(p)
        self._sync()  # the row is on disk before it is counted
        self._n = n + 1
        self._entry["points_done"][()] = self._n
        self._sync()
        self._done.add(key)

    def write_monitor(self, m: Monitor) -> None:
        """Queue a slow-monitor reading for the three NXlog time logs.

        The readings are written with the next point, log entry or close, in one
        append per log: they are context of the point in progress, which a crash
        loses anyway (DESIGN.md: at most the point in progress).  Flushing each of
        the ~20 readings of a point on its own cost more than the point itself.
        Live displays take monitors from the event stream, not from the file."""
        self._check_open()
        self._monitor_queue.append((self._rel_time(m.t, m.utc), *(float(getattr(m, attr)) for attr, _ in MONITOR_LOGS.values())))

    def _drain_monitors(self) -> None:
        if not self._monitor_queue:
            return
        columns = np.array(self._monitor_queue, dtype=float).T
        self._monitor_queue.clear()
        for i, name in enumerate(MONITOR_LOGS):
            time_ds, value_ds = self._logs[name]
            _append_many(time_ds, columns[0])
            _append_many(value_ds, columns[i + 1])

    def write_log(self, kind: str, t: float, utc: str, text: str) -> None:
        """Append to the event log (suspensions, resumes, pauses, messages, ...)."""
        self._check_open()
        self._drain_monitors()
        rel = self._rel_time(t, utc)
        _append(self._events["time"], rel)
        _append(self._events["utc"], _fit(utc, UTC_LEN))
        _append(self._events["kind"], _fit(kind, KIND_LEN))
        _append(self._events["text"], _fit(text, TEXT_LEN))
        self._last_log = (rel, utc, kind, text)
        self._sync()

    def close(self, stop: RunStop | None = None) -> None:
        """Write the final status ("success", "aborted", "failed"), end time and
        duration, and close the file.  Without a RunStop the run counts as aborted.
        A second call does nothing."""
        if self._closed:
            return
        if stop is None:
            stop = RunStop(float("nan"), _now_utc(), "aborted", "writer closed without a run-stop event", self._n)
        try:
            self.write_log("stop", stop.t, stop.utc, f"{stop.status}: {stop.reason}")
            entry = self._entry
            entry["status"][()] = _fit(stop.status, STATUS_LEN)
            entry["status_reason"][()] = _fit(stop.reason, TEXT_LEN)
            entry["end_time"][()] = _fit(stop.utc, UTC_LEN)
            duration = self._rel_time(stop.t, stop.utc)
            entry["duration"][()] = round(duration) if math.isfinite(duration) else -1
            self._sync()
        finally:
            self._closed = True
            self._f.close()
            if self._lock is not None:
                self._lock.close()  # releases the advisory lock
        log.info("run file %s closed: %s (%d points)", self.path, stop.status, self._n)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and not self._closed:
            self.close(RunStop(float("nan"), _now_utc(), "failed", f"{exc_type.__name__}: {exc}", self._n))
        else:
            self.close()

    @property
    def points_done(self) -> int:
        return self._n

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- internals

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.path}: run file already closed")

    def _sync(self) -> None:
        """Flush HDF5's caches to the OS, then (optionally) the OS to the disk."""
        self._f.flush()
        if self._fsync:
            try:
                os.fsync(self._f.id.get_vfd_handle())
            except (OSError, ValueError, TypeError) as exc:  # a driver without a plain fd
                log.debug("fsync not possible on %s: %s", self.path, exc)

    def _rel_time(self, t: float, utc: str) -> float:
        """Seconds since the run start, from wall times (clock seconds restart when a
        crashed run is resumed by a new process)."""
        moment = _parse_utc(utc)
        if moment is None or self._start_utc is None:
            return float("nan")
        return (moment - self._start_utc).total_seconds()

    def _row(self, p: Point) -> dict[str, Any]:
        row: dict[str, Any] = {
            "seq": p.seq,
            "sweep": p.sweep,
            "energy_index": p.energy_index,
            "angle_index": p.angle_index,
            "energy": p.energy_eV,
            "angle": p.angle_deg,
            "flags": int(p.flags) & 0xFF,
            "attempts": p.attempts,
            "session": self._session,
        }
        for g in GATES:
            gate: Gate | None = getattr(p, g)
            if gate is None:
                row.update({c.name: c.missing for c in _gate_columns(g)})
                continue
            row.update(
                {
                    f"{g}_counts": gate.counts,
                    f"{g}_gate_s": gate.gate_s,
                    f"{g}_subgate_s": gate.subgate_s,
                    f"{g}_t_start": gate.t_start,
                    f"{g}_t_stop": gate.t_stop,
                    f"{g}_utc_start": _fit(gate.utc_start, UTC_LEN),
                    f"{g}_beam_current": gate.beam_current_A,
                    f"{g}_beam_current_before": gate.beam_current_before_A,
                    f"{g}_beam_current_after": gate.beam_current_after_A,
                    f"{g}_needle_pressure": gate.needle_mbar,
                    f"{g}_chamber_pressure": gate.chamber_mbar,
                    f"{g}_angle_readback": gate.angle_readback_deg,
                }
            )
        for key in DERIVED_UNITS:
            value = p.derived.get(key)
            row[key] = float("nan") if value is None else float(value)
        extra = set(p.derived) - set(DERIVED_UNITS) - self._unknown_derived
        if extra:
            # no dataset can be created under SWMR: say once what is not stored
            self._unknown_derived |= extra
            log.warning("derived numbers %s not stored (no column in file version %d)", sorted(extra), FILE_VERSION)
            self.write_log("message", float("nan"), p.signal.utc_start, f"warning: derived {sorted(extra)} not stored")
        return row

    def _put_grid(self, p: Point) -> None:
        data = self._grid["data"]
        s, e, a = p.sweep, p.energy_index, p.angle_index
        if not all(0 <= i < n for i, n in zip((s, e, a), data.shape)):
            log.warning("point %s outside the rel_dcs grid %s: kept in points only", (s, e, a), data.shape)
            return
        data[s, e, a] = p.derived.get("rel_dcs", float("nan"))
        self._grid["data_errors"][s, e, a] = p.derived.get("rel_dcs_err", float("nan"))


def _hold_writer_lock(path: Path):
    """A shared flock held while this writer lives.  HDF5 drops its own lock once
    the file is in SWMR mode, so without this resume() could not tell a crashed
    writer from a live one.  SWMR readers are not affected; the OS drops the lock
    when the process dies, even by kill -9."""
    if fcntl is None:
        return None
    fh = open(path, "rb")  # noqa: SIM115 - held open for the writer's lifetime
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def _check_no_writer(path: Path) -> None:
    if fcntl is None or not path.exists():
        return
    with open(path, "rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StorageError(f"{path}: a writer still has this run open; not resuming it") from exc
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build_layout(f: h5py.File, start: RunStart) -> None:
    """Every group, dataset and attribute the run will ever need (SWMR forbids new ones)."""
    f.attrs["NX_class"] = "NXroot"
    f.attrs["default"] = "entry"
    f.attrs["file_name"] = str(Path(f.filename).name)
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
        or f"{_gas_name(start)}: xbeam run {start.run_id}"
    )
    _text(entry, "title", str(title))
    _text(entry, "run_id", start.run_id)
    _text(entry, "entry_identifier", start.run_id)
    _text(entry, "start_time", start.utc)
    _fixed_text(entry, "end_time", "", UTC_LEN)
    entry.create_dataset("duration", data=np.int64(-1)).attrs["units"] = "s"  # NX_INT; -1 until closed
    _text(entry, "program_name", "xbeam", version=start.software_version, configuration=f"clock={start.clock}")
    _fixed_text(entry, "status", "running", STATUS_LEN)
    _fixed_text(entry, "status_reason", "", TEXT_LEN)
    entry.create_dataset("points_done", data=np.int64(0))
    entry.create_dataset("planned_points", data=np.int64(start.planned_points))
    entry.create_dataset("recovered", data=np.int64(0))
    entry.create_dataset("sessions", data=np.int64(1))

    _note(entry, "plan", "text/x-toml", start.plan_text, "the plan file as written", start.plan.get("source"))
    _note(entry, "plan_parsed", "application/json", _to_json(start.plan), "the validated plan")
    user = entry.create_group("user")
    user.attrs["NX_class"] = "NXuser"
    _text(user, "name", _operator(start))
    _note(entry, "notes", "application/json", _to_json(start.metadata), "operator metadata")
    sample = entry.create_group("sample")
    sample.attrs["NX_class"] = "NXsample"
    _text(sample, "name", _gas_name(start))

    inst = entry.create_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"
    _text(inst, "name", "xbeam crossed-beam electron spectrometer")
    _note(
        inst,
        "apparatus",
        "text/x-toml",
        start.apparatus_text,
        "the apparatus file as written",
        start.apparatus.get("source"),
    )
    _note(inst, "apparatus_parsed", "application/json", _to_json(start.apparatus), "the validated apparatus config")
    _note(inst, "snapshot", "application/json", _to_json(start.snapshot), "every instrument's identity and settings")
    tune = _tune_table(start.apparatus)
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
        _appendable(nxlog, "value", "f8", units, name.replace("_", " "), float("nan"))
        t = _appendable(nxlog, "time", "f8", "s", "time since start", float("nan"))
        t.attrs["start"] = start.utc

    points = entry.create_group("points")
    points.attrs["NX_class"] = "NXcollection"
    for c in POINT_COLUMNS:
        _appendable(points, c.name, c.dtype, c.units, c.doc, c.missing)
    for g in GATES:
        _appendable(points, f"{g}_subgate_counts", "i8", "counts", f"{g} sub-gate counts, all points end to end", -1)

    events = entry.create_group("event_log")
    events.attrs["NX_class"] = "NXcollection"
    _appendable(events, "time", "f8", "s", "time since start", float("nan"))
    _appendable(events, "utc", _str_dtype(UTC_LEN), None, "ISO 8601 UTC", "")
    _appendable(events, "kind", _str_dtype(KIND_LEN), None, "suspended|resumed|paused|message|recovered|stop|...", "")
    _appendable(events, "text", _str_dtype(TEXT_LEN), None, "what happened", "")

    shape = (max(start.sweeps, 1), len(start.energies_eV), len(start.angles_deg))
    grid = entry.create_group("rel_dcs")
    grid.attrs["NX_class"] = "NXdata"
    grid.attrs["signal"] = "data"
    grid.attrs["axes"] = ["sweep", "energy", "angle"]
    grid.attrs["sweep_indices"] = np.int32(0)
    grid.attrs["energy_indices"] = np.int32(1)
    grid.attrs["angle_indices"] = np.int32(2)
    _text(grid, "title", f"relative DCS, run {start.run_id}")
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


def _repair(f: h5py.File, n: int) -> None:
    """Before reopening a crashed file for SWMR appends: drop rows beyond the ``n``
    committed points and tails of half-written logs; rebuild the default plot."""
    entry = f["entry"]
    points = entry["points"]
    for c in POINT_COLUMNS:
        points[c.name].resize((n,))
    for g in GATES:
        if n:
            end = int(points[f"{g}_subgate_offset"][n - 1]) + int(points[f"{g}_subgate_length"][n - 1])
            end = max(end, 0)
        else:
            end = 0
        # offsets of rows without sub-gates can lie at the end; never cut below them
        points[f"{g}_subgate_counts"].resize((end,))
    entry["points_done"][()] = n
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
    data[s[ok], e[ok], a[ok]] = points["rel_dcs"][:n][ok]
    errors[s[ok], e[ok], a[ok]] = points["rel_dcs_err"][:n][ok]
    grid["data"][...] = data
    grid["data_errors"][...] = errors


# --------------------------------------------------------------------------- reading


@dataclass
class RunData:
    """A run as read from its file: numpy arrays by name plus the run-start info."""

    path: Path
    run_id: str
    status: str  #: "running" (or crashed), "success", "aborted", "failed"
    recovered: int  #: how many times the file was recovered after a crash
    plan_text: str
    apparatus_text: str
    plan: dict[str, Any]
    energies_eV: np.ndarray
    angles_deg: np.ndarray
    sweeps: int
    planned_points: int
    points: dict[str, np.ndarray]  #: every per-point dataset of /entry/points, committed rows
    monitors: dict[str, np.ndarray]  #: time (s since start), beam_current, chamber_pressure, needle_pressure
    log: list[tuple[float, str, str, str]]  #: event log: (time since start, utc, kind, text)
    subgates: dict[str, np.ndarray] = field(default_factory=dict)  #: "<gate>_subgate_counts" flat arrays
    status_reason: str = ""
    start_utc: str = ""
    end_utc: str = ""
    title: str = ""
    software_version: str = ""
    sample: str = ""
    apparatus: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    sessions: int = 1
    file_version: int = FILE_VERSION

    @property
    def n_points(self) -> int:
        return len(self.points["seq"]) if "seq" in self.points else 0

    def done_keys(self) -> set[tuple[int, int, int]]:
        """(sweep, energy_index, angle_index) of every point already in the file."""
        return set(
            zip(
                self.points["sweep"].tolist(),
                self.points["energy_index"].tolist(),
                self.points["angle_index"].tolist(),
            )
        )

    def subgate_counts(self, i: int, gate: str = "signal") -> np.ndarray:
        """Sub-gate counts of point row ``i`` (empty if the gate is absent)."""
        off = int(self.points[f"{gate}_subgate_offset"][i])
        n = int(self.points[f"{gate}_subgate_length"][i])
        return self.subgates[f"{gate}_subgate_counts"][off : off + n] if n > 0 else np.zeros(0, dtype="i8")


def _open_for_reading(path: Path) -> h5py.File:
    """SWMR read works on running, crashed and finished v110+ files; plain read on
    anything else."""
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        return h5py.File(path, "r")



class RunRecorder:
    """Event-bus subscriber that owns a run file: created at ``RunStart`` (the event
    carries the plan and the instrument snapshot the file starts with), every later
    event forwarded to the :class:`RunWriter`.  For a resumed run, pass the writer
    :meth:`RunWriter.resume` returned instead of a path."""

    def __init__(self, path: str | os.PathLike | None = None, *, writer: RunWriter | None = None,
                 fsync: bool = True) -> None:
        if (path is None) == (writer is None):
            raise ValueError("RunRecorder takes a path to create or a resumed writer, not both")
        self.path = Path(path) if path is not None else writer.path
        self.writer = writer
        self._fsync = fsync

    def __call__(self, event: Any) -> None:
        if self.writer is None:
            if not isinstance(event, RunStart):
                raise StorageError(f"{self.path}: the first event of a run must be RunStart, got {type(event).__name__}")
            self.writer = RunWriter.create(self.path, event, fsync=self._fsync)
            return
        self.writer(event)

    def close(self, stop: RunStop | None = None) -> None:
        if self.writer is not None:
            self.writer.close(stop)


def read_run(path: str | os.PathLike) -> RunData:
    """Read a run file: finished, still being written (SWMR) or left by a crash.

    Only committed points are returned (a half-written row is invisible)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    with _open_for_reading(path) as f:
        entry = f.get("entry")
        if entry is None or "xbeam_file_version" not in entry.attrs:
            raise StorageError(f"{path}: not an xbeam run file (no /entry@xbeam_file_version)")
        version = int(entry.attrs["xbeam_file_version"])
        reader = _READERS.get(version)
        if reader is None:
            raise StorageError(f"{path}: file version {version} is newer than this xbeam reads ({max(_READERS)})")
        return reader(path, entry)


def _strings(values: np.ndarray) -> np.ndarray:
    return np.array([_decode(v) for v in values], dtype=str) if len(values) else np.zeros(0, dtype=str)


def _json_note(group: h5py.Group, name: str) -> dict[str, Any]:
    try:
        return json.loads(_decode(group[name]["data"][()]))
    except (KeyError, ValueError):
        return {}


def _read_v1(path: Path, entry: h5py.Group) -> RunData:
    for ds in entry.values():  # a SWMR reader sees the writer's latest flush
        if isinstance(ds, h5py.Dataset):
            ds.refresh()
    pts = entry["points"]
    for ds in pts.values():
        ds.refresh()
    names = [name for name, obj in pts.items() if isinstance(obj, h5py.Dataset)]
    flat = {name for name in names if name.endswith("_subgate_counts")}
    per_point = [name for name in names if name not in flat]
    n = min([int(entry["points_done"][()])] + [pts[name].shape[0] for name in per_point])
    points: dict[str, np.ndarray] = {}
    for name in per_point:
        values = pts[name][:n]
        points[name] = _strings(values) if values.dtype.kind in "SOU" else values
    subgates = {name: pts[name][:] for name in flat}

    inst = entry["instrument"]
    logs = {name: inst[name] for name in MONITOR_LOGS if name in inst}
    for group in logs.values():
        group["time"].refresh()
        group["value"].refresh()
    m = min([min(g["time"].shape[0], g["value"].shape[0]) for g in logs.values()] or [0])
    monitors = {"time": next(iter(logs.values()))["time"][:m] if logs else np.zeros(0)}
    monitors.update({name: g["value"][:m] for name, g in logs.items()})

    ev = entry["event_log"]
    for name in ("time", "utc", "kind", "text"):
        ev[name].refresh()
    k = min(ev[name].shape[0] for name in ("time", "utc", "kind", "text"))
    events = list(
        zip(
            ev["time"][:k].tolist(),
            _strings(ev["utc"][:k]).tolist(),
            _strings(ev["kind"][:k]).tolist(),
            _strings(ev["text"][:k]).tolist(),
        )
    )
    grid = entry["rel_dcs"]
    return RunData(
        path=path,
        run_id=_decode(entry["run_id"][()]),
        status=_decode(entry["status"][()]),
        recovered=int(entry["recovered"][()]),
        plan_text=_decode(entry["plan"]["data"][()]),
        apparatus_text=_decode(inst["apparatus"]["data"][()]),
        plan=_json_note(entry, "plan_parsed"),
        energies_eV=grid["energy"][:],
        angles_deg=grid["angle"][:],
        sweeps=int(grid["sweep"].shape[0]),
        planned_points=int(entry["planned_points"][()]),
        points=points,
        monitors=monitors,
        log=events,
        subgates=subgates,
        status_reason=_decode(entry["status_reason"][()]),
        start_utc=_decode(entry["start_time"][()]),
        end_utc=_decode(entry["end_time"][()]),
        title=_decode(entry["title"][()]),
        software_version=_decode(entry["program_name"].attrs.get("version", "")),
        sample=_decode(entry["sample"]["name"][()]),
        apparatus=_json_note(inst, "apparatus_parsed"),
        snapshot=_json_note(inst, "snapshot"),
        metadata=_json_note(entry, "notes"),
        sessions=int(entry["sessions"][()]),
        file_version=1,
    )


_READERS = {1: _read_v1}


# --------------------------------------------------------------------------- export

CSV_COLUMNS = (
    "energy_eV",
    "angle_deg",
    "rel_dcs",
    "rel_dcs_err",
    "rel_dcs_sweep_err",
    "signal_rate_cps",
    "background_rate_cps",
    "loss_max",
    "flags",
    "flags_text",
    "n_sweeps",
)


def _combine(values: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean (weights 1/err^2) of per-sweep values, its statistical error,
    and the standard error of the mean from the sweep-to-sweep scatter."""
    ok = np.isfinite(values)
    values, errors = values[ok], errors[ok]
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    scatter = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    if np.all(np.isfinite(errors) & (errors > 0)):
        w = 1.0 / errors**2
        return float(np.sum(w * values) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w))), scatter
    return float(np.mean(values)), float("nan"), scatter  # no usable errors: plain mean


def export_csv(path: str | os.PathLike, out_path: str | os.PathLike) -> int:
    """Write one CSV row per measured (energy, angle), combining the sweeps.

    Columns (``CSV_COLUMNS``): energy_eV, angle_deg; rel_dcs and rel_dcs_err (weighted
    mean over sweeps with weights 1/rel_dcs_err^2, and 1/sqrt(sum of weights));
    rel_dcs_sweep_err (std of the sweeps / sqrt(n), NaN for one sweep);
    signal_rate_cps and background_rate_cps (total counts / total gate time);
    loss_max (largest signal or background dead-time loss over sweeps); flags (OR
    over sweeps, int) and flags_text; n_sweeps.  A point written twice counts once
    (the last).  Returns the number of rows written.
    """
    run = read_run(path)
    p = run.points
    latest: dict[tuple[int, int, int], int] = {}
    for i, key in enumerate(zip(p["sweep"].tolist(), p["energy_index"].tolist(), p["angle_index"].tolist())):
        latest[key] = i
    cells: dict[tuple[int, int], list[int]] = {}
    for (_, e, a), i in sorted(latest.items()):
        cells.setdefault((e, a), []).append(i)
    rows = 0
    with open(out_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for _cell, idx in sorted(cells.items()):
            ix = np.asarray(idx)
            value, err, scatter = _combine(p["rel_dcs"][ix], p["rel_dcs_err"][ix])
            flags = int(np.bitwise_or.reduce(p["flags"][ix].astype(int)))
            losses = np.concatenate([p["signal_loss"][ix], p["background_loss"][ix]])
            losses = losses[np.isfinite(losses)]
            writer.writerow(
                [
                    repr(float(p["energy"][ix[0]])),
                    repr(float(p["angle"][ix[0]])),
                    repr(value),
                    repr(err),
                    repr(scatter),
                    repr(_total_rate(p, "signal", ix)),
                    repr(_total_rate(p, "background", ix)),
                    repr(float(losses.max()) if len(losses) else float("nan")),
                    flags,
                    PointFlag(flags).describe(),
                    len(ix),
                ]
            )
            rows += 1
    return rows


def _total_rate(p: Mapping[str, np.ndarray], gate: str, ix: np.ndarray) -> float:
    counts, gate_s = p[f"{gate}_counts"][ix], p[f"{gate}_gate_s"][ix]
    ok = (counts >= 0) & np.isfinite(gate_s) & (gate_s > 0)
    total_s = float(np.sum(gate_s[ok]))
    return float(np.sum(counts[ok])) / total_s if total_s > 0 else float("nan")
