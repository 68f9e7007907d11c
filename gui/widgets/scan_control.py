"""Scan control: the plan, its problems, its dry-run estimate, the run buttons, the
progress, and the interlock banner that is always in view.

The buttons' enabled state comes from the
:class:`~gui.viewmodels.run_control.RunControlModel` (``can_start`` and so on), never
from logic here; the widget only emits what was pressed.
"""

from __future__ import annotations

import math
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.common import COLOURS, fmt_duration

__all__ = ["InterlockBanner", "ScanControl", "issue_rows"]


def issue_rows(error) -> list[tuple[str, str, str, str]]:
    """(file, key, value, allowed) of each issue of a ConfigError (or one row for
    another error: the file cannot be read, say)."""
    issues = getattr(error, "issues", None)
    source = str(getattr(error, "source", ""))
    if not issues:
        return [(source, "", "", str(error))]
    rows = []
    for issue in issues:
        value = getattr(issue, "value", "")
        rows.append((source, str(getattr(issue, "key", "")), "" if value is None else repr(value),
                     str(getattr(issue, "allowed", ""))))
    return rows


def fill_issue_table(table, error) -> list[tuple[str, str, str, str]]:
    """Fill a (file, key, value, allowed) table with the issues of ``error`` (none for
    None); the rows shown.  The scan control's and the queue panel's tables."""
    rows = issue_rows(error) if error is not None else []
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(r, c, item)
    table.resizeRowsToContents()
    return rows


