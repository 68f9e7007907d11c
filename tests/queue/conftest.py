"""Queue tests on the zero-latency fake apparatus (the engine's own fakes), with the
configuration of the simulated apparatus."""

import pytest

from acquisition.config import parse_apparatus
from acquisition.fakes import FakeApparatus
from acquisition.session import Session
from foundation.clock import VirtualClock


@pytest.fixture(scope="session")
def sim_config_text():
    from simulators.apparatus import SimulatedApparatus

    with SimulatedApparatus(VirtualClock()) as sim:
        return sim.apparatus_toml()


@pytest.fixture
def fake_session(sim_config_text):
    clock = VirtualClock()
    config = parse_apparatus(sim_config_text, source="<simulated apparatus>")
    apparatus = FakeApparatus(config, clock)
    session = Session(apparatus, clock=clock, monitor_interval_s=None)
    yield session
    session.close()
