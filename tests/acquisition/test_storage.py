"""Run files: round trip, SWMR reader, kill -9 and resume, NeXus validity, CSV export.

The helpers ``make_start``/``make_point``/``planned`` are imported by the writer
subprocesses of the crash tests (``python -c``), so they stay importable and cheap.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.events import Gate, Message, Monitor, Paused, Point, PointFlag, Resumed, RunStart, RunStop, Suspended
from acquisition.reduction import DcsPointResult
from acquisition.storage import (
    DERIVED_UNITS,
    POINT_COLUMNS,
    RunData,
    RunWriter,
    StorageError,
    read_run,
    recover,
)
from analysis.export import export_csv
from foundation.clock import utc_iso

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def utc(t: float) -> str:
    return utc_iso(T0 + timedelta(seconds=t))


def make_start(sweeps: int = 2, energies=(50.0, 100.0, 200.0), angles=(30.0, 60.0, 90.0, 120.0)) -> RunStart:
    plan = {"name": "isoflurane test", "gas": "isoflurane", "energies_eV": list(energies), "angles_deg": list(angles)}
    apparatus = {
        "tune": {"energies_eV": [50.0, 100.0, 200.0], "lens_1": [10.0, 20.0, 40.0], "lens 2": [5.0, 6.0, 7.0]},
        "counter": {"address": "TCPIP::127.0.0.1::5025::SOCKET"},
    }
    return RunStart(
        run_id="run-0001",
        utc=utc(0),
        t=0.0,
        plan=plan,
        plan_text='name = "isoflurane test"\ngas = "isoflurane"  # as written\n',
        apparatus=apparatus,
        apparatus_text="[tune]\nenergies_eV = [50.0, 100.0, 200.0]\n",
        snapshot={"counter": {"idn": "SIM,COUNTER,0,1.0", "gate_s": 1.0}},
        software_version="0.1.0",
        metadata={"operator": "A. Operator", "notes": "test run", "sample": "isoflurane"},
        energies_eV=tuple(energies),
        angles_deg=tuple(angles),
        sweeps=sweeps,
        planned_points=sweeps * len(energies) * len(angles),
        clock="VirtualClock",
    )


def planned(start: RunStart) -> list[tuple[int, int, int]]:
    return [
        (s, e, a)
        for s in range(start.sweeps)
        for e in range(len(start.energies_eV))
        for a in range(len(start.angles_deg))
    ]


def make_gate(counts: int, t: float, subgates: int = 3) -> Gate:
    per = [counts // subgates] * subgates
    per[-1] += counts - sum(per)
    return Gate(
        counts=counts,
        gate_s=float(subgates),
        t_start=t,
        t_stop=t + subgates,
        utc_start=utc(t),
        subgate_counts=tuple(per),
        subgate_s=1.0,
        beam_current_A=1.0e-7,
        beam_current_before_A=0.99e-7,
        beam_current_after_A=1.01e-7,
        needle_mbar=0.5,
        chamber_mbar=2e-6,
        angle_readback_deg=30.05,
    )


def make_point(
    start: RunStart,
    seq: int,
    sweep: int,
    e: int,
    a: int,
    *,
    background: bool = True,
    rel_dcs: float | None = None,
    rel_dcs_err: float = 0.05,
    flags: PointFlag = PointFlag.NONE,
) -> Point:
    t = 10.0 * seq
    signal_counts = 1000 + 10 * seq
    return Point(
        seq=seq,
        sweep=sweep,
        energy_index=e,
        angle_index=a,
        energy_eV=start.energies_eV[e],
        angle_deg=start.angles_deg[a],
        signal=make_gate(signal_counts, t),
        background=make_gate(100, t + 4.0, subgates=2) if background else None,
        derived=DcsPointResult(
            signal_rate_cps=signal_counts / 3.0,
            background_rate_cps=50.0 if background else float("nan"),
            signal_loss=0.01 * (a + 1),
            background_loss=0.001 if background else float("nan"),
            net_rate_cps=signal_counts / 3.0 - 50.0,
            rel_dcs=float(seq + 1) if rel_dcs is None else rel_dcs,
            rel_dcs_err=rel_dcs_err,
        ),
        flags=flags,
        attempts=1,
    )


def write_all(writer: RunWriter, start: RunStart, keys, first_seq: int = 0) -> None:
    for seq, key in enumerate(keys, start=first_seq):
        writer.write_point(make_point(start, seq, *key))


def nxcheck(path: Path) -> tuple[int, str]:
    """Run the nexusformat ``nxcheck`` console script; return (errors, output)."""
    script = Path(sys.executable).with_name("nxcheck")
    if script.exists():
        cmd = [str(script), str(path)]
    else:  # the same entry point, without relying on the script being installed
        cmd = [sys.executable, "-c", "from nexusformat.scripts.nxcheck import main; main()", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    found = re.search(r"Total number of errors: (\d+)", text)
    assert found, f"nxcheck printed no summary:\n{text}"
    return int(found.group(1)), text


# A writer in its own process, driven by argv: path, points to write before waiting on
# stdin, and what to do after a line arrives ("finish" the run, or "hang" to be killed).
WRITER_SCRIPT = """
import sys
from acquisition.storage import RunWriter
from acquisition.events import Monitor, RunStop
from tests.acquisition.test_storage import make_start, make_point, planned, utc
path, before, then, sweeps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
start = make_start(sweeps=sweeps)
keys = planned(start)
w = RunWriter.create(path, start)
print("created", flush=True)
for seq, key in enumerate(keys):
    if seq == before:
        print("waiting", flush=True)
        sys.stdin.readline()
        if then == "hang":
            sys.stdin.readline()
    w.write_point(make_point(start, seq, *key))
    print(seq, flush=True)  # after write_point returned: flushed and committed
    if seq % 4 == 0:
        w.write_monitor(Monitor(10.0 * seq, utc(10.0 * seq), 1e-7, 2e-6, 0.5))
