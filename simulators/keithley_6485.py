"""Byte-level emulator of a Keithley 6485 picoammeter on the Faraday cup.

Speaks the SCPI command set of the Model 6485 Picoammeter Instruction Manual and reads
the beam from ``world.faraday_current_A(t)`` (negative: electrons arrive on the cup).
The SCPI rules (header paths, short/long forms, common commands, status byte, error
queue, ``MIN|MAX|DEF``) are :class:`~simulators.server.ScpiEmulator`'s; numeric
parameters take no unit suffixes (the manual's parameter types are <b>, <name>,
<NRf>, <NDN> and <n>): a suffix queues ``-138``.

What the instrument does and the emulator copies:

* **Zero check** (on after ``*RST``) shunts the input: a reading is the instrument's own
  small input offset, whatever the beam does.  ``SYST:ZCOR:ACQ`` (zero check on)
  stores the present offset, ``SYST:ZCOR ON`` subtracts it from every reading.
* **Ranges** 2 nA ... 20 mA, each reading up to 105 % of its value.  On a fixed range
  a larger input reads ``+9.9E37`` (overflow, either polarity) and sets bit 0 (OFLO)
  of the status element; auto range takes the lowest range that holds the input,
  within ``CURR:RANG:AUTO:LLIM .. ULIM``.  Setting a range (``CURR:RANG <expected>``)
  takes the lowest range holding that value and turns auto range off.
* **Trigger model** (manual section 7): ``INIT`` takes ``ARM:COUN x TRIG:COUN``
  readings.  Arm layer source ``IMM`` (next arm cycle right after the last),
  ``TIM`` (every ``ARM:TIM`` seconds) or ``BUS`` (each cycle waits for ``*TRG``);
  ``TLIN``/``MAN``/``STES``... wait for inputs that are not connected.  In the trigger
  layer each reading comes ``TRIG:DEL`` after the previous one's integration
  (``NPLC`` line cycles at ``SYST:LFR``).  Reading ``k`` is the cup at its own time
  on the world clock: the first one at ``INIT`` (+ delay).  ``READ?`` = ``INIT`` +
  ``FETC?``; ``FETC?`` waits on the clock until the last reading (holding the world
  lock, as the 53230A emulator's ``FETC?``) and answers every reading, comma
  separated, each as ``FORMat:ELEMents`` says.  ``TRIG:COUN 5;:READ?`` gives five.
* **Buffer** (manual section 6): with ``TRAC:FEED:CONT NEXT`` readings are also stored
  up to ``TRAC:POIN``, then the feed stops; ``TRAC:DATA?`` returns them (timestamps
  from the first stored reading, or deltas), ``CALC3`` gives their statistics.  The
  measurement event register latches RAV (bit 6), ROF (7), BAV (8) and BFL (9), its
  summary is status byte bit 0 (MSB): ``*SRE 1;:STAT:MEAS:ENAB 512`` makes ``*STB?``
  answer 65 once the buffer is full, as pymeasure's Keithley buffer waits for.
* **Reading strings** follow ``FORMat:ELEMents`` (``READ,UNIT,TIME,STAT`` after
  ``*RST``), in the instrument's order, units glued to the reading:
  ``-1.000000E-07A,+1.234000E+01,+0.000000E+00``.  The timestamp is seconds since power
  on or ``SYST:TIME:RES`` (``*RST`` does not reset it), wrapping after 99 999.99 s.
  Readings are quantised to 5.5 digits of the range.
* **Link**: replies end in LF, commands in LF (or CR LF), as on the GPIB (manual 9-16:
  "Each response is terminated with an LF ... and EOI").  ``rs232_terminator=`` makes
  it the RS-232 port as the front panel sets it (manual 9-17, "Terminator"): every
  message it transmits ends in ``LF``, ``CR``, ``LFCR`` or ``CRLF``, and "incoming
  commands are processed after the <CR> character is received" (an LF alone does not
  end a command; the LF of a CR LF is ignored).
* Errors go to the queue in the 6485's own format (``-222,"Parameter data out of
  range"``, ``0,"No error"``); ``FETC?`` and ``TRAC:DATA?`` with nothing to give queue
  ``-230``.

Coverage (manual sections 2-10 and the SCPI tables of section 14):

=============================================================  =======  ===========================
command                                                        status   note
=============================================================  =======  ===========================
INITiate[:IMMediate], ABORt, READ?, FETCh?, MEASure[:CURR[:DC]]?  yes
CONFigure[:CURRent[:DC]], CONFigure?                           yes      "CURR:DC"
[SENS:]FUNCtion[:ON] '<name>', FUNC?                           yes      only 'CURR[:DC]'
[SENS:]DATA[:LATest]?                                          yes      last reading
[SENS:]CURR[:DC]:RANGe[:UPPer] <n>[?], :AUTO <b>[?],           yes
:AUTO:ULIMit <n>[?], :AUTO:LLIMit <n>[?]
[SENS:]CURR[:DC]:NPLCycles <n>[?]                              yes      0.01 .. 6 (60 Hz), 5 (50 Hz)
[SENS:]AVERage[:STATe], :COUNt, :TCONtrol; [SENS:]MEDian        stored   no effect on readings
[:STATe], :RANK; [SENS:]CURR:DAMPing
ARM[:SEQ1][:LAY1]:SOURce <name>[?], :COUNt <n>[?], :TIMer[?]   yes
TRIGger[:SEQ1]:SOURce <name>[?], :COUNt <n>[?], :DELay <n>[?],  yes      DEL:AUTO stored only
:DELay:AUTO <b>[?], TRIGger:CLEar
TRIG/ARM :OUTPut, :ILINe, :OLINe [?] (trigger link)            stored   nothing connected
TRACe:CLEar, :POINts[?], :POINts:ACTual?, :FEED[?],            yes
:FEED:CONTrol[?], :TSTamp:FORMat[?], :DATA?
CALCulate3:FORMat[?], CALCulate3:DATA?                         yes      buffer statistics
FORMat[:ELEMents] <list>[?], FORMat[:DATA] ASCii[?]            yes      REAL/SREal: -221
FORMat:BORDer[?]                                               stored
SYST:ZCHeck, :ZCORrect[:STATe], :ZCORrect:ACQuire, :AZERo,      yes
:LFRequency[?], :TIME:RESet, :PRESet, :VERSion?, :ERRor?
STATus:MEASurement|QUEStionable|OPERation [:EVENt]?,           yes      STB: MSB(0) EAV(2) QSB(3)
:CONDition?, :ENABle[?]; STATus:PRESet, :QUEue[:NEXT]?,                 MAV(4) ESB(5) MSS(6) OSB(7)
:QUEue:CLEar
DISPlay:ENABle[?], DISPlay:DIGits[?]                           stored
RS-232 TX terminator LF/CR/LFCR/CRLF (front panel COMM menu)   yes      ``rs232_terminator=``; 9-17
*CLS *ESE *ESR? *IDN? *OPC *OPC? *RST *SRE *STB? *TRG *TST?    yes
*WAI
CALCulate[1] (mX+b, log), CALCulate2 (limits, REL),            no       math and limits
SYST:KEY, SOURce/TTL, SYST:COMM (RS-232), DDC language
=============================================================  =======  ===========================

Assumptions where the manual does not say: ``READ?``/``FETC?`` with an infinite count
queue ``-221`` (the readings never end), as does ``READ?`` with arm source BUS (the
Keithley SCPI reference manuals call it illegal).
"""

