"""Reading run files: whole (:func:`read_run`) or as they grow (:class:`RunFollower`).

Both read a finished file, one still being written (SWMR) and one left by a crash, and
both see only committed points: a row counts once its index is below
``/entry/points_done`` and every column reaches it (:mod:`.writer`), so a half-written
row is invisible.  The follower keeps one SWMR handle open and hands out only what was
committed since its last call: a live viewer refreshes at a few hertz without
re-reading a night of data.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

try:  # POSIX: is a writer (or another process) holding the file?
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from . import rises
from .layout import (
    FILE_VERSION,
    GATES,
    HDF5_SIGNATURE,
    MONITOR_LOGS,
    StorageError,
    committed_points,
    decode,
    per_point_names,
)

__all__ = ["LogEntry", "RunData", "RunFollower", "RunUpdate", "read_run"]

#: one event-log entry: (seconds since the run start, UTC, kind, text)
LogEntry = tuple[float, str, str, str]

_LOG_FIELDS = ("time", "utc", "kind", "text")


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
    log: list[LogEntry]  #: event log
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
    kind: str = "dcs"  #: the procedure that wrote the run (files without run_kind are DCS runs)
    #: RFM runs: one entry per rate-of-rise record (acquisition.storage.rises.RISE_COLUMNS)
    rises: dict[str, np.ndarray] = field(default_factory=dict)
    #: RFM runs: every record's samples end to end: "time" (s since its first), "pressure" (mbar)
    rise_samples: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rises(self) -> int:
        return len(self.rises.get("record", ()))

    def rise(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(time s, pressure mbar) of rate-of-rise record row ``i``."""
        off = int(self.rises["sample_offset"][i])
        n = int(self.rises["sample_length"][i])
        return self.rise_samples["time"][off:off + n], self.rise_samples["pressure"][off:off + n]

    def done_rise_keys(self) -> set[tuple]:
        """("rise", cycle, energy_index, gas_index) of every procedure item whose rate of
        rise is complete (its "rise" record is in the file; the base record comes first)."""
        r = self.rises
        if not r:
            return set()
        return {("rise", int(c), int(e), int(g))
                for c, e, g, k in zip(r["cycle"], r["energy_index"], r["gas_index"], r["kind"]) if k == "rise"}

    @property
    def n_points(self) -> int:
        return len(self.points["seq"]) if "seq" in self.points else 0

    def done_keys(self) -> set[tuple]:
        """(sweep, energy_index, angle_index) of every point already in the file, and
        the keys of an RFM run's complete rate-of-rise items (:meth:`done_rise_keys`)."""
        return set(
            zip(
                self.points["sweep"].tolist(),
                self.points["energy_index"].tolist(),
                self.points["angle_index"].tolist(),
            )
        ) | self.done_rise_keys()

    def subgate_counts(self, i: int, gate: str = "signal") -> np.ndarray:
        """Sub-gate counts of point row ``i`` (empty if the gate is absent)."""
        off = int(self.points[f"{gate}_subgate_offset"][i])
        n = int(self.points[f"{gate}_subgate_length"][i])
        return self.subgates[f"{gate}_subgate_counts"][off : off + n] if n > 0 else np.zeros(0, dtype="i8")


@dataclass(frozen=True)
class RunUpdate:
    """What a :class:`RunFollower` call found committed since the previous call."""

    first_row: int  #: row index of the first new point
    points: dict[str, np.ndarray]  #: new rows of every per-point dataset
    subgates: dict[str, list[np.ndarray]]  #: gate -> sub-gate counts of each new row
    monitors: dict[str, np.ndarray]  #: new NXlog entries: time, beam_current, ...
    log: list[LogEntry]  #: new event-log entries
    status: str
    points_done: int

    @property
    def n_points(self) -> int:
        return len(self.points.get("seq", ()))


def _strings(values: np.ndarray) -> np.ndarray:
    return np.array([decode(v) for v in values], dtype=str) if len(values) else np.zeros(0, dtype=str)


def _json_note(group: h5py.Group, name: str) -> dict[str, Any]:
    try:
        return json.loads(decode(group[name]["data"][()]))
    except (KeyError, ValueError):
        return {}


