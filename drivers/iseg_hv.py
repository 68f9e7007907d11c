"""iseg multi-channel high-voltage modules (EHS / EBS / EDS family) over iseg SCPI.

Every gun electrode, analyzer lens and cylinder and the channeltron sit on channels
of these modules.  The module (or the iCS crate controller in front of it) speaks
iseg's "SCPI protocol common instruction set" on a raw TCP socket, lines ending in
CR LF, channels numbered from 0 and addressed as a channel list ``(@n)``::

    :VOLT <V>,(@n)            set voltage Vset (signed on a bipolar module)
    :VOLT ON,(@n)             high voltage on: ramps to Vset at the ramp speed
    :VOLT OFF,(@n)            high voltage off: ramps down to 0 V
    :VOLT EMCY OFF,(@n)       emergency off: output shut down without ramp, stays
                              in emergency off until
    :VOLT EMCY CLR,(@n)       which returns the channel to "off"
    :READ:VOLT? (@n)          Vset,                 reply  1.00000E+02V
    :READ:VOLT:NOM? (@n)      nominal voltage,      reply  1.00000E+03V
    :MEAS:VOLT? (@n)          measured voltage,     reply -4.99998E+01V
    :MEAS:CURR? (@n)          measured current,     reply  2.50000E-05A
    :CONF:RAMP:VOLT <%>       module voltage ramp speed in percent of the nominal
    :CONF:RAMP:VOLT?          voltage per second,   reply  5.000E+00%/s
    :READ:CHAN:STAT? (@n)     Channel Status register, unsigned integer
    :READ:MOD:STAT?           Module Status register, unsigned integer
    :READ:MOD:CHAN?           number of channels
    *IDN?  *CLS  *RST  *OPC?

The module ramp speed is per cent of Vnom per second and applies to every channel
(EHS/EDS CAN documentation: Vnom/2500 s to Vnom/10 s, i.e. 0.04 to 10 %/s; faster is
ignored and flagged as input error).  EHS/NHR/SHR firmware also has per-channel ramps
in V/s (``:CONF:RAMP:VOLT[:UP|:DOWN] <V/s>,(@n)``); this driver does not use them:
it limits the rate itself, per electrode, by stepping the setpoint (:meth:`IsegHV.ramp_to`),
so the module ramp only has to be at least as fast as the fastest electrode.

**Errors.**  iseg modules keep no SCPI error queue (no ``SYST:ERR?``).  A setting the
module cannot accept (Vset beyond the nominal voltage, ramp speed out of range, ON
while in emergency off) is ignored and sets *Is Input Error* in the Channel Status
(bit 2), or in the Module Status (bit 6) for a module command or a channel outside
the module.  So every setting here is followed by a status read, and a refusal raises
:class:`~drivers.errors.DeviceError`.  An unknown query gets no answer (a timeout).

**Polarity.**  The simulated modules are the bipolar EBS variant: signed setpoints
are accepted and readbacks are signed.  A unipolar EHS module (``p`` or ``n``)
refuses a setpoint of the wrong sign with an input error; give its electrodes limits
of one sign.

Status bits are those of the manual's register tables (section 8, "Description of
control, status, event, and mask registers"); bits the manual marks reserved are not
decoded but kept in ``raw``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .base import Electrode, Option, SCPIInstrument, control, in_range, parse_float, parse_int, parse_register
from .errors import InstrumentError, LimitError

__all__ = [
    "CHANNEL_STATUS_BITS",
    "MODULE_STATUS_BITS",
    "ChannelStatus",
    "Electrode",
    "IsegHV",
    "ModuleStatus",
    "RampTimeout",
    "parse_unit_value",
]

#: module ramp speed accepted by the module (% of Vnom per second)
RAMP_PERCENT_MIN = 0.04
RAMP_PERCENT_MAX = 10.0


# ------------------------------------------------------------------ status registers
#: Channel Status (:READ:CHAN:STAT?): bit -> (field, manual's name)
CHANNEL_STATUS_BITS: dict[int, tuple[str, str]] = {
    0: ("is_positive", "Is Positive"),
    2: ("input_error", "Is Input Error"),
    3: ("is_on", "Is On"),
    4: ("is_ramping", "Is Voltage Ramp"),
    5: ("emergency_off", "Is Emergency Off"),
    6: ("constant_current", "Is Constant Current"),
    7: ("constant_voltage", "Is Constant Voltage"),
    8: ("low_current_range", "Is Low Current Range"),
    10: ("current_bounds_exceeded", "Is Current Bounds"),
    11: ("voltage_bounds_exceeded", "Is Voltage Bounds"),
    12: ("external_inhibit", "Is External Inhibit"),
    13: ("current_trip", "Is Current Trip"),
    14: ("current_limit_exceeded", "Is Current Limit"),
    15: ("voltage_limit_exceeded", "Is Voltage Limit"),
    # bits 16-22: NHR and SHR only, per the manual
    16: ("current_ramp", "Is Current Ramp"),
    17: ("current_ramp_up", "Is Current Ramp Up"),
    18: ("current_ramp_down", "Is Current Ramp Down"),
    19: ("voltage_ramp_up", "Is Voltage Ramp Up"),
    20: ("voltage_ramp_down", "Is Voltage Ramp Down"),
    21: ("voltage_bound_upper", "Is Voltage Bound Upper"),
    22: ("voltage_bound_lower", "Is Voltage Bound Lower"),
}

#: channel bits that mean the output is not doing what was asked (operator must act)
_CHANNEL_FAULTS = (
    "emergency_off",
    "current_trip",
    "external_inhibit",
    "current_limit_exceeded",
    "voltage_limit_exceeded",
    "current_bounds_exceeded",
    "voltage_bounds_exceeded",
)

#: Module Status (:READ:MOD:STAT?): bit -> (field, manual's name)
MODULE_STATUS_BITS: dict[int, tuple[str, str]] = {
    0: ("fine_adjustment", "Is Fine Adjustment"),
    3: ("high_voltage_on", "Is High Voltage On"),
    4: ("service", "Is Service"),
    5: ("hardware_voltage_limit_good", "Is Hardware Voltage Limit Good"),
    6: ("input_error", "Is Input Error"),
    8: ("no_sum_error", "Is No Sum Error"),
    9: ("no_ramp", "Is No Ramp"),
    10: ("safety_loop_good", "Is Safety Loop Good"),
    11: ("event_active", "Is Event Active"),
    12: ("module_good", "Is Module Good"),
    13: ("supply_good", "Is Supply Good"),
    14: ("temperature_good", "Is Temperature Good"),
    15: ("kill_enable", "Is Kill Enable"),
}


def _bits(raw: int, table: Mapping[int, tuple[str, str]]) -> dict[str, bool]:
    return {name: bool(raw >> bit & 1) for bit, (name, _) in table.items()}


@dataclass(frozen=True)
class ChannelStatus:
    """The decoded Channel Status register of one channel (``:READ:CHAN:STAT?``)."""

    raw: int
    is_positive: bool
    input_error: bool
    is_on: bool
    is_ramping: bool
    emergency_off: bool
    constant_current: bool
    constant_voltage: bool
    low_current_range: bool
    current_bounds_exceeded: bool
    voltage_bounds_exceeded: bool
    external_inhibit: bool
    current_trip: bool
    current_limit_exceeded: bool
    voltage_limit_exceeded: bool
    current_ramp: bool
    current_ramp_up: bool
    current_ramp_down: bool
    voltage_ramp_up: bool
    voltage_ramp_down: bool
    voltage_bound_upper: bool
    voltage_bound_lower: bool

    @classmethod
    def from_raw(cls, raw: int) -> ChannelStatus:
        return cls(raw=raw, **_bits(raw, CHANNEL_STATUS_BITS))

    @property
    def fault(self) -> str | None:
        """The manual's names of the fault bits set (``"Is Emergency Off, Is Current Trip"``), or None.

        Faults are the conditions that keep the output from following its setpoint
        until an operator acts.  *Is Input Error* is not among them: it marks a refused
        command and is reported by the command that caused it.
        """
        bits = CHANNEL_STATUS_BITS.values()
        names = [label for name, label in bits if name in _CHANNEL_FAULTS and getattr(self, name)]
        return ", ".join(names) or None

    def set_bits(self) -> list[str]:
        """The manual's names of every decoded bit that is set."""
        return [label for name, label in CHANNEL_STATUS_BITS.values() if getattr(self, name)]