from __future__ import annotations

import math

from .server import ScpiEmulator, ScpiError, StatusRegister

__all__ = ["Keithley6485Emulator", "RANGES_A", "RS232_TERMINATORS"]

#: the RS-232 terminators of the front-panel COMM menu (manual 9-17): what ends each reply
RS232_TERMINATORS = {"LF": b"\n", "CR": b"\r", "LFCR": b"\n\r", "CRLF": b"\r\n"}

RANGES_A: tuple[float, ...] = (2e-9, 20e-9, 200e-9, 2e-6, 20e-6, 200e-6, 2e-3, 20e-3)
OVER_RANGE = 1.05  # each range reads up to 105 % of its value
OVERFLOW = 9.9e37
NOT_A_NUMBER = 9.91e37
COUNTS = 200000  # 5.5 digits: 2 nA range resolves 10 fA
ELEMENTS = ("READ", "UNIT", "TIME", "STAT")
_ELEMENT_NAMES = {"READ": "READ", "READING": "READ", "UNIT": "UNIT", "UNITS": "UNIT", "TIME": "TIME", "STAT": "STAT", "STATUS": "STAT"}
STATUS_OVERFLOW = 1 << 0
MAX_COUNT = 2048
BUFFER_MAX = 2500

# measurement event register (manual section 10, "Measurement event status")
MEAS_RAV, MEAS_ROF, MEAS_BAV, MEAS_BFL = 1 << 6, 1 << 7, 1 << 8, 1 << 9
OPER_IDLE = 1 << 10

_ARM_SOURCES = {
    "IMMediate": "IMM", "TIMer": "TIM", "BUS": "BUS", "TLINk": "TLIN", "STESt": "STES",
    "PSTest": "PST", "NSTest": "NST", "MANual": "MAN",
}
_TRIGGER_SOURCES = {"IMMediate": "IMM", "TLINk": "TLIN"}


