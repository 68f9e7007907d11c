"""Keysight (Agilent) E36xx single-output DC supply heating the electron-gun filament.

Commands are those of the E3633A/E3634A user's guide, chapter 4 "Remote Interface
Reference" (the E36100 and E36300 series accept the same subset)::

    CURRent <A>            CURRent?          current setpoint (the filament runs in CC)
    VOLTage <V>            VOLTage?          voltage setpoint (the compliance limit in CC)
    VOLTage:RANGe P8V|P20V VOLTage:RANGe?    output range (E3634A: P25V|P50V)
    OUTPut ON|OFF          OUTPut?           output state, replies 0 or 1
    MEASure:CURRent?       MEASure:VOLTage?  output readback
    SYSTem:ERRor?          *IDN?  *CLS  *RST

A setting outside the present range is refused by the supply with ``-222,"Data out
of range"``; this driver refuses anything beyond the installation's limits
(``max_current_A``, ``max_voltage_V``) before sending, and reads the error queue after
every setting so that a refused setting raises :class:`DeviceError` at once.

A cold tungsten filament has a fraction of its hot resistance: a current step drives
an inrush that shortens its life.  :meth:`KeysightE36xx.ramp_current_to` changes the
current in small steps with a pause between them.

Readbacks are checked against what the model can hold: a setpoint between 0 and the
programmable maximum over its ranges (E3633A 20.6 A and 20.6 V, each range 3 % beyond
its rating), a measurement within 5 % beyond that (either sign: the readback of an
idle output scatters around 0); anything else is a garbled reply.
"""

from __future__ import annotations

import math
from typing import Any

from .base import Option, SCPIInstrument, control, in_range_attr, measurement, parse_in_range_attr

__all__ = ["KeysightE36xx", "KeysightE3633A", "KeysightE3634A", "parse_output_state"]


def parse_output_state(reply: str) -> bool:
    """``OUTP?`` answers ``0`` or ``1``."""
    text = reply.strip()
    if text in ("1", "+1", "ON"):
        return True
    if text in ("0", "+0", "OFF"):
        return False
    raise ValueError(f"output state {reply!r} is neither 0 nor 1")


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


def _boolean(inst: SCPIInstrument, value: Any, what: str) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise inst.limit_error(what, value, "True or False")
    return bool(value)


def _known_range(inst: "KeysightE36xx", value: Any, what: str) -> str:
    text = str(value).upper()
    if text not in inst.voltage_ranges:
        raise inst.limit_error(what, value, "one of " + ", ".join(inst.voltage_ranges))
    return text