#: superblock file-consistency flags: opened for writing, opened for SWMR writing
_WRITE_FLAGS = 0x01 | 0x04


@dataclass(frozen=True)
class _Superblock:
    version: int
    flags: int  #: file-consistency flags (a writer has it open, or crashed with it open)
    end_of_file: int | None  #: the address of the end of the file (None: undefined), from the base


def _superblock(path: Path, size: int) -> _Superblock:
    """Find and decode the superblock (HDF5 file format specification, section II.A),
    refusing what is not an HDF5 file.  Reads a few hundred bytes; opens nothing with HDF5."""
    with path.open("rb") as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            head = fh.read(96)
            if head.startswith(HDF5_SIGNATURE):
                break
            offset = 512 if offset == 0 else offset * 2
        else:
            raise StorageError(f"{path}: not an HDF5 file (no HDF5 signature): not a run file")
    version = head[8] if len(head) > 8 else -1
    if version in (0, 1):
        layout = (13, 20, 4, 24 + (4 if version == 1 else 0), 2)  # sizeof offsets, flags, flag bytes, addresses
    elif version in (2, 3):
        layout = (9, 11, 1, 12, 2)
    else:  # a format this reader does not know: HDF5 itself decides
        return _Superblock(version, 0, None)
    size_at, flags_at, flag_bytes, addresses_at, eof_index = layout
    width = head[size_at] if len(head) > size_at else 0
    end = addresses_at + (eof_index + 1) * width
    if width not in (2, 4, 8) or len(head) < end:
        raise StorageError(f"{path}: damaged HDF5 file: its superblock is cut short or unreadable")
    # before version 3 the flags were not kept up to date, and SWMR needs version 3
    flags = int.from_bytes(head[flags_at:flags_at + flag_bytes], "little") if version == 3 else 0
    base = int.from_bytes(head[addresses_at:addresses_at + width], "little")
    eof = int.from_bytes(head[end - width:end], "little")
    undefined = (1 << (8 * width)) - 1
    return _Superblock(version, flags, None if eof == undefined or base == undefined else base + eof)


def _writer_alive(path: Path) -> bool:
    """True if a process holds the run file open (the writer's flock, HDF5's own lock)."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    with path.open("rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def open_run_file(path: Path) -> h5py.File:
    """Open a run file for reading, refusing at once what HDF5 could hang on.

    Why it could hang: a SWMR reader expects a file another process is still writing,
    so HDF5 skips its end-of-file check and, when a metadata block fails its checksum
    (a torn read during the writer's flush), reads it again after a sleep that doubles
    each time, up to 100 times: 2**100 ns for a block that will never be right.  A
    truncated file (its metadata cut off) hung ``resume`` and ``export`` for hours, in C,
    deaf to Ctrl-C.  So:

    * the HDF5 signature and the superblock are read first, in Python: not an HDF5 file,
      or shorter than the end-of-file address its superblock records, is refused here
      (unless a writer holds it and is growing it now);
    * a file no writer had open when it was closed (its consistency flags are clear) is
      opened without SWMR: HDF5 then reads each block once and a damaged one is an
      error at once;
    * only a file a writer has open, or crashed with open, is opened in SWMR-read mode
      (the one mode HDF5 accepts it in), with the read attempts bounded
      (:func:`_open_swmr`): a damaged block is an error within about a second.
    """
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise StorageError(f"{path}: is a directory, not a run file")
        superblock = _superblock(path, size)
    except FileNotFoundError:
        raise StorageError(f"{path}: no such file") from None
    except OSError as exc:
        raise StorageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    written = superblock.flags & _WRITE_FLAGS
    if superblock.end_of_file is not None and size < superblock.end_of_file and not (written and _writer_alive(path)):
        raise StorageError(
            f"{path}: damaged run file: {size} bytes, but its HDF5 superblock says {superblock.end_of_file} "
            "(truncated: an interrupted copy or a full disk?)"
        )
    try:
        return _open_swmr(path) if written else h5py.File(path, "r")
    except OSError as exc:
        raise StorageError(f"{path}: damaged or unreadable HDF5 file: {exc}") from exc


#: checksum read attempts of a SWMR reader: a torn read during the writer's flush is
#: right again within microseconds; 30 attempts of doubling sleeps end after ~1 s
SWMR_READ_ATTEMPTS = 30


def _open_swmr(path: Path) -> h5py.File:
    """SWMR read, with HDF5's metadata read attempts bounded (``H5Pset_metadata_read_attempts``,
    public HDF5 API that h5py does not wrap; called on h5py's own copy of the library)
    when that library can be found, so that a damaged block is an error within about a
    second instead of 2**100 ns."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)  # as h5py.File's own
    set_attempts = _hdf5_function("H5Pset_metadata_read_attempts")
    if set_attempts is not None:
        set_attempts(fapl.id, SWMR_READ_ATTEMPTS)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)