if then == "hang":
    print("waiting", flush=True)
    sys.stdin.readline()
w.close(RunStop(1e4, utc(1e4), "success", "plan complete", len(keys)))
print("closed", flush=True)
"""


def spawn_writer(path: Path, before: int, then: str, sweeps: int = 2) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(path), str(before), then, str(sweeps)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "created"
    return proc


def read_lines_until(proc: subprocess.Popen, stop) -> list[str]:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, f"writer exited early (rc={proc.poll()}) after {lines[-3:]}"
        lines.append(line.strip())
        if stop(lines[-1], lines):
            return lines


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_number_and_text(tmp_path):
    start = make_start()
    path = tmp_path / "run.h5"
    writer = RunWriter.create(path, start)
    keys = planned(start)
    p0 = make_point(start, 0, *keys[0], background=False, flags=PointFlag.LOSS | PointFlag.REDONE)
    writer(p0)
    writer(Monitor(5.0, utc(5.0), 1.1e-7, 2.2e-6, 0.45))
    writer(Suspended(6.0, utc(6.0), "beam 1e-9 A below 5e-8 A", point=(0, 0, 1)))
    writer(Paused(7.0, utc(7.0), "operator"))
    writer(Resumed(8.0, utc(8.0), "beam back"))
    writer(Message(9.0, utc(9.0), "warning", "counter timeout, retried"))
    p1 = make_point(start, 1, *keys[1])
    writer(p1)
    writer(RunStop(100.0, utc(100.0), "aborted", "operator abort", 2))
    assert writer.closed

    run = read_run(path)
    assert isinstance(run, RunData)
    assert (run.run_id, run.status, run.status_reason) == ("run-0001", "aborted", "operator abort")
    assert run.recovered == 0 and run.sessions == 1
    assert run.plan_text == start.plan_text and run.apparatus_text == start.apparatus_text
    assert run.plan == start.plan and run.apparatus == start.apparatus and run.snapshot == start.snapshot
    assert run.metadata == start.metadata and run.sample == "isoflurane"
    assert run.start_utc == start.utc and run.end_utc == utc(100.0) and run.software_version == "0.1.0"
    np.testing.assert_array_equal(run.energies_eV, start.energies_eV)
    np.testing.assert_array_equal(run.angles_deg, start.angles_deg)
    assert (run.sweeps, run.planned_points, run.n_points) == (2, 24, 2)

    pts = run.points
    assert set(pts) == {c.name for c in POINT_COLUMNS}
    np.testing.assert_array_equal(pts["seq"], [0, 1])
    assert pts["signal_counts"].tolist() == [p0.signal.counts, p1.signal.counts]
    assert pts["signal_utc_start"].tolist() == [p0.signal.utc_start, p1.signal.utc_start]
    assert pts["signal_beam_current_after"][1] == p1.signal.beam_current_after_A
    assert pts["signal_angle_readback"][0] == pytest.approx(30.05)
    # background absent -> -1 counts, NaN quantities, empty sub-gates
    assert pts["background_counts"].tolist() == [-1, 100]
    assert math.isnan(pts["background_gate_s"][0]) and pts["background_gate_s"][1] == 2.0
    assert pts["background_utc_start"][0] == ""
    assert run.subgate_counts(0, "background").size == 0
    assert run.subgate_counts(1, "background").tolist() == list(p1.background.subgate_counts)
    assert run.subgate_counts(0).tolist() == list(p0.signal.subgate_counts)
    assert run.subgate_counts(1).tolist() == list(p1.signal.subgate_counts)
    assert pts["flags"].tolist() == [int(PointFlag.LOSS | PointFlag.REDONE), 0]
    assert pts["rel_dcs"].tolist() == [1.0, 2.0]
    assert math.isnan(pts["effective_volume_factor"][0])  # not set in the result: NaN
    assert pts["session"].tolist() == [0, 0]

    np.testing.assert_array_equal(run.monitors["time"], [5.0])
    assert run.monitors["beam_current"][0] == 1.1e-7 and run.monitors["needle_pressure"][0] == 0.45
    kinds = [entry[2] for entry in run.log]
    assert kinds == ["suspended", "paused", "resumed", "message", "stop"]
    assert run.log[0][0] == 6.0 and run.log[0][1] == utc(6.0)
    assert "(0, 0, 1)" in run.log[0][3] and run.log[3][3] == "warning: counter timeout, retried"

    with h5py.File(path, "r") as f:
        grid = f["entry/rel_dcs/data"][...]
        assert grid.shape == (2, 3, 4)
        assert grid[0, 0, 0] == 1.0 and grid[0, 0, 1] == 2.0
        assert np.isnan(grid).sum() == grid.size - 2
        tune = f["entry/instrument/tune_table"]
        np.testing.assert_array_equal(tune["energy"][...], [50.0, 100.0, 200.0])
        np.testing.assert_array_equal(tune["lens_2"][...], [5.0, 6.0, 7.0])
        assert tune["lens_2"].attrs["units"] == "V"
        assert f["entry/user/name"][()].decode() == "A. Operator"
        assert f["entry/duration"][()] == 100


def test_every_planned_point_exactly_once_and_default_plot_full(tmp_path):
    start = make_start(sweeps=3)
    path = tmp_path / "run.h5"
    writer = RunWriter.create(path, start)
    write_all(writer, start, planned(start))
    assert writer.points_done == start.planned_points
    writer.close(RunStop(1e3, utc(1e3), "success", "plan complete", start.planned_points))
    run = read_run(path)
    keys = list(
        zip(run.points["sweep"].tolist(), run.points["energy_index"].tolist(), run.points["angle_index"].tolist())
    )
    assert sorted(keys) == sorted(planned(start)) and len(keys) == len(set(keys))
    assert run.done_keys() == set(planned(start))
    with h5py.File(path, "r") as f:
        assert np.isfinite(f["entry/rel_dcs/data"][...]).all()
        assert np.isfinite(f["entry/rel_dcs/data_errors"][...]).all()


def test_layout_nexus_default_chain_units_and_uint8_flags(tmp_path):
    start = make_start()
    path = tmp_path / "run.h5"
    with RunWriter.create(path, start) as writer:
        write_all(writer, start, planned(start)[:3])
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "entry"
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry" and entry.attrs["default"] == "rel_dcs"
        assert entry.attrs["xbeam_file_version"] == 1
        assert entry["program_name"].attrs["version"] == "0.1.0"
        assert entry["status"][()].decode() == "aborted"  # closed without RunStop
        for group, nx_class in [
            ("instrument", "NXinstrument"),
            ("sample", "NXsample"),
            ("user", "NXuser"),
            ("plan", "NXnote"),
            ("points", "NXcollection"),
            ("event_log", "NXcollection"),
            ("instrument/beam_current", "NXlog"),
            ("rel_dcs", "NXdata"),
        ]:
            assert entry[group].attrs["NX_class"] == nx_class, group
        grid = entry["rel_dcs"]
        assert grid.attrs["signal"] == "data"
        assert list(grid.attrs["axes"]) == ["sweep", "energy", "angle"]
        assert [grid.attrs[f"{ax}_indices"] for ax in ("sweep", "energy", "angle")] == [0, 1, 2]
        assert grid["energy"].attrs["units"] == "eV" and grid["angle"].attrs["units"] == "deg"
        for name in ("beam_current", "chamber_pressure", "needle_pressure"):
            nxlog = entry["instrument"][name]
            assert nxlog["time"].attrs["units"] == "s" and nxlog["time"].attrs["start"] == start.utc
            assert nxlog["value"].attrs["units"] in ("A", "mbar")

        points = entry["points"]
        assert points["flags"].dtype == np.uint8
        for column in POINT_COLUMNS:
            ds = points[column.name]
            assert ds.ndim == 1 and ds.maxshape == (None,), column.name
            if ds.dtype.kind == "f":
                assert ds.attrs["units"], f"{column.name} has no units"
        expected_units = {
            "energy": "eV",
            "angle": "deg",
            "signal_gate_s": "s",
            "background_beam_current": "A",
            "signal_needle_pressure": "mbar",
            "background_chamber_pressure": "mbar",
            "signal_counts": "counts",
            "net_rate_cps": "1/s",
        }
        for name, units in expected_units.items():
            assert points[name].attrs["units"] == units
        assert set(DERIVED_UNITS) <= set(points)


def test_nxcheck_reports_no_errors_on_a_finished_run(tmp_path):
    start = make_start()
    path = tmp_path / "run.h5"
    with RunWriter.create(path, start) as writer:
        write_all(writer, start, planned(start)[:5])
        writer.write_monitor(Monitor(1.0, utc(1.0), 1e-7, 2e-6, 0.5))
        writer.close(RunStop(60.0, utc(60.0), "success", "done", 5))
    errors, text = nxcheck(path)
    assert errors == 0, text


def test_nxcheck_helper_does_count_errors(tmp_path):
    """The nxcheck tests above can fail: an NXdata without @signal is an error."""
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.create_dataset("y", data=np.arange(3.0))
    errors, _ = nxcheck(path)
    assert errors >= 1


def test_real_apparatus_and_plan_configs_land_in_the_file(tmp_path):
    """The apparatus and plan as acquisition.config/plans hand them to the engine."""
    from acquisition.config import load_apparatus
    from acquisition.plans import load_plan

    config = load_apparatus(REPO / "examples" / "apparatus_lab.toml")
    plan = load_plan(REPO / "examples" / "isoflurane_overnight.toml", apparatus=config)
    apparatus = config.to_dict()
    start = RunStart(
        **{
            **make_start().__dict__,
            "plan": plan.to_dict(),
            "plan_text": (REPO / "examples" / "isoflurane_overnight.toml").read_text(),
            "apparatus": apparatus,
            "apparatus_text": (REPO / "examples" / "apparatus_lab.toml").read_text(),
            "metadata": {"sample": "isoflurane", "operator": "J. M.", "notes": "n"},
        }
    )
    path = tmp_path / "run.h5"
    with RunWriter.create(path, start) as writer:
        write_all(writer, start, planned(start)[:2])
    with h5py.File(path, "r") as f:
        tune = f["entry/instrument/tune_table"]
        assert tune.attrs["mode"] == apparatus["tune"]["mode"]
        np.testing.assert_array_equal(tune["energy"][...], apparatus["tune"]["energies_eV"])
        for electrode, volts in apparatus["tune"]["potentials"].items():
            np.testing.assert_array_equal(tune[electrode][...], volts)
        assert f["entry/sample/name"][()].decode() == "isoflurane"
    run = read_run(path)
    assert run.apparatus_text == start.apparatus_text and run.plan["metadata"]["operator"] == "J. M."
    errors, text = nxcheck(path)
    assert errors == 0, text


def test_create_refuses_to_overwrite_a_run(tmp_path):
    path = tmp_path / "run.h5"
    RunWriter.create(path, make_start()).close()
    with pytest.raises(StorageError, match="exists"):
        RunWriter.create(path, make_start())


def test_writes_after_close_are_refused(tmp_path):
    start = make_start()
    writer = RunWriter.create(tmp_path / "run.h5", start)
    writer.close()
    writer.close()  # a second close does nothing
    with pytest.raises(StorageError, match="closed"):
        writer.write_point(make_point(start, 0, 0, 0, 0))


def test_columns_come_from_the_result_type_with_its_units():
    from dataclasses import dataclass

    from acquisition.reduction import quantity
    from acquisition.storage import point_columns

    @dataclass(frozen=True)
    class ToyResult:
        widget_rate_cps: float = quantity("1/s", "widgets per second")

    columns = {c.name: c for c in point_columns(ToyResult)}
    assert columns["widget_rate_cps"].units == "1/s" and columns["widget_rate_cps"].doc == "widgets per second"
    assert "rel_dcs" not in columns and "signal_counts" in columns  # gates and keys are every kind's
    assert DERIVED_UNITS["net_rate_var"] == "1/s^2" and set(DERIVED_UNITS) <= {c.name for c in POINT_COLUMNS}


def test_read_run_rejects_foreign_and_future_files(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_group("entry")
    with pytest.raises(StorageError, match="not an xbeam run file"):
        read_run(foreign)
    future = tmp_path / "future.h5"
    RunWriter.create(future, make_start()).close()
    with h5py.File(future, "r+") as f:
        f["entry"].attrs["xbeam_file_version"] = 99
    with pytest.raises(StorageError, match="version 99"):
        read_run(future)


# --------------------------------------------------------------------------- export


def test_export_csv_combines_sweeps_by_weighted_mean(tmp_path):
    start = make_start(sweeps=2, energies=(100.0,), angles=(30.0, 60.0))
    path = tmp_path / "run.h5"
    with RunWriter.create(path, start) as writer:
        writer.write_point(make_point(start, 0, 0, 0, 0, rel_dcs=2.0, rel_dcs_err=0.1))
        writer.write_point(make_point(start, 1, 0, 0, 1, rel_dcs=5.0, rel_dcs_err=0.5, background=False))
        writer.write_point(make_point(start, 2, 1, 0, 0, rel_dcs=3.0, rel_dcs_err=0.2, flags=PointFlag.LOSS))
        writer.write_point(make_point(start, 3, 1, 0, 1, rel_dcs=5.0, rel_dcs_err=0.5, flags=PointFlag.REDONE))
        writer.close(RunStop(50.0, utc(50.0), "success", "done", 4))
    out = tmp_path / "run.csv"
    assert export_csv(path, out) == 2
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]
    assert (float(first["energy_eV"]), float(first["angle_deg"])) == (100.0, 30.0)
    # by hand: weights 1/0.1^2 = 100 and 1/0.2^2 = 25
    assert float(first["rel_dcs"]) == pytest.approx((100 * 2.0 + 25 * 3.0) / 125)
    assert float(first["rel_dcs_err"]) == pytest.approx(1 / math.sqrt(125))
    assert float(first["rel_dcs_sweep_err"]) == pytest.approx(np.std([2.0, 3.0], ddof=1) / math.sqrt(2))
    # raw rates from total counts / total gate time: seq 0 and 2 have 1000 and 1020 counts in 3 s each
    assert float(first["signal_rate_cps"]) == pytest.approx((1000 + 1020) / 6.0)
    assert float(first["background_rate_cps"]) == pytest.approx(200 / 4.0)
    assert float(first["loss_max"]) == pytest.approx(0.01)
    assert int(first["flags"]) == int(PointFlag.LOSS) and first["flags_text"] == "LOSS"
    assert int(first["n_sweeps"]) == 2
    second = rows[1]
    assert float(second["rel_dcs"]) == pytest.approx(5.0)
    assert float(second["rel_dcs_sweep_err"]) == 0.0
    assert math.isnan(float(second["background_rate_cps"])) is False  # one sweep had a background
    assert float(second["background_rate_cps"]) == pytest.approx(100 / 2.0)
    assert second["flags_text"] == "REDONE" and float(second["loss_max"]) == pytest.approx(0.02)


# --------------------------------------------------------------------------- SWMR, crash, resume


def test_swmr_reader_follows_a_file_being_written(tmp_path):
    path = tmp_path / "run.h5"
    proc = spawn_writer(path, before=5, then="finish")
    try:
        read_lines_until(proc, lambda line, _: line == "waiting")
        live = read_run(path)  # the writer holds the file open in SWMR mode
        assert live.status == "running" and live.n_points == 5
        assert live.points["seq"].tolist() == [0, 1, 2, 3, 4]
        # monitors go to the file with the next point: the one after seq 0 is there,
        # the one after seq 4 waits for seq 5 (it belongs to the point in progress)
        assert len(live.monitors["time"]) == 1
        proc.stdin.write("go\n")
        proc.stdin.flush()
        read_lines_until(proc, lambda line, _: line == "closed")
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    done = read_run(path)
    assert done.status == "success" and done.n_points == done.planned_points


def test_follower_gets_every_committed_row_of_another_process_exactly_once_in_order(tmp_path):
    from acquisition.storage import RunFollower

    path = tmp_path / "run.h5"
    proc = spawn_writer(path, before=17, then="finish", sweeps=2)  # 24 points, a pause after 17
    seqs, monitor_times, subgates_ok, polls_with_rows = [], [], [], 0
    try:
        with RunFollower(path) as follower:
            assert follower.planned_points == 24 and follower.kind == "dcs"

            def drain():
                nonlocal polls_with_rows
                update = follower.poll()
                if update.n_points:
                    polls_with_rows += 1
                    assert update.first_row == len(seqs)
                seqs.extend(update.points["seq"].tolist())
                monitor_times.extend(update.monitors["time"].tolist())
                for i, counts in enumerate(update.subgates["signal"]):
                    subgates_ok.append(int(counts.sum()) == int(update.points["signal_counts"][i]))
                return update

            while len(seqs) < 17:  # follow the writer while it writes the first 17 points
                drain()
            assert drain().n_points == 0  # nothing new while the writer waits
            proc.stdin.write("go\n")
            proc.stdin.flush()
            while True:
                update = drain()
                if update.status != "running" and update.n_points == 0:
                    break
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert seqs == list(range(24))  # every row, once, in order
    assert all(subgates_ok) and len(subgates_ok) == 24
    assert monitor_times == sorted(monitor_times) and len(monitor_times) == len(set(monitor_times)) == 6
    assert polls_with_rows >= 2  # it handed them out as they came, not once at the end


def test_kill_9_loses_nothing_flushed_and_resume_finishes_the_run(tmp_path):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    path = tmp_path / "run.h5"
    start = make_start(sweeps=8)  # 96 points: the writer is usually mid-write when killed
    keys = planned(start)
    kill_after = rng.randrange(1, len(keys))  # printed points before the kill
    proc = spawn_writer(path, before=len(keys), then="hang", sweeps=start.sweeps)
    try:
        lines = read_lines_until(proc, lambda _, seen: len(seen) >= kill_after)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdin.close()
    printed = {int(line) for line in lines if line.isdigit()}
    assert proc.returncode == -signal.SIGKILL

    crashed = read_run(path)
    msg = f"seed {seed}, killed after {kill_after} printed points"
    assert crashed.status == "running", msg
    assert printed <= set(crashed.points["seq"].tolist()), msg
    assert crashed.n_points >= len(printed), msg

    writer, data = RunWriter.resume(path)
    assert data.recovered == 1 and data.status == "running" and data.n_points == crashed.n_points, msg
    assert data.log[-1][2] == "recovered" and "recovered after crash" in data.log[-1][3]
    todo = [key for key in keys if key not in data.done_keys()]
    write_all(writer, start, todo, first_seq=data.n_points)
    writer.close(RunStop(1e4, utc(1e4), "success", "plan complete", len(keys)))

    run = read_run(path)
    got = list(
        zip(run.points["sweep"].tolist(), run.points["energy_index"].tolist(), run.points["angle_index"].tolist())
    )
    assert sorted(got) == sorted(keys) and len(got) == len(set(got)), msg
    assert run.status == "success" and run.recovered == 1 and run.sessions == 2
    assert set(run.points["session"].tolist()) <= {0, 1} and run.points["session"][-1] == 1
    # sub-gates of every row still line up with their counts
    for i in range(run.n_points):
        assert run.subgate_counts(i).sum() == run.points["signal_counts"][i], (msg, i)
    with h5py.File(path, "r") as f:
        assert np.isfinite(f["entry/rel_dcs/data"][...]).all(), msg
    errors, text = nxcheck(path)
    assert errors == 0, text


CRASH_MID_POINT = """
import os, sys
import numpy as np
from acquisition.storage import RunWriter
from tests.acquisition.test_storage import make_start, make_point, planned
start = make_start()
w = RunWriter.create(sys.argv[1], start)
for seq, key in enumerate(planned(start)[:5]):
    w.write_point(make_point(start, seq, *key))
