"""The relative-DCS scan: the points of a plan, each a signal and a background gate.

For every point: energy (tune), angle, gas through the needle (signal) and through the
side leak (background), each counted in sub-gates under the interlocks
(:meth:`acquisition.runner.Runner.count`).  Whichever gas path is open goes first, so
a point costs one valve change, not two.  The reduction of the gates to a relative DCS
is :class:`acquisition.reduction.DcsReducer` (the pure ``reduce_dcs_point`` and what one
point needs from the earlier ones), which analysis uses on run files too.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, ClassVar

from acquisition import counting
from acquisition.events import Gate, Point, PointFlag
from acquisition.reduction import DcsReducer, DetectorModel, effective_volume_factors

__all__ = ["DcsScan"]


class DcsScan:
    """Runs a :class:`~acquisition.plans.Plan` on the apparatus it was validated for."""

    kind: ClassVar[str] = "dcs"
    #: the apparatus file's effective-volume factors are applied (not in the run that measures them)
    applies_effective_volume: ClassVar[bool] = True
    #: the scan uses its gas's line only (the others are closed when it starts)
    uses_one_line: ClassVar[bool] = True

    def __init__(self, plan, config) -> None:
        self.plan = plan
        self.config = config
        ev = config.effective_volume if self.applies_effective_volume else None
        # one factor per planned angle, interpolated once (ValueError now if outside the table)
        factors = effective_volume_factors(plan.scan.angles_deg, *((ev.angles_deg, ev.factors) if ev else ()))
        #: the gas line holding the plan's gas (the target line unless another declares it)
        self.line = config.line_for(plan.scan.gas).name
        self.reducer = DcsReducer(DetectorModel.from_config(config.detector), factors,
                                  background_subtracted=plan.background.mode != "none")
        # the longer of the plan's and the gas line's settle time (plans.SettleConfig)
        self._gas_settle_s = max(plan.settle.gas_s, config.gas_line.settle_s)

    # ------------------------------------------------------------ the runner's calls
    def points(self):
        return self.plan.points()

    def run_start(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "plan": plan.to_dict(),
            "plan_text": plan.text,
            "metadata": dataclasses.asdict(plan.metadata),
            "energies_eV": tuple(plan.scan.energies_eV),
            "angles_deg": tuple(plan.scan.angles_deg),
            "sweeps": plan.scan.sweeps,
        }

    def prepare(self, run) -> None:
        run.apparatus.prepare()
        self._close_other_lines(run)

    def _close_other_lines(self, run) -> None:
        """Every line but the procedure's own away from the chamber and not shut (a crash
        may have left one on the needle, where its gas would add to the signal)."""
        others = {name: "closed" for name in self.config.gas_lines if name != self.line}
        if others and type(self).uses_one_line:
            run.call("other gas lines closed", partial(run.apparatus.route_gas, others, 0.0))

    def _measure_line(self, run, line: str) -> None:
        """The monitors' line pressure is ``line``'s, on the needle or not (a resumed or
        unprepared run included: set before every point, not only in prepare)."""
        if getattr(run.apparatus, "measured_line", line) != line:
            run.apparatus.measured_line = line

    def measure(self, run, pp, attempt: int) -> Point:
        self._measure_line(run, self.line)
        self._goto(run, pp)
        app = run.apparatus
        kinds = ["signal"]
        if pp.measure_background:
            # whichever path is open now goes first: one valve change per point, not two
            open_now = app.gas_paths.get(self.line)
            kinds = ["background", "signal"] if open_now == "side_leak" else ["signal", "background"]
        gates: dict[str, Gate] = {}
        for kind in kinds:
            path = "needle" if kind == "signal" else "side_leak"
            if app.gas_paths.get(self.line) != path:
                run.call("select gas path", partial(app.select_gas, path, self._gas_settle_s, line=self.line))
            gates[kind] = self._gate(run, kind, pp, gates)
        return self._point(run, pp, gates["signal"], gates.get("background"), attempt)

    # ------------------------------------------------------------ one point
    def _goto(self, run, pp) -> None:
        app, settle = run.apparatus, self.plan.settle
        if app.energy_eV != pp.energy_eV:
            # step by step: a transient fault in one module's ramp retries that ramp only
            for what, step in app.tune_steps(pp.energy_eV):
                run.call(f"set energy {pp.energy_eV:g} eV: {what}", step)
            run.clock.sleep(settle.energy_s)
            run.publish_status()  # the panel's electrode readbacks at the new tune
        if app.angle_deg != pp.angle_deg:
            run.call("move goniometer", app.move_to, pp.angle_deg)
            run.clock.sleep(settle.angle_s)

    def _gate(self, run, kind: str, pp, gates: dict[str, Gate]) -> Gate:
        counting_cfg = self.plan.counting
        subgate_s = counting_cfg.subgate_s
        if counting_cfg.target_precision is None:
            dwell = counting_cfg.dwell_s if kind == "signal" else counting_cfg.background_dwell_s
            n = max(1, round(dwell / subgate_s))
            enough = None
        else:
            n = max(1, math.ceil(counting_cfg.max_time_s / subgate_s))
            enough = self._precision_rule(kind, pp, gates, subgate_s)
        return run.count(subgate_s, n, pp.key, enough)

    def _precision_rule(self, kind: str, pp, gates: dict[str, Gate], subgate_s: float):
        """Stop rule for counting to a target precision of the net rate.

        If the other gate of this point is already measured, stop as soon as the net
        rate's relative uncertainty reaches the target.  Otherwise stop when this gate
        has had its optimal share (ts/tb = sqrt(Rs/Rb)) of the time the target needs,
        the other rate taken from this sweep and energy's previous point.  With no
        previous point, a signal is counted as if there were no background and a
        background to the target precision of its own.
        """
        target = self.plan.counting.target_precision
        other = gates.get("background" if kind == "signal" else "signal")
        previous = self.reducer.last_raw_rates(pp.sweep, pp.energy_index)

        def enough(counts: list[int]) -> bool:
            n_here, t_here = sum(counts), len(counts) * subgate_s
            if other is not None:
                ns, ts, nb, tb = (
                    (n_here, t_here, other.counts, other.gate_s)
                    if kind == "signal"
                    else (other.counts, other.gate_s, n_here, t_here)
                )
                return counting.relative_uncertainty(ns, ts, nb, tb) <= target
            if not pp.measure_background or (kind == "background" and previous is None):
                return n_here > 0 and 1 / math.sqrt(n_here) <= target
            rate = n_here / t_here
            rs, rb = (rate, previous[1] if previous else 0.0) if kind == "signal" else (previous[0], rate)
            total = counting.time_for_precision(rs, rb, target)
            if not math.isfinite(total):
                return False
            ts, tb = counting.split_time(total, rs, rb)
            return t_here >= (ts if kind == "signal" else tb)

        return enough

    def _point(self, run, pp, signal: Gate, background: Gate | None, attempt: int) -> Point:
        reduced = self.reducer.reduce(pp.sweep, pp.energy_index, pp.angle_deg, signal, background)
        flags = reduced.flags | (PointFlag.REDONE if attempt > 1 else PointFlag.NONE)
        return Point(
            seq=run.seq,
            sweep=pp.sweep,
            energy_index=pp.energy_index,
            angle_index=pp.angle_index,
            energy_eV=pp.energy_eV,
            angle_deg=pp.angle_deg,
            signal=signal,
            background=background,
            derived=reduced.result,
            flags=flags,
            attempts=attempt,
        )
