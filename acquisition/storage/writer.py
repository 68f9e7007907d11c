"""Writing a run file: create it, append a run's events as they happen, resume it.

Crash safety.  The whole layout (:mod:`.layout`), including every dataset that will
ever be written and fixed-length string datasets for the run status, is created first;
then the file switches to SWMR mode (no object or attribute can be created afterwards)
and only then appears under its name.  A point is appended to every column, the file
is flushed and fsync'ed, and only then is the scalar ``/entry/points_done`` raised and
flushed again: a row counts as written when its index is below ``points_done`` and
every column reaches it, so a ``kill -9`` or a power cut loses at most the point in
progress.  Log entries are flushed and fsync'ed too; monitor readings are flushed with
the next point or log entry (a kill -9 loses those of the point in progress) and made
durable by its fsync.  A SWMR reader (:mod:`.reader`: the GUI, the queue's status)
follows the file while it grows.  :meth:`RunWriter.resume` recovers a crashed file
(:mod:`.recovery`), trims a half-written row and appends the rest of the run into the
same file.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import replace
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
    PressureRise,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)
from acquisition.reduction import grid_fields, result_columns
from foundation.clock import parse_utc

from .layout import (
    GATES,
    KIND_LEN,
    LIBVER,
    MONITOR_LOGS,
    STATUS_LEN,
    TEXT_LEN,
    UTC_LEN,
    StorageError,
    append,
    append_many,
    build_layout,
    decode,
    fit,
    fsync_dir,
    gate_columns,
    now_utc,
    per_point_names,
    point_columns,
    put_row,
    result_type_of,
    trim_to_committed,
)
from .reader import RunData, read_run
from .recovery import recover

__all__ = ["RunRecorder", "RunWriter"]

#: the columns of a gate a point does not have, as stored (built once: this is per point)
_MISSING_GATE = {g: {c.name: c.missing for c in gate_columns(g)} for g in GATES}

log = logging.getLogger(__name__)


def _publish(partial: Path, path: Path) -> None:
    """Give the finished-enough file its name, never replacing an existing one."""
    try:
        os.link(partial, path)  # fails if path exists: no race with another writer
    except FileExistsError:
        raise StorageError(f"{path}: run file exists; resume it or choose another name") from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise StorageError(f"{path}: run file exists; resume it or choose another name") from None
        os.replace(partial, path)
    else:
        partial.unlink()
    fsync_dir(path.parent)




class RunWriter:
    """Append a run's events to its HDF5 file; an event-bus subscriber (``__call__``).

    Build with :meth:`create` (new file) or :meth:`resume` (continue a crashed or
    stopped run in the same file).  Every write is flushed and fsync'ed before it
    returns.  Not thread-safe: call it from the engine's thread only.
    """

    def __init__(self, f: h5py.File, *, fsync: bool = True, path: Path | None = None) -> None:
        self._f = f
        self.path = Path(path if path is not None else f.filename)
        self._fsync = fsync
        self._monitor_queue: list[tuple[float, ...]] = []
        self._closed = False
        entry = f["entry"]
        self._entry = entry
        self._points = entry["points"]
        kind = decode(entry["run_kind"][()]) if "run_kind" in entry else "dcs"
        result_type = result_type_of(kind)
        in_file = per_point_names(self._points)
        # the layout's order (the file's own is alphabetical); every column in the file is written
        order = [c.name for c in point_columns(result_type) if c.name in in_file]
        self._cols = {name: self._points[name] for name in order + sorted(set(in_file) - set(order))}
        self._result_fields = tuple(c.name for c in result_columns(result_type))
        self._subgates = {g: self._points[f"{g}_subgate_counts"] for g in GATES}
        self._grid = entry["rel_dcs"]
        self._grid_fields = grid_fields(kind)
        # dataset handles looked up once: group lookups cost as much as the writes
        self._logs = {
            name: (entry["instrument"][name]["time"], entry["instrument"][name]["value"]) for name in MONITOR_LOGS
        }
        self._events = {name: entry["event_log"][name] for name in ("time", "utc", "kind", "text")}
        self._start_utc = parse_utc(decode(entry["start_time"][()]))
        self._n = int(entry["points_done"][()])
        self._session = int(entry["sessions"][()]) - 1
        self._done: set[tuple[int, int, int]] = set(
            zip(
                self._cols["sweep"][: self._n].tolist(),
                self._cols["energy_index"][: self._n].tolist(),
                self._cols["angle_index"][: self._n].tolist(),
            )
        )
        self._last_log: tuple[float, str, str, str] | None = None
        from .rises import GROUP, RiseWriter

        self._rises = RiseWriter(entry, self._session, self._sync) if GROUP in entry else None
        self._lock = _hold_writer_lock(self.path)

    # ---- construction

    @classmethod
    def create(cls, path: str | os.PathLike, start: RunStart, *, fsync: bool = True) -> RunWriter:
        """Create the run file (refusing to overwrite one), lay out every dataset,
        write the run-start information and switch to SWMR.

        The file is built under a hidden temporary name (``.NAME.partial`` beside it)
        and linked to ``path`` only after the switch to SWMR and a flush: a crash
        before that leaves no file at ``path`` that nothing could open, and a crash
        after leaves a resumable one.  A leftover ``.partial`` file is never a run."""
        path = Path(path)
        if path.exists():
            raise StorageError(f"{path}: run file exists; resume it or choose another name")
        partial = path.with_name(f".{path.name}.partial")
        try:
            f = h5py.File(partial, "w", libver=LIBVER)
        except OSError as exc:
            raise StorageError(f"{path}: cannot create the run file: {exc.strerror or exc}") from exc
        try:
            build_layout(f, start, file_name=path.name)
            f.swmr_mode = True
            f.flush()
            if fsync:
                os.fsync(f.id.get_vfd_handle())
            _publish(partial, path)
        except BaseException:
            f.close()
            partial.unlink(missing_ok=True)
            raise
        writer = cls(f, fsync=fsync, path=path)
        writer._sync()
        log.info("run %s: writing %s", start.run_id, path)
        return writer

    @classmethod
    def resume(cls, path: str | os.PathLike, *, fsync: bool = True) -> tuple[RunWriter, RunData]:
        """Reopen a run file to append the rest of the run.

        A file whose status is still "running" was left by a crash: it is rewritten
        in place through h5py's public API (:func:`~acquisition.storage.recovery.recover`),
        a half-written row is dropped, the recovery counter is raised and "recovered
        after crash" is logged.  A stopped
        run ("aborted", ...) is simply reopened.  Returns the writer (SWMR, status
        "running") and the run as read, whose ``done_keys()`` the engine skips.
        """
        path = Path(path)
        _check_no_writer(path)
        data = read_run(path)
        crashed = data.status == "running"
        if crashed:
            recover(path)
            log.warning("run %s: recovered %s after a crash", data.run_id, path)
        f = h5py.File(path, "r+", libver=LIBVER)
        try:
            trim_to_committed(f, data.n_points)
            entry = f["entry"]
            entry["sessions"][()] = int(entry["sessions"][()]) + 1
            if crashed:
                entry["recovered"][()] = int(entry["recovered"][()]) + 1
            entry["status"][()] = fit("running", STATUS_LEN)
            entry["status_reason"][()] = b""
            entry["end_time"][()] = b""
            f.swmr_mode = True
        except BaseException:
            f.close()
            raise
        writer = cls(f, fsync=fsync)
        utc = now_utc()
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
        elif isinstance(event, PressureRise):
            self.write_rise(event)
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
        run_id = decode(self._entry["run_id"][()])
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
            append_many(self._subgates[g], counts)
        n = self._n
        for name, ds in self._cols.items():
            put_row(ds, n, row[name])
        self._put_grid(p)
        self._sync()  # the row is on disk before it is counted
        self._n = n + 1
        self._entry["points_done"][()] = self._n
        self._sync()
        self._done.add(key)

    def write_rise(self, rise: PressureRise) -> None:
        """Append one rate-of-rise record (RFM runs), flushed and committed like a point."""
        self._check_open()
        if self._rises is None:
            raise StorageError(f"{self.path}: a {rise.kind} record, but this run's file has no rate_of_rise "
                               "group (only RFM runs have one)")
        self._drain_monitors()
        self._rises.write(rise)

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
            append_many(time_ds, columns[0])
            append_many(value_ds, columns[i + 1])

    def write_log(self, kind: str, t: float, utc: str, text: str) -> None:
        """Append to the event log (suspensions, resumes, pauses, messages, ...)."""
        self._check_open()
        self._drain_monitors()
        rel = self._rel_time(t, utc)
        append(self._events["time"], rel)
        append(self._events["utc"], fit(utc, UTC_LEN))
        append(self._events["kind"], fit(kind, KIND_LEN))
        append(self._events["text"], fit(text, TEXT_LEN))
        self._last_log = (rel, utc, kind, text)
        self._sync()

    def close(self, stop: RunStop | None = None) -> None:
        """Write the final status ("success", "aborted", "failed"), end time and
        duration, and close the file.  Without a RunStop the run counts as aborted.
        A second call does nothing."""
        if self._closed:
            return
        if stop is None:
            stop = RunStop(float("nan"), now_utc(), "aborted", "writer closed without a run-stop event", self._n)
        try:
            self.write_log("stop", stop.t, stop.utc, f"{stop.status}: {stop.reason}")
            entry = self._entry
            entry["status"][()] = fit(stop.status, STATUS_LEN)
            entry["status_reason"][()] = fit(stop.reason, TEXT_LEN)
            entry["end_time"][()] = fit(stop.utc, UTC_LEN)
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
            self.close(RunStop(float("nan"), now_utc(), "failed", f"{exc_type.__name__}: {exc}", self._n))
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
        moment = parse_utc(utc)
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
                row.update(_MISSING_GATE[g])
                continue
            row.update(
                {
                    f"{g}_counts": gate.counts,
                    f"{g}_gate_s": gate.gate_s,
                    f"{g}_subgate_s": gate.subgate_s,
                    f"{g}_t_start": gate.t_start,
                    f"{g}_t_stop": gate.t_stop,
                    f"{g}_utc_start": fit(gate.utc_start, UTC_LEN),
                    f"{g}_beam_current": gate.beam_current_A,
                    f"{g}_beam_current_before": gate.beam_current_before_A,
                    f"{g}_beam_current_after": gate.beam_current_after_A,
                    f"{g}_needle_pressure": gate.needle_mbar,
                    f"{g}_chamber_pressure": gate.chamber_mbar,
                    f"{g}_angle_readback": gate.angle_readback_deg,
                    f"{g}_subgate_chi2": gate.subgate_chi2,
                }
            )
        result = p.derived
        for name in self._result_fields:
            row[name] = float(getattr(result, name))
        return row

    def _put_grid(self, p: Point) -> None:
        data = self._grid["data"]
        s, e, a = p.sweep, p.energy_index, p.angle_index
        if not all(0 <= i < n for i, n in zip((s, e, a), data.shape)):
            log.warning("point %s outside the rel_dcs grid %s: kept in points only", (s, e, a), data.shape)
            return
        value, error = self._grid_fields
        data[s, e, a] = getattr(p.derived, value, float("nan"))
        self._grid["data_errors"][s, e, a] = getattr(p.derived, error, float("nan"))


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
            if isinstance(event, RunStop):  # the file was never created (its RunStart failed): nothing to close
                return
            if isinstance(event, Point):
                raise StorageError(f"{self.path}: the first event of a run must be RunStart, got {type(event).__name__}")
            if not isinstance(event, RunStart):  # a status reading that finished as the run was starting
                return
            self.writer = RunWriter.create(self.path, event, fsync=self._fsync)
            return
        self.writer(event)

    def close(self, stop: RunStop | None = None) -> None:
        if self.writer is not None:
            self.writer.close(stop)
