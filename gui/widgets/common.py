"""Small pieces every panel uses: the guarded spin box, the connection light, number
formatting, and the palette (one place for the colours that carry meaning)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

__all__ = [
    "COLOURS",
    "GuardedSpinBox",
    "StatusLight",
    "fmt_amps",
    "fmt_mbar",
    "fmt_number",
    "fmt_duration",
]

#: meaning -> colour (the lights, the banner, the meter, the markers)
COLOURS = {
    "ok": "#2e9e44",
    "retrying": "#e0a000",
    "fault": "#d42020",
    "unknown": "#8a8a8a",
    "saturated": "#e01010",
    "warning": "#ff8c00",
    "pending": "#fff3b0",
}


def fmt_number(value: float | None, fmt: str = ".2f", unit: str = "") -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:{fmt}}" + (f" {unit}" if unit else "")


def fmt_mbar(value: float | None) -> str:
    """Pressures in scientific notation (they span decades)."""
    return fmt_number(value, ".2e", "mbar")


def fmt_amps(value: float | None) -> str:
    """A beam current in nA."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 1e9:.2f} nA"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class GuardedSpinBox(QDoubleSpinBox):
    """A setpoint entry that never changes by accident.

    * the mouse wheel does nothing unless the box has the keyboard focus (scrolling the
      panel past it must not retune a lens);
    * it takes focus by click or Tab only (``StrongFocus``);
    * typing does not emit values as they are typed (``keyboardTracking`` off), and the
      value is *applied* only on Enter: :attr:`applied` is emitted then and only then;
      a typed value not yet applied is shown on a pale yellow ground, and Escape
      restores the last applied value.
    """

    applied = Signal(float)

    def __init__(self, minimum: float, maximum: float, decimals: int = 2, step: float = 1.0,
                 suffix: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setKeyboardTracking(False)
        self.setDecimals(decimals)
        self.setRange(minimum, maximum)
        self.setSingleStep(step)
        if suffix:
            self.setSuffix(f" {suffix}")
        self.setAccelerated(False)
        self._committed = self.value()
        self.setToolTip(f"{minimum:g} … {maximum:g}{(' ' + suffix) if suffix else ''}: type a value and press Enter")
        self.valueChanged.connect(self._mark)
        self.lineEdit().textEdited.connect(lambda _text: self._mark())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area behind scrolls instead

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.interpretText()
            self._committed = self.value()
            self._mark()
            self.applied.emit(self.value())
            event.accept()
            return
        if event.key() == Qt.Key_Escape:
            self.revert()
            event.accept()
            return
        super().keyPressEvent(event)

    def revert(self) -> None:
        self.blockSignals(True)
        self.setValue(self._committed)
        self.blockSignals(False)
        self._mark()

    def set_committed(self, value: float) -> None:
        """Show ``value`` as the applied setpoint (unless the operator is typing)."""
        if self.pending and self.hasFocus():
            return
        self.blockSignals(True)
        self.setValue(value)
        self.blockSignals(False)
        self._committed = self.value()
        self._mark()

    @property
    def pending(self) -> bool:
        """A value is typed or stepped but not applied with Enter."""
        return self.lineEdit().text() != self.textFromValue(self._committed) + self.suffix()

    def _mark(self, *_args) -> None:
        self.setStyleSheet(f"QDoubleSpinBox {{ background: {COLOURS['pending']}; }}" if self.pending else "")


class StatusLight(QWidget):
    """A coloured dot and a short text: ok green, retrying amber, fault red (the reason
    in the text and the tooltip), unknown grey."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.dot = QLabel("●")
        self.dot.setFixedWidth(18)
        self.label = QLabel(name)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.dot)
        layout.addWidget(self.label, 1)
        self.state = ""
        self.reason = ""
        self.set_state("unknown", "")

    def set_state(self, state: str, reason: str = "") -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        colour = COLOURS.get(state, COLOURS["unknown"])
        self.dot.setStyleSheet(f"color: {colour}; font-size: 16px;")
        text = self.name if state in ("ok", "unknown") else f"{self.name}: {state.upper()}"
        if reason and state != "ok":
            short = reason if len(reason) <= 60 else reason[:57] + "…"
            text += f" — {short}"
        self.label.setText(text)
        self.label.setStyleSheet(f"color: {colour}; font-weight: bold;" if state in ("fault", "retrying") else "")
        tip = f"{self.name}: {state}" + (f"\n{reason}" if reason else "")
        self.setToolTip(tip)
        self.dot.setToolTip(tip)
        self.label.setToolTip(tip)
