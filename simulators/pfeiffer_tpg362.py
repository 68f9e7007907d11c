"""Byte-level emulator of the Pfeiffer TPG 362 dual gauge controller.

Channel 1 is the chamber's full-range gauge (PKR, 5e-9 to 1000 mbar, logarithmic),
channel 2 the capacitance manometer behind the gas needle (CMR, 1.1 mbar full scale,
linear, readable down to 1e-4 of full scale).  Both read the shared world.

The mnemonics protocol is emulated byte by byte (see :mod:`drivers.pfeiffer_tpg362`):
a message ends with CR (LF optional, spaces ignored); a valid one is answered with
ACK CR LF and remembered, an invalid one with NAK CR LF and a bit in the error word;
ENQ sends the data of the remembered mnemonic (or the error word if there is none);
ETX clears the input buffer.  Continuous output (``COM``, or ``streaming=True`` for a
unit that streams from power-on) is emulated lazily: when bytes arrive, the lines
that fell due by the clock are sent first, then the first byte ends the stream, as
on the real controller.

Tests set a channel's sensor status with ``emulator.sensor_status[2] = 4`` (sensor
off); status 0 means a healthy sensor whose status follows its measuring range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .server import Emulator

__all__ = ["TPG362Emulator", "Gauge", "PKR", "CMR"]

ACK = b"\x06\r\n"
NAK = b"\x15\r\n"
ETX, ENQ, LF, CR = 0x03, 0x05, 0x0A, 0x0D

#: mbar per reading unit, by UNI code (5 = Volt handled per gauge)
_MBAR_PER_UNIT = {0: 1.0, 1: 1.333223684, 2: 0.01, 3: 1.333223684e-3, 4: 1.0}
#: COM interval codes
_COM_INTERVAL_S = {0: 0.1, 1: 1.0, 2: 60.0}
#: a host's serial buffer holds a few lines; older streamed lines are long gone
_MAX_BACKLOG_LINES = 16
_MAX_MESSAGE = 64  # characters kept in the input buffer

# error word bits
_CONTROLLER, _NO_HARDWARE, _PARAMETER, _SYNTAX = 0b1000, 0b0100, 0b0010, 0b0001


@dataclass(frozen=True)
class Gauge:
    """A gauge type: identification, measuring range, and how it turns pressure into volts."""

    ident: str
    low_mbar: float
    high_mbar: float
    logarithmic: bool
    full_scale_mbar: float = 0.0

    def volts(self, p_mbar: float) -> float:
        if self.logarithmic:
            # PKR characteristic: p = 10^(1.667 U - 9.333) mbar
            return (math.log10(max(p_mbar, 1e-12)) + 9.333) / 1.667
        return 10.0 * p_mbar / self.full_scale_mbar

    def format(self, value: float) -> str:
        """The manual's ``sx.xxxxEsxx``; logarithmic gauges send zeros in the 3rd and 4th decimal."""
        if self.logarithmic:
            mantissa, exponent = f"{value:+.2E}".split("E")
            return f"{mantissa}00E{exponent}"
        return f"{value:+.4E}"


PKR = Gauge("PKR", 5e-9, 1000.0, logarithmic=True)
CMR = Gauge("CMR", 1.1e-4, 1.1, logarithmic=False, full_scale_mbar=1.1)


class _Refused(Exception):
    def __init__(self, bit: int) -> None:
        self.bit = bit


