"""Resident-memory growth of the queue per 100,000 points, in virtual time.

The queue runner, the session, the runner and storage (one run file per item, every
point written) on the zero-latency fake apparatus: what grows is the software's own
state, not an instrument's.  Items of 2 energies x 25 angles x 2 sweeps (100 points,
one 5 s gate each) are queued until ``--points``; RSS is read after a warm-up
(``--warmup`` points: imports, caches, the first files) and at the end.

    python bench/soak_memory.py [--points 100000] [--warmup 5000]

Target (issue 11): <= 20 MB per 100k points (the bluesky RunEngine grows about
150 MB per 100k points on this machine).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.config import parse_apparatus  # noqa: E402
from acquisition.events import Point  # noqa: E402
from acquisition.fakes import FakeApparatus  # noqa: E402
from acquisition.plans import parse_plan  # noqa: E402
from acquisition.queue import QueueRunner, QueueStore  # noqa: E402
from acquisition.session import Session  # noqa: E402
from foundation.clock import VirtualClock  # noqa: E402
from simulators.apparatus import SimulatedApparatus  # noqa: E402

PLAN = """
[metadata]
sample = "memory"
[scan]
gas = "isoflurane"
energies_eV = [100, 200]
angles_deg = {{ start = 20, stop = 132, step = 4.666666666666667 }}
sweeps = 2
[counting]
dwell_s = 5.0
subgate_s = 5.0
[background]
mode = "none"
[settle]
energy_s = 1.0
angle_s = 0.5
gas_s = 1.0
"""


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Meter:
    """Bus subscriber: RSS once the warm-up is done."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.points, self.rss_warm, self.t_warm = warmup, 0, None, None

    def __call__(self, event) -> None:
        if isinstance(event, Point):
            self.points += 1
            if self.points == self.warmup:
                gc.collect()
                self.rss_warm, self.t_warm = rss_mb(), time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with SimulatedApparatus(VirtualClock()) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
    clock = VirtualClock()
    plan = parse_plan(PLAN.format(), source="memory.toml", apparatus=config)
    per_item = plan.n_points
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = QueueStore(tmp / "memory.sqlite")
        for _ in range(-(-args.points // per_item)):
            store.add_plan(plan, apparatus=config)
        meter = Meter(args.warmup)
        session = Session(FakeApparatus(config, clock), clock=clock, monitor_interval_s=None)
        session.bus.subscribe(meter)
        rss0, wall0 = rss_mb(), time.perf_counter()
        outcome = QueueRunner(store, session, run_dir=tmp / "runs", fsync=False).run()
        session.close()
        gc.collect()
        rss1, wall1 = rss_mb(), time.perf_counter()
        store.close()
    grown = rss1 - meter.rss_warm
    measured = meter.points - args.warmup
    print(f"queue: {outcome.status}; {outcome.count('done')} items of {per_item} points, {meter.points} points, "
          f"{clock.now() / 3600:.0f} h of beam time (virtual), {wall1 - wall0:.0f} s wall")
    print(f"RSS: {rss0:.1f} MB at the start, {meter.rss_warm:.1f} MB after {args.warmup} points, "
          f"{rss1:.1f} MB at the end")
    print(f"growth: {grown:.1f} MB over {measured} points = {grown / measured * 1e5:.1f} MB per 100,000 points "
          "(target <= 20)")


if __name__ == "__main__":
    main()
