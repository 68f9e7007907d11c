"""The queue's database: items, settings, history, events and status in one SQLite file.

Why SQLite (stdlib ``sqlite3``): one apparatus PC, one runner and a few readers (the
GUI, ``xbeam queue list`` over SSH).  In WAL mode readers never block the writer nor
the writer them; every change is one transaction, so a kill -9 or a power cut leaves
the queue as it was after the last committed change, never half-written.  The
runner's connection commits with ``synchronous=FULL`` (an item's state and its history
survive a power cut); the status line, rewritten at every point, with ``NORMAL``
(a power cut may lose the last few status updates, never the database).

Tables:

``items``
    the queue in order (``position``): plans (their text stored at ``add``, so editing
    the file later changes nothing queued) and instructions (``pause-for-operator``,
    ``wait-until``, ``safe-state``), each with readable metadata (sample, gas,
    energies), its state, run file, points and the last reason and policy action.
``history``
    one row per attempt at an item (a session of its run file): run file, start, end,
    status, reason, points measured in that attempt and in the file, policy action and
    safe state reached.  A row still ``running`` with no live runner was left by a
    crash; the next runner closes it as ``crashed``.
``events``
    the queue's log: item start and end, suspensions, pauses, policy actions, safe
    states, failed notifications.
``meta``
    the format mark, the policy settings, the remembered apparatus, a stop request,
    an operator's "continue", and the status line ``xbeam queue status`` prints.

Item states::

    pending -> running -> done | skipped | failed
                       -> interrupted (stopped, Ctrl-C, crash: the next run resumes it)
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from foundation.clock import utc_iso

from .errors import QueueError
from .policy import ITEM_OVERRIDES, QueuePolicy, check_setting

__all__ = ["ACTIVE_STATES", "DEFAULT_QUEUE", "INSTRUCTIONS", "Item", "QueueStore", "describe_plan"]

DEFAULT_QUEUE = "xbeam-queue.sqlite"
FORMAT = "xbeam-queue"
VERSION = 1

INSTRUCTIONS = ("pause-for-operator", "wait-until", "safe-state")
KINDS = ("plan",) + INSTRUCTIONS
#: items still to do (the runner takes the first of these by position)
ACTIVE_STATES = ("pending", "interrupted", "running")
FINISHED_STATES = ("done", "skipped", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    label TEXT NOT NULL,
    plan_source TEXT NOT NULL DEFAULT '',
    plan_text TEXT NOT NULL DEFAULT '',
    argument TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    overrides TEXT NOT NULL DEFAULT '{}',
    run_file TEXT NOT NULL DEFAULT '',
    points_planned INTEGER NOT NULL DEFAULT 0,
    points_done INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    policy_action TEXT NOT NULL DEFAULT '',
    created_utc TEXT NOT NULL DEFAULT '',
    started_utc TEXT NOT NULL DEFAULT '',
    ended_utc TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    run_file TEXT NOT NULL DEFAULT '',
    start_utc TEXT NOT NULL,
    end_utc TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running',
    reason TEXT NOT NULL DEFAULT '',
    points_done INTEGER NOT NULL DEFAULT 0,
    points_in_file INTEGER NOT NULL DEFAULT 0,
    points_planned INTEGER NOT NULL DEFAULT 0,
    policy_action TEXT NOT NULL DEFAULT '',
    safe_state TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    utc TEXT NOT NULL,
    item_id INTEGER,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_position ON items (position);
CREATE INDEX IF NOT EXISTS history_by_item ON history (item_id, attempt);
"""


def utc_now() -> str:
    return utc_iso(datetime.now(timezone.utc))


@dataclass(frozen=True)
class Item:
    id: int
    position: int
    kind: str
    state: str
    label: str
    plan_source: str = ""
    plan_text: str = ""
    argument: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    run_file: str = ""
    points_planned: int = 0
    points_done: int = 0
    reason: str = ""
    policy_action: str = ""
    created_utc: str = ""
    started_utc: str = ""
    ended_utc: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Item:
        data = dict(row)
        data["metadata"] = json.loads(data["metadata"] or "{}")
        data["overrides"] = json.loads(data["overrides"] or "{}")
        return cls(**data)


