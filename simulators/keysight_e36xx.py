"""Byte-level emulator of a Keysight/Agilent E3633A supply heating the gun filament.

Speaks the SCPI subset of the E3633A/E3634A user's guide (chapter 4) and drives the
world's filament: every setting goes to ``world.set_filament``; ``MEASure`` reads
``world.filament_current_A()`` / ``world.filament_voltage_V()``.  The world does the
physics (CC operation with the voltage setting as compliance, the filament's thermal
lag).

Ranges as on the E3633A: ``P8V`` (8 V / 20 A) and ``P20V`` (20 V / 10 A), each
programmable 3 % beyond its rating as the real supply is; a value outside the range
queues ``-222,"Data out of range"`` and leaves the setting alone, a range change clips
the setpoints to the new range.  Unknown headers queue ``-113,"Undefined header"``.
``*RST``: output off, 0 V, the range's full current, ``P8V``.
"""

from __future__ import annotations

from .server import ScpiEmulator, ScpiError

__all__ = ["E36xxEmulator", "RANGES"]

#: range name -> (programmable maximum voltage V, programmable maximum current A)
RANGES: dict[str, tuple[float, float]] = {"P8V": (8.24, 20.6), "P20V": (20.6, 10.3)}
_RANGE_ALIASES = {"LOW": "P8V", "HIGH": "P20V"}


def _reply(value: float) -> str:
    """Numeric replies look like ``+2.20000000E+00``."""
    return f"{value:+.8E}"


class E36xxEmulator(ScpiEmulator):
    """One E3633A output wired to ``world``'s filament."""

    model = "Keysight E3633A"
    idn = "Agilent Technologies,E3633A,0,2.1-5.0-1.0"

    def __init__(self, world) -> None:
        super().__init__(world)
        self.command("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current)
        self.command("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?", self._query_current)
        self.command("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_voltage)
        self.command("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self._query_voltage)
        self.command("[SOURce:]VOLTage:RANGe", self._set_range)
        self.command("[SOURce:]VOLTage:RANGe?", lambda arg: self.range)
        self.command("OUTPut[:STATe]", self._set_output)
        self.command("OUTPut[:STATe]?", lambda arg: "1" if self.output else "0")
        self.command("MEASure[:SCALar]:CURRent[:DC]?", lambda arg: _reply(self.world.filament_current_A()))
        self.command("MEASure[:SCALar][:VOLTage][:DC]?", lambda arg: _reply(self.world.filament_voltage_V()))
        # RS-232 remote/local switching: accepted, nothing to do on a socket
        self.command("SYSTem:REMote", lambda arg: None)
        self.command("SYSTem:LOCal", lambda arg: None)
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        self.range = "P8V"
        self.voltage_V = 0.0
        self.current_A = RANGES[self.range][1]
        self.output = False
        self._apply()

    def _apply(self) -> None:
        self.world.set_filament(current_A=self.current_A, voltage_V=self.voltage_V, output=self.output)

    def _limits(self) -> tuple[float, float]:
        return RANGES[self.range]

    def _level(self, arg: str, maximum: float) -> float:
        """``<value>|MINimum|MAXimum`` checked against ``0 .. maximum``."""
        text = arg.strip().upper()
        if text in ("MIN", "MINIMUM"):
            return 0.0
        if text in ("MAX", "MAXIMUM"):
            return maximum
        value = self.number(arg)
        if not 0.0 <= value <= maximum:
            raise ScpiError(-222, "Data out of range")
        return value

    def _limit_query(self, arg: str, present: float, maximum: float) -> str:
        text = arg.strip().upper()
        if text in ("MIN", "MINIMUM"):
            return _reply(0.0)
        if text in ("MAX", "MAXIMUM"):
            return _reply(maximum)
        if text:
            raise ScpiError(-224, "Illegal parameter value")
        return _reply(present)

    # ------------------------------------------------------------ handlers
    def _set_current(self, arg: str) -> None:
        self.current_A = self._level(arg, self._limits()[1])
        self._apply()

    def _query_current(self, arg: str) -> str:
        return self._limit_query(arg, self.current_A, self._limits()[1])

    def _set_voltage(self, arg: str) -> None:
        self.voltage_V = self._level(arg, self._limits()[0])
        self._apply()

    def _query_voltage(self, arg: str) -> str:
        return self._limit_query(arg, self.voltage_V, self._limits()[0])

    def _set_range(self, arg: str) -> None:
        name = arg.strip().upper()
        name = _RANGE_ALIASES.get(name, name)
        if not name:
            raise ScpiError(-109, "Missing parameter")
        if name not in RANGES:
            raise ScpiError(-224, "Illegal parameter value")
        self.range = name
        v_max, i_max = RANGES[name]
        self.voltage_V = min(self.voltage_V, v_max)
        self.current_A = min(self.current_A, i_max)
        self._apply()

    def _set_output(self, arg: str) -> None:
        self.output = self.boolean(arg)
        self._apply()
