"""Byte-level emulator of an iseg EBS (bipolar) multi-channel high-voltage module.

One emulator per module of :data:`simulators.world.HV_MODULES`; its channels are the
world's :class:`~simulators.world.HVChannel` objects, so the voltages it reports are
the ones the beam and the analyzer see.  The dialect is iseg's "SCPI protocol common
instruction set" as the module (behind an iCS controller) speaks it on a raw socket:
lines end in CR LF, there is no echo, set commands get no reply, queries answer with
a unit suffix (``-5.00000E+01V``, ``2.50000E-05A``, ``5.000E+00%/s``) and a channel
list ``(@0,2)`` / ``(@0-3)`` gets comma-separated answers.

Errors are reported the iseg way, not through an error queue: a setting the module
cannot accept is ignored and sets *Is Input Error* (Channel Status bit 2 for a channel
setting, Module Status bit 6 for a module command, an unknown command or a channel
outside the module); the flag stays until the next accepted setting of the same scope
or ``*CLS``.  Unknown queries are not answered.  Refused: ``|Vset| > Vnom`` (this
bipolar module takes either sign; a unipolar one would also refuse the wrong sign),
module ramp speed outside 0.04-10 %/s, ``:VOLT ON`` while in emergency off.

Status bits come from the world's channel state at the clock's ``now()``: *Is On*,
*Is Voltage Ramp* while the output moves, *Is Emergency Off*, *Is Constant Voltage*
when on and settled, *Is Constant Current* when the load draws the current limit.
Bits 16-22 (NHR/SHR only) stay clear, as on an EBS.
"""

from __future__ import annotations

import re

from simulators.server import CommandEmulator
from simulators.world import HV_MODULES, HVChannel

__all__ = ["IsegHVEmulator", "model_name"]

RAMP_PERCENT_MIN = 0.04
RAMP_PERCENT_MAX = 10.0

