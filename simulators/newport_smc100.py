"""Byte-level emulator of a Newport SMC100CC controller turning the analyzer goniometer.

Speaks the controller's ASCII protocol (``<address><command><value>`` + CR LF,
replies echo the command before the value, set commands are never answered, a
refused command leaves its error letter for ``TE``) and drives
``world.goniometer``: a move takes ``distance / velocity`` on the world's clock,
``TP`` reads the goniometer where it is at ``world.clock.now()``.

The state machine follows the manual: power-on and ``RS`` give NOT REFERENCED
from reset (``0A``); ``OR`` gives HOMING (``1E``) then READY from HOMING (``32``);
``PA`` gives MOVING (``28``) then READY from MOVING (``33``); ``ST`` during a home
search gives NOT REFERENCED from HOMING (``0B``); ``MM0``/``MM1`` enter/leave DISABLE
(``3C`` / ``34``).  A test can set :attr:`SMC100Emulator.inject_error_bits` (e.g.
``0x0020`` following error): ``TS`` reports the bits, and a move or home search in
progress is cut off the way the controller does it (motor off: DISABLE from
MOVING, or NOT REFERENCED from HOMING).
"""

from __future__ import annotations

import math
import re

from .server import LineEmulator

__all__ = ["SMC100Emulator"]

_COMMAND = re.compile(r"^(?P<address>[0-9.]*)(?P<mnemonic>[A-Za-z]{2})(?P<value>.*)$")

