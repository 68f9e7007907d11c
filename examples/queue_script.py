"""A custom sequence with the queue's Python API (docs/queue.md, "Scripting").

Opens the apparatus, runs one plan object at once, enqueues two more plans and a
safe-state instruction, runs the queue through the same session, and reads the
results back: the same API ``xbeam queue`` and the GUI use.

    python examples/queue_script.py                     # a simulated apparatus, virtual time
    python examples/queue_script.py --apparatus FILE    # real instruments (or `xbeam sim`'s file)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.plans import parse_plan  # noqa: E402
from acquisition.queue import QueuePolicy, QueueRunner, QueueStore, open_session  # noqa: E402
from acquisition.storage import read_run  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apparatus", help="apparatus file (default: a simulated apparatus in this process)")
    parser.add_argument("--out", help="folder for the queue and the run files (default: a temporary one)")
    args = parser.parse_args()
    with ExitStack() as stack:
        out = Path(args.out) if args.out else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.apparatus:
            session = stack.enter_context(open_session(args.apparatus))
        else:  # the simulated apparatus on loopback, in virtual time (only a script may wire it in)
            from acquisition.config import parse_apparatus
            from foundation.clock import VirtualClock
            from simulators.apparatus import SimulatedApparatus

            clock = VirtualClock()
            sim = stack.enter_context(SimulatedApparatus(clock))
            config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
            session = stack.enter_context(open_session(config, clock))

        # 1. a plan object, validated against this apparatus (the overnight example, shortened:
        # a plan is built from its TOML text, which the run file and the queue keep)
        text = (HERE / "isoflurane_overnight.toml").read_text()
        text = text.replace("energies_eV = [50, 100, 150, 200, 250, 300]", "energies_eV = [100]").replace(
            "angles_deg = { start = 25, stop = 125, step = 5 }", "angles_deg = [40, 60, 80]").replace(
            "sweeps = 3 ", "sweeps = 1 ")
        short = parse_plan(text, source="short.toml", apparatus=session.config)
        stop = session.run_plan(short, out / "first.h5").join()
        print(f"one plan at once: {stop.status}, {stop.points_done} points -> {out / 'first.h5'}")

        # 2. enqueue: two plans (the second with its own pause timeout), then a safe state
        store = stack.enter_context(QueueStore(out / "script-queue.sqlite"))
        store.set_policy(QueuePolicy(pause_timeout_s=600.0, on_fault="skip", end_state="shutdown"))
        store.add_plan(short, apparatus=session.config)
        other = parse_plan(text.replace("energies_eV = [100]", "energies_eV = [200]"), source="other.toml",
                           apparatus=session.config)
        store.add_plan(other, apparatus=session.config, overrides={"pause_timeout_s": 120.0})
        store.add_instruction("safe-state", "standby")

        # 3. run the queue through the same session
        outcome = QueueRunner(store, session, run_dir=out / "runs", say=lambda text: print("  " + text)).run()
        print(f"queue: {outcome.status} ({outcome.reason}); safe state: {outcome.safe_state}")

        # 4. read the results: the history, and each run file
        for attempt in store.history():
            line = f"item {attempt.item_id} attempt {attempt.attempt}: {attempt.status}"
            if attempt.run_file:
                run = read_run(attempt.run_file)
                line += f", {run.n_points} points, rel. DCS {[round(float(x), 1) for x in run.points['rel_dcs']]}"
            print(line)


if __name__ == "__main__":
    main()
