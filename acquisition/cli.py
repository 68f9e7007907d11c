"""``xbeam``: the command line of the apparatus.

xbeam sim [--time-scale K] [--target-dcs FILE]     simulated apparatus on loopback
xbeam probe MODEL ADDRESS [--visa-backend B]       identity + one reading (check a cable)
xbeam run PLAN.toml [--apparatus FILE | --sim] [--time-scale K | --virtual] [-o RUN.h5]
xbeam dry-run PLAN.toml [--apparatus FILE]        the plan in virtual time on the simulator
xbeam resume RUN.h5 [--apparatus FILE | --sim] [--time-scale K | --virtual]
xbeam export RUN.h5 [-o FILE.csv] [--force]
xbeam gui [--sim [--virtual | --time-scale K] | --apparatus FILE] [--plan PLAN.toml [--start] [-o RUN.h5]
          [--quit-when-done]] [--view RUN.h5] [--queue FILE]   the window (docs/gui.md)
xbeam queue add|list|show|move|remove|edit|clear|config|run|stop|continue|history|status [--queue FILE]
                                                   the overnight queue (acquisition/cli_queue.py, docs/queue.md)

A mistake (an option, a plan, an apparatus file, a run file, an output path) is refused
before anything moves or any file is written, with one line naming the option or file,
the bad value and what is allowed, and an exit code of :data:`EXIT_CODES`.  Refusals are
typed errors raised where the mistake is found and reported in one place,
:func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

from acquisition.events import RunStop
from foundation.clock import Clock, make_clock

log = logging.getLogger("xbeam")
T = TypeVar("T")

EXIT_OK, EXIT_BAD_INPUT, EXIT_RUN_FAILED, EXIT_ABORTED, EXIT_UNAVAILABLE = 0, 2, 3, 4, 5

#: exit code -> meaning (``xbeam --help`` and the README print this table)
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "done (the run complete, or nothing to do)",
    EXIT_BAD_INPUT: "refused, nothing moved and no file written: a mistake in an option, a plan, an apparatus file, "
                    "a DCS table, a run file or an output path",
    EXIT_RUN_FAILED: "the run (or dry run) started and failed; the file is resumable",
    EXIT_ABORTED: "aborted (Ctrl-C or SIGTERM): safe state, file closed, resumable",
    EXIT_UNAVAILABLE: "the apparatus is not available, nothing moved: an instrument does not connect or answer, "
                      "a device fault before the run, the simulator's ports are in use",
}

#: the source of an apparatus config made for the simulator of this process (--sim)
SIM_SOURCE = "<simulated apparatus>"
#: the first line of every apparatus file `xbeam sim` writes (simulators.apparatus)
_SIM_FILE_MARK = "# Apparatus file written by `xbeam sim`"


class Refused(Exception):
    """A command refused before anything moved or was written: ``str(self)`` is the one
    line the user reads, ``code`` the exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _typed_errors() -> dict[type[BaseException], int]:
    """Every error a correct xbeam raises for a user's mistake or an unavailable
    apparatus, and its exit code.  Anything else is a bug of xbeam and keeps its
    traceback: it is not caught (no ``except Exception`` here)."""
    from acquisition.apparatus import ApparatusUnreachable
    from acquisition.procedures.rfm import NoOperator
    from acquisition.session import SessionBusy
    from acquisition.storage import StorageError
    from acquisition.tomlcheck import ConfigError
    from analysis.absolute.runs import AbsoluteInputError
    from drivers.errors import InstrumentError
    from foundation.dcs_table import DcsTableError
    from simulators.server import ServerPortError

    return {
        Refused: EXIT_BAD_INPUT,  # carries its own code
        NoOperator: EXIT_BAD_INPUT,
        AbsoluteInputError: EXIT_BAD_INPUT,
        ConfigError: EXIT_BAD_INPUT,
        DcsTableError: EXIT_BAD_INPUT,
        StorageError: EXIT_BAD_INPUT,
        ApparatusUnreachable: EXIT_UNAVAILABLE,
        InstrumentError: EXIT_UNAVAILABLE,
        SessionBusy: EXIT_UNAVAILABLE,
        ServerPortError: EXIT_UNAVAILABLE,
    }


