"""The scan engine: runs a plan on an apparatus and publishes what happens.

*What* to measure is the plan (:mod:`acquisition.plans`); *how* is here.  The engine
walks the plan's points through a state machine::

    idle -> running <-> pausing -> paused -> running
                    <-> suspended (interlock tripped; automatic recovery)
            running -> aborting -> finished(aborted)
            running -> finished | failed

For every point: energy (tune), angle, gas through the needle (signal) and through
the side leak (background), each counted in sub-gates with the monitors read
around and between them.  Consumers (storage, plots, log, progress) subscribe to the
event bus; the engine calls none of them by name.

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
``resume`` and ``abort`` may be called from any thread (the GUI's).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from acquisition import counting
from acquisition.events import (
    EventBus,
    Gate,
    Message,
    Monitor,
    Paused,
    Point,
    PointFlag,
    Progress,
    Resumed,
    RunStart,
    RunStop,
    Suspended,
)
from drivers.errors import InstrumentError, TransientError
from foundation.clock import Clock

__all__ = ["Engine", "RunState", "Suspender", "suspenders_from", "software_version"]

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
        return value > self.trip if self.above else value < self.trip

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


class _Abort(Exception):
    pass


class _Redo(Exception):
    """The point in progress was interrupted (suspension, pause, device fault)."""


class _Interrupted(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Engine:
    """Runs one plan (see module docstring)."""

    def __init__(
        self,
        apparatus,
        plan,
        *,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        run_id: str | None = None,
        done: set[tuple[int, int, int]] | frozenset = frozenset(),
        seq_start: int = 0,
        resumed: bool = False,
        prepare: bool = True,
        max_retries: int = 3,
        retry_delay_s: float = 2.0,
        poll_s: float = 5.0,
        snapshot: bool = True,
    ) -> None:
        self.apparatus = apparatus
        self.plan = plan
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
        self.suspenders = suspenders_from(self.config.interlocks)
        det = self.config.detector
        self._tau = det.dead_time_s
        self._model = det.dead_time_model
        self._max_loss = det.max_loss_fraction
        self._linear_limit = det.linear_limit_cps
        ev = self.config.effective_volume
        # one factor per planned angle, interpolated once (ValueError now if outside the table)
        self._ev_factor = {
            a: float(counting.effective_volume_factor(a, ev.angles_deg, ev.factors)) if ev is not None else 1.0
            for a in plan.scan.angles_deg
        }
        # the longer of the plan's and the gas line's settle time (plans.SettleConfig)
        self._gas_settle_s = max(plan.settle.gas_s, self.config.gas_line.settle_s)
        self._state = RunState.IDLE
        self._cond = threading.Condition()
        self._pause_requested = False
        self._pause_immediate = False
        self._abort_requested: str | None = None
        #: (sweep, energy_index) -> normalised background, its variance: for points without their own
        self._last_background: dict[tuple[int, int], tuple[float, float]] = {}
        #: (sweep, energy_index) -> raw (signal, background) rates of the last point: precision mode's guesses
        self._last_raw_rates: dict[tuple[int, int], tuple[float, float]] = {}
        self._durations: list[float] = []
        self._t_start = 0.0
        self.points_done = 0

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

    # ------------------------------------------------------------ events
    def _utc(self, t: float | None = None) -> str:
        return self.clock.utc(t)

    def _message(self, level: str, text: str) -> None:
        getattr(log, level if level in ("info", "warning", "error") else "info")(text)
        self.bus.emit(Message(self.clock.now(), self._utc(), level, text))

    def progress(self) -> Progress:
        total = len(self._points)
        done = len(self.done)
        elapsed = self.clock.now() - self._t_start
        per_point = sum(self._durations[-50:]) / len(self._durations[-50:]) if self._durations else float("nan")
        return Progress(self.clock.now(), done, total, elapsed, per_point * (total - done))

    # ------------------------------------------------------------ the run
    def run(self) -> RunStop:
        """Run the plan to the end (blocking); returns the RunStop event."""
        self._points = self.plan.points()
        self._t_start = self.clock.now()
        self._set_state(RunState.RUNNING)
        status, reason = "success", "plan complete"
        try:
            self.bus.emit(self._run_start())
            if self.prepare:
                self._with_recovery(self.apparatus.prepare, "prepare the apparatus")
            for pp in self._points:
                key = (pp.sweep, pp.energy_index, pp.angle_index)
                if key in self.done:
                    continue
                self._boundary()
                self._measure_point(pp)
        except _Abort as exc:
            status, reason = "aborted", str(exc) or "aborted"
        except Exception as exc:
            log.exception("run failed")
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            problems = self.apparatus.safe_state()
            if problems:
                reason += "; safe state incomplete: " + "; ".join(problems)
        stop = RunStop(self.clock.now(), self._utc(), status, reason, self.points_done)
        self._set_state(RunState.FINISHED if status != "failed" else RunState.FAILED)
        self.bus.emit(stop)
        return stop

    def _run_start(self) -> RunStart:
        plan = self.plan
        snapshot = self.apparatus.snapshot() if self.take_snapshot else {}
        return RunStart(
            run_id=self.run_id,
            utc=self._utc(),
            t=self.clock.now(),
            plan=plan.to_dict(),
            plan_text=plan.text,
            apparatus=self.config.to_dict(),
            apparatus_text=self.config.text,
            snapshot=snapshot,
            software_version=software_version(),
            metadata=dataclasses.asdict(plan.metadata),
            energies_eV=tuple(plan.scan.energies_eV),
            angles_deg=tuple(plan.scan.angles_deg),
            sweeps=plan.scan.sweeps,
            planned_points=len(self._points),
            clock=self.clock.describe(),
            resumed=self.resumed,
        )

    # ------------------------------------------------------------ boundaries, pause, abort
    def _check_abort(self) -> None:
        if self._abort_requested is not None:
            raise _Abort(self._abort_requested)

    def _boundary(self) -> None:
        """Between points: honour abort and pause requests."""
        self._check_abort()
        if self._pause_requested:
            self._wait_paused("paused by operator")

    def _wait_paused(self, reason: str) -> None:
        """Stay paused (channeltron HV stays on, gas keeps flowing) until resume or abort."""
        self._set_state(RunState.PAUSED)
        self.bus.emit(Paused(self.clock.now(), self._utc(), reason))
        with self._cond:
            self._pause_requested = True
            while self._pause_requested and self._abort_requested is None:
                self._cond.wait(timeout=0.5)  # waiting for a person, not for experiment time
        self._check_abort()
        self._set_state(RunState.RUNNING)
        self.bus.emit(Resumed(self.clock.now(), self._utc(), "resumed by operator"))

    # ------------------------------------------------------------ retries
    def _call(self, what: str, fn: Callable, *args):
        """Call a device operation, retrying transient errors; raise the last one otherwise."""
        for attempt in range(1, self.max_retries + 2):
            try:
                return fn(*args)
            except TransientError as exc:
                if attempt > self.max_retries:
                    raise
                self._message("warning", f"{what}: {exc} (retry {attempt}/{self.max_retries})")
                self.clock.sleep(self.retry_delay_s * attempt)
                self._check_abort()

    def _with_recovery(self, fn: Callable, what: str) -> None:
        """Run ``fn`` until it succeeds; a persistent device fault pauses for the operator."""
        while True:
            try:
                return self._call(what, fn)
            except InstrumentError as exc:
                self._message("error", f"{what} failed: {exc}; run paused")
                self._wait_paused(f"device fault: {exc}")

    # ------------------------------------------------------------ one point
    def _measure_point(self, pp) -> None:
        attempts = 0
        t0 = self.clock.now()
        while True:
            attempts += 1
            try:
                point = self._try_point(pp, attempts)
                break
            except _Redo:
                self._check_abort()
            except InstrumentError as exc:
                self._message("error", f"point {pp.sweep}/{pp.energy_eV:g} eV/{pp.angle_deg:g} deg: {exc}; run paused")
                self._wait_paused(f"device fault: {exc}")
        self.seq += 1
        self.points_done += 1
        self.done.add((pp.sweep, pp.energy_index, pp.angle_index))
        self._durations.append(self.clock.now() - t0)
        self.bus.emit(point)
        self.bus.emit(self.progress())

    def _goto(self, pp) -> None:
        app, settle = self.apparatus, self.plan.settle
        if app.energy_eV != pp.energy_eV:
            self._call("set energy", app.set_energy, pp.energy_eV)
            self.clock.sleep(settle.energy_s)
        if app.angle_deg != pp.angle_deg:
            self._call("move goniometer", app.move_to, pp.angle_deg)
            self.clock.sleep(settle.angle_s)

    def _try_point(self, pp, attempts: int) -> Point:
        self._goto(pp)
        app = self.apparatus
        kinds = ["signal"]
        if pp.measure_background:
            # whichever path is open now goes first: one valve change per point, not two
            kinds = ["background", "signal"] if app.gas_path == "side_leak" else ["signal", "background"]
        gates: dict[str, Gate] = {}
        for kind in kinds:
            path = "needle" if kind == "signal" else "side_leak"
            if app.gas_path != path:
                self._call("select gas path", app.select_gas, path, self._gas_settle_s)
            gates[kind] = self._gate(kind, pp, gates)
        return self._point(pp, gates["signal"], gates.get("background"), attempts)

    # ------------------------------------------------------------ one gate
    def _monitors(self) -> Monitor:
        reading = self._call("read monitors", self.apparatus.read_monitors)
        m = Monitor(reading.t, self._utc(reading.t), reading.beam_current_A, reading.chamber_mbar, reading.needle_mbar)
        self.bus.emit(m)
        return m

    def _tripped(self, m: Monitor) -> str | None:
        for s in self.suspenders:
            value = getattr(m, s.quantity)
            if s.tripped(value):
                return s.describe(value)
        return None

    def _gate(self, kind: str, pp, gates: dict[str, Gate]) -> Gate:
        counting_cfg = self.plan.counting
        subgate_s = counting_cfg.subgate_s
        if counting_cfg.target_precision is None:
            dwell = counting_cfg.dwell_s if kind == "signal" else counting_cfg.background_dwell_s
            n = max(1, round(dwell / subgate_s))
            enough = None
        else:
            n = max(1, math.ceil(counting_cfg.max_time_s / subgate_s))
            enough = self._precision_rule(kind, pp, gates, subgate_s)
        before = self._monitors()
        trip = self._tripped(before)
        if trip:  # the other gate of this point may predate the trip: measure the whole point again
            self._suspend(trip, pp)
            raise _Redo(trip)
        t_start = self.clock.now()
        interruption: list[str] = []
        last: list[Monitor] = []

        def check(counts: list[int]) -> bool:
            m = self._monitors()
            last[:] = [m]
            why = self._tripped(m)
            if why:
                self.apparatus.channeltron_off_now()  # before anything else
                interruption.append(why)
                return False
            if self._abort_requested is not None or self._pause_immediate:
                interruption.append("operator")
                return False
            return not (enough and enough(counts))

        result = self._call("count", self.apparatus.count, subgate_s, n, check)
        if interruption:
            why = interruption[0]
            if why != "operator":
                self._suspend(why, pp, already_off=True)
            else:
                self._check_abort()
                self._wait_paused("paused by operator (count discarded)")
            raise _Redo(why)
        # the check after the final sub-gate already read the monitors at this moment
        after = last[0] if last and len(result.counts) == n else self._monitors()
        trip = self._tripped(after)
        if trip:  # tripped during the last sub-gate: this gate is not to be trusted
            self._suspend(trip, pp)
            raise _Redo(trip)
        counts = tuple(result.counts)
        gate_s = len(counts) * subgate_s
        return Gate(
            counts=sum(counts),
            gate_s=gate_s,
            t_start=t_start,
            t_stop=t_start + gate_s,
            utc_start=self._utc(t_start),
            subgate_counts=counts,
            subgate_s=subgate_s,
            beam_current_A=0.5 * (before.beam_current_A + after.beam_current_A),
            beam_current_before_A=before.beam_current_A,
            beam_current_after_A=after.beam_current_A,
            needle_mbar=0.5 * (before.needle_mbar + after.needle_mbar),
            chamber_mbar=0.5 * (before.chamber_mbar + after.chamber_mbar),
            angle_readback_deg=self.apparatus.angle_deg if self.apparatus.angle_deg is not None else float("nan"),
        )

    def _precision_rule(self, kind: str, pp, gates: dict[str, Gate], subgate_s: float):
        """Stop rule for counting to a target precision of the net rate.

        If the other gate of this point is already measured, stop as soon as the net
        rate's relative uncertainty reaches the target.  Otherwise stop when this gate
        has had its optimal share (ts/tb = sqrt(Rs/Rb)) of the time the target needs,
        the other rate taken from this sweep and energy's previous point.  With no
        previous point, a signal is counted as if there were no background and a
        background to the target precision of its own.
        """
        target = self.plan.counting.target_precision
        other = gates.get("background" if kind == "signal" else "signal")
        previous = self._last_raw_rates.get((pp.sweep, pp.energy_index))

        def enough(counts: list[int]) -> bool:
            n_here, t_here = sum(counts), len(counts) * subgate_s
            if other is not None:
                ns, ts, nb, tb = (
                    (n_here, t_here, other.counts, other.gate_s)
                    if kind == "signal"
                    else (other.counts, other.gate_s, n_here, t_here)
                )
                return counting.relative_uncertainty(ns, ts, nb, tb) <= target
            if not pp.measure_background or (kind == "background" and previous is None):
                return n_here > 0 and 1 / math.sqrt(n_here) <= target
            rate = n_here / t_here
            rs, rb = (rate, previous[1] if previous else 0.0) if kind == "signal" else (previous[0], rate)
            total = counting.time_for_precision(rs, rb, target)
            if not math.isfinite(total):
                return False
            ts, tb = counting.split_time(total, rs, rb)
            return t_here >= (ts if kind == "signal" else tb)

        return enough

    # ------------------------------------------------------------ suspension
    def _suspend(self, why: str, pp, already_off: bool = False) -> None:
        """Interlock tripped: channeltron off first, wait for recovery with hysteresis."""
        if not already_off:
            self._call("channeltron off", self.apparatus.channeltron_off_now)
        self._set_state(RunState.SUSPENDED)
        key = (pp.sweep, pp.energy_index, pp.angle_index)
        self.bus.emit(Suspended(self.clock.now(), self._utc(), why, key))
        log.warning("suspended: %s", why)
        wait = self.config.interlocks.wait_after_recovery_s
        recovered_since = None
        while True:
            self._check_abort()
            self.clock.sleep(self.poll_s)
            m = self._monitors()
            if all(s.recovered(getattr(m, s.quantity)) for s in self.suspenders):
                recovered_since = recovered_since if recovered_since is not None else m.t
                if m.t - recovered_since >= wait:
                    break
            else:
                recovered_since = None
        self._call("channeltron on", self.apparatus.channeltron_on)
        self._set_state(RunState.RUNNING)
        self.bus.emit(Resumed(self.clock.now(), self._utc(), f"recovered from: {why}"))

    # ------------------------------------------------------------ derived numbers
    def _gate_numbers(self, g: Gate) -> counting.GateNumbers:
        """Raw rate, dead-time-corrected rate and variance, loss fraction, flags."""
        return counting.correct_gate(g.counts, g.gate_s, self._tau, self._model,
                                     max_loss_fraction=self._max_loss, linear_limit_cps=self._linear_limit)

    def _point(self, pp, signal: Gate, background: Gate | None, attempts: int) -> Point:
        """Dead-time corrections, normalisation of each gate to its own beam current and
        gas-line pressure (both drift between the two gates), background subtraction,
        effective-volume factor: the relative DCS in cps/(nA mbar)."""
        flags = PointFlag.REDONE if attempts > 1 else PointFlag.NONE
        s_raw, s_rate, s_var, s_loss, s_flags = self._gate_numbers(signal)
        flags |= s_flags
        s_norm, s_norm_var = counting.normalise(s_rate, s_var, signal.beam_current_A, signal.needle_mbar)
        key = (pp.sweep, pp.energy_index)
        if background is not None:
            b_raw, b_rate, b_var, b_loss, b_flags = self._gate_numbers(background)
            flags |= b_flags
            b_norm, b_norm_var = counting.normalise(b_rate, b_var, background.beam_current_A, background.needle_mbar)
            self._last_background[key] = (b_norm, b_norm_var)
            self._last_raw_rates[key] = (s_raw, b_raw)
        elif self.plan.background.mode == "none":
            b_raw = b_rate = b_loss = b_norm = b_norm_var = 0.0
        else:
            b_norm, b_norm_var = self._last_background.get(key, (math.nan, math.nan))
            b_raw, b_rate, b_loss = math.nan, None, None  # b_rate: set below, at this gate's conditions
            flags |= PointFlag.BACKGROUND_INTERPOLATED
        net, net_var = counting.net_rate(s_norm, s_norm_var, b_norm, b_norm_var)
        factor = self._ev_factor[pp.angle_deg]
        # the background as it was under this signal gate's beam and pressure (cps)
        per_cps, _ = counting.normalise(1.0, 0.0, signal.beam_current_A, signal.needle_mbar)
        b_at_signal, b_at_signal_var = b_norm / per_cps, b_norm_var / per_cps**2
        if b_rate is None:
            b_rate, b_loss = b_at_signal, math.nan
        derived = {
            "signal_rate_cps": s_raw,
            "background_rate_cps": b_raw,
            "signal_loss": s_loss,
            "background_loss": b_loss,
            "signal_corrected_cps": s_rate,
            "background_corrected_cps": b_rate,
            "net_rate_cps": s_rate - b_at_signal,
            "net_rate_var": s_var + b_at_signal_var,
            "rel_dcs": net * factor,
            "rel_dcs_err": math.sqrt(net_var) * factor,
            "effective_volume_factor": factor,
        }
        return Point(
            seq=self.seq,
            sweep=pp.sweep,
            energy_index=pp.energy_index,
            angle_index=pp.angle_index,
            energy_eV=pp.energy_eV,
            angle_deg=pp.angle_deg,
            signal=signal,
            background=background,
            derived=derived,
            flags=flags,
            attempts=attempts,
        )
