"""The log: every message, suspension, pause and stop, newest at the bottom, warnings
in amber and errors in red."""

from __future__ import annotations

import html

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from gui.widgets.common import COLOURS

__all__ = ["LogPanel"]

_LEVEL_COLOUR = {"warning": "#b36b00", "error": COLOURS["fault"], "critical": COLOURS["fault"], "debug": "#777"}


class LogPanel(QPlainTextEdit):
    """Draws a :class:`~gui.viewmodels.log.LogModel`, appending only new lines."""

    def __init__(self, parent: QWidget | None = None, maxlen: int = 5000) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(maxlen)
        font = QFont("monospace")
        font.setStyleHint(QFont.Monospace)
        font.setPointSize(9)
        self.setFont(font)
        self._model = None
        self._version = -1
        self._n = 0  #: lines of the model drawn (its ``added`` count)

    def redraw(self, model) -> None:
        if model is self._model and model.version == self._version:
            return
        records = model.records()
        added = getattr(model, "added", None)
        if model is self._model and records and added is not None and 0 <= added - self._n <= len(records):
            new = records[len(records) - (added - self._n):] if added > self._n else []
        else:  # another model, or lines cleared: draw them all
            self.clear()
            new = records
        self._model, self._version = model, model.version
        for r in new:
            self.add_line(r.utc, r.level, r.text)
        self._n = added if added is not None else len(records)

    def add_line(self, utc: str, level: str, text: str) -> None:
        stamp = utc.replace("T", " ")[:19] if utc else ""
        colour = _LEVEL_COLOUR.get(level)
        body = f"{html.escape(stamp)}  {html.escape(level):7s}  {html.escape(text)}"
        self.appendHtml(f"<span style='color:{colour}'>{body}</span>" if colour else body)
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
