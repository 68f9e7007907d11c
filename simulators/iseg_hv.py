"""Byte-level emulator of an iseg EBS (bipolar) multi-channel high-voltage module.

One emulator per module of :data:`simulators.world.HV_MODULES`; its channels are the
world's :class:`~simulators.world.HVChannel` objects, so the voltages it reports are
the ones the beam and the analyzer see.  The dialect is iseg's "SCPI protocol common
instruction set" (EDCP) as the module (behind an iCS controller) speaks it on a raw
socket: lines end in CR LF, there is no echo, set commands get no reply, queries
answer with a unit suffix (``-5.00000E+01V``, ``2.50000E-05A``, ``5.000E+00%/s``) and
a channel list ``(@0,2)`` / ``(@0-3)`` gets comma-separated answers.  The header rules
(short/long forms, any case, ``;`` with the path of the previous header) are the
shared :class:`~simulators.server.CommandEmulator`'s.

Errors are reported the iseg way, not through an error queue: a setting the module
cannot accept is ignored and sets *Is Input Error* (Channel Status bit 2 for a channel
setting, Module Status bit 6 for a module command, an unknown command or a channel
outside the module); the flag stays until the next accepted setting of the same scope
or ``*CLS``.  Refused: ``|Vset| > Vnom`` (this bipolar module takes either sign; a
unipolar one would also refuse the wrong sign), ``|Iset| > Inom``, bounds beyond the
nominal values, module ramp speed outside 0.04-10 %/s, ``:VOLT ON`` while in
emergency off or after a current trip.

The current set value acts on the world: a channel whose load would draw more than
Iset holds its voltage where it draws Iset (*Is Constant Current*).  With kill enabled
(``:CONF:KILL 1``) such a channel is shut down without ramp at once; otherwise the
delayed trip (``:CONF:TRIP:ACTION`` 0-3 after ``:CONF:TRIP:TIME`` ms, evaluated when
the host next talks to the module) sets *Is Current Trip* and acts.  A tripped
channel switches on again after its events are cleared (``:EVENT CLEAR`` or ``*CLS``).

Status bits come from the world's channel state at the clock's ``now()``: *Is On*,
*Is Voltage Ramp* while the output moves, *Is Emergency Off*, *Is Constant Voltage*
when on and settled, *Is Constant Current* at Iset, *Is Voltage Bounds* when on,
settled and further than Vbounds from Vset.  Event registers latch the transitions
the module's status shows between two messages from the host (a condition that comes
and goes between them is not seen).  Bits 16-22 (NHR/SHR only) stay clear, as on an
EBS.

Coverage ("SCPI protocol common instruction set", sections 3-8, and the register
tables of section 8):

==========================================================  =======  ==========================
command                                                     status   note
==========================================================  =======  ==========================
*IDN? *CLS *RST *OPC? *INSTR? *LLO *GTL                      yes      *INSTR? answers EDCP
:VOLT <V>|ON|OFF|EMCY OFF|EMCY CLR,(@l), :VOLT:EMCY ...     yes
:VOLT:BOUnds <V>,(@l), :CURR <A>,(@l), :CURR:BOUnds,(@l)   yes      Iset limits the current
:EVENt CLEAR|<word>,(@l), :EVENt:MASK <word>,(@l)           yes
:CONF:TRIP:ACTion|TIME <n>,(@l)[?], :CONF:INHibit|INHP       yes      inhibit: stored only
:ACTion <n>,(@l)[?], :CONF:OUTPut:MODE|POLarity[?][:LIST?]
:CONF:RAMP:VOLT <%/s>[?], :CONF:RAMP:CURR <%/s>[?]          yes      module ramps
:CONF:RAMP:VOLT|CURR[:UP|:DOWN] <V/s>,(@l)                  no       EHS/NHR/SHR only: refused
:CONF:AVERage, :CONF:KILL, :CONF:ADJust [?]                 yes      kill acts on trips
:CONF:EVent CLEAR|<word>, :CONF:EVent:MASK[?], :CHANMASK[?] yes
:READ:VOLT[:LIMit|:NOMinal|:MODE[:LIST]|:BOUnds|:ON|:EMCY]? yes      channel list
:READ:CURR[:LIMit|:NOMinal|:MODE[:LIST]|:BOUnds]?           yes      channel list
:READ:VOLT:LIMit?, :READ:CURR:LIMit? (module, %)            yes      100 %
:READ:RAMP:VOLT|CURR? [(@l)], :READ:RAMP:VOLT:MIN?|MAX? (@l) yes      %/s or V/s per channel
:READ:CHAN:STATus|EVent:STATus|EVent:MASK? (@l)             yes
:MEAS:VOLT? (@l), :MEAS:CURR? (@l)                          yes      the world's output
:READ:MOD:STATus|EVent:STATus|EVent:MASK|EVent:CHANSTATus|  yes
EVent:CHANMASK|CHANnelnumber|TEMPerature|SETvalue?
:READ:MOD:SUPPly? (@i), :READ:MOD:SUPPly:P24V|N24V|P5V|     yes      nominal supplies
P3V|P12V|N12V?
:READ:FIRMware:RELease?                                     yes
:READ:CHAN:CONTrol?, :READ:MOD:CONTrol?, :READ:FIRM:NAME?,  no       register layout / name not
:SYSTem:USER:..., :CONF:CAN:..., :CONF:SERIAL:...                    in the sources used
==========================================================  =======  ==========================

An unknown command or query sets Module Status *Is Input Error*; a query is then not
answered (no error text was found in the instruction set for an unknown query, so
the emulator sends none: the host's read times out, and the status shows why).

``echo=True`` is the module on its own serial link (USB/RS-232, as NHR, NHS, SHR and
EHS modules are reached without an iCS): every command line comes back as received,
ending in CR LF, before its answer; a set command then gets its echo only.  Sources:
the consensus of public clients (iseg-nhr on PyPI compares every echo with the
command sent; another lab client auto-detects the echo from ``*IDN?``); the
instruction set itself does not describe the serial echo.
"""