@cache
def _hdf5_function(name: str):
    """A function of the HDF5 library h5py has loaded (Linux: found in /proc/self/maps;
    elsewhere None).  Checked to be h5py's copy: it must know h5py's identifiers."""
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "libhdf5" in line}
        paths = sorted(p for p in paths if Path(p).name.startswith("libhdf5") and "_hl" not in Path(p).name)
        if len(paths) != 1:
            return None
        lib = ctypes.CDLL(paths[0])
        is_valid = lib.H5Iis_valid
        is_valid.argtypes, is_valid.restype = [ctypes.c_int64], ctypes.c_int
        probe = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        if is_valid(probe.id) <= 0:
            return None
        function = getattr(lib, name)
        function.argtypes, function.restype = [ctypes.c_int64, ctypes.c_uint], ctypes.c_int
        return function
    except (OSError, AttributeError, ValueError):
        return None


@contextmanager
def _damaged(path: Path):
    """What HDF5 raises inside a file that opened (a damaged block, a missing object of a
    file that only looks like a run) is a :class:`StorageError` naming the file."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, RuntimeError, KeyError, UnicodeDecodeError) as exc:  # not a bug of ours: the file
        raise StorageError(f"{path}: damaged, or not a complete xbeam run file: {exc}") from exc


class _RunEntry:
    """The ``/entry`` of one open run file and the committed ranges of its growing parts."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        entry = f.get("entry")
        if not isinstance(entry, h5py.Group) or "xbeam_file_version" not in entry.attrs:
            raise StorageError(f"{path}: not an xbeam run file (no /entry@xbeam_file_version)")
        version = int(entry.attrs["xbeam_file_version"])
        if version != FILE_VERSION:
            raise StorageError(f"{path}: file version {version} is newer than this xbeam reads ({FILE_VERSION})")
        self.path = path
        self.entry = entry
        self.points = entry["points"]
        self.per_point = per_point_names(self.points)
        self.flat = {g: self.points[f"{g}_subgate_counts"] for g in GATES}
        inst = entry["instrument"]
        self.logs = {name: (inst[name]["time"], inst[name]["value"]) for name in MONITOR_LOGS if name in inst}
        self.events = {name: entry["event_log"][name] for name in _LOG_FIELDS}
        self._growing = [
            entry["points_done"], entry["status"], *(self.points[n] for n in self.per_point), *self.flat.values(),
            *(ds for pair in self.logs.values() for ds in pair), *self.events.values(), *rises.growing(entry),
        ]

    def refresh(self) -> None:
        """A SWMR reader sees the writer's latest flush only after a refresh."""
        for ds in self._growing:
            ds.refresh()

    def committed(self) -> int:
        return committed_points(self.entry)

    def status(self) -> str:
        return decode(self.entry["status"][()])

    def point_rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        out = {}
        for name in self.per_point:
            values = self.points[name][start:stop]
            out[name] = _strings(values) if values.dtype.kind in "SOU" else values
        return out

    def monitor_rows(self, start: int) -> tuple[dict[str, np.ndarray], int]:
        """NXlog entries from ``start`` on (every log as long as the shortest) and the new end."""
        if not self.logs:
            return {"time": np.zeros(0)}, start
        end = min(min(t.shape[0], v.shape[0]) for t, v in self.logs.values())
        end = max(end, start)
        out = {"time": next(iter(self.logs.values()))[0][start:end]}
        out.update({name: v[start:end] for name, (_, v) in self.logs.items()})
        return out, end

    def log_rows(self, start: int) -> tuple[list[LogEntry], int]:
        end = max(min(ds.shape[0] for ds in self.events.values()), start)
        ev = self.events
        rows = list(
            zip(
                ev["time"][start:end].tolist(),
                _strings(ev["utc"][start:end]).tolist(),
                _strings(ev["kind"][start:end]).tolist(),
                _strings(ev["text"][start:end]).tolist(),
            )
        )
        return rows, end


