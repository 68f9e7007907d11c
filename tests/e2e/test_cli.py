"""The command line as the README shows it: sim + probe by hand, dry-run, bad input."""

import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from acquisition.cli import main
from foundation.clock import RealClock

_WALL = RealClock()  # waiting on another process: wall time, through the clock like every wait

ROOT = Path(__file__).resolve().parents[2]


def xbeam(*args):
    return [sys.executable, "-m", "acquisition.cli", *args]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """`xbeam sim` in the foreground of a subprocess, on free loopback ports."""
    config = tmp_path_factory.mktemp("sim") / "xbeam-sim.toml"
    proc = subprocess.Popen(xbeam("sim", "--base-port", "0", "--write", str(config), "--time-scale", "10"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = proc.stdout.readline()
    deadline = time.monotonic() + 30
    while not config.exists() and time.monotonic() < deadline:
        _WALL.sleep(0.05)
    assert "loopback only" in banner, banner
    yield tomllib.loads(config.read_text())
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


@pytest.mark.parametrize(
    "role,expect",
    [
        ("gauges", ["channel_1", "channel_2", "mbar"]),
        ("valves", ["identity"]),
        ("goniometer", ["identity"]),
        ("filament", ["identity"]),
        ("picoammeter", ["identity"]),
        ("counter", ["identity", "53230A"]),
        ("hv_gun", ["identity", "iseg"]),
    ],
)
def test_probe_every_instrument_of_the_running_simulator(sim, role, expect):
    inst = sim["instruments"][role]
    out = subprocess.run(xbeam("probe", inst["model"], inst["address"]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for word in expect:
        assert word in out.stdout


def test_sim_addresses_are_loopback_only(sim):
    for inst in sim["instruments"].values():
        assert "127.0.0.1" in inst["address"]


def test_probe_a_dead_address_names_instrument_and_address():
    out = subprocess.run(xbeam("probe", "tpg362", "socket://127.0.0.1:9", "--timeout", "0.3"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "127.0.0.1:9" in out.stderr and "TPG" in out.stderr


def test_probe_unknown_model_lists_the_models():
    out = subprocess.run(xbeam("probe", "tpg999", "socket://127.0.0.1:9"), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "tpg362" in out.stderr


def test_dry_run_reports_duration_size_and_predicted_saturation(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text((ROOT / "examples" / "isoflurane_overnight.toml").read_text()
                    .replace("energies_eV = [50, 100, 150, 200, 250, 300]", "energies_eV = [50, 300]")
                    .replace("sweeps = 3", "sweeps = 1"))
    assert main(["dry-run", str(plan), "--apparatus", str(ROOT / "examples" / "apparatus_lab.toml")]) == 0
    out = capsys.readouterr().out
    assert "points: 42" in out and "duration:" in out and "run file:" in out
    assert "50 eV 25 deg: " in out and "RATE" in out


def test_bad_plan_is_refused_before_anything_moves(tmp_path, capsys):
    plan = tmp_path / "bad.toml"
    plan.write_text((ROOT / "examples" / "isoflurane_overnight.toml").read_text()
                    .replace("sweeps = 3", "sweeps = -1").replace('mode = "every"', 'mode = "sometimes"'))
    code = main(["run", str(plan), "--sim", "--virtual", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.toml" in err and "scan.sweeps" in err and "background.mode" in err and "every_nth" in err
    assert not (tmp_path / "x.h5").exists()


def test_resume_of_a_complete_run_touches_nothing(tmp_path, capsys):
    plan = tmp_path / "small.toml"
    plan.write_text((ROOT / "examples" / "isoflurane_overnight.toml").read_text()
                    .replace("energies_eV = [50, 100, 150, 200, 250, 300]", "energies_eV = [100]")
                    .replace("sweeps = 3", "sweeps = 1")
                    .replace("angles_deg = { start = 25, stop = 125, step = 5 }", "angles_deg = [60, 90]"))
    run = tmp_path / "run.h5"
    assert main(["run", str(plan), "--sim", "--virtual", "-q", "-o", str(run)]) == 0
    before = run.read_bytes()
    assert main(["resume", str(run), "--sim", "--virtual", "-q"]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert run.read_bytes() == before
