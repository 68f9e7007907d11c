"""How well an `xbeam absolute` output agrees with the simulator's truth.

    python scripts/absolute_agreement.py OUTDIR [GAS.toml]

OUTDIR is what `xbeam absolute -o` wrote (examples/absolute_chain.sh makes one); GAS.toml
the target gas whose DCS table the simulator scattered from (default isoflurane).
Prints, over the unflagged points of budget.csv: the fraction within 2 and 1 combined
standard uncertainties with the argon-reference term left out (the simulator uses the
same argon table), the pull RMS, and the median and spread of DCS / truth; and the
effective-volume factors against the world's deviation.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import h5py
import numpy as np

from foundation.clock import VirtualClock
from foundation.dcs_table import DcsTable
from foundation.gas import load_gas
from simulators.world import World, WorldConfig

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[0])
    gas = load_gas(argv[1] if len(argv) > 1 else ROOT / "examples" / "gases" / "isoflurane.toml")
    truth = DcsTable.from_csv(gas.dcs_table)
    rows = list(csv.DictReader((out / "budget.csv").open()))
    clean = [r for r in rows if not r["flags"]]
    pulls, ratios = [], []
    for r in clean:
        e, a = float(r["energy_eV"]), float(r["angle_deg"])
        t = float(truth(e, a))
        u = math.sqrt(float(r["u_total"]) ** 2 - float(r["u_reference"]) ** 2)
        pulls.append((float(r["dcs"]) - t) / u)
        ratios.append(float(r["dcs"]) / t)
    pulls, ratios = np.array(pulls), np.array(ratios)
    print(f"{gas.name}: {len(clean)} unflagged of {len(rows)} points")
    print(f"  within 2u: {np.mean(np.abs(pulls) <= 2):.1%}   within 1u: {np.mean(np.abs(pulls) <= 1):.1%}   "
          f"pull RMS {np.sqrt(np.mean(pulls ** 2)):.2f}  (u without the argon-reference term)")
    print(f"  DCS / truth: median {np.median(ratios):.4f}, 16-84 % range {np.percentile(ratios, 16):.4f}-"
          f"{np.percentile(ratios, 84):.4f}")
    world = World(VirtualClock(), WorldConfig(seed=0))
    with h5py.File(out / "absolute.h5") as f:
        g = f["entry/volume_factors"]
        angles, c, u = g["angle"][:], g["data"][:], g["data_errors"][:]
        excluded = g["argon_excluded"][:].astype(bool)
    expected = 1 / np.array([world.geometry(x) * math.sin(math.radians(x)) for x in angles])
    expected /= expected[angles >= 60].mean()
    ok = np.isfinite(c) & np.isfinite(u) & ~excluded
    vp = ((c - expected) / u)[ok]
    print(f"  volume factors (argon unflagged, {ok.sum()}): within 2 sigma {np.mean(np.abs(vp) <= 2):.1%}, "
          f"pull RMS {np.sqrt(np.mean(vp ** 2)):.2f}; C(25 deg) {np.round(c[:, angles == 25].ravel(), 4)} "
          f"against the world's {expected[angles == 25][0]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
