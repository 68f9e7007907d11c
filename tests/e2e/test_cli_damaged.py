"""Damaged run files are refused within seconds, never a hang.

A SWMR reader skips HDF5's end-of-file check and re-reads a block whose checksum fails
with a sleep that doubles each time, up to 100 times: a truncated file hung `xbeam
resume` and `xbeam export` for hours, deaf to Ctrl-C.  Each test below hung before the
reader checked the superblock first, opened closed files without SWMR and bounded the
SWMR read attempts; the timeout turns a hang into a failure.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from acquisition.storage import RunFollower, StorageError, read_run

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def _truncated(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _damaged(src: Path, dst: Path) -> Path:
    """One byte of the last object header inverted: its checksum fails."""
    data = src.read_bytes()
    at = data.rindex(b"OHDR") + 12
    dst.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    return dst


@pytest.mark.timeout(30, method="thread")  # a hang in HDF5 is in C: only the thread method ends it
@pytest.mark.parametrize("fixture", ["v1_finished.h5", "v1_crashed.h5"])
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_a_truncated_run_file_is_refused_at_once(tmp_path, fixture, fraction):
    path = _truncated(DATA / fixture, tmp_path / "cut.h5", fraction)
    with pytest.raises(StorageError, match="truncated"):
        read_run(path)
    with pytest.raises(StorageError, match="truncated"):
        RunFollower(path)


@pytest.mark.timeout(30, method="thread")  # a hang in HDF5 is in C: only the thread method ends it
@pytest.mark.parametrize("fixture", ["v1_finished.h5", "v1_crashed.h5"])
def test_a_damaged_block_is_an_error_not_a_hang(tmp_path, fixture):
    path = _damaged(DATA / fixture, tmp_path / "damaged.h5")
    with pytest.raises(StorageError, match="damaged.h5"):
        read_run(path)


@pytest.mark.timeout(30, method="thread")  # a hang in HDF5 is in C: only the thread method ends it
def test_the_undamaged_fixtures_still_read(tmp_path):
    assert read_run(DATA / "v1_finished.h5").n_points > 0
    assert read_run(DATA / "v1_crashed.h5").status == "running"  # read in SWMR mode: a writer had it open


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["export", "resume"])
def test_the_cli_answers_a_truncated_file_and_leaves_it_alone(tmp_path, command):
    path = _truncated(DATA / "v1_crashed.h5", tmp_path / "cut.h5", 0.5)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-m", "acquisition.cli", command, str(path), "--sim", "--virtual"]
                          if command == "resume" else [sys.executable, "-m", "acquisition.cli", command, str(path)],
                          capture_output=True, text=True, timeout=50, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "cut.h5" in done.stderr and "truncated" in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5"]  # no CSV, no partial file


@pytest.mark.timeout(60)
def test_ctrl_c_while_reading_ends_quietly(tmp_path):
    """Ctrl-C before a run starts (here: while the simulator is being set up) is exit 4, no traceback."""
    plan = Path(__file__).resolve().parents[2] / "examples" / "isoflurane_overnight.toml"
    proc = subprocess.Popen([sys.executable, "-c", "import signal, sys\n"
                             "from acquisition import cli\n"
                             "real = cli._apparatus\n"
                             "def slow(*a, **k):\n"
                             "    print('ready', flush=True)\n"
                             "    signal.pause()\n"
                             "cli._apparatus = slow\n"
                             "sys.exit(cli.main(sys.argv[1:]))\n",
                             "run", str(plan), "--sim", "--virtual", "-o", str(tmp_path / "x.h5")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 4, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "x.h5").exists()