@dataclass(frozen=True)
class ModuleStatus:
    """The decoded Module Status register (``:READ:MOD:STAT?``)."""

    raw: int
    fine_adjustment: bool
    high_voltage_on: bool
    service: bool
    hardware_voltage_limit_good: bool
    input_error: bool
    no_sum_error: bool
    no_ramp: bool
    safety_loop_good: bool
    event_active: bool
    module_good: bool
    supply_good: bool
    temperature_good: bool
    kill_enable: bool

    @classmethod
    def from_raw(cls, raw: int) -> ModuleStatus:
        return cls(raw=raw, **_bits(raw, MODULE_STATUS_BITS))

    @property
    def fault(self) -> str | None:
        """What is wrong with the module as a whole, or None."""
        problems = []
        if self.service:
            problems.append("Is Service (hardware failure)")
        if not self.safety_loop_good:
            problems.append("safety loop open")
        if not self.supply_good:
            problems.append("supply not good")
        if not self.temperature_good:
            problems.append("temperature not good")
        if not self.no_sum_error:
            problems.append("a channel has a fault (sum error)")
        if not self.module_good and not problems:
            problems.append("module not good")
        return ", ".join(problems) or None


class RampTimeout(InstrumentError):
    """Electrodes did not arrive at their targets in time (:meth:`IsegHV.ramp_to`).

    ``readbacks`` maps each late electrode to its last measured voltage, ``targets``
    to where it should be.
    """

    def __init__(self, message: str, *, readbacks: dict[str, float], targets: dict[str, float], **context) -> None:
        self.readbacks = readbacks
        self.targets = targets
        super().__init__(message, **context)


