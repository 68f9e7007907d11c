"""How well a simulated run recovers the simulator's DCS table (shape, per energy).

    xbeam run examples/isoflurane_overnight.toml --sim --virtual -o runs/overnight.h5
    python bench/dcs_agreement.py runs/overnight.h5 [--table FILE]

For every energy, the unflagged relative DCS is scaled onto the table by a weighted
least-squares factor (a relative DCS has no absolute scale), then the residuals in
units of the quoted statistical sigma are summarised: the fraction within 2 sigma
(issue 3 asks >= 90 %), chi2 per point (1 when the sigmas are honest), and which
(energy, angle) cells were flagged saturated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.events import PointFlag  # noqa: E402
from acquisition.storage import read_run  # noqa: E402
from foundation.dcs_table import DcsTable, reference_path  # noqa: E402

SATURATION = int(PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--table", type=Path, default=reference_path("isoflurane_dcs_table1.csv"))
    args = parser.parse_args()
    p = read_run(args.run).points
    table = DcsTable.from_csv(args.table)
    truth = np.array([table(e, a) for e, a in zip(p["energy"], p["angle"])])
    ok = (p["flags"] & SATURATION) == 0
    all_z = []
    print(f"{'energy eV':>9s} {'points':>6s} {'flagged':>7s} {'|z|<2':>6s} {'chi2/n':>7s}")
    for energy in np.unique(p["energy"]):
        m = ok & (p["energy"] == energy)
        y, s, t = p["rel_dcs"][m], p["rel_dcs_err"][m], truth[m]
        scale = np.sum(y * t / s**2) / np.sum(t**2 / s**2)
        z = (y - scale * t) / s
        all_z.append(z)
        flagged = int(((p["energy"] == energy) & ~ok).sum())
        print(f"{energy:9g} {m.sum():6d} {flagged:7d} {np.mean(np.abs(z) < 2):6.1%} {np.mean(z**2):7.2f}")
    z = np.concatenate(all_z)
    print(f"{'all':>9s} {len(z):6d} {int((~ok).sum()):7d} {np.mean(np.abs(z) < 2):6.1%} {np.mean(z**2):7.2f}")
    cells = sorted({(float(e), float(a)) for e, a in zip(p["energy"][~ok], p["angle"][~ok])})
    print("flagged saturated:", ", ".join(f"{e:g} eV/{a:g} deg" for e, a in cells) or "none")


if __name__ == "__main__":
    main()
