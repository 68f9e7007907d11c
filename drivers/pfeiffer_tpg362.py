"""Pfeiffer Vacuum TPG 362 dual gauge controller (RS-232, 9600 8N1).

The TPG 361/362 speak Pfeiffer's "mnemonics" protocol (the TPG 26x and the
MaxiGauge share it).  Every exchange has two steps::

    host  -> "PR1" CR LF          a three-letter mnemonic [,parameters]
    TPG   -> ACK CR LF            message accepted (NAK CR LF: refused)
    host  -> ENQ                  "send me the data of the last mnemonic"
    TPG   -> "0,+1.0000E-07" CR LF

ETX (Ctrl-C) clears the controller's input buffer.  After ``COM`` (and on some
units at power-on) the controller streams ``PRX``-style lines on its own; the
first character it receives stops the stream.  On a NAK the controller has set
bits in its error word, which ``ERR`` reads (and clears)::

    1000 controller error (see display)   0100 no hardware
    0010 inadmissible parameter           0001 syntax error

Readings come in the unit set with ``UNI`` (0 mbar, 1 Torr, 2 Pa, 3 Micron,
4 hPa, 5 Volt); the driver reads the unit at every connect, caches it and
converts every reading to mbar.  Since the unit rescales every later reading, a
unit other than the one known is believed only when the controller reports it
twice in a row (a garbled reply raises instead).  Measurement status per channel:
0 data okay, 1 underrange, 2 overrange, 3 sensor error, 4 sensor off, 5 no sensor,
6 identification error.  0-2 are readings (with flags), 3-6 raise
:class:`~drivers.errors.DeviceError`.

The manual fixes the reading's format: ``x,sx.xxxxEsxx`` (status digit, signed
mantissa with four decimals, signed two-digit exponent; "values always in
exponential format").  A reading of status 0-2 in any other shape is garbled: a
dropped byte (``0,+.300E-06``) must not read as another pressure.

On the xbeam apparatus channel 1 is the chamber full-range gauge (PKR) and
channel 2 the capacitance manometer behind the gas needle (CMR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Instrument, parse_float
from .errors import GarbledReply, InstrumentError, InstrumentTimeout
from .transport import SerialSettings

__all__ = ["TPG362", "GaugeReading", "ErrorStatus", "STATUS_TEXT", "UNIT_CODES", "MBAR_PER_UNIT"]

ETX = b"\x03"
ENQ = b"\x05"
ACK = "\x06"
NAK = "\x15"

#: measurement status codes of PR1/PR2/PRX
STATUS_TEXT: dict[int, str] = {
    0: "measurement data okay",
    1: "underrange",
    2: "overrange",
    3: "sensor error",
    4: "sensor off",
    5: "no sensor",
    6: "identification error",
}

#: UNI parameter codes
UNIT_CODES: dict[str, int] = {"mbar": 0, "Torr": 1, "Pa": 2, "Micron": 3, "hPa": 4, "Volt": 5}
_UNIT_NAMES = {code: name for name, code in UNIT_CODES.items()}

#: how many mbar one reading unit is (Volt is a gauge signal, not a pressure)
MBAR_PER_UNIT: dict[str, float] = {
    "mbar": 1.0,
    "Torr": 1.333223684,
    "Pa": 0.01,
    "Micron": 1.333223684e-3,
    "hPa": 1.0,
}

#: error word bits, most significant (leftmost) first
_ERROR_BITS = ("controller error (see display)", "no hardware", "inadmissible parameter", "syntax error")

_NUMBER = r"[+-]?\d+(?:\.\d*)?(?:[Ee][+-]?\d+)?"
#: a line of continuous output (COM): two status,value pairs
_STREAM_LINE = re.compile(rf"^\d,{_NUMBER},\d,{_NUMBER}$")
_ERROR_WORD = re.compile(r"^[01]{4}$")
#: a measurement status: one digit
_STATUS = re.compile(r"[0-9]")
#: the manual's measurement value, ``sx.xxxxEsxx``
_READING = re.compile(r"[+-][0-9]\.[0-9]{4}E[+-][0-9]{2}")
#: a UNI reply: one digit
_UNIT_CODE = re.compile(r"[0-5]")

#: stream lines skipped while waiting for an ACK before the reply counts as garbled
_MAX_SKIPPED_LINES = 32


@dataclass(frozen=True)
class GaugeReading:
    """One channel's reading: pressure in mbar and the controller's status (0-2)."""

    channel: int
    value_mbar: float
    status: int
    underrange: bool
    overrange: bool

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class ErrorStatus:
    """The decoded ERR word (``"0000"`` = no error)."""

    word: str
    controller_error: bool
    no_hardware: bool
    inadmissible_parameter: bool
    syntax_error: bool

    @classmethod
    def from_word(cls, word: str) -> ErrorStatus:
        bits = [ch == "1" for ch in word]
        return cls(word, *bits)

    @property
    def ok(self) -> bool:
        return self.word == "0000"

    @property
    def code(self) -> int:
        """The word read as a binary number (1 syntax, 2 parameter, 4 no hardware, 8 controller)."""
        return int(self.word, 2)

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(text for text, bit in zip(_ERROR_BITS, self.word) if bit == "1")

    def __str__(self) -> str:
        return f"{self.word} ({', '.join(self.messages) or 'no error'})"


class TPG362(Instrument):
    """Pfeiffer TPG 362: two gauge channels over the mnemonics protocol (see module docstring)."""

    model = "Pfeiffer TPG 362"
    write_termination = b"\r\n"
    read_termination = b"\r\n"
    serial_settings = SerialSettings(baud_rate=9600)
    default_timeout_s = 2.0
    channels: ClassVar[tuple[int, ...]] = (1, 2)
    #: wait after ETX for a streamed line already on the wire, before discarding input
    settle_s: ClassVar[float] = 0.05

    def __init__(self, address: str, **kwargs) -> None:
        self._unit = "mbar"
        self._unit_known = False  # until the first UNI reply
        # after a fault mid-exchange the controller may hold half a message: ETX first
        self._reset_interface = False
        super().__init__(address, **kwargs)

    # ------------------------------------------------------------ connection
    def on_connect(self) -> None:
        """Stop continuous output, clear both input buffers, read the pressure unit.

        The first byte the controller receives ends a stream started by ``COM`` or at
        power-on; ETX also clears whatever half message the controller holds.  Lines
        already in flight are discarded here, or skipped while waiting for the ACK.
        """
        self._reset_interface = False
        self.write_bytes(ETX, "ETX")
        self.clock.sleep(self.settle_s)
        with self._lock:
            if self._transport is not None:
                self._transport.clear_input()
        self._read_unit(lenient=True)

    def refresh_state(self) -> None:
        """On resume: read the pressure unit again (it may have been changed at the controller)."""
        self._read_unit()

    # --------------------------------------------------------- conversation
    def query(self, mnemonic: str, *, lenient: bool = False) -> str:
        """Send ``mnemonic``, check the ACK, send ENQ and return the data string.

        A NAK is answered by reading the error word (``ERR``) and raising
        :class:`DeviceError` with it.  ``lenient`` skips any line before the ACK
        (used right after connecting, when a stream may be ending).
        """
        with self._lock:
            if self._reset_interface:
                self.write_bytes(ETX, "ETX")
                self._reset_interface = False
            try:
                self._send_mnemonic(mnemonic, lenient=lenient)
                self.write_bytes(ENQ, mnemonic)
                return self._read_data(mnemonic)
            except (InstrumentTimeout, GarbledReply):
                # the controller may hold half a message; a lost link reconnects (and resets) anyway
                self._reset_interface = True
                raise

    def _send_mnemonic(self, mnemonic: str, *, lenient: bool = False) -> None:
        self.write(mnemonic)
        for _ in range(_MAX_SKIPPED_LINES):
            line = self.read(mnemonic)
            if line == ACK:
                return
            if line == NAK:
                raise self._refused(mnemonic)
            if not (lenient or _STREAM_LINE.match(line)):
                raise self.garbled(mnemonic, line, "expected ACK or NAK")
            # a line of continuous output sent before our first byte stopped the stream
            self.log.debug("%s: discarding streamed line %r", self.name, line)
        raise self.garbled(mnemonic, line, f"no ACK after {_MAX_SKIPPED_LINES} lines")

    def _read_data(self, mnemonic: str) -> str:
        """The reply to ENQ.  Data is never a bare ACK: one here is a late ACK of the
        exchange before (answered after our timeout), and our own ACK is still to come."""
        for _ in range(2):
            line = self.read(mnemonic)
            if line != ACK:
                return line.strip()
            self.log.debug("%s: discarding a late ACK", self.name)
        raise self.garbled(mnemonic, line, "ACK instead of data")

    def _refused(self, mnemonic: str) -> InstrumentError:
        """The controller sent NAK: fetch its error word and build the DeviceError."""
        try:
            status = self._read_error_word()
        except InstrumentError as exc:
            self._reset_interface = True  # the ERR exchange is in an unknown state
            return self.device_error(mnemonic, NAK, f"refused (NAK); reading the error word failed: {exc.message}")
        return self.device_error(mnemonic, f"NAK, ERR {status.word}", f"refused (NAK): {status}", code=status.code)

    def _read_error_word(self) -> ErrorStatus:
        self.write("ERR")
        line = self.read("ERR")
        if line != ACK:
            raise self.garbled("ERR", line, "expected ACK")
        self.write_bytes(ENQ, "ERR")
        return self._parse_error_word(self.read("ERR").strip())

    def _parse_error_word(self, word: str) -> ErrorStatus:
        if not _ERROR_WORD.match(word):
            raise self.garbled("ERR", word, "error word is not four binary digits")
        return ErrorStatus.from_word(word)

    # ------------------------------------------------------------- readings
    def _check_channel(self, channel: int) -> int:
        if channel not in self.channels:
            raise self.limit_error("channel", channel, "1 or 2")
        return channel

    def _parse_pair(self, command: str, reply: str, status_text: str, value_text: str) -> tuple[int, float]:
        """One ``x,sx.xxxxEsxx`` pair.  The value of a reading (status 0-2) must have the
        manual's exact shape; with a sensor fault (3-6) it is not a reading and only
        has to be a number (the manual's own example for "no sensor" is ``5,2.0000E-2``)."""
        if not _STATUS.fullmatch(status_text):
            raise self.garbled(command, reply, "expected '<status digit>,<value>'")
        status = int(status_text)
        if status not in STATUS_TEXT:
            raise self.garbled(command, reply, f"unknown measurement status {status}")
        if status < 3 and not _READING.fullmatch(value_text):
            raise self.garbled(command, reply, "a reading is 'sx.xxxxEsxx' (e.g. +1.2300E-06)")
        try:
            value = parse_float(value_text)
        except ValueError:
            raise self.garbled(command, reply, "expected '<status>,<value>'") from None
        return status, value

    def _to_mbar(self, value: float, command: str) -> float:
        factor = MBAR_PER_UNIT.get(self._unit)
        if factor is None:
            raise InstrumentError(
                f"readings are in {self._unit}, not a pressure unit; set unit = 'mbar'",
                instrument=self.name,
                address=self.address,
                command=command,
            )
        return value * factor

    def _reading(self, channel: int, status: int, value: float, command: str, reply: str) -> GaugeReading:
        if status >= 3:
            raise self.device_error(command, reply, f"channel {channel}: {STATUS_TEXT[status]}", code=status)
        return GaugeReading(channel, self._to_mbar(value, command), status, status == 1, status == 2)

    def pressure(self, channel: int) -> GaugeReading:
        """``PRx``: pressure and status of one channel (1 chamber, 2 needle line)."""
        command = f"PR{self._check_channel(channel)}"
        reply = self.query(command)
        fields = reply.split(",")
        if len(fields) != 2:
            raise self.garbled(command, reply, "expected '<status>,<value>'")
        status, value = self._parse_pair(command, reply, *fields)
        return self._reading(channel, status, value, command, reply)

    def _both(self) -> tuple[str, list[tuple[int, float]]]:
        reply = self.query("PRX")
        fields = reply.split(",")
        if len(fields) != 4:
            raise self.garbled("PRX", reply, "expected '<status1>,<value1>,<status2>,<value2>'")
        return reply, [self._parse_pair("PRX", reply, *fields[0:2]), self._parse_pair("PRX", reply, *fields[2:4])]

    def pressures(self) -> tuple[GaugeReading, GaugeReading]:
        """``PRX``: both channels in one exchange."""
        reply, pairs = self._both()
        first, second = (self._reading(ch, s, v, "PRX", reply) for ch, (s, v) in zip(self.channels, pairs))
        return first, second

    # -------------------------------------------------------------- settings
    def _unit_from_reply(self, reply: str, command: str) -> str:
        if not _UNIT_CODE.fullmatch(reply):
            raise self.garbled(command, reply, "expected a unit code 0-5")
        return _UNIT_NAMES[int(reply)]

    def _read_unit(self, *, lenient: bool = False) -> str:
        """Ask ``UNI`` and update the cached unit.

        The unit rescales every later reading, so one garbled reply must not change
        it: a unit other than the one known is believed only when a second ``UNI``
        says the same (then it was changed at the controller, and a warning says so).
        """
        unit = self._unit_from_reply(self.query("UNI", lenient=lenient), "UNI")
        if self._unit_known and unit != self._unit:
            again = self._unit_from_reply(self.query("UNI"), "UNI")
            if again != unit:
                raise self.garbled(
                    "UNI", f"{UNIT_CODES[unit]} then {UNIT_CODES[again]}",
                    f"unit reads {unit}, then {again}: readings stay in {self._unit}",
                )
            self.log.warning("%s at %s: pressure unit changed at the controller: %s -> %s",
                             self.name, self.address, self._unit, unit)
        self._unit = unit
        self._unit_known = True
        return unit

    @property
    def unit(self) -> str:
        """``UNI``: unit of the readings, one of mbar, Torr, Pa, Micron, hPa, Volt.

        Reading it asks the controller (and refreshes the cached unit that
        :meth:`pressure` converts from; a change only when reported twice).
        """
        return self._read_unit()

    @unit.setter
    def unit(self, name: str) -> None:
        if name not in UNIT_CODES:
            raise self.limit_error("unit", name, "one of " + ", ".join(UNIT_CODES))
        command = f"UNI,{UNIT_CODES[name]}"
        reply = self.query(command)
        if self._unit_from_reply(reply, command) != name:
            raise self.garbled(command, reply, f"controller reports unit code {reply}, not {UNIT_CODES[name]}")
        self._unit = name
        self._unit_known = True

    @property
    def cached_unit(self) -> str:
        """The unit read at connect (or last set); no exchange."""
        return self._unit

    def gauge_identification(self) -> tuple[str, str]:
        """``TID``: gauge type per channel, e.g. ``('PKR', 'CMR')``; ``noSEn``/``noid`` if none."""
        reply = self.query("TID")
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) != 2 or not all(fields):
            raise self.garbled("TID", reply, "expected '<gauge1>,<gauge2>'")
        return fields[0], fields[1]

    def error_status(self) -> ErrorStatus:
        """``ERR``: the controller's error word, decoded (reading it clears it)."""
        return self._parse_error_word(self.query("ERR"))

    def are_you_there(self) -> dict[str, str]:
        """``AYT``: type, model number, serial number, firmware and hardware versions."""
        reply = self.query("AYT")
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) != 5:
            raise self.garbled("AYT", reply, "expected type,model,serial,firmware,hardware")
        return dict(zip(("type", "model_number", "serial_number", "firmware", "hardware"), fields))

    # -------------------------------------------------------------- snapshot
    def identity(self) -> str:
        """Controller type, model, serial and versions (AYT) and the gauges fitted (TID)."""
        ayt = self.are_you_there()
        gauges = self.gauge_identification()
        return (
            f"Pfeiffer {ayt['type']} {ayt['model_number']} s/n {ayt['serial_number']} "
            f"firmware {ayt['firmware']} hardware {ayt['hardware']}; gauges {gauges[0]},{gauges[1]}"
        )

    def settings(self) -> dict[str, Any]:
        gauge1, gauge2 = self.gauge_identification()
        return {"pressure_unit": self.unit, "gauge_1": gauge1, "gauge_2": gauge2}

    def probe(self) -> dict[str, Any]:
        """Identity and both channels' pressure and status, for ``xbeam probe tpg362``.

        A channel whose sensor is off or missing is reported, not raised.
        """
        result: dict[str, Any] = {"model": self.model, "address": self.address, "identity": self.identity()}
        result["unit"] = self.unit
        gauges = self.gauge_identification()
        _, pairs = self._both()
        for channel, gauge, (status, value) in zip(self.channels, gauges, pairs):
            valid = status < 3 and self._unit in MBAR_PER_UNIT
            result[f"channel_{channel}"] = {
                "gauge": gauge,
                "status": status,
                "status_text": STATUS_TEXT[status],
                "pressure_mbar": value * MBAR_PER_UNIT[self._unit] if valid else None,
            }
        return result


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = TPG362
#: older model names apparatus files may still use
ALIASES = ('tpg362',)
