"""How often the window may redraw: a budget of the GUI thread's processor time.

The engine runs on the session's worker thread, in the same Python process as the
window.  Whatever the GUI thread computes (feeding events to the view-models, setting
plot data, Qt painting them) it does holding the interpreter lock for much of it, and
a run that is processor-bound (virtual time, or fast instruments) slows by that much.
A fixed 20 Hz redraw of a night of points costs more than the engine itself, so the
redraw period follows the GUI thread's measured share of a processor: longer when the
share is above the budget, back towards the fastest period when it is below.  With
nothing to draw the share is tiny and the window redraws at its fastest, so a point
or a fault appears at once; while a fast run floods it, it redraws a few times a second
and the run keeps its speed.

The measurement is the GUI thread's own processor time (``time.thread_time``) over the
wall time between two ticks, which counts Qt's painting too.
"""

from __future__ import annotations

__all__ = ["RedrawPacer"]


class RedrawPacer:
    """The next redraw period from the GUI thread's share of a processor."""

    def __init__(self, *, fastest_s: float = 0.05, slowest_s: float = 2.0, budget: float = 0.10,
                 smoothing: float = 0.5) -> None:
        """``budget``: the share of one processor the GUI thread may use (0.10: a
        processor-bound run slows by at most about a tenth); ``smoothing``: weight of the
        newest measurement in the running mean."""
        if not 0 < fastest_s <= slowest_s:
            raise ValueError("need 0 < fastest_s <= slowest_s")
        if not 0 < budget < 1:
            raise ValueError("budget is a fraction of one processor: 0 < budget < 1")
        self.fastest_s = fastest_s
        self.slowest_s = slowest_s
        self.budget = budget
        self.smoothing = smoothing
        self.interval_s = fastest_s
        self.share = 0.0  #: running mean of the GUI thread's share of a processor

    def update(self, cpu_s: float, wall_s: float) -> float:
        """Account for ``cpu_s`` of GUI-thread processor time over ``wall_s`` of wall
        time since the last call; the period until the next redraw (seconds)."""
        if wall_s <= 0:
            return self.interval_s
        share = max(0.0, cpu_s) / wall_s
        self.share += self.smoothing * (share - self.share)
        if self.share > self.budget:
            # proportionally slower, at most doubling per tick so one slow frame is not a freeze
            factor = min(2.0, self.share / self.budget)
        else:
            factor = 0.7  # back towards the fastest period, a little at a time
        self.interval_s = min(self.slowest_s, max(self.fastest_s, self.interval_s * factor))
        return self.interval_s
