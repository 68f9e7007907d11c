"""Newport SMC100CC / SMC100PP single-axis motion controller: the analyzer goniometer.

The SMC100 rotates the analyzer on its turntable.  RS-232 at 57600 baud, 8N1,
XON/XOFF; every command and every reply ends with CR LF.  A command is
``<address><two letters><value or ?>`` (``1PA25.5``, ``1SL?``); the controller
answers queries with the command echoed before the value (``1TP25.5``) and
**never answers a set command**: a refused command is only visible by reading the
last command error with ``TE`` (one letter, ``@`` = no error), and a refused
*query* simply gets no reply.

States (``TS``, last two hex digits, user manual section "controller states"):
NOT REFERENCED after power-on or reset, HOMING during ``OR``, READY once
referenced, MOVING during ``PA``, DISABLE with the motor off.  Moves are accepted
only in READY, so a controller that was reset must be homed first.  ``TS`` also
carries 16 positioner error bits (following error, end of run, current limits...).

This driver adds what the experiment needs on top of the command set:

* the configured angle range (``min_angle_deg``..``max_angle_deg``) is checked
  before anything is sent;
* every target is approached from below (``backlash_deg`` under the target first
  when coming from above), so the gear backlash is taken up the same way at every
  angle and repeated sweeps land on the same angles;
* :meth:`NewportSMC100.move_to` waits (on the driver's clock) until the controller
  is READY again and reports a positioner fault or a stalled move as a typed error;
  it returns the position the controller reports at the end (``TP``), and a stage
  that stopped more than ``position_tolerance_deg`` from the target is a
  :class:`~drivers.errors.DeviceError`.

Numbers in replies are plain decimals (``1TP25.5``, ``1VA20``), not of fixed width,
so a reply that lost a digit may still be a number: replies must be finite numbers
in the manual's ranges (positions and limits within +-1e12, velocities above 0),
and the final position of a move is read twice when it misses the target, so that
a garbled reply is told from a stage that really stopped short.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .base import Instrument, Option, parse_float
from .errors import DeviceError, GarbledReply, InstrumentError, InstrumentTimeout
from .transport import SerialSettings

__all__ = [
    "COMMAND_ERRORS",
    "CONTROLLER_STATES",
    "POSITIONER_ERRORS",
    "ControllerState",
    "MotionTimeout",
    "NewportSMC100",
    "SMC100CommandError",
    "decode_state",
    "format_number",
]

#: controller state (two hex digits of ``TS``) -> name, as the user manual lists them
CONTROLLER_STATES: dict[str, str] = {
    "0A": "NOT REFERENCED from reset",
    "0B": "NOT REFERENCED from HOMING",
    "0C": "NOT REFERENCED from CONFIGURATION",
    "0D": "NOT REFERENCED from DISABLE",
    "0E": "NOT REFERENCED from READY",
    "0F": "NOT REFERENCED from MOVING",
    "10": "NOT REFERENCED ESP stage error",
    "11": "NOT REFERENCED from JOGGING",
    "14": "CONFIGURATION",
    "1E": "HOMING commanded from RS-232-C",
    "1F": "HOMING commanded by SMC-RC",
    "28": "MOVING",
    "32": "READY from HOMING",
    "33": "READY from MOVING",
    "34": "READY from DISABLE",
    "35": "READY from JOGGING",
    "3C": "DISABLE from READY",
    "3D": "DISABLE from MOVING",
    "3E": "DISABLE from JOGGING",
    "46": "JOGGING from READY",
    "47": "JOGGING from DISABLE",
}

NOT_REFERENCED_STATES = frozenset({"0A", "0B", "0C", "0D", "0E", "0F", "10", "11"})
CONFIGURATION_STATES = frozenset({"14"})
HOMING_STATES = frozenset({"1E", "1F"})
MOVING_STATES = frozenset({"28"})
READY_STATES = frozenset({"32", "33", "34", "35"})
DISABLE_STATES = frozenset({"3C", "3D", "3E"})
JOGGING_STATES = frozenset({"46", "47"})
#: states in which the controller knows where the stage is
REFERENCED_STATES = READY_STATES | MOVING_STATES | DISABLE_STATES | JOGGING_STATES

#: positioner error bit (first four hex digits of ``TS``) -> meaning; bits 10-15 are unused
POSITIONER_ERRORS: dict[int, str] = {
    0x0001: "negative end of run",
    0x0002: "positive end of run",
    0x0004: "peak current limit",
    0x0008: "RMS current limit",
    0x0010: "short circuit detection",
    0x0020: "following error",
    0x0040: "homing time-out",
    0x0080: "wrong ESP stage",
    0x0100: "DC voltage too low",
    0x0200: "80 W output power exceeded",
}

#: last command error (``TE``) letter -> meaning
COMMAND_ERRORS: dict[str, str] = {
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

#: the manual's range of SL (negative limit) and SR (positive limit), in stage units
SOFTWARE_LIMIT_RANGE = 1e12
#: how far from its target a finished move may end (deg) unless configured otherwise:
#: a tenth of the goniometer's required resolution (2 deg), far above the stage's own
#: repeatability (a few millidegrees on a URS100)
DEFAULT_POSITION_TOLERANCE_DEG = 0.05

_TS_PAYLOAD = re.compile(r"([0-9A-Fa-f]{4})([0-9A-Fa-f]{2})")


class SMC100CommandError(DeviceError):
    """The controller refused a command; ``letter`` is its ``TE`` error code."""

    def __init__(self, message: str, *, letter: str, **context) -> None:
        self.letter = letter
        super().__init__(message, **context)


class MotionTimeout(InstrumentError):
    """A move or home search did not reach READY in time (the stage was stopped).

    Not a :class:`~drivers.errors.TransientError`: the link works, the stage does not
    arrive, and repeating the same move blindly is not a cure.
    """


def format_number(value: float) -> str:
    """A number as the SMC100 takes it: plain decimal, at most 6 decimals, no exponent."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class ControllerState:
    """One decoded ``TS`` reply: controller state and positioner error bits."""

    raw: str
    state_code: str
    state_name: str
    error_bits: int
    errors: tuple[str, ...]
    ready: bool
    moving: bool
    homing: bool
    referenced: bool
    disabled: bool

    @property
    def configuration(self) -> bool:
        return self.state_code in CONFIGURATION_STATES

    def describe(self) -> str:
        text = f"{self.state_name} (state {self.state_code})"
        if self.errors:
            text += ", positioner errors: " + ", ".join(self.errors)
        return text


