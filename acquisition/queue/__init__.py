"""The overnight queue: plans and instructions run one after the other, unattended.

The scripting API (the one ``xbeam queue`` and the GUI use; docs/queue.md)::

    from acquisition.queue import QueueStore, QueueRunner, open_session
    from acquisition.plans import load_plan

    with open_session("apparatus.toml") as session:           # connects, identifies
        plan = load_plan("plan.toml", apparatus=session.config)  # validated
        session.run_plan(plan, "runs/one.h5").join()             # one plan, now
        store = QueueStore("xbeam-queue.sqlite")
        store.add_plan(plan)                                      # enqueue
        store.add_instruction("safe-state", "shutdown")
        outcome = QueueRunner(store, session).run()               # the whole queue
        for attempt in store.history():                           # the results
            print(attempt.item_id, attempt.status, attempt.run_file, attempt.points_in_file)

* :mod:`.store`: :class:`QueueStore`, the SQLite database (items, policy, history,
  events, status).
* :mod:`.lock`: the one-runner-per-queue lock (an ``flock`` the kernel drops when the
  runner dies, however it dies).
* :mod:`.runner`: :class:`QueueRunner`, the items through the session's runs.
* :mod:`.policy`: :class:`QueuePolicy`, the unattended policy and the safe states.
* :mod:`.notify`: :class:`Notifier`, the notification hook.
"""

from __future__ import annotations

from .errors import QueueBusy, QueueError
from .lock import RunnerLock, holder
from .notify import Notifier
from .policy import FAULT_ACTIONS, SAFE_STATES, QueuePolicy, parse_policy_file
from .runner import ItemResult, QueueOutcome, QueueRunner
from .store import DEFAULT_QUEUE, INSTRUCTIONS, Attempt, Item, QueueStore, describe_plan

__all__ = [
    "DEFAULT_QUEUE",
    "FAULT_ACTIONS",
    "INSTRUCTIONS",
    "SAFE_STATES",
    "Attempt",
    "Item",
    "ItemResult",
    "Notifier",
    "QueueBusy",
    "QueueError",
    "QueueOutcome",
    "QueuePolicy",
    "QueueRunner",
    "QueueStore",
    "RunnerLock",
    "describe_plan",
    "holder",
    "open_session",
    "parse_policy_file",
]


def open_session(apparatus, clock=None, **kwargs):
    """A :class:`~acquisition.session.Session` on the apparatus file (or config)
    ``apparatus``: every instrument connected and identified, nothing moved or heated.
    ``clock``: real time unless given (a file `xbeam sim` wrote runs at its speed)."""
    from acquisition.config import ApparatusConfig, load_apparatus
    from acquisition.session import Session
    from foundation.clock import make_clock

    config = apparatus if isinstance(apparatus, ApparatusConfig) else load_apparatus(apparatus)
    if clock is None:
        clock = make_clock(config.simulator.time_scale if config.simulator is not None else None)
    kwargs.setdefault("monitor_interval_s", None)
    return Session.connect(config, clock, **kwargs)
