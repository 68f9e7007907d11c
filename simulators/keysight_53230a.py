"""Byte-level emulator of a Keysight 53230A counter in timed-totalize mode.

It answers the commands the xbeam driver uses, with the replies and error codes of the
53220A/53230A Programmer's Reference:

* ``CONFigure:TOTalize:TIMed [<gate>|MIN|MAX|DEF][,(@1|@2)]`` (gate 1 us .. 1000 s or
  9.9E37 = INFinity; sets sample count, trigger count 1, trigger source IMMediate,
  clears reading memory), ``[SENSe:]TOTalize:GATE:TIME[?]``,
  ``SAMPle:COUNt[?]``, ``TRIGger:COUNt[?]``, ``TRIGger:SOURce[?]``, ``FORMat[:DATA]``
* ``INITiate[:IMMediate]``, ``ABORt``, ``FETCh?``, ``READ?``, ``R? [<max>]``,
  ``DATA:POINts?``, and the common ``*IDN? *CLS *RST SYSTem:ERRor?``.

Timing.  On INIT the emulator records ``t0 = world.clock.now()``; reading ``k`` covers
``[t0 + k*gate, t0 + (k+1)*gate]``.  The real counter needs a few microseconds to
re-arm between gates; that gap is ignored here.  With trigger source IMMediate,
``TRIG:COUN x SAMP:COUN`` readings follow each other back to back.

Counts.  A reading's count is ``world.detector_counts(start, stop)`` (Poisson around
the world's integrated measured rate), drawn once, the first time any reading is
asked for after it completed.  This approximation evaluates the world's state
functions at past times: a world whose settings changed between the end of a gate
and the request would be integrated with the new settings.  The world's state is a
function of time (ramps, lags, positions) so that is exact for everything that
moves on its own, and only a setting changed during the unrequested interval leaks
backwards; drivers ask for readings as soon as they are due, so it does not matter
in practice.

An early ``FETC?`` waits with ``world.clock.sleep_until(end)`` as the counter does.  It
waits inside ``feed``, i.e. holding ``world.lock``: with a real or scaled clock that
stalls the other emulators for the rest of the measurement (the xbeam driver sleeps
until the end before asking, so it never does this); with a virtual clock it is
instantaneous.

Replies are ASCII (``FORM ASC``): 15 significant digits, three-digit exponent,
comma-separated; ``R?`` wraps them in a definite-length block ``#<n><len><data>``
(``#10`` when the measurement is running but nothing is complete yet).  ``FETC?``/
``R?`` with no reading in memory and no measurement in progress queue ``-230,"Data
corrupt or stale"`` and send nothing, as the real counter does.

Test hook: ``emulator.timeout_next = True`` makes the next reading drawn 9.91E37, the
counter's "not a number" for a measurement that timed out.
"""

from __future__ import annotations

import math

from .server import ScpiEmulator, ScpiError

__all__ = ["Counter53230AEmulator"]

NOT_A_NUMBER = 9.91e37
INFINITY = 9.9e37
MIN_GATE_S = 1e-6
MAX_GATE_S = 1000.0
DEFAULT_GATE_S = 0.1
MAX_COUNT = 1_000_000
#: floating-point slack when deciding whether a gate has ended at the requested time
_EPS = 1e-9


def ascii_reading(value: float) -> str:
    """``+1.23456000000000E+005``: the counter's ASCII reading format."""
    mantissa, exponent = f"{value:+.14E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"


class _Measurement:
    """One INIT: when it started, its gates, what has been drawn and read."""

    def __init__(self, t0: float, gate_s: float, n: int, triggered: bool) -> None:
        self.t0 = t0
        self.gate_s = gate_s
        self.n = n
        self.triggered = triggered  # False: waiting for a trigger that never comes
        self.aborted_at: float | None = None
        self.values: list[float] = []  # drawn readings, index k = reading k
        self.erased = 0  # readings removed from memory by R? (oldest first)

    @property
    def infinite(self) -> bool:
        return self.gate_s >= INFINITY

    def completed(self, t: float) -> int:
        """Readings complete at time ``t``."""
        if not self.triggered:
            return 0
        if self.infinite:
            # the gate stays open until ABORt closes it: then that one reading completes
            return 1 if self.aborted_at is not None else 0
        if self.aborted_at is not None:
            t = min(t, self.aborted_at)
        return max(0, min(self.n, math.floor((t - self.t0) / self.gate_s + _EPS)))

    def window(self, k: int) -> tuple[float, float]:
        if self.infinite:
            return self.t0, self.aborted_at
        return self.t0 + k * self.gate_s, self.t0 + (k + 1) * self.gate_s

    def running(self, t: float) -> bool:
        """In progress: gates still to come, or still waiting for the trigger."""
        return self.aborted_at is None and self.completed(t) < self.n

    def end(self) -> float:
        return self.t0 + self.n * self.gate_s