@dataclass(frozen=True)
class Attempt:
    """One row of the history."""

    id: int
    item_id: int
    attempt: int
    kind: str
    label: str
    run_file: str
    start_utc: str
    end_utc: str
    status: str
    reason: str
    points_done: int
    points_in_file: int
    points_planned: int
    policy_action: str
    safe_state: str
    pid: int
    host: str


def describe_plan(plan, apparatus=None) -> tuple[str, dict[str, Any]]:
    """The readable label and metadata of a plan (what ``list`` shows)."""
    scan = plan.scan
    energies = list(scan.energies_eV)
    angles = list(scan.angles_deg)
    e_text = ", ".join(f"{e:g}" for e in energies) if len(energies) <= 4 else \
        f"{energies[0]:g}-{energies[-1]:g} ({len(energies)})"
    label = (f"{plan.metadata.sample} ({scan.gas}) {e_text} eV, {len(angles)} angles "
             f"{min(angles):g}-{max(angles):g} deg x{scan.sweeps}")
    metadata = {
        "sample": plan.metadata.sample,
        "operator": plan.metadata.operator,
        "notes": plan.metadata.notes,
        "gas": scan.gas,
        "energies_eV": energies,
        "angles_deg": [min(angles), max(angles), len(angles)],
        "sweeps": scan.sweeps,
        "points": plan.n_points,
        "estimate_s": plan.estimate_duration_s(apparatus=apparatus),
    }
    return label, metadata


