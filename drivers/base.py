"""What every driver shares: the conversation, typed errors, limits, reconnect, snapshot.

A model driver subclasses :class:`Instrument`, sets its line settings and
terminations as class attributes, and describes its commands the way the manual does::

    class E36xx(SCPIInstrument):
        model = "Keysight E36xx"
        current = control("CURR?", "CURR %.4f", "Output current setpoint (A).",
                          validator=in_range_attr("min_current_A", "max_current_A"))
        measured_current = measurement("MEAS:CURR?", "Output current (A).")

Every exchange goes through :meth:`Instrument.ask` / :meth:`Instrument.write`, which
hold the instrument lock (the engine thread and a GUI monitor may share a driver), log
the traffic at DEBUG, translate library faults into :mod:`drivers.errors` naming the
instrument, address, command and reply, and reopen a dropped connection on the next
call.  Validators run before anything is sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from foundation.clock import Clock, RealClock

from .errors import ConnectionLost, DeviceError, GarbledReply, InstrumentError, InstrumentTimeout, LimitError
from .transport import SerialSettings, Transport, open_transport

__all__ = [
    "Instrument",
    "SCPIInstrument",
    "control",
    "measurement",
    "setting",
    "in_range",
    "in_range_attr",
    "one_of",
    "parse_float",
]


class Instrument:
    """Base of every driver; see the module docstring."""

    #: model name as it appears in error messages and snapshots
    model: ClassVar[str] = "instrument"
    write_termination: ClassVar[bytes] = b"\n"
    read_termination: ClassVar[bytes] = b"\n"
    serial_settings: ClassVar[SerialSettings] = SerialSettings()
    default_timeout_s: ClassVar[float] = 2.0
    encoding: ClassVar[str] = "ascii"

    def __init__(
        self,
        address: str,
        *,
        visa_backend: str = "@py",
        timeout_s: float | None = None,
        clock: Clock | None = None,
        transport: Transport | None = None,
        name: str | None = None,
    ) -> None:
        self.address = address
        self.visa_backend = visa_backend
        self.timeout_s = timeout_s if timeout_s is not None else self.default_timeout_s
        self.clock = clock or RealClock()
        self.name = name or self.model
        self.log = logging.getLogger(type(self).__module__)
        self._lock = threading.RLock()
        self._transport = transport
        self._resync = False
        self._injected_transport = transport is not None
        with self._lock:
            if self._transport is None:
                self._open()
            self.on_connect()

    # ----------------------------------------------------------------- connection
    def _open(self) -> None:
        try:
            self._transport = open_transport(
                self.address,
                visa_backend=self.visa_backend,
                read_termination=self.read_termination,
                timeout_s=self.timeout_s,
                serial_settings=self.serial_settings,
            )
        except InstrumentError as exc:
            raise exc.with_context(instrument=self.name, address=self.address, command=None) from exc

    def on_connect(self) -> None:
        """Hook run after every (re)connection: put the device in a known state."""

    def _ensure_open(self) -> None:
        if self._transport is None or not self._transport.is_open:
            self.log.info("%s at %s: reconnecting", self.name, self.address)
            if self._injected_transport and self._transport is not None:
                self._transport.open()
            else:
                self._open()
            self.on_connect()

    def reconnect(self) -> None:
        """Close and reopen the link, then run :meth:`on_connect`."""
        with self._lock:
            self.close()
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --------------------------------------------------------------- conversation
    def _error_context(self, exc: InstrumentError, command: str | None) -> InstrumentError:
        return exc.with_context(instrument=self.name, address=self.address, command=command)

    def _before_exchange(self) -> None:
        if self._resync and self._transport is not None:
            self._resync = False
            if self._transport.reconnect_to_resync:
                self.log.info("%s at %s: reconnecting to drop a late reply", self.name, self.address)
                self._transport.close()
            else:
                self._transport.clear_input()
        self._ensure_open()

    def write_bytes(self, data: bytes, command: str | None = None) -> None:
        """Send raw bytes (terminator included by the caller)."""
        with self._lock:
            try:
                self._before_exchange()
                self.log.debug("%s <- %r", self.name, data)
                self._transport.write(data)
            except InstrumentError as exc:
                raise self._error_context(exc, command or data.decode(self.encoding, "replace")) from None

    def read_bytes(self, command: str | None = None) -> bytes:
        """Read one terminated reply (without its terminator)."""
        with self._lock:
            try:
                # no reconnect here: a reply belongs to the connection its request went out on
                if self._transport is None:
                    raise ConnectionLost("not connected", address=self.address)
                data = self._transport.read_until(self.read_termination)
            except InstrumentTimeout as exc:
                self._resync = True
                raise self._error_context(exc, command) from None
            except InstrumentError as exc:
                raise self._error_context(exc, command) from None
            self.log.debug("%s -> %r", self.name, data)
            return data

    def write(self, command: str) -> None:
        """Send one command with the model's write terminator."""
        self.write_bytes(command.encode(self.encoding) + self.write_termination, command)

    def read(self, command: str | None = None) -> str:
        data = self.read_bytes(command)
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError:
            raise self.garbled(command, data, "reply is not ASCII") from None

    def ask(self, command: str) -> str:
        """Send ``command`` and return its reply (stripped of the terminator)."""
        with self._lock:
            self.write(command)
            return self.read(command).strip()

    def ask_value(self, command: str, cast: Callable[[str], Any] = float) -> Any:
        """Ask and convert the reply; a reply that does not convert is garbled."""
        reply = self.ask(command)
        try:
            return cast(reply)
        except (ValueError, TypeError, IndexError) as exc:
            raise self.garbled(command, reply, f"cannot parse reply: {exc}") from None

    # ------------------------------------------------------------ typed errors
    def garbled(self, command: str | None, reply, why: str) -> GarbledReply:
        self._resync = True
        return GarbledReply(why, instrument=self.name, address=self.address, command=command, reply=reply)

    def device_error(self, command: str | None, reply, why: str, code: int | None = None) -> DeviceError:
        return DeviceError(why, code=code, instrument=self.name, address=self.address, command=command, reply=reply)

    def limit_error(self, what: str, value, allowed: str) -> LimitError:
        return LimitError(
            f"{what} = {value!r} refused before sending: allowed {allowed}", instrument=self.name, address=self.address
        )

    # --------------------------------------------------------------- snapshot
    def identity(self) -> str:
        """The instrument's own identification string."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Current settings worth recording in a run file (override per model)."""
        return {}

    def snapshot(self) -> dict[str, Any]:
        """Identity and settings, for the run file; never raises on a flaky link."""
        snap: dict[str, Any] = {"model": self.model, "name": self.name, "address": self.address}
        try:
            snap["identity"] = self.identity()
            snap.update(self.settings())
        except InstrumentError as exc:
            snap["snapshot_error"] = str(exc)
        return snap

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.address}>"


