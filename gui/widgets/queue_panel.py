"""The queue panel: the overnight queue's items (state coloured), the runner's status
line, the recent events and the history, and the buttons that change the queue or run it.

It draws a :class:`~gui.viewmodels.queue.QueueModel` (redrawn only when its
``version`` changed) and acts through a :class:`~gui.viewmodels.queue.QueueController`;
which buttons are enabled is :meth:`QueueModel.actions`, never logic here.  Running the
queue on the window's session, and stopping it at once, are the window's
(:attr:`runRequested`, :attr:`stopNowRequested`): they need its session and its
confirmation.  The dialogs are attributes (``ask_plan``, ``ask_text``, ``ask_choice``)
so a test can answer them.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.common import COLOURS
from gui.widgets.scan_control import fill_issue_table

__all__ = ["QueuePanel", "STATE_COLOURS"]

#: item state -> (background, text colour)
STATE_COLOURS = {
    "pending": ("#ffffff", "black"),
    "running": ("#cfe0ff", "#0b3a8c"),
    "interrupted": (COLOURS["pending"], "black"),
    "done": ("#dff3e3", "#1d6b2c"),
    "skipped": ("#ffd9a0", "#7a4a00"),
    "failed": (COLOURS["fault"], "white"),
}

COLUMNS = ("#", "id", "state", "kind", "sample", "gas", "energies", "points", "beam time", "item / reason")

#: the instructions the Add instruction menu offers: (kind, menu text)
INSTRUCTION_MENU = (("pause-for-operator", "Pause for the operator…"), ("wait-until", "Wait until…"),
                    ("safe-state", "Safe state…"))


def _ask_plan(parent: QWidget, title: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, "", "Plans (*.toml);;All files (*)")
    return path


def _ask_text(parent: QWidget, title: str, label: str, text: str) -> str | None:
    value, ok = QInputDialog.getText(parent, title, label, text=text)
    return value if ok else None


def _ask_choice(parent: QWidget, title: str, label: str, choices: list[str], current: str) -> str | None:
    index = choices.index(current) if current in choices else 0
    value, ok = QInputDialog.getItem(parent, title, label, choices, index, False)
    return value if ok else None


class QueuePanel(QWidget):
    """See the module docstring."""

    #: Run queue pressed (the window runs it on its session)
    runRequested = Signal()  # noqa: N815 - Qt's naming
    #: Stop queue (now) pressed (the window confirms and interrupts its runner)
    stopNowRequested = Signal()  # noqa: N815
    #: a line for the window's log: (level, text)
    noted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = None
        self.controller = None
        self.config = None  #: the apparatus config plans are checked against
        #: the window's own conditions for Run queue (a session, no run going)
        self.can_run_extra = False
        self.selected_id: int | None = None
        self._drawn_version = None
        self._drawn_key = None
        self._build()
        self.detach()

    # ------------------------------------------------------------ construction
    def _build(self) -> None:
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("")
        self.title.setStyleSheet("font-weight: bold; font-size: 13px;")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.runner_label = QLabel("")
        self.runner_label.setWordWrap(True)
        column.addWidget(self.title)
        column.addWidget(self.runner_label)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status_label.setStyleSheet("font-weight: bold;")
        column.addWidget(self.status_label)
        line = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m points")
        self.progress.setMaximumWidth(260)
        self.last_event = QLabel("")
        self.last_event.setWordWrap(True)
        self.last_event.setTextInteractionFlags(Qt.TextSelectableByMouse)
        line.addWidget(self.progress)
        line.addWidget(self.last_event, 1)
        column.addLayout(line)

        self.tabs = QTabWidget()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for c in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.tabs.addTab(self.table, "Items")
        self.events = QListWidget()
        self.events.setWordWrap(True)
        self.tabs.addTab(self.events, "Events")
        self.history = QTableWidget(0, 7)
        self.history.setHorizontalHeaderLabels(["item", "#", "status", "start", "end", "points", "run file / reason"])
        self.history.verticalHeader().setVisible(False)
        self.history.setEditTriggers(QAbstractItemView.NoEditTriggers)
        hh = self.history.horizontalHeader()
        for c in range(6):
            hh.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(6, QHeaderView.Stretch)
        self.tabs.addTab(self.history, "History")
        column.addWidget(self.tabs, 1)

        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.problem.setVisible(False)
        column.addWidget(self.problem)
        self.issues = QTableWidget(0, 4)
        self.issues.setHorizontalHeaderLabels(["file", "key", "value", "allowed"])
        self.issues.verticalHeader().setVisible(False)
        self.issues.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.issues.setWordWrap(True)
        ih = self.issues.horizontalHeader()
        for c in range(3):
            ih.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        ih.setSectionResizeMode(3, QHeaderView.Stretch)
        self.issues.setVisible(False)
        self.issues.setMaximumHeight(130)
        column.addWidget(self.issues)

        edits = QHBoxLayout()
        self.add_plan_button = self._button("add_plan", "Add plan…", self.add_plan,
                                            "Queue a plan file, checked against this window's apparatus first")
        self.add_instruction_button = QToolButton()
        self.add_instruction_button.setObjectName("queue_add_instruction")
        self.add_instruction_button.setText("Add instruction")
        self.add_instruction_button.setPopupMode(QToolButton.InstantPopup)
        self.add_instruction_button.setToolButtonStyle(Qt.ToolButtonTextOnly)
        menu = QMenu(self.add_instruction_button)
        self.instruction_actions = {}
        for kind, text in INSTRUCTION_MENU:
            self.instruction_actions[kind] = menu.addAction(text, lambda k=kind: self.add_instruction(k))
        self.add_instruction_button.setMenu(menu)
        self.edit_button = self._button("edit", "Edit…", self.edit_selected, "Replace the plan or the instruction's "
                                                                              "argument (an item not yet started)")
        self.remove_button = self._button("remove", "Remove", self.remove_selected, "Remove an item not yet started")
        self.up_button = self._button("up", "Move up", lambda: self.move_selected(-1), "One place earlier")
        self.down_button = self._button("down", "Move down", lambda: self.move_selected(+1), "One place later")
        self.retry_button = self._button("retry", "Retry", self.retry_selected,
                                         "Queue a skipped or failed item again (it resumes its run file)")
        edits.addWidget(self.add_plan_button)
        edits.addWidget(self.add_instruction_button)
        for button in (self.edit_button, self.remove_button, self.up_button, self.down_button, self.retry_button):
            edits.addWidget(button)
        edits.addStretch(1)
        column.addLayout(edits)

        runs = QHBoxLayout()
        self.run_button = self._button("run", "Run queue", self.runRequested.emit,
                                       "Run the queue on this window's apparatus (holds the queue's runner lock)")
        self.run_button.setStyleSheet("QPushButton:enabled { font-weight: bold; color: #1d6b2c; }")
        self.stop_item_button = self._button("stop_item", "Stop after this item", lambda: self.stop("item"),
                                             "The runner stops when the current item ends, then applies the end state")
        self.stop_point_button = self._button("stop_point", "Stop after this point", lambda: self.stop("point"),
                                              "The current run stops at the next point boundary (resumable)")
        self.stop_now_button = self._button("stop_now", "Stop queue", self.stopNowRequested.emit,
                                            "Stop this window's queue now: the count in progress is discarded, the "
                                            "run file stays resumable, the end state is applied")
        self.stop_now_button.setStyleSheet(
            "QPushButton:enabled { font-weight: bold; color: white; background: #b00000; }")
        self.continue_button = self._button("continue", "Continue", self.continue_,
                                            "Go on after a pause for the operator")
        self.continue_button.setStyleSheet("QPushButton:enabled { font-weight: bold; background: #cfe0ff; }")
        for button in (self.run_button, self.stop_item_button, self.stop_point_button, self.stop_now_button,
                       self.continue_button):
            runs.addWidget(button)
        runs.addStretch(1)
        column.addLayout(runs)

    # the dialogs (methods, not lambdas kept on the instance: a lambda that holds the
    # panel would put its wrapper in a reference cycle, which the garbage collector may
    # then free on a session thread; a test replaces them with instance attributes)
    def ask_plan(self, title: str = "Add plan to the queue") -> str:
        return _ask_plan(self, title)

    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        return _ask_text(self, title, label, text)

    def ask_choice(self, title: str, label: str, choices: list[str], current: str = "") -> str | None:
        return _ask_choice(self, title, label, choices, current)

    def _button(self, name: str, text: str, slot, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(f"queue_{name}")
        button.setToolTip(tip)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    @property
    def edit_buttons(self) -> tuple[QPushButton, ...]:
        return (self.edit_button, self.remove_button, self.up_button, self.down_button, self.retry_button)

    @property
    def run_buttons(self) -> tuple[QPushButton, ...]:
        return (self.run_button, self.stop_item_button, self.stop_point_button, self.stop_now_button,
                self.continue_button)

    # ------------------------------------------------------------ the queue
    def attach(self, model, controller, config) -> None:
        """Show the queue of ``model``, changed through ``controller``; plans are
        checked against ``config`` (None: Add plan is refused, as without --apparatus)."""
        self.model, self.controller, self.config = model, controller, config
        self.selected_id = None
        self._drawn_version = self._drawn_key = None
        self.show_problem(None)
        self.title.setText(f"Queue: {model.path}")
        self.title.setToolTip(str(model.path))
        self.poll()

    def detach(self) -> None:
        self.model = self.controller = None
        self.title.setText("No queue open: File > Open queue…")
        for widget in (self.runner_label, self.status_label, self.last_event):
            widget.setText("")
        self.table.setRowCount(0)
        self.history.setRowCount(0)
        self.events.clear()
        self._drawn_version = self._drawn_key = None
        for button in (*self.edit_buttons, *self.run_buttons, self.add_plan_button):
            button.setEnabled(False)
        self.add_instruction_button.setEnabled(False)

    def poll(self) -> None:
        """Read the queue again (the window's 1 s timer, and after every change made
        here), pass the runner's reports on, redraw what changed."""
        model, controller = self.model, self.controller
        if model is None:
            return
        model.poll(own_runner=bool(controller is not None and controller.running))
        if controller is not None:
            for text in controller.take_messages():
                self.noted.emit("info", f"queue: {text}")
        self.redraw()

    # ------------------------------------------------------------ drawing
    def redraw(self) -> None:
        model = self.model
        if model is None:
            return
        if model.version != self._drawn_version:
            self._drawn_version = model.version
            self._draw_items(model)
            self._draw_status(model)
            self._draw_events(model)
        key = (model.version, self.selected_id, self.can_run_extra, self.config is not None)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        actions = model.actions(self.selected_id)
        self.edit_button.setEnabled(actions.edit)
        self.remove_button.setEnabled(actions.remove)
        self.up_button.setEnabled(actions.move_up)
        self.down_button.setEnabled(actions.move_down)
        self.retry_button.setEnabled(actions.retry)
        self.continue_button.setEnabled(actions.continue_)
        self.stop_item_button.setEnabled(actions.stop_item)
        self.stop_point_button.setEnabled(actions.stop_point)
        self.stop_now_button.setEnabled(actions.stop_now)
        self.run_button.setEnabled(actions.run and self.can_run_extra)
        self.add_plan_button.setEnabled(self.config is not None and not model.error)
        self.add_instruction_button.setEnabled(not model.error)
        if model.foreign_runner:
            self.run_button.setToolTip(f"Refused: {model.runner_text()}")
        else:
            self.run_button.setToolTip("Run the queue on this window's apparatus (holds the queue's runner lock)")

    def _draw_items(self, model) -> None:
        rows = model.items
        table = self.table
        table.blockSignals(True)
        table.setRowCount(len(rows))
        select = None
        for r, row in enumerate(rows):
            background, colour = STATE_COLOURS.get(row.state, ("#eeeeee", "black"))
            note = row.label
            if row.reason and row.state in ("interrupted", "skipped", "failed"):
                note = f"{row.label}  [{row.reason}" + (f"; {row.policy_action}" if row.policy_action else "") + "]"
            texts = ("" if row.position is None else str(row.position), str(row.id), row.state, row.kind,
                     row.sample, row.gas, row.energies, row.points, row.estimate, note)
            tip = "\n".join(t for t in (row.label, f"run file: {row.run_file}" if row.run_file else "",
                                        f"reason: {row.reason}" if row.reason else "",
                                        f"policy: {row.policy_action}" if row.policy_action else "") if t)
            for c, text in enumerate(texts):
                cell = QTableWidgetItem(text)
                cell.setToolTip(tip)
                cell.setData(Qt.UserRole, row.id)
                if c == 2 or row.state in ("running", "failed"):
                    cell.setBackground(QBrush(QColor(background)))
                    cell.setForeground(QBrush(QColor(colour)))
                if row.current:
                    font = QFont(cell.font())
                    font.setBold(True)
                    cell.setFont(font)
                table.setItem(r, c, cell)
            if row.id == self.selected_id:
                select = r
        table.clearSelection()
        if select is not None:
            table.selectRow(select)
        elif self.selected_id is not None:
            self.selected_id = None  # removed meanwhile
        table.blockSignals(False)

    def _draw_status(self, model) -> None:
        self.runner_label.setText(model.runner_text())
        foreign = model.foreign_runner
        self.runner_label.setStyleSheet(f"color: {COLOURS['retrying']}; font-weight: bold;" if foreign else "")
        text = model.status_text()
        counts = model.counts()
        text += (f"\nitems: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed, "
                 f"{counts['to do']} to do")
        if model.stop_request:
            text += f" · STOP requested after the current {model.stop_request}"
        if model.error:
            text = f"{model.error}  (showing what was read last)"
        self.status_label.setText(text)
        waiting = model.waiting_for_operator
        colour = COLOURS["fault"] if model.error else "#1f4e9c" if waiting else "black"
        self.status_label.setStyleSheet(f"font-weight: bold; color: {colour};")
        done, total = model.progress()
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat("%v / %m points" if total else "no plan running")
        self.last_event.setText(f"last event: {model.last_event_text()}" if model.last_event_text() else "")

    def _draw_events(self, model) -> None:
        self.events.clear()
        for event in reversed(model.events):  # newest first
            item = f" item {event.item_id}" if event.item_id is not None else ""
            self.events.addItem(f"{event.utc}{item} {event.kind}: {event.text}")
        rows = list(reversed(model.history))
        self.history.setRowCount(len(rows))
        for r, a in enumerate(rows):
            note = a.run_file or "-"
            if a.reason and a.status != "success":
                note += f"  [{a.reason}]"
            texts = (str(a.item_id), str(a.attempt), a.status, a.start_utc, a.end_utc or "(open)",
                     f"{a.points_done} (file {a.points_in_file}/{a.points_planned})", note)
            for c, text in enumerate(texts):
                cell = QTableWidgetItem(text)
                cell.setToolTip(note)
                self.history.setItem(r, c, cell)

    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        item = self.table.item(rows[0].row(), 0) if rows else None
        self.selected_id = item.data(Qt.UserRole) if item is not None else None
        self.redraw()

    def select(self, item_id: int | None) -> None:
        """Select the row of ``item_id`` (tests, and after an add)."""
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.UserRole) == item_id:
                self.table.selectRow(r)
                return
        self.table.clearSelection()

    # ------------------------------------------------------------ problems
    def show_problem(self, error, source: str | None = None, what: str = "") -> None:
        """A refusal: a plan's issues as the scan control lists them (file, key, value,
        allowed), or the store's one line.  None clears it."""
        if error is None:
            self.problem.setVisible(False)
            self.issues.setVisible(False)
            self.issues.setRowCount(0)
            return
        if source and not getattr(error, "source", None):
            try:
                error.source = source
            except AttributeError:
                pass
        issues = getattr(error, "issues", None)
        if issues:
            n = len(fill_issue_table(self.issues, error))
            name = os.path.basename(str(getattr(error, "source", "") or source or "the plan"))
            text = f"{n} problem{'s' * (n != 1)} in {name}: {what or 'refused'}"
        else:
            self.issues.setRowCount(0)
            text = f"{what or 'refused'}: {' '.join(str(error).split())}"
        self.issues.setVisible(bool(issues))
        self.problem.setText(f"<b style='color:{COLOURS['fault']}'>{_escape(text)}</b>")
        self.problem.setVisible(True)

    def _act(self, what: str, fn, *, source: str | None = None):
        """Run one change; a refusal is shown (and logged), nothing changed then."""
        from acquisition.queue import QueueError

        try:
            result = fn()
        except (QueueError, ValueError, OSError) as exc:  # ConfigError is a ValueError: every issue listed
            self.show_problem(exc, source, what)
            self.noted.emit("warning", f"queue: {what}: {' '.join(str(exc).split())}")
            self.poll()
            return None
        self.show_problem(None)
        self.poll()
        return result

    # ------------------------------------------------------------ actions
    def add_plan(self, path: str | None = None):
        """Check a plan file against the window's apparatus and queue it (last)."""
        if self.controller is None:
            return None
        path = path or self.ask_plan()
        if not path:
            return None
        item = self._act("not queued", lambda: self.controller.add_plan(path, self.config), source=str(path))
        if item is not None:
            self.noted.emit("info", f"queue: queued item {item.id}: {item.label}")
        return item

    def add_instruction(self, kind: str, argument: str | None = None):
        if self.controller is None:
            return None
        if argument is None:
            argument = self._ask_argument(kind, "")
            if argument is None:
                return None
        item = self._act(f"{kind} not queued", lambda: self.controller.add_instruction(kind, argument))
        if item is not None:
            self.noted.emit("info", f"queue: queued item {item.id}: {item.label}")
        return item

    def _ask_argument(self, kind: str, current: str) -> str | None:
        from acquisition.queue import SAFE_STATES

        if kind == "pause-for-operator":
            return self.ask_text("Pause for the operator", "Message for the operator (Continue goes on):",
                                 current or "change the gas bottle")
        if kind == "wait-until":
            return self.ask_text("Wait until", "HH:MM (local time, the next such moment) or an ISO 8601 date and time:",
                                 current or "06:30")
        return self.ask_choice("Safe state", "Put the apparatus in:", list(SAFE_STATES), current or "shutdown")

    def edit_selected(self):
        model, item_id = self.model, self.selected_id
        row = model.item(item_id) if model is not None else None
        if row is None or self.controller is None:
            return None
        if row.kind == "plan":
            path = self.ask_plan(f"Replace the plan of item {row.id}")
            if not path:
                return None
            return self._act(f"item {row.id} not changed",
                             lambda: self.controller.edit_plan(row.id, path, self.config), source=str(path))
        argument = self._ask_argument(row.kind, row.argument)
        if argument is None:
            return None
        return self._act(f"item {row.id} not changed", lambda: self.controller.edit_argument(row.id, argument))

    def remove_selected(self):
        item_id = self.selected_id
        if item_id is None or self.controller is None:
            return None
        item = self._act(f"item {item_id} not removed", lambda: self.controller.remove(item_id))
        if item is not None:
            self.noted.emit("info", f"queue: removed item {item.id}: {item.label}")
        return item

    def move_selected(self, direction: int):
        item_id = self.selected_id
        if item_id is None or self.controller is None:
            return None
        return self._act(f"item {item_id} not moved", lambda: self.controller.move(item_id, direction))

    def retry_selected(self):
        item_id = self.selected_id
        if item_id is None or self.controller is None:
            return None
        return self._act(f"item {item_id} not queued again", lambda: self.controller.retry(item_id))

    def stop(self, mode: str) -> None:
        if self.controller is None:
            return
        if self._act("stop not requested", lambda: self.controller.stop(mode) or True):
            self.noted.emit("warning", f"queue: stop requested after the current {mode}")

    def continue_(self) -> None:
        if self.controller is None:
            return
        if self._act("not continued", lambda: self.controller.continue_() or True):
            self.noted.emit("info", "queue: continue: the runner goes on after the pause for the operator")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
