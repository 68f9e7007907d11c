"""The soak: a queue worth 24 h of beam time, virtual clock, the simulated apparatus
through the real loopback stacks, faults injected at random (tests/queue/soak_rig.py).

Every item ends finished or with a recorded reason and policy action, no acknowledged
point is lost or duplicated, and the apparatus ends in the safe state (read from the
simulated world's physics, not from xbeam's own record)."""

import pytest

from .soak_rig import run_soak

pytestmark = pytest.mark.slow


def test_a_day_of_beam_time_with_faults_ends_accounted_for_and_safe(tmp_path):
    report = run_soak(tmp_path, hours=24.0, seed=2)
    text = "\n".join(report.lines())
    assert report.outcome.startswith("completed"), text
    assert report.items >= 20
    assert report.unexplained == [], text
    assert sum(report.item_states.values()) == report.items
    assert report.item_states["done"] >= report.items // 2, text
    # every kind of fault was injected and each was survived or accounted for
    for kind in ("drop", "truncate", "garble", "silence", "link dropped", "pressure burst", "beam loss",
                 "frozen gauge", "never clears (counter garbles every reply)"):
        assert report.faults[kind] >= 1, (kind, text)
    assert report.retries > 0 and report.suspensions > 0 and report.pauses > 0
    # the fault that never clears: every item after it was skipped with the policy's action
    assert any("device fault" in a and "skipped to the next item" in a for a in report.policy_actions), text
    assert report.points_acknowledged == report.points_in_files > 0
    assert report.lost == 0 and report.duplicated == 0, text
    safe = report.safe
    assert safe["channeltron_V"] == 0.0 and safe["max_electrode_V"] < 1.0, text
    assert safe["filament_A"] == 0.0 and not safe["needle_open"] and not safe["side_leak_open"], text
    assert "FAILED" not in report.safe_state_text, report.safe_state_text
