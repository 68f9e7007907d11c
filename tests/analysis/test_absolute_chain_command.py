"""`xbeam absolute` as a command (analysis.absolute.command): the outputs, the analysis
file, and every refusal as one line.  The run files are factory runs served through
``read_run`` (the volume and RFM procedures that write real ones are being built); the
input files themselves exist, so their sizes and hashes are real."""

import argparse
import csv
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.absolute import runs as runs_module
from analysis.absolute.command import AbsoluteInputError, add_arguments, main
from analysis.absolute.table1 import BUDGET_COLUMNS
from tests.analysis.test_absolute_chain_factory import World, dcs_run, made_up_table, rfm_run, volume_run

OUTPUTS = ("table1.csv", "table1.txt", "budget.csv", "dcs.png", "absolute.h5")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xbeam absolute")
    add_arguments(p)
    return p


@pytest.fixture
def files(tmp_path, monkeypatch):
    """rel.h5, argon.h5, rfm.h5 in tmp_path, served by a patched read_run; returns a dict
    name -> path and a function to add more runs."""
    registry: dict[Path, object] = {}
    real = runs_module.read_run

    def fake(path):
        key = Path(path).resolve()
        return registry[key] if key in registry else real(path)

    monkeypatch.setattr(runs_module, "read_run", fake)
    world = World(seed=21)

    def add(name: str, make):
        path = tmp_path / name
        run = make(str(path))
        path.write_bytes(f"stand-in for the run file {name}\n".encode())
        registry[path.resolve()] = run
        return path

    paths = {
        "rel": add("rel.h5", lambda p: dcs_run(world, path=p, run_id="rel-1")),
        "vol": add("argon.h5", lambda p: volume_run(world, path=p, run_id="vol-1", fwhm_in_apparatus=0.0)),
        "rfm": add("rfm.h5", lambda p: rfm_run(world, path=p, run_id="rfm-1")[0]),
    }
    return paths, add, world


def argv(paths, out, *extra):
    return ["--relative", str(paths["rel"]), "--volume", str(paths["vol"]), "--rfm", str(paths["rfm"]), "-o",
            str(out), *extra]


def run_command(*args):
    return main(parser().parse_args(list(args)))


# --------------------------------------------------------------------------- the outputs


