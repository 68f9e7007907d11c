"""Cables that drop, replies that arrive garbled or half: the run goes on and loses nothing."""

import random

from acquisition.apparatus import connect
from acquisition.config import parse_apparatus
from acquisition.events import EventBus, Message, Point
from acquisition.plans import parse_plan
from acquisition.procedures import DcsScan
from acquisition.runner import Runner
from acquisition.storage import RunRecorder, read_run
from foundation.clock import VirtualClock
from simulators.apparatus import SimulatedApparatus
from simulators.world import WorldConfig

PLAN = """
[metadata]
sample = "isoflurane"
[scan]
gas = "isoflurane"
energies_eV = [100, 200]
angles_deg = { start = 30, stop = 120, step = 15 }
sweeps = 2
[counting]
dwell_s = 20.0
background_dwell_s = 10.0
subgate_s = 5.0
[background]
mode = "every"
[settle]
energy_s = 5.0
angle_s = 1.0
gas_s = 5.0
"""


def test_injected_link_faults_are_retried_and_every_point_lands(tmp_path):
    clock = VirtualClock()
    rng = random.Random(11)
    with SimulatedApparatus(clock, WorldConfig(seed=5)) as sim:
        # short link timeouts: a truncated reply is noticed in 0.5 s of wall time
        config = parse_apparatus(sim.apparatus_toml().replace("timeout_s = 2.0", "timeout_s = 0.5"), source="<sim>")
        plan = parse_plan(PLAN, source="<plan>", apparatus=config)
        apparatus = connect(config, clock)
        bus = EventBus()
        state = {"messages": [], "injected": 0}
        path = tmp_path / "faults.h5"
        roles = ["counter", "gauges", "picoammeter", "goniometer", "valves", "hv_analyzer"]

        recorder = RunRecorder(path)

        def on_event(event):
            if isinstance(event, Message):
                state["messages"].append(event.text)
            if isinstance(event, Point):
                # after every point, break one link somewhere for its next exchange
                role = rng.choice(roles)
                sim.servers[role].faults.inject(rng.choice(["drop", "garble", "truncate"]))
                state["injected"] += 1

        bus.subscribe(recorder, critical=True)
        bus.subscribe(on_event)
        stop = Runner(apparatus, DcsScan(plan, config), bus=bus, clock=clock, retry_delay_s=1.0).run()
        recorder.close(stop)
        apparatus.close()
    assert stop.status == "success", stop.reason
    run = read_run(path)
    keys = list(zip(run.points["sweep"], run.points["energy_index"], run.points["angle_index"]))
    assert len(keys) == len(set(keys)) == len(plan.points())
    assert state["injected"] == len(plan.points())
    # the faults were seen and retried, and said so in the log and the file
    assert any("retry" in text for text in state["messages"])
    assert any(kind == "message" and "retry" in text for _, _, kind, text in run.log)
