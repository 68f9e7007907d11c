"""Shared fixtures: a fresh virtual clock and a fresh simulated world for every test."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from foundation.clock import VirtualClock  # noqa: E402
from simulators.world import World, WorldConfig  # noqa: E402


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def world(clock):
    """A fresh world on a virtual clock; no state leaks between tests."""
    return World(clock, WorldConfig(seed=12345))


@pytest.fixture
def serve(world):
    """``serve(emulator)`` starts it on a loopback port under the world's lock and
    returns the server; every server started so is stopped after the test."""
    from simulators.server import InstrumentServer

    servers = []

    def start(emulator):
        server = InstrumentServer(emulator, lock=world.lock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