from __future__ import annotations

import re

from simulators.server import CommandEmulator
from simulators.world import HV_MODULES, HVChannel

__all__ = ["IsegHVEmulator", "model_name"]

RAMP_PERCENT_MIN = 0.04
RAMP_PERCENT_MAX = 10.0
FIRMWARE_RELEASE = "5.26"
#: module temperature (degrees C) and supply voltages (V) the module reports
TEMPERATURE_C = 32.0
SUPPLIES_V = {"P24V": 24.0, "N24V": -24.0, "P5V": 5.0, "P3V": 3.3, "P12V": 12.0, "N12V": -12.0}
#: ":READ:MOD:SUPP? (@i)": +24 V, -24 V, +5 V external; +15 V, -15 V, +5 V, +3.3 V internal
SUPPLY_INDEX_V = (24.0, -24.0, 5.0, 15.0, -15.0, 5.0, 3.3)

#: iseg's channel-count digits in the model name (F0 = 16 channels)
_CHANNEL_CODES = {1: "10", 2: "20", 4: "40", 6: "60", 8: "80", 12: "C0", 16: "F0"}

# Channel Status / Channel Event Status bits
CH_INPUT_ERROR, CH_ON, CH_RAMP, CH_EMCY, CH_CC, CH_CV = 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7
CH_VBOUNDS, CH_TRIP = 1 << 11, 1 << 13
#: event bits that copy a status condition (an event cannot be cleared while it holds)
_LEVEL_EVENTS = CH_EMCY | CH_CC | CH_CV | 0xFC00
# Module Status bits
MOD_INPUT_ERROR, MOD_EVENT_ACTIVE, MOD_KILL = 1 << 6, 1 << 11, 1 << 15


def model_name(channels: int, nominal_V: float) -> str:
    """iseg-style type code, ``EBS 80 10`` = bipolar, 8 channels, 1 kV."""
    return f"EBS {_CHANNEL_CODES.get(channels, f'{channels:02d}')} {round(nominal_V / 100):02d}"


class _Refused(Exception):
    """A command the module ignores; ``channels`` get Is Input Error (empty: the module)."""

    def __init__(self, channels=()) -> None:
        super().__init__(channels)
        self.channels = tuple(channels)


