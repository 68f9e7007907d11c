"""Byte-level emulator of a Keysight 53230A counter totalizing the channeltron's pulses.

It answers with the replies and error codes of the 53220A/53230A User's Guide and
Programmer's Reference; the SCPI rules (header paths, short/long forms, common
commands, status byte, error queue, ``MIN|MAX|DEF``, unit suffixes such as ``100 MS``
or ``-20 MV``) are :class:`~simulators.server.ScpiEmulator`'s.

Timing.  On INIT the emulator records ``t0 = world.clock.now()``.  With trigger source
IMMediate the ``TRIG:COUN`` bursts follow each other, each ``TRIG:DEL`` and then
``SAMP:COUN`` gates back to back; with BUS a burst starts at each ``*TRG`` the counter
is waiting for; EXTernal triggers never come (nothing is connected).  The real
counter needs a few microseconds to re-arm between gates; that gap is ignored here.
``TOT:GATE:SOUR ADV`` with immediate start and stop sources opens each gate
``GATE:STAR:DEL:TIME`` late and keeps it open ``GATE:STOP:HOLD:TIME``; external or
event-counted gate edges never come.

Counts.  A reading's count is ``world.detector_counts(start, stop)`` (Poisson around
the world's integrated measured rate), drawn once, the first time any reading is
asked for after it completed (``TOT:DATA?`` draws the open gate so far, and the rest
is added later, so the running count only grows).  This approximation evaluates the
world's state functions at past times: a world whose settings changed between the
end of a gate and the request would be integrated with the new settings.  The world's
state is a function of time (ramps, lags, positions) so that is exact for everything
that moves on its own, and only a setting changed during the unrequested interval
leaks backwards; drivers ask for readings as soon as they are due, so it does not
matter in practice.

The discriminator.  With auto-level on (``*RST`` and every ``CONFigure``) the counter
is taken to trigger on every pulse the world counts.  With an absolute threshold
(``INP:LEV <V>``, which turns auto-level off) a count keeps the fraction
``world.pulse_fraction(level)`` of the pulses (binomial thinning): the channeltron's
pulses are negative, so a level at or above 0 V counts nothing and a level beyond the
pulse heights loses them.  The 100 kHz filter (``INP:FILT ON``) shrinks the ~10 ns
pulses by ``2 pi f tau``.  Slope, coupling, impedance, range, probe and noise reject
are stored and answered but do not change the count (a negative pulse crosses a
negative level once each way; its duty cycle is too low for AC coupling to shift it).

An early ``FETC?`` or ``*OPC?`` waits with ``world.clock.sleep_until(end)`` as the
counter does.  It waits inside ``feed``, i.e. holding ``world.lock``: with a real or
scaled clock that stalls the other emulators for the rest of the measurement (the
xbeam driver sleeps until the end before asking, so it never does this); with a
virtual clock it is instantaneous.

Replies are ASCII (``FORM ASC``): 15 significant digits, three-digit exponent,
comma-separated; ``R?`` wraps them in a definite-length block ``#<n><len><data>``
(``#10`` when the measurement is running but nothing is complete yet).  ``FETC?``/
``R?`` with no reading in memory and no measurement in progress queue ``-230,"Data
corrupt or stale"`` and send nothing, as the real counter does.

Test hook: ``emulator.timeout_next = True`` makes the next reading drawn 9.91E37, the
counter's "not a number" for a measurement that timed out.

Coverage (User's Guide ch. 3-5 and 7, Programmer's Reference):

===========================================================  =======  ============================
command                                                      status   note
===========================================================  =======  ============================
CONFigure:TOTalize:TIMed [<gate>|MIN|MAX|DEF][,(@1|@2)]      yes      1 us .. 1000 s, INF
CONFigure:TOTalize:CONTinuous [(@1|@2)], CONFigure?          yes      "TOT:TIM +1.0...E-001,(@1)"
MEASure:TOTalize:TIMed? [<gate>][,(@ch)]                     yes      CONF + READ?
[SENS:]TOTalize:GATE:TIME[?], :GATE:SOURce {TIME|EXT|ADV}[?],yes
:GATE:POLarity[?], [SENS:]TOTalize:DATA?
[SENS:]GATE:STARt:SOURce|SLOPe|DELay:SOURce|DELay:TIME|      yes      see Timing
DELay:EVENts[?], [SENS:]GATE:STOP:SOURce|SLOPe|HOLDoff:...,
[SENS:]GATE:EXTernal:SOURce[?]
INPut{1|2}:COUPling, :IMPedance, :RANGe, :PROBe[?]           yes      stored
INPut{1|2}:LEVel{1|2}[:ABSolute], :RELative, :AUTO[?]        yes      the discriminator, above
INPut{1|2}:SLOPe, :NREJection, :FILTer[:LPASs][:STATe][?],   yes
:FILTer[:LPASs]:FREQuency?, :LEVel:MAXimum? :MINimum? :PTPeak?
SAMPle:COUNt, TRIGger:COUNt|SOURce|DELay|SLOPe[?], *TRG      yes      1 .. 1 000 000
INITiate[:IMMediate], ABORt, FETCh?, READ?, R? [<max>],       yes
DATA:POINts?
FORMat[:DATA] ASCii[?]                                       yes      REAL: -221 (not emulated)
SYSTem:VERSion?, SYSTem:ERRor?, SYSTem:TIMeout[?]            yes      timeout stored only
SYSTem:LOCK:REQuest?, :RELease, :OWNer?                      yes      one interface: LAN, granted
STATus:OPERation|QUEStionable [:EVENt]? :CONDition?          yes      OPER bit 4 measuring,
:ENABle[?], STATus:PRESet                                             5 waiting for trigger
*CLS *ESE *ESR? *IDN? *OPC *OPC? *RST *SRE *STB? *TRG *TST?   yes      STB: EAV(2) QUES(3) MAV(4)
*WAI                                                                  ESB(5) MSS(6) OPER(7)
CONFigure:FREQuency [<exp>[,<res>]][,(@ch)], MEAS:FREQ?,     yes      events / gate; 9.91E37 with
[SENS:]FUNCtion "FREQ|TOT:TIM|TOT:CONT [1|2]"[?],                     no edge in the gate (a random
[SENS:]FREQuency:GATE:TIME[?], :GATE:SOURce {TIME|ADV}[?]             pulse train, not a carrier)
PERiod, time interval, ratio, CALCulate, HCOPy, MMEMory,      no       the emulator counts pulses
DISPlay, channel 3, the *RST function FREQ                             (*RST leaves timed totalize)
===========================================================  =======  ============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .server import ScpiEmulator, ScpiError, StatusRegister

__all__ = ["Counter53230AEmulator"]

NOT_A_NUMBER = 9.91e37
INFINITY = 9.9e37
MIN_GATE_S = 1e-6
MAX_GATE_S = 1000.0
DEFAULT_GATE_S = 0.1
#: frequency gate time range (s) and the expected value CONF:FREQ assumes (DEF)
FREQ_MIN_GATE_S, FREQ_MAX_GATE_S = 1e-5, 1000.0
DEFAULT_EXPECTED_HZ = 1e7
#: SENSe:FUNCtion names (short or long) -> the function they select
_FUNCTIONS = {
    "FREQ": "FREQ", "FREQUENCY": "FREQ",
    "TOT:TIM": "TOT:TIM", "TOTALIZE:TIMED": "TOT:TIM", "TOT:TIMED": "TOT:TIM", "TOTALIZE:TIM": "TOT:TIM",
    "TOT:CONT": "TOT:CONT", "TOTALIZE:CONTINUOUS": "TOT:CONT", "TOT:CONTINUOUS": "TOT:CONT", "TOTALIZE:CONT": "TOT:CONT",
}
MAX_COUNT = 1_000_000
#: floating-point slack when deciding whether a gate has ended at the requested time
_EPS = 1e-9
#: width of a channeltron pulse at the counter input (what the 100 kHz filter shrinks)
PULSE_WIDTH_S = 10e-9
FILTER_HZ = 100e3

OPER_MEASURING, OPER_WAITING = 1 << 4, 1 << 5


def ascii_reading(value: float) -> str:
    """``+1.23456000000000E+005``: the counter's ASCII reading format."""
    mantissa, exponent = f"{value:+.14E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"


