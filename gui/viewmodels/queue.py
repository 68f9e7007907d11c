"""The overnight queue as the window's queue panel shows it, and what the panel may do to it.

Two objects, both Qt-free (tested with plain pytest):

* :class:`QueueModel` reads the queue database when polled (the window's 1 s timer): the
  items in order with their readable metadata, the current item, the runner's status
  line, the recent events and the history, and whether a runner holds the queue's
  lock.  It reads through a **read-only** SQLite connection, each poll in one read
  transaction (one consistent snapshot; in WAL mode a reader never blocks the runner
  nor waits for it, and a read-only connection cannot take a write lock by mistake).
  ``version`` counts up only when something it read differs from the last poll.
  :meth:`QueueModel.actions` says which buttons apply to a selected item.
* :class:`QueueController` changes the queue (add, edit, remove, move, stop, continue)
  through an ordinary :class:`~acquisition.queue.QueueStore`, with the validation
  ``xbeam queue add`` uses (:func:`acquisition.plans.load_plan` against the apparatus,
  then :meth:`QueueStore.add_plan`), and runs the queue on the window's own session:
  a :class:`~acquisition.queue.QueueRunner` on a worker thread of its own, holding the
  runner lock exactly as ``xbeam queue run`` does (a second runner is refused, naming
  the holder).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition.events import RunStart
from acquisition.queue import QueueBusy, QueueError, QueueRunner, QueueStore, holder
from acquisition.queue.store import ACTIVE_STATES, Attempt, Item

from .run_control import format_duration

__all__ = ["QueueActions", "QueueController", "QueueEvent", "QueueModel", "QueueRow", "open_reader"]

#: states an item is shown in (the store's): not yet started, going, finished
ITEM_STATES = ("pending", "running", "interrupted", "done", "skipped", "failed")
#: how many events and history rows the model keeps
RECENT = 50
#: status states of a runner at work (left behind if it died)
_GOING = ("starting", "running", "suspended", "paused", "resumed")


class _ReadOnlyStore(QueueStore):
    """The store's readers on a read-only connection (``mode=ro``): the window only
    reads through it, so it can never hold a write lock the runner would wait for."""

    def _conn(self, *, status: bool = False) -> sqlite3.Connection:
        conn = getattr(self._local, "ro", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._local.ro = conn
            with self._lock:
                self._connections.append(conn)
        return conn


def open_reader(path: str | Path) -> QueueStore:
    """A read-only view of the existing queue at ``path``; refuses (QueueError, one
    line) a missing file, a directory, or a file that is not an xbeam queue."""
    return _ReadOnlyStore(path, create=False)


@dataclass(frozen=True)
class QueueRow:
    """One item as the table shows it."""

    id: int
    position: int | None  #: 1 = the next to run; None for a finished item
    kind: str  #: plan, pause-for-operator, wait-until, safe-state
    state: str
    label: str
    sample: str = ""
    gas: str = ""
    energies: str = ""  #: "100, 150 eV"
    points: str = ""  #: "12/40" (in the file / planned)
    estimate: str = ""  #: beam time of a plan
    estimate_s: float = math.nan
    run_file: str = ""
    reason: str = ""
    policy_action: str = ""
    argument: str = ""
    started: bool = False  #: ever started (an attempt opened)
    current: bool = False  #: the item the runner works on now

    @property
    def not_started(self) -> bool:
        """Pending and never started: the only items edited, removed or moved here."""
        return self.state == "pending" and not self.started


@dataclass(frozen=True)
class QueueEvent:
    id: int
    utc: str
    item_id: int | None
    kind: str
    text: str


@dataclass(frozen=True)
class QueueActions:
    """Which of the panel's buttons apply (for one selected item, or none)."""

    edit: bool = False
    remove: bool = False
    move_up: bool = False
    move_down: bool = False
    retry: bool = False
    continue_: bool = False  #: a pause-for-operator waits
    stop_item: bool = False  #: a runner is alive
    stop_point: bool = False
    stop_now: bool = False  #: the runner is this window's own
    run: bool = False  #: no runner alive and something to run (the window adds: a session, no run going)


def _energies(values) -> str:
    values = list(values or ())
    if not values:
        return ""
    if len(values) <= 4:
        return ", ".join(f"{e:g}" for e in values) + " eV"
    return f"{values[0]:g}-{values[-1]:g} eV ({len(values)})"