class SCPIInstrument(Instrument):
    """IEEE 488.2 / SCPI common commands and the ``SYST:ERR?`` queue."""

    def identity(self) -> str:
        return self.ask("*IDN?")

    def clear_status(self) -> None:
        """``*CLS``: clear status registers and the error queue."""
        self.write("*CLS")

    def reset(self) -> None:
        self.write("*RST")

    def next_error(self) -> tuple[int, str]:
        """One entry of the error queue: ``(code, message)``, ``(0, 'No error')`` if empty."""
        reply = self.ask("SYST:ERR?")
        code_text, _, message = reply.partition(",")
        try:
            code = int(code_text)
        except ValueError:
            raise self.garbled("SYST:ERR?", reply, "error queue entry is not '<code>,\"<message>\"'") from None
        return code, message.strip().strip('"')

    def check_errors(self, after: str | None = None) -> None:
        """Read the whole error queue; raise :class:`DeviceError` if it held any."""
        errors = []
        for _ in range(32):  # the queue is finite; a device stuck repeating one is garbled
            code, message = self.next_error()
            if code == 0:
                break
            errors.append((code, message))
        if errors:
            code, message = errors[0]
            text = "; ".join(f"{c},{m!r}" for c, m in errors)
            raise self.device_error(after or "SYST:ERR?", text, f"device reported error {code} {message!r}", code=code)


