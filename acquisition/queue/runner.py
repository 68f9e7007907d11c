"""The queue runner: the items of a queue, one after the other, through a :class:`Session`.

A plan item runs with :meth:`Session.run_plan` (or :meth:`Session.resume_run` when its
run file exists: after a crash, a stop or Ctrl-C it goes on in its own file) with the
end state ``KEEP_READY`` (channeltron on its plateau, filament hot) between items and
the queue's policy as runner options (``pause_timeout_s``, ``suspend_limit_s``).  It
is the same session, runner, storage and end-state code as ``xbeam run``.

Between items the runner reads the database again: the next item, the policy, a stop
request (``xbeam queue stop``): edits made while it runs take effect at item
boundaries.  ``stop --now`` stops after the current point (pause at the next point
boundary, then abort: the run file stays resumable and the item is resumed first by
the next ``xbeam queue run``).

What ends an item, and what the runner does then:

================================  =============================================
run finished                      item done; notify ``item-end``
policy gave up (pause_timeout_s,  ``fault_state`` applied and read back, reason
suspend_limit_s)                  and action recorded, notify ``policy``; then
                                  ``on_fault``: skip to the next item or stop
run failed (unrecoverable:        ``fault_state``, item failed, notify
HV off unconfirmed, storage)      ``failure``, the queue stops
stop / Ctrl-C / SIGTERM           item interrupted (resumable), the queue stops
================================  =============================================

At the end of the queue, however it ends, ``end_state`` is applied and the state
reached is recorded (a step that fails is reported, not hidden); notify ``queue-end``.
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from acquisition.apparatus import KEEP_READY
from acquisition.events import Message, Paused, Progress, Resumed, RunStop, Suspended
from acquisition.procedures.rfm import NoOperator
from acquisition.runner import RunState
from acquisition.session import SessionBusy

from .lock import RunnerLock
from .notify import Notifier
from .policy import SAFE_STATE_TEXT, SAFE_STATES, QueuePolicy
from .store import Item, QueueStore, utc_now, wait_target

__all__ = ["ItemResult", "QueueOutcome", "QueueRunner"]

log = logging.getLogger(__name__)


@dataclass
class ItemResult:
    item_id: int
    kind: str
    status: str  #: done, skipped, failed, interrupted
    reason: str = ""
    policy_action: str = ""
    points_done: int = 0
    points_in_file: int = 0
    run_file: str = ""
    safe_state: str = ""


@dataclass
class QueueOutcome:
    """How a ``run`` of the queue ended."""

    status: str  #: completed, stopped, policy-stop, failed, interrupted
    reason: str
    items: list[ItemResult] = field(default_factory=list)
    safe_state: str = ""  #: the state reached at the end, as read back
    safe_state_problems: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.items if r.status == status)


class _StatusRecorder:
    """Bus subscriber: the status line in the database and the queue's events."""

    def __init__(self, runner: QueueRunner, item: Item, after_s: float) -> None:
        self.runner = runner
        self.item = item
        self.after_s = after_s  #: beam-time estimate of the items after this one
        self.last_event = ""

    def __call__(self, event) -> None:
        store = self.runner.store
        if isinstance(event, Progress):
            self.runner.write_status(item=self.item, state="running", done=event.done, total=event.total,
                                     item_eta_s=event.eta_s, queue_eta_s=event.eta_s + self.after_s,
                                     last_event=self.last_event)
        elif isinstance(event, (Suspended, Paused, Resumed)):
            self.last_event = f"{event.utc} {type(event).__name__.lower()}: {event.reason}"
            store.event(type(event).__name__.lower(), event.reason, self.item.id)
            self.runner.write_status(item=self.item, state=type(event).__name__.lower(), last_event=self.last_event)
        elif isinstance(event, Message) and event.level == "error":
            self.last_event = f"{event.utc} error: {event.text}"
        elif isinstance(event, RunStop):
            self.last_event = f"{event.utc} run {event.status}: {event.reason}"