def _row(item: Item, position: int | None, current_id: int | None, done_now: int | None = None) -> QueueRow:
    """``done_now``: the points the runner's status line counts for the current item (the
    item's own count is written when its attempt ends)."""
    meta = item.metadata or {}
    plan = item.kind == "plan"
    done = done_now if done_now is not None and item.id == current_id else item.points_done
    estimate_s = float(meta.get("estimate_s", math.nan)) if plan else math.nan
    return QueueRow(
        id=item.id, position=position, kind=item.kind, state=item.state, label=item.label,
        sample=str(meta.get("sample", "")) if plan else "", gas=str(meta.get("gas", "")) if plan else "",
        energies=_energies(meta.get("energies_eV")) if plan else "",
        points=f"{done}/{item.points_planned}" if plan else "",
        estimate=format_duration(estimate_s) if plan else "", estimate_s=estimate_s,
        run_file=item.run_file, reason=item.reason, policy_action=item.policy_action, argument=item.argument,
        started=bool(item.started_utc), current=item.id == current_id)


def _hms(seconds: float | None) -> str:
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    return format_duration(seconds)


class QueueModel:
    """See the module docstring.  ``path``: an existing queue database."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: QueueStore | None = open_reader(self.path)
        self.items: list[QueueRow] = []
        self.status: dict[str, Any] = {}
        self.events: list[QueueEvent] = []
        self.history: list[Attempt] = []
        self.stop_request: str | None = None
        #: who holds the runner lock ({pid, host, since}), None if no runner is alive
        self.runner: dict | None = None
        #: the runner is this window's own (told by the caller of :meth:`poll`)
        self.own_runner = False
        #: why the last poll could not read the database ("" when it could)
        self.error = ""
        self.polls = 0
        self.version = 0
        self._key: Any = None

    # ------------------------------------------------------------ reading
    def poll(self, *, own_runner: bool = False) -> bool:
        """Read the database again; True (and ``version`` counted up) if anything
        changed.  ``own_runner``: this window's own runner is going (its lock is not
        probed: probing takes the lock for an instant, which the starting runner must
        not meet)."""
        self.polls += 1
        reader = self._reader
        if reader is None:
            return False
        try:
            conn = reader._conn()
            conn.execute("BEGIN")  # one snapshot of everything below
            try:
                items = reader.items()
                status = reader.status()
                events = [QueueEvent(r["id"], r["utc"], r["item_id"], r["kind"], r["text"])
                          for r in reader.events(RECENT)]
                history = reader.history()[-RECENT:]
                stop = reader.stop_request()
            finally:
                conn.execute("COMMIT")
            runner = {"pid": None, "host": "this window"} if own_runner else holder(self.path)
        except (sqlite3.Error, QueueError, OSError, ValueError) as exc:  # the file went away, was replaced...
            # keep showing what was read last, with the reason it is not current
            return self._changed(("error", str(exc)), error=f"{self.path}: cannot read the queue: {exc}")
        current_id = status.get("item") if runner is not None else None
        if current_id is None:  # a crashed runner's item is still "running" in the database
            current_id = next((i.id for i in items if i.state == "running"), None)
        done_now = status.get("done") if runner is not None and status.get("item") == current_id else None
        rows, n = [], 0
        for item in items:
            active = item.state in ACTIVE_STATES
            n += active
            rows.append(_row(item, n if active else None, current_id, done_now if isinstance(done_now, int) else None))
        self.items, self.status, self.events, self.history = rows, status, events, history
        self.stop_request, self.runner, self.own_runner = stop, runner, own_runner
        return self._changed((rows, status, events, history, stop, runner, own_runner), error="")

    def _changed(self, key, *, error: str) -> bool:
        self.error = error
        if key == self._key:
            return False
        self._key = key
        self.version += 1
        return True

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # ------------------------------------------------------------ derived
    @property
    def runner_alive(self) -> bool:
        return self.runner is not None

    @property
    def foreign_runner(self) -> bool:
        """A runner that is not this window's (another process, or a lock held elsewhere)."""
        return self.runner is not None and not self.own_runner

    def item(self, item_id: int | None) -> QueueRow | None:
        return next((r for r in self.items if r.id == item_id), None)

    @property
    def current(self) -> QueueRow | None:
        """The item the runner works on now (None between runs)."""
        return next((r for r in self.items if r.current), None)

    @property
    def to_do(self) -> list[QueueRow]:
        return [r for r in self.items if r.position is not None]

    @property
    def waiting_for_operator(self) -> bool:
        return self.runner_alive and self.status.get("state") == "waiting for the operator"

    def counts(self) -> dict[str, int]:
        out = {s: sum(1 for r in self.items if r.state == s) for s in ("done", "skipped", "failed")}
        out["to do"] = len(self.to_do)
        return out

    def runner_text(self) -> str:
        """Who runs the queue: this window, another process (pid, host, since), nobody."""
        if self.own_runner:
            return "runner: this window"
        runner = self.runner
        if runner is not None:
            who = f"pid {runner.get('pid')} on {runner.get('host')}" if runner.get("pid") else "holder unknown"
            since = f" since {runner.get('since')}" if runner.get("since") else ""
            return f"runner: {who}{since} (another process: this window watches and edits)"
        state = self.status.get("state")
        if state in _GOING or str(state or "").startswith("waiting"):
            return "runner: none alive (the last one ended without closing: Run queue resumes it)"
        return "runner: none"

    def status_text(self) -> str:
        """The runner's status line: state, item, point and progress, ETA, last event."""
        s = self.status
        if not s:
            return "never run"
        parts = [f"state: {s.get('state')}" + (f" ({s.get('reason')})" if s.get("reason") else "")]
        if s.get("item") is not None:
            parts.append(f"item {s.get('item')}: {s.get('label')}")
            done, total = s.get("done"), s.get("total")
            if total:
                frac = f" ({100 * (done or 0) / total:.0f} %)" if done is not None else ""
                parts.append(f"point {done if done is not None else '-'}/{total}{frac}")
            speed = s.get("speed") or 1.0
            etas = []
            for what, key in (("item", "item_eta_s"), ("queue", "queue_eta_s")):
                eta = s.get(key)
                if isinstance(eta, (int, float)) and math.isfinite(eta):
                    wall = "virtual time" if speed == math.inf else f"{_hms(eta / speed)} wall"
                    etas.append(f"{what} {_hms(eta)} ({wall})")
            if etas:
                parts.append("ETA " + ", ".join(etas))
        return " · ".join(parts)

    def last_event_text(self) -> str:
        return str(self.status.get("last_event") or "")

    def progress(self) -> tuple[int, int]:
        """(done, total) points of the current item (0, 0 if none)."""
        s = self.status
        if s.get("item") is None or not s.get("total"):
            return 0, 0
        return int(s.get("done") or 0), int(s.get("total"))

    def actions(self, item_id: int | None = None) -> QueueActions:
        """What may be done now, to the item ``item_id`` (None: nothing selected).

        Edit, remove and move only an item not yet started; retry a skipped or failed
        one; continue only while a pause-for-operator waits; the stop modes while a
        runner is alive (Stop now only for this window's own); Run when no runner holds
        the queue and something is left to do."""
        row = self.item(item_id)
        editable = row is not None and row.not_started
        queued = [r.id for r in self.items if r.not_started]
        index = queued.index(row.id) if editable else -1
        alive = self.runner_alive
        return QueueActions(
            edit=editable, remove=editable, move_up=editable and index > 0,
            move_down=editable and 0 <= index < len(queued) - 1,
            retry=row is not None and row.state in ("skipped", "failed"),
            continue_=self.waiting_for_operator, stop_item=alive, stop_point=alive,
            stop_now=alive and self.own_runner, run=not alive and bool(self.to_do) and not self.error)



