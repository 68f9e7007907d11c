"""Byte-level emulator of a Keithley 6485 picoammeter on the Faraday cup.

Speaks the SCPI subset of the Model 6485 instruction manual used by
:mod:`drivers.keithley_6485` and reads the beam from ``world.faraday_current_A()``
(negative: electrons arrive on the cup).

What the instrument does and the emulator copies:

* **Zero check** (on after ``*RST``) shunts the input: a reading is the instrument's own
  small input offset, whatever the beam does.  ``SYST:ZCOR:ACQ`` (zero check on)
  stores the present offset, ``SYST:ZCOR ON`` subtracts it from every reading.
* **Ranges** 2 nA ... 20 mA, each reading up to 105 % of its value.  On a fixed range
  a larger input reads ``+9.9E37`` (overflow, either polarity) and sets bit 0 (OFLO)
  of the status element; auto range takes the lowest range that holds the input.
  Setting a range (``CURR:RANG <expected>``) takes the lowest range holding that value
  and turns auto range off, as on the real instrument.
* **Reading strings** follow ``FORMat:ELEMents`` (``READ,UNIT,TIME,STAT`` after
  ``*RST``), in the instrument's order, units glued to the reading:
  ``-1.000000E-07A,+1.234000E+01,+0.000000E+00``.  The timestamp is seconds since power
  on (``*RST`` does not reset it), wrapping after 99 999.99 s.  Readings are
  quantised to 5.5 digits of the range.
* Errors go to the queue in the 6485's own format (``-222,"Parameter data out of
  range"``, ``0,"No error"``); ``FETC?`` before any reading queues ``-230``.
"""

from __future__ import annotations

from .server import ScpiEmulator, ScpiError

__all__ = ["Keithley6485Emulator", "RANGES_A"]

RANGES_A: tuple[float, ...] = (2e-9, 20e-9, 200e-9, 2e-6, 20e-6, 200e-6, 2e-3, 20e-3)
OVER_RANGE = 1.05  # each range reads up to 105 % of its value
OVERFLOW = 9.9e37
COUNTS = 200000  # 5.5 digits: 2 nA range resolves 10 fA
ELEMENTS = ("READ", "UNIT", "TIME", "STAT")
_ELEMENT_NAMES = {"READ": "READ", "READING": "READ", "UNIT": "UNIT", "UNITS": "UNIT", "TIME": "TIME", "STAT": "STAT", "STATUS": "STAT"}
STATUS_OVERFLOW = 1 << 0


def _fmt(value: float) -> str:
    return f"{value:+.6E}"