class QueueRunner:
    """Runs the queue ``store`` on ``session`` (see module docstring)."""

    def __init__(self, store: QueueStore, session, *, run_dir: str | Path | None = None,
                 notifier: Notifier | None = None, also: tuple[Callable, ...] = (), fsync: bool = True,
                 poll_s: float = 0.5, say: Callable[[str], None] | None = None) -> None:
        """``run_dir``: where new run files go (default: ``runs`` beside the queue file);
        ``also``: bus subscribers for every run (a progress bar); ``poll_s``: wall
        seconds between looks at the database for a stop request while a run goes;
        ``say``: where the runner's one-line reports go (default: the log)."""
        self.store = store
        self.session = session
        self.clock = session.clock
        self.run_dir = Path(run_dir) if run_dir is not None else store.path.resolve().parent / "runs"
        self.policy: QueuePolicy = store.policy()
        self._notifier = notifier
        self.also = tuple(also)
        self.fsync = fsync
        self.poll_s = poll_s
        self.say = say or (lambda text: log.info(text))
        self._interrupt: str | None = None
        self._wake = threading.Event()
        self._status_base: dict[str, Any] = {}

    # ------------------------------------------------------------ control
    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop now (a signal handler may call this): the run in progress is aborted
        (resumable), the end state applied."""
        self._interrupt = reason
        self._wake.set()
        run = self.session.run
        if run is not None:
            run.abort(reason)

    def notify(self, event: str, **kwargs) -> None:
        notifier = self._notifier
        if notifier is None:
            if not self.policy.notify:
                return
            notifier = Notifier(self.policy.notify, self.store.path, timeout_s=self.policy.notify_timeout_s,
                                record=lambda kind, text: self.store.event(kind, text))
        elif self.policy.notify and notifier.command != self.policy.notify:
            notifier.command = self.policy.notify
        notifier(event, **kwargs)

    def write_status(self, **fields: Any) -> None:
        item = fields.pop("item", None)
        status = dict(self._status_base)
        if item is not None:
            status.update(item=item.id, label=item.label, kind=item.kind, run_file=item.run_file)
        status.update(fields)
        try:
            self.store.set_status(status)
        except Exception as exc:  # the status line is for people watching; never fatal
            log.warning("queue status not written: %s", exc)

    # ------------------------------------------------------------ the queue
    def run(self) -> QueueOutcome:
        """Run the queue to its end (or a stop); holds the runner lock meanwhile."""
        import os
        import socket

        with RunnerLock(self.store.path):
            for row in self.store.recover_crashed():
                self.say(f"item {row.item_id}: the previous runner (pid {row.pid}) died during attempt "
                         f"{row.attempt}; resuming it")
            if self.store.stop_request():
                self.store.clear_stop()  # a stop asked for while no runner ran is not for this run
            self._status_base = {"runner_pid": os.getpid(), "host": socket.gethostname(),
                                 "clock": self.clock.describe(), "speed": self.clock.speed}
            self.store.event("queue-start", f"runner pid {os.getpid()} on {socket.gethostname()} "
                                            f"({self.clock.describe()})")
            self.write_status(state="starting")
            outcome = self._loop()
            self._finish(outcome)
            return outcome

    def _loop(self) -> QueueOutcome:
        results: list[ItemResult] = []
        while True:
            if self._interrupt:
                return QueueOutcome("interrupted", self._interrupt, results)
            if self.store.stop_request():
                self.store.clear_stop()
                return QueueOutcome("stopped", "stopped by the operator (xbeam queue stop)", results)
            item = self.store.next_item()
            if item is None:
                return QueueOutcome("completed", "every item ended", results)
            self.policy = self.store.policy()  # settings edited meanwhile apply from this item on
            result, end = self._run_item(item)
            results.append(result)
            if end is not None:
                return QueueOutcome(end[0], end[1], results)

    def _finish(self, outcome: QueueOutcome) -> None:
        name = self.policy.end_state
        text, problems = self.apply_safe_state(name, f"end of the queue ({outcome.status})")
        outcome.safe_state, outcome.safe_state_problems = text, problems
        self.store.event("queue-end", f"{outcome.status}: {outcome.reason}; safe state: {text}")
        self.write_status(state=outcome.status, reason=outcome.reason, safe_state=text, item=None,
                          done=None, total=None, item_eta_s=None, queue_eta_s=None,
                          last_event=f"{utc_now()} queue {outcome.status}: {outcome.reason}")
        self.say(f"queue {outcome.status}: {outcome.reason}; safe state: {text}")
        self.notify("queue-end", status=outcome.status, reason=outcome.reason, safe_state=text)

    def _run_item(self, item: Item) -> tuple[ItemResult, tuple[str, str] | None]:
        """One item; the result and, if the queue must end, (status, reason)."""
        runner = {"plan": self._run_plan, "pause-for-operator": self._pause_for_operator,
                  "wait-until": self._wait_until, "safe-state": self._safe_state_item}[item.kind]
        self.say(f"item {item.id}: {item.label}")
        return runner(item)

    # ------------------------------------------------------------ safe state
    def apply_safe_state(self, name: str, why: str) -> tuple[str, list[str]]:
        """Put the apparatus in the safe state ``name``, read back what was reached;
        (description, failed steps).  Recorded in the queue's events."""
        end = SAFE_STATES[name]
        apparatus = self.session.apparatus
        try:
            problems = self.session.submit(apparatus.apply_end_state, end).result()
        except Exception as exc:  # the session itself could not do it: say so, never hide it
            problems = [f"could not apply the safe state: {type(exc).__name__}: {exc}"]
        reached = self._read_back()
        text = f"{name} ({SAFE_STATE_TEXT[name]}) after {why}: {reached}"
        if problems:
            text += "; FAILED STEPS: " + "; ".join(problems)
        self.store.event("safe-state" if not problems else "safe-state-incomplete", text)
        (log.error if problems else log.info)("safe state: %s", text)
        return text, list(problems)

    def _read_back(self) -> str:
        apparatus = self.session.apparatus
        try:
            status, answered = self.session.submit(apparatus.read_status).result()
        except Exception as exc:
            return f"state unreadable: {exc}"
        parts = []
        cem = next((e for e in status.electrodes if e.name == status.channeltron), None)
        if cem is not None:
            parts.append(f"channeltron {cem.readback_V:.0f} V {'on' if cem.on else 'off'}")
        standby = apparatus.standby_potentials()
        others = [e for e in status.electrodes if e.name != status.channeltron]
        if others:
            worst = max(abs(e.readback_V - standby.get(e.name, 0.0)) for e in others)
            parts.append(f"electrodes within {worst:.1f} V of standby" if math.isfinite(worst)
                         else "electrodes unreadable")
        parts.append(f"filament {status.filament_current_A:.2f} A {'on' if status.filament_on else 'off'}")
        parts.append(f"gas {status.gas_path or 'unknown'}")
        unanswered = [f"{name}: {error}" for name, error in answered.items() if error]
        if unanswered:
            parts.append("unanswered: " + "; ".join(unanswered))
        return ", ".join(parts)

    # ------------------------------------------------------------ plan items
    def _new_run_path(self, item: Item) -> Path:
        sample = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(item.metadata.get("sample", "")))
        stem = f"{self.store.path.stem}-item{item.id:04d}-{sample or 'run'}"
        path = self.run_dir / f"{stem}.h5"
        n = 1
        while path.exists() or path.with_name(f".{path.name}.partial").exists():
            n += 1
            path = self.run_dir / f"{stem}-{n}.h5"
        return path

    def _after_s(self, item: Item) -> float:
        """Beam-time estimate of the plans queued after ``item``."""
        later = False
        total = 0.0
        for other in self.store.items(("pending", "interrupted", "running")):
            if other.id == item.id:
                later = True
                continue
            if later and other.kind == "plan":
                total += float(other.metadata.get("estimate_s", 0.0))
        return total

    def _run_plan(self, item: Item) -> tuple[ItemResult, tuple[str, str] | None]:
        from acquisition.plans import parse_plan
        from acquisition.storage import StorageError, read_run
        from acquisition.tomlcheck import ConfigError

        policy = self.policy.for_item(item.overrides)
        try:
            plan = parse_plan(item.plan_text, source=f"<queue item {item.id}: {item.plan_source}>",
                              apparatus=self.session.config)
        except ConfigError as exc:
            reason = "the plan does not fit this apparatus: " + " ".join(str(exc).split())
            return self._not_run(item, reason, policy)
        path = Path(item.run_file) if item.run_file else self._new_run_path(item)
        attempt = self.store.start_attempt(item, str(path))
        item = self.store.get(item.id)
        recorder = _StatusRecorder(self, item, self._after_s(item))
        options = dict(end_state=KEEP_READY, also=(recorder, *self.also), pause_timeout_s=policy.pause_timeout_s,
                       suspend_limit_s=policy.suspend_limit_s)
        self.write_status(item=item, state="running", done=None, total=item.points_planned, last_event="")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                existing = read_run(path)
                if existing.status == "success" and len(existing.done_keys()) >= existing.planned_points:
                    return self._end(item, attempt, "done", "success", "plan complete", policy,
                                     points_done=0, path=path), None
                self.say(f"item {item.id}: resuming {path} ({existing.n_points} of {existing.planned_points} "
                         "points in it)")
                handle = self.session.resume_run(path, **options)
            else:
                path.with_name(f".{path.name}.partial").unlink(missing_ok=True)  # a kill during its creation
                handle = self.session.run_plan(plan, path, fsync=self.fsync, **options)
        except (StorageError, ConfigError, OSError, SessionBusy, NoOperator) as exc:
            # SessionBusy: a script started a run of its own on the queue's session between
            # two items; the item is not run, by the policy, and the queue goes on or stops.
            # NoOperator: an RFM item on a queue with nobody to turn the leak valves
            reason = f"the run could not start: {' '.join(str(exc).split())}"
            return self._fault(item, attempt, "failed", reason, policy, path=path, points_done=0)
        stop, error = self._follow(handle)
        runner = handle.runner
        points = runner.points_done
        if error is not None:
            reason = f"{type(error).__name__}: {error}"
            return self._unrecoverable(item, attempt, reason, policy, path, points)
        if stop.status == "success":
            return self._end(item, attempt, "done", "success", stop.reason, policy, points_done=points,
                             path=path), None
        if runner.gave_up is not None:
            return self._fault(item, attempt, "aborted", stop.reason, policy, path=path, points_done=points)
        if stop.status == "aborted":
            why = self._interrupt or stop.reason
            result = self._end(item, attempt, "interrupted", "stopped", why, policy, points_done=points, path=path)
            return result, ("interrupted" if self._interrupt else "stopped", why)
        return self._unrecoverable(item, attempt, stop.reason, policy, path, points)

    def _follow(self, handle) -> tuple[RunStop | None, BaseException | None]:
        """Wait for the run; a ``stop --now`` pauses it at the next point boundary, then aborts."""
        stopping = False
        while True:
            try:
                return handle.join(self.poll_s), None
            except FutureTimeout:
                pass
            except Exception as exc:  # an error that escaped the runner (storage could not write)
                return None, exc
            if self._interrupt:
                handle.abort(self._interrupt)
                continue
            if not stopping and self.store.stop_request() == "point":
                stopping = True
                handle.pause()
            if stopping and handle.state in (RunState.PAUSED, RunState.SUSPENDED):
                handle.abort("queue stopped by the operator after the current point (xbeam queue stop --now)")

    def _points_in(self, path: Path | None) -> int:
        from .store import _points_in

        return _points_in(str(path)) if path is not None else 0

    def _end(self, item: Item, attempt: int, item_state: str, status: str, reason: str, policy: QueuePolicy, *,
             points_done: int, path: Path | None, policy_action: str = "", safe_state: str = "") -> ItemResult:
        in_file = self._points_in(path)
        self.store.end_attempt(attempt, item.id, item_state=item_state, status=status, reason=reason,
                               points_done=points_done, points_in_file=in_file, policy_action=policy_action,
                               safe_state=safe_state)
        self.say(f"item {item.id}: {status}" + (f": {reason}" if reason and status != "success" else "")
                 + (f" ({in_file} points in {path})" if path is not None else "")
                 + (f"; policy: {policy_action}" if policy_action else ""))
        result = ItemResult(item.id, item.kind, item_state, reason, policy_action, points_done, in_file,
                            str(path or ""), safe_state)
        if item_state == "done":
            self.notify("item-end", item=self.store.get(item.id), status=status, reason=reason,
                        run_file=str(path or ""))
        return result

    def _fault(self, item: Item, attempt: int, status: str, reason: str, policy: QueuePolicy, *,
               path: Path | None, points_done: int) -> tuple[ItemResult, tuple[str, str] | None]:
        """The unattended policy: safe state, reason recorded, notify, skip or stop."""
        text, problems = self.apply_safe_state(policy.fault_state, f"item {item.id}: {reason}")
        if problems:  # the apparatus could not be made safe: never go on unattended
            action = "stopped the queue (the safe state is incomplete)"
        else:
            action = "skipped to the next item" if policy.on_fault == "skip" else "stopped the queue"
        state = "skipped" if policy.on_fault == "skip" and not problems else "failed"
        result = self._end(item, attempt, state, status, reason, policy, points_done=points_done, path=path,
                           policy_action=f"{policy.fault_state} state, {action}", safe_state=text)
        self.notify("policy", item=self.store.get(item.id), status=state, reason=f"{reason}; {action}",
                    run_file=str(path or ""), safe_state=text)
        if state == "skipped":
            return result, None
        return result, ("policy-stop", f"item {item.id}: {reason}; {action}")

    def _unrecoverable(self, item: Item, attempt: int, reason: str, policy: QueuePolicy, path: Path | None,
                       points_done: int) -> tuple[ItemResult, tuple[str, str]]:
        text, problems = self.apply_safe_state(policy.fault_state, f"item {item.id} failed: {reason}")
        result = self._end(item, attempt, "failed", "failed", reason, policy, points_done=points_done, path=path,
                           policy_action=f"{policy.fault_state} state, stopped the queue (unrecoverable)",
                           safe_state=text)
        self.notify("failure", item=self.store.get(item.id), status="failed", reason=reason,
                    run_file=str(path or ""), safe_state=text)
        return result, ("failed", f"item {item.id} failed: {reason}")

    def _not_run(self, item: Item, reason: str, policy: QueuePolicy) -> tuple[ItemResult, tuple[str, str] | None]:
        """An item that cannot start (its plan does not fit the apparatus): nothing was touched."""
        attempt = self.store.start_attempt(item, item.run_file)
        action = "skipped to the next item" if policy.on_fault == "skip" else "stopped the queue"
        state = "skipped" if policy.on_fault == "skip" else "failed"
        result = self._end(item, attempt, state, "refused", reason, policy, points_done=0,
                           path=Path(item.run_file) if item.run_file else None, policy_action=action)
        self.notify("policy", item=self.store.get(item.id), status=state, reason=f"{reason}; {action}")
        return result, (None if state == "skipped" else ("policy-stop", f"item {item.id}: {reason}"))

    # ------------------------------------------------------------ instructions
    def _stopping(self) -> str | None:
        if self._interrupt:
            return self._interrupt
        if self.store.stop_request():
            return "stopped by the operator (xbeam queue stop)"
        return None

    def _pause_for_operator(self, item: Item) -> tuple[ItemResult, tuple[str, str] | None]:
        attempt = self.store.start_attempt(item)
        text, problems = self.apply_safe_state("safe", f"item {item.id}: pause for the operator")
        since = utc_now()
        self.write_status(item=item, state="waiting for the operator", done=None, total=None,
                          last_event=f"{since} waiting: {item.argument} (`xbeam queue continue`)")
        self.say(f"item {item.id}: waiting for the operator: {item.argument} (`xbeam queue continue`)")
        self.notify("pause", item=item, status="waiting", reason=item.argument, safe_state=text)
        while True:
            why = self._stopping()
            if why:
                return self._end(item, attempt, "interrupted", "stopped", why, self.policy, points_done=0,
                                 path=None, safe_state=text), ("interrupted" if self._interrupt else "stopped", why)
            if self.store.take_continue(since):
                break
            self._wake.wait(self.poll_s)  # waiting for a person: wall time
        return self._end(item, attempt, "done", "success", "the operator continued", self.policy, points_done=0,
                         path=None, safe_state=text), None

    def _wait_until(self, item: Item) -> tuple[ItemResult, tuple[str, str] | None]:
        import json

        target_text = item.metadata.get("target_utc")
        if target_text:  # fixed when the wait first started: a restart waits for the same moment
            target = datetime.fromisoformat(target_text)
        else:
            target = wait_target(item.argument, self.clock.wall_utc())
            self.store.set_item(item.id, metadata=json.dumps({**item.metadata, "target_utc": target.isoformat()}))
        attempt = self.store.start_attempt(item)
        text, problems = self.apply_safe_state("safe", f"item {item.id}: wait until {item.argument}")
        self.write_status(item=item, state=f"waiting until {target.isoformat()}", done=None, total=None,
                          last_event=f"{utc_now()} waiting until {target.isoformat()}")
        while True:
            why = self._stopping()
            if why:
                return self._end(item, attempt, "interrupted", "stopped", why, self.policy, points_done=0,
                                 path=None, safe_state=text), ("interrupted" if self._interrupt else "stopped", why)
            remaining = (target - self.clock.wall_utc()).total_seconds()
            if remaining <= 0:
                break
            if math.isinf(self.clock.speed):
                self.clock.sleep(remaining)
            else:
                self.clock.sleep(min(remaining, self.poll_s * self.clock.speed))
        return self._end(item, attempt, "done", "success", f"waited until {target.isoformat()}", self.policy,
                         points_done=0, path=None, safe_state=text), None

    def _safe_state_item(self, item: Item) -> tuple[ItemResult, tuple[str, str] | None]:
        attempt = self.store.start_attempt(item)
        name = item.argument or "shutdown"
        text, problems = self.apply_safe_state(name, f"item {item.id}")
        if problems:
            result = self._end(item, attempt, "failed", "failed", "safe state incomplete: " + "; ".join(problems),
                               self.policy, points_done=0, path=None, safe_state=text,
                               policy_action="stopped the queue (the safe state is incomplete)")
            self.notify("failure", item=self.store.get(item.id), status="failed", reason=result.reason,
                        safe_state=text)
            return result, ("failed", f"item {item.id}: {result.reason}")
        return self._end(item, attempt, "done", "success", "safe state reached", self.policy, points_done=0,
                         path=None, safe_state=text), None