# --------------------------------------------------------------------- helpers
def _clock_from(args) -> Clock:
    return make_clock(getattr(args, "time_scale", None), getattr(args, "virtual", False))


def _world_config(args):
    from simulators.world import WorldConfig

    kwargs = {"seed": getattr(args, "seed", None)}
    if getattr(args, "target_gas", None):
        kwargs["target_gas"] = _target_gas(args.target_gas)
    if getattr(args, "target_dcs", None):
        kwargs["target_dcs"] = args.target_dcs
    return WorldConfig(**kwargs)


def _target_gas(path: str):
    """The gas definition file of --target-gas (refused as one line per problem)."""
    from foundation.gas import GasFileError, load_gas

    if not Path(path).is_file():
        raise Refused(f"--target-gas {path}: no such file (a gas definition, e.g. examples/gases/isoflurane.toml)")
    try:
        gas = load_gas(path)
    except GasFileError as exc:
        more = f" (and {len(exc.lines) - 1} more problems)" if len(exc.lines) > 1 else ""
        raise Refused(f"--target-gas {path}: not a valid gas definition: {exc.lines[0]}{more}") from None
    if gas.dcs_table is None:
        raise Refused(f"--target-gas {path}: has no dcs_table; the simulator needs the gas's DCS to scatter from it")
    return gas


def _sim_operator(sim):
    """The simulator's operator, who turns its manual leak valves (RFM runs)."""
    from simulators.operator import SimulatedOperator

    return SimulatedOperator(sim.world)


def _check_operator(args, plan) -> None:
    """An RFM plan asks a person to turn the leak valves: refused before anything moves
    when nobody can answer (stdin not a terminal) and --sim's operator is not there."""
    if plan.kind == "rfm" and getattr(args, "operator", None) is None and not sys.stdin.isatty():
        raise Refused(f"{plan.source}: an RFM plan asks the operator to set the leak valves, and stdin is not a "
                      "terminal (nobody can answer): run it from a terminal, in the window (`xbeam gui`), "
                      "or on the simulator with --sim")


def _operator(args):
    """Who sets the line pressures of an RFM run: the simulator's operator with --sim,
    else the person at this terminal."""
    from acquisition.operator import PromptOperator

    return getattr(args, "operator", None) or PromptOperator()


def _start_sim(clock: Clock, args, stack: ExitStack, base_port: int = 0):
    from simulators.apparatus import SimulatedApparatus

    sim = SimulatedApparatus(clock, _world_config(args), base_port=base_port)
    stack.enter_context(sim)
    return sim


def _apparatus(args, stack: ExitStack, stored=None):
    """The apparatus config and the clock of a run or resume: a simulator started here
    (--sim), an apparatus file (--apparatus), or the apparatus stored in the run file."""
    from acquisition.config import load_apparatus, parse_apparatus

    if args.sim:
        clock = _clock_from(args)
        sim = _start_sim(clock, args, stack)
        args.operator = _sim_operator(sim)
        return parse_apparatus(sim.apparatus_toml(), source=SIM_SOURCE), clock
    for option in ("seed", "target_dcs", "target_gas"):
        if getattr(args, option, None) is not None:
            flag = "--" + option.replace("_", "-")
            raise Refused(f"{flag} {getattr(args, option)}: only for the simulator --sim starts in this process "
                          f"(`xbeam sim {flag} ...` for a simulator of its own)")
    if args.apparatus:
        config = load_apparatus(args.apparatus)
    elif stored is not None:
        if stored.apparatus.get("source") == SIM_SOURCE:
            raise Refused(f"{stored.path}: measured on the simulated apparatus of its own process (--sim), which is "
                          "gone: resume it with --sim (and --virtual or --time-scale K as it ran), or --apparatus FILE")
        config = parse_apparatus(stored.apparatus_text, source=f"<apparatus stored in {stored.path}>",
                                 check_paths=False)
    else:
        raise Refused("no apparatus: give --apparatus FILE (the instruments, or the file `xbeam sim` wrote) "
                      "or --sim (a simulated apparatus in this process)")
    return config, _clock_of(args, config)


