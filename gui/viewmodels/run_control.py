"""The run buttons, the progress bar and the interlock line: what state the run is in,
as the engine's events say, and therefore which buttons are enabled.

Why here and not in the widgets: the enabled state of Start/Pause/Resume/Abort is the
run's state machine seen from the operator's side (a pause is requested, then the
engine confirms it at the next point boundary).  Kept in one Qt-free place it is tested
without a window, and no widget has to guess.
"""

from __future__ import annotations

import math

from acquisition.events import Paused, Progress, Resumed, RunStart, RunStop, Suspended

__all__ = ["RunControlModel", "STATES", "format_duration"]

STATES = ("idle", "starting", "running", "pausing", "paused", "resuming", "suspended", "aborting",
          "finished", "failed", "aborted")
_STOPPED = ("idle", "finished", "failed", "aborted")
_STOP_STATE = {"success": "finished", "aborted": "aborted", "failed": "failed"}
#: a run file's /entry/status -> state (the viewer's only source)
_FILE_STATE = {"running": "running", **_STOP_STATE}


def format_duration(seconds: float) -> str:
    """"2 h 05 min", "4 min 07 s", "12 s"; "-" when unknown."""
    if not math.isfinite(seconds):
        return "-"
    s = max(int(round(seconds)), 0)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


class RunControlModel:
    """The run as the control bar shows it.  ``speed`` is the clock's (1 for the
    apparatus, >1 for a scaled simulation, inf for a virtual clock): the engine's ETA is
    in beam-time seconds, the operator waits wall seconds."""

    def __init__(self, speed: float = 1.0, controllable: bool = True) -> None:
        self.speed = float(speed)
        #: added: False in a viewer-only window (no session): every button is disabled
        self.controllable = controllable
        self.state = "idle"
        self.run_id: str | None = None
        self.path: str | None = None
        self.done = 0
        self.total = 0
        self.elapsed_s = 0.0
        self.eta_s = math.nan
        self.suspended_reason: str | None = None
        self.paused_reason: str | None = None
        self.last_stop: tuple[str, str] | None = None  #: (status, reason) of the last RunStop
        self._pause_pending = False
        self._abort_pending = False
        self.version = 0

    # ------------------------------------------------------------------ inputs

    def on_event(self, event) -> None:
        if isinstance(event, RunStart):
            self.state, self.run_id = "running", event.run_id
            self.done, self.total = 0, int(event.planned_points)
            self.elapsed_s, self.eta_s = 0.0, math.nan
            self.suspended_reason = self.paused_reason = self.last_stop = None
            self._pause_pending = self._abort_pending = False
        elif isinstance(event, Progress):
            self.done, self.total = int(event.done), int(event.total)
            self.elapsed_s, self.eta_s = float(event.elapsed_s), float(event.eta_s)
        elif isinstance(event, Suspended):
            self.suspended_reason = event.reason
            if not self._abort_pending:
                self.state = "suspended"
        elif isinstance(event, Paused):
            self.paused_reason = event.reason
            self._pause_pending = False
            if not self._abort_pending:
                self.state = "paused"
        elif isinstance(event, Resumed):
            self.suspended_reason = self.paused_reason = None
            if not self._abort_pending:
                # back from a suspension with the operator's pause still to come
                self.state = "pausing" if self._pause_pending else "running"
        elif isinstance(event, RunStop):
            self.state = _STOP_STATE.get(event.status, "failed")
            self.done = int(event.points_done)
            self.last_stop = (event.status, event.reason)
            self.suspended_reason = self.paused_reason = None
            self._pause_pending = self._abort_pending = False
            self.eta_s = math.nan
        else:
            return
        self.version += 1

    def on_file_status(self, status: str, points_done: int, planned_points: int | None = None) -> None:
        """Added: what a followed run file says (the viewer has no events)."""
        state = _FILE_STATE.get(status, "failed")
        total = self.total if planned_points is None else int(planned_points)
        if (state, int(points_done), total) != (self.state, self.done, self.total):
            self.state, self.done, self.total = state, int(points_done), total
            self.version += 1

    def mark_requested(self, action: str) -> None:
        """The operator pressed a button: show it until the engine confirms.

        ``action``: "start", "pause", "resume" or "abort"."""
        if action == "start" and self.state in _STOPPED:
            self.state = "starting"
        elif action == "pause" and self.state in ("running", "suspended"):
            self._pause_pending = True
            if self.state == "running":
                self.state = "pausing"
        elif action == "resume" and self.state in ("paused", "pausing"):
            self._pause_pending = False
            self.state = "resuming"
        elif action == "abort" and self.state not in _STOPPED:
            self._abort_pending = True
            self.state = "aborting"
        elif action not in ("start", "pause", "resume", "abort"):
            raise ValueError(f"unknown action {action!r}")
        else:
            return
        self.version += 1

    def start_failed(self) -> None:
        """Added: a start request that never produced a RunStart (the plan or the file
        was refused): back to idle so that Start is enabled again."""
        if self.state == "starting":
            self.state = "idle"
            self.version += 1

    # ------------------------------------------------------------------ buttons

    @property
    def running(self) -> bool:
        """Added: a run owns the apparatus (manual controls are disabled)."""
        return self.state not in _STOPPED

    @property
    def can_start(self) -> bool:
        return self.controllable and self.state in _STOPPED

    @property
    def can_pause(self) -> bool:
        return self.controllable and self.state == "running"

    @property
    def can_resume(self) -> bool:
        return self.controllable and self.state == "paused"

    @property
    def can_abort(self) -> bool:
        return self.controllable and self.state in ("starting", "running", "pausing", "paused", "resuming",
                                                    "suspended")

    # ------------------------------------------------------------------ texts

    @property
    def fraction(self) -> float:
        """Added: done / total for the progress bar (0 when nothing is planned)."""
        return min(self.done / self.total, 1.0) if self.total > 0 else 0.0

    def progress_text(self) -> str:
        if self.total <= 0:
            return "no run" if self.state == "idle" else f"{self.state}"
        text = f"{self.done} / {self.total} points ({100 * self.fraction:.0f} %)"
        if self.elapsed_s > 0:
            text += f", {format_duration(self.elapsed_s)} elapsed"
        return text

    def eta_text(self) -> str:
        """The time left: wall time at the clock's speed; beam time when the clock is
        virtual (an infinite speed would say 0 s)."""
        if self.state in _STOPPED or not math.isfinite(self.eta_s):
            return "ETA -"
        beam = format_duration(self.eta_s)
        if not math.isfinite(self.speed) or self.speed <= 0:
            return f"ETA {beam} (beam time)"
        if self.speed == 1:
            return f"ETA {beam}"
        return f"ETA {format_duration(self.eta_s / self.speed)} ({beam} beam time at x{self.speed:g})"

    def interlock_text(self) -> str:
        if self.suspended_reason is not None:
            return f"SUSPENDED: {self.suspended_reason}"
        return "interlocks clear"

    def status_text(self) -> str:
        """Added: one line for the status bar."""
        if self.state == "paused" and self.paused_reason:
            return f"paused: {self.paused_reason}"
        if self.last_stop is not None and self.state in _STOPPED:
            return f"{self.last_stop[0]}: {self.last_stop[1]}"
        return self.state
