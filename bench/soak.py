"""The queue soak for longer than the test: a queue worth ``--hours`` of beam time on
the simulated apparatus through the real loopback stacks, virtual clock, faults
injected at random (tests/queue/soak_rig.py: link timeouts, garbage replies, dropped
connections, pressure bursts, beam losses, a frozen gauge, a fault that never clears).

    python bench/soak.py [--hours 72] [--seed 3] [--rate 0.0015] [-v]

Prints the faults injected by kind, retries, suspensions, pauses, policy actions,
points acknowledged and in the files, lost and duplicated, and what the simulated
world was left in.  tests/queue/test_soak.py runs the same for 24 h.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.queue.soak_rig import run_soak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=72.0, help="beam time of the queue (default 72)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0015, help="link fault probability per exchange")
    parser.add_argument("--never-clears-at", type=float, default=0.85,
                        help="fraction of the night after which the counter garbles every reply")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the runner's item lines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the retries' warnings are counted, not printed
    with tempfile.TemporaryDirectory() as tmp:
        report = run_soak(Path(tmp), hours=args.hours, seed=args.seed, rate=args.rate,
                          never_clears_at=args.never_clears_at, say=print if args.verbose else None)
    print("\n".join(report.lines()))
    ok = (report.lost == 0 and report.duplicated == 0 and not report.unexplained
          and report.safe.get("filament_A") == 0.0 and report.safe.get("channeltron_V") == 0.0)
    print("verdict:", "every item accounted for, no point lost or duplicated, apparatus safe" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
