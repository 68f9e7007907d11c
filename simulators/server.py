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

from foundation.clock import RealClock

__all__ = [
    "Emulator",
    "LineEmulator",
    "CommandEmulator",
    "ScpiEmulator",
    "ScpiError",
    "scpi_pattern",
    "Faults",
    "InstrumentServer",
    "LOOPBACK",
]

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


class CommandEmulator(LineEmulator):
    """A line instrument driven by a table of headers in the manual's mixed case.

    ``;`` separates commands on a line; ``self.command("MEASure:VOLTage?", fn)``
    registers a handler that takes the parameter text and returns the reply (or
    ``None``).  What a refused or an unknown command does is the model's own:
    a SCPI instrument queues an error (:class:`ScpiEmulator`), an iseg module sets
    an Is Input Error bit.  Handlers refuse by raising :attr:`refusal`.
    """

    refusal: type[Exception] = Exception

    def __init__(self, world) -> None:
        super().__init__(world)
        self._handlers: list[tuple[re.Pattern, Callable[[str], str | None]]] = []

    def command(self, header: str, handler: Callable[[str], str | None]) -> None:
        """Register ``handler`` for ``header`` (mixed case; ``[...]`` parts optional)."""
        query = header.endswith("?")
        pattern = scpi_pattern(header[:-1] if query else header) + (r"\?" if query else "")
        self._handlers.append((re.compile(pattern + "$", re.IGNORECASE), handler))

    def handle(self, line: str) -> str | None:
        replies = []
        for part in line.split(";"):
            m = _HEADER.match(part.strip())
            if m is None:
                continue
            reply = self._execute(m.group(1), m.group(2).strip())
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _execute(self, header: str, arg: str) -> str | None:
        for pattern, handler in self._handlers:
            if pattern.match(header):
                try:
                    reply = handler(arg)
                except self.refusal as exc:
                    self.refused(header, arg, exc)
                    return None
                self.accepted(header, arg)
                return reply
        self.undefined(header, arg)
        return None

    def refused(self, header: str, arg: str, exc: Exception) -> None:
        """A handler refused the command (override: the model's way of saying so)."""

    def accepted(self, header: str, arg: str) -> None:
        """A command was carried out (override if acceptance clears an error state)."""

    def undefined(self, header: str, arg: str) -> None:
        """No handler for ``header`` (override)."""


_HEADER = re.compile(r"([^\s(]+)\s*(.*)$", re.DOTALL)


class ScpiError(Exception):
    """Raised by a handler: the command is refused and ``(code, message)`` queued."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message!r}")
        self.code = code
        self.message = message


class ScpiEmulator(CommandEmulator):
    """An IEEE 488.2 / SCPI instrument: headers, ``;``-separated commands, error queue.

    Register handlers in the manual's mixed case: ``self.command("MEASure:VOLTage?",
    fn)``.  A handler takes the parameter text (``""`` when there is none) and returns
    the reply text (queries) or ``None``; it raises :class:`ScpiError` to refuse.
    An unknown header queues ``-113,"Undefined header"``.  The common commands
    ``*IDN? *CLS *RST *OPC *OPC? SYSTem:ERRor[:NEXT]?`` are built in; a subclass sets
    :attr:`idn` and overrides :meth:`reset` (which ``*RST`` calls).
    """

    idn = "xbeam,SCPI emulator,0,0"
    error_queue_size = 20

    refusal = ScpiError

    def __init__(self, world) -> None:
        super().__init__(world)
        self.errors: list[tuple[int, str]] = []
        self.command("*IDN?", lambda arg: self.idn)
        self.command("*CLS", lambda arg: self.clear_status())
        self.command("*RST", lambda arg: self.reset())
        self.command("*OPC", lambda arg: None)
        self.command("*OPC?", lambda arg: "1")
        self.command("SYSTem:ERRor[:NEXT]?", lambda arg: self.next_error())

    # ------------------------------------------------------------ error queue
    def push_error(self, code: int, message: str) -> None:
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, message))

    def format_error(self, code: int, message: str) -> str:
        return f'{code:+d},"{message}"'

    def next_error(self) -> str:
        code, message = self.errors.pop(0) if self.errors else (0, "No error")
        return self.format_error(code, message)

    def clear_status(self) -> None:
        """``*CLS``: empty the error queue."""
        self.errors.clear()

    def reset(self) -> None:
        """``*RST``: the model's defaults (override)."""

    # ------------------------------------------------------- refusals
    def refused(self, header: str, arg: str, exc: Exception) -> None:
        self.push_error(exc.code, exc.message)

    def undefined(self, header: str, arg: str) -> None:
        self.push_error(-113, "Undefined header")

    # ------------------------------------------------- parameter helpers
    @staticmethod
    def boolean(arg: str) -> bool:
        """``ON|OFF|1|0`` -> bool; anything else is ``-224 Illegal parameter value``."""
        text = arg.strip().upper()
        if text in ("ON", "1"):
            return True
        if text in ("OFF", "0"):
            return False
        if not text:
            raise ScpiError(-109, "Missing parameter")
        raise ScpiError(-224, "Illegal parameter value")

    @staticmethod
    def number(arg: str) -> float:
        """A numeric parameter (``<NRf>``); ``-109``/``-104`` when missing or not a number."""
        text = arg.strip()
        if not text:
            raise ScpiError(-109, "Missing parameter")
        try:
            return float(text)
        except ValueError:
            raise ScpiError(-104, "Data type error") from None