def _fmt(value: float) -> str:
    return f"{value:+.6E}"


def _nr3(value: float) -> str:
    return f"{value:.6E}"


class _Acquisition:
    """One INIT: when each reading is taken and what has been drawn."""

    def __init__(self, owner: "Keithley6485Emulator", t0: float) -> None:
        self.t0 = t0
        self.arm_count = owner.arm_count
        self.trig_count = owner.trigger_count
        self.total = self.arm_count * self.trig_count
        self.arm_source = owner.arm_source
        self.trig_source = owner.trigger_source
        self.arm_timer = owner.arm_timer_s
        self.delay = owner.trigger_delay_s
        self.integration = owner.nplc / owner.line_frequency
        self.bus_arms: list[float] = []
        self.aborted_at: float | None = None
        self.readings: list[tuple[float, float, int]] = []  # (time, value, status)
        self.taken = 0  # readings drawn (an endless count keeps only the latest in memory)

    def _cycle(self) -> float:
        return self.trig_count * (self.delay + self.integration)

    def _arm_time(self, a: int) -> float | None:
        if self.trig_source != "IMM":
            return None
        if a == 0 and self.arm_source in ("IMM", "TIM"):
            return self.t0
        if self.arm_source == "IMM":
            return self.t0 + a * self._cycle()
        if self.arm_source == "TIM":
            return self.t0 + a * max(self.arm_timer, self._cycle())
        if self.arm_source == "BUS":
            return self.bus_arms[a] if a < len(self.bus_arms) else None
        return None  # a trigger link or front panel event that never comes

    def time_of(self, k: int) -> float | None:
        if k >= self.total:
            return None
        if math.isinf(self.trig_count):
            a, i = 0, k
        else:
            a, i = divmod(k, int(self.trig_count))
        start = self._arm_time(a)
        if start is None:
            return None
        t = start + (i + 1) * self.delay + i * self.integration
        if self.aborted_at is not None and t > self.aborted_at:
            return None
        return t

    def due(self, upto: float) -> int:
        """Number of readings taken by ``upto`` (readings are in time order)."""

        def done(k: int) -> bool:
            t = self.time_of(k)
            return t is not None and t <= upto + 1e-12

        if not done(self.taken):
            return self.taken
        low, step = self.taken, 1
        while done(low + step):
            low, step = low + step, step * 2
        high = low + step  # done(low) and not done(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if done(mid) else (low, mid)
        return low + 1

    def end(self) -> float:
        """Time of the last reading (inf if it never comes)."""
        if math.isinf(self.total):
            return math.inf
        t = self.time_of(int(self.total) - 1)
        return math.inf if t is None else t

    def running(self, now: float) -> bool:
        if self.aborted_at is not None:
            return False
        return self.taken < self.total and not (self.end() <= now)

    def waiting_for_bus(self) -> bool:
        """In the arm layer, waiting for ``*TRG``."""
        if self.arm_source != "BUS" or self.aborted_at is not None:
            return False
        a = len(self.bus_arms)
        return a == 0 or a * self.trig_count < self.total


