"""Byte-level emulator of a Keysight/Agilent E3633A (or E3634A) supply heating the gun filament.

Speaks the SCPI command set of the E3633A/E3634A User's Guide, chapter 4 "Remote
Interface Reference", and drives the world's filament: every setting goes to
``world.set_filament``; ``MEASure`` reads ``world.filament_current_A()`` /
``world.filament_voltage_V()``.  The world does the physics (CC operation with the
voltage setting as compliance, the filament's thermal lag).  The SCPI rules (header
paths, short/long forms, common commands, status byte, error queue, ``MIN|MAX|DEF``,
unit suffixes such as ``500MA`` or ``1.5 V``) are :class:`~simulators.server.ScpiEmulator`'s.

Ranges as on the E3633A: ``P8V`` (8 V / 20 A) and ``P20V`` (20 V / 10 A), each
programmable 3 % beyond its rating as the real supply is; a value outside the range
queues ``-222,"Data out of range"`` and leaves the setting alone, a range change clips
the setpoints to the new range.

Protection acts on the world: with OVP/OCP enabled (the ``*RST`` state), an output
voltage above ``VOLT:PROT`` or a current above ``CURR:PROT`` trips the protection: the
filament output goes off, Questionable bit 9 (OV) or 10 (OC) latches, ``...:TRIP?``
answers 1, until ``...:PROT:CLE`` restores the output (it trips again at once if the
cause is still there).  The trigger system transfers ``VOLT:TRIG``/``CURR:TRIG`` to the
output ``TRIG:DEL`` seconds (world clock) after ``INIT`` (source ``IMM``) or after
``*TRG`` following ``INIT`` (source ``BUS``, the ``*RST`` source).

Coverage (User's Guide ch. 4: "SCPI Command Summary", "Using the APPLy Command",
"Output Setting and Operation Commands", "Triggering Commands", "System-Related
Commands", "Status Reporting Commands", *RST table under "*RST"):

======================================================  =======  ==============================
command                                                 status   note
======================================================  =======  ==============================
APPLy {<V>|DEF|MIN|MAX}[,{<I>|DEF|MIN|MAX}], APPLy?      yes      DEF = 0 V, 20 A (7 A E3634A)
[SOUR:]CURR[:LEV][:IMM][:AMPL] {<I>|MIN|MAX|UP|DOWN}[?]  yes      ``CURR? MIN|MAX``
[SOUR:]CURR:STEP[:INCR] {<I>|DEF}, ...? [DEF]            yes      DEF: 0.32 mA (0.13 mA)
[SOUR:]CURR[:LEV]:TRIG[:AMPL] {<I>|MIN|MAX}[?]           yes      pending triggered level
[SOUR:]CURR:PROT[:LEV] {<I>|MIN|MAX}[?], :STAT, :TRIP?,  yes      acts on the world
:CLE
[SOUR:]VOLT... (same as CURR), VOLT:RANG {P8V|P20V|      yes      LOW/HIGH aliases
LOW|HIGH}[?]
MEAS[:SCAL]:CURR[:DC]?, MEAS[:SCAL][:VOLT][:DC]?         yes      world readback
OUTP[:STAT] {ON|OFF}[?], OUTP:REL[:STAT] {ON|OFF}[?]     yes      relay: stored only
TRIG[:SEQ]:SOUR {BUS|IMM}[?], TRIG[:SEQ]:DEL[?], INIT    yes      world clock
[:IMM], *TRG
DISP[:WIND][:STAT][?], DISP[:WIND]:TEXT[:DATA][?],       yes      stored only
DISP:TEXT:CLE
SYST:BEEP[:IMM], SYST:ERR?, SYST:VERS?, SYST:REM|LOC|RWL yes
STAT:QUES[:EVEN]?, :COND?, :ENAB[?]                      yes      bits 0 CC, 1 CV, 9 OV, 10 OC
*CLS *ESE[?] *ESR? *IDN? *OPC[?] *RST *SAV {1|2|3}       yes      status byte: QUES(3) MAV(4)
*RCL {1|2|3} *SRE[?] *STB? *TRG *TST? *WAI                        ESB(5) MSS(6), no EAV
*PSC, CALibration:..., SYST:COMM:...                     no       calibration and RS-232 setup
======================================================  =======  ==============================

Assumptions where the guide is silent: ``*SAV``/``*RCL`` keep range, setpoints,
triggered levels, steps, protection levels and states, trigger source and delay but
not the output state (the filament never comes on by a recall); a ``*RCL`` of a
location never saved queues ``810,"State has not been stored"``.
"""