class TPG362Emulator(Emulator):
    """The controller as the host sees it on its serial line (see module docstring)."""

    model = "Pfeiffer TPG 362"
    reply_termination = b"\r\n"  # every reply line ends so (the server's garble keeps it)
    ayt = "TPG362,PTG28290,44990000,010500,010100"

    def __init__(self, world, *, streaming: bool = False) -> None:
        super().__init__(world)
        self.gauges: dict[int, Gauge] = {1: PKR, 2: CMR}
        self.readers: dict[int, Callable[[], float]] = {1: world.chamber_gauge_mbar, 2: world.needle_gauge_mbar}
        #: forced measurement status per channel; 0 = healthy, status from the range
        self.sensor_status: dict[int, int] = {1: 0, 2: 0}
        self.unit_code = 0
        self.error_word = 0
        self._buffer = bytearray()
        self._last: Callable[[], str] | None = None
        self._stream_interval_s: float | None = None
        self._next_line_t = 0.0
        self.received: list[str] = []  # messages received, for tests
        self.streamed_lines = 0  # continuous-output lines sent, for tests
        if streaming:  # a unit that streams from power-on, every second
            self._start_stream(1.0)
        self._handlers: dict[str, Callable[[list[str]], Callable[[], str]]] = {
            "PR1": lambda args: self._no_args(args, lambda: self._pair(1)),
            "PR2": lambda args: self._no_args(args, lambda: self._pair(2)),
            "PRX": lambda args: self._no_args(args, self._both),
            "TID": lambda args: self._no_args(args, self._tid),
            "AYT": lambda args: self._no_args(args, lambda: self.ayt),
            "ERR": lambda args: self._no_args(args, self._read_error_word),
            "UNI": self._uni,
            "COM": self._com,
        }

    # ------------------------------------------------------------ bytes
    def on_connect(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> bytes:
        with self.world.lock:
            out = bytearray()
            if data and self._stream_interval_s is not None:
                out += self._due_lines()
                self._stream_interval_s = None  # the first character received ends the stream
            for byte in data:
                out += self._byte(byte)
            return bytes(out)

    def _byte(self, byte: int) -> bytes:
        if byte == ETX:  # reset of the interface: drop the half-received message
            self._buffer.clear()
            return b""
        if byte == ENQ:
            return self._enquiry()
        if byte == CR:
            message = self._buffer.decode("ascii", "replace")
            self._buffer.clear()
            return self._message(message)
        if byte == LF:  # optional after CR
            return b""
        if len(self._buffer) < _MAX_MESSAGE:
            self._buffer.append(byte)
        return b""

    def _message(self, message: str) -> bytes:
        self.received.append(message)
        text = message.replace(" ", "").upper()
        mnemonic, params = text[:3], text[3:]
        handler = self._handlers.get(mnemonic)
        try:
            if handler is None or (params and not params.startswith(",")):
                raise _Refused(_SYNTAX)
            args = params[1:].split(",") if params else []
            self._last = handler(args)
        except _Refused as refused:
            self.error_word |= refused.bit
            self._last = None
            return NAK
        if mnemonic == "COM":  # ACK is immediately followed by the first line of the stream
            return ACK + self._line()
        return ACK

    def _enquiry(self) -> bytes:
        if self._last is None:  # ENQ without a valid request: the error word
            return (format(self.error_word, "04b") + "\r\n").encode("ascii")
        return (self._last() + "\r\n").encode("ascii")

    # ------------------------------------------------------------ mnemonics
    @staticmethod
    def _no_args(args: list[str], reader: Callable[[], str]) -> Callable[[], str]:
        if args:
            raise _Refused(_PARAMETER)
        return reader

    def _uni(self, args: list[str]) -> Callable[[], str]:
        if len(args) > 1 or (args and args[0] not in {"0", "1", "2", "3", "4", "5"}):
            raise _Refused(_PARAMETER)
        if args:
            self.unit_code = int(args[0])
        return lambda: str(self.unit_code)

    def _com(self, args: list[str]) -> Callable[[], str]:
        if len(args) > 1 or (args and args[0] not in {"0", "1", "2"}):
            raise _Refused(_PARAMETER)
        self._start_stream(_COM_INTERVAL_S[int(args[0]) if args else 1])
        return lambda: str(int(args[0]) if args else 1)

    def _read_error_word(self) -> str:
        word = format(self.error_word, "04b")
        self.error_word = 0  # the error word is cancelled when read out
        return word

    def _tid(self) -> str:
        names = []
        for ch in (1, 2):
            status = self.sensor_status.get(ch, 0)
            names.append({5: "noSEn", 6: "noid"}.get(status, self.gauges[ch].ident))
        return ",".join(names)

    # ------------------------------------------------------------ readings
    def _measure(self, channel: int) -> tuple[int, float]:
        """Status and pressure in mbar, as the controller sees its gauge."""
        forced = self.sensor_status.get(channel, 0)
        if forced == 5:
            return 5, 2.0e-2  # the manual's reading for "no sensor"
        if forced in (3, 4, 6):
            return forced, 0.0
        gauge = self.gauges[channel]
        p = self.readers[channel]()
        if forced == 1 or p < gauge.low_mbar:
            return 1, gauge.low_mbar
        if forced == 2 or p > gauge.high_mbar:
            return 2, gauge.high_mbar
        return 0, p

    def _in_unit(self, channel: int, p_mbar: float) -> float:
        if self.unit_code == 5:
            return self.gauges[channel].volts(p_mbar) if p_mbar > 0 else 0.0
        return p_mbar / _MBAR_PER_UNIT[self.unit_code]

    def _pair(self, channel: int) -> str:
        status, p = self._measure(channel)
        return f"{status},{self.gauges[channel].format(self._in_unit(channel, p))}"

    def _both(self) -> str:
        return f"{self._pair(1)},{self._pair(2)}"

    # ------------------------------------------------------------ continuous output
    def _start_stream(self, interval_s: float) -> None:
        self._stream_interval_s = interval_s
        self._next_line_t = self.world.now() + interval_s

    def _line(self) -> bytes:
        self.streamed_lines += 1
        return (self._both() + "\r\n").encode("ascii")

    def _due_lines(self) -> bytes:
        """The lines that fell due since the last one, the host keeping the latest few.

        Every line carries the present reading: the host only ever discards them.
        """
        now = self.world.now()
        due = 0
        if now >= self._next_line_t:
            due = int((now - self._next_line_t) // self._stream_interval_s) + 1
            self._next_line_t += due * self._stream_interval_s
        return b"".join(self._line() for _ in range(min(due, _MAX_BACKLOG_LINES)))

    @property
    def streaming(self) -> bool:
        return self._stream_interval_s is not None
