"""The window's operator: a dialog that asks for a gas line's pressure (RFM runs).

:class:`DialogOperator` is what the session's RFM procedure calls on the engine thread
(:class:`acquisition.operator.Operator`).  It opens a :class:`PressureDialog` on the GUI
thread through a queued signal and, while the dialog is open, reads the line's
manometer every second on the engine thread (the driver never leaves it) and feeds the
readings to the dialog's Qt-free :class:`~gui.viewmodels.operator.PressurePrompt`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout

from acquisition.operator import OperatorDeclined
from acquisition.runner import Abort
from gui.viewmodels.operator import CONFIRMED, PressurePrompt

__all__ = ["DialogOperator", "PressureDialog"]


class PressureDialog(QDialog):
    """A thin view of a :class:`PressurePrompt`: its text, the live reading, Confirm
    (enabled only within tolerance) and Stop the run."""

    def __init__(self, prompt: PressurePrompt, parent=None) -> None:
        super().__init__(parent)
        self.prompt = prompt
        self.setWindowTitle(prompt.title())
        # not modal: the main window's HV OFF and Stop motion must stay at hand meanwhile
        self.setModal(False)
        layout = QVBoxLayout(self)
        text = QLabel(prompt.text())
        text.setWordWrap(True)
        layout.addWidget(text)
        self.setMinimumWidth(480)
        self.reading = QLabel(prompt.reading_text())
        self.reading.setObjectName("reading")
        font = self.reading.font()  # the number the operator watches while turning the valve
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.reading.setFont(font)
        layout.addWidget(self.reading)
        buttons = QDialogButtonBox()
        self.confirm_button = QPushButton("Confirmed: it reads the target")
        self.stop_button = QPushButton("Stop the run")
        buttons.addButton(self.confirm_button, QDialogButtonBox.AcceptRole)
        buttons.addButton(self.stop_button, QDialogButtonBox.RejectRole)
        layout.addWidget(buttons)
        self.confirm_button.clicked.connect(self._confirm)
        self.stop_button.clicked.connect(self._stop)
        self._closing = False
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        if self.prompt.answered and self.isVisible():  # declined elsewhere (the run aborted)
            self._closing = True
            self.timer.stop()
            self.reject()
            return
        self.reading.setText(self.prompt.reading_text())
        within = self.prompt.within
        self.reading.setStyleSheet("color: #1b7f2a;" if within else "color: #b35900;")
        self.confirm_button.setEnabled(within)

    def _stop(self) -> None:
        """Only the button stops the run: Esc or the window's close would be a slip."""
        self.prompt.decline()
        self._closing = True
        self.timer.stop()
        self.reject()

    def reject(self) -> None:  # Esc, the close button of the window
        if self._closing:
            super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's naming
        if not self._closing:
            event.ignore()  # the run waits for an answer: Confirmed or Stop the run
            return
        super().closeEvent(event)

    def _confirm(self) -> None:
        refusal = self.prompt.confirm()
        if refusal is None:
            self.timer.stop()
            self.accept()
        else:
            self.reading.setText(refusal)


class DialogOperator(QObject):
    """An :class:`~acquisition.operator.Operator` that asks with a dialog of ``parent``'s."""

    _ask = Signal(object)

    def __init__(self, parent=None, *, read_interval_s: float = 1.0) -> None:
        super().__init__(parent)
        self.read_interval_s = read_interval_s
        self.dialog: PressureDialog | None = None  #: the open dialog (tests)
        self._ask.connect(self._open, Qt.QueuedConnection)

    def _open(self, prompt: PressurePrompt) -> None:
        self.dialog = PressureDialog(prompt, self.parent())
        self.dialog.show()

    def set_line_pressure(self, request, read) -> None:
        prompt = PressurePrompt(request)
        self._ask.emit(prompt)
        while True:
            try:
                prompt.update(read())
            except Abort:  # the run is being aborted: the dialog closes itself
                prompt.decline()
                raise
            except Exception as exc:  # a gauge hiccup must not lose the prompt
                prompt.update(float("nan"), str(exc))
            answer = prompt.wait(self.read_interval_s)
            if answer == CONFIRMED:
                return
            if answer is not None:
                raise OperatorDeclined(f"the operator declined to {request.describe()}")