# ----------------------------------------------------------------- validators
Validator = Callable[[Instrument, Any, str], Any]


def in_range(low: float, high: float) -> Validator:
    """Accept ``low <= value <= high``."""

    def check(inst: Instrument, value, what: str):
        if not (low <= value <= high):
            raise inst.limit_error(what, value, f"{low:g} to {high:g}")
        return value

    return check


def in_range_attr(low_attr: str, high_attr: str) -> Validator:
    """Accept values between two attributes of the instance (per-installation limits)."""

    def check(inst: Instrument, value, what: str):
        low, high = getattr(inst, low_attr), getattr(inst, high_attr)
        if not (low <= value <= high):
            raise inst.limit_error(what, value, f"{low:g} to {high:g} (configured {low_attr}/{high_attr})")
        return value

    return check


def one_of(*allowed) -> Validator:
    def check(inst: Instrument, value, what: str):
        if value not in allowed:
            raise inst.limit_error(what, value, "one of " + ", ".join(repr(a) for a in allowed))
        return value

    return check


def parse_float(text: str) -> float:
    """A float reply; ``float`` with surrounding blanks and a leading ``+`` allowed."""
    return float(text.strip())


# ----------------------------------------------------------------- descriptors
class _Command:
    """Descriptor behind :func:`control`, :func:`measurement` and :func:`setting`."""

    def __init__(self, get_command, set_command, doc, cast, validator, format_value, check_errors) -> None:
        self.get_command = get_command
        self.set_command = set_command
        self.__doc__ = doc
        self.cast = cast
        self.validator = validator
        self.format_value = format_value
        self.check_errors = check_errors
        self.name = "?"

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, inst: Instrument | None, owner=None):
        if inst is None:
            return self
        if self.get_command is None:
            raise AttributeError(f"{self.name} is write-only")
        return inst.ask_value(self.get_command, self.cast)

    def __set__(self, inst: Instrument, value) -> None:
        if self.set_command is None:
            raise AttributeError(f"{self.name} is read-only")
        if self.validator is not None:
            value = self.validator(inst, value, self.name)
        command = self.set_command % (self.format_value(value) if self.format_value else value)
        inst.write(command)
        if self.check_errors:
            inst.check_errors(after=command)


def control(
    get_command: str,
    set_command: str,
    doc: str,
    *,
    cast: Callable[[str], Any] = parse_float,
    validator: Validator | None = None,
    format_value: Callable[[Any], Any] | None = None,
    check_errors: bool = False,
) -> Any:
    """A setting that can be read back: ``get_command`` queries, ``set_command % value`` sets.

    ``validator`` runs before sending; ``check_errors`` reads the SCPI error queue
    after setting, as careful SCPI practice (and this project) asks for supplies.
    """
    return _Command(get_command, set_command, doc, cast, validator, format_value, check_errors)


def measurement(get_command: str, doc: str, *, cast: Callable[[str], Any] = parse_float) -> Any:
    """A read-only quantity."""
    return _Command(get_command, None, doc, cast, None, None, False)


def setting(
    set_command: str,
    doc: str,
    *,
    validator: Validator | None = None,
    format_value: Callable[[Any], Any] | None = None,
    check_errors: bool = False,
) -> Any:
    """A write-only setting."""
    return _Command(None, set_command, doc, parse_float, validator, format_value, check_errors)