class Keithley6485Emulator(ScpiEmulator):
    """One 6485 whose input is the world's Faraday cup."""

    model = "Keithley 6485"
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 6485,4100123,B03   Sep 25 2002 10:53:29/A02  /E"
    scpi_version = "1996.0"
    error_queue_size = 10
    error_messages = {-222: "Parameter data out of range"}
    error_format = '{code:d},"{message}"'
    signed_integers = False
    accepts_suffixes = False
    self_test_reply = "0"
    #: the input offset the instrument reads with zero check on (A)
    input_offset_A = 3.2e-13
    offset_noise_A = 3e-15

    def __init__(self, world, rs232_terminator: str | None = None) -> None:
        """``rs232_terminator``: None for the GPIB link (LF), else the RS-232 port with
        that front-panel terminator (``"LF"``, ``"CR"``, ``"LFCR"``, ``"CRLF"``)."""
        if rs232_terminator is not None:
            try:
                self.reply_termination = RS232_TERMINATORS[rs232_terminator.upper()]
            except KeyError:
                raise ValueError(f"RS-232 terminator {rs232_terminator!r}: one of {', '.join(RS232_TERMINATORS)}") from None
            self.accept = (b"\r",)  # commands are processed after the CR (manual 9-17)
        self.rs232_terminator = rs232_terminator
        super().__init__(world)
        self._t_power_on = world.clock.now()
        self.meas = self.status_register(StatusRegister("MEAS", 0, self._meas_condition), "STATus:MEASurement")
        self.ques = self.status_register(StatusRegister("QUES", 3), "STATus:QUEStionable")
        self.oper = self.status_register(StatusRegister("OPER", 7, self._oper_condition), "STATus:OPERation")
        flag = lambda attr: self._no_params(lambda: "1" if getattr(self, attr) else "0")  # noqa: E731
        setter = lambda attr: (lambda arg: setattr(self, attr, self.boolean(arg)))  # noqa: E731
        sense = "[SENSe{1}:]CURRent[:DC]"
        # --- SYSTem
        self.command("SYSTem:ZCHeck[:STATe]", setter("zero_check"))
        self.command("SYSTem:ZCHeck[:STATe]?", flag("zero_check"))
        self.command("SYSTem:ZCORrect[:STATe]", setter("zero_correct"))
        self.command("SYSTem:ZCORrect[:STATe]?", flag("zero_correct"))
        self.command("SYSTem:ZCORrect:ACQuire", self._no_params(self._acquire_zero))
        self.command("SYSTem:AZERo[:STATe]", self._set_autozero)
        self.command("SYSTem:AZERo[:STATe]?", flag("autozero"))
        self.command("SYSTem:LFRequency", self._set_line_frequency)
        self.command("SYSTem:LFRequency?", self._no_params(lambda: str(self.line_frequency)))
        self.command("SYSTem:TIME:RESet", self._no_params(self._reset_time))
        self.command("SYSTem:PRESet", self._no_params(self.reset))
        self.command("SYSTem:VERSion?", self._no_params(lambda: self.scpi_version))
        # --- SENSe
        self.command("[SENSe{1}:]FUNCtion[:ON]", self._set_function)
        self.command("[SENSe{1}:]FUNCtion[:ON]?", self._no_params(lambda: '"CURR:DC"'))
        self.command("[SENSe{1}:]DATA[:LATest]?", self._no_params(self._latest))
        self.command(sense + ":RANGe[:UPPer]", self._set_range)
        self.command(sense + ":RANGe[:UPPer]?", lambda a: _nr3(self.query_value(
            a, self.range_A, minimum=RANGES_A[0], maximum=RANGES_A[-1], default=RANGES_A[-1])))
        self.command(sense + ":RANGe:AUTO", setter("auto_range"))
        self.command(sense + ":RANGe:AUTO?", flag("auto_range"))
        self.command(sense + ":RANGe:AUTO:ULIMit", lambda a: self._set_auto_limit("ulimit_A", a))
        self.command(sense + ":RANGe:AUTO:ULIMit?", lambda a: _nr3(self.query_value(
            a, self.ulimit_A, minimum=RANGES_A[0], maximum=RANGES_A[-1], default=RANGES_A[-1])))
        self.command(sense + ":RANGe:AUTO:LLIMit", lambda a: self._set_auto_limit("llimit_A", a))
        self.command(sense + ":RANGe:AUTO:LLIMit?", lambda a: _nr3(self.query_value(
            a, self.llimit_A, minimum=RANGES_A[0], maximum=RANGES_A[-1], default=RANGES_A[0])))
        self.command(sense + ":NPLCycles", self._set_nplc)
        self.command(sense + ":NPLCycles?", lambda a: _nr3(self.query_value(
            a, self.nplc, minimum=0.01, maximum=self._nplc_max(), default=self._nplc_max())))
        self.command(sense + ":DAMPing[:STATe]", setter("damping"))
        self.command(sense + ":DAMPing[:STATe]?", flag("damping"))
        self.command("[SENSe{1}:]AVERage[:STATe]", setter("average"))
        self.command("[SENSe{1}:]AVERage[:STATe]?", flag("average"))
        self.command("[SENSe{1}:]AVERage:COUNt", lambda a: setattr(self, "average_count", int(self.numeric(
            self.single(a), low=2, high=100, default=10))))
        self.command("[SENSe{1}:]AVERage:COUNt?", self._no_params(lambda: str(self.average_count)))
        self.command("[SENSe{1}:]AVERage:TCONtrol", lambda a: setattr(self, "average_type", self.choice(
            a, {"REPeat": "REP", "MOVing": "MOV"})))
        self.command("[SENSe{1}:]AVERage:TCONtrol?", self._no_params(lambda: self.average_type))
        self.command("[SENSe{1}:]MEDian[:STATe]", setter("median"))
        self.command("[SENSe{1}:]MEDian[:STATe]?", flag("median"))
        self.command("[SENSe{1}:]MEDian:RANK", lambda a: setattr(self, "median_rank", int(self.numeric(
            self.single(a), low=1, high=5, default=1))))
        self.command("[SENSe{1}:]MEDian:RANK?", self._no_params(lambda: str(self.median_rank)))
        # --- measurement
        self.command("CONFigure[:CURRent[:DC]]", self._no_params(self._configure))
        self.command("CONFigure?", self._no_params(lambda: '"CURR:DC"'))
        self.command("INITiate[:IMMediate]", self._no_params(self._initiate))
        self.command("ABORt", self._no_params(self._abort))
        self.command("FETCh?", self._no_params(self._fetch))
        self.command("READ?", self._no_params(self._read))
        self.command("MEASure[:CURRent[:DC]]?", self._no_params(self._measure_query))
        # --- trigger model
        arm = "ARM[:SEQuence{1}][:LAYer{1}]"
        self.command(arm + ":SOURce", lambda a: setattr(self, "arm_source", self.choice(a, _ARM_SOURCES)))
        self.command(arm + ":SOURce?", self._no_params(lambda: self.arm_source))
        self.command(arm + ":COUNt", lambda a: setattr(self, "arm_count", self._count(a)))
        self.command(arm + ":COUNt?", lambda a: self._count_query(a, self.arm_count))
        self.command(arm + ":TIMer", lambda a: setattr(self, "arm_timer_s", self.numeric(
            self.single(a), low=0.001, high=99999.999, default=0.1)))
        self.command(arm + ":TIMer?", lambda a: _nr3(self.query_value(
            a, self.arm_timer_s, minimum=0.001, maximum=99999.999, default=0.1)))
        trig = "TRIGger[:SEQuence{1}]"
        self.command(trig + ":SOURce", lambda a: setattr(self, "trigger_source", self.choice(a, _TRIGGER_SOURCES)))
        self.command(trig + ":SOURce?", self._no_params(lambda: self.trigger_source))
        self.command(trig + ":COUNt", lambda a: setattr(self, "trigger_count", self._count(a)))
        self.command(trig + ":COUNt?", lambda a: self._count_query(a, self.trigger_count))
        self.command(trig + ":DELay", lambda a: self._set_delay(a))
        self.command(trig + ":DELay?", lambda a: _nr3(self.query_value(
            a, self.trigger_delay_s, minimum=0.0, maximum=999.9998, default=0.0)))
        self.command(trig + ":DELay:AUTO", setter("trigger_delay_auto"))
        self.command(trig + ":DELay:AUTO?", flag("trigger_delay_auto"))
        self.command("TRIGger:CLEar", self._no_params(lambda: None))
        # trigger link lines (rear panel): stored, nothing is connected to them
        self.command(trig + ":OUTPut", lambda a: setattr(self, "trigger_output", self.choice(a, {"SENSe": "SENS", "NONE": "NONE"})))
        self.command(trig + ":OUTPut?", self._no_params(lambda: self.trigger_output))
        self.command(arm + ":OUTPut", lambda a: setattr(self, "arm_output", self.choice(a, {"TEXit": "TEX", "TENTer": "TENT", "NONE": "NONE"})))
        self.command(arm + ":OUTPut?", self._no_params(lambda: self.arm_output))
        for layer, prefix in (("trigger", trig), ("arm", arm)):
            for line in ("ILINe", "OLINe"):
                attr = f"{layer}_{line.lower()[:4]}"
                self.command(f"{prefix}:{line}", lambda a, attr=attr: setattr(self, attr, int(self.numeric(self.single(a), low=1, high=6, default=1))))
                self.command(f"{prefix}:{line}?", self._no_params(lambda attr=attr: str(getattr(self, attr))))
        # --- buffer
        self.command("TRACe:CLEar", self._no_params(self._clear_trace))
        self.command("TRACe:POINts", lambda a: setattr(self, "trace_points", int(self.numeric(
            self.single(a), low=1, high=BUFFER_MAX, default=100))))
        self.command("TRACe:POINts?", lambda a: str(int(self.query_value(
            a, self.trace_points, minimum=1, maximum=BUFFER_MAX, default=100))))
        self.command("TRACe:POINts:ACTual?", self._no_params(lambda: str(self._trace_count())))
        self.command("TRACe:FEED", lambda a: setattr(self, "trace_feed", self.choice(
            a, {"SENSe": "SENS", "SENSe1": "SENS", "CALCulate": "CALC", "CALCulate1": "CALC", "CALCulate2": "CALC2"})))
        self.command("TRACe:FEED?", self._no_params(lambda: self.trace_feed))
        self.command("TRACe:FEED:CONTrol", lambda a: setattr(self, "trace_control", self.choice(
            a, {"NEVer": "NEV", "NEXT": "NEXT"})))
        self.command("TRACe:FEED:CONTrol?", self._no_params(lambda: self._feed_control()))
        self.command("TRACe:TSTamp:FORMat", lambda a: setattr(self, "trace_tstamp", self.choice(
            a, {"ABSolute": "ABS", "DELTa": "DELT"})))
        self.command("TRACe:TSTamp:FORMat?", self._no_params(lambda: self.trace_tstamp))
        self.command("TRACe:DATA?", self._no_params(self._trace_data))
        self.command("CALCulate3:FORMat", lambda a: setattr(self, "calc3_format", self.choice(
            a, {"MINimum": "MIN", "MAXimum": "MAX", "MEAN": "MEAN", "SDEViation": "SDEV", "PKPK": "PKPK"})))
        self.command("CALCulate3:FORMat?", self._no_params(lambda: self.calc3_format))
        self.command("CALCulate3:DATA?", self._no_params(self._statistic))
        # --- format, display, status
        self.command("FORMat:ELEMents", self._set_elements)
        self.command("FORMat:ELEMents?", self._no_params(lambda: ",".join(self.elements)))
        self.command("FORMat[:DATA]", self._set_data_format)
        self.command("FORMat[:DATA]?", self._no_params(lambda: "ASC"))
        self.command("FORMat:BORDer", lambda a: setattr(self, "byte_order", self.choice(
            a, {"NORMal": "NORM", "SWAPped": "SWAP"})))
        self.command("FORMat:BORDer?", self._no_params(lambda: self.byte_order))
        self.command("DISPlay:ENABle", setter("display_on"))
        self.command("DISPlay:ENABle?", flag("display_on"))
        self.command("DISPlay:DIGits", lambda a: setattr(self, "display_digits", int(self.numeric(
            self.single(a), low=4, high=7, default=6))))
        self.command("DISPlay:DIGits?", self._no_params(lambda: str(self.display_digits)))
        self.command("STATus:PRESet", self._no_params(self._status_preset))
        self.command("STATus:QUEue[:NEXT]?", self._no_params(self.next_error))
        self.command("STATus:QUEue:CLEar", self._no_params(self.errors.clear))
        # trace settings are not reset by *RST (manual Table 6-1): power-on values
        self.trace_points = 100
        self.trace_feed = "SENS"
        self.trace_control = "NEV"
        self.trace_tstamp = "ABS"
        self.trace: list[tuple[float, float, int]] = []
        self.line_frequency = 60
        self.byte_order = "SWAP"
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        """``*RST`` (and ``SYST:PRES``): zero check on, auto range, 6 NPLC, all elements,
        trigger model IMM / counts 1 / no delay; the buffer is left alone."""
        self.zero_check = True
        self.zero_correct = False
        self.zero_A = 0.0
        self.autozero = True
        self._configure()
        self.elements: tuple[str, ...] = ELEMENTS
        self.calc3_format = "MEAN"
        self.display_on = True
        self.display_digits = 6
        self.acquisition: _Acquisition | None = None

    def _configure(self) -> None:
        """``CONFigure``: the function's *RST values, immediate sources, counts 1, no
        delay, filters off (manual "CONFigure")."""
        self.auto_range = True
        self.range_A = RANGES_A[-1]
        self.ulimit_A, self.llimit_A = RANGES_A[-1], RANGES_A[0]
        self.nplc = self._nplc_max()
        self.damping = True
        self.average, self.average_count, self.average_type = False, 10, "REP"
        self.median, self.median_rank = False, 1
        self.arm_source, self.arm_count, self.arm_timer_s = "IMM", 1, 0.1
        self.trigger_source, self.trigger_count = "IMM", 1
        self.trigger_delay_s, self.trigger_delay_auto = 0.0, False
        self.trigger_output, self.arm_output = "NONE", "NONE"
        self.trigger_ilin, self.trigger_olin, self.arm_ilin, self.arm_olin = 1, 2, 1, 2

    def _nplc_max(self) -> float:
        return 6.0 if self.line_frequency == 60 else 5.0

    def _status_preset(self) -> None:
        for register in (self.meas, self.ques, self.oper):
            register.preset()

    def _reset_time(self) -> None:
        self._t_power_on = self.world.clock.now()

    # ------------------------------------------------------------ the input
    def _offset_A(self) -> float:
        """The front end's own offset, with a few fA of noise."""
        return self.input_offset_A + self.offset_noise_A * float(self.world.rng.standard_normal())

    def _input_A(self, t: float) -> float:
        """What the front end sees: the cup, or only its own offset in zero check."""
        if self.zero_check:
            return self._offset_A()
        return self.world.faraday_current_A(t) + self._offset_A()

    def _lowest_range(self, value_A: float, low: float = 0.0, high: float = math.inf) -> float | None:
        for rng in RANGES_A:
            if low <= rng * (1 + 1e-9) and rng <= high * (1 + 1e-9) and abs(value_A) <= rng * OVER_RANGE:
                return rng
        return None

    def _take(self, t: float) -> tuple[float, int]:
        """One reading at ``t``: (value, status)."""
        raw = self._input_A(t)
        if self.auto_range:
            top = self._lowest_range(self.ulimit_A) or RANGES_A[-1]
            self.range_A = self._lowest_range(raw, self.llimit_A, self.ulimit_A) or top
        if abs(raw) > self.range_A * OVER_RANGE:
            return OVERFLOW, STATUS_OVERFLOW
        corrected = raw - self.zero_A if self.zero_correct else raw
        step = self.range_A / COUNTS
        return round(corrected / step) * step, 0

    def _format(self, reading: tuple[float, float, int], time_s: float | None = None) -> str:
        t, value, status = reading
        fields = []
        if "READ" in self.elements:
            fields.append(_fmt(value) + ("A" if "UNIT" in self.elements else ""))
        if "TIME" in self.elements:
            stamp = (t - self._t_power_on) % 100000.0 if time_s is None else time_s
            fields.append(_fmt(stamp))
        if "STAT" in self.elements:
            fields.append(_fmt(status))
        return ",".join(fields)

    # ------------------------------------------------------------ the trigger model
    def service(self) -> None:
        self._draw(self.world.clock.now())
        super().service()

    def _draw(self, upto: float) -> None:
        """Take every reading due by ``upto``, in order, into memory and the buffer."""
        acq = self.acquisition
        if acq is None:
            return
        if math.isinf(acq.total):
            # an endless count: only the latest reading and what the buffer still takes matter
            keep = 1 + (max(0, self.trace_points - len(self.trace)) if self.trace_control == "NEXT" else 0)
            acq.taken = max(acq.taken, acq.due(upto) - keep)
        while acq.taken < acq.total:
            t = acq.time_of(acq.taken)
            if t is None or t > upto + 1e-12:
                return
            value, status = self._take(t)
            acq.taken += 1
            acq.readings.append((t, value, status))
            if math.isinf(acq.total):
                del acq.readings[:-1]  # an endless count keeps only the latest reading
            self.meas.set_event(MEAS_RAV | (MEAS_ROF if status & STATUS_OVERFLOW else 0))
            if self.trace_control == "NEXT" and self.trace_feed == "SENS":
                self.trace.append((t, value, status))
                if len(self.trace) >= 2:
                    self.meas.set_event(MEAS_BAV)
                if len(self.trace) >= self.trace_points:
                    self.trace_control = "NEV"  # the buffer is full: the feed stops
                    self.meas.set_event(MEAS_BFL)

    def pending_until(self) -> float | None:
        acq = self.acquisition
        if acq is None or not acq.running(self.world.clock.now()):
            return None
        return acq.end()

    def _meas_condition(self) -> int:
        bits = 0
        if len(self.trace) >= 2:
            bits |= MEAS_BAV
        if len(self.trace) >= self.trace_points and self.trace:
            bits |= MEAS_BFL
        return bits

    def _oper_condition(self) -> int:
        return 0 if self.pending_until() is not None else OPER_IDLE

    def _count(self, arg: str) -> float:
        value = self.numeric(self.single(arg), low=1, high=MAX_COUNT, default=1, infinity=math.inf)
        if not math.isinf(value) and value != int(value):
            raise ScpiError(-222)
        return value if math.isinf(value) else int(value)

    def _count_query(self, arg: str, present) -> str:
        value = self.query_value(arg, present, minimum=1, maximum=MAX_COUNT, default=1)
        return "+9.900000E+37" if math.isinf(value) else str(int(value))

    def _set_delay(self, arg: str) -> None:
        self.trigger_delay_s = self.numeric(self.single(arg), low=0.0, high=999.9998, default=0.0)
        self.trigger_delay_auto = False

    def _initiate(self) -> None:
        now = self.world.clock.now()
        if self.acquisition is not None and self.acquisition.running(now):
            raise ScpiError(-213)
        self.acquisition = _Acquisition(self, now)
        self._draw(now)

    def _abort(self) -> None:
        acq = self.acquisition
        if acq is not None and acq.running(self.world.clock.now()):
            acq.aborted_at = self.world.clock.now()
            acq.total = acq.taken

    def bus_trigger(self) -> None:
        acq = self.acquisition
        if acq is None or not acq.waiting_for_bus():
            raise ScpiError(-211)
        acq.bus_arms.append(self.world.clock.now())
        self._draw(self.world.clock.now())

    def _fetch(self) -> str | None:
        acq = self.acquisition
        if acq is None:
            raise ScpiError(-230)
        if math.isinf(acq.total):
            raise ScpiError(-221)
        now = self.world.clock.now()
        if acq.running(now):
            end = acq.end()
            if math.isinf(end):
                return None  # waiting for an arm or trigger event: the bus stays busy
            self.world.clock.sleep_until(end)
        self._draw(max(now, acq.end()) if not math.isinf(acq.end()) else now)
        if not acq.readings:
            raise ScpiError(-230)
        return ",".join(self._format(r) for r in acq.readings)

    def _read(self) -> str | None:
        if self.arm_source == "BUS" or math.isinf(self.arm_count * self.trigger_count):
            raise ScpiError(-221)
        self._initiate()
        return self._fetch()

    def _measure_query(self) -> str | None:
        self._configure()
        return self._read()

    def _latest(self) -> str:
        acq = self.acquisition
        if acq is None or not acq.readings:
            raise ScpiError(-230)
        return self._format(acq.readings[-1])

    # ------------------------------------------------------------ buffer
    def _clear_trace(self) -> None:
        self.trace.clear()

    def _trace_count(self) -> int:
        return len(self.trace)

    def _feed_control(self) -> str:
        return self.trace_control

    def _trace_data(self) -> str:
        if not self.trace:
            raise ScpiError(-230)
        out = []
        previous = self.trace[0][0]
        for reading in self.trace:
            if self.trace_tstamp == "ABS":
                stamp = reading[0] - self.trace[0][0]
            else:
                stamp, previous = reading[0] - previous, reading[0]
            out.append(self._format(reading, stamp))
        return ",".join(out)

    def _statistic(self) -> str:
        if not self.trace:
            raise ScpiError(-230)
        values = [v for _, v, _ in self.trace]
        if any(s & STATUS_OVERFLOW for _, _, s in self.trace):
            return _fmt(NOT_A_NUMBER)
        mean = sum(values) / len(values)
        result = {
            "MIN": min(values), "MAX": max(values), "MEAN": mean, "PKPK": max(values) - min(values),
            "SDEV": math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0,
        }[self.calc3_format]
        return _fmt(result)

    # ------------------------------------------------------------ handlers
    def _acquire_zero(self) -> None:
        # the zero is the shunted input's offset: acquiring it off zero check would zero the beam away
        if not self.zero_check:
            raise ScpiError(-221)
        self.zero_A = self._offset_A()

    def _set_autozero(self, arg: str) -> None:
        text = self.single(arg).upper()
        if text == "ONCE":
            return
        self.autozero = self.boolean(text)

    def _set_line_frequency(self, arg: str) -> None:
        value = self.number(self.single(arg))
        if value not in (50, 60):
            raise ScpiError(-222)
        self.line_frequency = int(value)
        self.nplc = min(self.nplc, self._nplc_max())

    def _set_function(self, arg: str) -> None:
        name = self.string(arg).strip().upper()
        if name not in ("CURR", "CURRENT", "CURR:DC", "CURRENT:DC"):
            raise ScpiError(-151)

    def _set_range(self, arg: str) -> None:
        value = self.numeric(self.single(arg), low=-0.021, high=0.021,
                             minimum=RANGES_A[0], maximum=RANGES_A[-1], default=RANGES_A[-1])
        self.range_A = self._lowest_range(value) or RANGES_A[-1]
        self.auto_range = False

    def _set_auto_limit(self, attr: str, arg: str) -> None:
        value = self.numeric(self.single(arg), low=-0.021, high=0.021,
                             minimum=RANGES_A[0], maximum=RANGES_A[-1],
                             default=RANGES_A[-1] if attr == "ulimit_A" else RANGES_A[0])
        setattr(self, attr, self._lowest_range(value) or RANGES_A[-1])

    def _set_nplc(self, arg: str) -> None:
        self.nplc = self.numeric(self.single(arg), low=0.01, high=self._nplc_max(), default=self._nplc_max())

    def _set_elements(self, arg: str) -> None:
        names = [part.upper() for part in self.params(arg, 1)]
        if any(name not in _ELEMENT_NAMES for name in names):
            raise ScpiError(-224)
        chosen = {_ELEMENT_NAMES[name] for name in names}
        self.elements = tuple(e for e in ELEMENTS if e in chosen)

    def _set_data_format(self, arg: str) -> None:
        kind = self.choice(self.params(arg, 1, 2)[0], {"ASCii": "ASC", "REAL": "REAL", "SREal": "SRE"})
        if kind != "ASC":
            # binary readings are not emulated: this emulator serves ASCII only
            raise ScpiError(-221)


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "keithley_6485"
EMULATOR = Keithley6485Emulator
TRANSPORT = "visa"
