"""Wall time of the overnight plan in virtual time through the real loopback stacks.

`examples/isoflurane_overnight.toml` (378 points, signal + background in 5 s
sub-gates, ~11 h of beam time) runs on the simulated apparatus: every instrument an
emulator on 127.0.0.1 reached through pyvisa-py or pyserial, the run file written
and fsync'ed point by point.  Baseline in the same run: the same plan, engine and
storage on zero-latency in-process fakes, so the ratio is what the instrument
conversations cost.

    python bench/overnight_virtual.py [--plan FILE] [--repeat 1]

Target (issue 3): <= 10 s wall for the overnight plan.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.apparatus import connect  # noqa: E402
from acquisition.config import parse_apparatus  # noqa: E402
from acquisition.events import EventBus  # noqa: E402
from acquisition.fakes import FakeApparatus  # noqa: E402
from acquisition.plans import load_plan  # noqa: E402
from acquisition.procedures import DcsScan  # noqa: E402
from acquisition.runner import Runner  # noqa: E402
from acquisition.storage import RunRecorder  # noqa: E402
from foundation.clock import VirtualClock  # noqa: E402
from simulators.apparatus import SimulatedApparatus  # noqa: E402
from simulators.world import WorldConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Traffic(logging.Handler):
    """Counts driver writes (the drivers log every one at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.writes = 0

    def emit(self, record) -> None:
        if record.msg == "%s <- %r":
            self.writes += 1


def run(plan_path: Path, *, fake: bool, tmp: Path, traffic: Traffic | None = None) -> tuple[float, float, int]:
    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=1)) as sim:
        config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
        plan = load_plan(plan_path, apparatus=config)
        apparatus = FakeApparatus(config, clock) if fake else connect(config, clock)
        bus = EventBus()
        recorder = RunRecorder(tmp / f"{'fake' if fake else 'sim'}-{time.monotonic_ns()}.h5")
        bus.subscribe(recorder, critical=True)
        if traffic is not None:
            logging.getLogger("drivers").addHandler(traffic)
            logging.getLogger("drivers").setLevel(logging.DEBUG)
        t0 = time.perf_counter()
        try:
            stop = Runner(apparatus, DcsScan(plan, config), bus=bus, clock=clock).run()
            recorder.close(stop)
        finally:
            wall = time.perf_counter() - t0
            apparatus.close()
            if traffic is not None:
                logging.getLogger("drivers").removeHandler(traffic)
                logging.getLogger("drivers").setLevel(logging.NOTSET)
    return wall, clock.now(), stop.points_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=ROOT / "examples" / "isoflurane_overnight.toml")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = min(run(args.plan, fake=True, tmp=tmp)[0] for _ in range(args.repeat))
        walls = []
        for _ in range(args.repeat):
            walls.append(run(args.plan, fake=False, tmp=tmp))
        wall, beam_time, points = min(walls)
        traffic = Traffic()
        run(args.plan, fake=False, tmp=tmp, traffic=traffic)  # separate run: logging costs time
    print(f"overnight plan {args.plan.name}: {points} points, {beam_time / 3600:.1f} h of beam time (virtual)")
    print(f"{'':52s} {'wall s':>8s} {'ms/point':>9s} {'ratio':>6s}")
    print(f"{'baseline: engine + storage on zero-latency fakes':52s} {base:8.2f} {base / points * 1e3:9.2f} {1.0:6.1f}")
    print(f"{'real loopback stacks (pyvisa-py, pyserial) + storage':52s} {wall:8.2f} {wall / points * 1e3:9.2f} {wall / base:6.1f}")
    print(f"instrument writes: {traffic.writes} ({traffic.writes / points:.0f} per point)")
    print("target: <= 10 s wall through the real loopback stacks")


if __name__ == "__main__":
    main()
