"""A simulated operator: the person who turns a manual leak valve until the line gauge
reads the pressure xbeam asks for (``xbeam run --sim``).

Like a person at the valve, :class:`SimulatedOperator` reads the gauge through the
reading it is given (the engine's driver: it sees what xbeam sees, noise and all),
turns the world's leak valve, waits on the world's clock and reads again.  Its first
turn is the opening the valve's flow model says holds the pressure (the person knows
the valve); then, every ``reaction_s``, it turns the valve further from that opening in
proportion to how far off the reading is (an over-turn that brings the line to the
pressure in a fraction of its own time constant, a few minutes) and corrects the
opening it holds for what the model got wrong (the reservoir drifts).  It is done when
two readings ``reaction_s`` apart are both within the tolerance, and gives up
(:class:`OperatorGaveUp`) after ``give_up_s`` of clock time.
"""

from __future__ import annotations

import logging
import math

__all__ = ["OperatorGaveUp", "SimulatedOperator"]

log = logging.getLogger(__name__)

#: turn per relative error: opening = held * (1 + GAIN * (target - p) / target).  The
#: line relaxes (1 + GAIN) times faster than its own time constant (75-160 s); with a
#: reading every 5 s the loop stays stable up to a gain of about tau / 5 s
_GAIN = 4.0
#: per reading, the held opening moves by this fraction of the relative error
_INTEGRAL = 0.01
#: ... only once the reading is this close (relative), so the long approach from far
#: away does not wind the held opening up
_NEAR = 0.05


class OperatorGaveUp(RuntimeError):
    """The operator could not bring the line to the pressure asked for (out of the
    valve's reach, a gauge that does not follow, the wrong gas in the line)."""


class SimulatedOperator:
    """Sets a simulated gas line's pressure with its manual leak valve (see module docstring).

    ``tolerance``: the relative accuracy the person aims at (the request's own
    tolerance, if tighter, wins); ``reaction_s``: clock time between two readings.
    """

    def __init__(self, world, *, tolerance: float = 0.01, reaction_s: float = 5.0, give_up_s: float = 3600.0) -> None:
        if not tolerance > 0:
            raise ValueError(f"tolerance = {tolerance!r}: must be > 0 (relative)")
        if not reaction_s > 0:
            raise ValueError(f"reaction_s = {reaction_s!r}: must be > 0 (s)")
        self.world = world
        self.tolerance = float(tolerance)
        self.reaction_s = float(reaction_s)
        self.give_up_s = float(give_up_s)
        self.readings: list[tuple[float, float]] = []  # (clock time, mbar) of the last request, for tests

    def set_line_pressure(self, request, read) -> None:
        """Bring ``request.line`` to ``request.target_mbar`` within the tolerance, reading
        the gauge with ``read()`` (mbar); returns when two readings ``reaction_s`` apart
        are both within it.  Raises :class:`OperatorGaveUp`."""
        world, clock = self.world, self.world.clock
        line, target = request.line, float(request.target_mbar)
        tolerance = self.tolerance
        if getattr(request, "tolerance", None):
            tolerance = min(tolerance, float(request.tolerance))
        gas = getattr(request, "gas", None)
        holds = world.gases[line].name if line in getattr(world, "gases", {}) else None
        if gas and holds is not None and gas != holds:
            raise OperatorGaveUp(f"the {line} line holds {holds}, not {gas}: the operator will not set it")
        if not (math.isfinite(target) and target > 0):
            raise OperatorGaveUp(f"{target!r} mbar is not a pressure to set the {line} line to")
        outlets = world.lines[line].open_outlets
        try:
            held = world.leak_valve_for(line, target, max(outlets, 1))
        except ValueError as exc:
            raise OperatorGaveUp(f"{line} line: {exc}") from exc
        if held > 1.0:
            raise OperatorGaveUp(f"{line} line: {target:g} mbar needs the leak valve {held:.2f} times fully open")
        self.readings = []
        deadline = clock.now() + self.give_up_s
        within = False
        log.info("operator: %s line to %.4g mbar (tolerance %.2g), leak valve %.4f -> %.4f",
                 line, target, tolerance, world.leak_valve(line), held)
        while True:
            p = float(read())
            self.readings.append((clock.now(), p))
            error = (target - p) / target
            if abs(error) <= tolerance:
                if within:
                    world.set_leak_valve(line, min(1.0, held))
                    log.info("operator: %s line at %.4g mbar", line, p)
                    return
                within = True
            else:
                within = False
            if clock.now() >= deadline:
                raise OperatorGaveUp(f"{line} line reads {p:.4g} mbar after {self.give_up_s:g} s of turning "
                                     f"the leak valve, not {target:.4g} mbar within {tolerance:.1%}")
            turn = held * (1.0 + _GAIN * error)
            if abs(error) < _NEAR and 0.0 < turn < 1.0:  # near and not against a stop: no wind-up
                held = min(1.0, held * (1.0 + _INTEGRAL * error))
                turn = held * (1.0 + _GAIN * error)
            world.set_leak_valve(line, min(1.0, max(0.0, turn)))
            clock.sleep(self.reaction_s)