def _unit(value: float, unit: str, digits: int = 5) -> str:
    return f"{value + 0.0:.{digits}E}{unit}"


class IsegHVEmulator(CommandEmulator):
    """The module ``module`` of ``world.hv`` (see module docstring)."""

    accept = (b"\r\n", b"\n")
    reply_termination = b"\r\n"
    refusal = _Refused
    strict_header_separator = False  # ":MEAS:VOLT?(@0)" is accepted

    def __init__(self, world, module: str, *, echo: bool = False) -> None:
        super().__init__(world)
        #: echo every command line before its answer, as the modules' own serial
        #: (USB, RS-232) interfaces do; the iCS controller's socket does not echo
        self.echo = echo
        if module not in HV_MODULES:
            raise ValueError(f"unknown HV module {module!r}: one of {', '.join(HV_MODULES)}")
        self.module = module
        n, nominal_V, _ = HV_MODULES[module]
        self.model = f"iseg {model_name(n, nominal_V)}"
        serial = 520001 + list(HV_MODULES).index(module)
        self.idn = f"iseg Spezialelektronik GmbH,{model_name(n, nominal_V)},{serial},{FIRMWARE_RELEASE}"
        self.channel_input_error = [False] * n
        self.module_input_error = False
        first: HVChannel = self.channels[0]
        self.ramp_percent = 100.0 * first.ramp_V_per_s / first.nominal_V
        self.current_ramp_percent = 5.0
        self.v_bounds = [0.0] * n
        self.i_bounds = [0.0] * n
        self.event = [0] * n
        self.event_mask = [0] * n
        self.tripped = [False] * n
        self.trip_action = [4] * n  # 4: the delayed trip is disabled
        self.trip_time_ms = [0] * n
        self.inhibit_action = [0] * n
        self.output_mode = [1] * n
        self._cc_since: list[float | None] = [None] * n
        self._last_status = [0] * n
        self.module_event = 0
        self.module_event_mask = 0
        self.module_channel_mask = 0
        self.kill_enable = False
        self.fine_adjust = True
        self.average = 64
        self.setvalue_changes = 0
        each = self._each
        for header, handler in [
            ("*IDN?", lambda arg: self.idn),
            ("*CLS", self._clear_status),
            ("*RST", self._reset),
            ("*OPC?", lambda arg: "1"),
            ("*INSTR?", lambda arg: "EDCP"),
            ("*LLO", lambda arg: None),
            ("*GTL", lambda arg: None),
            # channel settings
            ("VOLTage:EMCY", self._emergency),
            ("VOLTage:BOUnds", lambda arg: self._set_bounds(arg, "V")),
            ("VOLTage", self._voltage),
            ("CURRent:BOUnds", lambda arg: self._set_bounds(arg, "A")),
            ("CURRent", self._current),
            ("EVENt:MASK", self._set_event_mask),
            ("EVENt", self._clear_events),
            ("CONFigure:TRIP:ACTion", lambda arg: self._set_channel_int(arg, self.trip_action, 0, 4)),
            ("CONFigure:TRIP:ACTion?", lambda arg: self._each_index(arg, lambda i: str(self.trip_action[i]))),
            ("CONFigure:TRIP:TIMe", lambda arg: self._set_channel_int(arg, self.trip_time_ms, 0, 4095)),
            ("CONFigure:TRIP:TIMe?", lambda arg: self._each_index(arg, lambda i: f"{self.trip_time_ms[i]}ms")),
            ("CONFigure:INHibit:ACTion", lambda arg: self._set_channel_int(arg, self.inhibit_action, 0, 4)),
            ("CONFigure:INHibit:ACTion?", lambda arg: self._each_index(arg, lambda i: str(self.inhibit_action[i]))),
            ("CONFigure:INHP:ACTion", lambda arg: self._set_channel_int(arg, self.inhibit_action, 0, 4)),
            ("CONFigure:INHP:ACTion?", lambda arg: self._each_index(arg, lambda i: str(self.inhibit_action[i]))),
            ("CONFigure:OUTPut:MODE", lambda arg: self._set_channel_int(arg, self.output_mode, 1, 1)),
            ("CONFigure:OUTPut:MODE?", lambda arg: self._each_index(arg, lambda i: str(self.output_mode[i]))),
            ("CONFigure:OUTPut:MODE:LIST?", lambda arg: self._each_index(arg, lambda i: "1")),
            ("CONFigure:OUTPut:POLarity", self._set_polarity),
            ("CONFigure:OUTPut:POLarity?", lambda arg: self._each(arg, lambda ch: "n" if ch.set_V < 0 else "p")),
            ("CONFigure:OUTPut:POLarity:LIST?", lambda arg: self._each_index(arg, lambda i: "p,n")),
            # module settings
            ("CONFigure:RAMP:VOLTage?", lambda arg: _unit(self.ramp_percent, "%/s", 3)),
            ("CONFigure:RAMP:VOLTage", self._set_ramp),
            ("CONFigure:RAMP:CURRent?", lambda arg: _unit(self.current_ramp_percent, "%/s", 3)),
            ("CONFigure:RAMP:CURRent", self._set_current_ramp),
            ("CONFigure:AVERage", lambda arg: self._set_module_int(arg, "average", (1, 16, 64, 256, 512, 1024))),
            ("CONFigure:AVERage?", lambda arg: str(self.average)),
            ("CONFigure:KILL", lambda arg: self._set_module_flag(arg, "kill_enable")),
            ("CONFigure:KILL?", lambda arg: "1" if self.kill_enable else "0"),
            ("CONFigure:ADJust", lambda arg: self._set_module_flag(arg, "fine_adjust")),
            ("CONFigure:ADJust?", lambda arg: "1" if self.fine_adjust else "0"),
            ("CONFigure:EVent:MASK", lambda arg: self._set_module_word(arg, "module_event_mask")),
            ("CONFigure:EVent:MASK?", lambda arg: str(self.module_event_mask)),
            ("CONFigure:EVent:CHANMASK", lambda arg: self._set_module_word(arg, "module_channel_mask")),
            ("CONFigure:EVent:CHANMASK?", lambda arg: str(self.module_channel_mask)),
            ("CONFigure:EVent", self._clear_module_events),
            # channel read-backs
            ("READ:VOLTage:NOMinal?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_V, "V"))),
            ("READ:VOLTage:LIMit?", lambda arg: self._module_or_each(arg, "%", lambda ch: _unit(ch.nominal_V, "V"))),
            ("READ:VOLTage:MODE?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_V, "V"))),
            ("READ:VOLTage:MODE:LIST?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_V, "V"))),
            ("READ:VOLTage:BOUnds?", lambda arg: self._each_index(arg, lambda i: _unit(self.v_bounds[i], "V"))),
            ("READ:VOLTage:ON?", lambda arg: each(arg, lambda ch: "1" if ch.on else "0")),
            ("READ:VOLTage:EMCY?", lambda arg: each(arg, lambda ch: "1" if ch.emergency_off else "0")),
            ("READ:VOLTage?", lambda arg: each(arg, lambda ch: _unit(ch.set_V, "V"))),
            ("READ:CURRent:NOMinal?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_A, "A"))),
            ("READ:CURRent:LIMit?", lambda arg: self._module_or_each(arg, "%", lambda ch: _unit(ch.nominal_A, "A"))),
            ("READ:CURRent:MODE?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_A, "A"))),
            ("READ:CURRent:MODE:LIST?", lambda arg: each(arg, lambda ch: _unit(ch.nominal_A, "A"))),
            ("READ:CURRent:BOUnds?", lambda arg: self._each_index(arg, lambda i: _unit(self.i_bounds[i], "A"))),
            ("READ:CURRent?", lambda arg: each(arg, lambda ch: _unit(ch.current_limit_A, "A"))),
            ("READ:RAMP:VOLTage:MINimum?", lambda arg: each(arg, lambda ch: _unit(RAMP_PERCENT_MIN / 100 * ch.nominal_V, "V/s", 3))),
            ("READ:RAMP:VOLTage:MAXimum?", lambda arg: each(arg, lambda ch: _unit(RAMP_PERCENT_MAX / 100 * ch.nominal_V, "V/s", 3))),
            ("READ:RAMP:VOLTage?", self._read_voltage_ramp),
            ("READ:RAMP:CURRent?", self._read_current_ramp),
            ("MEASure:VOLTage?", lambda arg: each(arg, lambda ch: _unit(ch.voltage(self.now), "V"))),
            ("MEASure:CURRent?", lambda arg: each(arg, lambda ch: _unit(ch.current(self.now), "A"))),
            ("READ:CHANnel:STATus?", lambda arg: self._each_index(arg, lambda i: str(self.channel_status(i)))),
            ("READ:CHANnel:EVent:STATus?", lambda arg: self._each_index(arg, lambda i: str(self.event[i]))),
            ("READ:CHANnel:EVent:MASK?", lambda arg: self._each_index(arg, lambda i: str(self.event_mask[i]))),
            # module read-backs
            ("READ:MODule:STATus?", lambda arg: str(self.module_status())),
            ("READ:MODule:EVent:STATus?", lambda arg: str(self.module_event)),
            ("READ:MODule:EVent:MASK?", lambda arg: str(self.module_event_mask)),
            ("READ:MODule:EVent:CHANSTATus?", lambda arg: str(self.channel_event_summary())),
            ("READ:MODule:EVent:CHANMASK?", lambda arg: str(self.module_channel_mask)),
            ("READ:MODule:CHANnelnumber?", lambda arg: str(len(self.channels))),
            ("READ:MODule:TEMPerature?", lambda arg: _unit(TEMPERATURE_C, "C")),
            ("READ:MODule:SETvalue?", lambda arg: str(self.setvalue_changes)),
            ("READ:MODule:SUPPly?", self._read_supply),
            *[(f"READ:MODule:SUPPly:{name}?", lambda arg, v=v: _unit(v, "V")) for name, v in SUPPLIES_V.items()],
            ("READ:FIRMware:RELease?", lambda arg: FIRMWARE_RELEASE),
        ]:
            self.command(header, handler)

    # ------------------------------------------------------------------ world
    @property
    def channels(self) -> list[HVChannel]:
        return self.world.hv[self.module]

    @property
    def now(self) -> float:
        return self.world.clock.now()

    def _in_cc(self, ch: HVChannel, t: float) -> bool:
        on = ch.on and not ch.emergency_off
        return on and abs(ch.current(t)) >= ch.current_limit_A * (1 - 1e-9)

    def channel_status(self, index: int) -> int:
        """Channel Status register of channel ``index`` from the world's state."""
        ch, t = self.channels[index], self.now
        on = ch.on and not ch.emergency_off
        ramping = ch.is_ramping(t)
        constant_current = self._in_cc(ch, t)
        settled = on and not ramping
        bits = {
            2: self.channel_input_error[index],
            3: on,
            4: ramping,
            5: ch.emergency_off,
            6: constant_current,
            7: settled and not constant_current,
            11: settled and self.v_bounds[index] > 0 and abs(ch.voltage(t) - ch.set_V) > self.v_bounds[index],
            13: self.tripped[index],
        }
        return sum(1 << bit for bit, value in bits.items() if value)

    def channel_event_summary(self) -> int:
        """Module Event Channel Status: channel ``i`` has an event its mask lets through."""
        return sum(1 << i for i in range(len(self.channels)) if self.event[i] & self.event_mask[i])

    def module_status(self) -> int:
        """Module Status register: the channels' summary plus the module's own flags."""
        t = self.now
        sum_error = any(self.channel_status(i) & 0xFC00 for i in range(len(self.channels)))
        bits = {
            0: self.fine_adjust,
            3: any((ch.on and not ch.emergency_off) or abs(ch.voltage(t)) > 60.0 for ch in self.channels),
            6: self.module_input_error,
            8: not sum_error,
            9: not any(ch.is_ramping(t) for ch in self.channels),
            10: True,  # safety loop closed
            11: bool(self.channel_event_summary() & self.module_channel_mask),
            12: not sum_error,
            13: True,  # supplies good
            14: True,  # temperature good
            15: self.kill_enable,
        }
        return sum(1 << bit for bit, value in bits.items() if value)

    # ------------------------------------------------------------------ time
    def before_message(self) -> None:
        self._service()

    def after_unit(self) -> None:
        self._service()

    def _service(self) -> None:
        """Trips that are due, then the event latches (transitions since last time)."""
        t = self.now
        for i, ch in enumerate(self.channels):
            if self._in_cc(ch, t) and not self.tripped[i]:
                if self._cc_since[i] is None:
                    self._cc_since[i] = t
                due = self._cc_since[i] + self.trip_time_ms[i] / 1000.0
                if self.kill_enable:
                    self._trip(i, 2, self._cc_since[i])
                elif self.trip_action[i] != 4 and t >= due:
                    self._trip(i, self.trip_action[i], due)  # acts when it was due, on the world's clock
            elif not self._in_cc(ch, t):
                self._cc_since[i] = None
            status = self.channel_status(i)
            last = self._last_status[i]
            rising, falling = status & ~last, ~status & last
            self.event[i] |= rising & (_LEVEL_EVENTS | CH_INPUT_ERROR | CH_TRIP)
            self.event[i] |= (CH_ON if falling & CH_ON else 0) | (CH_RAMP if falling & CH_RAMP else 0)
            self._last_status[i] = status

    def _trip(self, index: int, action: int, t: float) -> None:
        """A current trip at ``t``: ``action`` 0 flag only, 1 off with ramp, 2 off without
        ramp, 3 the whole module off without ramp."""
        self.tripped[index] = True
        targets = range(len(self.channels)) if action == 3 else [index]
        for i in targets:
            ch = self.channels[i]
            if action == 1:
                ch.set_on(False, t)
            elif action in (2, 3):
                ch.trip(t)  # the output drops at once ...
                ch.clear_trip(t)  # ... but this is not an emergency off
                ch.set_on(False, t)

    # ------------------------------------------------------------------ parsing
    # iseg has no error queue: a refused or unknown command sets Is Input Error
    def refused(self, header: str, arg: str, exc: Exception) -> None:
        for i in exc.channels:
            self.channel_input_error[i] = True
            self.event[i] |= CH_INPUT_ERROR
        if not exc.channels:
            self.module_input_error = True

    def accepted(self, header: str, arg: str) -> None:
        if not header.endswith("?") and not header.startswith("*"):
            self.setvalue_changes += 1
            self._accepted(arg)

    def undefined(self, header: str, arg: str) -> None:
        self.module_input_error = True  # and a query goes unanswered

    def _accepted(self, arg: str) -> None:
        """An accepted setting clears the input error of its scope."""
        channels = self._channel_list(arg, required=False)
        if channels is None:
            self.module_input_error = False
        else:
            for i in channels:
                self.channel_input_error[i] = False

    def _channel_list(self, arg: str, required: bool = True) -> list[int] | None:
        """``(@0)``, ``(@0,2)``, ``(@0-3)`` -> channel indices; outside the module: refused."""
        m = re.search(r"\(@([^)]*)\)", arg)
        if m is None:
            if required:
                raise _Refused()
            return None
        channels: list[int] = []
        try:
            for item in m.group(1).split(","):
                low, _, high = item.strip().partition("-")
                first, last = int(low), int(high or low)
                channels.extend(range(first, last + 1))
        except ValueError:
            raise _Refused() from None
        if not channels or any(not 0 <= i < len(self.channels) for i in channels):
            raise _Refused()
        return channels


    def handle(self, line: str) -> str | None:
        reply = super().handle(line)
        if not self.echo:
            return reply
        return line if reply is None else f"{line}\r\n{reply}"

    def _each(self, arg: str, fn) -> str:
        return ",".join(fn(self.channels[i]) for i in self._channel_list(arg))

    def _each_index(self, arg: str, fn) -> str:
        return ",".join(fn(i) for i in self._channel_list(arg))

    def _module_or_each(self, arg: str, unit: str, fn) -> str:
        """A query that is per channel with a list and about the module (in %) without."""
        if "(@" in arg:
            return self._each(arg, fn)
        return _unit(100.0, unit, 3)

    @staticmethod
    def _value(arg: str) -> str:
        """The parameter before the channel list: ``"-50.5,(@0)"`` -> ``"-50.5"``."""
        return arg.split(",(@")[0].split("(@")[0].strip().rstrip(",").strip()

    def _number(self, arg: str, unit: str, channels=()) -> float:
        text = self._value(arg)
        if text.upper().endswith(unit.upper()):
            text = text[: -len(unit)]
        try:
            return float(text)
        except ValueError:
            raise _Refused(channels) from None

    # ------------------------------------------------------------------ commands
    def _clear_status(self, arg: str) -> None:
        """``*CLS``: clear the module and channel event status (and the input errors)."""
        self.module_input_error = False
        self.channel_input_error = [False] * len(self.channels)
        self.module_event = 0
        for i in range(len(self.channels)):
            self._clear_channel_events(i, 0xFFFFFFFF)

    def _reset(self, arg: str) -> None:
        """``*RST``: every channel off with ramp, Vset = 0, Iset = Inom."""
        t = self.now
        for ch in self.channels:
            ch.set_on(False, t)
            ch.set_voltage(0.0, t)
            ch.set_current_limit(ch.nominal_A, t)

    def _voltage(self, arg: str) -> None:
        """``:VOLT <V>|ON|OFF|EMCY OFF|EMCY CLR,(@list)``."""
        channels = self._channel_list(arg)
        value = self._value(arg).upper()
        if value.startswith("EMCY"):
            return self._emergency(value[4:].strip() + "," + arg[arg.index("(@") :])
        t = self.now
        if value in ("ON", "OFF"):
            blocked = [i for i in channels if value == "ON" and (self.channels[i].emergency_off or self.tripped[i])]
            for i in channels:
                if i not in blocked:
                    self.channels[i].set_on(value == "ON", t)
            if blocked:
                raise _Refused(blocked)
            return None
        volts = self._number(arg, "V", channels)
        # bipolar module: either sign, up to the nominal voltage
        refused = [i for i in channels if not abs(volts) <= self.channels[i].nominal_V]
        for i in channels:
            if i not in refused:
                self.channels[i].set_voltage(volts, t)
        if refused:
            raise _Refused(refused)
        return None

    def _current(self, arg: str) -> None:
        """``:CURR <A>,(@list)``: the current set value Iset, up to the nominal current."""
        channels = self._channel_list(arg)
        amps = self._number(arg, "A", channels)
        refused = [i for i in channels if not abs(amps) <= self.channels[i].nominal_A]
        for i in channels:
            if i not in refused:
                self.channels[i].set_current_limit(amps, self.now)
        if refused:
            raise _Refused(refused)

    def _set_bounds(self, arg: str, unit: str) -> None:
        channels = self._channel_list(arg)
        value = abs(self._number(arg, unit, channels))
        table = self.v_bounds if unit == "V" else self.i_bounds
        refused = []
        for i in channels:
            nominal = self.channels[i].nominal_V if unit == "V" else self.channels[i].nominal_A
            if value <= nominal:
                table[i] = value
            else:
                refused.append(i)
        if refused:
            raise _Refused(refused)

    def _emergency(self, arg: str) -> None:
        """``:VOLT:EMCY OFF|CLR,(@list)`` (also reached from ``:VOLT EMCY ...``)."""
        channels = self._channel_list(arg)
        action = self._value(arg).upper()
        t = self.now
        if action == "OFF":
            for i in channels:
                self.channels[i].trip(t)  # output to 0 V at once, no ramp
                self.channels[i].set_on(False, t)
        elif action in ("CLR", "CLEAR"):
            for i in channels:
                self.channels[i].clear_trip(t)  # the channel is then off
        else:
            raise _Refused(channels)

    def _word(self, arg: str, channels=()) -> int:
        try:
            value = int(float(self._value(arg)))
        except ValueError:
            raise _Refused(channels) from None
        if not 0 <= value <= 0xFFFF:
            raise _Refused(channels)
        return value

    def _clear_channel_events(self, index: int, word: int) -> None:
        """Clear event bits; one whose status condition still holds stays set."""
        self.event[index] &= ~word
        self.event[index] |= self.channel_status(index) & _LEVEL_EVENTS
        if word & CH_TRIP:
            self.tripped[index] = False
            self.event[index] &= ~CH_TRIP

    def _clear_events(self, arg: str) -> None:
        """``:EVENT CLEAR,(@list)`` or ``:EVENT <word>,(@list)`` (ones clear those bits)."""
        channels = self._channel_list(arg)
        text = self._value(arg).upper()
        word = 0xFFFFFFFF if text in ("CLEAR", "CLR") else self._word(arg, channels)
        for i in channels:
            self._clear_channel_events(i, word)

    def _set_event_mask(self, arg: str) -> None:
        channels = self._channel_list(arg)
        word = self._word(arg, channels)
        for i in channels:
            self.event_mask[i] = word

    def _set_channel_int(self, arg: str, table: list[int], low: int, high: int) -> None:
        channels = self._channel_list(arg)
        text = self._value(arg).upper().removesuffix("MS")
        try:
            value = int(text)
        except ValueError:
            raise _Refused(channels) from None
        if not low <= value <= high:
            raise _Refused(channels)
        for i in channels:
            table[i] = value

    def _set_polarity(self, arg: str) -> None:
        """``:CONF:OUTP:POL p|n,(@list)``: on this bipolar module the sign of Vset; only while off."""
        channels = self._channel_list(arg)
        pol = self._value(arg).lower()
        if pol not in ("p", "n") or any(self.channels[i].on for i in channels):
            raise _Refused(channels)
        for i in channels:
            ch = self.channels[i]
            ch.set_voltage(abs(ch.set_V) if pol == "p" else -abs(ch.set_V), self.now)

    def _set_module_int(self, arg: str, attr: str, allowed) -> None:
        if "(@" in arg:
            raise _Refused()
        try:
            value = int(self._value(arg))
        except ValueError:
            raise _Refused() from None
        if value not in allowed:
            raise _Refused()
        setattr(self, attr, value)

    def _set_module_flag(self, arg: str, attr: str) -> None:
        self._set_module_int(arg, attr, (0, 1))
        setattr(self, attr, bool(getattr(self, attr)))

    def _set_module_word(self, arg: str, attr: str) -> None:
        if "(@" in arg:
            raise _Refused()
        setattr(self, attr, self._word(arg))

    def _clear_module_events(self, arg: str) -> None:
        if "(@" in arg:
            raise _Refused()
        text = self._value(arg).upper()
        word = 0xFFFFFFFF if text in ("CLEAR", "CLR") else self._word(arg)
        self.module_event &= ~word

    def _percent(self, arg: str) -> float:
        if "(@" in arg:  # per-channel V/s ramps (EHS/NHR/SHR firmware) are not emulated
            raise _Refused()
        try:
            percent = float(self._value(arg).replace("%/s", "").replace("%", ""))
        except ValueError:
            raise _Refused() from None
        if not RAMP_PERCENT_MIN <= percent <= RAMP_PERCENT_MAX:
            raise _Refused()
        return percent

    def _set_ramp(self, arg: str) -> None:
        """``:CONF:RAMP:VOLT <%/s>``: module ramp speed, per cent of Vnom per second."""
        percent = self._percent(arg)
        self.ramp_percent = percent
        t = self.now
        for ch in self.channels:
            ch.set_ramp(percent / 100.0 * ch.nominal_V, t)

    def _set_current_ramp(self, arg: str) -> None:
        self.current_ramp_percent = self._percent(arg)

    def _read_voltage_ramp(self, arg: str) -> str:
        if "(@" in arg:
            return self._each(arg, lambda ch: _unit(ch.ramp_V_per_s, "V/s", 3))
        return _unit(self.ramp_percent, "%/s", 3)

    def _read_current_ramp(self, arg: str) -> str:
        if "(@" in arg:
            return self._each(arg, lambda ch: _unit(self.current_ramp_percent / 100 * ch.nominal_A, "A/s", 3))
        return _unit(self.current_ramp_percent, "%/s", 3)

    def _read_supply(self, arg: str) -> str:
        m = re.search(r"\(@(\d+)\)", arg)
        if m is None or int(m.group(1)) >= len(SUPPLY_INDEX_V):
            raise _Refused()
        return _unit(SUPPLY_INDEX_V[int(m.group(1))], "V")


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "iseg_hv"
EMULATOR = IsegHVEmulator
TRANSPORT = "visa"
#: one emulator per HV module of the world: it is told which one by name
TAKES_NAME = True
