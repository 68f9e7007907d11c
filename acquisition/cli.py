"""``xbeam``: the command line of the apparatus.

xbeam sim [--time-scale K] [--target-dcs FILE]     simulated apparatus on loopback
xbeam probe MODEL ADDRESS [--visa-backend B]       identity + one reading (check a cable)
xbeam run PLAN.toml [--apparatus FILE | --sim] [--time-scale K | --virtual] [-o RUN.h5]
xbeam dry-run PLAN.toml [--apparatus FILE]        the plan in virtual time on the simulator
xbeam resume RUN.h5 [--apparatus FILE | --sim] [--time-scale K | --virtual]
xbeam export RUN.h5 [-o FILE.csv]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from acquisition.events import RunStop
from foundation.clock import Clock, make_clock

log = logging.getLogger("xbeam")

EXIT_OK, EXIT_BAD_INPUT, EXIT_RUN_FAILED, EXIT_ABORTED = 0, 2, 3, 4


# --------------------------------------------------------------------- helpers
def _clock_from(args) -> Clock:
    return make_clock(getattr(args, "time_scale", None), getattr(args, "virtual", False))


def _world_config(args):
    from simulators.world import WorldConfig

    kwargs = {"seed": getattr(args, "seed", None)}
    if getattr(args, "target_dcs", None):
        kwargs["target_dcs"] = args.target_dcs
    return WorldConfig(**kwargs)


def _start_sim(clock: Clock, args, stack: ExitStack, base_port: int = 0):
    from simulators.apparatus import SimulatedApparatus

    sim = SimulatedApparatus(clock, _world_config(args), base_port=base_port)
    stack.enter_context(sim)
    return sim


def _apparatus_config(args, clock: Clock, stack: ExitStack, stored_text: str | None = None):
    """The apparatus config: from --apparatus, from a simulator started here, or stored."""
    from acquisition.config import load_apparatus, parse_apparatus

    if getattr(args, "sim", False):
        sim = _start_sim(clock, args, stack)
        return parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
    if getattr(args, "apparatus", None):
        return load_apparatus(args.apparatus)
    if stored_text is not None:
        return parse_apparatus(stored_text, source="<apparatus stored in the run file>", check_paths=False)
    raise SystemExit("xbeam: give --apparatus FILE (the real apparatus) or --sim (the simulated one)")


def _default_run_path(plan) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    sample = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(plan.metadata.sample))
    return Path("runs") / f"{stamp}_{sample}.h5"


class ProgressBar:
    """Event subscriber printing one status line (at most ~5 times a second)."""

    def __init__(self, stream=sys.stderr, quiet: bool = False, speed: float = 1.0) -> None:
        self.stream = stream
        self.quiet = quiet
        self.speed = speed
        self.flagged = 0
        self._last = 0.0
        self._isatty = stream.isatty()

    def __call__(self, event) -> None:
        from acquisition.events import Message, Paused, Point, Progress, Resumed, RunStop, Suspended

        if isinstance(event, Point) and event.flags.saturated:
            self.flagged += 1
        if isinstance(event, (Suspended, Paused, Resumed)):
            self._line(f"{type(event).__name__.lower()}: {event.reason}", newline=True)
        elif isinstance(event, Message) and event.level in ("warning", "error"):
            self._line(f"{event.level}: {event.text}", newline=True)
        elif isinstance(event, Progress) and not self.quiet:
            now = time.monotonic()
            if now - self._last < 0.2 and event.done != event.total:
                return
            self._last = now
            frac = event.done / event.total if event.total else 1.0
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            eta = _hms(event.eta_s / self.speed) if self.speed != float("inf") else f"{_hms(event.eta_s)} of beam time"
            self._line(
                f"[{bar}] {event.done}/{event.total} points  ETA {eta}  saturated: {self.flagged}",
                newline=not self._isatty,
            )
        elif isinstance(event, RunStop):
            self._line(f"run {event.status}: {event.reason} ({event.points_done} points this session)", newline=True)

    def _line(self, text: str, newline: bool) -> None:
        if self._isatty:
            self.stream.write("\r\x1b[K" + text + ("\n" if newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _hms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "--"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def _follow(handle, clock: Clock) -> RunStop:
    """Wait for a run, with Ctrl-C (and SIGTERM) aborting it cleanly and SIGUSR1
    toggling pause; returns its RunStop."""

    def on_sigint(signum, frame):
        print("\nxbeam: aborting (safe state, file closed; `xbeam resume` continues it)", file=sys.stderr)
        handle.abort("interrupted (SIGINT)")

    def on_usr1(signum, frame):
        if handle.state.value in ("paused", "pausing"):
            handle.resume()
        else:
            handle.pause()

    handlers = {signal.SIGINT: on_sigint, signal.SIGTERM: on_sigint}
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = on_usr1
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        while not handle.done():  # short waits: signal handlers run between them
            try:
                return handle.join(0.5)
            except FutureTimeout:
                continue
        return handle.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _session(config, clock: Clock):
    from acquisition.session import Session

    # no idle poller: a command-line run publishes the monitors itself
    return Session.connect(config, clock, monitor_interval_s=None)


def _exit_code(stop) -> int:
    return {"success": EXIT_OK, "aborted": EXIT_ABORTED}.get(stop.status, EXIT_RUN_FAILED)


# --------------------------------------------------------------------- commands
def cmd_sim(args) -> int:
    clock = _clock_from(args)
    with ExitStack() as stack:
        sim = _start_sim(clock, args, stack, base_port=args.base_port)
        path = sim.write_apparatus(args.write)
        print(f"xbeam simulated apparatus ({clock.describe()}), loopback only. Apparatus file: {path}")
        for role, server in sim.servers.items():
            print(f"  {role:12s} {type(server.emulator).__name__:24s} {sim.address(role)}")
        print("Ctrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_probe(args) -> int:
    from acquisition.apparatus import build_driver
    from drivers.errors import InstrumentError

    try:
        driver = build_driver(
            args.model, args.address, clock=make_clock(), visa_backend=args.visa_backend, timeout_s=args.timeout
        )
        with driver:
            result = driver.probe()
    except (InstrumentError, ValueError) as exc:
        print(f"xbeam probe: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    for key, value in result.items():
        print(f"{key}: {value}")
    return EXIT_OK


def cmd_run(args) -> int:
    from acquisition.plans import load_plan

    clock = _clock_from(args)
    with ExitStack() as stack:
        config = _apparatus_config(args, clock, stack)
        plan = load_plan(args.plan, apparatus=config)  # rejected here, before anything moves
        path = Path(args.output) if args.output else _default_run_path(plan)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise SystemExit(f"xbeam run: {path} exists; choose another -o or `xbeam resume {path}`")
        print(f"xbeam run: {plan.source} -> {path}", file=sys.stderr)
        session = stack.enter_context(_session(config, clock))
        handle = session.run_plan(plan, path, also=(ProgressBar(quiet=args.quiet, speed=clock.speed),))
        return _exit_code(_follow(handle, clock))


def cmd_resume(args) -> int:
    from acquisition.plans import parse_plan
    from acquisition.storage import read_run

    existing = read_run(args.run)
    if existing.status == "success" and len(existing.done_keys()) >= existing.planned_points:
        # nothing to measure: do not heat a filament or rewrite a finished file
        print(f"xbeam resume: {args.run} is complete ({existing.planned_points} points); nothing to do", file=sys.stderr)
        return EXIT_OK
    clock = _clock_from(args)
    with ExitStack() as stack:
        config = _apparatus_config(args, clock, stack, stored_text=existing.apparatus_text)
        # the stored plan must fit this apparatus before the file or the apparatus is touched
        parse_plan(existing.plan_text, source=f"<plan stored in {args.run}>", apparatus=config)
        print(f"xbeam resume: {args.run}: {len(existing.done_keys())} of {existing.planned_points} points "
              "already measured", file=sys.stderr)
        session = stack.enter_context(_session(config, clock))
        handle = session.resume_run(args.run, also=(ProgressBar(quiet=args.quiet, speed=clock.speed),))
        return _exit_code(_follow(handle, clock))


def cmd_dry_run(args) -> int:
    from acquisition.config import load_apparatus, parse_apparatus
    from acquisition.plans import load_plan
    from acquisition.session import DryRunSummary

    clock = make_clock(virtual=True)
    if args.apparatus:
        load_plan(args.plan, apparatus=load_apparatus(args.apparatus))  # validate against the real limits
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        sim = _start_sim(clock, args, stack)
        config = parse_apparatus(sim.apparatus_toml(), source="<simulated apparatus>")
        plan = load_plan(args.plan, apparatus=config)
        path = Path(tmp) / "dry-run.h5"
        summary = DryRunSummary()
        wall0 = time.perf_counter()
        with _session(config, clock) as session:
            t0 = clock.now()
            stop = _follow(session.run_plan(plan, path, also=(summary,)), clock)
            duration = clock.now() - t0
        size = path.stat().st_size if path.exists() else 0
    print(f"plan: {args.plan}")
    print(f"points: {stop.points_done} (status {stop.status}: {stop.reason})")
    print(f"duration: {_hms(duration)} of beam time (simulated in {time.perf_counter() - wall0:.1f} s)")
    print(f"run file: {size / 1e6:.2f} MB")
    if summary.flagged:
        print(f"warnings: {len(summary.flagged)} (energy, angle) cells flagged on the simulated apparatus:")
        for (energy, angle), why in sorted(summary.flagged.items()):
            print(f"  {energy:g} eV {angle:g} deg: {why}")
    else:
        print("warnings: none")
    return EXIT_OK if stop.status == "success" else EXIT_RUN_FAILED


def cmd_export(args) -> int:
    from analysis.export import export_csv

    out = Path(args.output) if args.output else Path(args.run).with_suffix(".csv")
    rows = export_csv(args.run, out)
    print(f"xbeam export: {rows} rows -> {out}")
    return EXIT_OK


# --------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xbeam", description="Crossed-beam electron spectrometer control and acquisition")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv instrument traffic (debug)")
    sub = p.add_subparsers(dest="command", required=True)

    def clock_options(sp, virtual=True):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--time-scale", type=float, metavar="K", help="run K times faster than life (simulator only)")
        if virtual:
            g.add_argument("--virtual", action="store_true", help="virtual time: waits pass at once (simulator only)")

    def apparatus_options(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--apparatus", metavar="FILE", help="apparatus TOML (instrument addresses, tune, limits)")
        g.add_argument("--sim", action="store_true", help="start the simulated apparatus in this process")
        sp.add_argument("--seed", type=int, help="simulator random seed")
        sp.add_argument("--target-dcs", metavar="FILE", help="simulator: DCS table of the target gas")

    sp = sub.add_parser("sim", help="run the simulated apparatus on loopback")
    clock_options(sp, virtual=False)
    sp.add_argument("--target-dcs", metavar="FILE", help="DCS table (CSV angle_deg,energy_eV,dcs) of the target gas")
    sp.add_argument("--base-port", type=int, default=5300, help="first TCP port (default 5300; 0 = any free ports)")
    sp.add_argument("--write", default="xbeam-sim.toml", metavar="FILE", help="apparatus file to write")
    sp.add_argument("--seed", type=int)
    sp.set_defaults(func=cmd_sim)

    sp = sub.add_parser("probe", help="print an instrument's identity and one reading")
    sp.add_argument(
        "model", help="tpg362, iseg_hv, keysight_e36xx, newport_smc100, keysight_53230a, keithley_6485, numato_relay"
    )
    sp.add_argument("address", help="VISA resource string or pyserial URL")
    sp.add_argument("--visa-backend", default="@py", help="@py (default), @ivi, or FILE.yaml@sim")
    sp.add_argument("--timeout", type=float, default=2.0, help="I/O timeout in seconds")
    sp.set_defaults(func=cmd_probe)

    sp = sub.add_parser("run", help="run a plan")
    sp.add_argument("plan")
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("-o", "--output", metavar="RUN.h5")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("dry-run", help="run a plan in virtual time on the simulator: duration, size, warnings")
    sp.add_argument("plan")
    sp.add_argument("--apparatus", metavar="FILE", help="also validate the plan against this apparatus")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--target-dcs", metavar="FILE")
    sp.set_defaults(func=cmd_dry_run)

    sp = sub.add_parser("resume", help="continue an interrupted or crashed run in the same file")
    sp.add_argument("run")
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.set_defaults(func=cmd_resume)

    sp = sub.add_parser("export", help="CSV with one row per (energy, angle)")
    sp.add_argument("run")
    sp.add_argument("-o", "--output", metavar="FILE.csv")
    sp.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from acquisition.config import ConfigError

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"xbeam: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        print(f"xbeam: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
