"""Keithley 6485 picoammeter reading the beam current on the Faraday cup.

Commands from the Model 6485 Picoammeter Instruction Manual (SCPI, sections 12-14)::

    SYSTem:ZCHeck ON|OFF          SYSTem:ZCHeck?        zero check (input shunted)
    SYSTem:ZCORrect:ACQuire                             take the zero-check reading as zero
    SYSTem:ZCORrect ON|OFF        SYSTem:ZCORrect?      subtract it from readings
    [SENSe:]CURRent:RANGe <A>     [SENSe:]CURRent:RANGe?        2 nA ... 20 mA
    [SENSe:]CURRent:RANGe:AUTO ON|OFF  ...:AUTO?
    [SENSe:]CURRent:NPLCycles <n> [SENSe:]CURRent:NPLCycles?    integration time
    FORMat:ELEMents READ[,UNIT][,TIME][,STAT]  FORMat:ELEMents?
    INITiate   FETCh?   READ?     SYSTem:ERRor?   *IDN?  *RST  *CLS

A reading string holds the elements chosen with ``FORMat:ELEMents`` in the order
reading, units, timestamp, status, the units glued to the reading (manual Figure 13-1)::

    +1.040564E-06A,+2.236299E+02,+1.380000E+02      READ,UNIT,TIME,STAT (after *RST)
    -1.234567E-08                                    READ

An input beyond the range reads ``+9.9E37`` (overflow, either polarity): a typed
:class:`Overflow`, never a number; a data element without valid data reads
``+9.91E37`` (NAN): a DeviceError.  Any other reading beyond 105 % of the 20 mA range,
a timestamp outside 0 to 99,999.99 s (the timer restarts there), a status word that
is not a 16-bit integer, and anything non-finite (``nan``, ``1e999``) is a garbled
reply.  While zero check is on the input is shunted and the reading is the
instrument's own offset: the driver refuses to return it as a beam current.

The standard way to a trustworthy reading (manual "Zero correct" procedure) is
:meth:`Keithley6485.configure_for_beam`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .base import SCPIInstrument, control, in_range, parse_float, parse_in_range, parse_integral
from .errors import DeviceError

__all__ = [
    "Keithley6485",
    "Overflow",
    "Reading",
    "CURRENT_RANGES_A",
    "OVERFLOW_VALUE",
    "NAN_VALUE",
    "parse_on_off",
    "parse_elements",
]

#: the eight current ranges (A); each reads up to 105 % of its value
CURRENT_RANGES_A: tuple[float, ...] = (2e-9, 20e-9, 200e-9, 2e-6, 20e-6, 200e-6, 2e-3, 20e-3)
#: reading of an input beyond the range
OVERFLOW_VALUE = 9.9e37
#: reading of a data element without valid data
NAN_VALUE = 9.91e37
#: the largest reading that is a current: 105 % of the highest (20 mA) range
MAX_READING_A = 1.05 * CURRENT_RANGES_A[-1]
#: the timestamp restarts at zero after 99,999.99 s
TIMESTAMP_LIMIT_S = 100_000.0
#: the status element is a 16-bit word sent as a decimal number
STATUS_BITS = 16
#: FORMat:ELEMents names, short form, in the order the instrument sends them
ELEMENTS: tuple[str, ...] = ("READ", "UNIT", "TIME", "STAT")
_LONG_NAMES = {"READING": "READ", "UNITS": "UNIT", "STATUS": "STAT"}


class Overflow(DeviceError):
    """The input exceeds the present current range (the reading was +9.9E37)."""

    def __init__(self, message: str, *, range_A: float | None = None, **context) -> None:
        self.range_A = range_A
        super().__init__(message, **context)


@dataclass(frozen=True)
class Reading:
    """One parsed reading string; elements not requested are ``None``."""

    current_A: float
    timestamp_s: float | None = None
    status: int | None = None

    @property
    def overflow(self) -> bool:
        return math.isclose(abs(self.current_A), OVERFLOW_VALUE, rel_tol=1e-3)

    @property
    def nan(self) -> bool:
        """The reading is NAN (+9.91E37): no valid data."""
        return math.isclose(abs(self.current_A), NAN_VALUE, rel_tol=1e-4)


def parse_on_off(reply: str) -> bool:
    """Boolean queries answer ``1``/``0`` (``ON``/``OFF`` accepted too)."""
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise ValueError(f"{reply!r} is neither 1 nor 0")


def parse_elements(reply: str) -> tuple[str, ...]:
    """``FORM:ELEM?`` reply (``READ,UNIT,TIME,STAT``) -> short names, instrument order."""
    names = []
    for part in reply.replace('"', "").split(","):
        word = part.strip().upper()
        word = _LONG_NAMES.get(word, word)
        if word not in ELEMENTS:
            raise ValueError(f"unknown data element {part.strip()!r}")
        names.append(word)
    if not names:
        raise ValueError("no data elements")
    return tuple(e for e in ELEMENTS if e in names)


def _current_range(reply: str) -> float:
    """``CURR:RANG?``: one of the eight ranges, nothing else."""
    value = parse_float(reply)
    for range_A in CURRENT_RANGES_A:
        if math.isclose(value, range_A, rel_tol=1e-3):
            return range_A
    raise ValueError(f"{value:g} A is not one of the 6485's ranges")


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


def _boolean(inst, value: Any, what: str) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise inst.limit_error(what, value, "True or False")
    return bool(value)


def _range_value(inst, value: Any, what: str) -> float:
    # the 6485 takes the expected reading and selects the lowest range holding it
    if not isinstance(value, (int, float)) or not (0 < value <= 0.021):
        raise inst.limit_error(what, value, "an expected current above 0 and up to 0.021 A")
    return float(value)


class Keithley6485(SCPIInstrument):
    """Keithley 6485 picoammeter (see module docstring)."""

    model = "Keithley 6485"
    write_termination = b"\n"
    read_termination = b"\n"
    default_timeout_s = 3.0  # a reading at 6 NPLC with autoranging takes a few hundred ms

    _zero_check = control(
        "SYST:ZCH?",
        "SYST:ZCH %s",
        "Zero check (bool): ``SYSTem:ZCHeck``; on = input shunted, readings meaningless.",
        cast=parse_on_off,
        validator=_boolean,
        format_value=_on_off,
        check_errors=True,
    )
    zero_correct = control(
        "SYST:ZCOR?",
        "SYST:ZCOR %s",
        "Zero correct (bool): ``SYSTem:ZCORrect``; subtract the acquired zero from readings.",
        cast=parse_on_off,
        validator=_boolean,
        format_value=_on_off,
        check_errors=True,
    )
    auto_range = control(
        "CURR:RANG:AUTO?",
        "CURR:RANG:AUTO %s",
        "Auto range (bool): ``CURRent:RANGe:AUTO``.",
        cast=parse_on_off,
        validator=_boolean,
        format_value=_on_off,
        check_errors=True,
    )
    current_range = control(
        "CURR:RANG?",
        "CURR:RANG %.3g",
        "Current range (A): ``CURRent:RANGe``; setting it turns auto range off. "
        "Set the expected current, the instrument picks the lowest range that holds it.",
        cast=_current_range,
        validator=_range_value,
        check_errors=True,
    )
    nplc = control(
        "CURR:NPLC?",
        "CURR:NPLC %.3g",
        "Integration time in power-line cycles: ``CURRent:NPLCycles`` (0.01 to 6).",
        cast=parse_in_range(0.01, 6.0),
        validator=in_range(0.01, 6.0),
        check_errors=True,
    )

    def __init__(
        self,
        address: str,
        *,
        visa_backend: str = "@py",
        timeout_s: float | None = None,
        clock=None,
        transport=None,
        name: str | None = None,
    ) -> None:
        #: data elements as last set or read; None until known
        self._elements: tuple[str, ...] | None = None
        super().__init__(
            address, visa_backend=visa_backend, timeout_s=timeout_s, clock=clock, transport=transport, name=name
        )

    # ------------------------------------------------------------ commands
    def reset(self) -> None:
        """``*RST``: defaults (zero check on, auto range, all data elements)."""
        self.write("*RST")
        self._elements = None

    def acquire_zero_correction(self) -> None:
        """``SYSTem:ZCORrect:ACQuire``: the last zero-check reading becomes the zero."""
        self.write("SYST:ZCOR:ACQ")
        self.check_errors(after="SYST:ZCOR:ACQ")

    def initiate(self) -> None:
        """``INITiate``: take one reading (fetched later with :meth:`fetch_reading`)."""
        self.write("INIT")
        self.check_errors(after="INIT")

    @property
    def data_elements(self) -> tuple[str, ...]:
        """Elements of a reading string (``FORMat:ELEMents``), short names in order."""
        elements = self.ask_value("FORM:ELEM?", parse_elements)
        self._elements = elements
        return elements

    @data_elements.setter
    def data_elements(self, elements) -> None:
        if isinstance(elements, str):
            elements = elements.split(",")
        try:
            names = parse_elements(",".join(elements))
        except ValueError as exc:
            raise self.limit_error("data_elements", elements, f"a list of {', '.join(ELEMENTS)} ({exc})") from None
        if "READ" not in names:
            raise self.limit_error("data_elements", elements, "a list that includes READ")
        command = "FORM:ELEM " + ",".join(names)
        self.write(command)
        self._elements = None  # unknown until the device accepts it
        self.check_errors(after=command)
        self._elements = names

    # ------------------------------------------------------------ readings
    def read_reading(self) -> Reading:
        """``READ?``: trigger one reading and return it parsed.

        Raises :class:`DeviceError` while zero check is on and :class:`Overflow` when
        the input exceeds the range.
        """
        return self._reading("READ?")

    def fetch_reading(self) -> Reading:
        """``FETCh?``: the latest reading (taken by :meth:`initiate`), parsed."""
        return self._reading("FETC?")

    def read_current(self) -> float:
        """Trigger and return one current reading (A); electrons on the cup read negative."""
        return self.read_reading().current_A

    def _reading(self, command: str) -> Reading:
        with self._lock:
            # reconnect first, if the link dropped: on_connect forgets the zero-check
            # state, and the new connection's state must be the one asked for
            self._before_exchange()
            self._refuse_zero_check(command)
            reply = self.ask(command)
        reading = self.parse_reading(reply, command)
        if reading.overflow:
            raise self._overflow(command, reply)
        if reading.nan:
            raise self.device_error(command, reply, "reading is NAN (+9.91E37): no valid data")
        if not abs(reading.current_A) <= MAX_READING_A:
            raise self.garbled(command, reply, f"a reading beyond {MAX_READING_A:g} A is neither a current nor +9.9E37")
        return reading

    @property
    def zero_check(self) -> bool:
        """Zero check (bool): ``SYSTem:ZCHeck``; on = input shunted, readings meaningless."""
        self._zero_check_state = self._zero_check
        return self._zero_check_state

    @zero_check.setter
    def zero_check(self, on: bool) -> None:
        self._zero_check_state = None  # unknown until the setting is accepted
        self._zero_check = on
        self._zero_check_state = bool(on)

    def on_connect(self) -> None:
        super().on_connect()
        self._zero_check_state = None  # somebody may have pressed ZCHK while we were away

    def recheck_zero_check(self) -> bool:
        """Ask the instrument whether zero check is on (``SYST:ZCH?``), forgetting what was tracked.

        For the engine on resume: after a power cycle (the 6485 comes up with zero
        check on) or a ZCHK pressed at the front panel while the link stayed up.
        """
        self._zero_check_state = None
        return self.zero_check

    def refresh_state(self) -> None:
        """On resume: ask for the zero-check state again (:meth:`recheck_zero_check`)."""
        self.recheck_zero_check()

    def _refuse_zero_check(self, command: str) -> None:
        # With the input shunted the instrument happily reads its own offset.  "Off" is
        # tracked, not asked before every reading (that doubled the traffic of the beam
        # monitor); a ZCHK pressed at the front panel mid-run reads ~0 A and trips the
        # beam-current interlock instead.  "On" is never trusted from memory: it is
        # asked again before a reading is refused, or an operator who switched zero
        # check off (after a power cycle) would see every resume refused until restart.
        if getattr(self, "_zero_check_state", None) in (None, True):
            self._zero_check_state = self._zero_check
        if self._zero_check_state:
            raise self.device_error(command, None, "zero check is on: the reading would be the input offset, not the beam")

    def _overflow(self, command: str, reply: str) -> Overflow:
        try:
            range_A = self.current_range
            where = f"the {range_A:g} A range"
        except DeviceError:
            range_A, where = None, "the present range"
        return Overflow(
            f"input exceeds {where} (reading +9.9E37)",
            range_A=range_A,
            code=None,
            instrument=self.name,
            address=self.address,
            command=command,
            reply=reply,
        )

    def parse_reading(self, reply: str, command: str = "READ?") -> Reading:
        """Split a reading string by the data elements in force."""
        fields = [f.strip() for f in reply.split(",")]
        elements = self._elements or self._guess_elements(fields, command, reply)
        sent = [e for e in elements if e != "UNIT"]  # units ride on the reading
        if len(fields) != len(sent):
            raise self.garbled(command, reply, f"expected {len(sent)} fields for elements {','.join(elements)}")
        values = dict(zip(sent, fields))
        text = values["READ"]
        if text.upper().endswith("A"):
            text = text[:-1]
        elif "UNIT" in elements:
            raise self.garbled(command, reply, "reading lacks its 'A' unit")
        try:
            current = parse_float(text)
            timestamp = parse_float(values["TIME"]) if "TIME" in values else None
            status = parse_integral(values["STAT"], 0, 2**STATUS_BITS - 1) if "STAT" in values else None
        except ValueError as exc:
            raise self.garbled(command, reply, f"cannot parse reading: {exc}") from None
        if timestamp is not None and not 0.0 <= timestamp < TIMESTAMP_LIMIT_S:
            raise self.garbled(command, reply, f"timestamp {timestamp:g} s is outside 0 to 99,999.99 s")
        return Reading(current, timestamp, status)

    def _guess_elements(self, fields: list[str], command: str, reply: str) -> tuple[str, ...]:
        # One field can only be the reading; three only reading, time and status.
        # Two are ambiguous (time or status?): ask the instrument once.
        unit = ("UNIT",) if fields[0].upper().endswith("A") else ()
        if len(fields) == 1:
            return ("READ",) + unit
        if len(fields) == 3:
            return ("READ",) + unit + ("TIME", "STAT")
        if len(fields) == 2:
            return self.data_elements
        raise self.garbled(command, reply, "a reading string has 1 to 3 fields")

    # ------------------------------------------------------------ procedures
    def configure_for_beam(self) -> None:
        """Zero-correct, then measure on auto range (manual "Zero correct" procedure).

        Zero check on; the lowest range; one reading (``INIT``) as the zero;
        ``SYST:ZCOR:ACQ``; zero correct on; auto range on; zero check off.  The error
        queue is read after every step, so a refused step raises :class:`DeviceError`.
        """
        self.zero_check = True
        self.current_range = CURRENT_RANGES_A[0]
        self.initiate()
        self.acquire_zero_correction()
        self.zero_correct = True
        self.auto_range = True
        self.zero_check = False

    # ------------------------------------------------------------ snapshot
    def settings(self) -> dict[str, Any]:
        return {
            "zero_check": self.zero_check,
            "zero_correct": self.zero_correct,
            "auto_range": self.auto_range,
            "current_range_A": self.current_range,
            "nplc": self.nplc,
            "data_elements": ",".join(self.data_elements),
        }

    def probe(self) -> dict[str, Any]:
        """Identity, zero-check state and one reading (None while zero check is on)."""
        result: dict[str, Any] = {"identity": self.identity(), "zero_check": self.zero_check, "overflow": False}
        result["current_A"] = None
        if not result["zero_check"]:
            try:
                result["current_A"] = self.read_current()
            except Overflow as exc:
                result["overflow"] = True
                result["range_A"] = exc.range_A
        return result


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = Keithley6485
