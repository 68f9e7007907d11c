"""The session: the one control API of a connected apparatus.

The CLI, the GUI and the overnight queue drive the apparatus through a
:class:`Session` and nothing else.  It owns

* the **event bus** every consumer subscribes to (monitors, points, run state,
  messages);
* the **connected apparatus**, and **one worker thread** on which every apparatus call
  runs, so no two callers ever talk to the instruments at once and no caller's thread
  (the GUI's) ever blocks on an instrument: every operation returns a
  :class:`concurrent.futures.Future`;
* a **status poller** that, between jobs and while no run is going, reads what the
  instrument panel shows (:meth:`Session.read_status`) and publishes it as an
  :class:`~acquisition.events.ApparatusStatus` and a
  :class:`~acquisition.events.Monitor` event, with an
  :class:`~acquisition.events.InstrumentHealth` event for every instrument whose
  connection state changed (a run publishes its own monitors, between sub-gates, and
  the health of the instruments it retries);
* **runs**: :meth:`Session.run_plan`, :meth:`Session.resume_run` and
  :meth:`Session.start` (any procedure) return a :class:`RunHandle` that pauses,
  resumes, aborts and joins from any thread.

Manual operations are refused (:class:`SessionBusy`) while a run owns the apparatus.
Two operations are urgent and never queue behind the job they must interrupt: stopping
the goniometer and switching the channeltron high voltage off.  They go out at once on
a second thread (each driver's lock keeps every exchange whole); during a run they
abort it (it stays resumable), so that nothing is counted in the state they leave.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acquisition.apparatus import SAFE, EndState
from acquisition.events import ApparatusStatus, EventBus, InstrumentHealth, Message, Monitor, Point, RunStop
from acquisition.procedures import procedure_for
from acquisition.runner import Procedure, Runner, RunState
from drivers.errors import InstrumentError
from foundation.clock import Clock

__all__ = ["DryRunEstimate", "DryRunSummary", "RunHandle", "Session", "SessionBusy"]

log = logging.getLogger(__name__)


class SessionBusy(RuntimeError):
    """A manual operation was asked for while a run owns the apparatus."""


@dataclass
class RunHandle:
    """A run started by a session: control it from any thread."""

    runner: Runner
    future: Future
    path: Path | None = None

    @property
    def state(self) -> RunState:
        return self.runner.state

    @property
    def run_id(self) -> str:
        return self.runner.run_id

    def pause(self, immediate: bool = False) -> None:
        self.runner.pause(immediate)

    def resume(self) -> None:
        self.runner.resume()

    def abort(self, reason: str = "aborted by operator") -> None:
        self.runner.abort(reason)

    def done(self) -> bool:
        return self.future.done()

    def join(self, timeout_s: float | None = None) -> RunStop:
        """Wait for the run to end (wall seconds); its RunStop.  An error that escaped
        the runner (storage could not write, say) is raised here."""
        return self.future.result(timeout_s)


class DryRunSummary:
    """Event subscriber: the (energy, angle) cells a dry run flags, with why."""

    def __init__(self) -> None:
        self.flagged: dict[tuple[float, float], str] = {}

    def __call__(self, event) -> None:
        if isinstance(event, Point) and event.flags:
            self.flagged[(event.energy_eV, event.angle_deg)] = event.flags.describe()


@dataclass(frozen=True)
class DryRunEstimate:
    """What a dry run of a plan found: the plan on the simulated apparatus in virtual
    time (``xbeam dry-run``; the GUI's estimate)."""

    plan: str  #: the plan file
    points: int
    status: str  #: the dry run's RunStop status ("success" unless the plan could not run)
    reason: str
    duration_s: float  #: beam time the plan takes
    file_mb: float  #: size of its run file
    flagged: dict[tuple[float, float], str]  #: (energy, angle) -> the flags the simulated run raised
    wall_s: float = 0.0  #: how long the estimate took


class Session:
    """One connected apparatus and its single worker thread (see module docstring)."""

    def __init__(
        self,
        apparatus,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        monitor_interval_s: float | None = 2.0,
        own_apparatus: bool = True,
        operator=None,
    ) -> None:
        """``monitor_interval_s``: wall seconds between monitor readings while idle
        (None: no poller).  ``own_apparatus``: :meth:`close` closes the apparatus.
        ``operator`` (:class:`acquisition.operator.Operator`): who sets the line
        pressures of an RFM run (the command line's prompt, the window's dialog, the
        simulator's operator); runs that need one are refused without."""
        self.apparatus = apparatus
        self.operator = operator
        self.config = apparatus.config
        self.clock = clock or apparatus.clock
        self.bus = bus or EventBus()
        self._own = own_apparatus
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="xbeam-apparatus")
        self._urgent = ThreadPoolExecutor(1, thread_name_prefix="xbeam-urgent")
        self._lock = threading.Lock()
        self._pending = 0  #: jobs submitted to the worker and not finished
        self._run: RunHandle | None = None
        self._closed = False
        self._stop_polling = threading.Event()
        self._last_poll_error: str | None = None
        #: the connection state last published of each instrument (from any publisher)
        self.health: dict[str, tuple[str, str]] = {name: ("ok", "") for name in apparatus.config.instruments}
        self.bus.subscribe(self._track_health)
        self._poller = None
        if monitor_interval_s is not None:
            self._poller = threading.Thread(
                target=self._poll_monitors, args=(monitor_interval_s,), name="xbeam-monitors", daemon=True
            )
            self._poller.start()

    @classmethod
    def connect(cls, config, clock: Clock, *, configure_monitors: bool = True, **kwargs) -> Session:
        """Open every instrument of ``config`` and start a session on them; with
        ``configure_monitors`` the first job makes the monitors readable (the
        picoammeter's zero check off: nothing moves or heats)."""
        from acquisition.apparatus import connect

        session = cls(connect(config, clock), clock=clock, **kwargs)
        if configure_monitors:
            session.submit(session.apparatus.configure_monitors).add_done_callback(
                session._warn_on_failure("configuring the monitors"))
        return session

    # ------------------------------------------------------------ jobs
    @property
    def run(self) -> RunHandle | None:
        """The run that owns the apparatus now, if any."""
        run = self._run
        return run if run is not None and not run.done() else None

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the worker thread (refused during a run)."""
        if self.run is not None:
            raise SessionBusy(f"a run ({self.run.run_id}) owns the apparatus: pause or abort it first")
        return self._submit(fn, *args, **kwargs)

    def _submit(self, fn: Callable, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("session closed")
        with self._lock:
            self._pending += 1
        future = self._worker.submit(fn, *args, **kwargs)
        future.add_done_callback(self._job_done)
        return future

    def _job_done(self, _future: Future) -> None:
        with self._lock:
            self._pending -= 1

    def _warn_on_failure(self, what: str) -> Callable[[Future], None]:
        """A done-callback that tells the bus when a job nobody waits for failed."""

        def check(future: Future) -> None:
            exc = future.exception()
            if exc is not None:
                text = f"{what} failed: {exc}"
                log.warning(text)
                self.bus.emit(Message(self.clock.now(), self.clock.utc(), "warning", text))

        return check

    def _urgently(self, what: str, fn: Callable, *args) -> Future:
        run = self.run
        if run is not None:
            run.abort(f"{what} by the operator")
        return self._urgent.submit(fn, *args)

    # ------------------------------------------------------------ manual operations
    def set_energy(self, energy_eV: float) -> Future:
        """Apply the tune for ``energy_eV`` (safe order, ramped, readbacks waited for)."""
        return self.submit(self.apparatus.set_energy, energy_eV)

    def move_to(self, angle_deg: float) -> Future:
        """Turn the analyzer; the future's result is the angle read back."""
        return self.submit(self.apparatus.move_to, angle_deg)

    def home(self) -> Future:
        return self.submit(self.apparatus.home)

    def stop_motion(self) -> Future:
        """Stop the goniometer now (urgent: does not wait for the move it stops)."""
        return self._urgently("goniometer stopped", self.apparatus.stop_motion)

    def select_gas(self, path: str) -> Future:
        """Needle, side leak or closed; waits for the pressure to settle."""
        return self.submit(self.apparatus.select_gas, path)

    def ramp_filament(self, current_A: float) -> Future:
        """Ramp the filament current in the configured steps (0 ramps it down)."""
        return self.submit(self.apparatus.ramp_filament, current_A)

    def channeltron_on(self) -> Future:
        """Channeltron to its plateau, ramped (the GUI asks for confirmation first)."""
        return self.submit(self.apparatus.channeltron_on)

    def channeltron_off(self) -> Future:
        """Channeltron high voltage off now (urgent)."""
        return self._urgently("channeltron switched off", self.apparatus.channeltron_off_now)

    def set_electrode(self, name: str, volts: float) -> Future:
        """One electrode to ``volts`` (ramped, within its limits; not the channeltron)."""
        return self.submit(self.apparatus.set_electrode, name, volts)

    def read_status(self) -> Future:
        """Read what the instrument panel shows; publish it (ApparatusStatus, Monitor,
        and InstrumentHealth for every instrument whose state changed); its result is
        the ApparatusStatus."""
        return self.submit(self._status_and_publish)

    def _status_and_publish(self) -> ApparatusStatus:
        status, answered = self.apparatus.read_status()
        for name, error in answered.items():
            state = ("ok", "") if error is None else ("fault", error)
            if self.health.get(name) != state:
                self.bus.emit(InstrumentHealth(status.t, name, *state))
        self.bus.emit(status)
        self.bus.emit(Monitor(status.t, status.utc, status.beam_current_A, status.chamber_mbar, status.needle_mbar))
        return status

    def _track_health(self, event) -> None:
        if isinstance(event, InstrumentHealth):
            self.health[event.instrument] = (event.state, event.reason)

    def read_monitors(self) -> Future:
        """One monitor reading, also published as a Monitor event."""
        return self.submit(self._read_and_publish)

    def _read_and_publish(self) -> Monitor:
        reading = self.apparatus.read_monitors()
        monitor = Monitor(reading.t, self.clock.utc(reading.t), reading.beam_current_A, reading.chamber_mbar,
                          reading.needle_mbar)
        self.bus.emit(monitor)
        return monitor

    def _poll_monitors(self, interval_s: float) -> None:
        """Between jobs and runs, keep the panel's status fresh for whoever watches the bus.

        Waits in wall seconds: this paces a display, not the experiment."""
        while not self._stop_polling.wait(interval_s):
            with self._lock:
                idle = self._pending == 0
            if not idle or self.run is not None:
                continue
            try:
                self._submit(self._poll_once)
            except RuntimeError:  # closed meanwhile
                return

    def _poll_once(self) -> None:
        if self.run is not None:
            return
        try:
            self._status_and_publish()
        except InstrumentError as exc:
            text = f"monitors unreadable: {exc}"
            if text != self._last_poll_error:  # once per distinct fault, not every poll
                self._last_poll_error = text
                log.warning(text)
                self.bus.emit(Message(self.clock.now(), self.clock.utc(), "warning", text))
        else:
            self._last_poll_error = None

    # ------------------------------------------------------------ runs
    def start(self, procedure: Procedure, *, recorder: Callable | None = None, path: Path | None = None,
              also: tuple[Callable, ...] = (), **runner_options) -> RunHandle:
        """Run ``procedure`` on the worker thread.  ``recorder`` (storage) is subscribed
        as critical for the run's duration, ``also`` as ordinary subscribers;
        ``runner_options`` go to :class:`~acquisition.runner.Runner` (``end_state``,
        ``done``, ``resumed``, ...)."""
        if self.run is not None:
            raise SessionBusy(f"a run ({self.run.run_id}) is already going")
        runner = Runner(self.apparatus, procedure, bus=self.bus, clock=self.clock, **runner_options)
        unsubscribe = []
        if recorder is not None:
            unsubscribe.append(self.bus.subscribe(recorder, critical=True))
        unsubscribe += [self.bus.subscribe(s) for s in also]

        def job() -> RunStop:
            try:
                return runner.run()
            finally:
                for undo in unsubscribe:
                    undo()
                close = getattr(recorder, "close", None)
                if close is not None:
                    close()

        handle = RunHandle(runner, Future(), path)
        with self._lock:  # the handle is visible before the job can start
            self._run = handle
        handle.future = self._submit(job)
        return handle

    def run_plan(self, plan, path: str | Path, *, end_state: EndState = SAFE, fsync: bool = True,
                 also: tuple[Callable, ...] = (), **runner_options) -> RunHandle:
        """Run a DCS plan into a new run file ``path`` (refused if it exists)."""
        from acquisition.storage import RunRecorder, StorageError

        path = Path(path)
        if path.exists():
            raise StorageError(f"{path}: run file exists; choose another name or resume it")
        procedure = self._procedure(plan)
        return self.start(procedure, recorder=RunRecorder(path, fsync=fsync), path=path,
                          also=also, end_state=end_state, **runner_options)

    def _procedure(self, plan):
        if plan.kind == "rfm" and self.operator is None:
            from acquisition.procedures.rfm import NoOperator

            raise NoOperator(f"{plan.source}: an RFM plan needs an operator to set the line pressures; this session "
                             "has none")
        return procedure_for(plan, self.config, operator=self.operator)

    def resume_run(self, path: str | Path, *, end_state: EndState = SAFE, also: tuple[Callable, ...] = (),
                   **runner_options) -> RunHandle:
        """Measure the missing points of the run file ``path`` into the same file.

        The stored plan is checked against this session's apparatus before the file is
        touched: a plan the apparatus cannot run is refused and the file is unchanged."""
        from acquisition.plans import parse_plan
        from acquisition.storage import RunRecorder, RunWriter, StorageError, read_run

        path = Path(path)
        stored = read_run(path)
        if stored.kind in ("dcs", "volume") and "path_factor" not in stored.points:
            raise StorageError(f"{path}: written by an xbeam whose relative DCS did not carry sin(theta) (no "
                               "path_factor column): its remaining points would be reduced differently; start "
                               "a new run")
        plan = parse_plan(stored.plan_text, source=f"<plan stored in {path}>", apparatus=self.config)
        procedure = self._procedure(plan)  # refused before the file is touched
        writer, data = RunWriter.resume(path)
        seq = data.points.get("seq", ())
        options = {"run_id": data.run_id, "done": data.done_keys(), "resumed": True,
                   "seq_start": int(max(seq)) + 1 if len(seq) else 0, **runner_options}
        try:
            return self.start(procedure, recorder=RunRecorder(writer=writer), path=path,
                              also=also, end_state=end_state, **options)
        except BaseException:
            writer.close()
            raise

    # ------------------------------------------------------------ closing
    def close(self, timeout_s: float | None = 60.0) -> None:
        """Abort a run still going, stop the poller, finish the jobs, close the apparatus."""
        if self._closed:
            return
        run = self.run
        if run is not None:
            run.abort("session closed")
            try:
                run.join(timeout_s)
            except Exception as exc:  # the run's own failure was reported on the bus
                log.warning("run ended with %s", exc)
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join(timeout_s)
        self._closed = True
        self._worker.shutdown(wait=True)
        self._urgent.shutdown(wait=True)
        if self._own:
            self.apparatus.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