def test_the_command_writes_every_output(files, tmp_path, capsys):
    paths, _, _ = files
    out = tmp_path / "out"
    assert run_command(*argv(paths, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # and no temporary file left
    printed = capsys.readouterr().out
    assert printed.startswith(f"xbeam absolute: isoflurane against argon, 3 energies, 63 points -> {out}/table1.txt")
    assert re.search(r"  50 eV: k = [0-9.e-]+ \+- [0-9.]+ % \(\+ 20% reference; RFM at 60, 90 deg\); ICS [0-9.]+ \+- ",
                     printed)
    assert "extrapolated log-linearly from the DCS itself (no --shape given)" in printed

    text = (out / "table1.txt").read_text()
    assert text.startswith("Absolute elastic DCS of isoflurane (xbeam absolute; relative flow method against argon)")
    assert re.search(r"^ *angle \(deg\) +50 eV +100 eV +200 eV$", text, re.M)
    assert re.search(r"^ +ICS +[0-9.]+\(\d+\)", text, re.M)
    with (out / "budget.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == BUDGET_COLUMNS and len(rows) == 64
    with (out / "table1.csv").open() as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["angle_deg", "dcs_50eV", "u_50eV", "dcs_100eV", "u_100eV", "dcs_200eV", "u_200eV"]
    assert table[-1][0] == "ICS" and len(table) == 23
    assert (out / "dcs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_analysis_file_traces_the_table_to_its_runs(files, tmp_path):
    paths, _, _ = files
    out = tmp_path / "out"
    run_command(*argv(paths, out, "--theta-good", "55", "--volume-term", "measured"))
    with h5py.File(out / "absolute.h5") as f:
        assert f.attrs["NX_class"] == "NXroot" and f["entry"].attrs["NX_class"] == "NXentry"
        proc = f["entry/process"]
        assert proc.attrs["NX_class"] == "NXprocess" and proc["program"][()].decode() == "xbeam absolute"
        assert proc["version"][()].decode() and proc["date"][()].decode().endswith("Z")
        inputs = proc["inputs"]
        seen = {}
        for name in inputs:
            g = inputs[name]
            seen[g["option"][()].decode()] = g
            path = Path(g["path"][()].decode())
            assert path.is_absolute()
            data = path.read_bytes()
            assert g["size_bytes"][()] == len(data) and g["sha256"][()].decode() == hashlib.sha256(data).hexdigest()
        assert set(seen) == {"--relative", "--volume", "--rfm", "--reference-dcs"}
        assert seen["--relative"]["run_id"][()].decode() == "rel-1"
        assert seen["--rfm"]["run_kind"][()].decode() == "rfm"
        assert seen["--reference-dcs"]["path"][()].decode().endswith("argon_dcs_elsepa.csv")
        params = proc["parameters"]
        assert params["theta_good_deg"][()] == 55.0 and params["volume_term"][()].decode() == "measured"
        assert params["reference_term"][()] == 0.2 and params["angular_fwhm_deg"][()] == 0.0
        assert params["angular_fwhm_source"][()].decode() == "the volume run's detector.angular_fwhm_deg"
        every = json.loads(params["parameters_json"][()])
        assert every["relative"] == [str(paths["rel"].resolve())] and every["shape"] == []

        dcs = f["entry/absolute_dcs"]
        assert dcs.attrs["signal"] == "data" and list(dcs.attrs["axes"]) == ["energy", "angle"]
        assert dcs["data"].shape == (3, 21) and dcs["data_errors"].shape == (3, 21)
        assert list(dcs["energy"][:]) == [50.0, 100.0, 200.0] and dcs["angle"][0] == 25.0
        budget = f["entry/budget"]
        total = np.sqrt(sum(budget[f"u_{t}"][:] ** 2 for t in ("stat", "stability", "reference", "volume", "flow",
                                                                  "rfm_stat")))
        assert np.allclose(total, budget["u_total"][:]) and np.allclose(budget["dcs"][:], dcs["data"][:])
        vf = f["entry/volume_factors"]
        assert vf["data"].shape == (3, 21) and np.all(vf["data_errors"][:] > 0)
        assert f["entry/rfm_points/dcs"].shape == (12,) and f["entry/rfm_combined/n_cycles"][0] == 2
        assert f["entry/flows/flow"].shape == (12,)
        scale = f["entry/scale"]
        assert scale["k"].shape == (3,) and np.all(scale["err_common"][:] == pytest.approx(0.2 * scale["k"][:]))
        ics = f["entry/ics"]
        assert ics["value"].shape == (3,) and np.all(ics["value_errors"][:] > 0)
        assert "log-linearly" in ics["note"][()].decode()
        assert f["entry/mtcs/value"].shape == (3,)
    # the ICS row of the table is the file's
    with (out / "table1.csv").open() as fh:
        row = list(csv.reader(fh))[-1]
    with h5py.File(out / "absolute.h5") as f:
        assert float(row[1]) == pytest.approx(f["entry/ics/value"][0])


def test_the_analysis_file_is_valid_nexus(files, tmp_path):
    pytest.importorskip("nexusformat")
    paths, _, _ = files
    out = tmp_path / "out"
    run_command(*argv(paths, out))
    cmd = [sys.executable, "-c", "from nexusformat.scripts.nxcheck import main; main()", str(out / "absolute.h5")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    found = re.search(r"Total number of errors: (\d+)", text)
    assert found, text
    assert int(found.group(1)) == 0, text


def test_a_shape_file_is_used_for_the_ics(files, tmp_path, capsys):
    paths, _, _ = files
    shape = tmp_path / "shape.csv"
    table = made_up_table()
    lines = ["angle_deg,energy_eV,dcs"] + [f"{a:g},{e:g},{float(table(e, [a])[0])!r}" for e in table.energies_eV
                                           for a in table.angles_deg]
    shape.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    run_command(*argv(paths, out, "--shape", str(shape)))
    assert f"extrapolated with the shape(s) {shape}" in capsys.readouterr().out
    with h5py.File(out / "absolute.h5") as f:
        assert [m.decode() for m in f["entry/ics/method"][:]] == ["shape"] * 3
        assert {f["entry/process/inputs"][g]["option"][()].decode() for g in f["entry/process/inputs"]} >= {"--shape"}


def test_the_angular_response_comes_from_the_volume_run_unless_given(files, tmp_path):
    paths, add, world = files
    out = tmp_path / "out"
    run_command(*argv(paths, out, "--angular-fwhm", "1.5"))
    with h5py.File(out / "absolute.h5") as f:
        assert f["entry/process/parameters/angular_fwhm_deg"][()] == 1.5
        assert f["entry/process/parameters/angular_fwhm_source"][()].decode() == "--angular-fwhm"
    other = add("argon2.h5", lambda p: volume_run(world, path=p, run_id="vol-2", fwhm_in_apparatus=3.0))
    args = argv(paths, tmp_path / "out2")
    args[args.index(str(paths["vol"])) + 1:args.index(str(paths["vol"])) + 1] = [str(other)]
    with pytest.raises(AbsoluteInputError, match=r"^--volume: runs measured with different detector.angular_fwhm_deg "
                                                  r"\(.*argon\.h5: 0\.0; .*argon2\.h5: 3\.0\): give --angular-fwhm DEG"):
        run_command(*args)
    assert run_command(*args, "--angular-fwhm", "0") == 0  # the option decides


def test_several_relative_runs_are_combined(files, tmp_path, capsys):
    paths, add, world = files
    second = add("rel2.h5", lambda p: dcs_run(world, path=p, run_id="rel-2", sweeps=2))
    out = tmp_path / "out"
    args = argv(paths, out)
    args.insert(2, str(second))
    assert run_command(*args) == 0
    with h5py.File(out / "absolute.h5") as f:
        ids = sorted(f["entry/process/inputs"][g]["run_id"][()].decode() for g in f["entry/process/inputs"])
    assert "rel-1" in ids and "rel-2" in ids


# --------------------------------------------------------------------------- outputs are never overwritten


def test_existing_outputs_are_refused_unless_force(files, tmp_path):
    paths, _, _ = files
    out = tmp_path / "out"
    run_command(*argv(paths, out))
    before = (out / "table1.txt").read_bytes()
    with pytest.raises(AbsoluteInputError, match=rf"^-o {re.escape(str(out))}: table1.csv exists there; --force "
                                                  r"replaces the outputs$"):
        run_command(*argv(paths, out))
    assert (out / "table1.txt").read_bytes() == before
    assert run_command(*argv(paths, out, "--force")) == 0  # its own absolute.h5 is replaced


def test_a_foreign_hdf5_file_is_never_replaced(files, tmp_path):
    paths, _, _ = files
    out = tmp_path / "out"
    out.mkdir()
    with h5py.File(out / "absolute.h5", "w") as f:
        f.create_group("entry").attrs["xbeam_file_version"] = 1  # a run file, say
    with pytest.raises(AbsoluteInputError, match=r"absolute\.h5 there is an HDF5 file xbeam absolute did not write "
                                                  r"\(a run file\?\): never replaced, --force or not"):
        run_command(*argv(paths, out, "--force"))


def test_output_folder_mistakes(files, tmp_path):
    paths, _, _ = files
    with pytest.raises(AbsoluteInputError, match=r"^-o .*missing/out: no such folder .*missing \(OUTDIR itself is "
                                                  r"created\)$"):
        run_command(*argv(paths, tmp_path / "missing" / "out"))
    with pytest.raises(AbsoluteInputError, match=r"^-o .*rel\.h5: exists and is not a folder$"):
        run_command(*argv(paths, paths["rel"]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "budget.csv").mkdir()
    with pytest.raises(AbsoluteInputError, match=r"budget\.csv there is a folder"):
        run_command(*argv(paths, out, "--force"))


def test_an_input_is_never_an_output(files, tmp_path):
    paths, add, world = files
    out = tmp_path / "out"
    out.mkdir()
    inside = add("out/table1.csv", lambda p: dcs_run(world, path=p, run_id="rel-odd"))
    args = argv(paths, out, "--force")
    args[1] = str(inside)
    with pytest.raises(AbsoluteInputError, match=r"table1\.csv there is the input .*table1\.csv: choose another folder"):
        run_command(*args)


def test_a_failed_write_leaves_no_output(files, tmp_path, monkeypatch):
    from analysis.absolute import report

    paths, _, _ = files

    def full_disk(path, result):
        Path(path).write_bytes(b"half a picture")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "plot_dcs", full_disk)
    out = tmp_path / "out"
    with pytest.raises(AbsoluteInputError, match=r"^-o .*out: cannot write the outputs: No space left on device$"):
        run_command(*argv(paths, out))
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- input mistakes


def test_input_file_mistakes(files, tmp_path):
    paths, _, _ = files
    out = tmp_path / "out"
    args = argv(paths, out)
    args[1] = str(tmp_path / "nope.h5")
    with pytest.raises(AbsoluteInputError, match=r"^--relative .*nope\.h5: no such file$"):
        run_command(*args)
    args = argv(paths, out)
    args[3] = str(tmp_path)
    with pytest.raises(AbsoluteInputError, match=r"^--volume .*: is a folder, not a run file$"):
        run_command(*args)
    args = argv(paths, out)
    args[3] = str(paths["rel"])
    with pytest.raises(AbsoluteInputError, match=r"^--volume .*rel\.h5: given already \(--relative\): each run once$"):
        run_command(*args)
    assert not out.exists()


def test_a_run_of_the_wrong_kind_names_the_file(files, tmp_path):
    paths, add, world = files
    wrong = add("wrong.h5", lambda p: dcs_run(world, path=p, run_id="rel-x"))
    args = argv(paths, tmp_path / "out")
    args[3] = str(wrong)
    with pytest.raises(AbsoluteInputError, match=r"^--volume .*wrong\.h5: a 'dcs' run \(isoflurane, 50, 100, 200 eV, "
                                                  r"189 points\); --volume takes effective-volume runs of argon"):
        run_command(*args)


def test_a_file_that_is_not_a_run_is_refused_by_the_reader(files, tmp_path):
    paths, _, _ = files
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5\n")
    args = argv(paths, tmp_path / "out")
    args[5] = str(text)
    with pytest.raises(AbsoluteInputError, match=r"^--rfm .*notes\.h5: not an HDF5 file"):
        run_command(*args)


def test_table_file_mistakes(files, tmp_path):
    paths, _, _ = files
    out = tmp_path / "out"
    with pytest.raises(AbsoluteInputError, match=r"^--reference-dcs .*none\.csv: no such file$"):
        run_command(*argv(paths, out, "--reference-dcs", str(tmp_path / "none.csv")))
    bad = tmp_path / "bad.csv"
    bad.write_text("angle,dcs\n1,2\n")
    with pytest.raises(AbsoluteInputError, match=r"^--reference-dcs .*bad\.csv: line 1: header 'angle,dcs' lacks "
                                                  r"angle_deg, energy_eV"):
        run_command(*argv(paths, out, "--reference-dcs", str(bad)))
    with pytest.raises(AbsoluteInputError, match=r"^--shape .*bad\.csv: line 1"):
        run_command(*argv(paths, out, "--shape", str(bad)))
    with pytest.raises(AbsoluteInputError, match=r"^--shape .*none\.csv: no such file$"):
        run_command(*argv(paths, out, "--shape", str(tmp_path / "none.csv")))


@pytest.mark.parametrize("extra, message", [
    (["--theta-good", "200"], "argument --theta-good: 200.0: must be a number 0-180 (deg: C is normalised over the "
                              "angles >= it)"),
    (["--theta-good", "sixty"], "argument --theta-good: 'sixty': must be a number"),
    (["--angular-fwhm", "-1"], "argument --angular-fwhm: -1.0: must be a number 0-30"),
    (["--reference-term", "1.5"], "argument --reference-term: 1.5: must be a number 0-1"),
    (["--volume-term", "guess"], "argument --volume-term: invalid choice: 'guess' (choose from study, measured)"),
])
def test_option_mistakes_are_one_line(files, tmp_path, capsys, extra, message):
    paths, _, _ = files
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv(paths, tmp_path / "out", *extra))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.replace("'study', 'measured'", "study, measured") in err.replace("'study', 'measured'",
                                                                                   "study, measured")


def test_a_missing_option_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--relative", "a.h5", "--volume", "b.h5", "-o", "out"])
    assert "the following arguments are required: --rfm" in capsys.readouterr().err


def test_main_checks_options_it_is_given_directly(files, tmp_path):
    paths, _, _ = files
    args = parser().parse_args(argv(paths, tmp_path / "out"))
    args.theta_good = 200.0
    with pytest.raises(AbsoluteInputError, match=r"^--theta-good 200.0: must be a number 0-180"):
        main(args)
    args.theta_good, args.volume_term = 60.0, "guess"
    with pytest.raises(AbsoluteInputError, match=r"^--volume-term 'guess': one of study, measured$"):
        main(args)