def decode_state(raw: str, payload: str) -> ControllerState:
    """Decode the six hex digits after ``<addr>TS``; ``ValueError`` if they are not a TS reply."""
    m = _TS_PAYLOAD.fullmatch(payload)
    if m is None:
        raise ValueError("expected 4 hex digits of positioner errors and 2 of controller state")
    bits = int(m.group(1), 16)
    code = m.group(2).upper()
    if code not in CONTROLLER_STATES:
        raise ValueError(f"controller state {code!r} is not one the SMC100 reports")
    errors = tuple(
        POSITIONER_ERRORS.get(1 << n, f"unused error bit 0x{1 << n:04X}") for n in range(16) if bits & (1 << n)
    )
    return ControllerState(
        raw=raw,
        state_code=code,
        state_name=CONTROLLER_STATES[code],
        error_bits=bits,
        errors=errors,
        ready=code in READY_STATES,
        moving=code in MOVING_STATES,
        homing=code in HOMING_STATES,
        referenced=code in REFERENCED_STATES,
        disabled=code in DISABLE_STATES,
    )


class NewportSMC100(Instrument):
    """Newport SMC100CC/PP driving the analyzer turntable (angles in degrees).

    ``address`` is a serial port or pyserial URL (``/dev/ttyUSB0``,
    ``socket://127.0.0.1:PORT``).  ``min_angle_deg``/``max_angle_deg`` bound every
    move (checked before sending); ``backlash_deg`` is the overshoot below a target
    approached from above; ``poll_interval_s`` the ``TS`` polling period while
    moving; ``move_timeout_s`` the default limit for a move or home search;
    ``position_tolerance_deg`` (default 0.05 deg) how far from its target the
    position read at the end of a move may be before the move counts as missed.
    """

    model = "Newport SMC100"
    options = {
        "controller_address": Option("int", "RS-485 address of the controller", ge=1, le=31),
        "min_angle_deg": Option("number", "lowest angle the goniometer may be sent to"),
        "max_angle_deg": Option("number", "highest angle the goniometer may be sent to"),
        "backlash_deg": Option("number", "every angle is approached from this far below", ge=0),
        "poll_interval_s": Option("number", "status polling period while moving", gt=0),
        "move_timeout_s": Option("number", "a move taking longer is an error", gt=0),
        "position_tolerance_deg": Option("number", "a move ending farther from its target is a fault", gt=0),
    }

    @classmethod
    def check_options(cls, options, default):
        lo = options.get("min_angle_deg", default("min_angle_deg"))
        hi = options.get("max_angle_deg", default("max_angle_deg"))
        if lo is not None and hi is not None and not lo < hi:
            return [("max_angle_deg", hi, f"must be greater than min_angle_deg = {lo!r}")]
        return []
    write_termination = b"\r\n"
    read_termination = b"\r\n"
    serial_settings = SerialSettings(baud_rate=57600, bytesize=8, parity="N", stopbits=1, xonxoff=True)
    default_timeout_s = 1.0
    #: a reset controller reboots; give it this long to answer TS again
    reset_timeout_s = 10.0

    def __init__(
        self,
        address: str,
        *,
        controller_address: int = 1,
        min_angle_deg: float = 20.0,
        max_angle_deg: float = 130.0,
        backlash_deg: float = 0.5,
        poll_interval_s: float = 0.1,
        move_timeout_s: float = 120.0,
        position_tolerance_deg: float = DEFAULT_POSITION_TOLERANCE_DEG,
        wait_travel: bool = True,
        **base_kwargs,
    ) -> None:
        if not (isinstance(controller_address, int) and 1 <= controller_address <= 31):
            raise ValueError(f"controller_address must be an integer 1 to 31, got {controller_address!r}")
        if not (math.isfinite(min_angle_deg) and math.isfinite(max_angle_deg) and min_angle_deg < max_angle_deg):
            raise ValueError(f"need finite min_angle_deg < max_angle_deg, got {min_angle_deg!r}, {max_angle_deg!r}")
        if not (backlash_deg >= 0 and math.isfinite(backlash_deg)):
            raise ValueError(f"backlash_deg must be >= 0, got {backlash_deg!r}")
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        if not move_timeout_s > 0:
            raise ValueError(f"move_timeout_s must be > 0, got {move_timeout_s!r}")
        if not (math.isfinite(position_tolerance_deg) and position_tolerance_deg > 0):
            raise ValueError(f"position_tolerance_deg must be > 0, got {position_tolerance_deg!r}")
        self.controller_address = controller_address
        self.min_angle_deg = float(min_angle_deg)
        self.max_angle_deg = float(max_angle_deg)
        self.backlash_deg = float(backlash_deg)
        self.poll_interval_s = float(poll_interval_s)
        self.move_timeout_s = float(move_timeout_s)
        self.position_tolerance_deg = float(position_tolerance_deg)
        self._velocity: float | None = None  # cached VA for travel-time estimates
        self.wait_travel = wait_travel
        super().__init__(address, **base_kwargs)

    # ------------------------------------------------------------ conversation
    def _command_text(self, mnemonic: str, value: str = "") -> str:
        return f"{self.controller_address}{mnemonic}{value}"

    def _query(self, mnemonic: str, suffix: str = "") -> str:
        """Ask ``<addr><mnemonic><suffix>``; return the reply after the ``<addr><mnemonic>`` echo.

        A query the controller refuses (wrong state) gets no reply at all: after a
        timeout the driver reads ``TE`` so that the error says why, when it can.
        """
        command = self._command_text(mnemonic, suffix)
        with self._lock:  # the follow-up TE must be ours, not another thread's
            try:
                reply = self.ask(command)
            except InstrumentTimeout as timeout:
                if mnemonic != "TE":
                    self._raise_if_refused(command, timeout)
                raise
        echo = self._command_text(mnemonic)
        if not reply.upper().startswith(echo):
            raise self.garbled(command, reply, f"reply does not start with {echo!r}")
        return reply[len(echo) :].strip()

    def _raise_if_refused(self, command: str, timeout: InstrumentTimeout) -> None:
        try:
            letter, meaning = self.last_error()
        except InstrumentError:
            return  # the link itself is silent: the original timeout says it best
        if letter != "@":
            raise self._refused(command, letter, meaning) from timeout

    def _refused(self, command: str, letter: str, meaning: str) -> SMC100CommandError:
        return SMC100CommandError(
            f"controller refused the command: error {letter} ({meaning})",
            letter=letter,
            instrument=self.name,
            address=self.address,
            command=command,
            reply=f"{self.controller_address}TE{letter}",
        )

    def _send(self, mnemonic: str, value: str = "") -> None:
        """Send a set command and read ``TE``: the controller answers set commands only there."""
        command = self._command_text(mnemonic, value)
        with self._lock:
            self.write(command)
            letter, meaning = self.last_error()
        if letter != "@":
            raise self._refused(command, letter, meaning)

    def _query_float(
        self, mnemonic: str, suffix: str = "", low: float = -SOFTWARE_LIMIT_RANGE, high: float = SOFTWARE_LIMIT_RANGE
    ) -> float:
        """A numeric query; the value must be a finite decimal within ``low..high`` (the manual's range)."""
        payload = self._query(mnemonic, suffix)
        try:
            value = parse_float(payload)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            command = self._command_text(mnemonic, suffix)
            raise self.garbled(
                command, self._command_text(mnemonic, payload), f"value is not a finite number in {low:g} to {high:g}"
            )
        return value

    # ------------------------------------------------------------ status
    @property
    def position_deg(self) -> float:
        """Present position (``TP``), degrees."""
        return self._query_float("TP")

    @property
    def target_position_deg(self) -> float:
        """Target of the last absolute move (``PA?``), degrees."""
        return self._query_float("PA", "?")

    def state(self) -> ControllerState:
        """Positioner error bits and controller state (``TS``)."""
        payload = self._query("TS")
        raw = self._command_text("TS", payload)
        try:
            return decode_state(raw, payload)
        except ValueError as exc:
            raise self.garbled(self._command_text("TS"), raw, str(exc)) from None

    def last_error(self) -> tuple[str, str]:
        """Last command error (``TE``) as ``(letter, meaning)``; ``('@', 'No error')`` if none.

        Reading clears it on the controller.
        """
        payload = self._query("TE")
        if len(payload) != 1 or payload not in COMMAND_ERRORS:
            command = self._command_text("TE")
            raise self.garbled(command, self._command_text("TE", payload), "not one of the manual's TE error letters")
        return payload, COMMAND_ERRORS[payload]

    # ------------------------------------------------------------ motion
    def home(self, *, timeout_s: float | None = None) -> None:
        """Execute the home search (``OR``) and wait until the controller is READY.

        The SMC100 accepts ``OR`` only in NOT REFERENCED: on a controller that is
        already referenced this returns at once (call :meth:`reset` first to force a
        new home search).
        """
        state = self.state()
        if state.referenced and state.ready:
            self.log.info(
                "%s at %s: already referenced (%s), no home search", self.name, self.address, state.state_name
            )
            return
        self._refuse_unless(state, ok=state.state_code in NOT_REFERENCED_STATES, doing="home search")
        deadline = self.clock.now() + (self.move_timeout_s if timeout_s is None else timeout_s)
        self._send("OR")
        self._wait_ready(deadline, what="home search", target_deg=None)

    def move_to(self, angle_deg: float, *, timeout_s: float | None = None) -> float:
        """Rotate the analyzer to ``angle_deg``, approaching from below; return the final ``TP``.

        Refused before sending outside ``min_angle_deg``..``max_angle_deg``.  The
        controller must be referenced (:meth:`home`); this never homes by itself,
        since a home search swings the analyzer through the whole range.  A move
        still under way (a retry after a lost reply) is waited for first.

        The return value is the angle measured, not the angle asked for: the position
        the controller reports once READY.  More than ``position_tolerance_deg`` from
        the target is a missed move: :class:`DeviceError` naming target, position and
        tolerance.  A miss is read twice first; two readings that disagree by more
        than the tolerance are a garbled reply (:class:`GarbledReply`), not a miss.
        """
        angle_deg = float(angle_deg)
        if not (math.isfinite(angle_deg) and self.min_angle_deg <= angle_deg <= self.max_angle_deg):
            raise self.limit_error(
                "angle_deg",
                angle_deg,
                f"{self.min_angle_deg:g} to {self.max_angle_deg:g} deg (configured min_angle_deg/max_angle_deg)",
            )
        deadline = self.clock.now() + (self.move_timeout_s if timeout_s is None else timeout_s)
        state = self.state()
        if state.moving:
            # a move still under way (e.g. its replies were lost and the call is retried): let it end
            state = self._wait_ready(deadline, what="previous move", target_deg=None)
        if not state.referenced:
            todo = "wait for the home search to end" if state.homing else "home it first (home())"
            raise self.device_error(
                self._command_text("TS"),
                state.raw,
                f"controller is {state.state_name}: {todo} before moving to {angle_deg:g} deg",
            )
        self._refuse_unless(state, ok=state.ready, doing=f"move to {angle_deg:g} deg")
        here = self.position_deg
        if angle_deg < here:
            # Coming from above: go below the target first so the last approach is
            # upward, like every other move.  Never below the configured range.
            below = max(angle_deg - self.backlash_deg, self.min_angle_deg)
            self._move_segment(below, deadline, angle_deg, here)
            here = below
        self._move_segment(angle_deg, deadline, angle_deg, here)
        return self._final_position(angle_deg)

    def _final_position(self, target_deg: float) -> float:
        """``TP`` after a move; a miss beyond the tolerance is a DeviceError (see :meth:`move_to`)."""
        tolerance = self.position_tolerance_deg
        position = self.position_deg
        if abs(position - target_deg) <= tolerance:
            return position
        # TP is a plain decimal of no fixed width: '1TP6' may be '1TP60' short of a byte.
        # A stage that stopped short reads the same twice.
        again = self.position_deg
        command = self._command_text("TP")
        if abs(again - position) > tolerance:
            raise self.garbled(
                command, f"{self._command_text('TP', format_number(position))}, then "
                f"{self._command_text('TP', format_number(again))}",
                f"position after the move to {target_deg:g} deg reads {position:g} deg, then {again:g} deg",
            )
        raise self.device_error(
            command, self._command_text("TP", format_number(again)),
            f"move to {target_deg:g} deg ended at {again:g} deg, {abs(again - target_deg):g} deg off: "
            f"beyond the position tolerance of {tolerance:g} deg",
        )

    def _move_segment(self, position_deg: float, deadline: float, target_deg: float, from_deg: float) -> None:
        self._send("PA", format_number(position_deg))
        # Sleep through the constant-velocity travel time before polling TS: polling a
        # 20 s move every 0.1 s is 200 queries for nothing.  Acceleration makes the real
        # move a little longer; the polls cover that.
        if self.wait_travel and self._velocity is None:
            self._velocity = self.velocity_deg_s
        if self.wait_travel and self._velocity > 0:
            travel_s = abs(position_deg - from_deg) / self._velocity
            self.clock.sleep(max(0.0, min(travel_s, deadline - self.clock.now())))
        self._wait_ready(deadline, what=f"move to {target_deg:g} deg", target_deg=target_deg)

    def _refuse_unless(self, state: ControllerState, *, ok: bool, doing: str) -> None:
        if ok:
            return
        hint = " (enable() leaves DISABLE)" if state.disabled else ""
        why = f"cannot start {doing}: controller is {state.describe()}{hint}"
        raise self.device_error(self._command_text("TS"), state.raw, why)

    def _wait_ready(self, deadline: float, *, what: str, target_deg: float | None) -> ControllerState:
        """Poll ``TS`` until READY; a positioner error, an unexpected state or the deadline raises."""
        while True:
            state = self.state()
            if state.error_bits:
                raise self.device_error(
                    self._command_text("TS"),
                    state.raw,
                    f"{what}: positioner error {', '.join(state.errors)} (controller {state.state_name})",
                    code=state.error_bits,
                )
            if state.ready:
                return state
            if not (state.moving or state.homing):
                raise self.device_error(
                    self._command_text("TS"), state.raw, f"{what} ended in state {state.state_name}"
                )
            if self.clock.now() >= deadline:
                self._give_up(what, target_deg, state)
            self.clock.sleep(self.poll_interval_s)

    def _give_up(self, what: str, target_deg: float | None, state: ControllerState) -> None:
        self.stop()
        try:
            position = f"{self.position_deg:g} deg"
        except InstrumentError:
            position = "unknown"
        target = "" if target_deg is None else f" (target {target_deg:g} deg)"
        raise MotionTimeout(
            f"{what}{target} not finished in time: last position {position}, state {state.state_name}; stage stopped",
            instrument=self.name,
            address=self.address,
            command=self._command_text("TS"),
            reply=state.raw,
        )

    def stop(self) -> None:
        """Stop motion (``ST``): a move decelerates to READY, a home search ends NOT REFERENCED.

        Stopping must work whatever state the controller is in, so ``TE`` is read and
        discarded, not raised: ``ST`` in NOT REFERENCED or CONFIGURATION is refused (error
        ``H``/``I``) and the controller memorises that letter until ``TE`` is read, so
        without this read the next set command would be blamed for the stop's error.
        A ``TE`` that gets no reply, or a garbled one, is logged: the ``ST`` itself went out.
        """
        command = self._command_text("ST")
        with self._lock:  # the TE read must be the stop's, not another thread's command's
            self.write(command)
            try:
                letter, meaning = self.last_error()
            except (InstrumentTimeout, GarbledReply) as exc:
                self.log.warning("%s at %s: no readable TE after %s: %s", self.name, self.address, command, exc)
                return
        if letter != "@":
            self.log.debug("%s at %s: %s refused in this state: %s (%s)", self.name, self.address, command, letter, meaning)

    def reset(self) -> None:
        """Reset the controller (``RS``): it reboots into NOT REFERENCED and must be homed again."""
        self.write(self._command_text("RS"))
        self._velocity = None
        deadline = self.clock.now() + self.reset_timeout_s
        while True:
            self.clock.sleep(self.poll_interval_s)
            try:
                state = self.state()
            except InstrumentTimeout:
                if self.clock.now() >= deadline:
                    raise
                continue  # still rebooting
            if not state.referenced:
                return
            if self.clock.now() >= deadline:
                raise self.device_error(self._command_text("RS"), state.raw, f"still {state.state_name} after reset")

    def enable(self) -> None:
        """Leave DISABLE (``MM1``): motor on, READY from DISABLE."""
        self._send("MM", "1")

    def disable(self) -> None:
        """Enter DISABLE (``MM0``): motor off, position still known."""
        self._send("MM", "0")

    # ------------------------------------------------------------ configuration
    @property
    def software_limits(self) -> tuple[float, float]:
        """``(negative, positive)`` software limits (``SL?``, ``SR?``), degrees.

        The controller answers only in CONFIGURATION, DISABLE or READY.
        """
        return (
            self._query_float("SL", "?", -SOFTWARE_LIMIT_RANGE, 0.0),
            self._query_float("SR", "?", 0.0, SOFTWARE_LIMIT_RANGE),
        )

    def set_software_limits(self, low_deg: float, high_deg: float) -> None:
        """Set the working software limits (``SL``, ``SR``; not stored in the controller's memory).

        The manual allows SL in -1e12..0 and SR in 0..1e12 (home is 0), and in
        READY each must enclose the present set-point; checked here before sending
        as far as the driver can, and read back from ``TE`` for the rest.
        """
        low_deg, high_deg = float(low_deg), float(high_deg)
        if not (math.isfinite(low_deg) and -SOFTWARE_LIMIT_RANGE <= low_deg <= 0):
            raise self.limit_error("negative software limit (SL)", low_deg, "-1e12 to 0 deg")
        if not (math.isfinite(high_deg) and 0 <= high_deg <= SOFTWARE_LIMIT_RANGE):
            raise self.limit_error("positive software limit (SR)", high_deg, "0 to 1e12 deg")
        if not low_deg < high_deg:
            raise self.limit_error("software limits", (low_deg, high_deg), "low < high")
        self._send("SL", format_number(low_deg))
        self._send("SR", format_number(high_deg))

    @property
    def velocity_deg_s(self) -> float:
        """Move velocity (``VA``), degrees per second (above 0, at most 1e12)."""
        value = self._query_float("VA", "?", 0.0, SOFTWARE_LIMIT_RANGE)
        if value == 0.0:
            raise self.garbled(self._command_text("VA", "?"), self._command_text("VA", "0"), "a velocity of 0")
        return value

    @velocity_deg_s.setter
    def velocity_deg_s(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and 0 < value <= 1e12):
            raise self.limit_error("velocity_deg_s", value, "> 0 (and at most the stage's maximum)")
        self._send("VA", format_number(value))
        self._velocity = None

    # ------------------------------------------------------------ identity
    def stage_id(self) -> str:
        """Stage identifier (``ID?``)."""
        return self._query("ID", "?")

    def firmware_version(self) -> str:
        """Controller revision information (``VE``), e.g. ``SMC_CC - Controller-driver version 3. 1. 2``."""
        return self._query("VE")

    def identity(self) -> str:
        return f"{self.firmware_version()}; stage {self.stage_id()}"

    def settings(self) -> dict[str, Any]:
        state = self.state()
        out: dict[str, Any] = {
            "controller_address": self.controller_address,
            "min_angle_deg": self.min_angle_deg,
            "max_angle_deg": self.max_angle_deg,
            "backlash_deg": self.backlash_deg,
            "position_tolerance_deg": self.position_tolerance_deg,
            "state": state.state_name,
            "state_code": state.state_code,
            "positioner_errors": list(state.errors),
            "position_deg": self.position_deg,
            "velocity_deg_s": self.velocity_deg_s,
        }
        if state.ready or state.disabled or state.configuration:
            # SL?/SR? get no reply in other states
            out["software_limits_deg"] = list(self.software_limits)
        return out

    def probe(self) -> dict[str, Any]:
        """A quick health check that changes nothing on the stage: who, where, in what state."""
        state = self.state()
        letter, meaning = self.last_error()
        return {
            "identity": self.identity(),
            "state": state.state_name,
            "state_code": state.state_code,
            "referenced": state.referenced,
            "ready": state.ready,
            "positioner_errors": list(state.errors),
            "position_deg": self.position_deg,
            "last_error": f"{letter} {meaning}",
        }


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = NewportSMC100