def _clock_of(args, config) -> Clock:
    """The clock of a run on an apparatus from a file: real time for real instruments;
    the simulator's own speed for a file `xbeam sim` wrote (its ``[simulator]``)."""
    asked = "--virtual" if args.virtual else f"--time-scale {args.time_scale:g}" if args.time_scale else None
    if config.simulator is None:
        if asked:
            raise Refused(f"{asked}: only for a simulated apparatus (--sim, or a file `xbeam sim` wrote); "
                          f"{config.source} has no [simulator] section: real instruments run in real time")
        return make_clock()
    scale = config.simulator.time_scale
    if args.virtual:
        raise Refused(f"--virtual: {config.source} is served by `xbeam sim` in wall time at time_scale = {scale:g} "
                      "([simulator]); a run against it runs at that speed: leave --virtual out")
    if args.time_scale is not None and not math.isclose(args.time_scale, scale, rel_tol=1e-9):
        raise Refused(f"--time-scale {args.time_scale:g} contradicts {config.source}: [simulator] time_scale = "
                      f"{scale:g}, the speed `xbeam sim` runs at; leave --time-scale out "
                      f"(or restart it as `xbeam sim --time-scale {args.time_scale:g}`)")
    return make_clock(scale)


def _is_hdf5(path: Path) -> bool:
    from acquisition.storage.layout import HDF5_SIGNATURE

    try:
        with path.open("rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _existing_dir(path: Path) -> Path:
    """The nearest existing ancestor of ``path`` (``path`` itself if it exists)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_new_file(path: Path, option: str) -> None:
    """Refuse, before anything moves, an output path no new file can be created at."""
    if path.is_dir():
        raise Refused(f"{option} {path}: is a directory; give a file name in it")
    folder = _existing_dir(path.parent)
    if not folder.is_dir():
        raise Refused(f"{option} {path}: {folder} is not a directory")
    if folder != Path(os.path.abspath(path.parent)):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise Refused(f"{option} {path}: cannot create the folder {path.parent}: {folder} is not writable")
        return
    try:  # the one certain test (root passes every permission check, a read-only mount does not)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError as exc:
        raise Refused(f"{option} {path}: cannot create a file there: {exc.strerror}") from None
    os.close(fd)
    os.unlink(path)


def _check_new_run_file(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise Refused(f"-o {path}: exists; a run file is never overwritten: choose another name, "
                      f"or `xbeam resume {path}` to continue that run")
    _check_new_file(path, "-o")


def _check_output(path: Path, option: str, *, force: bool, inputs: tuple[Path, ...] = (),
                  ours: str | None = None) -> None:
    """An output file (CSV, apparatus file) may replace an existing file only with
    ``--force`` (or if it starts with ``ours``, a file this command wrote before), and
    never an input of the command or an HDF5 file (a run)."""
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise Refused(f"{option} {path}: is the run file itself; write the output to another file")
    if path.exists() and not path.is_dir():
        if _is_hdf5(path):
            raise Refused(f"{option} {path}: is an HDF5 file (a run file?); xbeam never overwrites one, "
                          "--force or not: choose another name")
        if not force and not (ours is not None and _starts_with(path, ours)):
            raise Refused(f"{option} {path}: exists; --force replaces it")
        folder = path.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            raise Refused(f"{option} {path}: its folder {folder} is not writable")
        return
    if not Path(os.path.abspath(path.parent)).is_dir():
        raise Refused(f"{option} {path}: no such folder {path.parent}")
    _check_new_file(path, option)


def _starts_with(path: Path, text: str) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(text.encode())) == text.encode()
    except OSError:
        return False


def _replace_atomically(path: Path, option: str, write: Callable[[Path], T]) -> T:
    """``write(tmp)`` a file beside ``path``, then rename it over ``path``: a failure
    leaves ``path`` as it was (never truncated) and no temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        result = write(tmp)
        os.replace(tmp, path)
        return result
    except OSError as exc:  # the output's folder or disk: nothing of the command's own was changed
        raise Refused(f"{option} {path}: cannot write it: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


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


def _session(config, clock: Clock, monitor_interval_s: float | None = None, operator=None):
    """Connect and identify every instrument (nothing moves or heats); an unreachable
    one is refused naming the apparatus file as well as each instrument.  A command-line
    run has no idle poller (it publishes the monitors itself); the window has one."""
    from acquisition.apparatus import ApparatusUnreachable
    from acquisition.session import Session

    try:
        return Session.connect(config, clock, monitor_interval_s=monitor_interval_s, operator=operator)
    except ApparatusUnreachable as exc:
        hint = " (is that `xbeam sim` still running?)" if config.simulator is not None else ""
        raise Refused(f"{config.source}{hint}: {exc}", EXIT_UNAVAILABLE) from exc


def _exit_code(stop) -> int:
    return {"success": EXIT_OK, "aborted": EXIT_ABORTED}.get(stop.status, EXIT_RUN_FAILED)


def _run_follow(args, handle, clock: Clock) -> RunStop:
    """From here on the run has started: a typed error is a failed run, not a refusal."""
    args.started = True
    return _follow(handle, clock)


def _run_to_end(args, handle, clock: Clock) -> int:
    return _exit_code(_run_follow(args, handle, clock))


# --------------------------------------------------------------------- commands
def cmd_sim(args) -> int:
    from simulators.apparatus import ROLES

    ports = len(ROLES)
    if args.base_port != 0 and not 1 <= args.base_port <= 65536 - ports:
        raise Refused(f"--base-port {args.base_port}: the simulator listens on {ports} ports from it "
                      f"({args.base_port}-{args.base_port + ports - 1}, the last port is 65535); "
                      f"allowed: 1-{65536 - ports}, or 0 for any free ports")
    write = Path(args.write)
    _check_output(write, "--write", force=args.force, ours=_SIM_FILE_MARK)
    from simulators.server import ServerPortError

    clock = _clock_from(args)
    with ExitStack() as stack:
        try:
            sim = _start_sim(clock, args, stack, base_port=args.base_port)
        except ServerPortError as exc:
            raise Refused(f"--base-port {args.base_port}: {exc}; choose another --base-port, or 0 for any free ports",
                          EXIT_UNAVAILABLE) from exc
        text = (sim.apparatus_toml().rstrip("\n")
                + "\n\n[simulator]\n# a run against this file keeps the simulator's clock\n"
                + f"time_scale = {float(clock.speed)!r}\n")
        _replace_atomically(write, "--write", lambda tmp: tmp.write_text(text))
        print(f"xbeam simulated apparatus ({clock.describe()}), loopback only. Apparatus file: {write}")
        for role, server in sim.servers.items():
            print(f"  {role:12s} {type(server.emulator).__name__:24s} {sim.address(role)}")
        print(f"`xbeam run PLAN --apparatus {write}` runs at its speed (x{clock.speed:g}). Ctrl-C stops it.", flush=True)
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_probe(args) -> int:
    from acquisition.apparatus import build_driver
    from acquisition.config import address_ok
    from drivers import MODELS, canonical_model

    if canonical_model(args.model) is None:
        raise Refused(f"MODEL {args.model!r}: unknown instrument model; one of {', '.join(MODELS)}")
    if not address_ok(args.address):
        raise Refused(f"ADDRESS {args.address!r}: must be a VISA resource (TCPIP::192.168.1.20::5025::SOCKET, "
                      "GPIB0::14::INSTR, ASRL/dev/ttyUSB0::INSTR) or a pyserial port or URL (/dev/ttyUSB0, COM3, "
                      "socket://host:port with a port 1-65535)")
    driver = build_driver(
        args.model, args.address, clock=make_clock(), visa_backend=args.visa_backend, timeout_s=args.timeout
    )
    with driver:
        result = driver.probe()
    for key, value in result.items():
        print(f"{key}: {value}")
    return EXIT_OK


def cmd_run(args) -> int:
    from acquisition.plans import load_plan
    from acquisition.storage import default_run_path

    with ExitStack() as stack:
        config, clock = _apparatus(args, stack)
        plan = load_plan(args.plan, apparatus=config)  # rejected here, before anything moves
        _check_operator(args, plan)
        path = Path(args.output) if args.output else default_run_path(plan)
        _check_new_run_file(path)
        # connects and identifies: nothing moves yet
        session = stack.enter_context(_session(config, clock, operator=_operator(args)))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Refused(f"-o {path}: cannot create the folder {path.parent}: {exc.strerror}") from None
        print(f"xbeam run: {plan.source} -> {path}", file=sys.stderr)
        handle = session.run_plan(plan, path, also=(ProgressBar(quiet=args.quiet, speed=clock.speed),))
        return _run_to_end(args, handle, clock)


def cmd_resume(args) -> int:
    from acquisition.plans import parse_plan
    from acquisition.storage import read_run

    existing = read_run(args.run)  # a damaged or foreign file is refused here, within seconds
    if existing.status == "success" and len(existing.done_keys()) >= existing.planned_points:
        # nothing to measure: do not heat a filament or rewrite a finished file
        print(f"xbeam resume: {args.run} is complete ({existing.planned_points} points); nothing to do", file=sys.stderr)
        return EXIT_OK
    with ExitStack() as stack:
        config, clock = _apparatus(args, stack, stored=existing)
        # the stored plan must fit this apparatus before the file or the apparatus is touched
        stored_plan = parse_plan(existing.plan_text, source=f"<plan stored in {args.run}>", apparatus=config)
        _check_operator(args, stored_plan)
        # an unreachable apparatus is refused here: the file untouched
        session = stack.enter_context(_session(config, clock, operator=_operator(args)))
        print(f"xbeam resume: {args.run}: {len(existing.done_keys())} of {existing.planned_points} points "
              "already measured", file=sys.stderr)
        handle = session.resume_run(args.run, also=(ProgressBar(quiet=args.quiet, speed=clock.speed),))
        return _run_to_end(args, handle, clock)


def dry_run_estimate(plan_path: str | Path, *, seed: int | None = None, target_dcs: str | None = None,
                     apparatus: str | None = None, on_start: Callable[[], None] | None = None,
                     target_gas: str | None = None):
    """Run the plan in virtual time on a simulated apparatus of its own; its
    :class:`~acquisition.session.DryRunEstimate`.  With ``apparatus`` (a file) the plan
    is also checked against that apparatus's limits first.  A bad plan raises
    ConfigError before anything starts; ``on_start`` is called once it has started."""
    import types

    from acquisition.config import load_apparatus, parse_apparatus
    from acquisition.plans import load_plan
    from acquisition.session import DryRunEstimate, DryRunSummary

    clock = make_clock(virtual=True)
    if apparatus:
        load_plan(plan_path, apparatus=load_apparatus(apparatus))  # validate against the real limits
    options = types.SimpleNamespace(seed=seed, target_dcs=target_dcs, target_gas=target_gas)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        sim = _start_sim(clock, options, stack)
        config = parse_apparatus(sim.apparatus_toml(), source=SIM_SOURCE)
        plan = load_plan(plan_path, apparatus=config)
        path = Path(tmp) / "dry-run.h5"
        summary = DryRunSummary()
        wall0 = time.perf_counter()
        with _session(config, clock, operator=_sim_operator(sim)) as session:
            t0 = clock.now()
            handle = session.run_plan(plan, path, also=(summary,))
            if on_start is not None:
                on_start()
            stop = _follow(handle, clock)
            duration = clock.now() - t0
        size = path.stat().st_size if path.exists() else 0
    return DryRunEstimate(str(plan_path), stop.points_done, stop.status, stop.reason, duration, size / 1e6,
                          dict(summary.flagged), time.perf_counter() - wall0)


def cmd_dry_run(args) -> int:
    estimate = dry_run_estimate(args.plan, seed=args.seed, target_dcs=args.target_dcs, apparatus=args.apparatus,
                                on_start=lambda: setattr(args, "started", True), target_gas=args.target_gas)
    print(f"plan: {args.plan}")
    print(f"points: {estimate.points} (status {estimate.status}: {estimate.reason})")
    print(f"duration: {_hms(estimate.duration_s)} of beam time (simulated in {estimate.wall_s:.1f} s)")
    print(f"run file: {estimate.file_mb:.2f} MB")
    if estimate.flagged:
        print(f"warnings: {len(estimate.flagged)} (energy, angle) cells flagged on the simulated apparatus:")
        for (energy, angle), why in sorted(estimate.flagged.items()):
            print(f"  {energy:g} eV {angle:g} deg: {why}")
    else:
        print("warnings: none")
    return EXIT_OK if estimate.status == "success" else EXIT_RUN_FAILED


def cmd_gui(args) -> int:
    """The main window: on the simulated apparatus (--sim), an apparatus file, or none
    (a viewer).  Every mistake on the command line is refused here, before the window
    opens, anything moves or any file is written."""
    from acquisition.plans import load_plan
    from acquisition.storage import RunFollower, default_run_path

    if args.start and not args.plan:
        raise Refused("--start: starts the plan of --plan; give --plan PLAN.toml")
    if args.output and not args.start:
        raise Refused(f"-o {args.output}: names the run file of --start; give --plan PLAN.toml --start")
    if args.quit_when_done and not args.start:
        raise Refused("--quit-when-done: closes the window when the run --start began ends; give --plan ... --start")
    if (args.virtual or args.time_scale) and not args.sim:
        option = "--virtual" if args.virtual else f"--time-scale {args.time_scale:g}"
        raise Refused(f"{option}: only with --sim (the simulated apparatus this window starts)")
    if args.start and not (args.sim or args.apparatus):
        raise Refused("--start: no apparatus to run on; give --sim or --apparatus FILE")
    if args.view:  # a damaged or foreign file is refused here, read only, within seconds
        RunFollower(args.view).close()
    if args.queue:  # the window creates a new queue; an existing file must be one (read only here)
        from acquisition.queue import QueueError, QueueStore

        queue = Path(args.queue)
        if not Path(queue.parent if str(queue.parent) else ".").is_dir():
            raise Refused(f"--queue {queue}: no such folder {queue.parent}")
        if queue.exists() and not (queue.is_file() and queue.stat().st_size == 0):  # an empty file becomes one
            try:
                QueueStore(queue, create=False).close()  # an existing queue is only read; anything else refused
            except QueueError as exc:
                message = str(exc)
                raise Refused(message if message.startswith("--queue") else f"--queue {queue}: {message}") from None
    with ExitStack() as stack:
        session = config = clock = None
        if args.sim or args.apparatus:
            config, clock = _apparatus(args, stack)
        plan = None
        if args.plan and config is not None and args.start:
            plan = load_plan(args.plan, apparatus=config)  # a plan it cannot run is refused before anything moves
        elif args.plan and not Path(args.plan).is_file():
            raise Refused(f"--plan {args.plan}: no such file")
        output = None
        if args.start:
            output = Path(args.output) if args.output else default_run_path(plan)
            _check_new_run_file(output)
        if config is not None:
            # --sim brings its simulated operator; otherwise the window asks with a dialog
            session = stack.enter_context(_session(config, clock, monitor_interval_s=1.0,
                                                   operator=getattr(args, "operator", None)))
            if output is not None:
                try:
                    output.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise Refused(f"-o {output}: cannot create the folder {output.parent}: {exc.strerror}") from None
        from gui.app import run_gui

        def dry_run(plan_path: str):
            return dry_run_estimate(plan_path, seed=args.seed, target_dcs=args.target_dcs, apparatus=args.apparatus,
                                    target_gas=args.target_gas)

        args.started = args.start
        return run_gui(session=session, config=config, clock=clock, dry_run=dry_run, plan_path=args.plan,
                       start=args.start, output=output, quit_when_done=args.quit_when_done, view_path=args.view,
                       queue_path=args.queue)


def cmd_export(args) -> int:
    from analysis.export import export_csv

    run = Path(args.run)
    out = Path(args.output) if args.output else run.with_suffix(".csv")
    option = "-o" if args.output else "the CSV"
    _check_output(out, option, force=args.force, inputs=(run,))
    # export_csv reads the run (a damaged or foreign file is refused) before it writes
    rows = _replace_atomically(out, option, lambda tmp: export_csv(run, tmp))
    print(f"xbeam export: {rows} rows -> {out}")
    return EXIT_OK


# --------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line (not the usage block), exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (`{self.prog} --help` lists the options)\n")


def _number(what: str, *, positive: bool = True):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (positive and value <= 0):
            raise argparse.ArgumentTypeError(f"{text!r}: must be a number > 0 ({what})")
        return value

    parse.__name__ = "number"
    return parse


def _integer(low: int, high: int | None, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            allowed = f"{low}-{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text!r}: must be an integer {allowed} ({what})")
        return value

    parse.__name__ = "integer"
    return parse


def _version() -> str:
    from acquisition.runner import software_version

    return software_version()


def _epilog() -> str:
    import textwrap

    codes = {**EXIT_CODES, 1: "a bug of xbeam (a Python traceback): please report it"}
    lines = [textwrap.fill(what, 79, initial_indent=f"  {code}  ", subsequent_indent="     ")
             for code, what in sorted(codes.items())]
    return "exit codes:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xbeam", description="Crossed-beam electron spectrometer control and acquisition",
                epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"xbeam {_version()}", help="print the version and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv instrument traffic (debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    time_scale = _number("how many times faster than life")

    def command(name, help_text):
        return sub.add_parser(name, help=help_text, description=help_text, epilog=_epilog(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def clock_options(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--time-scale", type=time_scale, metavar="K",
                       help="the simulator's time runs K times faster than life (--sim only; a file `xbeam sim` "
                            "wrote brings its own)")
        g.add_argument("--virtual", action="store_true",
                       help="virtual time: every wait passes at once (--sim only)")

    def simulator_options(sp, only=""):
        sp.add_argument("--seed", type=_integer(0, None, "random seed of the simulated world"), metavar="N",
                        help=f"random seed of the simulated world{only}")
        sp.add_argument("--target-gas", metavar="FILE.toml",
                        help="gas definition of the target line (molar mass, diameter, DCS table; "
                             f"examples/gases/isoflurane.toml is the default){only}")
        sp.add_argument("--target-dcs", metavar="FILE",
                        help=f"DCS table of the target gas, CSV angle_deg,energy_eV,dcs (1e-20 m^2/sr), instead of "
                             f"the gas file's{only}")

    def apparatus_options(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--apparatus", metavar="FILE",
                       help="apparatus TOML: instrument addresses, tune, limits (or the file `xbeam sim` wrote)")
        g.add_argument("--sim", action="store_true", help="start a simulated apparatus in this process")
        simulator_options(sp, " (--sim only)")

    sp = command("sim", "run the simulated apparatus on 127.0.0.1 (foreground; Ctrl-C stops it)")
    sp.add_argument("--time-scale", type=time_scale, metavar="K", help="run K times faster than life (default 1)")
    simulator_options(sp)
    sp.add_argument("--base-port", type=_integer(0, 65535, "first TCP port, 0 = any free ports"), default=5300,
                    metavar="PORT", help="first TCP port; one port per instrument from it (default 5300; 0: any "
                                         "free ports)")
    sp.add_argument("--write", default="xbeam-sim.toml", metavar="FILE",
                    help="apparatus file to write, with the addresses and the time scale (default xbeam-sim.toml; "
                         "replaces only a file `xbeam sim` wrote)")
    sp.add_argument("--force", action="store_true", help="replace an existing --write file `xbeam sim` did not write")
    sp.set_defaults(func=cmd_sim)

    from drivers import MODELS, aliases

    sp = command("probe", "print an instrument's identity and one reading (check a cable)")
    older = ", ".join(f"{alias} = {model}" for alias, model in sorted(aliases().items()))
    sp.add_argument("model", metavar="MODEL",
                    help=", ".join(MODELS) + (f" (older names: {older})" if older else ""))
    sp.add_argument("address", metavar="ADDRESS",
                    help="VISA resource string (TCPIP::host::port::SOCKET, GPIB0::14::INSTR) or pyserial port "
                         "or URL (/dev/ttyUSB0, COM3, socket://host:port)")
    sp.add_argument("--visa-backend", default="@py", metavar="B", help="@py (default), @ivi, or FILE.yaml@sim")
    sp.add_argument("--timeout", type=_number("seconds"), default=2.0, metavar="S",
                    help="I/O timeout in seconds (default 2)")
    sp.set_defaults(func=cmd_probe)

    sp = command("run", "run a plan into a new run file")
    sp.add_argument("plan", metavar="PLAN.toml", help="the plan: what to measure (examples/isoflurane_overnight.toml)")
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("-o", "--output", metavar="RUN.h5",
                    help="the new run file (never an existing one; default runs/<UTC time>_<sample>.h5)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_run)

    sp = command("dry-run", "run a plan in virtual time on the simulator: duration, file size, warnings")
    sp.add_argument("plan", metavar="PLAN.toml", help="the plan to try")
    sp.add_argument("--apparatus", metavar="FILE", help="also check the plan against this apparatus file")
    simulator_options(sp)
    sp.set_defaults(func=cmd_dry_run)

    sp = command("resume", "continue an interrupted or crashed run in the same file (missing points only)")
    sp.add_argument("run", metavar="RUN.h5", help="the run file to continue")
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_resume)

    sp = command("gui", "the main window: instrument panel, scan control, live plots; or a run file viewer")
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("--plan", metavar="PLAN.toml", help="load this plan (validated, with its dry-run estimate)")
    sp.add_argument("--start", action="store_true", help="start the --plan at once")
    sp.add_argument("-o", "--output", metavar="RUN.h5",
                    help="the run file of --start (never an existing one; default runs/<UTC time>_<sample>.h5)")
    sp.add_argument("--quit-when-done", action="store_true", help="close the window when the --start run ends")
    sp.add_argument("--view", metavar="RUN.h5", help="open a run file (finished, or being written by another process)")
    sp.add_argument("--queue", metavar="FILE", default=None,
                    help="show this overnight queue (created if it does not exist); with an apparatus the window can "
                         "run it (default: none)")
    sp.set_defaults(func=cmd_gui)

    sp = command("export", "CSV with one row per (energy, angle): rel. DCS, sigma, rates, loss, flags")
    sp.add_argument("run", metavar="RUN.h5", help="the run file to export (read only)")
    sp.add_argument("-o", "--output", metavar="FILE.csv", help="the CSV file (default: RUN.csv beside the run file)")
    sp.add_argument("--force", action="store_true", help="replace an existing CSV (never a run file)")
    sp.set_defaults(func=cmd_export)

    from analysis.absolute import command as absolute  # the absolute scale (docs/absolute.md)

    sp = command("absolute", "relative, argon-volume and RFM runs to the absolute Table 1, its uncertainty budget, "
                             "ICS, plot and NeXus analysis file")
    absolute.add_arguments(sp)
    sp.set_defaults(func=absolute.main)

    from acquisition.cli_queue import add_queue_command  # the overnight queue (docs/queue.md)

    add_queue_command(command, apparatus_options, clock_options)
    return p


def _say(command: str, message: str) -> None:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()] or ["(no message)"]
    print(f"xbeam {command}: " + " ".join(lines), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version (0), a usage mistake (2, one line: _Parser.error)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    args.started = False
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from acquisition.tomlcheck import ConfigError

    errors = _typed_errors()
    try:
        return args.func(args)
    except tuple(errors) as exc:
        # the one place a typed error becomes a message and an exit code; any other
        # exception is a bug of xbeam and is left to show its traceback (exit code 1)
        if isinstance(exc, ConfigError):  # one line per problem, each naming file, key, value, allowed
            print(f"xbeam {args.command}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.started:  # the run had begun: the file is resumable
            _say(args.command, f"the run failed: {exc}")
            return EXIT_RUN_FAILED
        _say(args.command, str(exc))
        return exc.code if isinstance(exc, Refused) else next(c for t, c in errors.items() if isinstance(exc, t))
    except KeyboardInterrupt:
        _say(args.command, "interrupted (Ctrl-C)" + ("" if args.started else "; nothing was started"))
        return EXIT_ABORTED


if __name__ == "__main__":
    sys.exit(main())
