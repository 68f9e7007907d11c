"""`xbeam queue` from the command line: mistakes are one line and a documented exit
code, nothing changed; the queue commands through main() in this process."""

import pytest

from acquisition.cli import main
from acquisition.queue import QueueStore, RunnerLock
from tests.plans import plan_text


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(plan_text(sample="cli"))
    (tmp_path / "bad.toml").write_text(plan_text(energies=(5000,)))
    return tmp_path


def one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_add_checks_the_plan_against_the_apparatus_before_the_queue_exists(files, capsys):
    assert main(["queue", "add", "p.toml"]) == 2
    one_line(capsys, "no apparatus to check the plan against", "--apparatus FILE", "--sim")
    assert not (files / "xbeam-queue.sqlite").exists()
    assert main(["queue", "add", "bad.toml", "--sim"]) == 2
    one_line(capsys, "bad.toml", "scan.energies_eV[0] = 5000", "tune table")
    assert not (files / "xbeam-queue.sqlite").exists()
    assert main(["queue", "add", "p.toml", "--sim"]) == 0
    assert main(["queue", "add", "p.toml", "--pause-timeout", "120", "--on-fault", "stop"]) == 0  # remembered
    capsys.readouterr()
    with QueueStore("xbeam-queue.sqlite") as store:
        items = store.items()
    assert [i.overrides for i in items] == [{}, {"pause_timeout_s": 120.0, "on_fault": "stop"}]


@pytest.mark.parametrize("argv, needles", [
    (["queue", "show", "7"], ["item 7: no such item"]),
    (["queue", "move", "1"], ["exactly one of --position N, --before ID, --after ID"]),
    (["queue", "move", "1", "--before", "9"], ["item 9: no such item"]),
    (["queue", "add", "--wait-until", "25:61"], ["must be HH:MM"]),
    (["queue", "add", "--safe-state", "off"], ["invalid choice: 'off'"]),
    (["queue", "config", "--pause-timeout", "-3"], ["must be a number of seconds > 0"]),
    (["queue", "config", "--on-fault", "maybe"], ["invalid choice: 'maybe'"]),
    (["queue", "edit", "1"], ["nothing to change"]),
    (["queue", "list", "--queue", "missing.sqlite"], ["no such queue"]),
    (["queue", "show", "0"], ["must be an integer >= 1"]),
])
def test_mistakes_are_one_line_and_exit_2(files, capsys, argv, needles):
    assert main(["queue", "add", "p.toml", "--sim"]) == 0
    capsys.readouterr()
    assert main(argv) == 2
    one_line(capsys, *needles)


def test_a_second_runner_is_refused_before_anything_connects(files, capsys):
    assert main(["queue", "add", "p.toml", "--sim"]) == 0
    with RunnerLock(files / "xbeam-queue.sqlite"):
        assert main(["queue", "run", "--sim", "--virtual", "-q"]) == 5
    one_line(capsys, "another `xbeam queue run` is running this queue")


def test_run_status_history_through_the_command_line(files, capsys):
    assert main(["queue", "add", "p.toml", "--sim"]) == 0
    assert main(["queue", "add", "--safe-state", "standby"]) == 0
    assert main(["queue", "run", "--sim", "--virtual", "-q"]) == 0
    capsys.readouterr()
    assert main(["queue", "status"]) == 0
    out = capsys.readouterr().out
    assert "state: completed" in out and "items: 2 done, 0 skipped, 0 failed, 0 to do" in out
    assert "filament 0.00 A" in out
    assert main(["queue", "history"]) == 0
    out = capsys.readouterr().out
    assert out.count("success") == 2 and "xbeam-queue-item0001-cli.h5" in out
    assert main(["queue", "list", "--all"]) == 0
    assert main(["queue", "run", "--sim", "--virtual", "-q"]) == 0  # nothing left: nothing moves
    assert "nothing to run" in capsys.readouterr().err


def test_an_rfm_item_is_refused_by_an_unattended_queue_before_anything_moves(files, capsys):
    """Nobody turns the leak valves overnight: only --sim's operator can; the refusal comes
    before the instruments are even connected (the lab file's are not reachable here)."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    lab = str(examples / "apparatus_lab.toml")
    assert main(["queue", "add", str(examples / "isoflurane_rfm.toml"), "--apparatus", lab]) == 0
    capsys.readouterr()
    assert main(["queue", "run", "--apparatus", lab]) == 2
    one_line(capsys, "is an RFM plan", "nobody to turn the leak valves", "--sim")