@dataclass
class _Input:
    """One input channel's signal conditioning (*RST values)."""

    coupling: str = "AC"
    impedance: float = 1e6
    range_V: float = 5.0
    probe: int = 1
    level_V: float = 0.0
    level2_V: float = 0.0
    relative: float = 50.0
    relative2: float = 50.0
    auto: bool = True
    slope: str = "POS"
    slope2: str = "POS"
    noise_reject: bool = False
    low_pass: bool = False


class _Measurement:
    """One INIT: when its gates open and close, what has been drawn and read."""

    def __init__(self, t0: float, gate_s: float, samples: int, triggers: int, delay_s: float,
                 source: str, offset_s: float, gated: bool) -> None:
        self.t0 = t0
        self.gate_s = gate_s
        self.samples = 1 if gate_s >= INFINITY else samples
        self.triggers = 1 if gate_s >= INFINITY else triggers
        self.n = self.samples * self.triggers
        self.delay = delay_s
        self.source = source  # IMM, BUS or EXT
        self.offset = offset_s  # advanced gating: each gate opens this late
        self.gated = gated  # False: the gate edges never come
        self.bus: list[float] = []  # times of *TRG accepted
        self.aborted_at: float | None = None
        self.values: list[float] = []  # drawn readings, index k = reading k
        self.erased = 0  # readings removed from memory by R? (oldest first)
        self.partial: tuple[int, float, int] | None = None  # (reading, drawn up to, count)

    @property
    def infinite(self) -> bool:
        return self.gate_s >= INFINITY

    @property
    def _slot(self) -> float:
        return self.offset + self.gate_s

    def _burst(self, j: int) -> float | None:
        if not self.gated:
            return None
        if self.source == "IMM":
            return self.t0 + j * (self.delay + self.samples * self._slot) if not self.infinite else self.t0
        if self.source == "BUS":
            return self.bus[j] if j < len(self.bus) else None
        return None

    def window(self, k: int) -> tuple[float, float] | None:
        j, i = divmod(k, self.samples)
        burst = self._burst(j)
        if burst is None:
            return None
        start = burst + self.delay + i * self._slot + self.offset
        if self.infinite:
            return start, self.aborted_at
        return start, start + self.gate_s

    def completed(self, t: float) -> int:
        """Readings complete at time ``t``."""
        if self.infinite:
            # the gate stays open until ABORt closes it: then that one reading completes
            return 1 if self.aborted_at is not None and self.window(0) is not None else 0
        if not self.gated:
            return 0
        if self.aborted_at is not None:
            t = min(t, self.aborted_at)
        if self.source == "IMM":
            period = self.delay + self.samples * self._slot
            elapsed = t - self.t0
            if elapsed < 0:
                return 0
            j = min(self.triggers - 1, math.floor(elapsed / period + _EPS))
            inside = math.floor((elapsed - j * period - self.delay) / self._slot + _EPS)
            return min(self.n, j * self.samples + max(0, min(self.samples, inside)))
        done = 0
        for start in self.bus:
            inside = math.floor((t - start - self.delay) / self._slot + _EPS)
            done += max(0, min(self.samples, inside))
        return min(self.n, done)

    def end(self) -> float:
        if self.infinite or not self.gated:
            return math.inf
        last = self._burst(self.triggers - 1)
        return math.inf if last is None else last + self.delay + self.samples * self._slot

    def running(self, t: float) -> bool:
        """In progress: gates still to come, or still waiting for the trigger."""
        return self.aborted_at is None and self.completed(t) < self.n

    def waiting_for_trigger(self, t: float) -> bool:
        """Armed and waiting for a trigger (BUS: for ``*TRG``; EXT: forever)."""
        if not self.running(t) or self.source == "IMM":
            return False
        if self.source == "EXT":
            return True
        if len(self.bus) >= self.triggers:
            return False
        return self.completed(t) >= len(self.bus) * self.samples

    def open_window(self, t: float) -> int | None:
        """The reading whose gate is open at ``t``, if any."""
        k = self.completed(t)
        if k >= self.n:
            return None
        w = self.window(k)
        if w is None or w[0] > t:
            return None
        return k


