"""Byte-level emulator of a Newport SMC100CC (or SMC100PP) controller turning the analyzer goniometer.

Speaks the controller's ASCII protocol (user manual A812B4, chapter 5): a command is
``[address]<two letters>[value | ?]`` + CR LF, blanks are ignored anywhere, upper and
lower case are accepted, and whatever follows a complete parameterless command is
ignored (``1TS?``, ``1VE?`` and ``01TS`` all work).  Queries are answered with the
command echoed before the value (``1VA?`` -> ``1VA5``), set commands are never
answered, and a refused command only memorises its error letter for ``TE``/``TB``.
The emulator drives ``world.goniometer``: a move takes ``distance / velocity`` on the
world's clock and ``TP`` reads the turntable where it is at ``world.clock.now()``.

States follow the manual's state diagram (section 5.1): power-on and ``RS`` give NOT
REFERENCED from reset (``0A``); ``PW1``/``PW0`` enter and leave CONFIGURATION (``14``
-> ``0C``, the configuration saved to flash); ``OR`` gives HOMING (``1E``) then READY
from HOMING (``32``); ``PA``/``PR``/``SE`` give MOVING (``28``) then READY from MOVING
(``33``); ``ST`` ends a move in READY from MOVING or a home search in NOT REFERENCED from
HOMING (``0B``); ``MM0``/``MM1`` enter and leave DISABLE (``3C`` / ``34``).  Positioner
faults a test injects with :attr:`SMC100Emulator.inject_error_bits` (a condition that is
present while set; ``TS`` shows the bits) act as the diagram says: a following error
switches the motor off (DISABLE from MOVING / from READY), an end of run or another
hardware fault aborts to NOT REFERENCED (from MOVING ``0F``, READY ``0E``, DISABLE ``0D``),
and any fault during a home search leaves NOT REFERENCED from HOMING.  A home search
that outlasts ``OT`` is aborted with the homing time-out bit, which ``TS`` reports once.

Coverage (manual section 5.5; every command of the SMC100CC/PP command set):

========  ==========================================================  ===========
command   what the emulator does                                      source
========  ==========================================================  ===========
AC        acceleration: stored (CONFIG) / working (DISABLE, READY);   manual
          the world's turntable has no acceleration phase, so it is
          kept and reported, not travelled
BA, BH    backlash / hysteresis compensation (CONFIG; each refused    manual
          while the other is set): BA makes a reversing move wait
          ``BA / VA`` while the motor takes up the play (the stage
          stands still), BH overshoots a positive move by BH and
          comes back, both on the world's clock
DV FD FE  driver voltage, Kd filter, following error limit,           manual
FF KD KI  friction compensation, PID gains, control loop state: kept
KP KV SC  in their states and ranges; SMC100CC only (``W`` on PP)
FR        stepper configuration ``FRM``/``FRS`` (PP only, ``X`` on    manual
          CC); FRS/FRM is the PP's position resolution
HT        home search type: 0/2 MZ switch (world 0 deg), 1 present    manual
          position is home (no motion), 3/4 EoR- switch (the world's
          lower travel end)
ID        stage identifier, set in CONFIG; the query is answered in   manual;
          every state (a public client's tested ``reset_and_configure``
          reads ``ID?`` in NOT REFERENCED)                             pySMC100
JD JM     leave JOGGING (no keypad here: never in JOGGING), keypad     manual
          enable (errors A/B as the manual lists them)
MM        ``MM0``/``MM1`` (address-less or ``0MM``: every controller);  manual;
          ``MM?`` gives 0 in DISABLE, 1 in READY (QMI reads an integer) QMI
OH OT OR  home velocity, home time-out (aborts, bit 0x0040), home     manual
PA PR SE  absolute, relative and simultaneously started moves; the    manual
          target is rounded to the encoder grid; G out of SL..SR
PT        time of a relative move with the working velocity (and BH)  manual
PW        CONFIGURATION state; ``PW0`` saves to flash (the controller  manual;
          then ignores commands for :attr:`save_s`); ``PW?`` 1/0        QMI
QI        motor current limits ``QIL``/``QIR``/``QIT``                 manual
RA RB SB  analog input (:attr:`analog_input_V`, 0.078125 V steps),     manual
          TTL inputs (pulled up: 15 when unwired), TTL outputs
RS        reset = power-up: NOT REFERENCED from reset, the encoder     manual
          counter restarts at 0, working values from flash (the
          controller ignores commands for :attr:`boot_s`)
SA        RS-485 address of the controller (2-31, only via address 1)  manual
SL SR     software limits, stored / working (must enclose the          manual
          set-point in READY and DISABLE)
ST        stop (address-less or ``0ST``: every controller, the         manual;
          emergency-stop path): the turntable stops where it is         issue 8
SU        encoder increment (CC only): the unit of every position,     manual
          velocity and limit (``SU`` = 0.0005 gives degrees)
TB        error string ``1TB@ No error``; without a letter the          manual;
          memorised error, which TB (like TE) reads and clears; never  QMI
          memorises an error itself
TE TS     last command error (read clears it); positioner error bits   manual
          and state (latched bits are cleared by the read)
TH TP     set-point and present position                               manual
VA VB     velocity (working value at most the stored one) / base       manual
          velocity (PP only)
VE        ``1VE SMC_CC - Controller-driver version  3. 1. 2``           driver tests
ZT        every configuration parameter, one ``1XXvalue`` line each,    manual
          between ``1PW1`` and ``1PW0`` (the manual's example ends
          with ``1PW1`` again: read as a misprint, since the list is
          meant to be replayed into the controller)
ZX        ESP stage check 1/2/3 (2 reloads the stage's parameters);    manual
          ``ZX?`` gives the stage reference (``UNKNOWN`` after ZX1)
========  ==========================================================  ===========

Queries: the manual's usage table is applied to the setting form of each command; a
parameter query is answered in every state (public clients read ``ID?``, ``VA?`` and
``TP?`` right after power-up).  Not emulated: JOGGING (no keypad), the ESP stage error
state ``10``, RS-485 chains (commands for other addresses are ignored).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .server import LineEmulator

__all__ = ["SMC100Emulator", "ERROR_TEXT"]

_COMMAND = re.compile(r"^(?P<address>[0-9.]*)(?P<mnemonic>[A-Za-z]{2})(?P<value>.*)$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")

# state groups of the state diagram
NOTREF, CONFIG, HOMING, MOVING, READY, DISABLE, JOGGING = (
    "NOT REFERENCED", "CONFIGURATION", "HOMING", "MOVING", "READY", "DISABLE", "JOGGING",
)
_GROUP = {
    **{code: NOTREF for code in ("0A", "0B", "0C", "0D", "0E", "0F", "10", "11")},
    "14": CONFIG, "1E": HOMING, "1F": HOMING, "28": MOVING,
    **{code: READY for code in ("32", "33", "34", "35")},
    **{code: DISABLE for code in ("3C", "3D", "3E")},
    "46": JOGGING, "47": JOGGING,
}
#: the TE letter of "command not allowed in <state>"
_NOT_ALLOWED = {NOTREF: "H", CONFIG: "I", DISABLE: "J", READY: "K", HOMING: "L", MOVING: "M", JOGGING: "D"}

#: TB texts (TE list of the manual; A-C from the command pages' error lists)
ERROR_TEXT: dict[str, str] = {
    "@": "No error",
    "A": "Unknown message code or floating point controller address",
    "B": "Controller address not correct",
    "C": "Parameter missing or out of range",
    "D": "Command not allowed",
    "E": "Home sequence already started",
    "F": "ESP stage name unknown",
    "G": "Displacement out of limits",
    "H": "Command not allowed in NOT REFERENCED state",
    "I": "Command not allowed in CONFIGURATION state",
    "J": "Command not allowed in DISABLE state",
    "K": "Command not allowed in READY state",
    "L": "Command not allowed in HOMING state",
    "M": "Command not allowed in MOVING state",
    "N": "Current position out of software limit",
    "S": "Communication Time Out",
    "U": "Error during EEPROM access",
    "V": "Error during command execution",
    "W": "Command not allowed for PP version",
    "X": "Command not allowed for CC version",
}

# positioner error bits (TS)
NEGATIVE_END_OF_RUN, POSITIVE_END_OF_RUN = 0x0001, 0x0002
FOLLOWING_ERROR, HOMING_TIME_OUT = 0x0020, 0x0040
_END_OF_RUN = NEGATIVE_END_OF_RUN | POSITIVE_END_OF_RUN

#: the URS100B rotation stage's encoder (CC) / micro-step (PP): degrees per count
STAGE_RESOLUTION_DEG = 0.0005

_CONFIGURABLE = frozenset({CONFIG})
_WORKING = frozenset({CONFIG, DISABLE, READY})
_LOOP = frozenset({CONFIG, DISABLE})


@dataclass(frozen=True)
class _Param:
    """One configuration parameter: where it may be set, its range, which version has it."""

    kind: str  # "float", "int", "text"
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # low < value (else low <= value)
    high_open: bool = False
    states: frozenset = _CONFIGURABLE  # where the set form is accepted
    only: str | None = None  # "CC" or "PP"
    choices: tuple = ()

    def accepts(self, value: float) -> bool:
        if self.choices:
            return value in self.choices
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


_PARAMS: dict[str, _Param] = {
    "AC": _Param("float", 1e-6, 1e12, True, True, _WORKING),
    "BA": _Param("float", 0.0, 1e12, False, True),
    "BH": _Param("float", 0.0, 1e12, False, True),
    "DV": _Param("float", 12.0, 48.0, only="CC"),
    "FD": _Param("float", 1e-6, 2000.0, True, True, _LOOP, "CC"),
    "FE": _Param("float", 1e-6, 1e12, True, True, _LOOP, "CC"),
    "FF": _Param("float", 0.0, 48.0, False, True, _LOOP, "CC"),  # and < DV
    "FRM": _Param("int", 0, 2000, True, False, only="PP"),
    "FRS": _Param("float", 1e-6, 1e12, True, True, only="PP"),
    "HT": _Param("int", choices=(0, 1, 2, 3, 4)),
    "ID": _Param("text"),
    "JM": _Param("int", choices=(0, 1), states=_WORKING),
    "JR": _Param("float", 0.001, 1e12, True, True, _WORKING),
    "KD": _Param("float", 0.0, 1e12, False, True, _LOOP, "CC"),
    "KI": _Param("float", 0.0, 1e12, False, True, _LOOP, "CC"),
    "KP": _Param("float", 0.0, 1e12, False, True, _LOOP, "CC"),
    "KV": _Param("float", 0.0, 1e12, False, True, _LOOP, "CC"),
    "OH": _Param("float", 1e-6, 1e12, True, True),
    "OT": _Param("float", 1.0, 1e3, True, True),
    "QIL": _Param("float", 0.05, 3.0),
    "QIR": _Param("float", 0.05, 1.5),  # and <= QIL
    "QIT": _Param("float", 0.01, 100.0, True, False),
    "SA": _Param("int", 2, 31),
    "SC": _Param("int", choices=(0, 1), only="CC"),
    "SL": _Param("float", -1e12, 0.0, True, False, _WORKING),
    "SR": _Param("float", 0.0, 1e12, False, True, _WORKING),
    "SU": _Param("float", 1e-6, 1e12, True, True, only="CC"),
    "VA": _Param("float", 1e-6, 1e12, True, True, _WORKING),
    "VB": _Param("float", 0.0, 1e12, False, True, _WORKING, "PP"),  # and <= VA
    "ZX": _Param("int", choices=(1, 2, 3)),
}
#: the order in which ZT lists them, per version
_ZT = {
    "CC": ("AC", "BA", "BH", "DV", "FD", "FE", "FF", "HT", "JR", "KD", "KI", "KP", "KV", "OH", "OT",
           "QIL", "QIR", "QIT", "SA", "SC", "SL", "SR", "SU", "VA", "ZX"),
    "PP": ("AC", "BA", "BH", "FRM", "FRS", "HT", "JR", "OH", "OT", "QIL", "QIR", "QIT", "SA", "SL",
           "SR", "VA", "VB", "ZX"),
}
#: parameters whose DISABLE/READY value is a working copy, reloaded from flash at boot
_WORKING_COPIES = ("AC", "FD", "FE", "FF", "JM", "JR", "KD", "KI", "KP", "KV", "SL", "SR", "VA", "VB")
#: commands with no parameter: whatever follows them is ignored
_PARAMETERLESS = frozenset({"OR", "RA", "RB", "RS", "TE", "TH", "TP", "TS", "VE", "ZT", "JD"})
#: commands taken without an address (or with address 0) by every controller
_BROADCAST = frozenset({"ST", "MM", "SE"})


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _zt_number(value) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return f"{value:.6f}" if value == 0 or abs(value) >= 1e-4 else f"{value:.6e}"


class _Lines(str):
    """A reply sent as it is, without the command's echo (ZT's list of lines)."""


class _Refused(Exception):
    def __init__(self, letter: str) -> None:
        self.letter = letter


class SMC100Emulator(LineEmulator):
    """One SMC100CC (``variant="PP"``: SMC100PP) at RS-232 address ``address`` (1)."""

    model = "Newport SMC100CC"
    accept = (b"\r\n",)  # the controller executes a command on CR LF
    reply_termination = b"\r\n"
    #: seconds of the world's clock during which a rebooting (RS) controller ignores input
    boot_s = 0.0
    #: ... and during which PW0 writes the flash ("may take up to 10 seconds")
    save_s = 0.0

    def __init__(self, world, address: int = 1, *, variant: str = "CC") -> None:
        super().__init__(world)
        if variant not in ("CC", "PP"):
            raise ValueError(f"variant = {variant!r}: 'CC' or 'PP'")
        self.variant = variant
        self.model = f"Newport SMC100{variant}"
        self.version = f"SMC_{variant} - Controller-driver version  3. 1. 2"
        self.address = address
        #: positioner error bits of a fault condition a test injects (TS shows them while set)
        self.inject_error_bits = 0
        #: the +-10 V analog input (RA) and the four TTL inputs (RB; pulled up when unwired)
        self.analog_input_V = 0.0
        self.ttl_inputs = 0b1111
        self.ttl_outputs = 0
        gonio = world.goniometer
        self._stage = f"URS100B{variant}"
        self._stage_params = self._esp_parameters(gonio.speed, gonio.travel)
        self.flash = dict(self._stage_params)  # the configuration in non-volatile memory
        self._busy_until = -math.inf
        self._power_on()

    # ------------------------------------------------------------ configuration
    def _esp_parameters(self, speed: float, travel: tuple[float, float]) -> dict:
        """What the stage's ESP chip holds (ZX2 loads it), in degrees."""
        params = {
            "AC": 4 * speed, "BA": 0.0, "BH": 0.0, "HT": 0, "ID": self._stage, "JM": 1, "JR": 0.05,
            "OH": speed, "OT": 60.0, "QIL": 1.0, "QIR": 0.5, "QIT": 2.0, "SA": 2,
            "SL": min(travel[0], 0.0), "SR": max(travel[1], 0.0), "VA": speed, "ZX": 3,
        }
        if self.variant == "CC":
            params.update(DV=48.0, FD=1000.0, FE=0.05, FF=0.0, KD=0.0, KI=2.0, KP=6.0, KV=0.0, SC=1,
                          SU=STAGE_RESOLUTION_DEG)
        else:
            params.update(FRM=200, FRS=200 * STAGE_RESOLUTION_DEG, VB=0.0)
        return params

    def _power_on(self) -> None:
        t = self._now()
        self.state = "0A"
        self.error = "@"
        self._latched_bits = 0
        self.config = dict(self.flash)
        self.working = {name: self.flash[name] for name in _WORKING_COPIES if name in self.flash}
        self.world.goniometer.speed = self._speed(self.working["VA"])
        # an incremental encoder: the counter starts at 0 wherever the stage stands
        self._origin_deg = self.world.goniometer.position(t)
        self.target = self._units(self._origin_deg)
        self._se_target: float | None = None
        self._plan: list[tuple[str, float]] = []
        self._segment_end = t
        self._home_deadline = math.inf
        self._home_kind = ""
        self._last_direction = 0

    def _value(self, name: str):
        """The present value: CONFIG's pending one, else the working copy, else flash."""
        if self._group() == CONFIG:
            return self.config[name]
        return self.working.get(name, self.config[name])

    # units: controller units = encoder counts * resolution
    @property
    def _resolution(self) -> float:
        if self.variant == "CC":
            return self.config["SU"]
        return self.config["FRS"] / self.config["FRM"]

    @property
    def _scale(self) -> float:
        """Controller units per world degree."""
        return self._resolution / STAGE_RESOLUTION_DEG

    def _units(self, world_deg: float) -> float:
        counts = round((world_deg - self._origin_deg) / STAGE_RESOLUTION_DEG)
        return counts * self._resolution

    def _world_deg(self, units: float) -> float:
        return self._origin_deg + round(units / self._resolution) * STAGE_RESOLUTION_DEG

    def _on_grid(self, units: float) -> float:
        return round(units / self._resolution) * self._resolution

    def _speed(self, units_per_s: float) -> float:
        return units_per_s / self._scale

    # ------------------------------------------------------------ time and state
    def _now(self) -> float:
        return self.world.clock.now()

    def _group(self) -> str:
        return _GROUP[self.state]

    def _position(self, t: float | None = None) -> float:
        return self._units(self.world.goniometer.position(self._now() if t is None else t))

    def _update(self) -> None:
        """Bring the state up to the world's present time."""
        t = self._now()
        gonio = self.world.goniometer
        group = self._group()
        bits = self.inject_error_bits
        if group == MOVING:
            self._advance_move(t)
            if bits & FOLLOWING_ERROR:
                self._halt(t)
                self.state = "3D"  # the fault switches the motor off mid-move
            elif bits:
                self._halt(t)
                self._lose_reference("0F")  # end of run or hardware fault: abort, reference lost
            elif not self._plan and t >= self._segment_end:
                self.state = "33"
        elif group == HOMING:
            if bits & ~_END_OF_RUN:
                self._halt(t)
                self._lose_reference("0B")
            elif self._home_deadline <= t and self._segment_end > self._home_deadline:
                gonio.stop(self._home_deadline)  # aborted when the time-out elapsed
                self._latched_bits |= HOMING_TIME_OUT
                self._lose_reference("0B")
            elif self._segment_end <= t:
                if gonio.homing:  # arrived at the home switch
                    gonio.homing = False
                    gonio.homed = True
                if bits & _END_OF_RUN:  # an end of run is only looked at when homing ends
                    self._lose_reference("0B")
                else:
                    self._origin_deg = gonio.position(t)
                    self.state = "32"
                    self.target = self._position(t)
            if self._group() != HOMING:
                gonio.speed = self._speed(self._value("VA"))
        elif group == READY:
            if bits & FOLLOWING_ERROR:
                self.state = "3C"
            elif bits:
                self._lose_reference("0E")
        elif group == DISABLE and bits & ~FOLLOWING_ERROR:
            self._lose_reference("0D")

    def _lose_reference(self, state: str) -> None:
        self.state = state
        self.world.goniometer.homed = False

    def _halt(self, t: float) -> None:
        gonio = self.world.goniometer
        gonio.stop(t)
        self._plan.clear()
        self._segment_end = t
        self.target = self._position(t)

    # ------------------------------------------------------------ motion on the world
    def _travel_time(self, from_deg: float, to_deg: float) -> float:
        gonio = self.world.goniometer
        lo, hi = gonio.travel
        to_deg = min(max(to_deg, lo), hi)
        return abs(to_deg - from_deg) / gonio.speed if gonio.speed > 0 else math.inf

    def _start_segment(self, kind: str, value: float, t: float) -> None:
        gonio = self.world.goniometer
        if kind == "dwell":  # the motor takes up the play; the stage stands still
            self._segment_end = t + value
            return
        here = gonio.position(t)
        gonio.move_to(value, t)
        self._segment_end = t + self._travel_time(here, value)

    def _advance_move(self, t: float) -> None:
        """Start each planned segment at the moment the one before ended (exact in world time)."""
        while self._plan and self._segment_end <= t:
            kind, value = self._plan.pop(0)
            self._start_segment(kind, value, self._segment_end)

    def _move(self, target_units: float) -> None:
        """Start a move to ``target_units`` (on the grid, inside the limits): PA, PR, SE."""
        t = self._now()
        gonio = self.world.goniometer
        gonio.speed = self._speed(self._value("VA"))
        here = self._position(t)
        direction = (target_units > here) - (target_units < here)
        plan: list[tuple[str, float]] = []
        backlash, hysteresis = self.config["BA"], self.config["BH"]
        if backlash > 0 and direction and self._last_direction and direction != self._last_direction:
            plan.append(("dwell", backlash / self._value("VA")))
        if hysteresis > 0 and direction > 0:
            plan.append(("go", self._world_deg(target_units + hysteresis)))
            direction = -1
        plan.append(("go", self._world_deg(target_units)))
        if direction:
            self._last_direction = direction
        self.target = target_units
        self.state = "28"
        self._plan = plan
        self._segment_end = t
        self._advance_move(t)

    # ------------------------------------------------------------ parsing
    def handle(self, line: str) -> str | None:
        line = line.replace(" ", "").replace("\t", "")  # the manual: blanks are ignored anywhere
        if not line:
            return None
        with self.world.lock:
            if self._now() < self._busy_until:
                return None  # rebooting or writing the flash: the controller hears nothing
            m = _COMMAND.match(line)
            if m is None:
                self.error = "A"
                return None
            address, mnemonic, value = m.group("address"), m.group("mnemonic").upper(), m.group("value")
            if "." in address:
                self.error = "A"
                return None
            broadcast = mnemonic in _BROADCAST and (address == "" or int(address) == 0)
            if not broadcast:
                if not address or not 1 <= int(address) <= 31:
                    self.error = "B"
                    return None
                if int(address) != self.address:
                    return None  # addressed to another controller on the chain
            handler = getattr(self, f"_cmd_{mnemonic}", None)
            if handler is None and mnemonic not in _PARAMS and mnemonic not in ("FR", "QI"):
                self.error = "A"
                return None
            self._update()
            try:
                if mnemonic in _PARAMETERLESS:
                    value = ""
                reply = handler(value) if handler is not None else self._parameter(mnemonic, value)
            except _Refused as refused:
                self.error = refused.letter
                return None
            if reply is None or broadcast:
                return None
            if isinstance(reply, _Lines):
                return str(reply)
            return f"{self.address}{mnemonic}{reply}"

    # ------------------------------------------------------------ helpers
    def _require(self, *groups: str) -> None:
        group = self._group()
        if group not in groups:
            raise _Refused(_NOT_ALLOWED[group])

    def _version_has(self, only: str | None) -> None:
        if only is not None and only != self.variant:
            raise _Refused("W" if self.variant == "PP" else "X")

    @staticmethod
    def _float(value: str) -> float:
        if not _NUMBER.match(value):
            raise _Refused("C")
        number = float(value)
        if not math.isfinite(number):
            raise _Refused("C")
        return number

    def _format(self, name: str, value) -> str:
        if _PARAMS[name].kind == "float":
            return _number(value)
        return str(value)

    # ------------------------------------------------------------ configuration parameters
    def _parameter(self, name: str, value: str) -> str | None:
        """Every Set/Get parameter command of the table (FR and QI carry a sub-letter)."""
        param = _PARAMS[name]
        self._version_has(param.only)
        if value == "?":
            return self._format(name, self._value(name))
        self._require(*param.states)
        if param.kind == "text":
            if not 1 <= len(value) <= 31:
                raise _Refused("C")
            self.config[name] = value
            return None
        if name == "JM" and not value:
            raise _Refused("B")  # the manual's JM error list
        number = self._float(value)
        if param.kind == "int":
            if number != int(number) or not param.accepts(int(number)):
                raise _Refused("A" if name == "JM" else "C")
            number = int(number)
        elif not param.accepts(number):
            raise _Refused("C")
        self._check_related(name, number)
        if self._group() == CONFIG:
            if name == "ZX" and number == 2:  # read the ESP stage's parameters into flash
                mode = self.config["ZX"]
                self.config = dict(self._stage_params, ZX=mode)
                self.flash = dict(self.config)
            else:
                self.config[name] = number
        else:
            self.working[name] = number
            if name == "VA":
                self.world.goniometer.speed = self._speed(number)
        return None

    def _check_related(self, name: str, number: float) -> None:
        config = self._group() == CONFIG
        if name in ("AC", "VA") and not config and number > self.config[name]:
            raise _Refused("C")  # a working value goes up to the stored one
        if name == "SL" and not config and number > self.target:
            raise _Refused("C")  # a working limit may not exclude the set-point
        if name == "SR" and not config and number < self.target:
            raise _Refused("C")
        if name in ("BA", "BH") and number > 0 and self.config["BH" if name == "BA" else "BA"] > 0:
            raise _Refused("C")  # backlash and hysteresis compensation exclude each other
        if name == "FF" and number >= self._value("DV"):
            raise _Refused("C")
        if name == "QIR" and number > self.config["QIL"]:
            raise _Refused("C")
        if name == "VB" and number > self._value("VA"):
            raise _Refused("C")

    def _cmd_FR(self, value: str) -> str | None:
        return self._sub_parameter("FR", value, "MS")

    def _cmd_QI(self, value: str) -> str | None:
        return self._sub_parameter("QI", value, "LRT")

    def _sub_parameter(self, mnemonic: str, value: str, letters: str) -> str | None:
        if not value or value[0].upper() not in letters:
            self._version_has(_PARAMS[mnemonic + letters[0]].only)
            raise _Refused("C")
        name = mnemonic + value[0].upper()
        reply = self._parameter(name, value[1:])
        return None if reply is None else value[0].upper() + reply

    # ------------------------------------------------------------ status and errors
    def _cmd_TS(self, value: str) -> str:
        bits = (self.inject_error_bits | self._latched_bits) & 0xFFFF
        self._latched_bits = 0  # reading the error buffer clears it
        return f"{bits:04X}{self.state}"

    def _cmd_TE(self, value: str) -> str:
        letter, self.error = self.error, "@"  # reading clears it
        return letter

    def _cmd_TB(self, value: str) -> str:
        letter = value.upper() if value else self.error
        if len(letter) != 1 or letter not in ERROR_TEXT:
            raise _Refused("C")
        self.error = "@"  # TB reads the error buffer as TE does
        return f"{letter} {ERROR_TEXT[letter]}"

    def _cmd_TP(self, value: str) -> str:
        return _number(self._position())

    def _cmd_TH(self, value: str) -> str:
        if self._group() in (MOVING, HOMING):  # the profiler's set-point: where the stage is
            return _number(self._position())
        return _number(self.target)

    def _cmd_VE(self, value: str) -> str:
        return " " + self.version

    def _cmd_ZT(self, value: str) -> _Lines:
        self._require(NOTREF, CONFIG, DISABLE, READY, MOVING, HOMING)
        params = self.config if self._group() == CONFIG else self.flash
        lines = [f"{self.address}PW1"]
        lines += [f"{self.address}{name}{_zt_number(params[name])}" for name in _ZT[self.variant]]
        lines.append(f"{self.address}PW0")
        return _Lines("\r\n".join(lines))

    def _cmd_ID(self, value: str) -> str | None:
        if value == "?":
            return self.config["ID"]
        return self._parameter("ID", value)

    def _cmd_ZX(self, value: str) -> str | None:
        if value == "?":
            return self.config["ID"] if self.config["ZX"] != 1 else "UNKNOWN"
        return self._parameter("ZX", value)

    # ------------------------------------------------------------ inputs and outputs
    def _cmd_RA(self, value: str) -> str:
        step = 0.078125
        volts = max(-10.0, min(10.0, self.analog_input_V))
        return _number(round(volts / step) * step)

    def _cmd_RB(self, value: str) -> str:
        return str(self.ttl_inputs & 0xF)

    def _cmd_SB(self, value: str) -> str | None:
        if value == "?":
            return str(self.ttl_outputs)
        self._require(DISABLE, READY, MOVING, HOMING, JOGGING)
        number = self._float(value)
        if number != int(number) or not 0 <= number <= 15:
            raise _Refused("C")
        self.ttl_outputs = int(number)
        return None

    # ------------------------------------------------------------ states
    def _cmd_PW(self, value: str) -> str | None:
        if value == "?":
            return "1" if self._group() == CONFIG else "0"
        self._require(NOTREF, CONFIG)
        if value not in ("0", "1"):
            raise _Refused("C")
        if value == "1":
            if self._group() == CONFIG:
                raise _Refused("I")
            self.config = dict(self.flash)
            self.state = "14"
            return None
        if self._group() != CONFIG:
            raise _Refused("H")
        self.flash = dict(self.config)  # checked and saved to flash
        self.working = {name: self.flash[name] for name in _WORKING_COPIES if name in self.flash}
        self.world.goniometer.speed = self._speed(self.working["VA"])
        self.state = "0C"
        self._busy_until = self._now() + self.save_s
        return None

    def _cmd_MM(self, value: str) -> str | None:
        if value == "?":
            self._require(DISABLE, READY)
            return "0" if self._group() == DISABLE else "1"
        self._require(DISABLE, READY)
        if value not in ("0", "1"):
            raise _Refused("C")
        if value == "0":
            if self._group() != READY:
                raise _Refused(_NOT_ALLOWED[self._group()])
            self.state = "3C"
        else:
            if self._group() != DISABLE:
                raise _Refused(_NOT_ALLOWED[self._group()])
            self.target = self._position()  # the set-point is set to the present position
            self.state = "34"
        return None

    def _cmd_RS(self, value: str) -> None:
        gonio = self.world.goniometer
        gonio.stop(self._now())
        gonio.homed = False
        self._power_on()
        self._busy_until = self._now() + self.boot_s

    def _cmd_JD(self, value: str) -> None:
        self._require(JOGGING)

    # ------------------------------------------------------------ homing
    def _cmd_OR(self, value: str) -> None:
        group = self._group()
        if group == HOMING:
            raise _Refused("E")
        self._require(NOTREF)
        if self.inject_error_bits & ~_END_OF_RUN:
            raise _Refused("D")  # only with no hardware error present
        t = self._now()
        gonio = self.world.goniometer
        home_type = self.config["HT"]
        self.state = "1E"
        self._plan.clear()
        self._home_deadline = t + self.config["OT"]
        if home_type == 1:  # the present position is home: no motion
            gonio.stop(t)
            gonio.homed = True
            self._segment_end = t
            self._home_deadline = math.inf
        else:
            here = gonio.position(t)
            gonio.speed = self._speed(self.config["OH"])
            if home_type in (0, 2):  # the MZ switch, at the world's 0 deg
                gonio.home(t)
                self._segment_end = t + self._travel_time(here, 0.0)
            else:  # the EoR- switch: the lower end of travel
                gonio.move_to(gonio.travel[0], t)
                gonio.homing = True
                self._segment_end = t + self._travel_time(here, gonio.travel[0])
        self._update()
        return None

    # ------------------------------------------------------------ motion
    def _cmd_ST(self, value: str) -> None:
        self._require(DISABLE, READY, MOVING, HOMING)
        t = self._now()
        if self._group() == MOVING:
            self._halt(t)
            self.state = "33"
        elif self._group() == HOMING:
            self._halt(t)
            self.world.goniometer.speed = self._speed(self._value("VA"))
            self._lose_reference("0B")
        return None

    def _target(self, value: str, relative: bool) -> float:
        self._require(READY)
        number = self._float(value) if value else None
        if number is None:
            raise _Refused("C")
        target = self._on_grid(self.target + number if relative else number)
        if not self._value("SL") <= target <= self._value("SR"):
            raise _Refused("G")
        return target

    def _cmd_PA(self, value: str) -> str | None:
        if value == "?":
            return _number(self.target)
        self._move(self._target(value, relative=False))
        return None

    def _cmd_PR(self, value: str) -> str | None:
        if value == "?":
            return _number(self.target)
        self._move(self._target(value, relative=True))
        return None

    def _cmd_SE(self, value: str) -> str | None:
        if value == "?":
            return _number(self._se_target if self._se_target is not None else self.target)
        if not value:  # execute the prepared moves
            self._require(READY)
            if self._se_target is not None:
                target, self._se_target = self._se_target, None
                self._move(target)
            return None
        self._se_target = self._target(value, relative=False)
        return None

    def _cmd_PT(self, value: str) -> str:
        self._require(DISABLE, READY, MOVING, HOMING)
        distance = self._float(value) if value and value != "?" else None
        if distance is None or not 1e-6 < distance < 1e12:
            raise _Refused("C")
        velocity = self._value("VA")
        return _number((distance + 2 * self.config["BH"]) / velocity)


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "newport_smc100"
EMULATOR = SMC100Emulator
TRANSPORT = "serial"