#: iseg's channel-count digits in the model name (F0 = 16 channels)
_CHANNEL_CODES = {1: "10", 2: "20", 4: "40", 6: "60", 8: "80", 12: "C0", 16: "F0"}


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

    def __init__(self, world, module: str) -> None:
        super().__init__(world)
        if module not in HV_MODULES:
            raise ValueError(f"unknown HV module {module!r}: one of {', '.join(HV_MODULES)}")
        self.module = module
        n, nominal_V, _ = HV_MODULES[module]
        self.model = f"iseg {model_name(n, nominal_V)}"
        serial = 520001 + list(HV_MODULES).index(module)
        self.idn = f"iseg Spezialelektronik GmbH,{model_name(n, nominal_V)},{serial},5.26"
        self.channel_input_error = [False] * n
        self.module_input_error = False
        first: HVChannel = self.channels[0]
        self.ramp_percent = 100.0 * first.ramp_V_per_s / first.nominal_V
        for header, handler in [
            ("*IDN?", lambda arg: self.idn),
            ("*CLS", self._clear_status),
            ("*RST", self._reset),
            ("*OPC?", lambda arg: "1"),
            ("VOLTage:EMCY", self._emergency),
            ("VOLTage", self._voltage),
            ("READ:VOLTage:NOMinal?", lambda arg: self._each(arg, lambda ch: _unit(ch.nominal_V, "V"))),
            ("READ:VOLTage?", lambda arg: self._each(arg, lambda ch: _unit(ch.set_V, "V"))),
            ("MEASure:VOLTage?", lambda arg: self._each(arg, lambda ch: _unit(ch.voltage(self.now), "V"))),
            ("MEASure:CURRent?", lambda arg: self._each(arg, lambda ch: _unit(ch.current(self.now), "A"))),
            ("READ:CHANnel:STATus?", lambda arg: self._each_index(arg, lambda i: str(self.channel_status(i)))),
            ("READ:MODule:STATus?", lambda arg: str(self.module_status())),
            ("READ:MODule:CHANnelnumber?", lambda arg: str(len(self.channels))),
            ("CONFigure:RAMP:VOLTage?", lambda arg: _unit(self.ramp_percent, "%/s", 3)),
            ("READ:RAMP:VOLTage?", lambda arg: _unit(self.ramp_percent, "%/s", 3)),
            ("CONFigure:RAMP:VOLTage", self._set_ramp),
        ]:
            self.command(header, handler)

    # ------------------------------------------------------------------ world
    @property
    def channels(self) -> list[HVChannel]:
        return self.world.hv[self.module]

    @property
    def now(self) -> float:
        return self.world.clock.now()

    def channel_status(self, index: int) -> int:
        """Channel Status register of channel ``index`` from the world's state."""
        ch, t = self.channels[index], self.now
        on = ch.on and not ch.emergency_off
        ramping = ch.is_ramping(t)
        constant_current = on and abs(ch.current(t)) >= ch.current_limit_A
        bits = {
            2: self.channel_input_error[index],
            3: on,
            4: ramping,
            5: ch.emergency_off,
            6: constant_current,
            7: on and not ramping and not constant_current,
        }
        return sum(1 << bit for bit, value in bits.items() if value)

    def module_status(self) -> int:
        """Module Status register: the channels' summary plus the module's own flags."""
        t = self.now
        sum_error = any(self.channel_status(i) & 0xFC00 for i in range(len(self.channels)))
        bits = {
            0: True,  # fine adjustment on (factory default)
            3: any((ch.on and not ch.emergency_off) or abs(ch.voltage(t)) > 60.0 for ch in self.channels),
            6: self.module_input_error,
            8: not sum_error,
            9: not any(ch.is_ramping(t) for ch in self.channels),
            10: True,  # safety loop closed
            12: not sum_error,
            13: True,  # supplies good
            14: True,  # temperature good
        }
        return sum(1 << bit for bit, value in bits.items() if value)

    # ------------------------------------------------------------------ parsing
    # iseg has no error queue: a refused or unknown command sets Is Input Error
    def refused(self, header: str, arg: str, exc: Exception) -> None:
        for i in exc.channels:
            self.channel_input_error[i] = True
        if not exc.channels:
            self.module_input_error = True

    def accepted(self, header: str, arg: str) -> None:
        if not header.endswith("?"):
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

    def _each(self, arg: str, fn) -> str:
        return ",".join(fn(self.channels[i]) for i in self._channel_list(arg))

    def _each_index(self, arg: str, fn) -> str:
        return ",".join(fn(i) for i in self._channel_list(arg))

    @staticmethod
    def _value(arg: str) -> str:
        """The parameter before the channel list: ``"-50.5,(@0)"`` -> ``"-50.5"``."""
        return arg.split(",(@")[0].split("(@")[0].strip().rstrip(",").strip()

    # ------------------------------------------------------------------ commands
    def _clear_status(self, arg: str) -> None:
        """``*CLS``: clear the module and channel event status (and the input errors)."""
        self.module_input_error = False
        self.channel_input_error = [False] * len(self.channels)

    def _reset(self, arg: str) -> None:
        """``*RST``: every channel off with ramp, Vset = 0."""
        t = self.now
        for ch in self.channels:
            ch.set_on(False, t)
            ch.set_voltage(0.0, t)

    def _voltage(self, arg: str) -> None:
        """``:VOLT <V>|ON|OFF|EMCY OFF|EMCY CLR,(@list)``."""
        channels = self._channel_list(arg)
        value = self._value(arg).upper()
        if value.startswith("EMCY"):
            return self._emergency(value[4:].strip() + "," + arg[arg.index("(@") :])
        t = self.now
        if value in ("ON", "OFF"):
            refused = [i for i in channels if value == "ON" and self.channels[i].emergency_off]
            for i in channels:
                if i not in refused:
                    self.channels[i].set_on(value == "ON", t)
            if refused:
                raise _Refused(refused)
            return None
        try:
            volts = float(value.rstrip("V"))
        except ValueError:
            raise _Refused(channels) from None
        # bipolar module: either sign, up to the nominal voltage
        refused = [i for i in channels if not abs(volts) <= self.channels[i].nominal_V]
        for i in channels:
            if i not in refused:
                self.channels[i].set_voltage(volts, t)
        if refused:
            raise _Refused(refused)
        return None

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

    def _set_ramp(self, arg: str) -> None:
        """``:CONF:RAMP:VOLT <%/s>``: module ramp speed, per cent of Vnom per second."""
        if "(@" in arg:  # per-channel V/s ramps (EHS/NHR/SHR firmware) are not emulated
            raise _Refused()
        try:
            percent = float(self._value(arg).replace("%/s", "").replace("%", ""))
        except ValueError:
            raise _Refused() from None
        if not RAMP_PERCENT_MIN <= percent <= RAMP_PERCENT_MAX:
            raise _Refused()
        self.ramp_percent = percent
        t = self.now
        for ch in self.channels:
            ch.set_ramp(percent / 100.0 * ch.nominal_V, t)