class Counter53230AEmulator(ScpiEmulator):
    """Keysight 53230A counting the world's channeltron pulses (totalize)."""

    model = "Keysight 53230A"
    idn = "Keysight Technologies,53230A,MY50001234,02.05-1519.666-1.19-4.15-127-155-35"
    scpi_version = "1994.0"

    def __init__(self, world) -> None:
        super().__init__(world)
        #: test hook: the next reading drawn is 9.91E37 (measurement timeout)
        self.timeout_next = False
        #: SYSTem:LOCK requests held (the lock is not part of the *RST state)
        self.lock_count = 0
        self.oper = self.status_register(StatusRegister("OPER", 7, self._oper_condition), "STATus:OPERation")
        self.ques = self.status_register(StatusRegister("QUES", 3), "STATus:QUEStionable")
        self.reset()
        c = self.command
        c("CONFigure:TOTalize:TIMed", self._configure)
        c("CONFigure:TOTalize:CONTinuous", self._configure_continuous)
        c("CONFigure?", self._no_params(self._configure_query))
        c("MEASure:TOTalize:TIMed?", self._measure)
        c("CONFigure:FREQuency", self._configure_frequency)
        c("MEASure:FREQuency?", self._measure_frequency)
        c("[SENSe:]FUNCtion[:ON]", self._set_function)
        c("[SENSe:]FUNCtion[:ON]?", self._no_params(self._function_query))
        c("[SENSe:]FREQuency:GATE:TIME", self._set_frequency_gate)
        c("[SENSe:]FREQuency:GATE:TIME?", lambda a: ascii_reading(self.query_value(
            a, self.freq_gate_s, minimum=FREQ_MIN_GATE_S, maximum=FREQ_MAX_GATE_S, default=DEFAULT_GATE_S)))
        c("[SENSe:]FREQuency:GATE:SOURce", self._setter("freq_gate_source", {"TIME": "TIME", "ADVanced": "ADV"}))
        c("[SENSe:]FREQuency:GATE:SOURce?", self._no_params(lambda: self.freq_gate_source))
        c("[SENSe:]TOTalize:GATE:TIME", self._set_gate)
        c("[SENSe:]TOTalize:GATE:TIME?", lambda a: ascii_reading(self.query_value(
            a, self.gate_s, minimum=MIN_GATE_S, maximum=MAX_GATE_S, default=DEFAULT_GATE_S)))
        c("[SENSe:]TOTalize:GATE:SOURce", self._setter("gate_source", {"TIME": "TIME", "EXTernal": "EXT", "ADVanced": "ADV"}))
        c("[SENSe:]TOTalize:GATE:SOURce?", self._no_params(lambda: self.gate_source))
        c("[SENSe:]TOTalize:GATE:POLarity", self._setter("gate_polarity", {"NORMal": "NORM", "INVerted": "INV"}))
        c("[SENSe:]TOTalize:GATE:POLarity?", self._no_params(lambda: self.gate_polarity))
        c("[SENSe:]TOTalize:DATA?", self._no_params(self._running_total))
        edge = {"IMMediate": "IMM", "EXTernal": "EXT", "INPut1": "INP1", "INPut": "INP1", "INPut2": "INP2"}
        delay = {"IMMediate": "IMM", "EVENts": "EVEN", "TIME": "TIME"}
        slope = {"POSitive": "POS", "NEGative": "NEG"}
        for end, source_attr in (("STARt", "start"), ("STOP", "stop")):
            wait = "DELay" if end == "STARt" else "HOLDoff"
            c(f"[SENSe:]GATE:{end}:SOURce", self._setter(f"{source_attr}_source", edge))
            c(f"[SENSe:]GATE:{end}:SOURce?", self._no_params(lambda a=source_attr: getattr(self, f"{a}_source")))
            c(f"[SENSe:]GATE:{end}:SLOPe", self._setter(f"{source_attr}_slope", slope))
            c(f"[SENSe:]GATE:{end}:SLOPe?", self._no_params(lambda a=source_attr: getattr(self, f"{a}_slope")))
            c(f"[SENSe:]GATE:{end}:{wait}:SOURce", self._setter(f"{source_attr}_wait_source", delay))
            c(f"[SENSe:]GATE:{end}:{wait}:SOURce?", self._no_params(lambda a=source_attr: getattr(self, f"{a}_wait_source")))
            c(f"[SENSe:]GATE:{end}:{wait}:TIME", lambda arg, a=source_attr: setattr(self, f"{a}_wait_s", self.numeric(
                self.single(arg), low=0.0, high=MAX_GATE_S, unit="S", default=0.0)))
            c(f"[SENSe:]GATE:{end}:{wait}:TIME?", lambda arg, a=source_attr: ascii_reading(self.query_value(
                arg, getattr(self, f"{a}_wait_s"), minimum=0.0, maximum=MAX_GATE_S, default=0.0)))
            c(f"[SENSe:]GATE:{end}:{wait}:EVENts", lambda arg, a=source_attr: setattr(self, f"{a}_wait_events", int(
                self.numeric(self.single(arg), low=1, high=99_999_999, default=1))))
            c(f"[SENSe:]GATE:{end}:{wait}:EVENts?", self._no_params(lambda a=source_attr: f"{getattr(self, f'{a}_wait_events'):+d}"))
        c("[SENSe:]GATE:EXTernal:SOURce", self._setter("gate_external", {
            "BNC": "BNC", "INPut1": "INP1", "INPut": "INP1", "INPut2": "INP2", "INPut3": "INP3"}))
        c("[SENSe:]GATE:EXTernal:SOURce?", self._no_params(lambda: self.gate_external))
        # --- inputs
        inp = "INPut{1|2}"
        c(inp + ":COUPling", lambda a: self._set_input("coupling", self.choice(a, {"AC": "AC", "DC": "DC"})))
        c(inp + ":COUPling?", self._no_params(lambda: self._input().coupling))
        c(inp + ":IMPedance", self._set_impedance)
        c(inp + ":IMPedance?", lambda a: ascii_reading(self.query_value(
            a, self._input().impedance, minimum=50.0, maximum=1e6, default=1e6)))
        c(inp + ":RANGe", self._set_range)
        c(inp + ":RANGe?", lambda a: ascii_reading(self.query_value(
            a, self._input().range_V, minimum=5.0, maximum=50.0, default=5.0)))
        c(inp + ":PROBe", self._set_probe)
        c(inp + ":PROBe?", lambda a: f"{self.query_value(a, self._input().probe, minimum=1, maximum=10, default=1):+d}")
        c(inp + ":LEVel{1|2}[:ABSolute]", self._set_level)
        c(inp + ":LEVel{1|2}[:ABSolute]?", self._query_level)
        c(inp + ":LEVel{1|2}:RELative", self._set_relative)
        c(inp + ":LEVel{1|2}:RELative?", lambda a: f"{round(self.query_value(a, self._relative(), minimum=10, maximum=90, default=50)):+d}")
        c(inp + ":LEVel{1|2}:AUTO", self._set_auto)
        c(inp + ":LEVel{1|2}:AUTO?", self._no_params(lambda: "1" if self._input().auto else "0"))
        c(inp + ":LEVel:MAXimum?", self._no_params(lambda: ascii_reading(self._signal_peaks(self._input())[1])))
        c(inp + ":LEVel:MINimum?", self._no_params(lambda: ascii_reading(self._signal_peaks(self._input())[0])))
        c(inp + ":LEVel:PTPeak?", self._no_params(lambda: ascii_reading(-self._signal_peaks(self._input())[0])))
        c(inp + ":SLOPe{1|2}", self._set_slope)
        c(inp + ":SLOPe{1|2}?", self._no_params(lambda: self._input().slope if self.suffixes[1] == 1 else self._input().slope2))
        c(inp + ":NREJection", lambda a: self._set_input("noise_reject", self.boolean(a)))
        c(inp + ":NREJection?", self._no_params(lambda: "1" if self._input().noise_reject else "0"))
        c(inp + ":FILTer[:LPASs][:STATe]", lambda a: self._set_input("low_pass", self.boolean(a)))
        c(inp + ":FILTer[:LPASs][:STATe]?", self._no_params(lambda: "1" if self._input().low_pass else "0"))
        c(inp + ":FILTer[:LPASs]:FREQuency?", self._no_params(lambda: ascii_reading(FILTER_HZ)))
        # --- trigger and sample
        c("SAMPle:COUNt", self._set_samples)
        c("SAMPle:COUNt?", lambda a: f"{int(self.query_value(a, self.samples, minimum=1, maximum=MAX_COUNT, default=1)):+d}")
        c("TRIGger[:SEQuence]:COUNt", self._set_trigger_count)
        c("TRIGger[:SEQuence]:COUNt?", lambda a: f"{int(self.query_value(a, self.trigger_count, minimum=1, maximum=MAX_COUNT, default=1)):+d}")
        c("TRIGger[:SEQuence]:SOURce", self._setter("trigger_source", {"IMMediate": "IMM", "EXTernal": "EXT", "BUS": "BUS"}))
        c("TRIGger[:SEQuence]:SOURce?", self._no_params(lambda: self.trigger_source))
        c("TRIGger[:SEQuence]:DELay", lambda a: setattr(self, "trigger_delay_s", self.numeric(
            self.single(a), low=0.0, high=3600.0, unit="S", default=0.0)))
        c("TRIGger[:SEQuence]:DELay?", lambda a: ascii_reading(self.query_value(
            a, self.trigger_delay_s, minimum=0.0, maximum=3600.0, default=0.0)))
        c("TRIGger[:SEQuence]:SLOPe", self._setter("trigger_slope", slope))
        c("TRIGger[:SEQuence]:SLOPe?", self._no_params(lambda: self.trigger_slope))
        # --- measurement, memory, format, system
        c("FORMat[:DATA]", self._set_format)
        c("FORMat[:DATA]?", self._no_params(lambda: "ASC,9"))
        c("INITiate[:IMMediate]", self._no_params(self._initiate))
        c("ABORt", self._no_params(self._abort))
        c("FETCh?", self._no_params(self._fetch))
        c("READ?", self._no_params(self._read))
        c("R?", self._read_and_erase)
        c("DATA:POINts?", self._no_params(lambda: f"{self._in_memory():+d}"))
        c("SYSTem:VERSion?", self._no_params(lambda: self.scpi_version))
        c("SYSTem:TIMeout", lambda a: setattr(self, "timeout_s", self.numeric(
            self.single(a), low=1e-3, high=2000.0, unit="S", default=1.0, infinity=INFINITY)))
        c("SYSTem:TIMeout?", lambda a: ascii_reading(self.query_value(a, self.timeout_s, minimum=1e-3, maximum=2000.0, default=1.0)))
        c("STATus:PRESet", self._no_params(self._status_preset))
        c("SYSTem:LOCK:REQuest?", self._no_params(self._lock_request))
        c("SYSTem:LOCK:RELease", self._no_params(self._lock_release))
        c("SYSTem:LOCK:OWNer?", self._no_params(lambda: "LAN" if self.lock_count else "NONE"))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """``*RST``: gate 0.1 s on channel 1, one sample, trigger IMM, inputs at their
        defaults (AC, 1 MOhm, 5 V range, auto-level 50 %), memory cleared."""
        self.function = "TOT:TIM"
        self.channel = 1
        self.gate_s = DEFAULT_GATE_S
        self.freq_gate_s = DEFAULT_GATE_S
        self.freq_gate_source = "TIME"
        self.samples = 1
        self.trigger_count = 1
        self.trigger_source = "IMM"
        self.trigger_delay_s = 0.0
        self.trigger_slope = "NEG"
        self.gate_source, self.gate_polarity, self.gate_external = "TIME", "NORM", "BNC"
        self.start_source, self.start_slope, self.start_wait_source = "IMM", "POS", "IMM"
        self.stop_source, self.stop_slope, self.stop_wait_source = "IMM", "POS", "IMM"
        self.start_wait_s = self.stop_wait_s = 0.0
        self.start_wait_events = self.stop_wait_events = 1
        self.timeout_s = 1.0
        self.inputs = {1: _Input(), 2: _Input()}
        self.measurement: _Measurement | None = None

    def _now(self) -> float:
        return self.world.clock.now()

    def _status_preset(self) -> None:
        for register in (self.oper, self.ques):
            register.preset()

    def _running(self) -> bool:
        return self.measurement is not None and self.measurement.running(self._now())

    def _clear_memory(self) -> None:
        """A configuration change ends the measurement and clears reading memory."""
        self.measurement = None

    def pending_until(self) -> float | None:
        m = self.measurement
        if m is None or not m.running(self._now()):
            return None
        return m.end()

    def _oper_condition(self) -> int:
        m = self.measurement
        if m is None or not m.running(self._now()):
            return 0
        return OPER_WAITING if m.waiting_for_trigger(self._now()) else OPER_MEASURING

    def _setter(self, attr: str, options: dict[str, str]):
        return lambda arg: setattr(self, attr, self.choice(arg, options))

    # ---------------------------------------------------------- parameters
    def _parse_count(self, arg: str) -> int:
        value = self.numeric(self.single(arg), low=1, high=MAX_COUNT, default=1)
        if value != math.floor(value):
            raise ScpiError(-222)
        return int(value)

    def _parse_gate(self, text: str) -> float:
        gate = self.numeric(text, low=MIN_GATE_S * (1 - 1e-9), high=MAX_GATE_S, unit="S",
                            minimum=MIN_GATE_S, default=DEFAULT_GATE_S, infinity=INFINITY)
        return gate if gate >= INFINITY else round(gate, 6)  # the 53230A resolves the gate to 1 us

    def _parse_channel(self, text: str) -> int:
        compact = text.replace(" ", "")
        if compact in ("(@1)", "(@2)"):
            return int(compact[2])
        raise ScpiError(-224)

    # ------------------------------------------------------------ commands
    def _configure(self, arg: str) -> None:
        parts = self.params(arg, 0, 2)
        gate = self._parse_gate(parts[0]) if parts and parts[0] else DEFAULT_GATE_S
        channel = self._parse_channel(parts[1]) if len(parts) > 1 else 1
        self._configured("TOT:TIM", gate, channel)

    def _configure_continuous(self, arg: str) -> None:
        parts = self.params(arg, 0, 1)
        self._configured("TOT:CONT", INFINITY, self._parse_channel(parts[0]) if parts else 1)

    def _configured(self, function: str, gate: float, channel: int) -> None:
        """What every CONFigure does: counts 1, trigger IMM without delay, timed gate,
        auto-level at 50 % on the channel, reading memory cleared."""
        self.function, self.gate_s, self.channel = function, gate, channel
        self.samples, self.trigger_count, self.trigger_source, self.trigger_delay_s = 1, 1, "IMM", 0.0
        self.gate_source = "TIME"
        self.inputs[channel].auto = True
        self.inputs[channel].relative = 50.0
        self._clear_memory()

    def _configure_query(self) -> str:
        if self.function == "FREQ":
            return f'"FREQ {ascii_reading(DEFAULT_EXPECTED_HZ)},{ascii_reading(self._resolution_hz())},(@{self.channel})"'
        if self.function == "TOT:CONT":
            return f'"TOT:CONT (@{self.channel})"'
        return f'"TOT:TIM {ascii_reading(self.gate_s)},(@{self.channel})"'

    def _measure(self, arg: str) -> str | None:
        self._configure(arg)
        return self._read()

    # ------------------------------------------------------------ frequency
    def _configure_frequency(self, arg: str) -> None:
        """``CONF:FREQ [{<expected>|MIN|MAX|DEF}[,{<resolution>|MIN|MAX|DEF}]][,(@ch)]``:
        the expected value and resolution only choose the gate on the real counter; here
        the gate is the default 0.1 s (the channeltron's pulses have no fixed frequency)."""
        parts = self.params(arg, 0, 3)
        channel = 1
        if parts and parts[-1].replace(" ", "").startswith("(@"):
            channel = self._parse_channel(parts.pop())
        for text in parts:
            if text and self.keyword(text) is None:
                self.numeric(text, low=0.0, high=1e12, unit="HZ")
        self._configured("FREQ", self.gate_s, channel)
        self.freq_gate_s, self.freq_gate_source = DEFAULT_GATE_S, "TIME"

    def _measure_frequency(self, arg: str) -> str | None:
        self._configure_frequency(arg)
        return self._read()

    def _set_function(self, arg: str) -> None:
        """``FUNC "FREQ 1"`` / ``"TOT:TIM 2"`` / ``"TOT:CONT"``: short or long forms, channel
        after a space (1 if absent); other functions (period, time interval...) -224."""
        words = self.string(arg).strip().upper().split()
        if not words or len(words) > 2:
            raise ScpiError(-224)
        channel = 1
        if len(words) == 2:
            if words[1] not in ("1", "2", "(@1)", "(@2)"):
                raise ScpiError(-224)
            channel = int(words[1].strip("(@)"))
        name = words[0].removeprefix("SENS:").removeprefix("SENSE:")
        function = _FUNCTIONS.get(name)
        if function is None:
            raise ScpiError(-224)
        self.function, self.channel = function, channel
        self._clear_memory()

    def _function_query(self) -> str:
        return f'"{self.function} {self.channel}"'

    # ------------------------------------------------------------ interface lock
    # One interface (the LAN socket) is emulated, so a request is always granted; each
    # request counts and needs its release, as on the counter.
    def _lock_request(self) -> str:
        self.lock_count += 1
        return "1"

    def _lock_release(self) -> None:
        self.lock_count = max(0, self.lock_count - 1)

    def _set_frequency_gate(self, arg: str) -> None:
        self.freq_gate_s = self.numeric(self.single(arg), low=FREQ_MIN_GATE_S, high=FREQ_MAX_GATE_S,
                                        unit="S", default=DEFAULT_GATE_S)
        self._clear_memory()

    def _resolution_hz(self) -> float:
        return DEFAULT_EXPECTED_HZ * 1e-12 / self.freq_gate_s

    def _set_gate(self, arg: str) -> None:
        self.gate_s = self._parse_gate(self.single(arg))
        self._clear_memory()

    def _set_samples(self, arg: str) -> None:
        self.samples = self._parse_count(arg)

    def _set_trigger_count(self, arg: str) -> None:
        self.trigger_count = self._parse_count(arg)

    def _set_format(self, arg: str) -> None:
        kind = self.params(arg, 1, 2)[0].upper()
        if kind in ("ASC", "ASCII"):
            return
        if kind == "REAL":
            # binary readings are not emulated: this emulator serves ASCII only
            raise ScpiError(-221)
        raise ScpiError(-224)

    # ------------------------------------------------------------ inputs
    def _input(self) -> _Input:
        return self.inputs[self.suffixes[0]]

    def _set_input(self, attr: str, value) -> None:
        setattr(self._input(), attr, value)

    def _set_impedance(self, arg: str) -> None:
        value = self.numeric(self.single(arg), low=0.0, high=1e12, unit="OHM", minimum=50.0, maximum=1e6, default=1e6)
        self._input().impedance = 50.0 if value < math.sqrt(50.0 * 1e6) else 1e6

    def _set_range(self, arg: str) -> None:
        value = self.numeric(self.single(arg), low=0.0, high=1e3, unit="V", minimum=5.0, maximum=50.0, default=5.0)
        self._input().range_V = 5.0 if value <= 5.0 else 50.0

    def _set_probe(self, arg: str) -> None:
        value = self.numeric(self.single(arg), low=1, high=10, minimum=1, maximum=10, default=1)
        if value not in (1, 10):
            raise ScpiError(-224)
        self._input().probe = int(value)

    def _level_limit(self) -> float:
        inp = self._input()
        return inp.range_V * inp.probe

    def _set_level(self, arg: str) -> None:
        limit = self._level_limit()
        value = self.numeric(self.single(arg), low=-limit, high=limit, unit="V", default=0.0)
        inp = self._input()
        if self.suffixes[1] == 1:
            inp.level_V = value
        else:
            inp.level2_V = value
        inp.auto = False  # an absolute level turns auto-level off

    def _auto_level(self, relative: float) -> float:
        low, high = self._signal_peaks(self._input())
        return low + relative / 100.0 * (high - low)

    def _query_level(self, arg: str) -> str:
        inp = self._input()
        limit = self._level_limit()
        first = self.suffixes[1] == 1
        if inp.auto:
            present = self._auto_level(inp.relative) if first else NOT_A_NUMBER
        else:
            present = inp.level_V if first else inp.level2_V
        return ascii_reading(self.query_value(arg, present, minimum=-limit, maximum=limit, default=0.0))

    def _relative(self) -> float:
        inp = self._input()
        return inp.relative if self.suffixes[1] == 1 else inp.relative2

    def _set_relative(self, arg: str) -> None:
        value = self.numeric(self.single(arg), low=10.0, high=90.0, unit="PCT", default=50.0)
        value = 5.0 * round(value / 5.0)  # 5 % resolution
        if self.suffixes[1] == 1:
            self._input().relative = value
        else:
            self._input().relative2 = value

    def _set_auto(self, arg: str) -> None:
        text = self.single(arg).upper()
        inp = self._input()
        if text == "ONCE":
            inp.level_V = self._auto_level(inp.relative)
            inp.auto = False
            return
        inp.auto = self.boolean(text)

    def _set_slope(self, arg: str) -> None:
        value = self.choice(arg, {"POSitive": "POS", "NEGative": "NEG"})
        if self.suffixes[1] == 1:
            self._input().slope = value
        else:
            self._input().slope2 = value

    def _pulse_scale(self, inp: _Input) -> float:
        return 2 * math.pi * FILTER_HZ * PULSE_WIDTH_S if inp.low_pass else 1.0

    def _signal_peaks(self, inp: _Input) -> tuple[float, float]:
        """(most negative, most positive) voltage the input sees: baseline 0 V, negative pulses."""
        if self.world.measured_rate() <= 0.0:
            return 0.0, 0.0
        cfg = self.world.config
        return -(cfg.cem_pulse_height_V + 3 * cfg.cem_pulse_sigma_V) * self._pulse_scale(inp), 0.0

    def _fraction(self) -> float:
        """Fraction of the world's counted pulses that the counter's threshold passes."""
        inp = self.inputs[self.channel]
        if inp.auto:
            return 1.0
        return self.world.pulse_fraction(inp.level_V / self._pulse_scale(inp))

    # ------------------------------------------------------------ measurement
    def _gating(self) -> tuple[float, float, bool]:
        """(gate length, start offset, gate edges come) for the gate source in force."""
        if self.function == "FREQ":
            if self.freq_gate_source == "TIME":
                return self.freq_gate_s, 0.0, True
            return self._advanced_gating(self.freq_gate_s)
        if self.gate_source == "TIME" or self.gate_s >= INFINITY:
            return self.gate_s, 0.0, self.gate_source == "TIME"
        if self.gate_source == "EXT":
            return self.gate_s, 0.0, False
        return self._advanced_gating(self.gate_s)

    def _advanced_gating(self, gate_s: float) -> tuple[float, float, bool]:
        """Advanced gating: opened ``GATE:STAR:DEL:TIME`` late, held ``GATE:STOP:HOLD:TIME``;
        external or event-counted edges never come."""
        start_ok = self.start_source == "IMM" and self.start_wait_source in ("IMM", "TIME")
        stop_ok = self.stop_source == "IMM" and self.stop_wait_source == "TIME" and self.stop_wait_s > 0
        offset = self.start_wait_s if self.start_wait_source == "TIME" else 0.0
        return (self.stop_wait_s, offset, start_ok and stop_ok)

    def _initiate(self) -> None:
        if self._running():
            raise ScpiError(-213)
        gate, offset, gated = self._gating()
        self.measurement = _Measurement(self._now(), gate, self.samples, self.trigger_count,
                                        self.trigger_delay_s, self.trigger_source, offset, gated)

    def _abort(self) -> None:
        m = self.measurement
        if m is not None and m.aborted_at is None and m.running(self._now()):
            m.aborted_at = self._now()

    def bus_trigger(self) -> None:
        m = self.measurement
        now = self._now()
        if m is None or m.source != "BUS" or not m.gated or not m.waiting_for_trigger(now):
            raise ScpiError(-211)
        m.bus.append(now)

    def _count(self, start: float, stop: float) -> int:
        n = int(self.world.detector_counts(start, stop))
        p = self._fraction()
        if p < 1.0 and n > 0:
            n = int(self.world.rng.binomial(n, p))
        return n

    def _draw(self, upto: int) -> None:
        """Draw counts for readings ``len(values) .. upto-1`` (once each, in order)."""
        m = self.measurement
        while len(m.values) < upto:
            k = len(m.values)
            start, stop = m.window(k)
            if self.timeout_next:
                self.timeout_next = False
                value = NOT_A_NUMBER
            elif m.partial is not None and m.partial[0] == k:
                value = float(m.partial[2] + self._count(m.partial[1], stop))
            elif self.function == "FREQ":
                # a reciprocal frequency reading of the pulse train: events over the gate;
                # no edge in the gate is the counter's "no signal" reading
                events = self._count(start, stop)
                value = events / (stop - start) if events else NOT_A_NUMBER
            else:
                value = float(self._count(start, stop))
            m.partial = None
            m.values.append(value)

    def _running_total(self) -> str:
        """``TOT:DATA?``: the count of the open gate so far (the last reading once closed)."""
        m = self.measurement
        if m is None:
            raise ScpiError(-230)
        now = self._now()
        k = m.open_window(now)
        if k is None:
            done = m.completed(now)
            if done == 0:
                return ascii_reading(0.0)
            self._draw(done)
            return ascii_reading(m.values[done - 1])
        self._draw(k)
        start, _ = m.window(k)
        if m.partial is not None and m.partial[0] == k:
            _, since, count = m.partial
        else:
            since, count = start, 0
        count += self._count(since, now)
        m.partial = (k, now, count)
        return ascii_reading(float(count))

    def _in_memory(self) -> int:
        m = self.measurement
        if m is None:
            return 0
        return m.completed(self._now()) - m.erased

    def _fetch(self) -> str | None:
        m = self.measurement
        if m is None:
            raise ScpiError(-230)
        if m.running(self._now()):
            end = m.end()
            if math.isinf(end):
                return None  # the counter would keep the bus busy until the I/O timeout
            # FETC? waits for the measurement to finish before it answers
            self.world.clock.sleep_until(end)
        done = m.completed(self._now())
        if done - m.erased <= 0:
            raise ScpiError(-230)
        self._draw(done)
        return ",".join(ascii_reading(v) for v in m.values[m.erased : done])

    def _read(self) -> str | None:
        self._initiate()  # READ? = INIT + FETC?, and INIT clears memory
        return self._fetch()

    def _read_and_erase(self, arg: str) -> str:
        m = self.measurement
        parts = self.params(arg, 0, 1)
        limit = self._parse_count(parts[0]) if parts else MAX_COUNT
        now = self._now()
        if m is None or (m.completed(now) - m.erased <= 0 and not m.running(now)):
            raise ScpiError(-230)
        done = m.completed(now)
        take = min(limit, done - m.erased)
        self._draw(m.erased + take)
        payload = ",".join(ascii_reading(v) for v in m.values[m.erased : m.erased + take])
        m.erased += take
        length = str(len(payload))
        return f"#{len(length)}{length}{payload}"


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "keysight_53230a"
EMULATOR = Counter53230AEmulator
TRANSPORT = "visa"
