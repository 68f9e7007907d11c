"""Independent, published drivers (the "peers") against the emulators, over loopback.

Each peer comes from PyPI through the ``test`` extra (pyproject.toml); none is written
or copied here.  A peer that is not installed fails its module at collection
(:func:`peer`), it is never skipped: these tests are the evidence that the emulators
answer like the instruments for clients other than xbeam's own.

The peers wait in wall time (their own ``time.sleep`` between commands, their own
polling), so the world runs on a :class:`~foundation.clock.ScaledClock`: a 20 s move of
the turntable is 0.2 s of wall time.  No test asserts on wall-clock time.
"""

from __future__ import annotations

import importlib
import time

import pytest

from foundation.clock import ScaledClock

#: world seconds per wall second in these tests
TIME_SCALE = 100.0


def peer(module: str):
    """Import a peer's module, or fail (not skip) naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - the failure CI must show
        pytest.fail(
            f"compat peer {module!r} is not installed ({exc}); install the test extra: "
            "python3 -m pip install -e '.[test]'",
            pytrace=False,
        )


@pytest.fixture
def clock():
    """Overrides the suite's virtual clock: the peers sleep in wall time."""
    return ScaledClock(TIME_SCALE)


def wait_until(predicate, *, timeout_s: float = 20.0, poll_s: float = 0.02):
    """Poll ``predicate`` (wall time) until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s: {predicate}")
        time.sleep(poll_s)