NOT_REFERENCED = ("0A", "0B", "0C", "0D", "0E", "0F", "10", "11")
READY = ("32", "33", "34", "35")
DISABLE = ("3C", "3D", "3E")
HOMING = ("1E", "1F")
MOVING = "28"
CONFIGURATION = "14"


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class SMC100Emulator(LineEmulator):
    """One SMC100CC at RS-485/RS-232 address ``address`` (1 by default)."""

    model = "Newport SMC100CC"
    accept = (b"\r\n",)  # the controller executes a command on CR LF
    reply_termination = b"\r\n"
    version = "SMC_CC - Controller-driver version  3. 1. 2"
    stage = "URS100BCC"

    def __init__(self, world, address: int = 1) -> None:
        super().__init__(world)
        self.address = address
        gonio = world.goniometer
        #: the stage's stored configuration, restored by RS
        self.max_velocity_deg_s = gonio.speed
        self.stored_limits_deg = (min(gonio.travel[0], 0.0), max(gonio.travel[1], 0.0))
        #: positioner error bits a test injects (reported by TS while set)
        self.inject_error_bits = 0
        self._power_on()

    # ------------------------------------------------------------ state machine
    def _power_on(self) -> None:
        self.state = "0A"
        self.error = "@"
        self.velocity_deg_s = self.max_velocity_deg_s
        self.world.goniometer.speed = self.velocity_deg_s
        self.negative_limit_deg, self.positive_limit_deg = self.stored_limits_deg
        self.target_deg = self.world.goniometer.position(self.world.clock.now())

    def _now(self) -> float:
        return self.world.clock.now()

    def _update(self) -> None:
        """Bring the state up to the world's present time."""
        t = self._now()
        gonio = self.world.goniometer
        if self.state == MOVING:
            if self.inject_error_bits:
                gonio.stop(t)
                self.state = "3D"  # the fault switches the motor off mid-move
            elif not gonio.is_moving(t):
                self.state = "33"
        elif self.state in HOMING:
            if self.inject_error_bits:
                gonio.stop(t)
                self.state = "0B"
            elif not gonio.is_moving(t):  # the goniometer marks itself homed on arrival
                self.state = "32"
                self.target_deg = gonio.position(t)

    def _not_allowed(self) -> str:
        """The TE letter for "command not allowed in the present state"."""
        if self.state in NOT_REFERENCED:
            return "H"
        if self.state == CONFIGURATION:
            return "I"
        if self.state in DISABLE:
            return "J"
        if self.state in READY:
            return "K"
        if self.state in HOMING:
            return "L"
        return "M"

    # ------------------------------------------------------------ parsing
    def handle(self, line: str) -> str | None:
        line = line.replace(" ", "")  # the manual: blanks are ignored anywhere
        if not line:
            return None
        m = _COMMAND.match(line)
        if m is None:
            self.error = "A"
            return None
        address, mnemonic, value = m.group("address"), m.group("mnemonic").upper(), m.group("value")
        if "." in address:
            self.error = "A"
            return None
        if not address:
            self.error = "B"  # every command of this controller needs its address
            return None
        if int(address) != self.address:
            return None  # addressed to another controller on the chain
        handler = getattr(self, f"_cmd_{mnemonic}", None)
        if handler is None:
            self.error = "A"
            return None
        with self.world.lock:
            self._update()
            reply = handler(value)
        return None if reply is None else f"{self.address}{mnemonic}{reply}"

    def _fail(self, letter: str) -> None:
        self.error = letter

    @staticmethod
    def _parse(value: str) -> float | None:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None

    # ------------------------------------------------------------ commands
    def _cmd_TS(self, value: str) -> str:
        return f"{self.inject_error_bits & 0xFFFF:04X}{self.state}"

    def _cmd_TP(self, value: str) -> str:
        return _number(self.world.goniometer.position(self._now()))

    def _cmd_TE(self, value: str) -> str:
        letter, self.error = self.error, "@"  # reading clears it
        return letter

    def _cmd_VE(self, value: str) -> str:
        return " " + self.version

    def _cmd_ID(self, value: str) -> str | None:
        if value == "?":
            return self.stage
        if self.state != CONFIGURATION:  # the stage name is set only in CONFIGURATION
            return self._fail(self._not_allowed())
        self.stage = value
        return None

    def _cmd_PA(self, value: str) -> str | None:
        if value == "?":
            return _number(self.target_deg)
        target = self._parse(value)
        if target is None:
            return self._fail("C")
        if self.state not in READY:
            return self._fail(self._not_allowed())
        if not self.negative_limit_deg <= target <= self.positive_limit_deg:
            return self._fail("G")
        self.target_deg = target
        self.world.goniometer.move_to(target, self._now())
        self.state = MOVING
        return None

    def _cmd_OR(self, value: str) -> None:
        if self.state in HOMING:
            return self._fail("E")
        if self.state not in NOT_REFERENCED:
            return self._fail(self._not_allowed())
        self.world.goniometer.home(self._now())
        self.state = "1E"
        return None

    def _cmd_ST(self, value: str) -> None:
        gonio = self.world.goniometer
        if self.state == MOVING:
            gonio.stop(self._now())
            self.target_deg = gonio.position(self._now())
            self.state = "33"
        elif self.state in HOMING:
            gonio.stop(self._now())
            self.state = "0B"

    def _cmd_RS(self, value: str) -> None:
        self.world.goniometer.stop(self._now())
        self.world.goniometer.homed = False
        self._power_on()

    def _cmd_MM(self, value: str) -> str | None:
        if value == "?":
            return self._fail("C")
        if value == "0":
            if self.state not in READY:
                return self._fail(self._not_allowed())
            self.state = "3C"
        elif value == "1":
            if self.state not in DISABLE:
                return self._fail(self._not_allowed())
            self.state = "34"
        else:
            self._fail("C")
        return None

    def _limit(self, value: str, attr: str, low: float, high: float, encloses) -> str | None:
        if self.state not in READY + DISABLE + (CONFIGURATION,):
            return self._fail(self._not_allowed())
        if value == "?":
            return _number(getattr(self, attr))
        limit = self._parse(value)
        if limit is None or not low <= limit <= high:
            return self._fail("C")
        if self.state != CONFIGURATION and not encloses(limit):
            return self._fail("C")
        setattr(self, attr, limit)
        return None

    def _cmd_SL(self, value: str) -> str | None:
        # in READY/DISABLE the working limit must stay at or below the set-point
        return self._limit(value, "negative_limit_deg", -1e12, 0.0, lambda lim: lim <= self.target_deg)

    def _cmd_SR(self, value: str) -> str | None:
        return self._limit(value, "positive_limit_deg", 0.0, 1e12, lambda lim: lim >= self.target_deg)

    def _cmd_VA(self, value: str) -> str | None:
        if value == "?":
            return _number(self.velocity_deg_s)
        if self.state == MOVING or self.state in HOMING:
            return self._fail(self._not_allowed())
        velocity = self._parse(value)
        if velocity is None or not 0 < velocity <= self.max_velocity_deg_s:
            return self._fail("C")
        self.velocity_deg_s = velocity
        self.world.goniometer.speed = velocity
        return None
