"""Mistakes a user makes at the command line, one row each: the documented exit code,
exactly one message line naming the option or file (and the bad value), no traceback,
and no file created, changed or truncated in the working directory.

Every row runs in-process through ``acquisition.cli.main`` (fast); a few run again in a
subprocess, where the interpreter itself would print a traceback and the log output
is not captured by pytest.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest

from acquisition.cli import EXIT_BAD_INPUT, EXIT_CODES, EXIT_UNAVAILABLE, SIM_SOURCE, main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

PLAN = """\
[metadata]
sample = "isoflurane"
operator = "mistakes test"
[scan]
gas = "isoflurane"
energies_eV = [100]
angles_deg = [60, 90]
sweeps = 1
[counting]
dwell_s = 10.0
background_dwell_s = 5.0
subgate_s = 5.0
[background]
mode = "every"
[settle]
energy_s = 2.0
angle_s = 1.0
gas_s = 2.0
"""

DCS = {  # malformed --target-dcs tables
    "dcs_negative": "angle_deg,energy_eV,dcs\n20,50,2\n30,50,-1\n",
    "dcs_short_row": "angle_deg,energy_eV,dcs\n20,50,2\n30,50\n",
    "dcs_no_columns": "angle,energy,cross_section\n20,50,2\n",
    "dcs_infinite": "angle_deg,energy_eV,dcs\n20,50,inf\n",
    "dcs_duplicate": "angle_deg,energy_eV,dcs\n20,50,1\n20,50,2\n",
    "dcs_not_grid": "angle_deg,energy_eV,dcs\n20,50,1\n30,50,1\n20,100,1\n",
    "dcs_angle_range": "angle_deg,energy_eV,dcs\n200,50,1\n",
    "dcs_words": "angle_deg,energy_eV,dcs\n20,50,big\n",
    "dcs_empty": "",
    "dcs_header_only": "# nothing measured yet\nangle_deg,energy_eV,dcs\n",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _aborted_run(path: Path, plan: Path, source: str) -> str:
    """A run on an in-process simulator, aborted after its first point; the simulator is
    gone afterwards (its ports closed).  Returns the apparatus text it ran on."""
    from acquisition.config import parse_apparatus
    from acquisition.events import Point
    from acquisition.plans import load_plan
    from acquisition.session import Session
    from foundation.clock import VirtualClock
    from simulators.apparatus import SimulatedApparatus
    from simulators.world import WorldConfig

    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=3)) as sim:
        text = sim.apparatus_toml()
        config = parse_apparatus(text, source=source)
        with Session.connect(config, clock, monitor_interval_s=None) as session:

            def abort_after_first_point(event):
                if isinstance(event, Point):
                    session.run.abort("test: abort after one point")

            stop = session.run_plan(load_plan(plan, apparatus=config), path,
                                    also=(abort_after_first_point,)).join(120)
    assert stop.status == "aborted" and stop.points_done == 1, stop
    return text


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Every input file the mistakes need, made once; each test works on a copy."""
    d = tmp_path_factory.mktemp("library")
    (d / "plan.toml").write_text(PLAN)
    (d / "plan_garbled.toml").write_text("[scan\ngas = isoflurane\n")
    (d / "plan_bad_value.toml").write_text(PLAN.replace("sweeps = 1", "sweeps = -1"))
    (d / "plan_unknown_key.toml").write_text(PLAN.replace("sweeps = 1", "sweeps = 1\nsweep_count = 2"))
    (d / "plan_energy.toml").write_text(PLAN.replace("energies_eV = [100]", "energies_eV = [1000]"))
    for name, text in DCS.items():
        (d / f"{name}.csv").write_text(text)
    (d / "dcs_binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe\xfd")

    assert main(["run", str(d / "plan.toml"), "--sim", "--virtual", "-q", "-o", str(d / "run.h5")]) == 0
    _aborted_run(d / "sim_run.h5", d / "plan.toml", SIM_SOURCE)
    dead = _aborted_run(d / "lab_run.h5", d / "plan.toml", str(d / "dead.toml"))
    # the apparatus file of a simulator that has stopped: every address refuses connections
    (d / "dead.toml").write_text(dead)
    (d / "unknown_key.toml").write_text(dead.replace("[beam]\n", "[beam]\nfilament_curent_A = 2.0\n"))
    (d / "bad_address.toml").write_text(_with_address(dead, "gauges", "nowhere"))
    (d / "no_tty.toml").write_text(_with_address(dead, "gauges", "/dev/ttyXBEAM9"))
    (d / "narrow.toml").write_text(dead.replace("max_angle_deg = 135.0", "max_angle_deg = 70.0"))
    (d / "sim_file.toml").write_text(dead + "\n[simulator]\ntime_scale = 1.0\n")

    with h5py.File(d / "foreign.h5", "w") as f:
        f.create_dataset("spectrum", data=[1.0, 2.0, 3.0])
    data = (d / "run.h5").read_bytes()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    crashed = (DATA / "v1_crashed.h5").read_bytes()
    (d / "crashed_truncated.h5").write_bytes(crashed[: len(crashed) * 3 // 5])
    (d / "crashed_damaged.h5").write_bytes(_damage_last_object_header(crashed))
    (d / "empty.h5").write_bytes(b"")
    (d / "notes.h5").write_text("these are my notes, not a run file\n")
    (d / "table.csv").write_text("my own table\n")
    (d / "run.csv").write_text("an earlier export, edited by hand\n")
    (d / "my_settings.toml").write_text("# my own settings\n")
    (d / "somefile").write_text("a file, not a folder\n")
    (d / "folder").mkdir()
    foreign = sqlite3.connect(d / "foreign.sqlite")  # an SQLite database of someone else's
    foreign.execute("CREATE TABLE samples (name TEXT)")
    foreign.commit()
    foreign.close()
    return d


def _with_address(text: str, instrument: str, address: str) -> str:
    head, _, tail = text.partition(f"[instruments.{instrument}]\n")
    line, _, rest = tail.partition("address = ")
    return head + f"[instruments.{instrument}]\n" + line + f'address = "{address}"\n' + rest.partition("\n")[2]


def _damage_last_object_header(data: bytes) -> bytes:
    """A byte of the last HDF5 object header inverted: its checksum fails (the file is
    one a writer crashed with, so HDF5 reads it in SWMR mode, which re-reads a block
    whose checksum fails)."""
    at = data.rindex(b"OHDR") + 12
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.fixture(scope="module")
def ports():
    """A port in use, a silent instrument (accepts, never answers), a closed port."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield {"busy_port": busy.getsockname()[1], "silent_port": silent.getsockname()[1], "closed_port": _free_port()}
    stop.set()
    thread.join(2)
    for s in (busy, silent, *accepted):
        s.close()


@dataclass(frozen=True)
class Mistake:
    id: str
    command: str  #: the arguments, with {name} for a file of the library (in the working copy)
    code: int
    names: tuple[str, ...]  #: the message line contains each (option, file, bad value, what is allowed)


B, U = EXIT_BAD_INPUT, EXIT_UNAVAILABLE
SIM = "--sim --virtual -q"
MISTAKES = [
    # ---- run: the apparatus and the clock
    Mistake("run without --apparatus or --sim", "run {plan.toml}", B, ("--apparatus", "--sim")),
    Mistake("run with both --sim and --apparatus", "run {plan.toml} --sim --apparatus {dead.toml}", B,
            ("--sim", "--apparatus")),
    Mistake("run with an unknown option", "run {plan.toml} --sim --speed 3", B, ("--speed",)),
    Mistake("--time-scale 0", "run {plan.toml} --sim --time-scale 0", B, ("--time-scale", "'0'", "> 0")),
    Mistake("--time-scale negative", "run {plan.toml} --sim --time-scale -3", B, ("--time-scale", "-3", "> 0")),
    Mistake("--time-scale not a number", "run {plan.toml} --sim --time-scale fast", B, ("--time-scale", "fast")),
    Mistake("--time-scale with real instruments", "run {plan.toml} --apparatus {dead.toml} --time-scale 10", B,
            ("--time-scale 10", "dead.toml", "[simulator]")),
    Mistake("--virtual with real instruments", "run {plan.toml} --apparatus {dead.toml} --virtual", B,
            ("--virtual", "dead.toml")),
    Mistake("--time-scale contradicting the file of `xbeam sim`",
            "run {plan.toml} --apparatus {sim_file.toml} --time-scale 100", B,
            ("--time-scale 100", "sim_file.toml", "time_scale = 1")),
    Mistake("--virtual against `xbeam sim`", "run {plan.toml} --apparatus {sim_file.toml} --virtual", B,
            ("--virtual", "sim_file.toml")),
    Mistake("--seed negative", "run {plan.toml} --sim --virtual --seed -1", B, ("--seed", "-1")),
    Mistake("--target-dcs without --sim", "run {plan.toml} --apparatus {dead.toml} --target-dcs {dcs_negative.csv}",
            B, ("--target-dcs", "--sim")),
    Mistake("--target-gas missing", "run {plan.toml} --sim --virtual --target-gas {missing.toml}", B,
            ("--target-gas", "missing.toml", "no such file")),
    Mistake("--target-gas not a gas definition", "run {plan.toml} --sim --virtual --target-gas {plan.toml}", B,
            ("--target-gas", "plan.toml", "not a valid gas definition", "more problems")),
    Mistake("--target-gas without --sim", "run {plan.toml} --apparatus {dead.toml} --target-gas {plan.toml}", B,
            ("--target-gas", "--sim")),
    # ---- absolute
    Mistake("absolute without -o", "absolute --relative {run.h5} --volume {run.h5} --rfm {run.h5}", B, ("-o",)),
    Mistake("absolute with one run file for two roles",
            "absolute --relative {run.h5} --volume {run.h5} --rfm {run.h5} -o {folder}/out", B,
            ("--volume", "run.h5", "given already")),
    Mistake("absolute --angular-fwhm negative",
            "absolute --relative {run.h5} --volume {run.h5} --rfm {run.h5} -o {folder}/out --angular-fwhm -2", B,
            ("--angular-fwhm", "-2")),
    # ---- run: the plan
    Mistake("plan missing", "run {missing.toml} " + SIM, B, ("missing.toml", "cannot read")),
    Mistake("plan not TOML", "run {plan_garbled.toml} " + SIM, B, ("plan_garbled.toml",)),
    Mistake("plan wrong value", "run {plan_bad_value.toml} " + SIM, B, ("plan_bad_value.toml", "scan.sweeps", "-1")),
    Mistake("plan unknown key", "run {plan_unknown_key.toml} " + SIM, B, ("plan_unknown_key.toml", "sweep_count")),
    Mistake("plan energy outside the tune table", "run {plan_energy.toml} " + SIM, B,
            ("plan_energy.toml", "energies_eV", "1000")),
    # ---- run: the apparatus file
    Mistake("apparatus file missing", "run {plan.toml} --apparatus {missing.toml}", B, ("missing.toml",)),
    Mistake("apparatus unknown key", "run {plan.toml} --apparatus {unknown_key.toml}", B,
            ("unknown_key.toml", "beam.filament_curent_A", "did you mean")),
    Mistake("apparatus address malformed", "run {plan.toml} --apparatus {bad_address.toml}", B,
            ("bad_address.toml", "instruments.gauges.address", "nowhere")),
    Mistake("apparatus on closed ports", "run {plan.toml} --apparatus {dead.toml} -o {new.h5}", U,
            ("dead.toml", "not reachable", "Connection refused")),
    Mistake("apparatus serial port that does not exist", "run {plan.toml} --apparatus {no_tty.toml} -o {new.h5}", U,
            ("no_tty.toml", "/dev/ttyXBEAM9")),
    Mistake("apparatus instrument that does not answer", "run {plan.toml} --apparatus {silent.toml} -o {new.h5}", U,
            ("silent.toml", "not reachable", "127.0.0.1::{silent_port}::SOCKET")),
    # ---- run: the output
    Mistake("run -o an existing run file", "run {plan.toml} " + SIM + " -o {run.h5}", B,
            ("-o", "run.h5", "exists", "xbeam resume")),
    Mistake("run -o a directory", "run {plan.toml} " + SIM + " -o {folder}", B, ("-o", "folder", "directory")),
    Mistake("run -o under a file", "run {plan.toml} " + SIM + " -o {somefile}/run.h5", B,
            ("-o", "somefile", "not a directory")),
    Mistake("run -o where no file can be created", "run {plan.toml} " + SIM + " -o /proc/xbeam-run.h5", B,
            ("-o", "/proc/xbeam-run.h5", "cannot create")),
    # ---- --target-dcs tables
    Mistake("--target-dcs missing", "run {plan.toml} " + SIM + " --target-dcs {missing.csv} -o {new.h5}", B,
            ("missing.csv", "cannot read")),
    Mistake("--target-dcs negative dcs", "run {plan.toml} " + SIM + " --target-dcs {dcs_negative.csv} -o {new.h5}",
            B, ("dcs_negative.csv", "line 3", "'-1'", "> 0")),
    Mistake("--target-dcs short row", "run {plan.toml} " + SIM + " --target-dcs {dcs_short_row.csv} -o {new.h5}", B,
            ("dcs_short_row.csv", "line 3", "2 fields")),
    Mistake("--target-dcs wrong columns", "run {plan.toml} " + SIM + " --target-dcs {dcs_no_columns.csv}", B,
            ("dcs_no_columns.csv", "angle_deg", "energy_eV", "dcs")),
    Mistake("--target-dcs infinite dcs", "run {plan.toml} " + SIM + " --target-dcs {dcs_infinite.csv}", B,
            ("dcs_infinite.csv", "line 2", "'inf'", "finite")),
    Mistake("--target-dcs cell twice", "run {plan.toml} " + SIM + " --target-dcs {dcs_duplicate.csv}", B,
            ("dcs_duplicate.csv", "line 3", "line 2")),
    Mistake("--target-dcs not a full grid", "run {plan.toml} " + SIM + " --target-dcs {dcs_not_grid.csv}", B,
            ("dcs_not_grid.csv", "full grid", "angle_deg = 30")),
    Mistake("--target-dcs angle beyond 180", "run {plan.toml} " + SIM + " --target-dcs {dcs_angle_range.csv}", B,
            ("dcs_angle_range.csv", "line 2", "'200'", "180")),
    Mistake("--target-dcs word for a number", "run {plan.toml} " + SIM + " --target-dcs {dcs_words.csv}", B,
            ("dcs_words.csv", "line 2", "'big'")),
    Mistake("--target-dcs empty file", "run {plan.toml} " + SIM + " --target-dcs {dcs_empty.csv}", B,
            ("dcs_empty.csv", "angle_deg,energy_eV,dcs")),
    Mistake("--target-dcs header only", "run {plan.toml} " + SIM + " --target-dcs {dcs_header_only.csv}", B,
            ("dcs_header_only.csv", "no data rows")),
    Mistake("--target-dcs not text", "run {plan.toml} " + SIM + " --target-dcs {dcs_binary.csv}", B,
            ("dcs_binary.csv", "not a text CSV")),
    Mistake("--target-dcs a directory", "run {plan.toml} " + SIM + " --target-dcs {folder}", B,
            ("folder", "cannot read")),
    # ---- sim
    Mistake("sim --time-scale 0", "sim --time-scale 0 --write {new.toml}", B, ("--time-scale", "'0'")),
    Mistake("sim --base-port above 65535", "sim --base-port 70000 --write {new.toml}", B, ("--base-port", "70000")),
    Mistake("sim --base-port whose ports run past 65535", "sim --base-port 65530 --write {new.toml}", B,
            ("--base-port 65530", "65535")),
    Mistake("sim --base-port negative", "sim --base-port -1 --write {new.toml}", B, ("--base-port", "-1")),
    Mistake("sim on a port in use", "sim --base-port {busy_port} --write {new.toml}", U,
            ("--base-port {busy_port}", "127.0.0.1:{busy_port}", "in use")),
    Mistake("sim --target-dcs malformed", "sim --base-port 0 --target-dcs {dcs_negative.csv} --write {new.toml}", B,
            ("dcs_negative.csv", "line 3")),
    Mistake("sim --write over a file it did not write", "sim --base-port 0 --write {my_settings.toml}", B,
            ("--write", "my_settings.toml", "--force")),
    Mistake("sim --write over a run file, --force", "sim --base-port 0 --write {run.h5} --force", B,
            ("--write", "run.h5", "HDF5")),
    Mistake("sim --write into a missing folder", "sim --base-port 0 --write {missing}/sim.toml", B,
            ("--write", "missing")),
    # ---- resume
    Mistake("resume a missing file", "resume {missing.h5} " + SIM, B, ("missing.h5", "no such file")),
    Mistake("resume a text file", "resume {notes.h5} " + SIM, B, ("notes.h5", "not an HDF5 file")),
    Mistake("resume an empty file", "resume {empty.h5} " + SIM, B, ("empty.h5", "not an HDF5 file")),
    Mistake("resume a foreign HDF5 file", "resume {foreign.h5} " + SIM, B, ("foreign.h5", "not an xbeam run file")),
    Mistake("resume a truncated run file", "resume {truncated.h5} " + SIM, B, ("truncated.h5", "truncated")),
    Mistake("resume a truncated crashed run", "resume {crashed_truncated.h5} " + SIM, B,
            ("crashed_truncated.h5", "truncated")),
    Mistake("resume a crashed run with a damaged block", "resume {crashed_damaged.h5} " + SIM, B,
            ("crashed_damaged.h5", "damaged")),
    Mistake("resume a directory", "resume {folder} " + SIM, B, ("folder", "directory")),
    Mistake("resume a --sim run without --sim", "resume {sim_run.h5}", B, ("sim_run.h5", "--sim")),
    Mistake("resume on an apparatus that is gone", "resume {lab_run.h5}", U,
            ("lab_run.h5", "not reachable", "Connection refused")),
    Mistake("resume on an apparatus that cannot run the stored plan", "resume {lab_run.h5} --apparatus {narrow.toml}",
            B, ("lab_run.h5", "angles_deg", "90")),
    Mistake("resume with --time-scale on real instruments", "resume {lab_run.h5} --time-scale 10", B,
            ("--time-scale 10", "[simulator]")),
    # ---- export
    Mistake("export onto the run file", "export {run.h5} -o {run.h5}", B, ("-o", "run.h5", "run file itself")),
    Mistake("export onto the run file, --force", "export {run.h5} -o {run.h5} --force", B,
            ("-o", "run.h5", "run file itself")),
    Mistake("export onto another run file, --force", "export {run.h5} -o {lab_run.h5} --force", B,
            ("-o", "lab_run.h5", "HDF5")),
    Mistake("export over an existing CSV", "export {run.h5} -o {table.csv}", B, ("-o", "table.csv", "--force")),
    Mistake("export over the default CSV", "export {run.h5}", B, ("run.csv", "--force")),
    Mistake("export -o a directory", "export {run.h5} -o {folder}", B, ("-o", "folder", "directory")),
    Mistake("export -o into a missing folder", "export {run.h5} -o {missing}/out.csv", B, ("-o", "missing")),
    Mistake("export a truncated run file", "export {truncated.h5} -o {new.csv}", B, ("truncated.h5", "truncated")),
    Mistake("export a text file", "export {notes.h5} -o {new.csv}", B, ("notes.h5", "not an HDF5 file")),
    Mistake("export a foreign HDF5 file", "export {foreign.h5} -o {new.csv}", B, ("foreign.h5", "not an xbeam")),
    Mistake("export a damaged crashed run", "export {crashed_damaged.h5} -o {new.csv}", B,
            ("crashed_damaged.h5", "damaged")),
    # ---- probe and dry-run
    Mistake("probe an unknown model", "probe tpg999 socket://127.0.0.1:{closed_port}", B, ("tpg999", "tpg362")),
    Mistake("probe a malformed address", "probe tpg362 nowhere", B, ("ADDRESS", "nowhere")),
    Mistake("probe a port out of range", "probe tpg362 socket://127.0.0.1:99999", B, ("99999",)),
    Mistake("probe a closed port", "probe tpg362 socket://127.0.0.1:{closed_port} --timeout 0.3", U,
            ("127.0.0.1:{closed_port}", "TPG")),
    Mistake("probe a serial port that does not exist", "probe tpg362 /dev/ttyXBEAM9", U, ("/dev/ttyXBEAM9",)),
    Mistake("probe --timeout 0", "probe tpg362 /dev/ttyXBEAM9 --timeout 0", B, ("--timeout", "'0'")),
    Mistake("dry-run a missing plan", "dry-run {missing.toml}", B, ("missing.toml",)),
    Mistake("dry-run against an apparatus with a typo", "dry-run {plan.toml} --apparatus {unknown_key.toml}", B,
            ("unknown_key.toml", "filament_curent_A")),
    # ---- gui: refused before the window opens
    Mistake("gui --start without --plan", "gui --sim --start", B, ("--start", "--plan")),
    Mistake("gui -o without --start", "gui --sim --plan {plan.toml} -o {new.h5}", B, ("-o", "new.h5", "--start")),
    Mistake("gui --quit-when-done without --start", "gui --sim --plan {plan.toml} --quit-when-done", B,
            ("--quit-when-done", "--start")),
    Mistake("gui --virtual without --sim", "gui --virtual", B, ("--virtual", "--sim")),
    Mistake("gui --start without an apparatus", "gui --plan {plan.toml} --start", B, ("--start", "--sim")),
    Mistake("gui --start of a plan with a wrong value", "gui --sim --virtual --plan {plan_bad_value.toml} --start", B,
            ("plan_bad_value.toml", "scan.sweeps", "-1")),
    Mistake("gui --start over an existing run file", "gui --sim --virtual --plan {plan.toml} --start -o {run.h5}", B,
            ("-o", "run.h5", "never overwritten")),
    Mistake("gui --view a text file", "gui --view {notes.h5}", B, ("notes.h5", "not an HDF5 file")),
    Mistake("gui --view a truncated run file", "gui --view {truncated.h5}", B, ("truncated.h5", "truncated")),
    Mistake("gui --plan missing", "gui --plan {missing.toml}", B, ("--plan", "missing.toml")),
    Mistake("gui --queue a text file", "gui --queue {notes.h5}", B, ("--queue", "notes.h5", "not an xbeam queue")),
    Mistake("gui --queue a run file", "gui --queue {run.h5}", B, ("--queue", "run.h5", "not an xbeam queue")),
    Mistake("gui --queue a foreign SQLite database", "gui --sim --virtual --queue {foreign.sqlite}", B,
            ("--queue", "foreign.sqlite", "not an xbeam queue")),
    Mistake("gui --queue a folder", "gui --queue {folder}", B, ("--queue", "folder", "directory")),
    Mistake("gui --queue in a missing folder", "gui --queue {missing}/q.sqlite", B, ("--queue", "missing")),
]

#: run again in a subprocess: tracebacks the interpreter prints, log output on stderr
IN_SUBPROCESS = {
    "run -o where no file can be created",
    "apparatus instrument that does not answer",
    "sim on a port in use",
    "resume a truncated crashed run",
    "resume a --sim run without --sim",
    "export onto the run file",
    "--target-dcs short row",
    "probe a closed port",
}


def test_the_table_is_large_and_its_codes_documented():
    assert len(MISTAKES) >= 30 and len({m.id for m in MISTAKES}) == len(MISTAKES)
    assert {m.code for m in MISTAKES} <= set(EXIT_CODES)
    assert IN_SUBPROCESS <= {m.id for m in MISTAKES}


def _workdir(library: Path, tmp_path: Path, ports: dict) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    shutil.copytree(library, work)
    (work / "silent.toml").write_text(
        _with_address((library / "dead.toml").read_text(), "picoammeter",
                      f"TCPIP::127.0.0.1::{ports['silent_port']}::SOCKET").replace("timeout_s = 2.0", "timeout_s = 0.3"))
    names = {p.name: str(p) for p in work.iterdir()}
    names.update({n: str(work / n) for n in ("missing.toml", "missing.csv", "missing.h5", "missing",
                                              "new.h5", "new.csv", "new.toml")})
    names.update({k: str(v) for k, v in ports.items()})
    return work, names


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), folder)] = ("dir",)
        for name in filenames:
            path = Path(dirpath, name)
            st = path.stat()
            out[os.path.relpath(path, folder)] = (path.read_bytes(), st.st_mtime_ns, st.st_ino)
    return out


def _fill(template: str, names: dict[str, str], quote=str) -> str:
    """``{run.h5}`` -> the path of run.h5 in the working copy (file names have dots:
    not str.format)."""
    return re.sub(r"\{([^{}]+)\}", lambda m: quote(names[m.group(1)]), template)


def _argv(mistake: Mistake, names: dict[str, str]) -> list[str]:
    return shlex.split(_fill(mistake.command, names, shlex.quote))


def _check(mistake: Mistake, names: dict[str, str], code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err, out + err
    assert out == "", out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("xbeam"), lines[0]
    for name in mistake.names:
        assert _fill(name, names) in lines[0], (name, lines[0])
    assert code == mistake.code, (code, lines[0])


@pytest.mark.timeout(60, method="thread")  # a hang inside HDF5 is in C: only the thread method ends it
@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_mistake_in_process(mistake, library, ports, tmp_path, monkeypatch, capsys):
    work, names = _workdir(library, tmp_path, ports)
    monkeypatch.chdir(work)
    before = _snapshot(work)
    code = main(_argv(mistake, names))
    captured = capsys.readouterr()
    _check(mistake, names, code, captured.out, captured.err)
    assert _snapshot(work) == before


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mistake", [m for m in MISTAKES if m.id in IN_SUBPROCESS],
                         ids=[m.id for m in MISTAKES if m.id in IN_SUBPROCESS])
def test_mistake_in_a_subprocess(mistake, library, ports, tmp_path):
    work, names = _workdir(library, tmp_path, ports)
    before = _snapshot(work)
    done = subprocess.run([sys.executable, "-m", "acquisition.cli", *_argv(mistake, names)], cwd=work,
                          capture_output=True, text=True, timeout=100)
    _check(mistake, names, done.returncode, done.stdout, done.stderr)
    assert _snapshot(work) == before


def test_a_crashed_file_s_damage_is_found_in_swmr_mode(library):
    """The damaged fixture must exercise the SWMR path: a writer had it open."""
    head = (library / "crashed_damaged.h5").read_bytes()[:16]
    assert head[8] == 3 and head[11] & 0x05, "the fixture must carry a writer's consistency flags"
    assert struct.unpack_from("<Q", (library / "truncated.h5").read_bytes(), 28)[0] > (
        library / "truncated.h5").stat().st_size
