"""The rows the view-models hold: one :class:`PointRecord` per measured point and one
:class:`LogRecord` per log line, built from a live event or from a run file's columns.

Why a record of its own rather than the ``Point`` event: a file gives columns, not
events, and the plots must not care which of the two a point came from.  Both sources
are flattened here into the same few numbers, so everything downstream (plots, strip
chart, meter) has one input type and one code path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from acquisition.events import (
    InstrumentHealth,
    Message,
    Paused,
    Point,
    PointFlag,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)
from acquisition.reduction import GRID_FIELDS, RESULT_TYPES

__all__ = ["PointRecord", "point_record", "point_records", "LogRecord", "log_record", "log_records", "POINT_COLUMNS"]

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class PointRecord:
    """What the GUI shows of one point (the run file's column names, in their units)."""

    seq: int
    sweep: int
    energy_eV: float
    angle_deg: float
    rel_dcs: float
    rel_dcs_err: float
    signal_rate_cps: float
    background_rate_cps: float  #: NaN: no background gate (borrowed from neighbours)
    signal_loss: float  #: dead-time loss fraction of the signal gate
    background_loss: float
    flags: int  #: PointFlag bits
    attempts: int
    # added beyond the spec: when the signal gate started, for the strip chart's rate trace
    utc: str = ""  #: signal gate start, ISO 8601 UTC (both sources carry it: the common time base)
    t_start: float = _NAN  #: signal gate start, clock seconds of the session
    angle_readback_deg: float = _NAN  #: where the goniometer said it stopped for the signal gate

    @property
    def saturated(self) -> bool:
        return PointFlag(self.flags).saturated

    @property
    def loss(self) -> float:
        """The larger of the two gates' loss fractions (a missing gate does not count)."""
        values = [v for v in (self.signal_loss, self.background_loss) if math.isfinite(v)]
        return max(values) if values else _NAN

    def describe_flags(self) -> str:
        return PointFlag(self.flags).describe()


def _plotted(result_type: type) -> tuple[str, str]:
    """The result fields a point's plot shows: the relative DCS, or what the run kind
    plots instead (an RFM run's intensities: acquisition.reduction.GRID_FIELDS)."""
    for kind, fields in GRID_FIELDS.items():
        if RESULT_TYPES.get(kind) is result_type:
            return fields
    return "rel_dcs", "rel_dcs_err"


def point_record(event: Point) -> PointRecord:
    """A live ``Point`` event as a record (its ``derived`` is a ``DcsPointResult``)."""
    d = event.derived
    value, error = _plotted(type(d))
    return PointRecord(
        seq=int(event.seq),
        sweep=int(event.sweep),
        energy_eV=float(event.energy_eV),
        angle_deg=float(event.angle_deg),
        rel_dcs=float(getattr(d, value)),
        rel_dcs_err=float(getattr(d, error)),
        signal_rate_cps=float(d.signal_rate_cps),
        background_rate_cps=float(d.background_rate_cps),
        signal_loss=float(d.signal_loss),
        background_loss=float(d.background_loss),
        flags=int(event.flags),
        attempts=int(event.attempts),
        utc=event.signal.utc_start,
        t_start=float(event.signal.t_start),
        angle_readback_deg=float(event.signal.angle_readback_deg),
    )


#: record field <- run-file column (RunUpdate.points / RunData.points)
POINT_COLUMNS: dict[str, str] = {
    "seq": "seq",
    "sweep": "sweep",
    "energy_eV": "energy",
    "angle_deg": "angle",
    "rel_dcs": "rel_dcs",
    "rel_dcs_err": "rel_dcs_err",
    "signal_rate_cps": "signal_rate_cps",
    "background_rate_cps": "background_rate_cps",
    "signal_loss": "signal_loss",
    "background_loss": "background_loss",
    "flags": "flags",
    "attempts": "attempts",
    "utc": "signal_utc_start",
    "t_start": "signal_t_start",
    "angle_readback_deg": "signal_angle_readback",
}
_INT_FIELDS = {"seq", "sweep", "flags", "attempts"}


def point_records(rows: Mapping[str, np.ndarray]) -> list[PointRecord]:
    """Records of a block of run-file rows (one array per column, equal lengths).

    Columns are converted with ``tolist()`` once each (plain Python ints and floats,
    equal to what ``point_record`` makes of the same point) and zipped: no per-cell
    numpy scalar access.  A column the file lacks gets its missing value."""
    n = len(rows["seq"]) if "seq" in rows else 0
    if n == 0:
        return []
    columns = []
    plotted = dict(zip(("rel_dcs", "rel_dcs_err"), next(
        (fields for fields in GRID_FIELDS.values() if fields[0] in rows and "rel_dcs" not in rows),
        ("rel_dcs", "rel_dcs_err"))))
    for name, column in POINT_COLUMNS.items():
        values = rows.get(plotted.get(column, column))
        if values is None:
            default = 0 if name in _INT_FIELDS else ("" if name == "utc" else _NAN)
            columns.append([default] * n)
        elif name in _INT_FIELDS:
            columns.append(np.asarray(values).astype(np.int64).tolist())
        elif name == "utc":
            columns.append([v.decode() if isinstance(v, bytes) else str(v) for v in values])
        else:
            columns.append(np.asarray(values, dtype=np.float64).tolist())
    return [PointRecord(*row) for row in zip(*columns)]


# --------------------------------------------------------------------------- log lines


@dataclass(frozen=True, slots=True)
class LogRecord:
    utc: str
    level: str  #: "debug", "info", "warning", "error" (what Message.level carries)
    text: str


def _where(point: tuple[int, int, int] | None) -> str:
    # the run file's wording (RunWriter), so that live and file lines read the same
    return "" if point is None else f" at (sweep, energy_index, angle_index) = {point}"


_STOP_LEVEL = {"success": "info", "aborted": "warning", "failed": "error"}
_HEALTH_LEVEL = {"retrying": "warning", "fault": "error"}


def log_record(event, utc: str = "") -> LogRecord | None:
    """The log line of an event, or None for events that are not log material
    (points, monitors, progress, a healthy instrument).

    The texts are those the run file's event log holds for the same event (see
    :func:`log_records`), so a live log and a followed file read alike.  ``utc`` stands
    in for events that carry no UTC stamp (``InstrumentHealth``)."""
    if isinstance(event, Message):
        return LogRecord(event.utc, event.level, event.text)
    if isinstance(event, Suspended):
        return LogRecord(event.utc, "warning", f"suspended: {event.reason}{_where(event.point)}")
    if isinstance(event, Resumed):
        return LogRecord(event.utc, "info", f"resumed: {event.reason}")
    if isinstance(event, Paused):
        return LogRecord(event.utc, "info", f"paused: {event.reason}")
    if isinstance(event, RunStop):
        return LogRecord(event.utc, _STOP_LEVEL.get(event.status, "warning"), f"stop: {event.status}: {event.reason}")
    if isinstance(event, RunStart):
        what = "resumed" if event.resumed else "started"
        return LogRecord(event.utc, "info", f"run {event.run_id} {what}: {event.planned_points} points planned")
    if isinstance(event, InstrumentHealth) and event.state != "ok":
        text = f"{event.instrument}: {event.state}" + (f": {event.reason}" if event.reason else "")
        return LogRecord(utc, _HEALTH_LEVEL.get(event.state, "warning"), text)
    return None


#: event-log kind (RunWriter) -> level, for kinds that do not carry one in their text
_KIND_LEVEL = {"suspended": "warning", "recovered": "warning", "resumed": "info", "paused": "info",
               "reopened": "info"}


def log_records(entries: Iterable[tuple[float, str, str, str]]) -> list[LogRecord]:
    """Log lines of run-file event-log entries ``(t, utc, kind, text)``.

    A "message" entry's text is "level: text" (RunWriter); a "stop" entry's is
    "status: reason".  Other kinds become "kind: text", as :func:`log_record` words them."""
    out = []
    for _t, utc, kind, text in entries:
        if kind == "message":
            level, sep, rest = text.partition(": ")
            out.append(LogRecord(utc, level, rest) if sep else LogRecord(utc, "info", text))
        elif kind == "stop":
            status = text.partition(": ")[0]
            out.append(LogRecord(utc, _STOP_LEVEL.get(status, "warning"), f"stop: {text}"))
        else:
            out.append(LogRecord(utc, _KIND_LEVEL.get(kind, "info"), f"{kind}: {text}"))
    return out
