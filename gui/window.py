"""The main window: the instrument panel, the scan control, the live plots, the strip
charts and the log, around one :class:`~gui.viewmodels.run_view.RunViewModel`.

Threads: the window lives on the GUI thread and never waits on an instrument.  Every
bus event reaches it through the :class:`~gui.bridge.EventBridge` (a queued signal)
and is fed to the view-model; a manual operation is a session future whose completion
comes back the same way; the dry run is a thread of its own.  The views redraw from the
view-models on a timer (at most 20 Hz), and only the views whose model's ``version``
changed.

Two kinds of window share this class:

* a **live** window (a session): the panel's hand controls, Start/Pause/Resume/Abort;
* a **viewer** (no session, or File > Open run… in a live window): a
  :class:`~acquisition.storage.reader.RunFollower` polled every 500 ms feeds the same
  view-model type through ``feed_update``; it follows a file another process is
  writing and opens a crashed file read-only (the follower never writes).

Either kind may show an overnight queue (File > Open queue…, ``--queue FILE``) in the
Queue dock (:mod:`gui.widgets.queue_panel`), read every second (``QUEUE_POLL_MS``) on the
GUI thread through a read-only connection.  A live window runs it on its own session (a
:class:`~acquisition.queue.QueueRunner` on a worker thread of its own, holding the
queue's runner lock; its runs publish on the session's bus, so the plot and the panel
follow each item as they follow a single run); while it runs, Start and the hand
controls are disabled, as during a run.  A queue another process runs is watched and
edited only.
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from acquisition.events import ApparatusStatus, InstrumentHealth, RunStart, RunStop
from gui.bridge import Completion, EventBridge
from gui.viewmodels.pacer import RedrawPacer
from gui.viewmodels.records import LogRecord
from gui.viewmodels.run_view import RunViewModel
from gui.widgets.common import COLOURS
from gui.widgets.dcs_plot import DcsPlotWidget
from gui.widgets.log_panel import LogPanel
from gui.widgets.panel import InstrumentPanel
from gui.widgets.queue_panel import QueuePanel
from gui.widgets.scan_control import InterlockBanner, ScanControl, estimate_text
from gui.widgets.strip_charts import StripCharts

__all__ = ["MainWindow", "REDRAW_MS", "FOLLOW_MS", "QUEUE_POLL_MS", "exit_code_of"]

log = logging.getLogger(__name__)

#: redraw period: 20 Hz at most
REDRAW_MS = 50
#: run-file follower poll period
FOLLOW_MS = 500
#: queue database poll period (a poll reads a few rows: well under a millisecond)
QUEUE_POLL_MS = 1000
#: how many recent run files File > Open run… remembers
RECENT = 8

_OPS = {
    "set_energy": lambda a: f"set energy {a[0]:g} eV",
    "ramp_filament": lambda a: f"ramp filament to {a[0]:g} A",
    "set_electrode": lambda a: f"set {a[0]} to {a[1]:g} V",
    "channeltron_on": lambda a: "channeltron HV on",
    "channeltron_off": lambda a: "channeltron HV OFF",
    "move_to": lambda a: f"move goniometer to {a[0]:g}°",
    "stop_motion": lambda a: "STOP goniometer",
    "home": lambda a: "home goniometer",
    "select_gas": lambda a: f"gas path {a[0]}",
    "read_status": lambda a: "read status",
}


def exit_code_of(stop: RunStop | None) -> int:
    """The CLI's exit codes: 0 success, 3 failed, 4 aborted."""
    if stop is None:
        return 0
    return {"success": 0, "aborted": 4}.get(stop.status, 3)


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Yes | QMessageBox.Cancel, parent)
    box.setDefaultButton(QMessageBox.Cancel)
    return box.exec() == QMessageBox.Yes