# ------------------------------------------------------------------ reply parsing
_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
#: the status and control registers are UI4 (manual section 8: Data-Type UI4)
REGISTER_BITS = 32
#: no module has more channels than this; a larger channel count is a garbled reply
MAX_CHANNELS = 256


def parse_unit_value(reply: str, unit: str) -> float:
    """``"1.23456E+03V"`` -> 1234.56; the unit suffix must be there (iseg always sends it).

    The number must be finite (``1e999V`` is no reading).
    """
    m = re.fullmatch(rf"[ \t]*({_NUMBER})[ \t]*{re.escape(unit)}[ \t]*", reply)
    if m is None:
        raise ValueError(f"expected a number followed by {unit!r}")
    return parse_float(m.group(1))


def _register(reply: str) -> int:
    """A status register: an unsigned decimal integer of 32 bits at most."""
    return parse_register(reply, REGISTER_BITS)


def _ramp_percent(reply: str) -> float:
    # the module takes only 0.04 to 10 %/s (faster is refused), so it cannot report more
    value = parse_unit_value(reply, "%/s")
    if not RAMP_PERCENT_MIN <= value <= RAMP_PERCENT_MAX:
        raise ValueError(f"ramp speed {value:g} %/s is outside {RAMP_PERCENT_MIN:g} to {RAMP_PERCENT_MAX:g} %/s")
    return value


def _vset_key(channel: int) -> tuple[str, int]:
    """Key of a channel's commanded Vset in the driver's memory of commanded values."""
    return ("Vset", channel)


def _volts(value: float) -> str:
    # millivolt resolution is beyond any module's; "+ 0.0" keeps "-0.000" off the wire
    return f"{round(float(value), 3) + 0.0:.3f}"


