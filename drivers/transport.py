"""Byte transports: the one place where drivers touch pyvisa or pyserial.

A driver is constructed from an *address*:

* a VISA resource string (``TCPIP::127.0.0.1::5025::SOCKET``, ``GPIB0::14::INSTR``,
  ``ASRL/dev/ttyUSB0::INSTR``), opened with pyvisa and a selectable backend
  (``@py`` = pyvisa-py by default, ``@ivi`` for a vendor VISA, ``file.yaml@sim`` for
  pyvisa-sim);
* a pyserial URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``,
  ``rfc2217://host:port``), opened with ``serial.serial_for_url``.

Both give the same small interface (:class:`Transport`): write bytes, read up to a
terminator, discard pending input, close, reopen.  Library exceptions are translated
into :mod:`drivers.errors` here, once, so that every driver raises the same types.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from time import monotonic as _monotonic  # I/O deadlines only; waits go through the clock

from .errors import ConnectionLost, InstrumentError, InstrumentTimeout

__all__ = ["SerialSettings", "Transport", "SerialTransport", "VisaTransport", "open_transport", "is_visa_address"]

log = logging.getLogger(__name__)

_VISA_PREFIX = re.compile(r"^(TCPIP\d*|GPIB\d*|USB\d*|ASRL|VXI\d*|PXI\d*)", re.IGNORECASE)


def is_visa_address(address: str) -> bool:
    """True for a VISA resource string, False for a pyserial port or URL."""
    return "::" in address and bool(_VISA_PREFIX.match(address))


@dataclass(frozen=True)
class SerialSettings:
    """Line settings of a serial instrument (ignored by TCP sockets)."""

    baud_rate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False


def _read_socket_until(sock, pending: bytearray, terminator: bytes, deadline: float) -> tuple[bytes, bytearray, bool]:
    """Read ``sock`` until ``terminator`` or the ``deadline`` (``monotonic()`` time), whatever comes first.

    ``pending`` holds bytes read before (after an earlier terminator).  Returns
    ``(data, rest, complete)``: ``data`` up to and including the terminator when
    ``complete``, else the partial bytes at the deadline; ``rest`` is what arrived after
    the terminator, for the next read.  One overall deadline, however the bytes trickle
    in: a device streaming without a terminator cannot hold the caller past it.
    Raises ``ConnectionResetError`` when the peer hangs up.
    """
    import select

    buf = pending
    while True:
        pos = buf.find(terminator)
        if pos >= 0:
            end = pos + len(terminator)
            return bytes(buf[:end]), buf[end:], True
        remaining = deadline - _monotonic()
        if remaining <= 0:
            return bytes(buf), bytearray(), False
        ready, _, _ = select.select([sock], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        if not chunk:
            raise ConnectionResetError("socket disconnected")
        buf += chunk


class Transport:
    """A byte stream to one instrument."""

    address: str = "?"
    #: True where a fresh connection is a clean slate (TCP): after a timeout the driver
    #: reconnects, so a reply that arrives late dies with the old connection instead of
    #: answering the next query.  A real serial line has no such thing.
    reconnect_to_resync: bool = False

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read_until(self, terminator: bytes) -> bytes:
        """Read up to and including ``terminator``; return the bytes *without* it.

        Raises :class:`InstrumentTimeout` (with the partial bytes as ``reply``) when
        the terminator does not arrive in time, :class:`ConnectionLost` when the peer
        has gone.
        """
        raise NotImplementedError

    def clear_input(self) -> None:
        """Discard whatever has arrived and not been read (after a timeout)."""

    def close(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        raise NotImplementedError

    @property
    def is_open(self) -> bool:
        raise NotImplementedError


class SerialTransport(Transport):
    """pyserial port or URL (``socket://``, ``rfc2217://``, device path)."""

    def __init__(self, address: str, settings: SerialSettings, timeout_s: float) -> None:
        self.address = address
        self.reconnect_to_resync = address.lower().startswith(("socket://", "rfc2217://"))
        self.settings = settings
        self.timeout_s = timeout_s
        self._port = None
        self._pending = bytearray()

    def open(self) -> None:
        import serial

        self._pending = bytearray()
        s = self.settings
        try:
            self._port = serial.serial_for_url(
                self.address,
                baudrate=s.baud_rate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                xonxoff=s.xonxoff,
                rtscts=s.rtscts,
                timeout=self.timeout_s,
                write_timeout=self.timeout_s,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectionLost(f"cannot open serial port: {exc}", address=self.address) from exc

    @property
    def is_open(self) -> bool:
        return self._port is not None and self._port.is_open

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a dead socket may raise; it is closed either way
                pass
        self._port = None

    def write(self, data: bytes) -> None:
        import serial

        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise ConnectionLost(f"write failed: {exc}", address=self.address) from exc

    def read_until(self, terminator: bytes) -> bytes:
        import serial

        try:
            sock = getattr(self._port, "_socket", None)
            if sock is not None:
                data = self._read_socket(sock, terminator)
            else:
                data = self._port.read_until(terminator)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise ConnectionLost(f"read failed: {exc}", address=self.address) from exc
        if not data.endswith(terminator):
            raise InstrumentTimeout(
                f"no {terminator!r}-terminated reply within {self.timeout_s:g} s", address=self.address, reply=data
            )
        return data[: -len(terminator)]

    def _read_socket(self, sock, terminator: bytes) -> bytes:
        """Read a ``socket://`` port directly from the socket pyserial opened.

        pyserial's ``read_until`` asks for one byte per ``select``; on a serial line at
        9600 baud that is free, on loopback it was most of an overnight simulation's
        wall time.  Bytes after the terminator are kept for the next read.
        """
        import serial

        pending, self._pending = self._pending, bytearray()
        try:
            data, self._pending, _ = _read_socket_until(sock, pending, terminator, _monotonic() + self.timeout_s)
        except ConnectionResetError as exc:
            raise serial.SerialException(str(exc)) from exc
        return data

    def clear_input(self) -> None:
        self._pending = bytearray()
        if self._port is not None:
            try:
                self._port.reset_input_buffer()
            except Exception:
                pass


_resource_managers: dict[str, object] = {}
_rm_lock = threading.Lock()


def _resource_manager(backend: str):
    import pyvisa

    with _rm_lock:
        rm = _resource_managers.get(backend)
        if rm is None:
            rm = pyvisa.ResourceManager(backend)
            _resource_managers[backend] = rm
        return rm


class VisaTransport(Transport):
    """A pyvisa message-based resource, any backend."""

    def __init__(
        self,
        address: str,
        backend: str,
        read_termination: bytes,
        timeout_s: float,
        serial_settings: SerialSettings | None = None,
    ) -> None:
        self.address = address
        self.reconnect_to_resync = address.upper().startswith("TCPIP")
        self.backend = backend
        self.termination = read_termination
        self.timeout_s = timeout_s
        self.serial_settings = serial_settings
        self._res = None
        self._pending = bytearray()

    def open(self) -> None:
        import pyvisa

        self._pending = bytearray()

        try:
            rm = _resource_manager(self.backend)
            kwargs = {}
            if self.serial_settings is not None and self.address.upper().startswith("ASRL"):
                kwargs["baud_rate"] = self.serial_settings.baud_rate
                kwargs["data_bits"] = self.serial_settings.bytesize
            res = rm.open_resource(self.address, timeout=int(self.timeout_s * 1000), **kwargs)
            # terminator's last byte ends a VISA read; read_until checks the whole terminator
            res.read_termination = self.termination.decode("latin-1")
            res.write_termination = ""
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise ConnectionLost(f"cannot open VISA resource ({self.backend}): {exc}", address=self.address) from exc
        self._res = res

    @property
    def is_open(self) -> bool:
        return self._res is not None

    def close(self) -> None:
        if self._res is not None:
            try:
                self._res.close()
            except Exception:
                pass
        self._res = None

    def _translate(self, exc: Exception, doing: str, partial: bytes = b"") -> InstrumentError:
        import pyvisa
        from pyvisa import constants

        if isinstance(exc, pyvisa.VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            if self._peer_closed():
                self.close()
                return ConnectionLost(f"{doing}: connection closed by peer", address=self.address, reply=partial or None)
            return InstrumentTimeout(f"{doing}: no reply within {self.timeout_s:g} s", address=self.address, reply=partial)
        self.close()
        return ConnectionLost(f"{doing} failed: {exc}", address=self.address, reply=partial or None)

    def _peer_closed(self) -> bool:
        """True if a raw socket's peer has hung up.

        pyvisa-py reports a socket closed mid-reply as a read timeout, and the dead link
        would go on timing out; a non-blocking peek tells the two apart.
        """
        import socket

        sock = self._raw_socket()
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _session(self):
        return getattr(getattr(self._res, "visalib", None), "sessions", {}).get(getattr(self._res, "session", None))

    def _raw_socket(self):
        """The socket under a pyvisa-py ``TCPIP::...::SOCKET`` session; None for any other session."""
        import socket

        sock = getattr(self._session(), "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def write(self, data: bytes) -> None:
        try:
            self._res.write_raw(data)
        except Exception as exc:
            raise self._translate(exc, "write") from exc

    def read_until(self, terminator: bytes) -> bytes:
        """Read one reply, within one overall deadline of ``timeout_s``.

        pyvisa-py's socket read checks its timeout only when no byte arrived: a device
        that keeps sending bytes without a terminator held a 0.5 s read for 20 s.  So a
        raw socket session is read here directly (as the serial ``socket://`` path is),
        against one deadline.  Any other session is read through VISA with the time
        left as each read's timeout, the deadline checked between reads (pyvisa-py's
        serial, USB and GPIB reads and a vendor VISA keep their timeout per call).
        """
        deadline = _monotonic() + self.timeout_s
        sock = self._raw_socket()
        if sock is not None:
            return self._read_socket(sock, terminator, deadline)
        data = b""
        configured = self._res.timeout
        try:
            while not data.endswith(terminator):
                remaining = deadline - _monotonic()
                if data and remaining <= 0:
                    raise InstrumentTimeout(
                        f"read: no {terminator!r}-terminated reply within {self.timeout_s:g} s",
                        address=self.address, reply=data,
                    )
                if data:
                    self._res.timeout = max(1, int(remaining * 1000))
                chunk = self._res.read_raw()
                if not chunk:
                    raise ConnectionLost("connection closed by peer", address=self.address, reply=data)
                data += chunk
        except InstrumentTimeout:
            raise
        except InstrumentError:
            self.close()
            raise
        except Exception as exc:
            raise self._translate(exc, "read", data) from exc
        finally:
            if self._res is not None and data:
                try:
                    self._res.timeout = configured
                except Exception:
                    pass
        return data[: -len(terminator)]

    def _read_socket(self, sock, terminator: bytes, deadline: float) -> bytes:
        pending, self._pending = self._pending, bytearray()
        held = getattr(self._session(), "_pending_buffer", None)
        if isinstance(held, bytearray) and held:  # bytes pyvisa-py buffered (clear_input reads through it)
            pending += held
            del held[:]
        try:
            data, self._pending, complete = _read_socket_until(sock, pending, terminator, deadline)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"read failed: {exc}", address=self.address) from exc
        if not complete:
            raise InstrumentTimeout(
                f"read: no {terminator!r}-terminated reply within {self.timeout_s:g} s", address=self.address, reply=data
            )
        return data[: -len(terminator)]

    def clear_input(self) -> None:
        # A late reply after a timeout would answer the next query: read it away.
        self._pending = bytearray()
        if self._res is None:
            return
        try:
            old = self._res.timeout
            self._res.timeout = 50
            try:
                while self._res.read_raw():
                    pass
            finally:
                self._res.timeout = old
        except Exception:
            pass


def open_transport(
    address: str,
    *,
    visa_backend: str = "@py",
    read_termination: bytes = b"\n",
    timeout_s: float = 2.0,
    serial_settings: SerialSettings | None = None,
) -> Transport:
    """Open ``address`` as VISA resource or pyserial URL (see module docstring)."""
    if is_visa_address(address):
        transport: Transport = VisaTransport(address, visa_backend, read_termination, timeout_s, serial_settings)
    else:
        transport = SerialTransport(address, serial_settings or SerialSettings(), timeout_s)
    transport.open()
    return transport
