"""The simulated operator: turns a line's manual leak valve until the gauge reads the request."""

from types import SimpleNamespace

import pytest

from simulators.operator import OperatorGaveUp, SimulatedOperator
from simulators.world import LINE_RELAYS


def request(line="target", gas=None, target_mbar=0.1, tolerance=0.01):
    gas = gas or {"target": "isoflurane", "reference": "argon"}[line]
    return SimpleNamespace(line=line, gas=gas, target_mbar=target_mbar, tolerance=tolerance)


@pytest.mark.parametrize("line, target", [("target", 0.054), ("reference", 0.143), ("target", 0.6),
                                          ("reference", 0.9), ("target", 0.30)])
def test_operator_converges_within_tolerance(world, clock, line, target):
    """The equal-mean-free-path pressures of PHYSICS.md case 3.1 (0.054 / 0.143 mbar) and
    others, up and down from the lines' starting 0.30 / 0.40 mbar."""
    operator = SimulatedOperator(world, tolerance=0.01, reaction_s=5.0)
    reads = []

    def read():
        reads.append(clock.now())
        return world.line_gauge_mbar(line)

    t0 = clock.now()
    operator.set_line_pressure(request(line, target_mbar=target), read)
    took = clock.now() - t0
    last_two = [p for _, p in operator.readings[-2:]]
    assert all(abs(p / target - 1) <= 0.01 for p in last_two)
    assert reads[-1] - reads[-2] == pytest.approx(5.0)  # two readings reaction_s apart
    assert took < 900.0  # minutes, not hours: the line's time constant is 1-3 min
    assert world.line_pressure_mbar(line) == pytest.approx(target, rel=0.015)
    assert world.line_pressure_mbar(line, clock.now() + 300.0) == pytest.approx(target, rel=0.03)  # and stays


def test_operator_holds_the_other_line_alone(world, clock):
    before = world.leak_valve("reference")
    SimulatedOperator(world).set_line_pressure(request("target", target_mbar=0.1),
                                               lambda: world.line_gauge_mbar("target"))
    assert world.leak_valve("reference") == before


def test_operator_aims_at_the_tighter_tolerance(world, clock):
    operator = SimulatedOperator(world, tolerance=0.05)
    operator.set_line_pressure(request(target_mbar=0.15, tolerance=0.002), lambda: world.line_gauge_mbar("target"))
    assert all(abs(p / 0.15 - 1) <= 0.002 for _, p in operator.readings[-2:])


def test_operator_gives_up_on_a_pressure_out_of_reach(world):
    operator = SimulatedOperator(world)
    with pytest.raises(OperatorGaveUp, match="out of reach"):
        operator.set_line_pressure(request(target_mbar=25.0), lambda: world.line_gauge_mbar("target"))
    with pytest.raises(OperatorGaveUp, match="times fully open"):
        operator.set_line_pressure(request(target_mbar=10.0), lambda: world.line_gauge_mbar("target"))


def test_operator_gives_up_after_a_bounded_time_on_a_stuck_gauge(world, clock):
    world.freeze("needle_pressure", 0.30)  # the gauge does not follow
    operator = SimulatedOperator(world, give_up_s=600.0)
    t0 = clock.now()
    with pytest.raises(OperatorGaveUp, match="after 600 s"):
        operator.set_line_pressure(request(target_mbar=0.1), world.needle_gauge_mbar)
    assert 600.0 <= clock.now() - t0 <= 610.0


def test_operator_refuses_the_wrong_gas(world):
    with pytest.raises(OperatorGaveUp, match="holds argon, not isoflurane"):
        SimulatedOperator(world).set_line_pressure(request("reference", gas="isoflurane"),
                                                   lambda: world.line_gauge_mbar("reference"))


def test_operator_sets_the_line_with_the_needle_open(world, clock):
    """Set with the needle open (the scattering configuration): the same steady state as
    through the bypass, so it converges the same way."""
    world.set_relay(LINE_RELAYS["target"]["needle"], True)
    operator = SimulatedOperator(world)
    operator.set_line_pressure(request(target_mbar=0.2), lambda: world.line_gauge_mbar("target"))
    world.set_relay(LINE_RELAYS["target"]["needle"], False)  # back to the bypass: no change
    assert world.line_pressure_mbar("target", clock.now() + 60) == pytest.approx(0.2, rel=0.02)
