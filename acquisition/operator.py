"""The person at the apparatus, for what xbeam cannot do itself: turning a manual leak
valve until a gas line reads the pressure a procedure asks for.

A procedure asks through an :class:`Operator`, giving a :class:`PressureRequest` and a
``read`` callable that returns the line's manometer in mbar (through the engine's own
driver, so the reading the operator confirms is the one the run records).  The call
returns when the operator has confirmed; it raises :class:`OperatorDeclined` when they
decline (the run then stops in the safe state: it cannot go on without the pressure).

* :class:`PromptOperator`: the command line.  It shows the live reading against the
  target and waits for Enter; a confirmation outside the tolerance is refused and asked
  again, so a mistyped Enter cannot start a measurement at the wrong pressure.
* With ``--sim`` the command line hands the procedure the simulator's operator, who
  turns the simulated valve (``simulators.operator.SimulatedOperator``).
* The window asks with a dialog (``gui``).
* A motorised leak valve (``leak_valve = "motorised"`` in the apparatus file) would be
  an Operator that drives its motor; none exists yet, and a plan that needs one is
  refused (:func:`acquisition.plans.parse_plan`).
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from drivers.errors import InstrumentError

__all__ = ["Operator", "OperatorDeclined", "PressureRequest", "PromptOperator", "within"]


@dataclass(frozen=True)
class PressureRequest:
    """Set ``line`` (holding ``gas``) to ``target_mbar`` within ``tolerance`` (relative)."""

    line: str
    gas: str
    target_mbar: float
    tolerance: float = 0.02
    why: str = ""  #: shown to the operator ("equal mean free paths: 0.50 mm")

    def describe(self) -> str:
        return (f"set the {self.gas} leak valve ({self.line} line) to {self.target_mbar:.4g} mbar "
                f"(within {self.tolerance:.0%})" + (f": {self.why}" if self.why else ""))


def within(request: PressureRequest, reading_mbar: float) -> bool:
    """The reading is finite and within the request's tolerance of its target."""
    return math.isfinite(reading_mbar) and abs(reading_mbar - request.target_mbar) <= (
        request.tolerance * request.target_mbar)


class OperatorDeclined(RuntimeError):
    """The operator did not set the pressure (declined, or gave up)."""


class Operator(Protocol):
    def set_line_pressure(self, request: PressureRequest, read: Callable[[], float]) -> None:
        """Return once the line reads the target and the operator confirmed it."""


class PromptOperator:
    """Asks on a terminal: the live reading every ``refresh_s`` wall seconds until Enter
    (or ``q`` + Enter to decline)."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None, *, refresh_s: float = 1.0) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stderr
        self.refresh_s = refresh_s

    def set_line_pressure(self, request: PressureRequest, read: Callable[[], float]) -> None:
        out = self.stdout
        while True:
            print(f"\nxbeam: operator: {request.describe()}.\n  Press Enter when the gauge reads it "
                  "(q + Enter stops the run).", file=out, flush=True)
            answer = self._wait_for_line(request, read)
            if answer.strip().lower() in ("q", "quit", "stop"):
                raise OperatorDeclined(f"the operator declined to {request.describe()}")
            reading = read()
            if within(request, reading):
                print(f"  confirmed: {reading:.4g} mbar", file=out, flush=True)
                return
            print(f"  the gauge reads {reading:.4g} mbar, outside {request.tolerance:.0%} of "
                  f"{request.target_mbar:.4g} mbar: turn the valve further", file=out, flush=True)

    def _wait_for_line(self, request: PressureRequest, read: Callable[[], float]) -> str:
        """The typed line, showing the reading meanwhile (stdin read on a helper thread,
        so the reading keeps updating; end of input declines)."""
        got: list[str] = []
        done = threading.Event()

        def take() -> None:
            got.append(self.stdin.readline())
            done.set()

        threading.Thread(target=take, name="xbeam-operator-input", daemon=True).start()
        while not done.wait(self.refresh_s):
            try:
                reading = read()
            except InstrumentError as exc:  # a gauge hiccup must not lose the prompt (an abort goes through)
                text = f"unreadable ({exc})"
            else:
                mark = "ok" if within(request, reading) else "  "
                text = f"{reading:.4g} mbar [{mark}] target {request.target_mbar:.4g}"
            print(f"\r  {request.line} line: {text}   ", end="", file=self.stdout, flush=True)
        line = got[0] if got else ""
        return line if line else "q"  # end of input: nobody is there to turn the valve