class Keithley6485Emulator(ScpiEmulator):
    """One 6485 whose input is the world's Faraday cup."""

    model = "Keithley 6485"
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 6485,4100123,B03   Sep 25 2002 10:53:29/A02  /E"
    #: the input offset the instrument reads with zero check on (A)
    input_offset_A = 3.2e-13
    offset_noise_A = 3e-15

    def __init__(self, world) -> None:
        super().__init__(world)
        self._t_power_on = world.clock.now()
        on_off = lambda attr: (lambda arg: "1" if getattr(self, attr) else "0")  # noqa: E731
        self.command("SYSTem:ZCHeck[:STATe]", lambda arg: setattr(self, "zero_check", self.boolean(arg)))
        self.command("SYSTem:ZCHeck[:STATe]?", on_off("zero_check"))
        self.command("SYSTem:ZCORrect[:STATe]", lambda arg: setattr(self, "zero_correct", self.boolean(arg)))
        self.command("SYSTem:ZCORrect[:STATe]?", on_off("zero_correct"))
        self.command("SYSTem:ZCORrect:ACQuire", self._acquire_zero)
        self.command("[SENSe:]CURRent[:DC]:RANGe[:UPPer]", self._set_range)
        self.command("[SENSe:]CURRent[:DC]:RANGe[:UPPer]?", lambda arg: f"{self.range_A:.6E}")
        self.command("[SENSe:]CURRent[:DC]:RANGe:AUTO", lambda arg: setattr(self, "auto_range", self.boolean(arg)))
        self.command("[SENSe:]CURRent[:DC]:RANGe:AUTO?", on_off("auto_range"))
        self.command("[SENSe:]CURRent[:DC]:NPLCycles", self._set_nplc)
        self.command("[SENSe:]CURRent[:DC]:NPLCycles?", lambda arg: f"{self.nplc:.6E}")
        self.command("FORMat:ELEMents", self._set_elements)
        self.command("FORMat:ELEMents?", lambda arg: ",".join(self.elements))
        self.command("INITiate[:IMMediate]", self._initiate)
        self.command("FETCh?", self._fetch)
        self.command("READ?", self._read)
        self.command("MEASure[:CURRent[:DC]]?", self._read)
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        self.zero_check = True
        self.zero_correct = False
        self.zero_A = 0.0
        self.auto_range = True
        self.range_A = RANGES_A[-1]
        self.nplc = 6.0
        self.elements: tuple[str, ...] = ELEMENTS
        self.last_reading: str | None = None

    def format_error(self, code: int, message: str) -> str:
        return f'{code},"{message}"'

    # ------------------------------------------------------------ the input
    def _offset_A(self) -> float:
        """The front end's own offset, with a few fA of noise."""
        return self.input_offset_A + self.offset_noise_A * float(self.world.rng.standard_normal())

    def _input_A(self) -> float:
        """What the front end sees: the cup, or only its own offset in zero check."""
        if self.zero_check:
            return self._offset_A()
        return self.world.faraday_current_A() + self._offset_A()

    @staticmethod
    def _lowest_range(value_A: float) -> float | None:
        for rng in RANGES_A:
            if abs(value_A) <= rng * OVER_RANGE:
                return rng
        return None

    def _measure(self) -> str:
        raw = self._input_A()
        if self.auto_range:
            self.range_A = self._lowest_range(raw) or RANGES_A[-1]
        status = 0
        if abs(raw) > self.range_A * OVER_RANGE:
            value, status = OVERFLOW, STATUS_OVERFLOW
        else:
            corrected = raw - self.zero_A if self.zero_correct else raw
            step = self.range_A / COUNTS
            value = round(corrected / step) * step
        return self._format(value, status)

    def _format(self, value: float, status: int) -> str:
        fields = []
        if "READ" in self.elements:
            fields.append(_fmt(value) + ("A" if "UNIT" in self.elements else ""))
        if "TIME" in self.elements:
            fields.append(_fmt((self.world.clock.now() - self._t_power_on) % 100000.0))
        if "STAT" in self.elements:
            fields.append(_fmt(status))
        return ",".join(fields)

    # ------------------------------------------------------------ handlers
    def _acquire_zero(self, arg: str) -> None:
        # the zero is the shunted input's offset: acquiring it off zero check would zero the beam away
        if not self.zero_check:
            raise ScpiError(-221, "Settings conflict")
        self.zero_A = self._offset_A()

    def _set_range(self, arg: str) -> None:
        text = arg.strip().upper()
        if text in ("MAX", "MAXIMUM", "DEF", "DEFAULT"):
            value = RANGES_A[-1]
        elif text in ("MIN", "MINIMUM"):
            value = RANGES_A[0]
        else:
            value = self.number(arg)
            if abs(value) > 0.021:
                raise ScpiError(-222, "Parameter data out of range")
        self.range_A = self._lowest_range(value) or RANGES_A[-1]
        self.auto_range = False

    def _set_nplc(self, arg: str) -> None:
        value = self.number(arg)
        if not 0.01 <= value <= 6.0:
            raise ScpiError(-222, "Parameter data out of range")
        self.nplc = value

    def _set_elements(self, arg: str) -> None:
        names = [part.strip().upper() for part in arg.split(",") if part.strip()]
        if not names:
            raise ScpiError(-109, "Missing parameter")
        if any(name not in _ELEMENT_NAMES for name in names):
            raise ScpiError(-224, "Illegal parameter value")
        chosen = {_ELEMENT_NAMES[name] for name in names}
        self.elements = tuple(e for e in ELEMENTS if e in chosen)

    def _initiate(self, arg: str) -> None:
        self.last_reading = self._measure()

    def _fetch(self, arg: str) -> str:
        if self.last_reading is None:
            raise ScpiError(-230, "Data corrupt or stale")
        return self.last_reading

    def _read(self, arg: str) -> str:
        self._initiate(arg)
        return self.last_reading
