"""Per-point engine overhead on zero-latency in-process fakes, virtual clock.

What is timed is the engine itself: plan walking, monitors and suspender checks
around every gate and sub-gate, the detector corrections, the Point/Progress events,
and (second row) the HDF5 writer subscribed to them, flushing every point.  The fake
apparatus answers from arithmetic and the virtual clock makes every wait free.

Baseline in the same run: an empty loop that builds the same number of Point
records without the engine (the floor of "doing anything at all per point").

    python bench/engine_overhead.py [--points 2000] [--repeat 3]

Target (issue 3): <= 65 us per point with storage off.  For scale: the bluesky
RunEngine costs about 1300 us per point with trivial devices on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.config import load_apparatus  # noqa: E402
from acquisition.events import EventBus  # noqa: E402
from acquisition.fakes import FakeApparatus  # noqa: E402
from acquisition.plans import parse_plan  # noqa: E402
from acquisition.procedures import DcsScan  # noqa: E402
from acquisition.runner import Runner  # noqa: E402
from foundation.clock import VirtualClock  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

PLAN = """
[metadata]
sample = "benchmark"
[scan]
gas = "isoflurane"
energies_eV = {energies}
angles_deg = {{ start = 25, stop = 124, step = 1 }}
sweeps = 2
[counting]
dwell_s = 10.0
background_dwell_s = 10.0
subgate_s = 10.0
[background]
mode = "every"
[settle]
energy_s = 1.0
angle_s = 1.0
gas_s = 1.0
"""


def plan_for(points: int, config):
    n_energies = max(1, points // 200)
    energies = [50 + 10 * i for i in range(min(n_energies, 26))]
    return parse_plan(PLAN.format(energies=energies), source="<bench>", apparatus=config)


def run_once(config, plan, storage: bool) -> tuple[float, int]:
    clock = VirtualClock()
    fake = FakeApparatus(config, clock)
    bus = EventBus()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = None
        if storage:
            from acquisition.storage import RunRecorder

            recorder = RunRecorder(Path(tmp) / "bench.h5")
            bus.subscribe(recorder, critical=True)
        engine = Runner(fake, DcsScan(plan, config), bus=bus, clock=clock, snapshot=False)
        t0 = time.perf_counter()
        stop = engine.run()
        elapsed = time.perf_counter() - t0
        if recorder is not None:
            recorder.close(stop)
    return elapsed, stop.points_done


def baseline(n: int) -> float:
    """Build n Point records by hand: the floor of per-point work."""
    from acquisition.events import Gate, Point, PointFlag
    from acquisition.reduction import DcsPointResult

    t0 = time.perf_counter()
    for i in range(n):
        g = Gate(1000, 10.0, 0.0, 10.0, "", (1000,), 10.0, 1e-7, 1e-7, 1e-7, 0.3, 1e-6, 90.0)
        Point(i, 0, 0, i, 50.0, 90.0, g, g, DcsPointResult(rel_dcs=1.0), PointFlag.NONE)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = load_apparatus(ROOT / "examples" / "apparatus_lab.toml")
    plan = plan_for(args.points, config)
    rows = []
    for storage in (False, True):
        best = None
        for _ in range(args.repeat):
            elapsed, n = run_once(config, plan, storage)
            per = elapsed / n
            best = per if best is None or per < best else best
        rows.append(("engine, storage off" if not storage else "engine, storage on (HDF5, flush per point)", best, n))
    base = min(baseline(rows[0][2]) for _ in range(args.repeat)) / rows[0][2]
    print(f"engine overhead per point ({rows[0][2]} points: signal + background, 1 sub-gate each; best of {args.repeat})")
    print(f"{'':46s} {'us/point':>9s} {'x baseline':>11s}")
    print(f"{'baseline: build the Point records only':46s} {base * 1e6:9.1f} {1.0:11.1f}")
    for name, per, _ in rows:
        print(f"{name:46s} {per * 1e6:9.1f} {per / base:11.1f}")
    print("target: <= 65 us/point with storage off (bluesky RunEngine: ~1300 us/point, trivial devices)")


if __name__ == "__main__":
    main()
