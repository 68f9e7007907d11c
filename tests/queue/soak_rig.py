"""The soak: a queue worth ``hours`` of beam time on the simulated apparatus, through
the real loopback stacks, in virtual time, with faults injected at random.

Used by tests/queue/test_soak.py (24 h) and bench/soak.py (longer).  Faults:

* link faults per exchange, at ``rate``, on every instrument: ``drop`` (connection
  dropped), ``truncate`` (half a reply), ``garble`` (garbage reply), ``silence``
  (no reply: a timeout; the instruments' timeouts are cut to 0.3 s wall for this);
* whole-link drops (every connection of one instrument closed at once);
* pressure bursts and beam losses in the world (interlock suspensions);
* a frozen chamber gauge, stuck above the interlock trip for minutes to hours (some
  longer than ``suspend_limit_s``: the policy skips that item);
* a fault that never clears: from ``never_clears_at`` of the night on, the counter
  garbles every reply (every remaining item pauses, waits ``pause_timeout_s``, is put
  in the safe state, recorded and skipped).

The clock is a :class:`FaultClock`: a virtual clock that applies the scheduled world
faults when time passes their moment, whoever is sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from acquisition.config import parse_apparatus
from acquisition.events import Message, Paused, Point, RunStart, Suspended
from acquisition.plans import parse_plan
from acquisition.queue import QueuePolicy, QueueRunner, QueueStore
from acquisition.session import Session
from acquisition.storage import read_run
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.server import Faults
from simulators.world import ELECTRODE_MAP, RELAY_NEEDLE, RELAY_SIDE_LEAK, WorldConfig
from tests.plans import plan_text

LINK_KINDS = ("drop", "truncate", "garble", "silence")


class FaultClock(VirtualClock):
    """A virtual clock that runs scheduled actions once time passes their moment."""

    def __init__(self) -> None:
        super().__init__()
        self._due: list[tuple[float, int, object]] = []
        self._seq = itertools.count()
        self._due_lock = threading.Lock()

    def at(self, t: float, action) -> None:
        with self._due_lock:
            heapq.heappush(self._due, (t, next(self._seq), action))

    def _run_due(self) -> None:
        while True:
            with self._due_lock:
                if not self._due or self._due[0][0] > self._t:
                    return
                _, _, action = heapq.heappop(self._due)
            action()

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self._run_due()

    def sleep_until(self, t: float) -> None:
        super().sleep_until(t)
        self._run_due()


class RandomLinkFaults(Faults):
    """Each exchange fails with probability ``rate`` (seeded), one of the four kinds;
    ``broken``: every reply garbled (the fault that never clears)."""

    def __init__(self, rate: float, rng: random.Random, counts: Counter) -> None:
        super().__init__()
        self.rate, self.rng, self.counts = rate, rng, counts
        self.broken = False

    def _take(self, kinds):
        if self.broken and "garble" in kinds:
            return "garble"
        if self.rate and self.rng.random() < self.rate:
            kind = self.rng.choice(LINK_KINDS)
            if kind in kinds:
                self.counts[kind] += 1
                return kind
        return None


@dataclass
class SoakReport:
    hours_planned: float
    beam_hours: float = 0.0
    items: int = 0
    outcome: str = ""
    faults: Counter = field(default_factory=Counter)
    retries: int = 0
    suspensions: int = 0
    pauses: int = 0
    policy_actions: list[str] = field(default_factory=list)
    item_states: Counter = field(default_factory=Counter)
    points_acknowledged: int = 0
    points_in_files: int = 0
    lost: int = 0
    duplicated: int = 0
    unexplained: list[str] = field(default_factory=list)  #: items neither done nor with reason and action
    safe: dict[str, object] = field(default_factory=dict)
    safe_state_text: str = ""
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return [
            f"queue: {self.items} items, {self.hours_planned:.1f} h of beam time planned, "
            f"{self.beam_hours:.1f} h of clock time run (virtual), {self.wall_s:.1f} s wall",
            f"outcome: {self.outcome}; items {dict(self.item_states)}",
            f"faults injected: {sum(self.faults.values())} ({kinds})",
            f"retries: {self.retries}, suspensions: {self.suspensions}, device-fault pauses: {self.pauses}",
            f"policy actions: {len(self.policy_actions)}"
            + "".join(f"\n  {a}" for a in self.policy_actions[:8])
            + (f"\n  ... {len(self.policy_actions) - 8} more" if len(self.policy_actions) > 8 else ""),
            f"points: {self.points_acknowledged} acknowledged, {self.points_in_files} in the run files; "
            f"lost {self.lost}, duplicated {self.duplicated}",
            f"items without a recorded reason and policy action: {len(self.unexplained)}",
            f"apparatus at the end: {self.safe}",
        ]


class _Watch:
    """Bus subscriber: what the soak counts."""

    def __init__(self, report: SoakReport) -> None:
        self.report = report
        self.acknowledged: dict[str, list[tuple]] = {}
        self._run = None

    def __call__(self, event) -> None:
        if isinstance(event, RunStart):
            self._run = event.run_id
            self.acknowledged.setdefault(event.run_id, [])
        elif isinstance(event, Point):
            self.acknowledged[self._run].append((event.sweep, event.energy_index, event.angle_index))
        elif isinstance(event, Suspended):
            self.report.suspensions += 1
        elif isinstance(event, Paused) and event.reason.startswith("device fault"):
            self.report.pauses += 1
        elif isinstance(event, Message) and "(retry " in event.text:
            self.report.retries += 1


def run_soak(tmp: Path, *, hours: float = 24.0, seed: int = 1, rate: float = 0.0015,
             never_clears_at: float = 0.85, say=None) -> SoakReport:
    import time

    rng = random.Random(seed)
    report = SoakReport(hours)
    clock = FaultClock()
    wall0 = time.perf_counter()
    with SimulatedApparatus(clock, WorldConfig(seed=seed)) as sim:
        world = sim.world
        text = sim.apparatus_toml().replace("timeout_s = 2.0", "timeout_s = 0.3")
        config = parse_apparatus(text, source="<simulated apparatus>")
        links = {}
        for role, server in sim.servers.items():
            links[role] = server.faults = RandomLinkFaults(rate, random.Random(rng.random()), report.faults)

        # the queue: plans of two or three energies over 11 angles until `hours` of beam time
        store = QueueStore(tmp / "soak.sqlite")
        store.set_policy(QueuePolicy(pause_timeout_s=900.0, suspend_limit_s=1800.0, on_fault="skip",
                                     fault_state="shutdown", end_state="shutdown"))
        total = 0.0
        n = 0
        while total < hours * 3600:
            energies = sorted(rng.sample(range(50, 301, 25), rng.choice((2, 3))))
            plan = parse_plan(plan_text(sample=f"soak{n}", energies=energies, angles=range(25, 126, 10),
                                        dwell_s=60.0, background_dwell_s=30.0), source=f"soak{n}.toml",
                              apparatus=config)
            store.add_plan(plan, apparatus=config)
            total += plan.estimate_duration_s(apparatus=config)
            n += 1
            if n == 6:
                store.add_instruction("safe-state", "shutdown")  # mid-night: the next item heats up again
        report.items = len(store.items())

        # world faults over the night, in clock time
        night = hours * 3600.0
        for _ in range(max(1, int(hours / 2))):
            t = rng.uniform(0.02, 0.95) * night
            clock.at(t, lambda: report.faults.update(["pressure burst"]))
            world.pressure_burst(rng.choice((1e-4, 3e-4)), rng.uniform(30, 300), start=t)
        for _ in range(max(1, int(hours / 2))):
            t = rng.uniform(0.02, 0.95) * night
            clock.at(t, lambda: report.faults.update(["beam loss"]))
            world.beam_loss(rng.uniform(20, 600), start=t)
        for _ in range(max(1, int(hours / 8))):
            t = rng.uniform(0.05, 0.8) * night
            duration = rng.choice((rng.uniform(300, 1200), rng.uniform(2400, 5000)))

            def freeze(duration=duration):
                report.faults["frozen gauge"] += 1
                world.freeze("chamber_pressure", 1e-4)
                clock.at(clock.now() + duration, lambda: world.unfreeze("chamber_pressure"))

            clock.at(t, freeze)
        for _ in range(max(1, int(hours))):
            t = rng.uniform(0.0, 0.95) * night
            role = rng.choice(sorted(sim.servers))

            def drop(role=role):
                report.faults["link dropped"] += 1
                sim.servers[role].drop_connections()

            clock.at(t, drop)

        def never_clears():
            report.faults["never clears (counter garbles every reply)"] += 1
            links["counter"].broken = True

        clock.at(never_clears_at * night, never_clears)

        watch = _Watch(report)
        session = Session.connect(config, clock, monitor_interval_s=None)
        session.bus.subscribe(watch)
        try:
            runner = QueueRunner(store, session, run_dir=tmp / "runs", poll_s=0.2,
                                 say=say or (lambda text: None))
            outcome = runner.run()
        finally:
            session.close()
        report.outcome = f"{outcome.status}: {outcome.reason}"
        report.safe_state_text = outcome.safe_state
        report.beam_hours = clock.now() / 3600.0

        # what the world was left in: the state reached, from the physics, not from our own record
        t = clock.now()
        report.safe = {
            "channeltron_V": round(world.electrode_voltage("channeltron", t), 3),
            "max_electrode_V": round(max(abs(world.electrode_voltage(n, t)) for n in ELECTRODE_MAP), 3),
            "filament_A": round(world.filament_current_A(t), 4),
            "needle_open": world.relays[RELAY_NEEDLE],
            "side_leak_open": world.relays[RELAY_SIDE_LEAK],
        }

        # every item: finished, or a recorded reason and policy action; every point once
        for item in store.items():
            report.item_states[item.state] += 1
            if item.state != "done" and not (item.reason and item.policy_action):
                report.unexplained.append(f"item {item.id} {item.state}: {item.reason!r} {item.policy_action!r}")
            if item.policy_action:
                report.policy_actions.append(f"item {item.id}: {item.reason[:110]} -> {item.policy_action}")
            if item.kind != "plan" or not item.run_file or not Path(item.run_file).exists():
                continue
            run = read_run(item.run_file)
            keys = list(zip(run.points["sweep"].tolist(), run.points["energy_index"].tolist(),
                            run.points["angle_index"].tolist()))
            report.points_in_files += len(keys)
            report.duplicated += len(keys) - len(set(keys))
            acknowledged = watch.acknowledged.get(run.run_id, [])
            report.points_acknowledged += len(acknowledged)
            report.lost += len(set(acknowledged) - set(keys))
            report.duplicated += len(acknowledged) - len(set(acknowledged))
        store.close()
    report.wall_s = time.perf_counter() - wall0
    return report