from __future__ import annotations

from .server import ScpiEmulator, ScpiError, StatusRegister

__all__ = ["E36xxEmulator", "E3634AEmulator", "RANGES"]

#: range name -> (programmable maximum voltage V, programmable maximum current A)
RANGES: dict[str, tuple[float, float]] = {"P8V": (8.24, 20.6), "P20V": (20.6, 10.3)}

# Questionable Status register bits (guide, "The SCPI Status Registers", Table 4-3)
QUES_VOLTAGE = 1 << 0  # voltage unregulated: the supply is (was) in CC
QUES_CURRENT = 1 << 1  # current unregulated: the supply is (was) in CV
QUES_OV = 1 << 9
QUES_OC = 1 << 10

_SAVED = (
    "range", "voltage_V", "current_A", "voltage_trig_V", "current_trig_A", "voltage_step_V",
    "current_step_A", "ovp_V", "ovp_on", "ocp_A", "ocp_on", "trigger_source", "trigger_delay_s",
)


def _reply(value: float) -> str:
    """Numeric replies look like ``+2.20000000E+00``."""
    return f"{value:+.8E}"


class E36xxEmulator(ScpiEmulator):
    """One E3633A output wired to ``world``'s filament."""

    model = "Keysight E3633A"
    idn = "Agilent Technologies,E3633A,0,2.1-5.0-1.0"
    #: SCPI version (guide: "YYYY.V", e.g. 1996.0)
    scpi_version = "1996.0"
    error_messages = {-350: "Too many errors", 810: "State has not been stored"}
    eav_bit = None  # status byte bits 0-2 are not used on the E3633A
    ranges: dict[str, tuple[float, float]] = RANGES
    range_aliases = {"LOW": "P8V", "HIGH": "P20V"}
    #: *RST and APPL DEF current (the *RST table: 20 A on the E3633A)
    rated_current_A = 20.0
    ovp_limits_V = (1.0, 22.0)
    ocp_limits_A = (0.0, 22.0)
    #: step sizes at *RST and for DEF (typical minimum resolution)
    default_steps = (0.36e-3, 0.32e-3)

    def __init__(self, world) -> None:
        super().__init__(world)
        self.ques = self.status_register(StatusRegister("QUES", 3, self._ques_condition), "STATus:QUEStionable")
        source = "[SOURce:]"
        for quantity in ("CURRent", "VOLTage"):
            q = quantity[0]
            self.command(f"{source}{quantity}[:LEVel][:IMMediate][:AMPLitude]", lambda a, q=q: self._set_level(q, a))
            self.command(f"{source}{quantity}[:LEVel][:IMMediate][:AMPLitude]?", lambda a, q=q: self._query_level(q, a))
            self.command(f"{source}{quantity}:STEP[:INCRement]", lambda a, q=q: self._set_step(q, a))
            self.command(f"{source}{quantity}:STEP[:INCRement]?", lambda a, q=q: self._query_step(q, a))
            self.command(f"{source}{quantity}[:LEVel]:TRIGgered[:AMPLitude]", lambda a, q=q: self._set_trig(q, a))
            self.command(f"{source}{quantity}[:LEVel]:TRIGgered[:AMPLitude]?", lambda a, q=q: self._query_trig(q, a))
            self.command(f"{source}{quantity}:PROTection[:LEVel]", lambda a, q=q: self._set_protection(q, a))
            self.command(f"{source}{quantity}:PROTection[:LEVel]?", lambda a, q=q: self._query_protection(q, a))
            self.command(f"{source}{quantity}:PROTection:STATe", lambda a, q=q: self._set_protection_state(q, a))
            self.command(f"{source}{quantity}:PROTection:STATe?", lambda a, q=q: self._flag(self._prot(q)[1]))
            self.command(f"{source}{quantity}:PROTection:TRIPped?", lambda a, q=q: self._flag(self._tripped(q)))
            self.command(f"{source}{quantity}:PROTection:CLEar", self._no_params(lambda q=q: self._clear_trip(q)))
        self.command(f"{source}VOLTage:RANGe", self._set_range)
        self.command(f"{source}VOLTage:RANGe?", self._no_params(lambda: self.range))
        self.command("APPLy", self._apply_command)
        self.command("APPLy?", self._no_params(lambda: f'"{self.voltage_V:.5f},{self.current_A:.5f}"'))
        self.command("OUTPut[:STATe]", self._set_output)
        self.command("OUTPut[:STATe]?", self._no_params(lambda: self._flag(self.output)))
        self.command("OUTPut:RELay[:STATe]", lambda a: setattr(self, "relay", self.boolean(a)))
        self.command("OUTPut:RELay[:STATe]?", self._no_params(lambda: self._flag(self.relay)))
        self.command("MEASure[:SCALar]:CURRent[:DC]?", self._no_params(lambda: _reply(self.world.filament_current_A())))
        self.command("MEASure[:SCALar][:VOLTage][:DC]?", self._no_params(lambda: _reply(self.world.filament_voltage_V())))
        self.command("TRIGger[:SEQuence]:SOURce", self._set_trigger_source)
        self.command("TRIGger[:SEQuence]:SOURce?", self._no_params(lambda: self.trigger_source))
        self.command("TRIGger[:SEQuence]:DELay", self._set_trigger_delay)
        self.command("TRIGger[:SEQuence]:DELay?", lambda a: _reply(self.query_value(
            a, self.trigger_delay_s, minimum=0.0, maximum=3600.0)))
        self.command("INITiate[:IMMediate]", self._no_params(self._initiate))
        self.command("DISPlay[:WINDow][:STATe]", lambda a: setattr(self, "display_on", self.boolean(a)))
        self.command("DISPlay[:WINDow][:STATe]?", self._no_params(lambda: self._flag(self.display_on)))
        self.command("DISPlay[:WINDow]:TEXT[:DATA]", lambda a: setattr(self, "display_text", self.string(a)))
        self.command("DISPlay[:WINDow]:TEXT[:DATA]?", self._no_params(lambda: '"' + self.display_text.replace('"', '""') + '"'))
        self.command("DISPlay[:WINDow]:TEXT:CLEar", self._no_params(lambda: setattr(self, "display_text", "")))
        self.command("SYSTem:BEEPer[:IMMediate]", self._no_params(lambda: None))
        self.command("SYSTem:VERSion?", self._no_params(lambda: self.scpi_version))
        # RS-232 remote/local switching: accepted, nothing to do on a socket
        for header in ("SYSTem:REMote", "SYSTem:LOCal", "SYSTem:RWLock"):
            self.command(header, self._no_params(lambda: None))
        self.command("*SAV", self._save)
        self.command("*RCL", self._recall)
        self._memory: dict[int, dict] = {}
        self.relay = False
        self.display_on = True
        self.display_text = ""
        self.ovp_tripped = False
        self.ocp_tripped = False
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        """``*RST`` per the guide's *RST table."""
        self.range = next(iter(self.ranges))
        self.voltage_V = 0.0
        self.current_A = self.rated_current_A
        self.voltage_trig_V: float | None = None  # None: the immediate level (guide, VOLT:TRIG?)
        self.current_trig_A: float | None = None
        self.voltage_step_V, self.current_step_A = self.default_steps
        self.ovp_V, self.ovp_on = self.ovp_limits_V[1], True
        self.ocp_A, self.ocp_on = self.ocp_limits_A[1], True
        self.trigger_source = "BUS"
        self.trigger_delay_s = 0.0
        self._initiated = False
        self._transfer_at: float | None = None
        self.output = False
        self.display_on = True
        self.display_text = ""
        self._apply()

    def _limits(self) -> tuple[float, float]:
        return self.ranges[self.range]

    def _maximum(self, q: str) -> float:
        return self._limits()[0 if q == "V" else 1]

    def _get(self, q: str) -> float:
        return self.voltage_V if q == "V" else self.current_A

    def _put(self, q: str, value: float) -> None:
        if q == "V":
            self.voltage_V = value
        else:
            self.current_A = value

    @staticmethod
    def _flag(value: bool) -> str:
        return "1" if value else "0"

    def _unit(self, q: str) -> str:
        return "V" if q == "V" else "A"

    # ------------------------------------------------------------ the world
    def _apply(self) -> None:
        on = self.output and not (self.ovp_tripped or self.ocp_tripped)
        self.world.set_filament(current_A=self.current_A, voltage_V=self.voltage_V, output=on)
        self._check_protection()

    def _check_protection(self) -> None:
        """A trip switches the output off: OVP above the voltage level, OCP above the current."""
        if not self.world.filament_output:
            return
        trip_v = self.ovp_on and self.world.filament_voltage_V() > self.ovp_V
        trip_i = self.ocp_on and self.world.filament_current_A() > self.ocp_A
        if trip_v:
            self.ovp_tripped = True
            self.ques.set_event(QUES_OV)
        if trip_i:
            self.ocp_tripped = True
            self.ques.set_event(QUES_OC)
        if trip_v or trip_i:
            self.world.set_filament(output=False)

    def _ques_condition(self) -> int:
        bits = (QUES_OV if self.ovp_tripped else 0) | (QUES_OC if self.ocp_tripped else 0)
        if self.world.filament_output:
            # in CC the current setting limits (voltage unregulated), else the voltage does
            limited = self.world.filament_current_A() >= self.current_A - 1e-12
            bits |= QUES_VOLTAGE if limited else QUES_CURRENT
        return bits

    def service(self) -> None:
        if self._transfer_at is not None and self.world.clock.now() >= self._transfer_at:
            self._transfer_at = None
            self._initiated = False
            if self.voltage_trig_V is not None:
                self.voltage_V = min(self.voltage_trig_V, self._maximum("V"))
            if self.current_trig_A is not None:
                self.current_A = min(self.current_trig_A, self._maximum("A"))
            self._apply()
        super().service()

    def pending_until(self) -> float | None:
        if self._transfer_at is not None:
            return self._transfer_at
        return float("inf") if self._initiated else None

    # ------------------------------------------------------------ levels
    def _level(self, q: str, text: str) -> float:
        """``<value>|MINimum|MAXimum`` checked against ``0 .. range maximum``."""
        return self.numeric(text, low=0.0, high=self._maximum(q), unit=self._unit(q))

    def _set_level(self, q: str, arg: str) -> None:
        text = self.single(arg)
        key = self.keyword(text)
        if key in ("UP", "DOWN"):
            step = self.voltage_step_V if q == "V" else self.current_step_A
            value = self._get(q) + (step if key == "UP" else -step)
            if not -1e-12 <= value <= self._maximum(q) + 1e-12:
                raise ScpiError(-222)
            value = min(max(value, 0.0), self._maximum(q))
        else:
            value = self._level(q, text)
        self._put(q, value)
        self._apply()

    def _query_level(self, q: str, arg: str) -> str:
        return _reply(self.query_value(arg, self._get(q), minimum=0.0, maximum=self._maximum(q)))

    def _set_step(self, q: str, arg: str) -> None:
        text = self.single(arg)
        default = self.default_steps[0 if q == "V" else 1]
        value = self.numeric(text, low=0.0, high=self._maximum(q), unit=self._unit(q), default=default)
        if q == "V":
            self.voltage_step_V = value
        else:
            self.current_step_A = value

    def _query_step(self, q: str, arg: str) -> str:
        present = self.voltage_step_V if q == "V" else self.current_step_A
        return _reply(self.query_value(arg, present, default=self.default_steps[0 if q == "V" else 1]))

    def _set_trig(self, q: str, arg: str) -> None:
        value = self._level(q, self.single(arg))
        if q == "V":
            self.voltage_trig_V = value
        else:
            self.current_trig_A = value

    def _query_trig(self, q: str, arg: str) -> str:
        pending = self.voltage_trig_V if q == "V" else self.current_trig_A
        present = self._get(q) if pending is None else pending
        return _reply(self.query_value(arg, present, minimum=0.0, maximum=self._maximum(q)))

    def _set_range(self, arg: str) -> None:
        name = self.single(arg).upper()
        name = self.range_aliases.get(name, name)
        if name not in self.ranges:
            raise ScpiError(-224)
        self.range = name
        v_max, i_max = self.ranges[name]
        self.voltage_V = min(self.voltage_V, v_max)
        self.current_A = min(self.current_A, i_max)
        self._apply()

    def _apply_command(self, arg: str) -> None:
        parts = self.params(arg, 1, 2)
        voltage = self.numeric(parts[0], low=0.0, high=self._maximum("V"), unit="V", default=0.0)
        current = self.current_A
        if len(parts) > 1:
            current = self.numeric(parts[1], low=0.0, high=self._maximum("A"), unit="A", default=self.rated_current_A)
            if current > self._maximum("A"):  # DEF beyond a lower range: an execution error
                raise ScpiError(-222)
        self.voltage_V, self.current_A = voltage, current
        self._apply()

    def _set_output(self, arg: str) -> None:
        self.output = self.boolean(arg)
        self._apply()

    # ------------------------------------------------------------ protection
    def _prot(self, q: str) -> tuple[float, bool]:
        return (self.ovp_V, self.ovp_on) if q == "V" else (self.ocp_A, self.ocp_on)

    def _tripped(self, q: str) -> bool:
        return self.ovp_tripped if q == "V" else self.ocp_tripped

    def _set_protection(self, q: str, arg: str) -> None:
        low, high = self.ovp_limits_V if q == "V" else self.ocp_limits_A
        value = self.numeric(self.single(arg), low=low, high=high, unit=self._unit(q))
        if q == "V":
            self.ovp_V = value
        else:
            self.ocp_A = value
        self._check_protection()

    def _query_protection(self, q: str, arg: str) -> str:
        low, high = self.ovp_limits_V if q == "V" else self.ocp_limits_A
        return _reply(self.query_value(arg, self._prot(q)[0], minimum=low, maximum=high))

    def _set_protection_state(self, q: str, arg: str) -> None:
        on = self.boolean(arg)
        if q == "V":
            self.ovp_on = on
        else:
            self.ocp_on = on
        self._check_protection()

    def _clear_trip(self, q: str) -> None:
        if q == "V":
            self.ovp_tripped = False
        else:
            self.ocp_tripped = False
        self._apply()

    # ------------------------------------------------------------ triggers
    def _set_trigger_source(self, arg: str) -> None:
        self.trigger_source = self.choice(arg, {"BUS": "BUS", "IMMediate": "IMM"})

    def _set_trigger_delay(self, arg: str) -> None:
        self.trigger_delay_s = self.numeric(self.single(arg), low=0.0, high=3600.0, unit="S")

    def _initiate(self) -> None:
        if self._initiated:
            raise ScpiError(-213)
        self._initiated = True
        if self.trigger_source == "IMM":
            self._transfer_at = self.world.clock.now() + self.trigger_delay_s
            self.service()

    def bus_trigger(self) -> None:
        if self.trigger_source != "BUS" or not self._initiated or self._transfer_at is not None:
            raise ScpiError(-211)
        self._transfer_at = self.world.clock.now() + self.trigger_delay_s
        self.service()

    # ------------------------------------------------------------ memories
    def _location(self, arg: str) -> int:
        return self.integer(arg, 1, 3)

    def _save(self, arg: str) -> None:
        self._memory[self._location(arg)] = {name: getattr(self, name) for name in _SAVED}

    def _recall(self, arg: str) -> None:
        state = self._memory.get(self._location(arg))
        if state is None:
            raise ScpiError(810)
        for name, value in state.items():
            setattr(self, name, value)
        self._initiated = False
        self._transfer_at = None
        self._apply()


class E3634AEmulator(E36xxEmulator):
    """The E3634A: ``P25V`` (25 V / 7 A) and ``P50V`` (50 V / 4 A)."""

    model = "Keysight E3634A"
    idn = "Agilent Technologies,E3634A,0,2.1-5.0-1.0"
    ranges = {"P25V": (25.75, 7.21), "P50V": (51.5, 4.12)}
    range_aliases = {"LOW": "P25V", "HIGH": "P50V"}
    rated_current_A = 7.0
    ovp_limits_V = (1.0, 55.0)
    ocp_limits_A = (0.0, 7.5)
    default_steps = (0.95e-3, 0.13e-3)


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "keysight_e36xx"
EMULATOR = E36xxEmulator
TRANSPORT = "visa"