class IsegHV(SCPIInstrument):
    """One iseg EHS/EBS module; electrodes are addressed by name (or raw channel number)."""

    model = "iseg EHS/EBS"
    options = {
        "channels": Option("int", "number of channels of the module", ge=1, le=64),
        "max_voltage_V": Option("number", "refuse |set voltage| above this", gt=0),
    }
    write_termination = b"\r\n"
    read_termination = b"\r\n"
    default_timeout_s = 2.0

    ramp_speed_percent = control(
        ":CONF:RAMP:VOLT?",
        ":CONF:RAMP:VOLT %s",
        "Module voltage ramp speed, per cent of the nominal voltage per second: "
        "``:CONFigure:RAMP:VOLTage``; applies to every channel (0.04 to 10 %/s).",
        cast=_ramp_percent,
        validator=in_range(RAMP_PERCENT_MIN, RAMP_PERCENT_MAX),
        format_value=lambda value: f"{float(value):.3f}",
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
        electrodes: Mapping[str, Electrode] | None = None,
        channels: int = 8,
        max_voltage_V: float | None = None,
    ) -> None:
        # configuration first and checked here: the base constructor may already talk
        self.channels = int(channels)
        self.max_voltage_V = None if max_voltage_V is None else float(max_voltage_V)
        self.electrodes: dict[str, Electrode] = dict(electrodes or {})
        self._check_configuration(address)
        self._by_channel = {e.channel: n for n, e in self.electrodes.items()}
        super().__init__(
            address, visa_backend=visa_backend, timeout_s=timeout_s, clock=clock, transport=transport, name=name
        )

    def _check_configuration(self, address: str) -> None:
        where = f"{self.model} at {address}"
        if self.channels < 1:
            raise ValueError(f"{where}: channels = {self.channels} must be >= 1")
        seen: dict[int, str] = {}
        for name, e in self.electrodes.items():
            if not 0 <= e.channel < self.channels:
                raise ValueError(
                    f"{where}: electrode {name!r} on channel {e.channel}, the module has 0..{self.channels - 1}"
                )
            if e.channel in seen:
                raise ValueError(f"{where}: electrodes {seen[e.channel]!r} and {name!r} share channel {e.channel}")
            seen[e.channel] = name
            if not e.min_V <= e.max_V:
                raise ValueError(f"{where}: electrode {name!r} has min_V {e.min_V} > max_V {e.max_V}")
            if not (e.ramp_V_per_s > 0 and e.tolerance_V > 0):
                raise ValueError(f"{where}: electrode {name!r} needs ramp_V_per_s > 0 and tolerance_V > 0")

    # ---------------------------------------------------------------- addressing
    def _resolve(self, electrode: str | int) -> tuple[str, int, Electrode | None]:
        """(label, channel, limits) of an electrode name or raw channel; LimitError otherwise."""
        if isinstance(electrode, str):
            config = self.electrodes.get(electrode)
            if config is None:
                known = ", ".join(sorted(self.electrodes)) or "none configured"
                raise self.limit_error("electrode", electrode, f"one of {known}")
            return electrode, config.channel, config
        if isinstance(electrode, bool) or not isinstance(electrode, int):
            raise self.limit_error("electrode", electrode, "an electrode name or a channel number")
        if not 0 <= electrode < self.channels:
            raise self.limit_error("channel", electrode, f"0 to {self.channels - 1}")
        name = self._by_channel.get(electrode)
        return (name, electrode, self.electrodes[name]) if name else (f"channel {electrode}", electrode, None)

    def _limits(self, electrode: str | int) -> tuple[str, int, Electrode]:
        """Like :meth:`_resolve`, for commands that can raise a voltage: limits required."""
        label, channel, config = self._resolve(electrode)
        if config is None:
            raise self.limit_error(
                "electrode", electrode, "a channel with an Electrode configured (no limits known for this one)"
            )
        return label, channel, config

    def _check_voltage(self, label: str, config: Electrode, volts: float) -> float:
        volts = float(volts)
        if not math.isfinite(volts) or not config.min_V <= volts <= config.max_V:
            raise self.limit_error(f"{label} voltage", volts, f"{config.min_V:g} to {config.max_V:g} V")
        if self.max_voltage_V is not None and abs(volts) > self.max_voltage_V:
            raise self.limit_error(f"{label} voltage", volts, f"|V| <= {self.max_voltage_V:g} V (module max_voltage_V)")
        return volts

    # ---------------------------------------------------------------- status
    def channel_status(self, electrode: str | int) -> ChannelStatus:
        """The Channel Status register, decoded: ``:READ:CHANnel:STATus? (@n)``."""
        _, channel, _ = self._resolve(electrode)
        return self._channel_status(channel)

    def _channel_status(self, channel: int) -> ChannelStatus:
        return ChannelStatus.from_raw(self.ask_value(f":READ:CHAN:STAT? (@{channel})", _register))

    def module_status(self) -> ModuleStatus:
        """The Module Status register, decoded: ``:READ:MODule:STATus?``."""
        return ModuleStatus.from_raw(self.ask_value(":READ:MOD:STAT?", _register))

    def check_errors(self, after: str | None = None) -> None:
        """iseg has no error queue: a refused module command sets Module Status *Is Input Error*."""
        status = self.module_status()
        if status.input_error:
            raise self.device_error(
                after or ":READ:MOD:STAT?", str(status.raw), "module refused the command (Is Input Error)"
            )

    def next_error(self) -> tuple[int, str]:
        raise NotImplementedError("iseg modules keep no SCPI error queue; see check_errors() and the status registers")

    def _refused(self, command: str, status: ChannelStatus, label: str):
        return self.device_error(
            command, str(status.raw), f"{label}: module refused the command (Channel Status Is Input Error)"
        )

    def _write_checked(self, command: str, channel: int, label: str) -> ChannelStatus:
        """Send a channel setting, then read the channel status; a refusal raises DeviceError."""
        self.write(command)
        status = self._channel_status(channel)
        if status.input_error:
            raise self._refused(command, status, label)
        return status

    def _set_vset(self, label: str, channel: int, config: Electrode, volts: float) -> ChannelStatus:
        """The one way Vset is written: checked against the limits first, remembered once accepted.

        Every value sent, each step of a ramp included, goes through the same check
        as :meth:`set_voltage`; a refused or unconfirmed setting leaves the commanded
        value unknown (the next ramp then starts from the module's readback).
        """
        text = _volts(self._check_voltage(label, config, volts))
        self.forget_commanded(_vset_key(channel))
        status = self._write_checked(f":VOLT {text},(@{channel})", channel, label)
        self.remember_commanded(_vset_key(channel), float(text))
        return status

    def _checked_vset(self, label: str, channel: int, config: Electrode) -> float:
        """The module's Vset, checked against the limits and the value last commanded.

        Returns the value commanded (or, with nothing commanded yet, the readback):
        see :meth:`~drivers.base.Instrument.ramp_start`.
        """
        command = f":READ:VOLT? (@{channel})"
        reply, vset = self.ask_reply_value(command, lambda r: parse_unit_value(r, "V"))
        return self.ramp_start(
            _vset_key(channel), vset, command=command, reply=reply, tolerance=config.tolerance_V,
            check=lambda v: self._check_voltage(label, config, v), what=f"{label} Vset",
        )

    # ---------------------------------------------------------------- voltages
    def set_voltage(self, electrode: str | int, volts: float) -> None:
        """Set Vset at once (the module ramps at its own speed): ``:VOLTage <V>,(@n)``.

        Checked against the electrode's limits before sending; a setpoint the module
        refuses (beyond its nominal voltage) raises DeviceError.  For a rate-limited
        move use :meth:`ramp_to`.
        """
        label, channel, config = self._limits(electrode)
        self._set_vset(label, channel, config, volts)

    def voltage_setpoint(self, electrode: str | int) -> float:
        """Vset (V): ``:READ:VOLTage? (@n)``."""
        _, channel, _ = self._resolve(electrode)
        return self.ask_value(f":READ:VOLT? (@{channel})", lambda r: parse_unit_value(r, "V"))

    def nominal_voltage(self, electrode: str | int) -> float:
        """The channel's nominal voltage Vnom (V): ``:READ:VOLTage:NOMinal? (@n)``."""
        _, channel, _ = self._resolve(electrode)
        return self.ask_value(f":READ:VOLT:NOM? (@{channel})", lambda r: parse_unit_value(r, "V"))

    def measured_voltage(self, electrode: str | int) -> float:
        """Output voltage measured by the module (V): ``:MEASure:VOLTage? (@n)``."""
        _, channel, _ = self._resolve(electrode)
        return self._measured_voltage(channel)

    def _measured_voltage(self, channel: int) -> float:
        return self.ask_value(f":MEAS:VOLT? (@{channel})", lambda r: parse_unit_value(r, "V"))

    def measured_current(self, electrode: str | int) -> float:
        """Output current measured by the module (A): ``:MEASure:CURRent? (@n)``."""
        _, channel, _ = self._resolve(electrode)
        return self.ask_value(f":MEAS:CURR? (@{channel})", lambda r: parse_unit_value(r, "A"))

    # ---------------------------------------------------------------- switching
    def output(self, electrode: str | int, on: bool) -> None:
        """High voltage on (``:VOLTage ON,(@n)``) or off with ramp (``:VOLTage OFF,(@n)``).

        Switching on drives the output to the present Vset, so Vset is read first and
        must lie within the electrode's limits (it may have been set at the front
        panel: LimitError) and, if this driver set it, read back within ``tolerance_V``
        of the value it set (ReadbackError).  ON refused by the module (in emergency
        off) raises DeviceError.
        """
        if not on:
            label, channel, _ = self._resolve(electrode)
            self.write(f":VOLT OFF,(@{channel})")
            return
        label, channel, config = self._limits(electrode)
        command = f":READ:VOLT? (@{channel})"
        reply, vset = self.ask_reply_value(command, lambda r: parse_unit_value(r, "V"))
        self._check_voltage(f"{label} present setpoint", config, vset)
        self.ramp_start(
            _vset_key(channel), vset, command=command, reply=reply, tolerance=config.tolerance_V,
            check=lambda v: v, what=f"{label} Vset",
        )
        self._write_checked(f":VOLT ON,(@{channel})", channel, label)

    def emergency_off(self, electrode: str | int, *, confirm: bool = True) -> None:
        """Shut the output down at once, without ramp: ``:VOLTage EMCY OFF,(@n)``.

        For interlocks (the channeltron first).  The write goes out before anything
        else; with ``confirm`` (the default) the channel status is then read back, so
        the call returns only once the module has acted (a bare write returns while
        the command may still be in flight) and raises :class:`DeviceError` if the
        channel is not in emergency off.  The channel stays there until
        :meth:`clear_emergency`.
        """
        label, channel, _ = self._resolve(electrode)
        self.write(f":VOLT EMCY OFF,(@{channel})")
        if confirm:
            status = self._channel_status(channel)
            if not status.emergency_off:
                raise self.device_error(
                    f":VOLT EMCY OFF,(@{channel})", str(status.raw),
                    f"{label} (channel {channel}) is not in emergency off after the command: {status.set_bits()}",
                )

    def clear_emergency(self, electrode: str | int) -> None:
        """Leave emergency off (``:VOLTage EMCY CLR,(@n)``); the channel is then off."""
        label, channel, _ = self._resolve(electrode)
        self._write_checked(f":VOLT EMCY CLR,(@{channel})", channel, label)

    # ---------------------------------------------------------------- ramps
    def ramp_to(
        self,
        targets: Mapping[str | int, float],
        *,
        step_interval_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> None:
        """Bring electrodes to ``targets`` together, each no faster than its ``ramp_V_per_s``.

        1. Every target is checked against its electrode's limits before anything is
           sent (one bad target refuses the whole move).
        2. Each channel's status is read: a fault raises DeviceError.  A channel that
           is on starts from the Vset this driver last commanded; the module's Vset is
           read and must lie within the limits and within ``tolerance_V`` of that value
           (with nothing commanded yet, the readback within the limits is the start).
           A readback that fails either raises :class:`~drivers.errors.ReadbackError`
           before anything is sent: a late or garbled reply is never a starting point.
           A channel that is off gets Vset = its present output voltage (within the
           limits; a few mV of noise within ``tolerance_V`` outside them is taken as
           the limit) and is switched on, so the turn-on is rate-limited like the rest
           of the move.
        3. The setpoints step toward the targets, each by at most
           ``ramp_V_per_s * step_interval_s`` per step, all electrodes in the same step,
           with ``clock.sleep(step_interval_s)`` after each step.  Every step value is
           checked against the limits before it is sent, like a target.  Every setting
           is followed by a status read: a refusal or a fault raises DeviceError naming
           the electrode (the other electrodes stay where they are).
        4. The measured voltages are polled every ``step_interval_s`` until each is
           within its ``tolerance_V`` of the target; after ``timeout_s`` (default: the
           stepping time, at least 30 s) :class:`RampTimeout` names the late electrodes
           and their readbacks.

        With a module ramp at least as fast as every electrode's, the whole move takes
        ``ceil(max |delta| / (ramp_V_per_s * step_interval_s)) * step_interval_s``.
        """
        if not step_interval_s > 0:
            raise self.limit_error("step_interval_s", step_interval_s, "> 0")
        if timeout_s is not None and not timeout_s >= 0:
            raise self.limit_error("timeout_s", timeout_s, ">= 0")
        plan: dict[str, tuple[int, Electrode, float]] = {}
        for electrode, volts in targets.items():
            label, channel, config = self._limits(electrode)
            if label in plan:
                raise self.limit_error("electrode", electrode, f"each electrode once ({label} is given twice)")
            plan[label] = (channel, config, self._check_voltage(label, config, volts))
        if not plan:
            return
        starts = {label: self._prepare(label, channel, config) for label, (channel, config, _) in plan.items()}
        steps = {
            label: math.ceil(round(abs(target - starts[label]) / (config.ramp_V_per_s * step_interval_s), 9))
            for label, (_, config, target) in plan.items()
        }
        n_steps = max(steps.values())
        for k in range(1, n_steps + 1):
            for label, (channel, config, target) in plan.items():
                if k <= steps[label]:
                    value = self._step_value(starts[label], target, config.ramp_V_per_s * step_interval_s * k)
                    status = self._set_vset(label, channel, config, value)
                else:
                    status = self._channel_status(channel)
                self._raise_on_fault(label, channel, status)
            self.clock.sleep(step_interval_s)
        if timeout_s is None:
            timeout_s = max(30.0, n_steps * step_interval_s)
        self._wait_arrival(plan, step_interval_s, timeout_s)

    @staticmethod
    def _step_value(start: float, target: float, travel: float) -> float:
        if travel >= abs(target - start):
            return target
        return start + math.copysign(travel, target - start)

    def _prepare(self, label: str, channel: int, config: Electrode) -> float:
        """Fault check; switch an off channel on at its present voltage.  Returns the start."""
        status = self._channel_status(channel)
        self._raise_on_fault(label, channel, status)
        if status.is_on:
            return self._checked_vset(label, channel, config)
        command = f":MEAS:VOLT? (@{channel})"
        reply, measured = self.ask_reply_value(command, lambda r: parse_unit_value(r, "V"))
        start = round(measured, 3)
        # an output that is off reads a few mV around 0 V, which may lie just outside an
        # electrode range of one sign (a cathode at -310..0 V): taken as the range's end
        if config.min_V - config.tolerance_V <= start < config.min_V:
            start = config.min_V
        elif config.max_V < start <= config.max_V + config.tolerance_V:
            start = config.max_V
        try:
            self._check_voltage(label, config, start)
        except LimitError as exc:
            raise self.readback_error(
                command, reply, f"{label} is off and reads {measured:g} V, outside the limits "
                f"({exc.message.split('allowed ', 1)[-1]}): not a starting point", measured, None,
            ) from None
        self._set_vset(label, channel, config, start)
        self._write_checked(f":VOLT ON,(@{channel})", channel, label)
        return start

    def _raise_on_fault(self, label: str, channel: int, status: ChannelStatus) -> None:
        fault = status.fault
        if fault:
            raise self.device_error(
                f":READ:CHAN:STAT? (@{channel})", str(status.raw), f"{label} (channel {channel}) has a fault: {fault}"
            )

    def _wait_arrival(self, plan: dict[str, tuple[int, Electrode, float]], poll_s: float, timeout_s: float) -> None:
        deadline = self.clock.now() + timeout_s
        pending = dict(plan)
        readbacks: dict[str, float] = {}
        while True:
            for label, (channel, config, target) in list(pending.items()):
                self._raise_on_fault(label, channel, self._channel_status(channel))
                readbacks[label] = self._measured_voltage(channel)
                if abs(readbacks[label] - target) <= config.tolerance_V:
                    del pending[label]
            if not pending:
                return
            if self.clock.now() >= deadline:
                late = {label: readbacks[label] for label in pending}
                text = ", ".join(f"{label} at {v:g} V (target {pending[label][2]:g} V)" for label, v in late.items())
                raise RampTimeout(
                    f"not arrived within {timeout_s:g} s: {text}",
                    readbacks=late,
                    targets={label: pending[label][2] for label in pending},
                    instrument=self.name,
                    address=self.address,
                )
            self.clock.sleep(poll_s)

    # ---------------------------------------------------------------- snapshot
    def module_channels(self) -> int:
        """Number of channels the module reports: ``:READ:MODule:CHANnelnumber?``."""
        return self.ask_value(":READ:MOD:CHAN?", lambda r: parse_int(r, 1, MAX_CHANNELS))

    def settings(self) -> dict[str, Any]:
        """Module ramp speed and, per configured electrode, Vset, on/off and status."""
        electrodes = {}
        for name, config in sorted(self.electrodes.items(), key=lambda item: item[1].channel):
            status = self._channel_status(config.channel)
            electrodes[name] = {
                "channel": config.channel,
                "setpoint_V": self.voltage_setpoint(name),
                "on": status.is_on,
                "status_raw": status.raw,
                "min_V": config.min_V,
                "max_V": config.max_V,
                "ramp_V_per_s": config.ramp_V_per_s,
                "tolerance_V": config.tolerance_V,
            }
        return {"ramp_speed_percent": self.ramp_speed_percent, "channels": self.channels, "electrodes": electrodes}

    def probe(self) -> dict[str, Any]:
        """Cable check, switching nothing: identity, channel count, module status, and
        channel 0's measured voltage and current (one reading)."""
        identity = self.identity()
        channels = self.module_channels()
        status = self.module_status()
        return {
            "channel_0_voltage_V": self.measured_voltage(0),
            "channel_0_current_A": self.measured_current(0),
            "model": self.model,
            "address": self.address,
            "identity": identity,
            "channels": channels,
            "module_status": status.raw,
            "module_fault": status.fault,
        }


# the dataclasses list every bit of the tables; keep them in step
assert {f.name for f in fields(ChannelStatus)} == {"raw", *(n for n, _ in CHANNEL_STATUS_BITS.values())}
assert {f.name for f in fields(ModuleStatus)} == {"raw", *(n for n, _ in MODULE_STATUS_BITS.values())}


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = IsegHV
