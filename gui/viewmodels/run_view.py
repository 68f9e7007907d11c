"""Everything the window shows of a run, fed by live events or by a followed run file.

Why one owner: the live window (events from the session's bus, through the Qt bridge)
and the viewer (``RunFollower.poll()`` updates) must draw the same thing for the same
run.  They differ only in how a point arrives: an event is turned into a record by
:func:`~.records.point_record`, file rows by :func:`~.records.point_records`; from
there both go through :meth:`RunViewModel._add_points`, the one place where a point
reaches the DCS plot, the rate strip chart and the meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from acquisition.events import (
    ApparatusStatus,
    InstrumentHealth,
    Message,
    Monitor,
    Paused,
    Point,
    Progress,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)

from .dcs_plot import DcsPlotModel
from .health import HealthModel
from .log import LogModel
from .panel import PanelModel
from .records import PointRecord, log_record, log_records, point_record, point_records
from .run_control import RunControlModel
from .strip_chart import StripChartModel
from .timebase import TimeBase

__all__ = ["RunViewModel"]

_NAN = float("nan")


class RunViewModel:
    """Owns the view-models of one window.

    Attributes: ``dcs_plot`` (:class:`DcsPlotModel`), ``strip_chart``
    (:class:`StripChartModel`), ``health`` (:class:`HealthModel`), ``run_control``
    (:class:`RunControlModel`), ``panel`` (:class:`PanelModel`), ``log``
    (:class:`LogModel`); ``dcs``, ``strip`` and ``control`` are the same objects under
    shorter names."""

    def __init__(self, *, instruments: Iterable[str] = (), warn_loss_fraction: float = 0.05,
                 linear_limit_cps: float = 1.0e5, max_loss_fraction: float = 0.10, speed: float = 1.0,
                 controllable: bool = True, log_maxlen: int = 5000,
                 strip_capacity: int = 12 * 3600 * 10 + 1024) -> None:
        self.dcs_plot = DcsPlotModel(warn_loss_fraction)
        self.strip_chart = StripChartModel(strip_capacity)
        self.health = HealthModel(instruments)
        self.run_control = RunControlModel(speed=speed, controllable=controllable)
        self.panel = PanelModel()
        self.log = LogModel(log_maxlen)
        #: the detector's limits for the meter (a RunStart's apparatus replaces them)
        self.linear_limit_cps = float(linear_limit_cps)
        self.max_loss_fraction = float(max_loss_fraction)
        self.time = TimeBase()
        self.planned_points: int | None = None
        self._pending_rates: list[tuple[str, float]] = []  # file points seen before the time origin
        self._last_utc = ""  # for log lines of events without a stamp (InstrumentHealth)

    # the same models under shorter names, whichever a view was written against
    @property
    def dcs(self) -> DcsPlotModel:
        return self.dcs_plot

    @property
    def strip(self) -> StripChartModel:
        return self.strip_chart

    @property
    def control(self) -> RunControlModel:
        return self.run_control

    @property
    def version(self) -> int:
        """Changes whenever any of the models changes (each only ever counts up)."""
        return (self.dcs_plot.version + self.strip_chart.version + self.health.version + self.run_control.version
                + self.panel.version + self.log.version)

    # ------------------------------------------------------------------ run start

    def load_start(self, energies_eV: Iterable[float], angles_deg: Iterable[float], sweeps: int, *,
                   run_id: str | None = None, start_utc: str | None = None, planned_points: int | None = None,
                   apparatus: Mapping[str, Any] | None = None) -> None:
        """A new run: its grid, and what is known of its start.

        ``start_utc`` is the origin of the strip chart's time axis (the run file's);
        without it a followed file's origin is read from its event log when one comes.
        ``apparatus`` (a RunStart's plain-data config) gives the detector's limits for
        the meter and the instruments' order for the health lights."""
        self.dcs_plot.reset()
        self.dcs_plot.set_grid(energies_eV, angles_deg, sweeps)
        self.strip_chart.clear()  # the chart shows this run, on its file's time axis
        self._pending_rates.clear()
        self.time.clear()
        self.time.set_origin(start_utc)
        self.planned_points = planned_points
        if run_id is not None:
            self.run_control.run_id = run_id
        if apparatus:
            detector = apparatus.get("detector") or {}
            self.linear_limit_cps = float(detector.get("linear_limit_cps", self.linear_limit_cps))
            self.max_loss_fraction = float(detector.get("max_loss_fraction", self.max_loss_fraction))
            self.health.set_instruments(apparatus.get("instruments") or ())

    def load_follower(self, follower, start_utc: str | None = None) -> None:
        """The grid of a :class:`acquisition.storage.RunFollower` (added).  The start
        stamp is the follower's ``start_utc`` if it has one, else ``start_utc``.

        The run control becomes not controllable: a file's "running" is another
        process's run, which no button here can pause."""
        self.load_start(follower.energies_eV, follower.angles_deg, follower.sweeps, run_id=follower.run_id,
                        start_utc=getattr(follower, "start_utc", None) or start_utc,
                        planned_points=follower.planned_points)
        self.run_control.controllable = False  # a file cannot be paused
        self.run_control.total = int(follower.planned_points)

    # ------------------------------------------------------------------ the two inputs

    def feed(self, event) -> None:
        """A live event (from the bus, on the GUI thread)."""
        utc = getattr(event, "utc", None)
        if utc:
            self._last_utc = utc
        if isinstance(event, Point):
            self.time.ensure(event.signal.utc_start)
            self._add_points([point_record(event)])
        elif isinstance(event, Monitor):
            self.time.ensure(event.utc)
            self.strip_chart.add_monitor(self.time.rel(event.utc), event.beam_current_A, event.chamber_mbar,
                                         event.needle_mbar)
            self.panel.on_monitor(event)
        elif isinstance(event, Progress):
            self.run_control.on_event(event)
        elif isinstance(event, RunStart):
            self.load_start(event.energies_eV, event.angles_deg, event.sweeps, run_id=event.run_id,
                            start_utc=event.utc, planned_points=event.planned_points, apparatus=event.apparatus)
            self.run_control.on_event(event)
            self._log(event)
        elif isinstance(event, (Suspended, Resumed, Paused, RunStop)):
            self.run_control.on_event(event)
            self._log(event)
        elif isinstance(event, Message):
            self._log(event)
        elif isinstance(event, InstrumentHealth):
            self.health.on_health(event)
            self._log(event)
        elif isinstance(event, ApparatusStatus):
            self.panel.on_status(event)

    def feed_many(self, events) -> None:
        """Live events in the order published (a bridge batch), as :meth:`feed` would
        take them one by one, except that the batch's monitor readings go to the strip
        chart as arrays and its points to :meth:`_add_points` as one list.  A fast run
        publishes a reading per sub-gate: taken one at a time they cost the GUI thread
        more than the engine spends making them.  The two streams are independent of
        the others (the log and the run state never depend on a reading or a point), so
        only a new run's start splits a batch."""
        monitors: list[Monitor] = []
        points: list[Point] = []
        for event in events:
            kind = type(event)
            if kind is Monitor:
                monitors.append(event)
            elif kind is Point:
                points.append(event)
            else:
                if kind is RunStart:  # what came before belongs to the run before
                    self._flush(monitors, points)
                    monitors, points = [], []
                self.feed(event)
        self._flush(monitors, points)

    def _flush(self, monitors: list[Monitor], points: list[Point]) -> None:
        if monitors:
            self._add_monitor_events(monitors)
        if points:
            self.time.ensure(points[0].signal.utc_start)
            self._last_utc = points[-1].signal.utc_start
            self._add_points([point_record(e) for e in points])

    def _add_monitor_events(self, monitors: list[Monitor]) -> None:
        self.time.ensure(monitors[0].utc)
        self._last_utc = monitors[-1].utc
        rel, n = self.time.rel, len(monitors)
        self.strip_chart.add_monitors(np.fromiter((rel(m.utc) for m in monitors), float, n),
                                      np.fromiter((m.beam_current_A for m in monitors), float, n),
                                      np.fromiter((m.chamber_mbar for m in monitors), float, n),
                                      np.fromiter((m.needle_mbar for m in monitors), float, n))
        self.panel.on_monitor(monitors[-1])

    def feed_update(self, update) -> None:
        """What a :class:`acquisition.storage.RunFollower` poll found (a ``RunUpdate``)."""
        if self.time.origin is None and self.time.origin_from_log(update.log):
            self._flush_pending()
        monitors = update.monitors
        t = monitors.get("time")
        if t is not None and len(t):
            self.strip_chart.add_monitors(t, monitors.get("beam_current", _NAN), monitors.get("chamber_pressure", _NAN),
                                          monitors.get("needle_pressure", _NAN))
        records = point_records(update.points)
        if records:
            self._add_points(records)
        if update.log:
            self.log.extend(log_records(update.log))
        self.run_control.on_file_status(update.status, update.points_done, self.planned_points)

    # ------------------------------------------------------------------ the one path of a point

    def _add_points(self, records: list[PointRecord]) -> None:
        """Every point, live or from the file, reaches the models here."""
        self.dcs_plot.add(records)
        if self.time.origin is None:  # a file whose start is not known yet: place the rates later
            self._pending_rates.extend((r.utc, r.signal_rate_cps) for r in records)
        else:
            rel = self.time.rel
            self.strip_chart.add_rates(np.fromiter((rel(r.utc) for r in records), float, len(records)),
                                       np.fromiter((r.signal_rate_cps for r in records), float, len(records)))
        self.panel.on_point(records[-1], self.linear_limit_cps, self.max_loss_fraction)

    def _flush_pending(self) -> None:
        if self._pending_rates:
            rel = self.time.rel
            self.strip_chart.add_rates([rel(u) for u, _ in self._pending_rates], [c for _, c in self._pending_rates])
            self._pending_rates.clear()

    def _log(self, event) -> None:
        record = log_record(event, utc=self._last_utc)
        if record is not None:
            self.log.add(record)