class Faults:
    """Faults a test injects into an :class:`InstrumentServer`.

    ``inject(kind)`` arms one fault for the next exchange: ``"drop"`` closes the
    connection when the next request arrives (no reply), ``"truncate"`` sends the first
    half of the next reply and closes, ``"garble"`` replaces the next reply by
    non-ASCII junk (terminator kept), ``"silence"`` swallows the next reply.  The
    command itself is still executed (the instrument heard it).  ``delay_s`` delays
    every reply by that much wall time.
    """

    KINDS = ("drop", "truncate", "garble", "silence")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self.delay_s = 0.0

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(self.KINDS)}")
        with self._lock:
            self._pending.extend([kind] * count)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
        self.delay_s = 0.0

    @property
    def pending(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._pending)

    def _take(self, kinds: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._pending and self._pending[0] in kinds:
                return self._pending.pop(0)
            return None


def garble(reply: bytes, termination: bytes) -> bytes:
    """Junk of the reply's length that no parser accepts, ending like a reply."""
    body = reply[: -len(termination)] if termination and reply.endswith(termination) else reply
    return b"\xfe#" + body[::-1] + b"\x15" + termination


class InstrumentServer:
    """Serve one emulator on ``127.0.0.1:port`` (0 = any free port), one thread per client.

    ``lock`` (normally ``world.lock``) is held while the emulator digests bytes, so
    emulators never see the world half-updated.
    """

    def __init__(self, emulator: Emulator, port: int = 0, lock=None) -> None:
        self.emulator = emulator
        self.lock = lock if lock is not None else threading.RLock()
        self.faults = Faults()
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.port = 0

    # ------------------------------------------------------------- addresses
    @property
    def socket_url(self) -> str:
        """pyserial URL (serial instruments)."""
        return f"socket://{LOOPBACK}:{self.port}"

    @property
    def visa_address(self) -> str:
        """VISA raw-socket resource (SCPI instruments)."""
        return f"TCPIP::{LOOPBACK}::{self.port}::SOCKET"

    # ------------------------------------------------------------- lifecycle
    def start(self) -> "InstrumentServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self._requested_port))
        listener.listen(8)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, f"{self.emulator.model} server :{self.port}")
        log.debug("%s served on %s:%d", self.emulator.model, LOOPBACK, self.port)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            # on Linux close() alone does not wake a thread blocked in accept(); shutdown does
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self._listener.close()
            except OSError:
                pass
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> "InstrumentServer":
        return self.start() if self._listener is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Close every client connection (a cable pulled); the emulator keeps its state."""
        with self._clients_lock:
            clients, self._clients = list(self._clients), set()
        for conn in clients:
            _close(conn)

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # listener closed by stop()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._clients_lock:
                self._clients.add(conn)
            with self.lock:
                self.emulator.on_connect()
            self._spawn(self._serve, f"{self.emulator.model} client", conn)

    def _serve(self, conn: socket.socket) -> None:
        termination = getattr(self.emulator, "reply_termination", b"\n")
        try:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                _quick_ack(conn)
                if self.faults._take(("drop",)):
                    return
                with self.lock:
                    reply = self.emulator.feed(data)
                if not reply:
                    continue
                if self.faults.delay_s > 0:
                    _wall.sleep(self.faults.delay_s)
                fault = self.faults._take(("truncate", "garble", "silence"))
                if fault == "silence":
                    continue
                if fault == "garble":
                    reply = garble(reply, termination)
                if fault == "truncate":
                    conn.sendall(reply[: max(1, len(reply) // 2)])
                    return
                conn.sendall(reply)
        except OSError:
            return
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            _close(conn)


def _quick_ack(conn: socket.socket) -> None:
    # Acknowledge at once: a host that writes a command and then a query (Nagle on,
    # as pyvisa-py's socket is) would otherwise wait for our delayed ACK, 40 ms a time.
    # Linux clears the flag after use, so it is set after every receive.
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.close()
    except OSError:
        pass
