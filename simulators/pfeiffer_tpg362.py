"""Byte-level emulator of the Pfeiffer TPG 362 dual gauge controller (the TPG 36x / 26x family).

The emulator is told which of the world's controllers it is (``TAKES_NAME``: the role
name) and reads that controller's channels from the world (``World.gauge_readers``):
``gauges`` has the chamber's full-range gauge on channel 1 (PKR, 5e-9 to 1000 mbar,
logarithmic) and the capacitance manometer of the target gas line, behind the gas
needle, on channel 2 (CMR, 1 mbar full scale, linear, readable from 1e-4 of full scale
to 110 % of it); ``line_gauges`` has the reference line's capacitance manometer on
channel 1 and no sensor on channel 2.  A channel without a sensor answers as the
controller does: status 5 "no sensor" with the manual's reading ``2.0000E-2``, ``noSEn``
in ``TID``.  The world's pressures are in mbar; the controller reports them in the unit
set with ``UNI``.

The mnemonics protocol, byte by byte: a message is a three-letter mnemonic with
optional ``,``-separated parameters, ending with CR (LF optional, spaces ignored).  A
valid one is answered with ACK CR LF (and carried out: a set needs no ENQ), an invalid
one with NAK CR LF and a bit in the error word; ENQ sends the data of the last accepted
mnemonic (read again on every ENQ), or the error word if there is none; ETX clears the
input buffer.  An empty message (a bare CR, or the CR LF some hosts send after ENQ) is
ignored.  Continuous output (``COM``, or ``streaming=True`` for a unit that streams
from power-on) is emulated lazily: when bytes arrive, the lines that fell due by the
clock are sent first, then the first byte received ends the stream, as on the real
controller.

Coverage (the TPG 361/362 communication protocol BG 5510 BEN lists the mnemonics; where
its text was not at hand the TPG 261/262 manual BG 5195 BEN, the same family, gives the
parameters and replies):

=========  ==========================================================  ==============
mnemonic   what the emulator does                                      source
=========  ==========================================================  ==============
PR1 PR2    ``status,sx.xxxxEsxx`` in the present unit; logarithmic     BG 5195
PRX        gauges send zeros in the 3rd and 4th decimal; status from
           the gauge's range, SEN, and :attr:`sensor_status`
COM[,a]    continuous PRX lines every 100 ms / 1 s / 1 min             BG 5195
CPR[,a]    combined pressure range of the linear gauges: kept          BG 5510 (toc)
ERR        error word ``xxxx`` (1000 controller, 0100 no hardware,     BG 5195;
           0010 parameter, 0001 syntax), cleared when read              driver tests
RES[,1]    list of present errors (9/11 gauge error, 10/12 gauge id    BG 5195
           error, from the sensors' status); ``RES,1`` cancels them
TID        gauge types ``PKR,CMR`` (``noSEn``/``noid``)                BG 5195
UNI[,a]    0 mbar, 1 Torr, 2 Pa, 3 Micron, 4 hPa, 5 Volt: every        BG 5195,
           pressure sent or taken (readings, thresholds, offsets)       driver
           is in this unit
DCD[,a]    display digits 2/3: kept                                    BG 5195, pylablib
LOC[,a]    keylock 0/1: kept                                           BG 5510 (toc)
SEN[,a,b]  gauge on/off (0 no change, 1 off, 2 on; read back 0 =       BG 5195, pylablib
           cannot be switched, 1 off, 2 on): a PKR switched off
           reads status 4 "sensor off"; the CMR cannot be switched
FIL[,a,b]  measurement filter 0 fast, 1 medium, 2 slow: kept           BG 5195
CAL[,a,b]  calibration factor (log 0.100-9.990, lin 0.500-2.000):      BG 5195
           multiplies the reading
FSR[,a,b]  full scale of linear gauges (0 0.01 mbar ... 9 50 bar):     BG 5195, hvl-ccb
           the CMR's reading is its signal times the FSR set, so a
           wrong FSR gives wrong readings as on the real unit
OFC[,a,b]  offset correction of linear gauges (0 off, 1 on, 2 auto:    BG 5195
OFD[,a,b]  the present reading becomes the offset); OFD the offset
GAS[,a,b]  gas correction of the PKR's ionisation range (0 N2/air,     assumed (see
           1 Ar, 2 H2, 3 He, 4 Ne, 5 Kr, 6 Xe): the reading below       PKR factors)
           1e-5 mbar is multiplied by the gas's factor
SP1-SP4    switching function thresholds ``ch,lower,upper``; SPS the    BG 5195
SPS        four states (on below the lower threshold, off above the
           upper one) from the world's pressures
SC1 SC2    gauge control ``on,off,on_threshold,off_threshold``: kept   BG 5195, pylablib
BAU[,a]    baud rate code: kept (the link here has no baud rate)       BG 5195, pylablib
AYT        ``TPG362,PTG28290,44990000,010500,010100``                  BG 5510 (toc)
PNR        firmware number                                             BG 5195
TMP        the unit's inner temperature in degC                        BG 5510 (brief)
SAV[,a]    0 restores the defaults, 1 saves (parameters are kept       BG 5195
           across connections anyway)
WDT[,a]    watchdog control 0 manual, 1 auto: kept                     BG 5510 (toc)
=========  ==========================================================  ==============

Not emulated (NAK, syntax error, as for any unknown mnemonic): the display settings
whose parameters the sources at hand do not give (DCB, DCC, DCS, CID), the service test
programs (RST, TAD, TDI, TEE, TEP, TIO, TKB, TRA), Ethernet (ETH) and the Pfeiffer
Vacuum Protocol telegrams of the RS485 variant.

Tests set a channel's sensor status with ``emulator.sensor_status[2] = 4`` (sensor
off); status 0 means a healthy sensor whose status follows its measuring range (a
channel without a sensor is status 5 whatever is set).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .server import Emulator

__all__ = ["TPG362Emulator", "Gauge", "PKR", "CMR", "FULL_SCALE_MBAR", "GAS_FACTORS"]

ACK = b"\x06\r\n"
NAK = b"\x15\r\n"
ETX, ENQ, LF, CR = 0x03, 0x05, 0x0A, 0x0D

#: mbar per reading unit, by UNI code (5 = Volt handled per gauge)
_MBAR_PER_UNIT = {0: 1.0, 1: 1.333223684, 2: 0.01, 3: 1.333223684e-3, 4: 1.0}
#: COM interval codes
_COM_INTERVAL_S = {0: 0.1, 1: 1.0, 2: 60.0}
#: FSR codes -> full scale of a linear gauge, mbar
FULL_SCALE_MBAR = {0: 0.01, 1: 0.1, 2: 1.0, 3: 10.0, 4: 100.0, 5: 1000.0, 6: 2000.0, 7: 5000.0, 8: 10000.0, 9: 50000.0}
#: GAS codes -> gas correction factor of a PKR's cold-cathode (ionisation) range
GAS_FACTORS = {0: 1.0, 1: 0.8, 2: 2.4, 3: 5.9, 4: 4.1, 5: 0.5, 6: 0.4}
#: a host's serial buffer holds a few lines; older streamed lines are long gone
_MAX_BACKLOG_LINES = 16
_MAX_MESSAGE = 64  # characters kept in the input buffer
_ION_RANGE_MBAR = 1e-5  # below this a PKR reads its cold-cathode (gas-dependent) signal

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
    switchable: bool = False  # SEN can switch it on and off

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


PKR = Gauge("PKR", 5e-9, 1000.0, logarithmic=True, switchable=True)
CMR = Gauge("CMR", 1e-4, 1.1, logarithmic=False, full_scale_mbar=1.0)


class _Refused(Exception):
    def __init__(self, bit: int) -> None:
        self.bit = bit


def _exp(value: float) -> str:
    return f"{value:.4E}"


class TPG362Emulator(Emulator):
    """The controller as the host sees it on its serial line (see module docstring)."""

    model = "Pfeiffer TPG 362"
    reply_termination = b"\r\n"  # every reply line ends so (the server's garble keeps it)
    ayt = "TPG362,PTG28290,44990000,010500,010100"
    program_number = "010500"

    def __init__(self, world, name: str = "gauges", *, streaming: bool = False) -> None:
        super().__init__(world)
        self.name = name
        sensors = world.gauge_sensors(name)
        #: the gauge type on each channel (a channel without a sensor keeps a CMR's
        #: settings: the controller's parameters exist whether a gauge is plugged in or not)
        self.gauges: dict[int, Gauge] = {ch: PKR if what == "chamber" else CMR for ch, what in sensors.items()}
        #: channel -> the world's reading function (mbar), None: no sensor on that channel
        self.readers: dict[int, Callable[[], float] | None] = world.gauge_readers(name)
        #: forced measurement status per channel; 0 = healthy, status from the range
        self.sensor_status: dict[int, int] = {1: 0, 2: 0}
        #: the unit's inner temperature (TMP), degC
        self.temperature_C = 28
        self.error_word = 0
        self._buffer = bytearray()
        self._last: Callable[[], str] | None = None
        self._stream_interval_s: float | None = None
        self._next_line_t = 0.0
        self.received: list[str] = []  # messages received, for tests
        self.streamed_lines = 0  # continuous-output lines sent, for tests
        self._defaults()
        if streaming:  # a unit that streams from power-on, every second
            self._start_stream(1.0)
        self._handlers: dict[str, Callable[[list[str]], Callable[[], str]]] = {
            "PR1": lambda args: self._no_args(args, lambda: self._pair(1)),
            "PR2": lambda args: self._no_args(args, lambda: self._pair(2)),
            "PRX": lambda args: self._no_args(args, self._both),
            "TID": lambda args: self._no_args(args, self._tid),
            "AYT": lambda args: self._no_args(args, lambda: self.ayt),
            "PNR": lambda args: self._no_args(args, lambda: self.program_number),
            "TMP": lambda args: self._no_args(args, lambda: str(int(self.temperature_C))),
            "ERR": lambda args: self._no_args(args, self._read_error_word),
            "SPS": lambda args: self._no_args(args, self._switch_states),
            "UNI": self._uni,
            "COM": self._com,
            "RES": self._res,
            "SAV": self._sav,
            "SEN": self._sen,
            "FSR": lambda args: self._per_channel(args, "fsr", self._fsr_code, str),
            "FIL": lambda args: self._per_channel(args, "filter", self._choice(0, 1, 2), str),
            "CAL": lambda args: self._per_channel(args, "cal", self._cal_factor, lambda v: f"{v:.3f}"),
            "OFC": self._ofc,
            "OFD": lambda args: self._per_channel(args, "offset", self._pressure, self._unit_exp),
            "GAS": lambda args: self._per_channel(args, "gas", self._choice(*GAS_FACTORS), str),
            "SP1": lambda args: self._switch(1, args),
            "SP2": lambda args: self._switch(2, args),
            "SP3": lambda args: self._switch(3, args),
            "SP4": lambda args: self._switch(4, args),
            "SC1": lambda args: self._gauge_control(1, args),
            "SC2": lambda args: self._gauge_control(2, args),
            "DCD": lambda args: self._setting(args, "digits", self._choice(2, 3)),
            "LOC": lambda args: self._setting(args, "keylock", self._choice(0, 1)),
            "BAU": lambda args: self._setting(args, "baud", self._choice(0, 1, 2, 3, 4, 5, 6)),
            "CPR": lambda args: self._setting(args, "combined", self._choice(0, 1)),
            "WDT": lambda args: self._setting(args, "watchdog", self._choice(0, 1)),
        }

    def _defaults(self) -> None:
        """The factory parameters (SAV,0 restores them)."""
        self.unit_code = 0
        self.settings = {"digits": 2, "keylock": 0, "baud": 0, "combined": 0, "watchdog": 1}
        self.channel = {
            ch: {"on": True, "fsr": 5 if gauge.logarithmic else 2, "filter": 1, "cal": 1.0, "ofc": 0,
                 "offset": 0.0, "gas": 0}
            for ch, gauge in self.gauges.items()
        }
        self.switching = {n: {"channel": 0 if n <= 2 else 1, "lower": 1e-3, "upper": 2e-3, "on": False}
                          for n in (1, 2, 3, 4)}
        self.gauge_control = {ch: [0, 0, 1e-3, 2e-3] for ch in self.gauges}

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
        text = message.replace(" ", "").upper()
        if not text:
            return b""  # a bare CR (hosts that end ENQ with CR LF): nothing to answer
        self.received.append(message)
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

    # ------------------------------------------------------------ parameter parsing
    @staticmethod
    def _no_args(args: list[str], reader: Callable[[], str]) -> Callable[[], str]:
        if args:
            raise _Refused(_PARAMETER)
        return reader

    @staticmethod
    def _number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _Refused(_PARAMETER) from None
        if not math.isfinite(value) or "_" in text:
            raise _Refused(_PARAMETER)
        return value

    @classmethod
    def _choice(cls, *allowed: int) -> Callable[[int, str], int]:
        def parse(channel: int, text: str) -> int:
            if text not in {str(a) for a in allowed}:
                raise _Refused(_PARAMETER)
            return int(text)

        return parse

    def _fsr_code(self, channel: int, text: str) -> int:
        return self._choice(*FULL_SCALE_MBAR)(channel, text)

    def _cal_factor(self, channel: int, text: str) -> float:
        value = self._number(text)
        low, high = (0.1, 9.99) if self.gauges[channel].logarithmic else (0.5, 2.0)
        if not low <= value <= high:
            raise _Refused(_PARAMETER)
        return round(value, 3)

    def _pressure(self, channel: int, text: str) -> float:
        """A pressure given in the present unit, kept in mbar."""
        if self.unit_code == 5:
            raise _Refused(_PARAMETER)  # not a pressure unit
        return self._number(text) * _MBAR_PER_UNIT[self.unit_code]

    def _unit_exp(self, mbar: float) -> str:
        factor = _MBAR_PER_UNIT.get(self.unit_code, 1.0)
        return f"{mbar / factor:+.4E}"

    def _per_channel(self, args, key, parse, fmt) -> Callable[[], str]:
        """``XXX[,a,b]``: one value per channel, all given or none."""
        if args:
            if len(args) != len(self.gauges):
                raise _Refused(_PARAMETER)
            values = [parse(ch, text) for ch, text in zip(self.gauges, args)]
            for ch, value in zip(self.gauges, values):
                self.channel[ch][key] = value
        return lambda: ",".join(fmt(self.channel[ch][key]) for ch in self.gauges)

    def _setting(self, args, key, parse) -> Callable[[], str]:
        if len(args) > 1:
            raise _Refused(_PARAMETER)
        if args:
            self.settings[key] = parse(0, args[0])
        return lambda: str(self.settings[key])

    # ------------------------------------------------------------ mnemonics
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

    def _present_errors(self) -> list[int]:
        errors = []
        for ch in self.gauges:
            status = self.sensor_status.get(ch, 0)
            if status == 3:
                errors.append(9 if ch == 1 else 11)
            elif status == 6:
                errors.append(10 if ch == 1 else 12)
        return errors

    def _res(self, args: list[str]) -> Callable[[], str]:
        if len(args) > 1 or (args and args[0] != "1"):
            raise _Refused(_PARAMETER)
        # RES,1 cancels the active errors; a condition still present reports itself again
        return lambda: ",".join(str(e) for e in self._present_errors()) or "0"

    def _sav(self, args: list[str]) -> Callable[[], str]:
        if len(args) != 1 or args[0] not in ("0", "1"):
            raise _Refused(_PARAMETER)
        if args[0] == "0":
            self._defaults()
        return lambda: args[0]

    def _sen(self, args: list[str]) -> Callable[[], str]:
        if args:
            if len(args) != len(self.gauges) or any(a not in ("0", "1", "2") for a in args):
                raise _Refused(_PARAMETER)
            for ch, action in zip(self.gauges, args):
                if action != "0" and self.gauges[ch].switchable:
                    self.channel[ch]["on"] = action == "2"
        return lambda: ",".join(
            ("2" if self.channel[ch]["on"] else "1") if self.gauges[ch].switchable else "0" for ch in self.gauges
        )

    def _ofc(self, args: list[str]) -> Callable[[], str]:
        if args:
            if len(args) != len(self.gauges) or any(a not in ("0", "1", "2") for a in args):
                raise _Refused(_PARAMETER)
            for ch, mode in zip(self.gauges, args):
                if self.gauges[ch].logarithmic or self.readers[ch] is None:
                    continue  # offset correction is for linear gauges that are there
                if mode == "2":  # auto: the present reading becomes the offset
                    self.channel[ch]["offset"] = self._corrected(ch, self.readers[ch](), offset=False)
                self.channel[ch]["ofc"] = int(mode)
        return lambda: ",".join(str(self.channel[ch]["ofc"]) for ch in self.gauges)

    def _switch(self, n: int, args: list[str]) -> Callable[[], str]:
        sf = self.switching[n]
        if args:
            if len(args) != 3 or args[0] not in ("0", "1"):
                raise _Refused(_PARAMETER)
            lower, upper = self._pressure(0, args[1]), self._pressure(0, args[2])
            if not 0 < lower <= upper:
                raise _Refused(_PARAMETER)
            sf.update(channel=int(args[0]), lower=lower, upper=upper)
        return lambda: f"{sf['channel']},{self._threshold(sf['lower'])},{self._threshold(sf['upper'])}"

    def _threshold(self, mbar: float) -> str:
        return _exp(mbar / _MBAR_PER_UNIT.get(self.unit_code, 1.0))

    def _switch_states(self) -> str:
        states = []
        for n in (1, 2, 3, 4):
            sf = self.switching[n]
            status, p = self._measure(sf["channel"] + 1)
            if status >= 3:
                sf["on"] = False
            elif p < sf["lower"]:
                sf["on"] = True
            elif p > sf["upper"]:
                sf["on"] = False  # between the thresholds: as it was (hysteresis)
            states.append("1" if sf["on"] else "0")
        return ",".join(states)

    def _gauge_control(self, channel: int, args: list[str]) -> Callable[[], str]:
        if args:
            if len(args) != 4 or args[0] not in ("0", "1", "2", "3", "4") or args[1] not in ("0", "1", "2", "3", "4"):
                raise _Refused(_PARAMETER)
            on, off = self._pressure(channel, args[2]), self._pressure(channel, args[3])
            self.gauge_control[channel] = [int(args[0]), int(args[1]), on, off]

        def read() -> str:
            activation, deactivation, on, off = self.gauge_control[channel]
            return f"{activation},{deactivation},{self._threshold(on)},{self._threshold(off)}"

        return read

    def _tid(self) -> str:
        names = []
        for ch in self.gauges:
            status = 5 if self.readers[ch] is None else self.sensor_status.get(ch, 0)
            names.append({5: "noSEn", 6: "noid"}.get(status, self.gauges[ch].ident))
        return ",".join(names)

    # ------------------------------------------------------------ readings
    def _corrected(self, channel: int, p_mbar: float, *, offset: bool = True) -> float:
        """What the controller makes of its gauge's signal: FSR, gas, calibration, offset."""
        gauge, settings = self.gauges[channel], self.channel[channel]
        if gauge.logarithmic:
            if p_mbar < _ION_RANGE_MBAR:
                p_mbar *= GAS_FACTORS[settings["gas"]]
        else:  # the signal is a fraction of the gauge's own full scale; the FSR set says of what
            p_mbar *= FULL_SCALE_MBAR[settings["fsr"]] / gauge.full_scale_mbar
        p_mbar *= settings["cal"]
        if offset and not gauge.logarithmic and settings["ofc"]:
            p_mbar -= settings["offset"]
        return p_mbar

    def _measure(self, channel: int) -> tuple[int, float]:
        """Status and pressure in mbar, as the controller sees its gauge."""
        forced = 5 if self.readers[channel] is None else self.sensor_status.get(channel, 0)
        if forced == 5:
            return 5, 2.0e-2  # the manual's reading for "no sensor"
        if forced in (3, 4, 6):
            return forced, 0.0
        if not self.channel[channel]["on"]:
            return 4, 0.0
        low, high = self._range(channel)
        p = self._corrected(channel, self.readers[channel]())
        if forced == 1 or p < low:
            return 1, low
        if forced == 2 or p > high:
            return 2, high
        return 0, p

    def _range(self, channel: int) -> tuple[float, float]:
        """The measuring range: a linear gauge's follows the full scale set with FSR."""
        gauge = self.gauges[channel]
        if gauge.logarithmic:
            return gauge.low_mbar, gauge.high_mbar
        scale = FULL_SCALE_MBAR[self.channel[channel]["fsr"]] / gauge.full_scale_mbar
        return gauge.low_mbar * scale, gauge.high_mbar * scale

    def _in_unit(self, channel: int, p_mbar: float) -> float:
        if self.unit_code == 5:
            return self.gauges[channel].volts(p_mbar) if p_mbar > 0 else 0.0
        return p_mbar / _MBAR_PER_UNIT[self.unit_code]

    def _pair(self, channel: int) -> str:
        status, p = self._measure(channel)
        return f"{status},{self.gauges[channel].format(self._in_unit(channel, p))}"

    def _both(self) -> str:
        return ",".join(self._pair(ch) for ch in self.gauges)

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


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "pfeiffer_tpg362"
EMULATOR = TPG362Emulator
TRANSPORT = "serial"
#: the simulated apparatus has two controllers (``gauges``, ``line_gauges``): each is
#: told its role name, which says what its channels read
TAKES_NAME = True
