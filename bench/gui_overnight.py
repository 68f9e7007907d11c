"""The whole overnight plan in the window, and what it costs in resident memory.

Runs, in a child process with the offscreen Qt platform::

    xbeam gui --sim --virtual --plan examples/isoflurane_overnight.toml --start -o R.h5 --quit-when-done

against the same plan by ``xbeam run --sim --virtual`` (no window) as the baseline,
and samples the window's resident set size (``/proc/PID/status`` VmRSS, every 20 ms)
while following R.h5 as it grows (a SWMR reader, as the viewer does).  Prints the exit
code, the points in the file, and the RSS after the first energy, at its largest and
in the last sample before the window closed.

    python bench/gui_overnight.py [--plan FILE]

Target (issue 9): all 378 points in R.h5, and the RSS at the end within 100 MB of its
value after the first energy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


@dataclass
class Result:
    code: int
    points: int
    planned: int
    wall_s: float
    rss_first_energy_mb: float
    rss_max_mb: float
    rss_end_mb: float
    stderr: str

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_first_energy_mb


def run(plan: Path, out: Path, *, timeout_s: float = 600.0, config_home: Path | None = None) -> Result:
    """``config_home``: where the window keeps its settings (XDG_CONFIG_HOME; a test
    passes a temporary folder so the user's are never touched)."""
    from acquisition.storage import RunFollower, read_run

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if config_home is not None:
        env["XDG_CONFIG_HOME"] = str(config_home)
    command = [sys.executable, "-m", "acquisition.cli", "gui", "--sim", "--virtual", "--plan", str(plan),
               "--start", "-o", str(out), "--quit-when-done"]
    t0 = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    follower = None
    first_energy = per_energy = None
    samples: list[float] = []
    try:
        while child.poll() is None:
            if time.perf_counter() - t0 > timeout_s:
                child.kill()
                raise RuntimeError(f"the window did not close within {timeout_s:g} s")
            rss = rss_mb(child.pid)
            if rss is not None:
                samples.append(rss)
            if follower is None and out.exists():
                try:
                    follower = RunFollower(out)
                    per_energy = len(follower.angles_deg)
                except Exception:  # being created: try again at the next sample
                    follower = None
            if follower is not None and first_energy is None and rss is not None:
                if follower.poll().points_done >= per_energy:
                    first_energy = rss
            time.sleep(0.02)
    finally:
        if follower is not None:
            follower.close()
    stderr = child.stderr.read() if child.stderr else ""
    wall = time.perf_counter() - t0
    run_data = read_run(out) if out.exists() else None
    points = run_data.n_points if run_data is not None else 0
    planned = run_data.planned_points if run_data is not None else 0
    end = samples[-1] if samples else float("nan")
    return Result(child.returncode, points, planned, wall,
                  first_energy if first_energy is not None else float("nan"), max(samples, default=float("nan")),
                  end, stderr)


def cli_wall_s(plan: Path, out: Path) -> float:
    """The baseline: the same plan by ``xbeam run --sim --virtual`` (no window), wall seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "acquisition.cli", "run", str(plan), "--sim", "--virtual", "-q",
                    "-o", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=ROOT / "examples" / "isoflurane_overnight.toml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = cli_wall_s(args.plan, Path(tmp) / "cli.h5")
        r = run(args.plan, Path(tmp) / "R.h5", config_home=Path(tmp) / "config")
    print(f"exit code {r.code}; {r.points}/{r.planned} points in the run file; {r.wall_s:.1f} s wall in the window, "
          f"{baseline:.1f} s by `xbeam run` (ratio {r.wall_s / baseline:.2f})")
    print(f"resident memory: {r.rss_first_energy_mb:.0f} MB after the first energy, {r.rss_max_mb:.0f} MB at most, "
          f"{r.rss_end_mb:.0f} MB at the end: {r.growth_mb:+.1f} MB (target within 100 MB)")
    if r.code != 0:
        print(r.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