class Counter53230AEmulator(ScpiEmulator):
    """Keysight 53230A in timed totalize, counting the world's channeltron pulses."""

    model = "Keysight 53230A"
    idn = "Keysight Technologies,53230A,MY50001234,02.05-1519.666-1.19-4.15-127-155-35"

    def __init__(self, world) -> None:
        super().__init__(world)
        #: test hook: the next reading drawn is 9.91E37 (measurement timeout)
        self.timeout_next = False
        self.reset()
        self.command("CONFigure:TOTalize:TIMed", self._configure)
        self.command("[SENSe:]TOTalize:GATE:TIME", self._set_gate)
        self.command("[SENSe:]TOTalize:GATE:TIME?", lambda arg: ascii_reading(self.gate_s))
        self.command("SAMPle:COUNt", self._set_samples)
        self.command("SAMPle:COUNt?", lambda arg: f"{self.samples:+d}")
        self.command("TRIGger:COUNt", self._set_trigger_count)
        self.command("TRIGger:COUNt?", lambda arg: f"{self.trigger_count:+d}")
        self.command("TRIGger:SOURce", self._set_trigger_source)
        self.command("TRIGger:SOURce?", lambda arg: self.trigger_source)
        self.command("FORMat[:DATA]", self._set_format)
        self.command("FORMat[:DATA]?", lambda arg: "ASC,9")
        self.command("INITiate[:IMMediate]", self._initiate)
        self.command("ABORt", self._abort)
        self.command("FETCh?", self._fetch)
        self.command("READ?", self._read)
        self.command("R?", self._read_and_erase)
        self.command("DATA:POINts?", lambda arg: f"{self._in_memory():+d}")

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """``*RST``: gate 0.1 s on channel 1, one sample, trigger IMM, memory cleared."""
        self.channel = 1
        self.gate_s = DEFAULT_GATE_S
        self.samples = 1
        self.trigger_count = 1
        self.trigger_source = "IMM"
        self.measurement: _Measurement | None = None

    def _now(self) -> float:
        return self.world.clock.now()

    def _running(self) -> bool:
        return self.measurement is not None and self.measurement.running(self._now())

    def _clear_memory(self) -> None:
        """A configuration change ends the measurement and clears reading memory."""
        self.measurement = None

    # ---------------------------------------------------------- parameters
    def _parse_count(self, arg: str) -> int:
        special = {"MIN": 1, "MINIMUM": 1, "MAX": MAX_COUNT, "MAXIMUM": MAX_COUNT, "DEF": 1, "DEFAULT": 1}
        text = arg.strip().upper()
        if text in special:
            return special[text]
        value = self.number(arg)
        if value != math.floor(value) or not 1 <= value <= MAX_COUNT:
            raise ScpiError(-222, "Data out of range")
        return int(value)

    def _parse_gate(self, text: str) -> float:
        special = {
            "MIN": MIN_GATE_S, "MINIMUM": MIN_GATE_S, "MAX": MAX_GATE_S, "MAXIMUM": MAX_GATE_S,
            "DEF": DEFAULT_GATE_S, "DEFAULT": DEFAULT_GATE_S, "INF": INFINITY, "INFINITY": INFINITY,
        }
        key = text.strip().upper()
        if key in special:
            return special[key]
        gate = self.number(text)
        if gate >= INFINITY:
            return INFINITY
        if not MIN_GATE_S * (1 - 1e-9) <= gate <= MAX_GATE_S:
            raise ScpiError(-222, "Data out of range")
        return round(gate, 6)  # the 53230A resolves the gate to 1 us

    @staticmethod
    def _parse_channel(text: str) -> int:
        compact = text.replace(" ", "")
        if compact in ("(@1)", "(@2)"):
            return int(compact[2])
        raise ScpiError(-224, "Illegal parameter value")

    # ------------------------------------------------------------ commands
    def _configure(self, arg: str) -> None:
        parts = [p.strip() for p in arg.split(",", 1)] if arg.strip() else []
        gate = self._parse_gate(parts[0]) if parts and parts[0] else DEFAULT_GATE_S
        channel = self._parse_channel(parts[1]) if len(parts) > 1 else 1
        self.gate_s, self.channel = gate, channel
        self.samples, self.trigger_count, self.trigger_source = 1, 1, "IMM"
        self._clear_memory()

    def _set_gate(self, arg: str) -> None:
        self.gate_s = self._parse_gate(arg)
        self._clear_memory()

    def _set_samples(self, arg: str) -> None:
        self.samples = self._parse_count(arg)

    def _set_trigger_count(self, arg: str) -> None:
        self.trigger_count = self._parse_count(arg)

    def _set_trigger_source(self, arg: str) -> None:
        sources = {"IMM": "IMM", "IMMEDIATE": "IMM", "EXT": "EXT", "EXTERNAL": "EXT", "BUS": "BUS"}
        source = sources.get(arg.strip().upper())
        if source is None:
            raise ScpiError(-224, "Illegal parameter value")
        self.trigger_source = source

    def _set_format(self, arg: str) -> None:
        kind = arg.split(",")[0].strip().upper()
        if kind in ("ASC", "ASCII"):
            return
        if kind == "REAL":
            # binary readings are not emulated: this emulator serves ASCII only
            raise ScpiError(-221, "Settings conflict")
        raise ScpiError(-224, "Illegal parameter value")

    def _initiate(self, arg: str) -> None:
        if self._running():
            raise ScpiError(-213, "Init ignored")
        # the sample count is ignored for an infinite (continuous) totalize gate
        n = 1 if self.gate_s >= INFINITY else self.samples * self.trigger_count
        # nothing connected to EXT/BUS triggers here: such a measurement waits forever
        self.measurement = _Measurement(self._now(), self.gate_s, n, triggered=self.trigger_source == "IMM")

    def _abort(self, arg: str) -> None:
        m = self.measurement
        if m is not None and m.aborted_at is None and m.running(self._now()):
            m.aborted_at = self._now()

    def _draw(self, upto: int) -> None:
        """Draw counts for readings ``len(values) .. upto-1`` (once each, in order)."""
        m = self.measurement
        while len(m.values) < upto:
            start, stop = m.window(len(m.values))
            if self.timeout_next:
                self.timeout_next = False
                value = NOT_A_NUMBER
            else:
                value = float(self.world.detector_counts(start, stop))
            m.values.append(value)

    def _in_memory(self) -> int:
        m = self.measurement
        if m is None:
            return 0
        return m.completed(self._now()) - m.erased

    def _fetch(self, arg: str) -> str | None:
        m = self.measurement
        if m is None:
            raise ScpiError(-230, "Data corrupt or stale")
        if m.running(self._now()):
            if not m.triggered or m.infinite:
                return None  # the counter would keep the bus busy until the I/O timeout
            # FETC? waits for the measurement to finish before it answers
            self.world.clock.sleep_until(m.end())
        done = m.completed(self._now())
        if done - m.erased <= 0:
            raise ScpiError(-230, "Data corrupt or stale")
        self._draw(done)
        return ",".join(ascii_reading(v) for v in m.values[m.erased : done])

    def _read(self, arg: str) -> str | None:
        self._initiate(arg)  # READ? = INIT + FETC?, and INIT clears memory
        return self._fetch(arg)

    def _read_and_erase(self, arg: str) -> str:
        m = self.measurement
        limit = self._parse_count(arg) if arg.strip() else MAX_COUNT
        now = self._now()
        if m is None or (m.completed(now) - m.erased <= 0 and not m.running(now)):
            raise ScpiError(-230, "Data corrupt or stale")
        done = m.completed(now)
        take = min(limit, done - m.erased)
        self._draw(m.erased + take)
        payload = ",".join(ascii_reading(v) for v in m.values[m.erased : m.erased + take])
        m.erased += take
        length = str(len(payload))
        return f"#{len(length)}{length}{payload}"
