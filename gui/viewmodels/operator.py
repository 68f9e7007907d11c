"""The operator's pressure request as the window shows it: Qt-free.

The RFM procedure asks (on the engine thread) for a line to be set to a pressure; the
window's :class:`gui.operator_dialog.DialogOperator` turns that into a
:class:`PressurePrompt`, which the engine thread keeps fed with the line's readings
(the driver is only ever used on the engine thread) and the dialog shows.  The answer
goes back through :meth:`PressurePrompt.wait`.  A confirmation outside the tolerance is
refused: the dialog's button only ever confirms a reading within it.
"""

from __future__ import annotations

import math
import threading

from acquisition.operator import PressureRequest, within

__all__ = ["PressurePrompt", "CONFIRMED", "DECLINED"]

CONFIRMED, DECLINED = "confirmed", "declined"


class PressurePrompt:
    def __init__(self, request: PressureRequest) -> None:
        self.request = request
        self.reading = math.nan
        self.error = ""  #: why the last reading failed ("" if it did not)
        self._answer: str | None = None
        self._cond = threading.Condition()

    # ------------------------------------------------ the engine thread
    def update(self, reading: float, error: str = "") -> None:
        with self._cond:
            self.reading, self.error = reading, error

    def wait(self, timeout_s: float) -> str | None:
        """The operator's answer, or None if there is none yet after ``timeout_s``."""
        with self._cond:
            if self._answer is None:
                self._cond.wait(timeout_s)
            return self._answer

    # ------------------------------------------------ the window
    @property
    def answered(self) -> bool:
        return self._answer is not None

    @property
    def within(self) -> bool:
        return within(self.request, self.reading)

    def title(self) -> str:
        r = self.request
        return f"Set the {r.gas} line ({r.line}) to {r.target_mbar:.4g} mbar"

    def text(self) -> str:
        r = self.request
        lines = [f"Turn the {r.gas} leak valve until its manometer reads {r.target_mbar:.4g} mbar "
                 f"(within {r.tolerance:.0%}: {r.target_mbar * (1 - r.tolerance):.4g} to "
                 f"{r.target_mbar * (1 + r.tolerance):.4g} mbar)."]
        if r.why:
            lines.append(f"Why: {r.why}.")
        return "\n".join(lines)

    def reading_text(self) -> str:
        if self.error:
            return f"reading: unreadable ({self.error})"
        if not math.isfinite(self.reading):
            return "reading: waiting for the gauge"
        deviation = self.reading / self.request.target_mbar - 1
        state = "within tolerance: confirm" if self.within else "outside tolerance"
        return f"reading: {self.reading:.4g} mbar ({deviation:+.1%}, {state})"

    def confirm(self) -> str | None:
        """Confirm; the refusal text if the reading is not within tolerance."""
        with self._cond:
            if not within(self.request, self.reading):
                return f"{self.reading_text()}: not within {self.request.tolerance:.0%} of the target"
            self._answer = CONFIRMED
            self._cond.notify_all()
            return None

    def decline(self) -> None:
        with self._cond:
            self._answer = self._answer or DECLINED
            self._cond.notify_all()
