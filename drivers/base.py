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

Replies are data from a wire, never trusted as they come: every number goes through
:func:`parse_float` (finite decimals only: no ``nan``, ``inf``, ``1e999``, ``1_0``) or
a stricter parser of the model's own format, and any parser failure is a typed
:class:`~drivers.errors.GarbledReply`.  The driver remembers the value it last
commanded per setting (:meth:`Instrument.commanded`); a ramp starts from that, with
the device's readback as a check (:meth:`Instrument.ramp_start`), not from the
readback alone.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from foundation.clock import Clock, RealClock

from .errors import (
    ConnectionLost,
    DeviceError,
    GarbledReply,
    InstrumentError,
    InstrumentTimeout,
    LimitError,
    ReadbackError,
)
from .transport import SerialSettings, Transport, open_transport

__all__ = [
    "Electrode",
    "Instrument",
    "Option",
    "SCPIInstrument",
    "control",
    "measurement",
    "setting",
    "in_range",
    "in_range_attr",
    "one_of",
    "parse_float",
    "parse_int",
    "parse_integral",
    "parse_register",
    "parse_in_range",
    "parse_in_range_attr",
]


@dataclass(frozen=True)
class Option:
    """A keyword argument of a driver's constructor that an apparatus file may set.

    ``kind`` is "int" or "number"; the bounds (``gt``, ``ge``, ``lt``, ``le``) are what
    the apparatus checker enforces before any driver is built; ``doc`` says what it
    does.  The default is the constructor's own (the contract test checks that every
    option is a keyword argument with a default)."""

    kind: str
    doc: str
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    @property
    def bounds(self) -> dict[str, float]:
        return {k: v for k in ("gt", "ge", "lt", "le") if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Electrode:
    """A named electrode on one channel of a high-voltage module, with the installation's
    limits: what the apparatus hands every HV module driver (``electrodes=``), whatever
    its model.

    ``ramp_V_per_s`` is this electrode's own rate (lens voltages may move faster than
    the channeltron's); ``tolerance_V`` is how close the readback must come to the
    setpoint to count as arrived, and how close the module's Vset must read back to
    the value the driver last commanded before a ramp starts from it.
    """

    channel: int
    min_V: float
    max_V: float
    ramp_V_per_s: float
    tolerance_V: float = 0.5


class Instrument:
    """Base of every driver; see the module docstring.

    A model's module declares ``DRIVER = TheClass`` (and ``ALIASES``, older model
    names that apparatus files may still use); :mod:`drivers` finds it by its module
    name, which is the model's name."""

    #: model name as it appears in error messages and snapshots
    model: ClassVar[str] = "instrument"
    #: constructor options an apparatus file may set, by keyword
    options: ClassVar[dict[str, Option]] = {}
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
        #: the last value commanded per setting (a ramp's trusted start); see ramp_start()
        self._commanded: dict[Any, float] = {}
        with self._lock:
            if self._transport is None:
                self._open()
            self.on_connect()

    @classmethod
    def check_options(cls, options: dict[str, Any], default: Callable[[str], Any]) -> list[tuple[str, Any, str]]:
        """Problems between options (each ``(option, value, what is allowed)``), beyond
        each option's own bounds; ``default(name)`` is the constructor's default for an
        option that is not set.  None by default."""
        return []

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

    def ask_value(self, command: str, cast: Callable[[str], Any] | None = None) -> Any:
        """Ask and convert the reply (default :func:`parse_float`); a reply that does not convert is garbled."""
        return self.ask_reply_value(command, cast)[1]

    def ask_reply_value(self, command: str, cast: Callable[[str], Any] | None = None) -> tuple[str, Any]:
        """Ask; return the reply and its converted value (for messages that quote the reply)."""
        reply = self.ask(command)
        return reply, self.convert(command, reply, cast or parse_float)

    def convert(self, command: str, reply: str, cast: Callable[[str], Any]) -> Any:
        """``cast(reply)``; whatever a parser raises on a reply it cannot take is a GarbledReply.

        ``ArithmeticError`` included: ``int(float("inf"))`` raises ``OverflowError``, which
        no caller retries; a typed error names the instrument, the command and the reply.
        """
        try:
            return cast(reply)
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            raise self.garbled(command, reply, f"cannot parse reply: {exc}") from None

    def refresh_state(self) -> None:
        """Forget device state the driver caches and ask again (the engine calls this on resume).

        While a run is paused an operator may change the instrument by hand (front
        panel, power cycle); a model that caches state overrides this.  Nothing is
        cached here.
        """

    # ------------------------------------------------------- commanded values
    def commanded(self, key) -> float | None:
        """The value this driver last commanded for ``key`` (a setting, a channel); None if none yet.

        Kept across reconnects: a device that lost it (power cycle) reads back
        something else, and :meth:`ramp_start` says so.
        """
        return self._commanded.get(key)

    def remember_commanded(self, key, value: float) -> None:
        """Record that the device accepted ``value`` for ``key``."""
        self._commanded[key] = float(value)

    def forget_commanded(self, key) -> None:
        """The device may or may not hold the last value (a refused or unconfirmed setting)."""
        self._commanded.pop(key, None)

    def ramp_start(
        self,
        key,
        readback: float,
        *,
        command: str,
        reply,
        check: Callable[[float], Any],
        tolerance: float,
        what: str,
    ) -> float:
        """Where a ramp of ``key`` starts, given the device's ``readback`` of it (read by ``command``).

        A readback is bytes from a wire: a late reply, crosstalk or one garbled digit
        makes any parseable number of it.  So it is checked, never trusted:

        * it must lie within the limits (``check`` raises LimitError otherwise): a ramp
          from outside them would send values outside them;
        * when this driver has commanded ``key`` before, the ramp starts from that
          value, and a readback more than ``tolerance`` from it raises: the device did
          not keep what it was told (front panel, power cycle), or the reply is not the
          answer to this query.

        Both raise :class:`~drivers.errors.ReadbackError` (a GarbledReply: a retry
        reads again; the link is resynchronised first, in case it was a late reply).
        """
        commanded = self.commanded(key)
        try:
            check(readback)
        except LimitError as exc:
            raise self.readback_error(
                command, reply, f"{what} reads back {readback:g}, outside the limits "
                f"({exc.message.split('allowed ', 1)[-1]}): not a starting point", readback, commanded
            ) from None
        if commanded is None:
            # Nothing commanded since this driver was created: the readback is the only
            # information there is.  Within the limits it is the safe choice: every step
            # then lies between two values inside the limits, so no value outside them
            # is ever sent, whatever the reply was.  Assuming a start instead (0, or the
            # target) would jump the output by the whole difference at the first step.
            return readback
        if not abs(readback - commanded) <= tolerance:
            raise self.readback_error(
                command, reply, f"{what} reads back {readback:g}, but {commanded:g} was commanded "
                f"(tolerance {tolerance:g}): not a starting point", readback, commanded
            )
        return commanded

    def readback_error(self, command, reply, why: str, readback: float, commanded: float | None) -> ReadbackError:
        """A :class:`ReadbackError` naming the command and reply; resynchronises the link first."""
        self._resync = True
        return ReadbackError(
            why, readback=readback, commanded=commanded,
            instrument=self.name, address=self.address, command=command, reply=reply,
        )

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
            code = parse_int(code_text, -32768, 32767)  # SCPI error numbers are 16-bit
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


# ----------------------------------------------------------------- number parsing
#: a decimal number as instruments send it (IEEE 488.2 <NR1>/<NR2>/<NR3>): sign, digits
#: with an optional point, optional exponent.  ASCII digits only.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")
#: blanks an instrument may put around a number
_BLANKS = " \t\r\n"


def parse_float(text: str) -> float:
    """A finite decimal number; blanks around it and a leading ``+`` allowed.

    Stricter than ``float()``, which also takes what no instrument sends and what no
    reading may be: ``nan``, ``inf``, ``infinity``, ``1_0`` (Python's digit grouping),
    and a number too large for a float (``1e999`` becomes infinity).  A comparison
    with NaN is always false, so a NaN reading would silently disable an interlock:
    every number a driver reads goes through here (or through a stricter parser of
    its own format).  Raises ``ValueError``, which :meth:`Instrument.ask_value` turns
    into :class:`~drivers.errors.GarbledReply`.
    """
    number = text.strip(_BLANKS)
    if not _DECIMAL.fullmatch(number):
        raise ValueError(f"{text!r} is not a decimal number")
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is beyond the range of a float")
    return value


def parse_int(text: str, low: int | None = None, high: int | None = None) -> int:
    """A decimal integer (``+12``, ``-3``), optionally within ``low..high``; ``ValueError`` otherwise."""
    number = text.strip(_BLANKS)
    if not _INTEGER.fullmatch(number):
        raise ValueError(f"{text!r} is not a decimal integer")
    return _within(int(number), low, high, text)


def parse_integral(text: str, low: int | None = None, high: int | None = None) -> int:
    """An integer sent in any SCPI number form (``+10``, ``+1.000000E+01``), within ``low..high``.

    Instruments send counts and status words as floats; the value must be integral.
    """
    value = parse_float(text)
    if value != math.floor(value):
        raise ValueError(f"{text!r} is not an integer")
    return _within(int(value), low, high, text)


def parse_register(text: str, bits: int) -> int:
    """An unsigned decimal register value of ``bits`` bits (``0 .. 2**bits - 1``)."""
    number = text.strip(_BLANKS)
    if not _UNSIGNED.fullmatch(number):
        raise ValueError(f"{text!r}: a status register is an unsigned decimal integer")
    return _within(int(number), 0, 2**bits - 1, text)


def _within(value: int, low: int | None, high: int | None, text: str) -> int:
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{'-inf' if low is None else low} to {'inf' if high is None else high}"
        raise ValueError(f"{text!r} is outside {bounds}")
    return value


def parse_in_range_attr(low, high) -> Callable[[Instrument, str], float]:
    """A cast for :func:`control`/:func:`measurement`: :func:`parse_float`, then within
    bounds that depend on the instance (a model's ratings).

    ``low`` and ``high`` are each a number, the name of an attribute, or a function of
    the instrument.  Marked ``needs_instrument``: the descriptor calls it as
    ``cast(instrument, reply)``.
    """

    def bound(inst: Instrument, spec) -> float:
        if isinstance(spec, str):
            return getattr(inst, spec)
        return spec(inst) if callable(spec) else spec

    def cast(inst: Instrument, text: str) -> float:
        value = parse_float(text)
        lo, hi = bound(inst, low), bound(inst, high)
        if not lo <= value <= hi:
            raise ValueError(f"{value:g} is outside {lo:g} to {hi:g}, what the model can hold")
        return value

    cast.needs_instrument = True
    return cast


def parse_in_range(low: float, high: float) -> Callable[[str], float]:
    """A cast: :func:`parse_float`, then ``low <= value <= high`` (the quantity's documented range)."""

    def cast(text: str) -> float:
        value = parse_float(text)
        if not low <= value <= high:
            raise ValueError(f"{value:g} is outside the documented range {low:g} to {high:g}")
        return value

    return cast


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
        cast = self.cast
        if getattr(cast, "needs_instrument", False):
            cast = functools.partial(cast, inst)
        return inst.ask_value(self.get_command, cast)

    def __set__(self, inst: Instrument, value) -> None:
        if self.set_command is None:
            raise AttributeError(f"{self.name} is read-only")
        if self.validator is not None:
            value = self.validator(inst, value, self.name)
        command = self.set_command % (self.format_value(value) if self.format_value else value)
        inst.forget_commanded(self.name)  # unknown until the device has taken it
        inst.write(command)
        if self.check_errors:
            inst.check_errors(after=command)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            inst.remember_commanded(self.name, value)


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
