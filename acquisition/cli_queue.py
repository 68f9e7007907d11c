"""``xbeam queue``: the overnight queue from the command line (docs/queue.md).

xbeam queue add PLAN.toml [...] [--position N | --before ID | --after ID] [--apparatus FILE | --sim]
xbeam queue add --pause-for-operator MESSAGE | --wait-until TIME | --safe-state [NAME]
xbeam queue list | show ID | move ID ... | remove ID [...] | edit ID ... | clear [--finished]
xbeam queue run [--apparatus FILE | --sim] [--virtual | --time-scale K] [--runs DIR]
xbeam queue stop [--now] | continue | history [ID] | status | config [...]

Every command takes ``--queue FILE`` (default ``xbeam-queue.sqlite`` here).  A mistake
is refused before anything changes with one line naming the file, item, option or
value and what is allowed, and an exit code of :data:`acquisition.cli.EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import acquisition.cli

#: the CLI module whose parser registered these commands: ``python -m acquisition.cli``
#: runs it as ``__main__``, whose cli.Refused (and helpers raising it) main() catches
cli = acquisition.cli

__all__ = ["add_queue_command", "queue_exit_code"]


def _store(args, *, create: bool = False):
    from acquisition.queue import QueueError, QueueStore

    path = Path(args.queue)
    if create and not Path(path.parent if str(path.parent) else ".").is_dir():
        raise cli.Refused(f"--queue {path}: no such folder {path.parent}")
    try:
        return QueueStore(path, create=create)
    except QueueError as exc:
        raise cli.Refused(str(exc)) from None


def _queue_errors(fn):
    """A QueueError (no such item, an item that cannot move, a bad setting) is a refusal."""

    def wrapped(args):
        from acquisition.queue import QueueBusy, QueueError

        try:
            return fn(args)
        except QueueBusy as exc:
            raise cli.Refused(str(exc), cli.EXIT_UNAVAILABLE) from None
        except QueueError as exc:
            raise cli.Refused(str(exc)) from None

    wrapped.__name__ = fn.__name__
    return wrapped


def _seconds_or_none(text: str):
    if text.lower() in ("none", "never"):
        return None
    if text.lower() == "default":
        return "default"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds > 0, none (no limit) or default")
    return value


_seconds_or_none.__name__ = "seconds"


def _config_for(args, store, stack: ExitStack):
    """The apparatus config a plan is checked against: the one given, else the one the
    queue remembers (given to an earlier add or run)."""
    from acquisition.config import load_apparatus

    if args.sim or args.apparatus:
        config, _clock = cli._apparatus(args, stack)
        return config
    remembered = store.apparatus() if store is not None else None
    if remembered is None:
        raise cli.Refused("no apparatus to check the plan against: give --apparatus FILE (the instruments, or the file "
                      "`xbeam sim` wrote) or --sim; the queue remembers it for the next add")
    if remembered.get("sim"):
        args.sim = True
        config, _clock = cli._apparatus(args, stack)
        args.sim = False
        return config
    return load_apparatus(remembered["file"])


def _place(args) -> dict:
    return {"position": args.position, "before": args.before, "after": args.after}


def _overrides(args) -> dict:
    out = {}
    for option, key in (("pause_timeout", "pause_timeout_s"), ("suspend_limit", "suspend_limit_s"),
                        ("on_fault", "on_fault")):
        value = getattr(args, option, None)
        if value is not None:
            out[key] = value
    return out


# --------------------------------------------------------------------- commands
@_queue_errors
def cmd_add(args) -> int:
    from acquisition.plans import load_plan

    instructions = [(k, v) for k, v in (("pause-for-operator", args.pause_for_operator),
                                        ("wait-until", args.wait_until), ("safe-state", args.safe_state))
                    if v is not None]
    if len(instructions) + (1 if args.plans else 0) != 1:
        raise cli.Refused("queue add: give PLAN.toml [...] or one of --pause-for-operator MESSAGE, --wait-until TIME, "
                      "--safe-state [NAME]")
    if args.output and len(args.plans) != 1:
        raise cli.Refused(f"-o {args.output}: one run file per plan: give a single PLAN.toml with -o")
    if instructions and _overrides(args):
        raise cli.Refused("--pause-timeout, --suspend-limit, --on-fault: only for plans (an instruction runs no plan)")
    with ExitStack() as stack:
        if instructions:
            store = stack.enter_context(_store(args, create=True))
            kind, argument = instructions[0]
            item = store.add_instruction(kind, argument, **_place(args))
            print(f"queued item {item.id} at position {_active_position(store, item.id)}: {item.label}")
            return cli.EXIT_OK
        # everything is checked before the queue file is created or changed
        existing = stack.enter_context(_store(args)) if Path(args.queue).exists() else None
        config = _config_for(args, existing, stack)
        plans = [load_plan(p, apparatus=config) for p in args.plans]  # every file checked before any is queued
        if args.output:
            cli._check_new_run_file(Path(args.output))
        store = existing or stack.enter_context(_store(args, create=True))
        if args.sim or args.apparatus:
            store.remember_apparatus({"sim": True} if args.sim else {"file": str(Path(args.apparatus).resolve())})
        overrides = _overrides(args)
        place = _place(args)
        added = []
        for plan in plans:
            item = store.add_plan(plan, apparatus=config, overrides=overrides,
                                  run_file=str(Path(args.output).resolve()) if args.output else "", **place)
            added.append(item)
            if place["position"] is not None:
                place = {"position": None, "before": None, "after": item.id}  # the next plan after this one
            elif place["before"] is not None or place["after"] is not None:
                place = {"position": None, "before": None, "after": item.id}
        for item in added:
            est = item.metadata.get("estimate_s", 0.0)
            print(f"queued item {item.id} at position {_active_position(store, item.id)}: {item.label}; "
                  f"{item.points_planned} points, about {cli._hms(est)} of beam time")
    return cli.EXIT_OK


def _active_position(store, item_id: int) -> int:
    from acquisition.queue.store import ACTIVE_STATES

    ids = [i.id for i in store.items(ACTIVE_STATES)]
    return ids.index(item_id) + 1 if item_id in ids else 0


@_queue_errors
def cmd_list(args) -> int:
    from acquisition.queue.store import ACTIVE_STATES

    with _store(args) as store:
        items = store.items(None if args.all else ACTIVE_STATES)
        if not items:
            print(f"{args.queue}: nothing to run" + ("" if args.all else " (`--all` lists finished items too)"))
            return cli.EXIT_OK
        print(f"{'pos':>3s} {'id':>4s} {'state':11s} {'points':>9s} {'beam time':>10s}  item")
        n = 0
        for item in items:
            active = item.state in ACTIVE_STATES
            n += active
            points = f"{item.points_done}/{item.points_planned}" if item.kind == "plan" else ""
            est = cli._hms(item.metadata.get("estimate_s", math.nan)) if item.kind == "plan" else ""
            extra = f"  [{item.reason}]" if item.reason and not active else ""
            print(f"{n if active else '':>3} {item.id:4d} {item.state:11s} {points:>9s} {est:>10s}  {item.label}{extra}")
    return cli.EXIT_OK


@_queue_errors
def cmd_show(args) -> int:
    with _store(args) as store:
        item = store.get(args.id)
        print(f"item {item.id}: {item.label}")
        for key in ("kind", "state", "plan_source", "argument", "run_file", "points_planned", "points_done",
                    "reason", "policy_action", "created_utc", "started_utc", "ended_utc"):
            value = getattr(item, key)
            if value not in ("", None):
                print(f"  {key}: {value}")
        for key, value in item.metadata.items():
            print(f"  {key}: {value}")
        policy = store.policy().for_item(item.overrides)
        if item.kind == "plan":
            print(f"  policy: pause_timeout_s = {policy.pause_timeout_s}, suspend_limit_s = "
                  f"{policy.suspend_limit_s}, on_fault = {policy.on_fault}"
                  + (f" (item overrides: {item.overrides})" if item.overrides else ""))
        for a in store.history(item.id):
            print(f"  attempt {a.attempt}: {a.start_utc} -> {a.end_utc or '...'} {a.status}"
                  f" ({a.points_done} points, {a.points_in_file} in the file)" + (f": {a.reason}" if a.reason else "")
                  + (f"; policy: {a.policy_action}" if a.policy_action else ""))
        if item.plan_text and args.plan:
            print("  plan:")
            print("\n".join("    " + line for line in item.plan_text.splitlines()))
    return cli.EXIT_OK


@_queue_errors
def cmd_move(args) -> int:
    if sum(x is not None for x in (args.position, args.before, args.after)) != 1:
        raise cli.Refused("queue move: give exactly one of --position N, --before ID, --after ID")
    with _store(args) as store:
        item = store.move(args.id, **_place(args))
        print(f"item {item.id} now at position {_active_position(store, item.id)}: {item.label}")
    return cli.EXIT_OK


@_queue_errors
def cmd_remove(args) -> int:
    from acquisition.queue import holder

    with _store(args) as store:
        for item_id in args.ids:
            store.get(item_id)  # every id checked before any is removed
        for item_id in args.ids:
            item = store.remove(item_id, runner_alive=holder(store.path) is not None)
            print(f"removed item {item.id}: {item.label}" + (f" (its run file {item.run_file} is kept)"
                                                             if item.run_file else ""))
    return cli.EXIT_OK


@_queue_errors
def cmd_edit(args) -> int:
    from acquisition.plans import load_plan

    with ExitStack() as stack:
        store = stack.enter_context(_store(args))
        if args.retry:
            item = store.retry(args.id)
            print(f"item {item.id} queued again ({item.state}): {item.label}")
            return cli.EXIT_OK
        plan = config = None
        if args.plan:
            config = _config_for(args, store, stack)
            plan = load_plan(args.plan, apparatus=config)
            if args.sim or args.apparatus:
                store.remember_apparatus({"sim": True} if args.sim else {"file": str(Path(args.apparatus).resolve())})
        if args.output:
            cli._check_new_run_file(Path(args.output))
        if plan is None and args.argument is None and not _overrides(args) and not args.output:
            raise cli.Refused("queue edit: nothing to change: give --plan FILE, --argument TEXT, --pause-timeout, "
                          "--suspend-limit, --on-fault, -o RUN.h5 or --retry")
        item = store.edit(args.id, plan=plan, apparatus=config, overrides=_overrides(args), argument=args.argument,
                          run_file=str(Path(args.output).resolve()) if args.output else None)
        print(f"item {item.id}: {item.label}" + (f" (overrides: {item.overrides})" if item.overrides else ""))
    return cli.EXIT_OK


@_queue_errors
def cmd_clear(args) -> int:
    with _store(args) as store:
        n = store.clear(finished=args.finished)
        print(f"removed {n} items" + (" and the history" if args.finished else " not yet started"))
    return cli.EXIT_OK


@_queue_errors
def cmd_stop(args) -> int:
    from acquisition.queue import holder

    with _store(args) as store:
        store.request_stop("point" if args.now else "item")
        alive = holder(store.path)
        where = "the current point" if args.now else "the current item"
        if alive:
            print(f"stop requested: the runner (pid {alive.get('pid')}) stops after {where}, then applies the "
                  f"end state ({store.policy().end_state})")
        else:
            print("no runner is running this queue; nothing to stop (the request is dropped by the next run)")
    return cli.EXIT_OK


@_queue_errors
def cmd_continue(args) -> int:
    with _store(args) as store:
        store.request_continue()
        status = store.status()
        if status.get("state") == "waiting for the operator":
            print(f"continuing after item {status.get('item')}: {status.get('label')}")
        else:
            print("no item is waiting for the operator now; the runner continues at the next pause-for-operator "
                  "only if asked again then")
    return cli.EXIT_OK


@_queue_errors
def cmd_history(args) -> int:
    with _store(args) as store:
        rows = store.history(args.id)
        if not rows:
            print(f"{args.queue}: no history yet")
            return cli.EXIT_OK
        for a in rows:
            print(f"item {a.item_id} #{a.attempt} {a.status:11s} {a.start_utc} -> {a.end_utc or '(open)'}  "
                  f"points {a.points_done} (file {a.points_in_file}/{a.points_planned})  {a.run_file or '-'}")
            if a.reason and a.status != "success":
                print(f"    reason: {a.reason}")
            if a.policy_action:
                print(f"    policy: {a.policy_action}")
            if a.safe_state:
                print(f"    safe state: {a.safe_state}")
    return cli.EXIT_OK


@_queue_errors
def cmd_status(args) -> int:
    from acquisition.queue import holder
    from acquisition.queue.store import ACTIVE_STATES

    with _store(args) as store:
        status = store.status()
        alive = holder(store.path)
        items = store.items()
        counts = {s: sum(1 for i in items if i.state == s) for s in ("done", "skipped", "failed")}
        todo = sum(1 for i in items if i.state in ACTIVE_STATES)
        print(f"queue: {Path(args.queue).resolve()}")
        if alive:
            print(f"runner: pid {alive.get('pid')} on {alive.get('host')} since {alive.get('since')}")
        elif status.get("state") in (None, "starting", "running", "suspended", "paused", "resumed") or \
                str(status.get("state", "")).startswith("waiting"):
            print("runner: none alive" + (" (the last one ended without closing: `xbeam queue run` resumes)"
                                          if status else ""))
        else:
            print("runner: none")
        if status:
            print(f"state: {status.get('state')}" + (f" ({status.get('reason')})" if status.get("reason") else ""))
        if status.get("item") is not None:
            print(f"item: {status.get('item')}: {status.get('label')}")
            done, total = status.get("done"), status.get("total")
            if total:
                frac = f" ({100 * (done or 0) / total:.0f} %)" if done is not None else ""
                print(f"point: {done if done is not None else '-'}/{total}{frac}")
            if status.get("run_file"):
                print(f"run file: {status.get('run_file')}")
            speed = status.get("speed") or 1.0
            for label, key in (("item", "item_eta_s"), ("queue", "queue_eta_s")):
                eta = status.get(key)
                if eta is not None and eta == eta:
                    wall = "virtual time" if speed == math.inf else f"{cli._hms(eta / speed)} wall"
                    print(f"ETA {label}: {cli._hms(eta)} of beam time ({wall})")
        if status.get("last_event"):
            print(f"last event: {status.get('last_event')}")
        if status.get("safe_state"):
            print(f"safe state: {status.get('safe_state')}")
        if status.get("updated"):
            print(f"updated: {status.get('updated')}")
        print(f"items: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed, {todo} to do")
    return cli.EXIT_OK


@_queue_errors
def cmd_config(args) -> int:
    from acquisition.queue import parse_policy_file

    with _store(args, create=True) as store:
        policy = store.policy()
        if args.file:
            policy = parse_policy_file(args.file, policy)
        values = {}
        for option, key in (("pause_timeout", "pause_timeout_s"), ("suspend_limit", "suspend_limit_s"),
                            ("on_fault", "on_fault"), ("fault_state", "fault_state"), ("end_state", "end_state"),
                            ("notify", "notify"), ("notify_timeout", "notify_timeout_s")):
            value = getattr(args, option)
            if value is not None:
                if value == "default":
                    raise cli.Refused(f"--{option.replace('_', '-')} default: only for an item (queue add/edit); "
                                  "the queue's own setting is a number of seconds or none")
                values[key] = value
        if values or args.file:
            policy = policy.with_values("queue config", values)
            store.set_policy(policy)
        for key, value in policy.to_dict().items():
            print(f"{key} = {value!r}")
    return cli.EXIT_OK


def queue_exit_code(outcome) -> int:
    """completed with every item done: 0; an item skipped or failed, or a policy stop:
    3; stopped (xbeam queue stop) or interrupted (Ctrl-C, SIGTERM): 4."""
    if outcome.status in ("stopped", "interrupted"):
        return cli.EXIT_ABORTED
    if outcome.status in ("failed", "policy-stop") or outcome.count("skipped") or outcome.count("failed"):
        return cli.EXIT_RUN_FAILED
    if outcome.safe_state_problems:
        return cli.EXIT_RUN_FAILED
    return cli.EXIT_OK


@_queue_errors
def cmd_run(args) -> int:
    from acquisition.plans import parse_plan
    from acquisition.queue import QueueRunner, holder
    from acquisition.queue.store import ACTIVE_STATES
    from acquisition.tomlcheck import ConfigError

    with ExitStack() as stack:
        store = stack.enter_context(_store(args))
        alive = holder(store.path)
        if alive:
            raise cli.Refused(f"{args.queue}: another `xbeam queue run` is running this queue (pid {alive.get('pid')} "
                          f"on {alive.get('host')}); one runner per queue", cli.EXIT_UNAVAILABLE)
        todo = store.items(ACTIVE_STATES)
        if not todo:
            print(f"xbeam queue run: {args.queue}: nothing to run", file=sys.stderr)
            return cli.EXIT_OK
        config, clock = cli._apparatus(args, stack)
        for item in todo:  # every queued plan fits this apparatus, before anything moves
            if item.kind == "plan":
                try:
                    plan = parse_plan(item.plan_text, source=f"item {item.id} ({item.plan_source})",
                                      apparatus=config)
                except ConfigError as exc:
                    raise cli.Refused(f"{' '.join(str(exc).split())}; `xbeam queue edit {item.id} --plan FILE` or "
                                  f"`xbeam queue remove {item.id}`") from None
                if plan.kind == "rfm" and getattr(args, "operator", None) is None:
                    raise cli.Refused(f"item {item.id} ({item.plan_source}) is an RFM plan: an unattended queue has "
                                      "nobody to turn the leak valves (run it with --sim, or on its own with "
                                      f"`xbeam run`); `xbeam queue remove {item.id}`")
        store.remember_apparatus({"sim": True} if args.sim else {"file": str(Path(args.apparatus).resolve())})
        # an unattended queue has no person for the leak valves: only --sim's operator
        session = stack.enter_context(cli._session(config, clock, operator=getattr(args, "operator", None)))
        args.started = True

        def say(text: str) -> None:
            print(f"xbeam queue: {text}", file=sys.stderr, flush=True)

        runner = QueueRunner(store, session, run_dir=args.runs, say=say,
                             also=(cli.ProgressBar(quiet=args.quiet, speed=clock.speed),))

        def on_signal(signum, frame):
            name = signal.Signals(signum).name
            say(f"{name}: stopping now (the run file stays resumable; `xbeam queue run` continues)")
            runner.interrupt(f"interrupted ({name})")

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            outcome = runner.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        done = outcome.count("done")
        say(f"{done} items done, {outcome.count('skipped')} skipped, {outcome.count('failed')} failed, "
            f"{outcome.count('interrupted')} interrupted")
        return queue_exit_code(outcome)


# --------------------------------------------------------------------- parser
def add_queue_command(command, apparatus_options, clock_options) -> None:
    """Register ``xbeam queue`` and its subcommands (called by acquisition.cli.build_parser)."""
    global cli
    cli = sys.modules.get(command.__module__, acquisition.cli)
    qp = command("queue", "the overnight queue: plans and instructions run one after the other, unattended")
    sub = qp.add_subparsers(dest="queue_command", required=True, metavar="SUBCOMMAND")
    item_id = cli._integer(1, None, "an item id, as `xbeam queue list` shows")

    def queue_command(name, help_text, func):
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--queue", default="xbeam-queue.sqlite", metavar="FILE",
                        help="the queue database (default xbeam-queue.sqlite in the current directory)")
        sp.set_defaults(func=func)
        return sp

    def place(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--position", type=cli._integer(1, None, "1 = the next item to run"), metavar="N",
                       help="the N-th of the items still to run (1 = next)")
        g.add_argument("--before", type=item_id, metavar="ID", help="just before item ID")
        g.add_argument("--after", type=item_id, metavar="ID", help="just after item ID")

    def overrides(sp):
        sp.add_argument("--pause-timeout", type=_seconds_or_none, metavar="S",
                        help="this item: seconds a device-fault pause waits before the policy acts (none: for ever; "
                             "default: the queue's)")
        sp.add_argument("--suspend-limit", type=_seconds_or_none, metavar="S",
                        help="this item: seconds an interlock suspension may last (none, default)")
        sp.add_argument("--on-fault", choices=("skip", "stop", "default"),
                        help="this item: after the safe state, skip to the next item or stop the queue")

    sp = queue_command("add", "queue plans (checked against the apparatus first) or an instruction", cmd_add)
    sp.add_argument("plans", nargs="*", metavar="PLAN.toml", help="plan files, queued in this order")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--pause-for-operator", metavar="MESSAGE",
                   help="instruction: safe state, wait for `xbeam queue continue`")
    g.add_argument("--wait-until", metavar="TIME", help="instruction: safe state, wait until HH:MM (local) or an "
                                                        "ISO 8601 date and time")
    g.add_argument("--safe-state", nargs="?", const="shutdown", choices=("safe", "standby", "shutdown"),
                   help="instruction: put the apparatus in this safe state (default shutdown)")
    place(sp)
    overrides(sp)
    sp.add_argument("-o", "--output", metavar="RUN.h5", help="the plan's run file (default runs/<queue>-item<ID>-"
                                                             "<sample>.h5 beside the queue)")
    apparatus_options(sp)
    sp.set_defaults(virtual=False, time_scale=None)

    sp = queue_command("list", "the items still to run, in order (--all: finished ones too)", cmd_list)
    sp.add_argument("--all", action="store_true", help="also the finished items, with their reasons")

    sp = queue_command("show", "one item: metadata, policy, attempts (--plan: its plan text)", cmd_show)
    sp.add_argument("id", type=item_id, metavar="ID", help="the item (its id in `xbeam queue list`)")
    sp.add_argument("--plan", action="store_true", help="print the plan text as queued")

    sp = queue_command("move", "move an item not yet run", cmd_move)
    sp.add_argument("id", type=item_id, metavar="ID", help="the item (its id in `xbeam queue list`)")
    place(sp)

    sp = queue_command("remove", "remove items (their run files are kept)", cmd_remove)
    sp.add_argument("ids", type=item_id, nargs="+", metavar="ID", help="the items (ids in `xbeam queue list`)")

    sp = queue_command("edit", "change an item not yet started (or --retry a skipped or failed one)", cmd_edit)
    sp.add_argument("id", type=item_id, metavar="ID", help="the item (its id in `xbeam queue list`)")
    sp.add_argument("--plan", metavar="FILE", help="replace its plan (checked against the apparatus)")
    sp.add_argument("--argument", metavar="TEXT", help="an instruction's message, time or safe state")
    sp.add_argument("-o", "--output", metavar="RUN.h5", help="its run file")
    sp.add_argument("--retry", action="store_true", help="queue a skipped or failed item again (resumes its run file)")
    overrides(sp)
    apparatus_options(sp)
    sp.set_defaults(virtual=False, time_scale=None)

    sp = queue_command("clear", "remove every item not yet started (--finished: also finished ones and the history)",
                       cmd_clear)
    sp.add_argument("--finished", action="store_true", help="also the finished items and the whole history")

    sp = queue_command("run", "run the queue (foreground; Ctrl-C stops, the next run resumes)", cmd_run)
    apparatus_options(sp)
    clock_options(sp)
    sp.add_argument("--runs", metavar="DIR", help="folder of new run files (default runs/ beside the queue)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = queue_command("stop", "stop the running queue after the current item (--now: after the current point)",
                       cmd_stop)
    sp.add_argument("--now", action="store_true", help="after the current point (the item resumes next run)")

    queue_command("continue", "go on after a pause-for-operator item", cmd_continue)

    sp = queue_command("history", "each attempt: run file, start, end, status, reason, points", cmd_history)
    sp.add_argument("id", type=item_id, nargs="?", metavar="ID", help="only this item")

    queue_command("status", "what the runner does now: item, point, progress, ETA, last event", cmd_status)

    sp = queue_command("config", "show or set the queue's unattended policy and notification hook", cmd_config)
    sp.add_argument("--file", metavar="QUEUE.toml", help="settings from a file ([policy]; examples/queue/queue.toml)")
    sp.add_argument("--pause-timeout", type=_seconds_or_none, metavar="S",
                    help="seconds a device-fault pause waits before the policy acts (none: for ever)")
    sp.add_argument("--suspend-limit", type=_seconds_or_none, metavar="S",
                    help="seconds an interlock suspension may last before the policy acts (none: for ever)")
    sp.add_argument("--on-fault", choices=("skip", "stop"), help="after the safe state: skip the item or stop")
    sp.add_argument("--fault-state", choices=("safe", "standby", "shutdown"),
                    help="safe state after a policy action or an unrecoverable error")
    sp.add_argument("--end-state", choices=("safe", "standby", "shutdown"), help="safe state at the queue's end")
    sp.add_argument("--notify", metavar="COMMAND", help="shell command run on item end, failure, policy action, "
                                                        "pause and queue end (\"\": none)")
    sp.add_argument("--notify-timeout", type=_seconds_or_none, metavar="S", help="wall seconds the hook may take")