class MainWindow(QMainWindow):
    """See the module docstring.

    ``session``: a connected :class:`~acquisition.session.Session` (None: a viewer).
    ``config``: the apparatus config (default: the session's).  ``dry_run``:
    ``callable(plan_path) -> DryRunEstimate``, run off the GUI thread.  ``output``: the
    run file of the next Start (default runs/<UTC>_<sample>.h5).  ``view_path``: a run
    file to follow.  ``queue_path``: a queue database to show (created if it does not
    exist).  ``settings``: a QSettings (default the user's "xbeam/gui")."""

    #: emitted once when the window has closed (run_gui's loop ends on it)
    closed = Signal()
    #: emitted with a run's RunStop (or None if it raised) when its future completed
    runEnded = Signal(object)  # noqa: N815 - Qt's naming

    def __init__(self, *, session=None, config=None, clock=None, dry_run=None, plan_path=None,
                 output=None, view_path=None, quit_when_done: bool = False, settings: QSettings | None = None,
                 estimate_plan: bool = True, queue_path=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.config = config if config is not None else getattr(session, "config", None)
        self.clock = clock if clock is not None else getattr(session, "clock", None)
        self.dry_run = dry_run
        self.output = Path(output) if output else None
        self.quit_when_done = quit_when_done
        self.settings = settings if settings is not None else QSettings("xbeam", "gui")
        self.confirm = _confirm  #: replaced by tests
        self.plan = None
        self.plan_path: str | None = None
        self.plan_error = None
        self.handle = None  #: the RunHandle of the run this window started
        self.last_stop: RunStop | None = None
        self.follower = None
        self.view_path: str | None = None
        self.viewers: list[MainWindow] = []
        self.ticks = 0  #: redraw-timer ticks (tests: the event loop keeps turning)
        self._closing = False
        self._estimator = ThreadPoolExecutor(1, thread_name_prefix="xbeam-dry-run")
        self._estimate_future: Future | None = None
        self.estimate = None  #: the last DryRunEstimate shown
        self.queue_model = None  #: the QueueModel of the open queue
        self.queue_controller = None  #: its QueueController (edits, the in-window runner)
        self.queue_outcome = None  #: the QueueOutcome of the last in-window queue run
        self._close_after_queue = False
        self._queue_run_id: str | None = None  #: a queue item's run whose file is not shown yet

        self.vm = self._new_view_model()
        self.bridge = EventBridge(self)
        # events are taken at each redraw tick (see _tick), not as they come: a run
        # publishes faster than a queued slot per batch leaves the timers time to fire
        self.bridge.completed.connect(self._on_completed, Qt.QueuedConnection)

        self._build()
        self._restore_settings()
        if session is not None:
            if getattr(session, "operator", False) is None:  # nobody else sets the leak valves: ask here
                from gui.operator_dialog import DialogOperator

                session.operator = DialogOperator(self)
            for name, (state, reason) in dict(getattr(session, "health", {})).items():
                self.vm.feed(InstrumentHealth(self._now(), name, state, reason))
            self.bridge.subscribe(session.bus)
            self.request("read_status", ())
        self.pacer = RedrawPacer(fastest_s=REDRAW_MS / 1000.0)
        self._paced_at = (time.perf_counter(), time.thread_time())
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._tick)
        self.redraw_timer.start()
        self.follow_timer = QTimer(self)
        self.follow_timer.setInterval(FOLLOW_MS)
        self.follow_timer.timeout.connect(self.poll_follower)
        self.queue_timer = QTimer(self)
        self.queue_timer.setInterval(QUEUE_POLL_MS)
        self.queue_timer.timeout.connect(self.poll_queue)
        if queue_path:
            self.open_queue(queue_path)
        if plan_path:
            self.load_plan(plan_path, estimate=estimate_plan)
        if view_path:
            self.view_run(view_path)
        self._update_title()
        self.redraw()

    # ------------------------------------------------------------ construction
    def _new_view_model(self) -> RunViewModel:
        config = self.config
        kwargs = {}
        if config is not None:
            kwargs = dict(instruments=list(config.instruments),
                          linear_limit_cps=config.detector.linear_limit_cps,
                          max_loss_fraction=config.detector.max_loss_fraction)
        speed = getattr(self.clock, "speed", 1.0)
        return RunViewModel(speed=speed, controllable=self.session is not None, **kwargs)

    def _build(self) -> None:
        self.setObjectName("xbeam-main")
        self.resize(1680, 1020)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        self.banner = InterlockBanner()
        self.source_label = QLabel("")
        self.source_label.setStyleSheet("font-weight: bold; font-size: 13px;")
        self.source_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        column.addWidget(self.banner)
        column.addWidget(self.source_label)
        self.plot = DcsPlotWidget(self.vm.dcs)
        self.plot.modeChanged.connect(lambda mode: self.settings.setValue("plot/mode", mode))
        column.addWidget(self.plot, 1)
        self.setCentralWidget(central)

        self.scan = ScanControl()
        self.scan.banner.setVisible(False)  # the window's banner is the one always in view
        self.scan.openRequested.connect(self.choose_plan)
        self.scan.startRequested.connect(self.start_run)
        self.scan.pauseRequested.connect(self.pause_run)
        self.scan.resumeRequested.connect(self.resume_run)
        self.scan.abortRequested.connect(self.abort_run)
        self.scan_dock = self._dock("Scan control", "scan", self.scan, Qt.RightDockWidgetArea)

        self.panel = None
        if self.config is not None:
            self.panel = InstrumentPanel(self.config)
            self.panel.requested.connect(self.request)
            self.panel_dock = self._dock("Instruments", "instruments", self.panel, Qt.LeftDockWidgetArea)

        self.strips = StripCharts()
        self.strips.window_box.currentTextChanged.connect(lambda t: self.settings.setValue("strip/window", t))
        self.strip_dock = self._dock("Monitors", "monitors", self.strips, Qt.BottomDockWidgetArea)
        self.log_panel = LogPanel()
        self.log_dock = self._dock("Log", "log", self.log_panel, Qt.RightDockWidgetArea)
        self.splitDockWidget(self.scan_dock, self.log_dock, Qt.Vertical)
        self.queue_panel = QueuePanel()
        self.queue_panel.runRequested.connect(self.run_queue)
        self.queue_panel.stopNowRequested.connect(self.stop_queue)
        self.queue_panel.noted.connect(self.note)
        self.queue_dock = self._dock("Queue", "queue", self.queue_panel, Qt.BottomDockWidgetArea)
        self.splitDockWidget(self.strip_dock, self.queue_dock, Qt.Horizontal)
        self.queue_dock.setVisible(False)  # until a queue is opened
        limit = getattr(getattr(self.config, "detector", None), "linear_limit_cps", None)
        self.plot.set_linear_limit(limit)
        self.strips.set_linear_limit(limit)
        if self.panel is not None:
            self.resizeDocks([self.panel_dock, self.scan_dock], [430, 380], Qt.Horizontal)
        self.resizeDocks([self.strip_dock], [260], Qt.Vertical)
        self.resizeDocks([self.strip_dock, self.queue_dock], [700, 900], Qt.Horizontal)

        menu = self.menuBar().addMenu("&File")
        self.open_plan_action = QAction("Open &plan…", self, shortcut=QKeySequence("Ctrl+P"),
                                        triggered=self.choose_plan)
        self.open_run_action = QAction("Open &run…", self, shortcut=QKeySequence.Open, triggered=self.choose_run)
        self.open_queue_action = QAction("Open &queue…", self, triggered=self.choose_queue)
        self.recent_menu = menu.addMenu("Recent runs")
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close)
        menu.insertAction(self.recent_menu.menuAction(), self.open_plan_action)
        menu.insertAction(self.recent_menu.menuAction(), self.open_run_action)
        menu.insertAction(self.recent_menu.menuAction(), self.open_queue_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        for dock in self.findChildren(QDockWidget):
            view.addAction(dock.toggleViewAction())
        self.open_plan_action.setEnabled(self.session is not None)
        self.scan.open_button.setEnabled(self.session is not None)
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        mode = s.value("plot/mode", "overlay")
        if mode in ("overlay", "average"):
            self.plot.set_mode(mode)
        window = s.value("strip/window")
        if isinstance(window, str):
            self.strips.set_window(window)
        self._fill_recent()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("plot/mode", self.vm.dcs.mode)
        s.setValue("strip/window", self.strips.window_box.currentText())
        if self.plan_path:
            s.setValue("files/last_plan", self.plan_path)
        s.sync()

    def _recent_runs(self) -> list[str]:
        value = self.settings.value("files/recent_runs", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_run(self, path: str) -> None:
        recent = [p for p in self._recent_runs() if p != path]
        self.settings.setValue("files/recent_runs", [path, *recent][:RECENT])
        self.settings.setValue("files/last_run", path)
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent_runs():
            self.recent_menu.addAction(path, lambda p=path: self.open_run(p))
        self.recent_menu.setEnabled(bool(self._recent_runs()))

    # ------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else 0.0

    def _utc(self) -> str:
        try:
            return self.clock.utc() if self.clock is not None else _utc_now()
        except Exception:  # a clock without utc(): the GUI's own stamp
            return _utc_now()

    def note(self, level: str, text: str, status: bool = True) -> None:
        """A line of the GUI's own in the log panel (and the status bar)."""
        self.vm.log.add(LogRecord(self._utc(), level, text))
        if status:
            self.statusBar().showMessage(text, 15000 if level in ("warning", "error") else 6000)

    def _update_title(self) -> None:
        if self.view_path:
            title = f"xbeam viewer — {os.path.basename(self.view_path)} (read-only)"
            self.source_label.setText(f"Viewing {self.view_path} (read-only)")
        elif self.session is not None:
            title = "xbeam — live"
            rc = self.vm.control
            self.source_label.setText(f"Live: run file {rc.path}" if rc.path else "Live: no run file yet")
        else:
            title = "xbeam viewer"
            self.source_label.setText("No run open: File > Open run…")
        self.setWindowTitle(title)

    @property
    def running(self) -> bool:
        session = self.session
        return session is not None and session.run is not None

    @property
    def queue_running(self) -> bool:
        """This window's own queue runner is going (between its items too)."""
        controller = self.queue_controller
        return controller is not None and controller.running

    def _current_handle(self):
        """The run Pause/Resume/Abort act on: the one Start began, else the session's
        (a queue item's run)."""
        handle = self.handle
        if handle is not None and not handle.done():
            return handle
        return getattr(self.session, "run", None)

    # ------------------------------------------------------------ events
    def _on_events(self) -> None:
        """The events published since the last batch, on the GUI thread: the window's
        own business at a run's start and stop, the rest to the view-model in bulk."""
        if self._closing:
            return
        chunk = []
        for event in self.bridge.take():
            if isinstance(event, (RunStart, RunStop)):
                self.vm.feed_many(chunk)
                chunk = []
                self._on_event(event)
            else:
                chunk.append(event)
        self.vm.feed_many(chunk)

    def _on_event(self, event) -> None:
        """Every bus event, on the GUI thread."""
        if self._closing:
            return
        if isinstance(event, RunStart):
            self.plot.clear()
            self.strips.reset()
        self.vm.feed(event)
        if isinstance(event, RunStart):
            handle = self.handle
            if handle is not None and handle.path is not None and self.vm.control.path is None:
                self.vm.control.path = str(handle.path)
                self.vm.control.version += 1
            if self.queue_controller is not None and (handle is None or handle.run_id != event.run_id):
                self._queue_run_id = event.run_id  # a queue item's run: its file is named below
                self._queue_run_file()
            self._update_title()
        if isinstance(event, RunStop):
            self.last_stop = event
            # the apparatus is the operator's again: show its state at once
            QTimer.singleShot(0, lambda: self.request("read_status", (), quiet=True))

    # ------------------------------------------------------------ manual operations
    def request(self, op: str, args: tuple = (), quiet: bool = False) -> Future | None:
        """Send a hand operation to the session; its completion comes back queued."""
        session = self.session
        if session is None:
            return None
        what = _OPS.get(op, lambda a: op)(args)
        from acquisition.session import SessionBusy

        try:
            future = getattr(session, op)(*args)
        except SessionBusy as exc:
            if not quiet:
                self.note("warning", f"{what}: refused: {exc}")
            return None
        except Exception as exc:  # a closed session, a bad argument: said, never a traceback
            self.note("error", f"{what}: {exc}")
            return None
        if op != "read_status":
            self.statusBar().showMessage(f"{what}…")
            self.vm.log.add(LogRecord(self._utc(), "info", f"{what} requested"))
        self.bridge.watch(future, what if op != "read_status" else "")
        return future

    def _on_completed(self, done: Completion) -> None:
        if self._closing:
            return
        if done.what == "run":
            self._run_done(done.future)
            return
        if done.what == "dry run":
            self._estimate_done(done.future)
            return
        if done.what == "queue":
            self._queue_done(done.future)
            return
        error = done.error
        if not done.what:  # a status reading
            if error is not None and not isinstance(error, RuntimeError):
                self.note("warning", f"status not read: {error}", status=False)
            elif error is None and isinstance(done.future.result(), ApparatusStatus):
                pass  # published on the bus: the panel has it
            return
        if error is not None:
            self.note("error", f"{done.what} failed: {error}")
        else:
            self.note("info", f"{done.what}: done")
        self.request("read_status", (), quiet=True)

    # ------------------------------------------------------------ plan
    def choose_plan(self) -> None:
        start = self.plan_path or self.settings.value("files/last_plan", "") or ""
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", str(start), "Plans (*.toml);;All files (*)")
        if path:
            self.load_plan(path)

    def load_plan(self, path: str, estimate: bool = True) -> bool:
        """Read and check a plan against the apparatus; show its problems, or start its
        dry-run estimate (``estimate``: not for a plan started at once, whose dry run
        would take half the processor from the run itself).  True if it can run."""
        from acquisition.plans import load_plan

        self.plan_path = str(path)
        self.plan = None
        self.plan_error = None
        try:
            self.plan = load_plan(path, apparatus=self.config)
        except (ValueError, OSError) as exc:  # ConfigError is a ValueError: every issue listed
            self.plan_error = exc
            if not getattr(exc, "source", None):
                exc.source = str(path)
            self.scan.show_plan(self.plan_path, exc)
            n = len(getattr(exc, "issues", ()) or ()) or 1
            self.note("error", f"plan {path}: {n} problem{'s' * (n != 1)}; nothing started")
            self._redraw_scan()
            return False
        self.settings.setValue("files/last_plan", self.plan_path)
        self.scan.show_plan(self.plan_path, None)
        if estimate:
            self._estimate(self.plan_path)
        else:
            self.scan.show_estimate("Dry run: not run (the plan was started at once: the run itself is the estimate)")
        self.note("info", f"plan {path} loaded")
        self._redraw_scan()
        return True

    def _estimate(self, path: str) -> None:
        self._estimate_future = None
        if self.dry_run is None:
            plan = self.plan
            duration = getattr(plan, "estimate_duration_s", None)
            text = "no dry run available"
            if callable(duration):
                try:
                    text = f"estimated duration {_hms(duration())} of beam time (from the plan; no dry run)"
                except Exception:  # an estimate that needs what the plan lacks
                    pass
            self.scan.show_estimate(text)
            return
        self.scan.show_estimate("Dry run: estimating… (simulated off the GUI thread)")
        self._estimate_future = self._estimator.submit(self.dry_run, path)
        self.bridge.watch(self._estimate_future, "dry run")

    def _estimate_done(self, future: Future) -> None:
        if future is not self._estimate_future:
            return  # the estimate of a plan replaced since
        error = future.exception() if not future.cancelled() else RuntimeError("cancelled")
        if error is not None:
            self.scan.show_estimate(f"Dry run failed: {error}", bad=True)
            self.note("warning", f"dry run of {self.plan_path} failed: {error}", status=False)
        else:
            self.estimate = future.result()
            self.scan.show_estimate(estimate_text(self.estimate))

    # ------------------------------------------------------------ run
    def start_run(self) -> None:
        session = self.session
        if session is None or self.plan is None:
            self.note("warning", "Start: load a valid plan first")
            return
        if session.run is not None:
            self.note("warning", "Start: a run is going already")
            return
        if self.queue_running:
            self.note("warning", "Start: the queue is running in this window (Stop queue first)")
            return
        from acquisition.apparatus import SAFE
        from acquisition.storage import default_run_path

        path = self.output if self.output is not None else default_run_path(self.plan)
        self.vm.control.mark_requested("start")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = session.run_plan(self.plan, path, end_state=SAFE)
        except Exception as exc:  # the file exists, the folder is read-only, busy: said, nothing moved
            self.vm.control.start_failed()
            self.note("error", f"Start refused: {exc}")
            return
        self.output = None  # the next Start takes a new name: a run file is never overwritten
        self.handle = handle
        self.last_stop = None
        self.vm.control.path = str(path)
        self.vm.control.version += 1
        self.note("info", f"run started: {self.plan_path} -> {path}")
        self.bridge.watch(handle.future, "run")
        self._update_title()

    def pause_run(self) -> None:
        handle = self._current_handle()
        if handle is not None and not handle.done():
            self.vm.control.mark_requested("pause")
            handle.pause()
            self.note("info", "pause requested: the run stops at the end of this point")

    def resume_run(self) -> None:
        handle = self._current_handle()
        if handle is not None and not handle.done():
            self.vm.control.mark_requested("resume")
            handle.resume()
            self.note("info", "resume requested")

    def abort_run(self) -> None:
        """Always works: it sets the runner's flag, from this thread, and waits for nothing.
        A queue item's run aborted so ends the queue (the item resumable), as a stop does."""
        handle = self._current_handle()
        if handle is not None and not handle.done():
            self.vm.control.mark_requested("abort")
            handle.abort("aborted by operator (GUI)")
            self.note("warning", "abort requested: safe state, file closed and resumable")

    def _run_done(self, future: Future) -> None:
        stop = None
        try:
            stop = future.result()
        except Exception as exc:  # storage could not write, ...: the run failed
            self.note("error", f"run failed: {exc}")
        self.last_stop = stop
        code = exit_code_of(stop) if stop is not None else 3
        self.exit_code = code
        self.runEnded.emit(stop)
        if self.quit_when_done:
            QTimer.singleShot(0, self.close)

    exit_code = 0

    # ------------------------------------------------------------ viewer
    def choose_run(self) -> None:
        start = self.settings.value("files/last_run", "") or ""
        path, _ = QFileDialog.getOpenFileName(self, "Open run", str(start), "Run files (*.h5 *.nxs);;All files (*)")
        if path:
            self.open_run(path)

    def open_run(self, path: str):
        """A live window opens a viewer window beside it; a viewer follows ``path`` itself."""
        if self.session is not None:
            viewer = MainWindow(config=None, view_path=path, settings=self.settings)
            if viewer.follower is None:
                viewer.deleteLater()
                return None
            viewer.setAttribute(Qt.WA_DeleteOnClose)
            viewer.closed.connect(lambda v=viewer: self.viewers.remove(v) if v in self.viewers else None)
            self.viewers.append(viewer)
            viewer.show()
            return viewer
        self.view_run(path)
        return self

    def view_run(self, path: str) -> bool:
        from acquisition.storage import RunFollower, StorageError

        self.follow_timer.stop()
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        try:
            follower = RunFollower(path)
        except (StorageError, OSError) as exc:
            self.note("error", f"cannot open {path}: {exc}")
            return False
        self.follower = follower
        self.view_path = str(path)
        self.vm = self._new_view_model()
        self.plot.set_model(self.vm.dcs)
        self.plot.set_mode(self.settings.value("plot/mode", "overlay") or "overlay")
        self.strips.reset()
        self.vm.load_follower(follower)
        self.vm.control.path = str(path)
        self._remember_run(self.view_path)
        self._update_title()
        self.poll_follower()
        self.follow_timer.start()
        return True

    def poll_follower(self) -> None:
        follower = self.follower
        if follower is None:
            return
        try:
            update = follower.poll()
        except Exception as exc:  # the file went away or was damaged meanwhile: say so, stop following
            self.follow_timer.stop()
            self.note("error", f"{self.view_path}: {exc}")
            return
        self.vm.feed_update(update)

    # ------------------------------------------------------------ queue
    def choose_queue(self) -> None:
        start = self.settings.value("files/last_queue", "") or ""
        path, _ = QFileDialog.getSaveFileName(self, "Open queue (a new name creates one)", str(start),
                                              "Queues (*.sqlite *.db);;All files (*)",
                                              options=QFileDialog.DontConfirmOverwrite)
        if path:
            self.open_queue(path)

    def open_queue(self, path) -> bool:
        """Show the queue database at ``path`` in the Queue dock (created if it does not
        exist); a file that is not a queue is refused, unchanged."""
        from acquisition.queue import QueueError
        from gui.viewmodels.queue import QueueController, QueueModel

        if self.queue_running:
            self.note("warning", f"Open queue: {self.queue_controller.path} is running in this window: stop it first")
            return False
        path = Path(path)
        controller = model = None
        try:
            if not path.parent.is_dir():
                raise QueueError(f"{path}: no such folder {path.parent}")
            controller = QueueController(path)
            model = QueueModel(path)
        except (QueueError, OSError) as exc:
            if controller is not None:
                controller.close()
            self.note("error", f"cannot open the queue {path}: {exc}")
            return False
        self._close_queue()
        self.queue_controller, self.queue_model = controller, model
        self.queue_panel.can_run_extra = self._can_run_queue()
        self.queue_panel.attach(model, controller, self.config)
        self.queue_dock.setVisible(True)
        self.queue_dock.raise_()
        self.queue_timer.start()
        self.settings.setValue("files/last_queue", str(path))
        self.note("info", f"queue {path} opened: {model.runner_text()}")
        return True

    def _close_queue(self) -> None:
        """Forget the open queue (its runner, if this window's, has ended)."""
        self.queue_timer.stop()
        if self.queue_controller is not None:
            self.queue_controller.close()
        if self.queue_model is not None:
            self.queue_model.close()
        self.queue_controller = self.queue_model = None
        self.queue_panel.detach()

    def _queue_run_file(self) -> None:
        """Show the run file of the queue item's run that started last.  The controller
        learns it from the same RunStart, on the session's thread, possibly after this
        window has taken the event: asked again at every tick until it knows."""
        run_id, controller = self._queue_run_id, self.queue_controller
        path = controller.run_file_of(run_id) if run_id is not None and controller is not None else None
        if path is not None:
            self._queue_run_id = None
            self.vm.control.path = path
            self.vm.control.version += 1
            self._update_title()

    def _can_run_queue(self) -> bool:
        """The window's own conditions for Run queue: a session, no run of Start's going."""
        return self.session is not None and self.session.run is None and self.follower is None

    def poll_queue(self) -> None:
        """The queue timer (1 s, GUI thread): read the database again, redraw the panel."""
        if self._closing or self.queue_model is None:
            return
        self.queue_panel.can_run_extra = self._can_run_queue()
        self.queue_panel.poll()

    def run_queue(self):
        """Run the open queue on this window's session, on a worker thread of its own.
        Refused in one line (the panel shows it) while another runner holds the queue
        (named), a run owns the apparatus, nothing is left to run, or a queued plan does
        not fit the apparatus."""
        from acquisition.queue import QueueError

        controller = self.queue_controller
        if controller is None:
            return None
        try:
            future = controller.run(self.session)
        except QueueError as exc:
            self.queue_panel.show_problem(exc, what="Run queue refused")
            self.note("warning", f"Run queue refused: {exc}")
            self.queue_panel.poll()
            return None
        self.queue_outcome = None
        self.queue_panel.show_problem(None)
        self.note("info", f"queue {controller.path}: running on this window's apparatus")
        self.bridge.watch(future, "queue")
        self.queue_panel.poll()
        self.redraw()
        return future

    def stop_queue(self) -> None:
        """Stop this window's queue now (the run in progress aborted, resumable; the end
        state applied).  Asks first."""
        if not self.queue_running:
            return
        if not self.confirm(self, "Stop the queue",
                            "Stop the queue now? The count in progress is discarded, the run file stays resumable "
                            "and the queue's end state is applied (Run queue resumes the item)."):
            return
        self.queue_controller.interrupt("stopped from the window (Stop queue)")
        self.note("warning", "queue: stop requested now: the run is aborted (resumable), then the end state")

    def _queue_done(self, future: Future) -> None:
        from acquisition.queue import QueueBusy

        try:
            outcome = future.result()
        except QueueBusy as exc:  # another runner took the lock between the check and the start
            self.queue_panel.show_problem(exc, what="Run queue refused")
            self.note("warning", f"Run queue refused: {exc}")
        except Exception as exc:  # a bug or a session that closed under it: said, never a traceback
            self.note("error", f"the queue runner failed: {type(exc).__name__}: {exc}")
        else:
            self.queue_outcome = outcome
            level = "info" if outcome.status == "completed" and not outcome.safe_state_problems else "warning"
            self.note(level, f"queue {outcome.status}: {outcome.reason}; {outcome.count('done')} done, "
                             f"{outcome.count('skipped')} skipped, {outcome.count('failed')} failed, "
                             f"{outcome.count('interrupted')} interrupted; safe state: {outcome.safe_state}")
        self.queue_panel.poll()
        self.request("read_status", (), quiet=True)
        if self._close_after_queue:
            QTimer.singleShot(0, self.close)

    # ------------------------------------------------------------ redraw
    def _redraw_scan(self) -> None:
        ok = self.session is not None and self.plan is not None and self.follower is None and not self.queue_running
        self.scan.redraw(self.vm.control, can_start_extra=ok)

    def _tick(self) -> None:
        """Take the events published since the last tick, redraw, then set the next
        period from the GUI thread's share of a processor (gui.viewmodels.pacer: a fast
        run is not slowed by being watched; an idle window redraws at once)."""
        self._on_events()
        if self._queue_run_id is not None:
            self._queue_run_file()
        self.redraw()
        wall, cpu = time.perf_counter(), time.thread_time()
        last_wall, last_cpu = self._paced_at
        self._paced_at = (wall, cpu)
        self.redraw_timer.setInterval(round(1000 * self.pacer.update(cpu - last_cpu, wall - last_wall)))

    def redraw(self) -> None:
        """Every view whose model changed draws it."""
        self.ticks += 1
        vm = self.vm
        self.plot.redraw()
        self.strips.redraw(vm.strip)
        self.log_panel.redraw(vm.log)
        self._redraw_scan()
        if self.queue_model is not None:
            self.queue_panel.can_run_extra = self._can_run_queue()
            self.queue_panel.redraw()
        rc = vm.control
        text, level = self._banner(rc, vm.health)
        self.banner.show_text(text, level)
        if self.panel is not None:
            self.panel.set_mode(connected=self.session is not None and self.follower is None,
                                running=self.running or self.queue_running)
            self.panel.redraw(vm.panel, vm.health)
        self.status_label.setText(rc.status_text() if hasattr(rc, "status_text") else rc.state)
        self.status_label.setStyleSheet(f"color: {COLOURS['fault']}; font-weight: bold;" if level == "fault" else "")

    @staticmethod
    def _banner(rc, health) -> tuple[str, str]:
        """The one line always in view: suspended, an instrument faulted, paused, failed,
        or all clear (worst first; a faulted instrument is named even while paused)."""
        interlocks = rc.interlock_text()
        faulted = [name for name, state, _ in health.items() if state == "fault"]
        paused = rc.state in ("paused", "pausing")
        why = rc.paused_reason or "pause requested"
        if why.startswith("device fault"):
            why = "device fault: Resume once it answers, or Abort"
        parts = []
        if rc.state == "suspended" or interlocks.upper().startswith("SUSPENDED"):
            level, parts = "suspended", [interlocks]
        elif faulted:
            level, parts = "fault", [f"INSTRUMENT FAULT: {', '.join(faulted)}"]
        elif rc.state == "failed":
            level, parts = "fault", [f"RUN FAILED: {rc.last_stop[1] if rc.last_stop else ''}"]
        elif paused:
            level = "paused"
        else:
            level = "ok"
        if paused:
            parts.append(f"run PAUSED ({why})")
        if level != "suspended":
            parts.append(interlocks)
        return "   ·   ".join(parts), level

    # ------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.queue_running and not self._closing:
            # the queue's thread uses the session, which closes after the window: stop it
            # now (resumable), let it apply its end state, close when it has ended
            if not self._close_after_queue and not self.confirm(
                    self, "The queue is running",
                    "The queue is running in this window. Stop it now (the run in progress is aborted and stays "
                    "resumable, the queue's end state is applied) and close when it has stopped?"):
                event.ignore()
                return
            self._close_after_queue = True
            self.queue_controller.interrupt("stopped: the window was closed")
            self.note("warning", "closing: the queue stops now; the window closes once its end state is applied")
            event.ignore()
            return
        if self.running and not self._closing:
            if not self.confirm(self, "A run is going",
                                "A run is going. Abort it (safe state, file closed and resumable) and close?"):
                event.ignore()
                return
            self.abort_run()
        self._closing = True
        self._save_settings()
        self.redraw_timer.stop()
        self.follow_timer.stop()
        self.queue_timer.stop()
        self._close_queue()
        self.bridge.close()
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        for viewer in list(self.viewers):
            viewer.close()
        self._estimator.shutdown(wait=False, cancel_futures=True)
        super().closeEvent(event)
        self.closed.emit()


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
