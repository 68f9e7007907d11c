"""Serve an instrument emulator on a loopback TCP port, with fault injection.

VISA instruments are reached as raw SCPI sockets (``TCPIP::127.0.0.1::PORT::SOCKET``),
serial instruments as serial-over-TCP (``socket://127.0.0.1:PORT``): either way the
bytes on the wire are the instrument's own.  The emulator keeps its state across
connections, like a real instrument whose cable is unplugged and plugged back.

Faults a test can inject (:class:`Faults`): drop the connection at the next request,
send half a reply and hang up, garble a reply, stay silent, delay replies.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable

from acquisition.clock import RealClock

__all__ = ["Emulator", "LineEmulator", "ScpiEmulator", "scpi_pattern", "Faults", "InstrumentServer", "LOOPBACK"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_wall = RealClock()  # fault delays are wall time: they exist to trip drivers' wall-time timeouts


class Emulator:
    """Byte-level model of one instrument.  Subclasses implement :meth:`feed`."""

    model = "instrument"

    def __init__(self, world) -> None:
        self.world = world

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the instrument sends back."""
        raise NotImplementedError

    def on_connect(self) -> None:
        """A new connection (cable plugged in): drop half-received input."""


class LineEmulator(Emulator):
    """An instrument that takes one command per terminated line.

    Accepts LF or CR LF (``accept`` lists the terminators); replies end with
    ``reply_termination``.  :meth:`handle` returns the reply text or ``None``.
    """

    accept: tuple[bytes, ...] = (b"\n",)
    reply_termination = b"\n"
    encoding = "ascii"

    def __init__(self, world) -> None:
        super().__init__(world)
        self._buffer = b""
        self._split = re.compile(b"|".join(re.escape(t) for t in self.accept))

    def on_connect(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = b""
        while True:
            m = self._split.search(self._buffer)
            if m is None:
                return out
            line, self._buffer = self._buffer[: m.start()], self._buffer[m.end() :]
            line = line.rstrip(b"\r")
            reply = self.handle(line.decode(self.encoding, "replace").strip())
            if reply is not None:
                out += reply.encode(self.encoding) + self.reply_termination

    def handle(self, line: str) -> str | None:
        raise NotImplementedError


def scpi_pattern(header: str) -> str:
    """Regex for a SCPI header written in the manual's mixed case.

    ``"CONFigure:TOTalize:TIMed"`` accepts ``CONF:TOT:TIM`` and
    ``CONFIGURE:TOTALIZE:TIMED`` (and mixtures); ``[:SOURce]`` parts are optional.
    """

    def keyword(word: str) -> str:
        short = "".join(ch for ch in word if ch.isupper() or ch.isdigit() or ch in "*?")
        rest = word[len(short) :].upper()
        return re.escape(short) + (f"(?:{re.escape(rest)})?" if rest else "")

    parts = re.findall(r"(\[?):?([^:\[\]]+)\]?", header)
    out = ":?"  # a leading colon is always allowed
    first = True
    for optional, word in parts:
        sep = "" if first else ":"
        piece = f"(?:{sep}{keyword(word)})?" if optional else sep + keyword(word)
        if optional and first:
            # "[:SOURce]:VOLTage": the colon before VOLT belongs to SOURce when present
            piece = f"(?:{keyword(word)}:)?"
            out += piece
            continue
        out += piece
        first = False
    return out
