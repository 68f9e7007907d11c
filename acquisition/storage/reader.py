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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

from .layout import FILE_VERSION, GATES, MONITOR_LOGS, StorageError, decode, per_point_names
from .recovery import committed_points

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


def _open(path: Path) -> h5py.File:
    """SWMR read works on running, crashed and finished v110+ files; plain read on
    anything else."""
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        return h5py.File(path, "r")


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
            *(ds for pair in self.logs.values() for ds in pair), *self.events.values(),
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
    with _open(path) as f:
        run = _RunEntry(path, f)
        run.refresh()
        entry, inst = run.entry, run.entry["instrument"]
        n = run.committed()
        monitors, _ = run.monitor_rows(0)
        events, _ = run.log_rows(0)
        grid = entry["rel_dcs"]
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
        )


class RunFollower:
    """Follow a run file as it grows: each :meth:`poll` returns the points, monitor
    readings and log entries committed since the previous one, each exactly once and in
    order.  Holds one SWMR read handle until :meth:`close` (a context manager).

    Works on a file another process is writing, on a finished file (one poll returns
    everything) and on a crashed one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        try:
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