class QueueStore:
    """The queue database at ``path`` (see module docstring).  Thread-safe: every
    thread gets its own connection."""

    def __init__(self, path: str | os.PathLike = DEFAULT_QUEUE, *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise QueueError(f"--queue {self.path}: is a directory; give a file name (default {DEFAULT_QUEUE})")
        if not self.path.exists() and not create:
            raise QueueError(f"--queue {self.path}: no such queue (`xbeam queue add PLAN.toml` creates it)")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            conn = self._conn()
            self._initialise(conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise QueueError(f"--queue {self.path}: not an xbeam queue database ({exc})") from None

    # ------------------------------------------------------------ connections
    def _conn(self, *, status: bool = False) -> sqlite3.Connection:
        name = "status" if status else "main"
        conn = getattr(self._local, name, None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute(f"PRAGMA synchronous = {'NORMAL' if status else 'FULL'}")
            setattr(self._local, name, conn)
            with self._lock:
                self._connections.append(conn)
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        if self._check_format(conn):  # an existing queue: read only, so a reader never waits for the runner
            return
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once, by whoever creates the file
        with self._tx(conn) as c:  # the check and the creation together: two first users do not race
            if self._check_format(c):
                return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            self._set_meta("format", FORMAT, c)
            self._set_meta("version", VERSION, c)
            self._set_meta("policy", QueuePolicy().to_dict(), c)

    def _check_format(self, c: sqlite3.Connection) -> bool:
        """True for an xbeam queue, False for an empty database; refuses anything else."""
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return False
        mark = c.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() if "meta" in tables else None
        if mark is None or json.loads(mark[0]) != FORMAT:
            raise QueueError(f"--queue {self.path}: an SQLite database but not an xbeam queue")
        version = json.loads(c.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
        if version > VERSION:
            raise QueueError(f"--queue {self.path}: written by a newer xbeam (queue format {version}, "
                             f"this one reads {VERSION})")
        return True

    @contextmanager
    def _tx(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        conn = conn or self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def __enter__(self) -> QueueStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ meta
    def _meta(self, key: str, default: Any = None, conn=None) -> Any:
        row = (conn or self._conn()).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def _set_meta(self, key: str, value: Any, conn=None) -> None:
        (conn or self._conn()).execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def policy(self) -> QueuePolicy:
        return QueuePolicy.from_dict(self._meta("policy", {}))

    def set_policy(self, policy: QueuePolicy) -> None:
        with self._tx() as c:
            self._set_meta("policy", policy.to_dict(), c)

    def apparatus(self) -> dict | None:
        """The apparatus ``add`` validates against when none is given: {"sim": True} or {"file": path}."""
        return self._meta("apparatus")

    def remember_apparatus(self, value: dict) -> None:
        with self._tx() as c:
            self._set_meta("apparatus", value, c)

    # ------------------------------------------------------------ items
    def items(self, states: tuple[str, ...] | None = None) -> list[Item]:
        rows = self._conn().execute("SELECT * FROM items ORDER BY position, id").fetchall()
        items = [Item.from_row(r) for r in rows]
        return [i for i in items if states is None or i.state in states]

    def get(self, item_id: int) -> Item:
        row = self._conn().execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            known = [str(i.id) for i in self.items()]
            raise QueueError(f"{self.path}: item {item_id}: no such item; the queue has "
                             f"{', '.join(known[-20:]) if known else 'no items'}")
        return Item.from_row(row)

    def next_item(self) -> Item | None:
        """The first item still to do, by position (an interrupted one is resumed first
        only if it is first)."""
        row = self._conn().execute(
            "SELECT * FROM items WHERE state IN ('pending', 'interrupted', 'running') ORDER BY position, id LIMIT 1"
        ).fetchone()
        return None if row is None else Item.from_row(row)

    def _place(self, c, new_id: int | None, *, position: int | None, before: int | None,
               after: int | None, moving: int | None = None) -> None:
        """Renumber the items with ``new_id`` (or ``moving``) at the place asked for."""
        ids = [r[0] for r in c.execute("SELECT id FROM items ORDER BY position, id")]
        target = new_id if new_id is not None else moving
        ids.remove(target)
        states = dict(c.execute("SELECT id, state FROM items").fetchall())
        if before is not None or after is not None:
            ref = before if before is not None else after
            if ref == target:
                raise QueueError(f"{self.path}: item {target} cannot be placed relative to itself")
            if ref not in ids:
                raise QueueError(f"{self.path}: item {ref}: no such item (--{'before' if before else 'after'})")
            index = ids.index(ref) + (0 if before is not None else 1)
        elif position is not None:
            active = [i for i in ids if states[i] in ACTIVE_STATES]
            if position < 1:
                raise QueueError(f"{self.path}: --position {position}: must be >= 1 (1 = the next item to run)")
            if position > len(active):
                index = len(ids)
            else:
                index = ids.index(active[position - 1])
        else:
            index = len(ids)
        ids.insert(index, target)
        c.executemany("UPDATE items SET position = ? WHERE id = ?", [(n + 1, i) for n, i in enumerate(ids)])

    def add_plan(self, plan, *, apparatus=None, position: int | None = None, before: int | None = None,
                 after: int | None = None, overrides: dict[str, Any] | None = None,
                 run_file: str | os.PathLike = "") -> Item:
        """Queue a validated plan (its text is stored); returns the new item.

        The queue stores the plan's TOML text (as the run file does), so a plan object
        changed in memory (``dataclasses.replace``) whose text no longer says the same
        is refused: build it from text with :func:`~acquisition.plans.parse_plan`."""
        from acquisition.plans import parse_plan

        if parse_plan(plan.text, source=plan.source) != plan:
            raise QueueError(f"plan {plan.source}: the object differs from its text (changed in memory?); the "
                             "queue and the run file keep the text: build the plan with parse_plan(text)")
        label, metadata = describe_plan(plan, apparatus)
        return self._add("plan", label, plan_source=str(plan.source), plan_text=plan.text, metadata=metadata,
                         points_planned=plan.n_points, overrides=overrides, run_file=str(run_file or ""),
                         position=position, before=before, after=after)

    def add_instruction(self, kind: str, argument: str = "", *, position: int | None = None,
                        before: int | None = None, after: int | None = None) -> Item:
        if kind not in INSTRUCTIONS:
            raise QueueError(f"{self.path}: instruction {kind!r}: one of {', '.join(INSTRUCTIONS)}")
        argument = check_instruction(kind, argument)
        label = {"pause-for-operator": f"pause for the operator: {argument}",
                 "wait-until": f"wait until {argument}",
                 "safe-state": f"safe state: {argument}"}[kind]
        return self._add(kind, label, argument=argument, position=position, before=before, after=after)

    def _add(self, kind: str, label: str, *, position, before, after, overrides=None, **columns) -> Item:
        overrides = check_overrides(str(self.path), overrides or {})
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO items (position, kind, label, plan_source, plan_text, argument, metadata, overrides, "
                "run_file, points_planned, created_utc) VALUES (1e9, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, label, columns.get("plan_source", ""), columns.get("plan_text", ""),
                 columns.get("argument", ""), json.dumps(columns.get("metadata", {})), json.dumps(overrides),
                 columns.get("run_file", ""), columns.get("points_planned", 0), utc_now()))
            self._place(c, cur.lastrowid, position=position, before=before, after=after)
            item_id = cur.lastrowid
        return self.get(item_id)

    def move(self, item_id: int, *, position: int | None = None, before: int | None = None,
             after: int | None = None) -> Item:
        item = self.get(item_id)
        if item.state not in ("pending", "interrupted"):
            raise QueueError(f"{self.path}: item {item_id} is {item.state}: only items not yet run (pending or "
                             "interrupted) move")
        with self._tx() as c:
            self._place(c, None, position=position, before=before, after=after, moving=item_id)
        return self.get(item_id)

    def remove(self, item_id: int, *, runner_alive: bool = False) -> Item:
        item = self.get(item_id)
        if item.state == "running" and runner_alive:
            raise QueueError(f"{self.path}: item {item_id} is running: `xbeam queue stop --now` first")
        with self._tx() as c:
            c.execute("DELETE FROM items WHERE id = ?", (item_id,))
            self._event(c, "removed", f"item {item_id} removed: {item.label}", item_id)
        return item

    def edit(self, item_id: int, *, plan=None, apparatus=None, overrides: dict[str, Any] | None = None,
             argument: str | None = None, run_file: str | None = None) -> Item:
        """Change an item not yet started (state pending, never run)."""
        item = self.get(item_id)
        if item.state != "pending" or item.started_utc:
            raise QueueError(f"{self.path}: item {item_id} is {item.state}"
                             f"{' (already started)' if item.started_utc else ''}: only an item not yet started "
                             "is edited (remove it and add a new one)")
        sets: dict[str, Any] = {}
        if plan is not None:
            if item.kind != "plan":
                raise QueueError(f"{self.path}: item {item_id} is a {item.kind} instruction, not a plan: --plan")
            label, metadata = describe_plan(plan, apparatus)
            sets.update(label=label, metadata=json.dumps(metadata), plan_source=str(plan.source),
                        plan_text=plan.text, points_planned=plan.n_points)
        if argument is not None:
            if item.kind == "plan":
                raise QueueError(f"{self.path}: item {item_id} is a plan: its argument is its plan (--plan FILE)")
            argument = check_instruction(item.kind, argument)
            sets["argument"] = argument
            sets["label"] = item.label.split(":")[0] + f": {argument}" if item.kind != "wait-until" \
                else f"wait until {argument}"
        if overrides:
            merged = {**item.overrides, **check_overrides(str(self.path), overrides)}
            sets["overrides"] = json.dumps({k: v for k, v in merged.items() if v != "default"})
        if run_file is not None:
            sets["run_file"] = run_file
        if sets:
            with self._tx() as c:
                c.execute(f"UPDATE items SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ? AND state = 'pending'",
                          (*sets.values(), item_id))
        return self.get(item_id)

    def retry(self, item_id: int) -> Item:
        """A skipped or failed item back into the queue: resumed into its run file."""
        item = self.get(item_id)
        if item.state not in ("skipped", "failed"):
            raise QueueError(f"{self.path}: item {item_id} is {item.state}: only a skipped or failed item is retried")
        state = "interrupted" if item.run_file and Path(item.run_file).exists() else "pending"
        with self._tx() as c:
            c.execute("UPDATE items SET state = ?, reason = '', policy_action = '' WHERE id = ?", (state, item_id))
            self._event(c, "retry", f"item {item_id} queued again ({state})", item_id)
        return self.get(item_id)

    def clear(self, *, finished: bool = False) -> int:
        """Remove every item not yet started (``finished``: also every finished item and
        the history); returns how many items were removed."""
        with self._tx() as c:
            if finished:
                n = c.execute("DELETE FROM items WHERE state != 'running'").rowcount
                c.execute("DELETE FROM history WHERE status != 'running'")
            else:
                n = c.execute("DELETE FROM items WHERE state = 'pending' AND started_utc = ''").rowcount
            self._event(c, "cleared", f"{n} items removed" + (" with the history" if finished else ""), None)
        return n

    # ------------------------------------------------------------ the runner's side
    def set_item(self, item_id: int, **columns: Any) -> None:
        with self._tx() as c:
            self._update_item(c, item_id, columns)

    @staticmethod
    def _update_item(c, item_id: int, columns: dict[str, Any]) -> None:
        if columns:
            c.execute(f"UPDATE items SET {', '.join(f'{k} = ?' for k in columns)} WHERE id = ?",
                      (*columns.values(), item_id))

    def start_attempt(self, item: Item, run_file: str = "") -> int:
        """Item running, a history row opened, in one transaction; returns the row id."""
        with self._tx() as c:
            attempt = c.execute("SELECT COALESCE(MAX(attempt), 0) + 1 FROM history WHERE item_id = ?",
                                (item.id,)).fetchone()[0]
            now = utc_now()
            cols = {"state": "running", "run_file": run_file or item.run_file}
            if not item.started_utc:
                cols["started_utc"] = now
            self._update_item(c, item.id, cols)
            cur = c.execute(
                "INSERT INTO history (item_id, attempt, kind, label, run_file, start_utc, points_planned, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.id, attempt, item.kind, item.label, run_file or item.run_file, now, item.points_planned,
                 os.getpid(), socket.gethostname()))
            self._event(c, "start", f"item {item.id} attempt {attempt}: {item.label}", item.id)
            return cur.lastrowid

    def end_attempt(self, attempt_id: int, item_id: int, *, item_state: str, status: str, reason: str = "",
                    points_done: int = 0, points_in_file: int = 0, policy_action: str = "",
                    safe_state: str = "") -> None:
        """Close the history row and set the item's state, in one transaction."""
        now = utc_now()
        with self._tx() as c:
            c.execute("UPDATE history SET end_utc = ?, status = ?, reason = ?, points_done = ?, points_in_file = ?, "
                      "policy_action = ?, safe_state = ? WHERE id = ?",
                      (now, status, reason, points_done, points_in_file, policy_action, safe_state, attempt_id))
            cols: dict[str, Any] = {"state": item_state, "reason": reason, "policy_action": policy_action,
                                    "points_done": points_in_file}
            if item_state in FINISHED_STATES:
                cols["ended_utc"] = now
            self._update_item(c, item_id, cols)
            self._event(c, "end", f"item {item_id}: {status}" + (f": {reason}" if reason else "")
                        + (f"; policy: {policy_action}" if policy_action else ""), item_id)

    def recover_crashed(self) -> list[Attempt]:
        """Close the history rows a dead runner left open (``crashed``) and put its
        items back as interrupted; returns the rows closed.  Only under the runner lock."""
        with self._tx() as c:
            rows = [Attempt(**dict(r)) for r in c.execute("SELECT * FROM history WHERE status = 'running'")]
            now = utc_now()
            for row in rows:
                points = _points_in(row.run_file)
                c.execute("UPDATE history SET end_utc = ?, status = 'crashed', reason = ?, points_in_file = ? "
                          "WHERE id = ?",
                          (now, f"the runner (pid {row.pid} on {row.host}) ended without closing this attempt: "
                                "killed, crashed or a power cut", points, row.id))
                self._event(c, "crashed", f"item {row.item_id} attempt {row.attempt}: runner pid {row.pid} died; "
                                          f"{points} points in {row.run_file or 'no run file'}", row.item_id)
            c.execute("UPDATE items SET state = 'interrupted' WHERE state = 'running'")
        return rows

    def history(self, item_id: int | None = None) -> list[Attempt]:
        sql = "SELECT * FROM history" + (" WHERE item_id = ?" if item_id is not None else "") + " ORDER BY id"
        return [Attempt(**dict(r)) for r in self._conn().execute(sql, () if item_id is None else (item_id,))]

    # ------------------------------------------------------------ events, status, requests
    @staticmethod
    def _event(c, kind: str, text: str, item_id: int | None) -> None:
        c.execute("INSERT INTO events (utc, item_id, kind, text) VALUES (?, ?, ?, ?)", (utc_now(), item_id, kind, text))

    def event(self, kind: str, text: str, item_id: int | None = None) -> None:
        with self._tx() as c:
            self._event(c, kind, text, item_id)

    def events(self, limit: int = 50) -> list[sqlite3.Row]:
        rows = self._conn().execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return list(reversed(rows))

    def set_status(self, status: dict[str, Any]) -> None:
        """The status line (the runner's, at every point: the NORMAL-sync connection)."""
        conn = self._conn(status=True)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('status', ?)", (json.dumps({**status, "updated": utc_now()}),))

    def status(self) -> dict[str, Any]:
        return self._meta("status", {}) or {}

    def request_stop(self, mode: str) -> None:
        """``item``: after the current item; ``point``: after the current point."""
        if mode not in ("item", "point"):
            raise QueueError(f"stop mode {mode!r}: item or point")
        with self._tx() as c:
            self._set_meta("stop", {"mode": mode, "utc": utc_now()}, c)
            self._event(c, "stop-requested", f"stop after the current {mode} requested", None)

    def stop_request(self) -> str | None:
        value = self._meta("stop")
        return value.get("mode") if value else None

    def clear_stop(self) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM meta WHERE key = 'stop'")

    def request_continue(self) -> None:
        with self._tx() as c:
            self._set_meta("continue", utc_now(), c)

    def take_continue(self, since: str) -> bool:
        """An operator's ``continue`` given after ``since`` (UTC text), consumed."""
        with self._tx() as c:
            value = self._meta("continue", conn=c)
            if value is not None and value >= since:
                c.execute("DELETE FROM meta WHERE key = 'continue'")
                return True
        return False


def check_instruction(kind: str, argument: str) -> str:
    """An instruction's argument, checked: the operator's message, the time to wait
    until (kept as the operator wrote it; :func:`wait_target` turns it into a moment),
    the safe state's name."""
    from .policy import SAFE_STATES

    if kind == "pause-for-operator":
        return argument.strip() or "continue with `xbeam queue continue`"
    if kind == "wait-until":
        wait_target(argument, datetime.now(timezone.utc))  # refuses a bad time
        return argument.strip()
    if kind == "safe-state":
        name = argument.strip() or "shutdown"
        if name not in SAFE_STATES:
            raise QueueError(f"safe-state {name!r}: one of {', '.join(SAFE_STATES)}")
        return name
    raise QueueError(f"instruction {kind!r}: one of {', '.join(INSTRUCTIONS)}")


def wait_target(text: str, now_utc: datetime) -> datetime:
    """The moment (UTC) a ``wait-until`` waits for: ``HH:MM`` (local time; the next
    such moment after ``now_utc``) or an ISO 8601 date and time (local unless it says
    its zone)."""
    from datetime import timedelta

    text = text.strip()
    try:
        if len(text) <= 5 and ":" in text:
            hh, mm = (int(x, 10) for x in text.split(":"))
            if not (0 <= hh <= 23 and 0 <= mm <= 59):
                raise ValueError
            local_now = now_utc.astimezone()
            target = local_now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if target <= local_now:
                target += timedelta(days=1)
            return target.astimezone(timezone.utc)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueueError(f"wait-until {text!r}: must be HH:MM (local time, the next such moment) or an ISO 8601 "
                         "date and time (2026-12-01T06:30, 2026-12-01T05:30Z)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc)


def check_overrides(source: str, overrides: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in overrides.items():
        if key not in ITEM_OVERRIDES:
            raise QueueError(f"{source}: {key}: not a per-item setting; allowed: {', '.join(ITEM_OVERRIDES)}")
        out[key] = "default" if value == "default" else check_setting(source, key, value)
    return out


def _points_in(run_file: str) -> int:
    """Committed points of a run file (0 if there is none or it cannot be read)."""
    if not run_file or not Path(run_file).exists():
        return 0
    try:
        from acquisition.storage import read_run

        return read_run(run_file).n_points
    except Exception:
        return 0
