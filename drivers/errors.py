"""Typed errors raised by every driver.

Each error names the instrument (model and address), the command that was being
executed and the reply that was received (if any), so that an engine log line or a
GUI message says exactly which cable, which command and which bytes.

The engine decides what to do with them: :class:`TransientError` subclasses
(timeouts, garbled replies, lost connections) are worth a retry; a
:class:`DeviceError` (the instrument refused or reported a fault) or a
:class:`LimitError` (refused before sending) is not.
"""

from __future__ import annotations

__all__ = [
    "InstrumentError",
    "TransientError",
    "InstrumentTimeout",
    "GarbledReply",
    "ReadbackError",
    "ConnectionLost",
    "DeviceError",
    "LimitError",
]


class InstrumentError(Exception):
    """Base of every driver error."""

    def __init__(
        self,
        message: str,
        *,
        instrument: str = "?",
        address: str = "?",
        command: str | None = None,
        reply: bytes | str | None = None,
    ) -> None:
        self.message = message
        self.instrument = instrument
        self.address = address
        self.command = command
        self.reply = reply
        super().__init__(self._format())

    def _format(self) -> str:
        text = f"{self.instrument} at {self.address}: {self.message}"
        if self.command is not None:
            text += f" (command {self.command!r}"
            if self.reply is not None:
                text += f", reply {self.reply!r}"
            text += ")"
        elif self.reply is not None:
            text += f" (reply {self.reply!r})"
        return text

    def with_context(self, *, instrument: str, address: str, command: str | None) -> "InstrumentError":
        """Fill in instrument, address and command where the raiser did not know them."""
        if self.instrument == "?":
            self.instrument = instrument
        if self.address == "?":
            self.address = address
        if self.command is None:
            self.command = command
        self.args = (self._format(),)
        return self


class TransientError(InstrumentError):
    """A communication fault that a retry may cure."""


class InstrumentTimeout(TransientError):
    """No (complete) reply within the timeout."""


class GarbledReply(TransientError):
    """A reply arrived but does not parse as the protocol says."""


class ReadbackError(GarbledReply):
    """A reply that parses but contradicts what the driver knows.

    A readback outside the configured limits, or far from the value the driver last
    commanded: a late reply, crosstalk or one wrong digit makes any parseable number,
    so such a readback is never used as a starting point.  Transient like every
    garbled reply (a retry reads again); a device that really holds another value
    fails again, and the fault reaches the operator.  ``readback`` is the value read,
    ``commanded`` the value last commanded (None if nothing was commanded yet).
    """

    def __init__(self, message: str, *, readback: float, commanded: float | None = None, **context) -> None:
        self.readback = readback
        self.commanded = commanded
        super().__init__(message, **context)


class ConnectionLost(TransientError):
    """The link dropped (socket closed, serial port gone); the next call reconnects."""


class DeviceError(InstrumentError):
    """The instrument reported an error (error queue entry, NAK, fault status)."""

    def __init__(self, message: str, *, code: int | None = None, **context) -> None:
        self.code = code
        super().__init__(message, **context)


class LimitError(InstrumentError, ValueError):
    """A setting outside the configured limits; raised before anything is sent."""
