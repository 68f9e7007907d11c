"""Run files written by the version before storage became a package (commit 416ee0f)
stay readable, followable, exportable and resumable.

``tests/data/v1_finished.h5`` is a complete 6-point run; ``tests/data/v1_crashed.h5``
was left by a writer killed with SIGKILL after 4 of 6 points (both written by that
version's RunWriter with this module's make_start(sweeps=1, energies=(50, 100),
angles=(30, 60, 90)))."""

import shutil
from pathlib import Path

from acquisition.events import RunStop
from acquisition.storage import RunFollower, RunWriter, read_run
from analysis.export import export_csv
from tests.acquisition.test_storage import make_point, make_start, planned, utc

DATA = Path(__file__).resolve().parents[1] / "data"
START = make_start(sweeps=1, energies=(50.0, 100.0), angles=(30.0, 60.0, 90.0))


def test_a_finished_file_of_the_previous_version_reads_follows_and_exports(tmp_path):
    run = read_run(DATA / "v1_finished.h5")
    assert (run.status, run.n_points, run.kind, run.planned_points) == ("success", 6, "dcs", 6)
    assert run.points["rel_dcs"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert run.subgate_counts(5).sum() == run.points["signal_counts"][5]
    with RunFollower(DATA / "v1_finished.h5") as follower:
        update = follower.poll()
        assert update.points["seq"].tolist() == list(range(6)) and update.status == "success"
        assert follower.poll().n_points == 0
    assert export_csv(DATA / "v1_finished.h5", tmp_path / "out.csv") == 6


def test_a_crashed_file_of_the_previous_version_is_recovered_and_resumed(tmp_path):
    path = tmp_path / "crashed.h5"
    shutil.copy(DATA / "v1_crashed.h5", path)
    crashed = read_run(path)
    assert crashed.status == "running" and crashed.n_points == 4
    writer, data = RunWriter.resume(path)
    assert data.recovered == 1 and data.done_keys() == set(planned(START)[:4])
    for seq, key in enumerate(planned(START)[4:], start=4):
        writer.write_point(make_point(START, seq, *key))
    writer.close(RunStop(200.0, utc(200.0), "success", "plan complete", 6))
    run = read_run(path)
    assert run.status == "success" and run.n_points == 6 and run.recovered == 1
    assert run.points["seq"].tolist() == list(range(6))
    assert run.points["rel_dcs"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