class KeysightE36xx(SCPIInstrument):
    """E3633A-style single-output supply (8 V / 20 A and 20 V / 10 A ranges)."""

    model = "Keysight E36xx"
    options = {
        "max_current_A": Option("number", "refuse current settings above this", gt=0),
        "max_voltage_V": Option("number", "refuse voltage settings above this", gt=0),
    }
    write_termination = b"\n"
    read_termination = b"\n"
    default_timeout_s = 2.0
    #: names accepted by ``VOLTage:RANGe`` on this model
    voltage_ranges: tuple[str, ...] = ("P8V", "P20V")
    #: programmable maximum over the ranges (each range takes 3 % beyond its rating)
    rated_current_A = 20.6
    rated_voltage_V = 20.6
    #: a CURR? readback within this of the value sent is the value sent: it goes out with
    #: 0.1 mA resolution and the supply's own programming resolution is coarser
    setpoint_tolerance_A = 2e-3

    current = control(
        "CURR?",
        "CURR %.4f",
        "Output current setpoint (A): ``CURRent``; the filament supply regulates this.",
        cast=parse_in_range_attr(0.0, "rated_current_A"),
        validator=in_range_attr("min_current_A", "max_current_A"),
        check_errors=True,
    )
    voltage = control(
        "VOLT?",
        "VOLT %.4f",
        "Output voltage setpoint (V): ``VOLTage``; in CC it is the compliance limit.",
        cast=parse_in_range_attr(0.0, "rated_voltage_V"),
        validator=in_range_attr("min_voltage_V", "max_voltage_V"),
        check_errors=True,
    )
    output = control(
        "OUTP?",
        "OUTP %s",
        "Output enabled (bool): ``OUTPut ON|OFF``; the query answers 0 or 1.",
        cast=parse_output_state,
        validator=_boolean,
        format_value=_on_off,
        check_errors=True,
    )
    _voltage_range = control(
        "VOLT:RANG?",
        "VOLT:RANG %s",
        "Output range (``P8V`` or ``P20V`` on the E3633A): ``VOLTage:RANGe``.",
        cast=str,
        validator=_known_range,
        check_errors=True,
    )
    measured_current = measurement(
        "MEAS:CURR?",
        "Output current measured by the supply (A): ``MEASure:CURRent?``.",
        cast=parse_in_range_attr(lambda psu: -1.05 * psu.rated_current_A, lambda psu: 1.05 * psu.rated_current_A),
    )
    measured_voltage = measurement(
        "MEAS:VOLT?",
        "Output voltage measured by the supply (V): ``MEASure:VOLTage?``.",
        cast=parse_in_range_attr(lambda psu: -1.05 * psu.rated_voltage_V, lambda psu: 1.05 * psu.rated_voltage_V),
    )

    @property
    def voltage_range(self) -> str:
        """Output range (``P8V`` or ``P20V`` on the E3633A): ``VOLTage:RANGe``; a name the
        model does not have is a garbled reply."""
        reply = self._voltage_range
        if reply.strip().upper() not in self.voltage_ranges:
            raise self.garbled("VOLT:RANG?", reply, "not one of " + ", ".join(self.voltage_ranges))
        return reply.strip().upper()

    @voltage_range.setter
    def voltage_range(self, value: str) -> None:
        self._voltage_range = _known_range(self, value, "voltage_range")

    def __init__(
        self,
        address: str,
        *,
        visa_backend: str = "@py",
        timeout_s: float | None = None,
        clock=None,
        transport=None,
        name: str | None = None,
        max_current_A: float = 3.0,
        max_voltage_V: float = 8.0,
    ) -> None:
        # limits first: the base constructor may already talk to the device (on_connect)
        self.min_current_A = 0.0
        self.max_current_A = float(max_current_A)
        self.min_voltage_V = 0.0
        self.max_voltage_V = float(max_voltage_V)
        super().__init__(
            address, visa_backend=visa_backend, timeout_s=timeout_s, clock=clock, transport=transport, name=name
        )

    # ------------------------------------------------------------------ ramps
    def ramp_current_to(self, target_A: float, *, step_A: float = 0.05, step_delay_s: float = 1.0) -> float:
        """Bring the filament current to ``target_A`` in steps of at most ``step_A``.

        Where the ramp starts:

        * with the output on and a current commanded by this driver before, from that
          value; the supply's setpoint (``CURR?``) must read back within
          ``setpoint_tolerance_A`` of it and within the limits, else
          :class:`~drivers.errors.ReadbackError` and nothing is sent;
        * with the output on and nothing commanded yet (the first ramp after xbeam
          started), from the current the filament actually carries (``MEAS:CURR?``; not
          the setpoint, which after ``*RST`` is the range's full 20 A), which must lie
          within the limits (else ReadbackError);
        * with the output off, from 0 A: the setpoint is first set to 0 and the output
          turned on (unless the target is 0), so the filament never sees the whole step
          when the output comes on.

        Each step is checked against the limits like the target, set (error queue
        checked), read back, and followed by ``step_delay_s`` on the driver's clock
        before the next one, so the filament temperature follows.  No wait after the
        last step: warming up at the final current is the caller's decision.  The
        voltage setting is the compliance and stays as it is.

        The target is checked against the limits before anything is sent.  Returns
        the final setpoint as read back.
        """
        self._check_current(target_A)
        if not step_A > 0:
            raise self.limit_error("step_A", step_A, "> 0")
        if step_delay_s < 0:
            raise self.limit_error("step_delay_s", step_delay_s, ">= 0")
        start = self._ramp_start(switch_on=target_A > 0)
        # at least one step, so the setpoint ends at the target even when no current changes
        steps = max(1, math.ceil(round(abs(target_A - start) / step_A, 9)))
        value = start
        for i in range(1, steps + 1):
            # the last step is the target itself: start + (target - start) * n / n can
            # round to just below a target of 0 A, which the limits refuse
            setpoint = target_A if i == steps else start + (target_A - start) * i / steps
            self._set_current_step(setpoint)
            value = self._read_back_current(setpoint)
            if i < steps:
                self.clock.sleep(step_delay_s)
        return value

    def _check_current(self, value: float) -> float:
        """The ``current`` setting's own validator: every value sent goes through it."""
        return type(self).current.validator(self, value, "current")

    def _ramp_start(self, switch_on: bool) -> float:
        """Where a ramp starts (see :meth:`ramp_current_to`); with the output off, make it 0 A and on."""
        if self.output:
            if self.commanded("current") is not None:
                reply, value = self.ask_reply_value("CURR?", lambda r: type(self).current.cast(self, r))
                command, tolerance = "CURR?", self.setpoint_tolerance_A
            else:
                reply, value = self.ask_reply_value("MEAS:CURR?", lambda r: type(self).measured_current.cast(self, r))
                command, tolerance, value = "MEAS:CURR?", 0.0, max(0.0, value)
            return self.ramp_start(
                "current", value, command=command, reply=reply, check=self._check_current, tolerance=tolerance,
                what="filament current" if command == "MEAS:CURR?" else "current setpoint",
            )
        self._set_current_step(0.0)
        self._read_back_current(0.0)
        if switch_on:
            self.log.info("%s: output was off; switched on at 0 A to ramp the filament", self.name)
            self.output = True
        return 0.0

    def _set_current_step(self, setpoint_A: float) -> None:
        # Through the ``current`` validator like any setting: no value outside the
        # limits is ever sent, whatever the start was read as.
        setpoint_A = self._check_current(setpoint_A)
        command = type(self).current.set_command % setpoint_A
        self.forget_commanded("current")  # unknown until the supply has taken it
        self.write(command)
        self.check_errors(after=command)
        self.remember_commanded("current", float(f"{setpoint_A:.4f}"))

    def _read_back_current(self, expected_A: float) -> float:
        value = self.current
        # the setpoint is sent with 0.1 mA resolution; the supply's own is coarser still
        if abs(value - expected_A) > self.setpoint_tolerance_A:
            raise self.device_error(
                "CURR?", f"{value!r}", f"current setpoint reads back {value:g} A, expected {expected_A:g} A"
            )
        return value

    # --------------------------------------------------------------- snapshot
    def settings(self) -> dict[str, Any]:
        return {
            "current_setpoint_A": self.current,
            "voltage_setpoint_V": self.voltage,
            "voltage_range": self.voltage_range,
            "output": self.output,
            "max_current_A": self.max_current_A,
            "max_voltage_V": self.max_voltage_V,
        }

    def probe(self) -> dict[str, Any]:
        """Identity and the measured output: a quick "is it there and alive"."""
        return {
            "identity": self.identity(),
            "measured_current_A": self.measured_current,
            "measured_voltage_V": self.measured_voltage,
        }


class KeysightE3633A(KeysightE36xx):
    model = "Keysight E3633A"


class KeysightE3634A(KeysightE36xx):
    """25 V / 7 A and 50 V / 4 A ranges."""

    model = "Keysight E3634A"
    voltage_ranges = ("P25V", "P50V")
    rated_current_A = 7.21
    rated_voltage_V = 51.5


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = KeysightE36xx