def read_run(path: str | os.PathLike) -> RunData:
    """Read a run file: finished, still being written (SWMR) or left by a crash.

    Only committed points are returned (a half-written row is invisible)."""
    path = Path(path)
    with open_run_file(path) as f, _damaged(path):
        run = _RunEntry(path, f)
        run.refresh()
        entry, inst = run.entry, run.entry["instrument"]
        n = run.committed()
        monitors, _ = run.monitor_rows(0)
        events, _ = run.log_rows(0)
        grid = entry["rel_dcs"]
        rise_records, rise_samples = rises.read_rises(entry)
        return RunData(
            path=path,
            run_id=decode(entry["run_id"][()]),
            status=run.status(),
            recovered=int(entry["recovered"][()]),
            plan_text=decode(entry["plan"]["data"][()]),
            apparatus_text=decode(inst["apparatus"]["data"][()]),
            plan=_json_note(entry, "plan_parsed"),
            energies_eV=grid["energy"][:],
            angles_deg=grid["angle"][:],
            sweeps=int(grid["sweep"].shape[0]),
            planned_points=int(entry["planned_points"][()]),
            points=run.point_rows(0, n),
            monitors=monitors,
            log=events,
            subgates={f"{g}_subgate_counts": ds[:] for g, ds in run.flat.items()},
            status_reason=decode(entry["status_reason"][()]),
            start_utc=decode(entry["start_time"][()]),
            end_utc=decode(entry["end_time"][()]),
            title=decode(entry["title"][()]),
            software_version=decode(entry["program_name"].attrs.get("version", "")),
            sample=decode(entry["sample"]["name"][()]),
            apparatus=_json_note(inst, "apparatus_parsed"),
            snapshot=_json_note(inst, "snapshot"),
            metadata=_json_note(entry, "notes"),
            sessions=int(entry["sessions"][()]),
            file_version=FILE_VERSION,
            kind=decode(entry["run_kind"][()]) if "run_kind" in entry else "dcs",
            rises=rise_records,
            rise_samples=rise_samples,
        )


class RunFollower:
    """Follow a run file as it grows: each :meth:`poll` returns the points, monitor
    readings and log entries committed since the previous one, each exactly once and in
    order.  Holds one SWMR read handle until :meth:`close` (a context manager).

    Works on a file another process is writing, on a finished file (one poll returns
    everything) and on a crashed one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._f = open_run_file(self.path)
        try:
            with _damaged(self.path):
                self._run = _RunEntry(self.path, self._f)
        except BaseException:
            self._f.close()
            raise
        entry = self._run.entry
        self.run_id = decode(entry["run_id"][()])
        self.kind = decode(entry["run_kind"][()]) if "run_kind" in entry else "dcs"
        grid = entry["rel_dcs"]
        self.energies_eV = grid["energy"][:]
        self.angles_deg = grid["angle"][:]
        self.sweeps = int(grid["sweep"].shape[0])
        self.planned_points = int(entry["planned_points"][()])
        #: when the run started (ISO 8601 UTC): the origin of the file's monitor times
        self.start_utc = decode(entry["start_time"][()])
        self._rows = self._monitors = self._log = 0

    def poll(self) -> RunUpdate:
        run = self._run
        run.refresh()
        n = max(run.committed(), self._rows)
        start, self._rows = self._rows, n
        points = run.point_rows(start, n)
        subgates: dict[str, list[np.ndarray]] = {}
        for g, flat in run.flat.items():
            offsets, lengths = points[f"{g}_subgate_offset"], points[f"{g}_subgate_length"]
            subgates[g] = [flat[o : o + k] if k > 0 else np.zeros(0, dtype="i8")
                           for o, k in zip(offsets.tolist(), lengths.tolist())]
        monitors, self._monitors = run.monitor_rows(self._monitors)
        log, self._log = run.log_rows(self._log)
        return RunUpdate(start, points, subgates, monitors, log, run.status(), n)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