# --------------------------------------------------------------------------- changes
@dataclass
class _Run:
    runner: QueueRunner
    future: Future
    messages: deque = field(default_factory=deque)


class QueueController:
    """Changes to the queue at ``path`` (created if it does not exist), and the queue
    run on this window's session.  Every method refuses with the store's one-line
    :class:`QueueError` (or a plan's :class:`~acquisition.tomlcheck.ConfigError`,
    every issue listed) and changes nothing then."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.store = QueueStore(self.path)
        self._executor: ThreadPoolExecutor | None = None
        self._run: _Run | None = None
        self._messages: deque[str] = deque(maxlen=1000)
        self._run_files: dict[str, str] = {}
        self._session = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ editing
    def add_plan(self, plan_path: str | Path, config, *, after: int | None = None) -> Item:
        """Check the plan file against the apparatus ``config`` exactly as ``xbeam queue
        add`` does (the same :func:`load_plan`), then queue it (last, or after ``after``)."""
        from acquisition.plans import load_plan

        if config is None:
            raise QueueError("Add plan: no apparatus to check the plan against (open the window with --sim or "
                             "--apparatus FILE, or `xbeam queue add PLAN.toml --apparatus FILE`)")
        plan = load_plan(plan_path, apparatus=config)  # ConfigError: every issue, nothing queued
        return self.store.add_plan(plan, apparatus=config, after=after)

    def add_instruction(self, kind: str, argument: str = "", *, after: int | None = None) -> Item:
        return self.store.add_instruction(kind, argument, after=after)

    def edit_plan(self, item_id: int, plan_path: str | Path, config) -> Item:
        from acquisition.plans import load_plan

        self._editable(item_id)
        if config is None:
            raise QueueError("Edit: no apparatus to check the plan against")
        plan = load_plan(plan_path, apparatus=config)
        return self.store.edit(item_id, plan=plan, apparatus=config)

    def edit_argument(self, item_id: int, argument: str) -> Item:
        self._editable(item_id)
        return self.store.edit(item_id, argument=argument)

    def remove(self, item_id: int) -> Item:
        self._editable(item_id)
        return self.store.remove(item_id, runner_alive=self.running or holder(self.path) is not None)

    def move(self, item_id: int, direction: int) -> Item:
        """One place up (-1) or down (+1) among the items not yet started."""
        self._editable(item_id)
        queued = [i.id for i in self.store.items() if i.state == "pending" and not i.started_utc]
        index = queued.index(item_id) + direction
        if not 0 <= index < len(queued):
            raise QueueError(f"{self.path}: item {item_id} is already the {'first' if direction < 0 else 'last'} "
                             "item not yet started")
        other = queued[index]
        return self.store.move(item_id, before=other) if direction < 0 else self.store.move(item_id, after=other)

    def retry(self, item_id: int) -> Item:
        return self.store.retry(item_id)

    def _editable(self, item_id: int) -> Item:
        item = self.store.get(item_id)
        if item.state != "pending" or item.started_utc:
            raise QueueError(f"{self.path}: item {item_id} is {item.state}"
                             f"{' (already started)' if item.started_utc else ''}: only an item not yet started is "
                             "edited, removed or moved")
        return item

    # ------------------------------------------------------------ the runner
    def stop(self, mode: str) -> None:
        """``item``: after the current item; ``point``: after the current point (any runner)."""
        self.store.request_stop(mode)

    def continue_(self) -> None:
        self.store.request_continue()

    @property
    def running(self) -> bool:
        """This window's own runner is going."""
        run = self._run
        return run is not None and not run.future.done()

    @property
    def future(self) -> Future | None:
        return self._run.future if self._run is not None else None

    def run(self, session, *, run_dir: str | Path | None = None) -> Future:
        """Run the queue on ``session``, on a worker thread of its own; the future's
        result is the :class:`~acquisition.queue.QueueOutcome`.

        Refused (nothing started) while this window's runner goes, while another
        runner holds the lock (:class:`QueueBusy`, naming it), while a run owns the
        session, when nothing is left to do, or when a queued plan does not fit the
        session's apparatus (every plan checked first, as ``xbeam queue run`` does)."""
        from acquisition.plans import parse_plan
        from acquisition.tomlcheck import ConfigError

        if self.running:
            raise QueueError(f"{self.path}: the queue is running in this window already")
        alive = holder(self.path)
        if alive is not None:
            who = (f"pid {alive.get('pid')} on {alive.get('host')} since {alive.get('since')}" if alive
                   else "holder unknown")
            raise QueueBusy(f"{self.path}: another runner holds this queue ({who}); one runner per queue: "
                            "this window watches and edits it")
        if session is None:
            raise QueueError("Run queue: no apparatus (open the window with --sim or --apparatus FILE)")
        if session.run is not None:
            raise QueueError(f"Run queue: a run ({session.run.run_id}) owns the apparatus: let it end or abort it")
        todo = self.store.items(ACTIVE_STATES)
        if not todo:
            raise QueueError(f"{self.path}: nothing to run")
        for item in todo:  # every queued plan fits this apparatus, before anything moves
            if item.kind == "plan":
                try:
                    parse_plan(item.plan_text, source=f"item {item.id} ({item.plan_source})",
                               apparatus=session.config)
                except ConfigError as exc:
                    raise QueueError(f"{' '.join(str(exc).split())}; edit or remove item {item.id}") from None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="xbeam-queue")
        self._session = session
        runner = QueueRunner(self.store, session, run_dir=run_dir, say=self._say, also=(self._on_event,))
        self._run = _Run(runner, self._executor.submit(runner.run))
        return self._run.future

    def interrupt(self, reason: str = "stopped from the window (Stop queue)") -> bool:
        """Stop this window's runner now (the run in progress aborted, resumable; the
        end state applied).  False if it is not going."""
        run = self._run
        if run is None or run.future.done():
            return False
        run.runner.interrupt(reason)
        return True

    def _on_event(self, event) -> None:  # a bus subscriber of every item's run: the session's worker
        if isinstance(event, RunStart):
            run = self._session.run if self._session is not None else None
            if run is not None and run.path is not None:
                with self._lock:
                    self._run_files[event.run_id] = str(run.path)

    def run_file_of(self, run_id: str) -> str | None:
        """The run file of a run this window's queue started (by its RunStart's id)."""
        with self._lock:
            return self._run_files.get(run_id)

    def _say(self, text: str) -> None:  # the runner's thread
        with self._lock:
            self._messages.append(text)

    def take_messages(self) -> list[str]:
        """The runner's one-line reports since the last call (GUI thread)."""
        with self._lock:
            out = list(self._messages)
            self._messages.clear()
        return out

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for this window's runner to end; True if it has."""
        run = self._run
        if run is None:
            return True
        try:
            run.future.result(timeout_s)
        except Exception:  # its error is the caller's to read from the future
            pass
        return run.future.done()

    def close(self) -> None:
        """Only once the runner has ended (the caller interrupts and waits first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.store.close()