class InterlockBanner(QLabel):
    """One line, always visible: interlocks clear (green), SUSPENDED (amber), a
    fault or failure (red), paused (blue)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumHeight(30)
        self.level = ""
        self.show_text("interlocks clear", "ok")

    def show_text(self, text: str, level: str) -> None:
        if text == self.text() and level == self.level:
            return
        self.level = level
        background = {"ok": "#dff3e3", "suspended": COLOURS["retrying"], "fault": COLOURS["fault"],
                      "paused": "#cfe0ff"}.get(level, "#eeeeee")
        colour = "white" if level == "fault" else "black"
        self.setStyleSheet(f"background: {background}; color: {colour}; font-weight: bold; font-size: 13px;"
                           " padding: 4px; border-radius: 4px;")
        self.setText(text)


class ScanControl(QWidget):
    """See the module docstring."""

    openRequested = Signal()  # noqa: N815 - Qt's naming
    startRequested = Signal()  # noqa: N815
    pauseRequested = Signal()  # noqa: N815
    resumeRequested = Signal()  # noqa: N815
    abortRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        self.banner = InterlockBanner()
        column.addWidget(self.banner)

        plan_box = QGroupBox("Plan")
        grid = QGridLayout(plan_box)
        self.plan_label = QLabel("no plan loaded")
        self.plan_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.open_button = QPushButton("Open plan…")
        self.open_button.clicked.connect(self.openRequested)
        grid.addWidget(self.plan_label, 0, 0)
        grid.addWidget(self.open_button, 0, 1)
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        self.estimate.setTextInteractionFlags(Qt.TextSelectableByMouse)
        grid.addWidget(self.estimate, 1, 0, 1, 2)
        self.issues = QTableWidget(0, 4)
        self.issues.setHorizontalHeaderLabels(["file", "key", "value", "allowed"])
        self.issues.verticalHeader().setVisible(False)
        self.issues.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.issues.setWordWrap(True)
        header = self.issues.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        self.issues.setVisible(False)
        self.issues.setMinimumHeight(90)
        grid.addWidget(self.issues, 2, 0, 1, 2)
        column.addWidget(plan_box)

        run_box = QGroupBox("Run")
        run = QVBoxLayout(run_box)
        buttons = QHBoxLayout()
        self.start = QPushButton("Start")
        self.pause = QPushButton("Pause")
        self.resume = QPushButton("Resume")
        self.abort = QPushButton("Abort")
        self.start.setStyleSheet("QPushButton:enabled { font-weight: bold; color: #1d6b2c; }")
        self.abort.setStyleSheet("QPushButton:enabled { font-weight: bold; color: white; background: #b00000; }")
        self.abort.setToolTip("End the run now: safe state, file closed and resumable")
        for name, button, signal in (("start", self.start, self.startRequested),
                                     ("pause", self.pause, self.pauseRequested),
                                     ("resume", self.resume, self.resumeRequested),
                                     ("abort", self.abort, self.abortRequested)):
            button.setObjectName(f"run_{name}")
            button.setMinimumHeight(30)
            button.clicked.connect(signal)
            buttons.addWidget(button)
        run.addLayout(buttons)
        self.state = QLabel("idle")
        self.state.setStyleSheet("font-weight: bold;")
        run.addWidget(self.state)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m points")
        run.addWidget(self.progress)
        self.eta = QLabel("")
        run.addWidget(self.eta)
        self.file_label = QLabel("run file: —")
        self.file_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.file_label.setWordWrap(True)
        run.addWidget(self.file_label)
        column.addWidget(run_box)
        column.addStretch(1)
        self._drawn = None
        self.set_buttons(False, False, False, False)

    # ------------------------------------------------------------ plan
    def show_plan(self, path: str | None, error=None) -> None:
        self.plan_label.setText(os.path.basename(path) if path else "no plan loaded")
        self.plan_label.setToolTip(path or "")
        rows = fill_issue_table(self.issues, error)
        self.issues.setVisible(bool(rows))
        if rows:
            n = len(rows)
            self.estimate.setText(f"<b style='color:{COLOURS['fault']}'>{n} problem{'s' * (n != 1)} in the plan: "
                                  "nothing can start until it is fixed</b>")

    def show_estimate(self, text: str, bad: bool = False) -> None:
        self.estimate.setText(f"<span style='color:{COLOURS['fault']}'>{text}</span>" if bad else text)

    # ------------------------------------------------------------ run
    def set_buttons(self, start: bool, pause: bool, resume: bool, abort: bool) -> None:
        self.start.setEnabled(start)
        self.pause.setEnabled(pause)
        self.resume.setEnabled(resume)
        self.abort.setEnabled(abort)

    def redraw(self, rc, *, can_start_extra: bool = True) -> None:
        """Draw a RunControlModel; ``can_start_extra``: the window's own conditions for
        Start (a session, a valid plan)."""
        key = (rc.version, can_start_extra)
        if key == self._drawn:
            return
        self._drawn = key
        self.set_buttons(bool(rc.can_start and can_start_extra), bool(rc.can_pause), bool(rc.can_resume),
                         bool(rc.can_abort))
        state = rc.state
        text = state
        if state in ("finished", "failed", "aborted") and rc.last_stop:
            status, reason = rc.last_stop
            text = f"{state}: {reason}" if reason else state
        if rc.paused_reason and state in ("paused", "pausing"):
            text = f"{state}: {rc.paused_reason}"
        self.state.setText(f"Run {rc.run_id}: {text}" if rc.run_id else text)
        colour = {"failed": COLOURS["fault"], "aborted": COLOURS["retrying"], "suspended": COLOURS["retrying"],
                  "finished": COLOURS["ok"], "running": "#1f4e9c"}.get(state, "black")
        self.state.setStyleSheet(f"font-weight: bold; color: {colour};")
        total = max(int(rc.total or 0), 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(rc.done or 0), total))
        self.progress.setFormat(rc.progress_text() or "%v / %m points")
        self.eta.setText(rc.eta_text())
        self.file_label.setText(f"run file: {rc.path}" if rc.path else "run file: —")
        interlock = rc.interlock_text()
        level = "suspended" if state == "suspended" or interlock.upper().startswith("SUSPENDED") else (
            "fault" if state == "failed" else "paused" if state in ("paused", "pausing") else "ok")
        if level == "paused":
            interlock = f"PAUSED — {rc.paused_reason or 'by operator'}   ·   {interlock}"
        self.banner.show_text(interlock, level)


def estimate_text(estimate) -> str:
    """One paragraph of a DryRunEstimate (duration_s, points, file_mb, flagged)."""
    flagged = dict(getattr(estimate, "flagged", {}) or {})
    parts = [f"Dry run: <b>{fmt_duration(getattr(estimate, 'duration_s', math.nan))}</b> of beam time, "
             f"{getattr(estimate, 'points', '?')} points, {getattr(estimate, 'file_mb', math.nan):.1f} MB"]
    status = getattr(estimate, "status", "success")
    if status != "success":
        parts.append(f"<br><b style='color:{COLOURS['fault']}'>the simulated run {status}: "
                     f"{getattr(estimate, 'reason', '')}</b>")
    if flagged:
        cells = ", ".join(f"{e:g} eV {a:g}°: {why}" for (e, a), why in sorted(flagged.items())[:12])
        more = f" … (+{len(flagged) - 12})" if len(flagged) > 12 else ""
        parts.append(f"<br><b style='color:{COLOURS['saturated']}'>{len(flagged)} cell{'s' * (len(flagged) != 1)} "
                     f"predicted flagged</b>: {cells}{more}")
    else:
        parts.append("<br>no cell predicted flagged")
    return "".join(parts)
