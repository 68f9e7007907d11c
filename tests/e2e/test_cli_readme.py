"""The command line as the README documents it: the by-hand simulator flow run as
written, the exit codes, --version, help for every option, no link out of the repository."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from acquisition.cli import EXIT_CODES, build_parser, main
from acquisition.storage import read_run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

TINY_PLAN = (ROOT / "examples" / "isoflurane_overnight.toml").read_text() \
    .replace("energies_eV = [50, 100, 150, 200, 250, 300]", "energies_eV = [100]") \
    .replace("angles_deg = { start = 25, stop = 125, step = 5 }", "angles_deg = [60, 90]") \
    .replace("sweeps = 3", "sweeps = 1").replace("dwell_s = 60.0", "dwell_s = 10.0") \
    .replace("background_dwell_s = 30.0", "background_dwell_s = 5.0")


def _section(title: str) -> str:
    return README.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _commands(section: str) -> list[list[str]]:
    """The indented `xbeam ...` lines of a README section, comments dropped."""
    return [shlex.split(line.split("#", 1)[0]) for line in section.splitlines() if line.startswith("    xbeam ")]


def _xbeam(argv: list[str]) -> list[str]:
    assert argv[0] == "xbeam"
    return [sys.executable, "-m", "acquisition.cli", *argv[1:]]


def _start_sim(argv: list[str], cwd: Path) -> subprocess.Popen:
    """`xbeam sim` in the background; its banner comes once its apparatus file is written."""
    proc = subprocess.Popen(_xbeam(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = proc.stdout.readline()
    assert "Apparatus file: xbeam-sim.toml" in banner, banner + proc.stdout.read()
    return proc


def _stop(proc: subprocess.Popen) -> str:
    """Stop it and return the rest of its output.  Read through the same text stream the
    banner's readline used: communicate(timeout=...) reads the pipe's file descriptor
    and loses what readline had already buffered (the banner's later lines)."""
    proc.terminate()
    proc.wait(timeout=20)
    return proc.stdout.read()


@pytest.mark.timeout(240)
def test_the_by_hand_flow_works_as_written(tmp_path):
    """`xbeam sim --time-scale 100`, then in another terminal the README's `xbeam run
    ... --apparatus xbeam-sim.toml`, with a short plan in place of the overnight one."""
    commands = _commands(_section("The simulated apparatus by hand"))
    sim = next(c for c in commands if c[:2] == ["xbeam", "sim"] and "--time-scale" in c)
    run = next(c for c in commands if c[:2] == ["xbeam", "run"])
    assert run[run.index("--apparatus") + 1] == "xbeam-sim.toml" and "--time-scale" not in run
    plan = tmp_path / "examples" / "isoflurane_overnight.toml"
    plan.parent.mkdir()
    plan.write_text(TINY_PLAN)

    # a first `xbeam sim` wrote the file; a second one replaces its own file
    _stop(_start_sim([*sim, "--base-port", "0"], tmp_path))
    proc = _start_sim([*sim, "--base-port", "0"], tmp_path)
    try:
        assert "time_scale = 100.0" in (tmp_path / "xbeam-sim.toml").read_text()
        done = subprocess.run(_xbeam(run), cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        (path,) = (tmp_path / "runs").glob("*.h5")
        data = read_run(path)
        assert data.n_points == 2 and data.status == "success"
        assert "time_scale = 100.0" in data.apparatus_text  # the resume of this run keeps the clock too

        contradiction = subprocess.run(_xbeam([*run, "--time-scale", "10", "-o", "other.h5"]), cwd=tmp_path,
                                       capture_output=True, text=True, timeout=60)
        assert contradiction.returncode == 2
        assert contradiction.stderr.count("\n") == 1 and "--time-scale 10" in contradiction.stderr
        assert "time_scale = 100" in contradiction.stderr and not (tmp_path / "other.h5").exists()
    finally:
        banner = _stop(proc)
    assert "x100" in banner


def test_exit_codes_are_documented_in_the_readme_and_in_help(capsys):
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", README, re.MULTILINE))
    assert {int(code) for code in table} == set(EXIT_CODES) | {1}
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in EXIT_CODES:
        assert re.search(rf"^  {code}  \S", out, re.MULTILINE), out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert re.fullmatch(r"xbeam \S+\n", capsys.readouterr().out)


def _parsers(parser: argparse.ArgumentParser):
    yield parser.prog, parser
    for action in parser._actions:  # argparse keeps its subcommands here
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_and_positional_has_help():
    missing = [f"{prog} {action.option_strings or action.dest}"
               for prog, parser in _parsers(build_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()]
    assert not missing
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert all(choice.help for choice in commands._choices_actions)


def test_the_readme_points_only_inside_the_repository():
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert targets
    for target in targets:
        assert "://" not in target and not target.startswith(("/", "..")), target
        assert (ROOT / target.split("#")[0]).exists(), target
    assert "http://" not in README and "https://" not in README


def test_the_readme_s_commands_parse():
    """Every `xbeam ...` line of the command-line sections is accepted by the parser."""
    parser = build_parser()
    for title in ("The three commands", "At the apparatus", "The simulated apparatus by hand"):
        for argv in _commands(_section(title)):
            if argv[1].startswith("--"):  # `xbeam --help, xbeam COMMAND --help, ...`
                continue
            argv = [a.strip("[]") for a in argv if a not in ("|",)]
            parser.parse_args(argv[1:])
