"""Beam time lost to link faults: the same plan on the simulated apparatus with and
without faults injected at a fixed rate per exchange, in virtual time.

Every exchange with the counter and the three HV modules fails, with probability
``--rate``, as a dropped connection, a truncated reply or a garbled one (no wall-time
waits: each shows at once).  The runner retries; what it redoes after a fault is the
overhead.  A fault that outlives the retries pauses the run; the bench's operator
resumes it at once (the pauses are counted).  Baseline in the same run: the same plan, seed and world without faults.

    python bench/fault_overhead.py [--rate 0.003] [--plan FILE] [--seed 5]

Issue "Trust" measured +5 to +9 % beam time at high fault rates when a fault restarted
the whole tune or the whole count; retrying the step and keeping completed sub-gates
should bring it near the retry delays alone.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.apparatus import connect  # noqa: E402
from acquisition.config import parse_apparatus  # noqa: E402
from acquisition.events import EventBus, Paused  # noqa: E402
from acquisition.plans import load_plan  # noqa: E402
from acquisition.procedures import DcsScan  # noqa: E402
from acquisition.runner import Runner  # noqa: E402
from acquisition.storage import RunRecorder  # noqa: E402
from foundation.clock import RealClock, VirtualClock  # noqa: E402
from simulators.apparatus import SimulatedApparatus  # noqa: E402
from simulators.server import Faults  # noqa: E402
from simulators.world import WorldConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("counter", "hv_gun", "hv_analyzer", "hv_detector")
_wall = RealClock()


class RandomFaults(Faults):
    """Each exchange fails with probability ``rate`` (seeded): drop, truncate or garble."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        super().__init__()
        self.rate, self.rng, self.injected = rate, rng, 0

    def _take(self, kinds):
        if self.rng.random() < self.rate:
            kind = self.rng.choice([k for k in ("drop", "truncate", "garble") if k in kinds] or [None])
            if kind is not None:
                self.injected += 1
                return kind
        return None


def run(plan_path: Path, rate: float, seed: int) -> tuple[float, int, int, float, int]:
    """Beam time (s), points, faults injected, wall time (s), operator pauses of one run."""
    clock = VirtualClock()
    rng = random.Random(seed)
    with SimulatedApparatus(clock, WorldConfig(seed=seed)) as sim, tempfile.TemporaryDirectory() as tmp:
        config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
        plan = load_plan(plan_path, apparatus=config)
        apparatus = connect(config, clock)
        faults = {role: RandomFaults(rate, rng) for role in ROLES}
        for role, f in faults.items():
            sim.servers[role].faults = f
        bus = EventBus()
        recorder = RunRecorder(Path(tmp) / "run.h5")
        bus.subscribe(recorder, critical=True)
        runner = Runner(apparatus, DcsScan(plan, config), bus=bus, clock=clock, retry_delay_s=1.0)
        pauses = []

        def operator(event):  # a fault that outlived the retries pauses the run: resume it at once
            if isinstance(event, Paused):
                pauses.append(event)
                threading.Thread(target=lambda: (_wall.sleep(0.05), runner.resume()), daemon=True).start()

        bus.subscribe(operator)
        t0, wall0 = clock.now(), time.perf_counter()
        stop = runner.run()
        beam_time = clock.now() - t0
        recorder.close(stop)
        apparatus.close()
        if stop.status != "success":
            raise SystemExit(f"run {stop.status}: {stop.reason}")
        injected = sum(f.injected for f in faults.values())
        return beam_time, stop.points_done, injected, time.perf_counter() - wall0, len(pauses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=ROOT / "examples" / "isoflurane_overnight.toml")
    parser.add_argument("--rate", type=float, default=0.003, help="fault probability per exchange")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the retries' warnings are the point, not output
    base = run(args.plan, 0.0, args.seed)
    faulty = run(args.plan, args.rate, args.seed)
    print(f"plan {args.plan.name}: {base[1]} points; faults on {', '.join(ROLES)} at {args.rate:g} per exchange")
    print(f"{'':32s}{'beam h':>8s}{'faults':>8s}{'pauses':>8s}{'ratio':>8s}{'wall s':>8s}")
    for label, r in (("baseline: no faults", base), ("with faults", faulty)):
        print(f"{label:32s}{r[0] / 3600:8.2f}{r[2]:8d}{r[4]:8d}{r[0] / base[0]:8.3f}{r[3]:8.1f}")
    print(f"overhead: {100 * (faulty[0] / base[0] - 1):+.1f} % beam time for {faulty[2]} faults "
          f"({(faulty[0] - base[0]) / max(faulty[2], 1):.1f} s of beam time per fault)")


if __name__ == "__main__":
    main()