# a crash in the middle of point 5: some columns and sub-gates appended, flushed, no commit
w._subgates["signal"].resize((w._subgates["signal"].shape[0] + 3,))
for name in list(w._cols)[:7]:
    w._cols[name].resize((6,))
w._f.flush()
os._exit(3)
"""


def test_half_written_point_is_invisible_and_trimmed_on_resume(tmp_path):
    path = tmp_path / "run.h5"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", CRASH_MID_POINT, str(path)], cwd=REPO, env=env, timeout=60, check=False
    )
    assert done.returncode == 3
    with h5py.File(path, "r", swmr=True) as f:
        assert f["entry/points/seq"].shape == (6,)  # the half row is on disk ...
    run = read_run(path)
    assert run.n_points == 5 and all(len(v) == 5 for v in run.points.values())  # ... but not read
    start = make_start()
    writer, data = RunWriter.resume(path)
    assert data.n_points == 5 and data.recovered == 1
    write_all(writer, start, planned(start)[5:], first_seq=5)
    writer.close(RunStop(1e4, utc(1e4), "success", "plan complete", start.planned_points))
    run = read_run(path)
    assert run.points["seq"].tolist() == list(range(start.planned_points))
    for i in range(run.n_points):
        assert run.subgate_counts(i).sum() == run.points["signal_counts"][i]
    assert len(run.subgates["signal_subgate_counts"]) == 3 * start.planned_points


def test_resume_refuses_a_file_whose_writer_is_alive(tmp_path):
    path = tmp_path / "run.h5"
    writer = RunWriter.create(path, make_start())
    try:
        with pytest.raises(StorageError, match="still has this run open"):
            RunWriter.resume(path)
    finally:
        writer.close()


def test_resume_a_stopped_run_is_not_a_recovery(tmp_path):
    start = make_start()
    keys = planned(start)
    path = tmp_path / "run.h5"
    writer = RunWriter.create(path, start)
    write_all(writer, start, keys[:4])
    writer.close(RunStop(40.0, utc(40.0), "aborted", "operator abort", 4))
    writer, data = RunWriter.resume(path)
    assert data.recovered == 0 and data.sessions == 2 and data.log[-1][2] == "reopened"
    assert data.done_keys() == set(keys[:4])
    writer(RunStart(**{**start.__dict__, "resumed": True, "t": 0.0, "utc": utc(500.0)}))
    write_all(writer, start, keys[4:], first_seq=4)
    writer(RunStop(1e4, utc(1e4), "success", "plan complete", len(keys)))
    run = read_run(path)
    assert run.status == "success" and run.recovered == 0 and run.n_points == len(keys)
    assert [kind for _, _, kind, _ in run.log] == ["stop", "reopened", "resumed", "stop"]
    assert run.log[2][0] == 500.0  # times count from the run start, across sessions


def test_a_start_event_of_another_run_is_refused(tmp_path):
    writer = RunWriter.create(tmp_path / "run.h5", make_start())
    try:
        with pytest.raises(StorageError, match="holds run"):
            writer(RunStart(**{**make_start().__dict__, "run_id": "other"}))
    finally:
        writer.close()


# --------------------------------------------------------------------------- recovery


@pytest.fixture
def crashed_file(tmp_path):
    """A run file left by a writer killed while in SWMR mode (flags still set)."""
    path = tmp_path / "crashed.h5"
    proc = spawn_writer(path, before=3, then="hang")
    read_lines_until(proc, lambda line, _: line == "waiting")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    with pytest.raises(OSError, match="h5clear"):
        h5py.File(path, "r+").close()
    return path


def test_recover_rewrites_a_crashed_file_in_place_through_the_public_api(crashed_file, tmp_path):
    path = tmp_path / "copy.h5"
    shutil.copy(crashed_file, path)
    before = read_run(path)
    assert recover(path) == 3
    with h5py.File(path, "r+") as f:  # writable again: HDF5 took the file as a clean one
        assert f["entry/points_done"][()] == 3
        assert f["entry/status"][()].decode() == "running"
    run = read_run(path)
    assert run.n_points == 3 and run.plan["gas"] == "isoflurane"
    for name, values in before.points.items():
        np.testing.assert_array_equal(run.points[name], values, err_msg=name)
    assert run.log == before.log and run.snapshot == before.snapshot
    assert not list(tmp_path.glob(".*recovering"))  # no leftovers beside it


def test_run_recorder_creates_the_file_at_run_start_and_refuses_a_point_first(tmp_path):
    from acquisition.events import Message, Monitor
    from acquisition.storage import RunRecorder, StorageError

    recorder = RunRecorder(tmp_path / "r.h5")
    # a status reading that finished as the run was starting is not part of the run
    recorder(Message(0.0, "2026-11-21T00:00:00.000000Z", "info", "hello"))
    recorder(Monitor(0.0, "2026-11-21T00:00:00.000000Z", 1e-9, 1e-6, 0.1))
    assert not (tmp_path / "r.h5").exists()
    with pytest.raises(StorageError, match="first event of a run must be RunStart"):
        recorder(make_point(make_start(), 0, 0, 0, 0))
    with pytest.raises(ValueError):
        RunRecorder()


def test_the_default_run_file_name_is_never_an_existing_file(tmp_path, monkeypatch):
    """Two runs started in the same second (the window's Start twice, `xbeam run` twice)
    get two names: the second does not collide with the first and is not refused."""
    from types import SimpleNamespace

    from acquisition.storage import default_run_path

    monkeypatch.chdir(tmp_path)
    plan = SimpleNamespace(metadata=SimpleNamespace(sample="iso flurane"))
    first = default_run_path(plan)
    assert first.parent.name == "runs" and first.name.endswith("_iso_flurane.h5")
    first.parent.mkdir()
    first.write_bytes(b"")
    second = default_run_path(plan)
    if second.name[:16] == first.name[:16]:  # the same second: a suffix, never the same name
        assert second.name.endswith("_iso_flurane-2.h5")
    assert second != first and not second.exists()
