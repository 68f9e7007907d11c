"""The run machine: runs a procedure on an apparatus and publishes what happens.

*What* to measure is a procedure (:mod:`acquisition.procedures`: the DCS scan, and
later argon effective-volume, relative-flow and tuning runs); *how* it runs is here,
the same for all of them.  The runner walks the procedure's points through a state
machine::

    idle -> running <-> pausing -> paused -> running
                    <-> suspended (interlock tripped; automatic recovery)
            running -> aborting -> finished(aborted)
            running -> finished | failed

and gives the procedure its services (the procedure calls them; it never re-implements
them): :meth:`Runner.call` retries transient driver errors, :meth:`Runner.count`
counts the channeltron under the interlocks, :meth:`Runner.monitors` reads and
publishes the slow monitors, :meth:`Runner.message` logs for the operator and the file.
Consumers (storage, plots, log, progress) subscribe to the event bus; the runner calls
none of them by name.

Interlocks are suspenders with hysteresis, checked before every gate and after every
sub-gate: on a trip the channeltron high voltage goes off *first*, then the run is
suspended until every monitor is back past its resume threshold, then it waits
``wait_after_recovery_s``, ramps the channeltron back and measures the interrupted
point again.  Transient driver errors (timeouts, garbled replies, dropped links) are
retried; persistent ones pause the run with the reason.  A point is emitted only
when complete, so nothing half-measured reaches the file, and nothing measured is
lost: the point in progress is measured again.

``pause(immediate=False)`` takes effect at the next point boundary;
``pause(immediate=True)`` interrupts the count (discarding it).  ``pause``,
``resume`` and ``abort`` may be called from any thread (the GUI's).  What the
apparatus is left in at the end is the caller's :class:`~acquisition.apparatus.EndState`.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from acquisition import counting
from acquisition.apparatus import SAFE, EndState
from acquisition.events import (
    EventBus,
    Gate,
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
    instrument_of,
)
from drivers.errors import InstrumentError, TransientError
from foundation.clock import Clock

__all__ = [
    "Procedure",
    "Redo",
    "RunState",
    "SafetyStop",
    "Runner",
    "Suspender",
    "software_version",
    "suspenders_from",
]

log = logging.getLogger(__name__)


def software_version() -> str:
    try:
        from importlib.metadata import version

        return version("xbeam")
    except Exception:
        return "unknown"


class RunState(str, enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    ABORTING = "aborting"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class Suspender:
    """Trip when ``quantity`` passes ``trip``; recover only once it is back past ``resume``.

    ``above=True``: trips when the value rises above ``trip`` (pressures);
    ``above=False``: trips when it falls below ``trip`` (beam current).
    """

    name: str
    quantity: str  # attribute of MonitorReading
    trip: float
    resume: float
    above: bool

    def tripped(self, value: float) -> bool:
        """Past the trip threshold, or unreadable (NaN compares false with everything:
        an interlock that cannot read its monitor must not count as clear)."""
        return not (value <= self.trip) if self.above else not (value >= self.trip)

    def recovered(self, value: float) -> bool:
        return value < self.resume if self.above else value > self.resume

    def describe(self, value: float) -> str:
        sign = ">" if self.above else "<"
        return f"{self.name}: {self.quantity} = {value:.3g} {sign} {self.trip:.3g} (resumes past {self.resume:.3g})"


def suspenders_from(interlocks) -> list[Suspender]:
    """The three interlocks of the apparatus config as suspenders."""
    return [
        Suspender(
            "chamber pressure", "chamber_mbar", interlocks.chamber_max_mbar, interlocks.chamber_resume_mbar, True
        ),
        Suspender("gas-line pressure", "needle_mbar", interlocks.needle_max_mbar, interlocks.needle_resume_mbar, True),
        Suspender("beam current", "beam_current_A", interlocks.beam_min_A, interlocks.beam_resume_A, False),
    ]


class Procedure(Protocol):
    """What a run measures.  The runner calls, in this order: :meth:`points` once,
    :meth:`run_start` once, :meth:`prepare` (unless the caller skips it), then
    :meth:`measure` for every point not already done, again for a point whose
    measurement was interrupted (``attempt`` counts).  ``measure`` raises
    :class:`Redo` (or lets the runner's services raise it) to have the point measured
    again, a driver's error to report a fault; it returns the point's event."""

    kind: ClassVar[str]  #: recorded in the run file ("dcs", ...)

    def points(self) -> Sequence[Any]:
        """Every point in execution order; each has a hashable ``key``."""

    def run_start(self) -> dict[str, Any]:
        """The procedure's fields of :class:`~acquisition.events.RunStart`: plan,
        plan_text, metadata, energies_eV, angles_deg, sweeps."""

    def prepare(self, run: Runner) -> None:
        """Bring the apparatus up for this procedure (called through fault recovery)."""

    def measure(self, run: Runner, point: Any, attempt: int) -> Point:
        """Measure one point; ``run.seq`` is its sequence number."""


class Abort(Exception):
    """The run is being aborted (operator, signal, unrecoverable safety fault)."""


class Redo(Exception):
    """The point in progress was interrupted (suspension, pause, device fault)."""


class SafetyStop(Exception):
    """A safety action could not be confirmed: the run stops (failed) in the safe state."""


class Runner:
    """Runs one procedure (see module docstring)."""

    def __init__(
        self,
        apparatus,
        procedure: Procedure,
        *,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        run_id: str | None = None,
        done: set[Hashable] | frozenset = frozenset(),
        seq_start: int = 0,
        resumed: bool = False,
        prepare: bool = True,
        max_retries: int = 3,
        retry_delay_s: float = 2.0,
        poll_s: float = 5.0,
        snapshot: bool = True,
        end_state: EndState = SAFE,
        max_recounts: int = 2,
        steady_false_alarm: float = 1e-4,
        hv_off_retry_s: float = 1.0,
        hv_off_timeout_s: float = 30.0,
        pause_timeout_s: float | None = None,
        suspend_limit_s: float | None = None,
    ) -> None:
        """``pause_timeout_s``: an unattended run gives up (aborts, :attr:`gave_up` says
        why) when a device fault has kept it paused that long in clock time with nobody
        resuming it; ``suspend_limit_s``: the same for an interlock suspension that has
        not recovered.  None (the default): wait for the operator, however long."""
        self.apparatus = apparatus
        self.procedure = procedure
        self.config = apparatus.config
        self.bus = bus or EventBus()
        self.clock = clock or apparatus.clock
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.done = set(done)
        self.seq = seq_start
        self.resumed = resumed
        self.prepare = prepare
        self.max_retries = max_retries
        self.retry_delay_s = retry_delay_s
        self.poll_s = poll_s
        self.take_snapshot = snapshot
        self.end_state = end_state
        self.max_recounts = max_recounts
        self.steady_false_alarm = steady_false_alarm
        self.hv_off_retry_s = hv_off_retry_s
        self.hv_off_timeout_s = hv_off_timeout_s
        self._steady_tolerance = getattr(self.config.detector, "steady_rate_tolerance", 0.0)
        self._hv_unconfirmed: str | None = None  #: set when HV off failed for good: no count may start
        self.suspenders = suspenders_from(self.config.interlocks)
        self._state = RunState.IDLE
        self._cond = threading.Condition()
        self._pause_requested = False
        self._pause_immediate = False
        self._abort_requested: str | None = None
        self._durations: list[float] = []
        self._t_start = 0.0
        self._points: Sequence[Any] = ()
        self.points_done = 0
        #: instruments reported retrying or faulted and not yet seen working again
        self._unhealthy: set[str] = set()
        self.pause_timeout_s = pause_timeout_s
        self.suspend_limit_s = suspend_limit_s
        #: why the unattended policy gave the run up (pause or suspension too long), if it did
        self.gave_up: str | None = None

    # ------------------------------------------------------------ thread-safe control
    @property
    def state(self) -> RunState:
        return self._state

    def _set_state(self, state: RunState) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def pause(self, immediate: bool = False) -> None:
        """Pause at the next point boundary, or at once (discarding the partial count)."""
        with self._cond:
            self._pause_requested = True
            self._pause_immediate = self._pause_immediate or immediate
            if self._state == RunState.RUNNING:
                self._state = RunState.PAUSING
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._pause_requested = False
            self._pause_immediate = False
            self._cond.notify_all()

    def abort(self, reason: str = "aborted by operator") -> None:
        with self._cond:
            self._abort_requested = reason
            if self._state not in (RunState.FINISHED, RunState.FAILED):
                self._state = RunState.ABORTING
            self._cond.notify_all()

    @property
    def interrupt_requested(self) -> bool:
        """An abort or an immediate pause is pending: a count in progress should stop."""
        return self._abort_requested is not None or self._pause_immediate

    # ------------------------------------------------------------ events
    def utc(self, t: float | None = None) -> str:
        return self.clock.utc(t)

    def message(self, level: str, text: str) -> None:
        getattr(log, level if level in ("info", "warning", "error") else "info")(text)
        self.bus.emit(Message(self.clock.now(), self.utc(), level, text))

    def health(self, exc: BaseException, state: str) -> None:
        """Tell the panel that the instrument ``exc`` names is retrying or faulted."""
        name = instrument_of(exc)
        if name:
            self._unhealthy.add(name)
            self.bus.emit(InstrumentHealth(self.clock.now(), name, state, str(exc)))

    def _healthy_again(self) -> None:
        """A point was measured: every instrument it needs answered."""
        for name in sorted(self._unhealthy):
            self.bus.emit(InstrumentHealth(self.clock.now(), name, "ok"))
        self._unhealthy.clear()

    def progress(self) -> Progress:
        total = len(self._points)
        done = len(self.done)
        elapsed = self.clock.now() - self._t_start
        per_point = sum(self._durations[-50:]) / len(self._durations[-50:]) if self._durations else float("nan")
        return Progress(self.clock.now(), done, total, elapsed, per_point * (total - done))

    # ------------------------------------------------------------ the run
    def run(self) -> RunStop:
        """Run the procedure to the end (blocking); returns the RunStop event."""
        self._points = self.procedure.points()
        self._t_start = self.clock.now()
        self._set_state(RunState.RUNNING)
        status, reason = "success", "plan complete"
        try:
            self.bus.emit(self._run_start())
            if self.prepare:
                self.with_recovery(lambda: self.procedure.prepare(self), "prepare the apparatus")
            for point in self._points:
                if point.key in self.done:
                    continue
                self._boundary()
                self._measure_point(point)
        except SafetyStop as exc:
            status, reason = "failed", str(exc)
        except Abort as exc:
            status, reason = "aborted", str(exc) or "aborted"
        except Exception as exc:
            # the reason goes to the operator and the file; the traceback only to the debug log
            log.error("run failed: %s: %s", type(exc).__name__, exc)
            log.debug("run failed", exc_info=True)
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            # whatever the caller chose for a good end, an interrupted run ends safe
            end = self.end_state if status == "success" else self.end_state.at_least_safe()
            problems = self.apparatus.apply_end_state(end)
            if problems:
                reason += "; safe state incomplete: " + "; ".join(problems)
        stop = RunStop(self.clock.now(), self.utc(), status, reason, self.points_done)
        self._set_state(RunState.FINISHED if status != "failed" else RunState.FAILED)
        self.bus.emit(stop)
        return stop

    def _run_start(self) -> RunStart:
        snapshot = self.apparatus.snapshot() if self.take_snapshot else {}
        return RunStart(
            run_id=self.run_id,
            utc=self.utc(),
            t=self.clock.now(),
            apparatus=self.config.to_dict(),
            apparatus_text=self.config.text,
            snapshot=snapshot,
            software_version=software_version(),
            planned_points=len(self._points),
            clock=self.clock.describe(),
            resumed=self.resumed,
            kind=self.procedure.kind,
            **self.procedure.run_start(),
        )

    # ------------------------------------------------------------ boundaries, pause, abort
    def check_abort(self) -> None:
        if self._abort_requested is not None:
            raise Abort(self._abort_requested)

    def _boundary(self) -> None:
        """Between points: honour abort and pause requests."""
        self.check_abort()
        if self._pause_requested:
            self.wait_paused("paused by operator")

    def wait_paused(self, reason: str) -> None:
        """Stay paused (channeltron HV stays on, gas keeps flowing) until resume or abort."""
        with self._cond:
            # the request and the state together: a resume sent as soon as PAUSED is
            # seen must not be overwritten by a request raised after it
            self._pause_requested = True
            self._state = RunState.PAUSED
            self._cond.notify_all()
        self.bus.emit(Paused(self.clock.now(), self.utc(), reason))
        limit = self.pause_timeout_s if reason.startswith("device fault") else None
        deadline = None if limit is None else self.clock.now() + limit
        with self._cond:
            while self._pause_requested and self._abort_requested is None:
                if deadline is None:
                    self._cond.wait(timeout=0.5)  # waiting for a person, not for experiment time
                    continue
                remaining = deadline - self.clock.now()
                if remaining <= 0:
                    self.gave_up = (f"unattended policy: {reason} kept the run paused for "
                                    f"{limit:g} s (pause_timeout_s) with nobody resuming it")
                    self._abort_requested = self.gave_up
                    break
                if math.isinf(self.clock.speed):  # virtual time passes only when somebody sleeps
                    self.clock.sleep(min(remaining, self.poll_s))
                    self._cond.wait(timeout=0)  # let a resume from another thread in
                else:
                    self._cond.wait(timeout=min(0.5, remaining / self.clock.speed))
        if self.gave_up is not None and self._abort_requested == self.gave_up:
            self.message("error", self.gave_up)
        self.check_abort()
        self._set_state(RunState.RUNNING)
        self.bus.emit(Resumed(self.clock.now(), self.utc(), "resumed by operator"))

    # ------------------------------------------------------------ retries
    def call(self, what: str, fn: Callable, *args):
        """Call a device operation, retrying transient errors; raise the last one otherwise."""
        for attempt in range(1, self.max_retries + 2):
            try:
                return fn(*args)
            except TransientError as exc:
                if attempt > self.max_retries:
                    raise
                self.health(exc, "retrying")
                self.message("warning", f"{what}: {exc} (retry {attempt}/{self.max_retries})")
                self.clock.sleep(self.retry_delay_s * attempt)
                self.check_abort()

    def with_recovery(self, fn: Callable, what: str) -> None:
        """Run ``fn`` until it succeeds; a persistent device fault pauses for the operator."""
        while True:
            try:
                return self.call(what, fn)
            except InstrumentError as exc:
                self.health(exc, "fault")
                self.message("error", f"{what} failed: {exc}; run paused")
                self.wait_paused(f"device fault: {exc}")

    # ------------------------------------------------------------ one point
    def _measure_point(self, point) -> None:
        attempts = 0
        t0 = self.clock.now()
        while True:
            attempts += 1
            try:
                event = self.procedure.measure(self, point, attempts)
                break
            except Redo:
                self.check_abort()
            except InstrumentError as exc:
                self.health(exc, "fault")
                self.message("error", f"point {_describe(point)}: {exc}; run paused")
                self.wait_paused(f"device fault: {exc}")
        self.seq += 1
        self.points_done += 1
        self.done.add(point.key)
        self._durations.append(self.clock.now() - t0)
        if self._unhealthy:
            self._healthy_again()
        self.bus.emit(event)
        self.bus.emit(self.progress())

    # ------------------------------------------------------------ monitors and counting
    def monitors(self) -> Monitor:
        """Read the slow monitors (with retries) and publish them."""
        reading = self.call("read monitors", self.apparatus.read_monitors)
        m = Monitor(reading.t, self.utc(reading.t), reading.beam_current_A, reading.chamber_mbar, reading.needle_mbar)
        self.bus.emit(m)
        return m

    def publish_status(self) -> None:
        """Read what the instrument panel shows and publish it (a procedure calls this
        where the panel would otherwise go stale for long: after each new energy's
        tune).  Asks every instrument once, without retries; one that does not answer
        is reported retrying (the next point that works reports it ok) and the run goes
        on: the panel's reading is not worth a pause."""
        status, answered = self.apparatus.read_status()
        for name, error in answered.items():
            if error is not None:
                self._unhealthy.add(name)
                self.bus.emit(InstrumentHealth(status.t, name, "retrying", error))
        self.bus.emit(status)

    def tripped(self, m: Monitor) -> str | None:
        """The first interlock ``m`` trips, described; None if all are clear."""
        for s in self.suspenders:
            value = getattr(m, s.quantity)
            if s.tripped(value):
                return s.describe(value)
        return None

    def count(self, subgate_s: float, n: int, key: tuple, enough: Callable[[list[int]], bool] | None = None) -> Gate:
        """Count the channeltron for ``n`` sub-gates of ``subgate_s`` under the interlocks.

        The monitors are read before the gate and after every sub-gate; a trip turns
        the channeltron off at once (:meth:`channeltron_off`, which must succeed),
        suspends the run until recovery and raises :class:`Redo` (the whole point is
        measured again: its other gate may predate the trip).  An immediate pause
        discards the count the same way.  ``enough`` may end the count early (counting
        to a precision).  ``key`` names the point in the Suspended event.

        A transient counter fault keeps the sub-gates completed before it and counts
        only the rest.  A gate whose sub-gates are not consistent with a steady rate
        (Poisson, following the beam current read around each sub-gate: a burst inside
        a sub-gate that no monitor reading saw) is counted again, up to
        ``max_recounts`` times; if it stays inconsistent it is kept with
        ``steady=False`` and the log says why."""
        for recount in range(self.max_recounts + 1):
            gate = self._count_once(subgate_s, n, key, enough)
            if gate.steady:
                return gate
            text = (f"point {key}: sub-gate counts {list(gate.subgate_counts)} are not a steady rate "
                    f"(chi2/dof = {gate.subgate_chi2:.3g} for beam currents read around them)")
            if recount < self.max_recounts:
                self.message("warning", f"{text}; counting the gate again ({recount + 1}/{self.max_recounts})")
            else:
                self.message("warning", f"{text}; kept, flagged UNSTEADY")
        return gate

    def _count_once(self, subgate_s: float, n: int, key: tuple, enough) -> Gate:
        if self._hv_unconfirmed:  # never count while the channeltron may be on in a tripped state
            raise SafetyStop(self._hv_unconfirmed)
        before = self.monitors()
        trip = self.tripped(before)
        if trip:  # the other gate of this point may predate the trip: measure the whole point again
            self.suspend(trip, key)
            raise Redo(trip)
        t_start = self.clock.now()
        counts: list[int] = []  #: completed sub-gates, kept across a transient counter fault
        #: the beam current read before and after each completed sub-gate
        around: list[tuple[float, float]] = []
        last, why = before, None

        def check(so_far: list[int]) -> bool:
            nonlocal last, why
            m = self.monitors()
            counts.append(so_far[-1])
            around.append((last.beam_current_A, m.beam_current_A))
            last = m
            tripped = self.tripped(m)
            if tripped:
                self._trip_channeltron_off()  # before anything else
                why = tripped
                return False
            if self.interrupt_requested:
                why = "operator"
                return False
            return not (enough and enough(counts))

        for attempt in range(1, self.max_retries + 2):
            try:
                self.apparatus.count(subgate_s, n - len(counts), check)
                break
            except TransientError as exc:
                if attempt > self.max_retries:
                    raise
                self.health(exc, "retrying")
                self.message("warning", f"count: {exc}; {len(counts)} of {n} sub-gates kept "
                                        f"(retry {attempt}/{self.max_retries})")
                self.clock.sleep(self.retry_delay_s * attempt)
                self.check_abort()
                last = self.monitors()  # the next sub-gate starts after this reading
                trip = self.tripped(last)
                if trip:
                    self.suspend(trip, key)
                    raise Redo(trip) from exc
            if len(counts) >= n:
                break
        if why is not None:
            if why != "operator":
                self.suspend(why, key, already_off=True)
            else:
                self.check_abort()
                self.wait_paused("paused by operator (count discarded)")
            raise Redo(why)
        after = last  # the check after the final sub-gate read the monitors at this moment
        if len(counts) < 2:  # nothing to test (and the per-point path of one-sub-gate plans)
            steady, chi2 = True, math.nan
        else:
            beams = [0.5 * (b + a) for b, a in around]  # the rate follows the beam current during each
            steady, chi2 = counting.is_steady(counts, beams, rel_tolerance=self._steady_tolerance,
                                              false_alarm=self.steady_false_alarm)
        gate_s = len(counts) * subgate_s
        angle = getattr(self.apparatus, "angle_readback_deg", None)
        return Gate(
            counts=sum(counts),
            gate_s=gate_s,
            t_start=t_start,
            t_stop=t_start + gate_s,
            utc_start=self.utc(t_start),
            subgate_counts=tuple(counts),
            subgate_s=subgate_s,
            beam_current_A=0.5 * (before.beam_current_A + after.beam_current_A),
            beam_current_before_A=before.beam_current_A,
            beam_current_after_A=after.beam_current_A,
            needle_mbar=0.5 * (before.needle_mbar + after.needle_mbar),
            chamber_mbar=0.5 * (before.chamber_mbar + after.chamber_mbar),
            angle_readback_deg=angle if angle is not None else float("nan"),
            subgate_chi2=chi2,
            steady=steady,
        )

    # ------------------------------------------------------------ the channeltron under a trip
    def _trip_channeltron_off(self) -> None:
        """Inside a count: try once at once; a failure is retried by :meth:`channeltron_off`
        right after the counter has stopped (no further sub-gate is counted meanwhile)."""
        try:
            self.apparatus.channeltron_off_now()
        except InstrumentError as exc:
            self.message("error", f"channeltron HV off during an interlock trip failed: {exc}; retrying")
            self.channeltron_off("interlock trip")

    def channeltron_off(self, why: str) -> None:
        """Switch the channeltron HV off and have it confirmed; this must succeed.

        Retried on every driver error (not only transient ones) every
        ``hv_off_retry_s`` for up to ``hv_off_timeout_s``; nothing is counted meanwhile.
        If it never succeeds the run stops (status failed) with that reason: the end
        state tries once more and reports what it could not do."""
        deadline = self.clock.now() + self.hv_off_timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                self.apparatus.channeltron_off_now()
                if attempt > 1:
                    self.message("warning", f"channeltron HV off confirmed after {attempt} attempts ({why})")
                return
            except InstrumentError as exc:
                if self.clock.now() >= deadline:
                    reason = (f"channeltron HV off could not be confirmed for {self.hv_off_timeout_s:g} s "
                              f"after {why} ({attempt} attempts; last: {exc}): run stopped in the safe state; "
                              "check the HV module and its link before going on")
                    self._hv_unconfirmed = reason
                    self.message("error", reason)
                    raise SafetyStop(reason) from exc
                self.clock.sleep(self.hv_off_retry_s)

    # ------------------------------------------------------------ suspension
    def suspend(self, why: str, key: tuple | None, already_off: bool = False) -> None:
        """Interlock tripped: channeltron off first, wait for recovery with hysteresis."""
        if not already_off:
            self.channeltron_off(f"trip: {why}")
        self._set_state(RunState.SUSPENDED)
        self.bus.emit(Suspended(self.clock.now(), self.utc(), why, key))
        log.warning("suspended: %s", why)
        wait = self.config.interlocks.wait_after_recovery_s
        recovered_since = None
        t_suspended = self.clock.now()
        while True:
            self.check_abort()
            self.clock.sleep(self.poll_s)
            m = self.monitors()
            if all(s.recovered(getattr(m, s.quantity)) for s in self.suspenders):
                recovered_since = recovered_since if recovered_since is not None else m.t
                if m.t - recovered_since >= wait:
                    break
            else:
                recovered_since = None
                if self.suspend_limit_s is not None and m.t - t_suspended >= self.suspend_limit_s:
                    still = "; ".join(s.describe(getattr(m, s.quantity)) for s in self.suspenders
                                      if not s.recovered(getattr(m, s.quantity)))
                    self.gave_up = (f"unattended policy: suspended for {m.t - t_suspended:g} s "
                                    f"(suspend_limit_s {self.suspend_limit_s:g}) without recovering: {why}"
                                    + (f"; not recovered now: {still}" if still and still != why else ""))
                    self.message("error", self.gave_up)
                    raise Abort(self.gave_up)
        self.call("channeltron on", self.apparatus.channeltron_on)
        self._set_state(RunState.RUNNING)
        self.bus.emit(Resumed(self.clock.now(), self.utc(), f"recovered from: {why}"))


def _describe(point) -> str:
    describe = getattr(point, "describe", None)
    return describe() if callable(describe) else str(point.key)
