"""``xbeam absolute``: relative DCS runs, argon volume runs and RFM runs to the absolute
Table 1, its budget, the ICS, a picture and the analysis file.

::

    xbeam absolute --relative REL.h5 [REL2.h5 ...] --volume AR.h5 [...] --rfm RFM.h5 [...]
                   [--reference-dcs FILE] [--shape FILE ...] [--angular-fwhm DEG]
                   [--theta-good DEG] [--volume-term study|measured] [--reference-term F]
                   -o OUTDIR [--force]

writes ``OUTDIR/table1.csv``, ``table1.txt``, ``budget.csv``, ``dcs.png`` and
``absolute.h5``.  The command line (``acquisition.cli``) adds the parser
(:func:`add_arguments`), calls :func:`main` and maps :class:`AbsoluteInputError` to
exit code 2: every mistake is one line naming the option or file, the bad value and
what is allowed, found before any output is written.  Outputs are never overwritten
without ``--force``; an HDF5 file other than this command's own ``absolute.h5`` never.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundation.clock import utc_iso
from foundation.dcs_table import DcsTable, DcsTableError, reference_path

from .chain import VOLUME_TERMS, AbsoluteResult, ChainOptions, run_chain
from .nexus import is_analysis_file, write_absolute_h5
from .report import OUTPUT_NAMES, check_outputs, text_writers, write_outputs
from .runs import AbsoluteInputError, RunSource, combine_relative, read_relative, read_rfm, read_volume

__all__ = ["DEFAULT_REFERENCE", "AbsoluteInputError", "add_arguments", "main"]

#: the reference argon DCS when --reference-dcs is not given
DEFAULT_REFERENCE = "argon_dcs_elsepa.csv"


def _number(option: str, what: str, *, low: float = 0.0, high: float | None = None, low_open: bool = False):
    def check(value: float) -> float:
        bad = not math.isfinite(value) or value < low or (low_open and value == low) or \
            (high is not None and value > high)
        if bad:
            allowed = (f"{'>' if low_open else '>='} {low:g}" if high is None else f"{low:g}-{high:g}")
            raise AbsoluteInputError(f"{option} {value!r}: must be a number {allowed} ({what})")
        return value

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: must be a number ({what})") from None
        try:
            return check(value)
        except AbsoluteInputError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(" ", 1)[1]) from None

    parse.__name__ = "number"
    parse.check = check  # type: ignore[attr-defined]
    return parse


_FWHM = _number("--angular-fwhm", "the analyzer's angular response FWHM, deg", high=30.0)
_THETA_GOOD = _number("--theta-good", "deg: C is normalised over the angles >= it", high=180.0)
_REFERENCE_TERM = _number("--reference-term", "relative uncertainty of the reference argon DCS, 0.20 = 20 %",
                          high=1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``xbeam absolute`` (the command line adds them to its sub-parser)."""
    parser.add_argument("--relative", nargs="+", required=True, metavar="REL.h5",
                        help="relative DCS runs of the target gas (run_kind dcs); several are combined by "
                             "(energy, angle)")
    parser.add_argument("--volume", nargs="+", required=True, metavar="AR.h5",
                        help="effective-volume runs of argon through the needle (run_kind volume), covering every "
                             "energy and angle of --relative")
    parser.add_argument("--rfm", nargs="+", required=True, metavar="RFM.h5",
                        help="relative-flow-method runs (run_kind rfm): the absolute points")
    parser.add_argument("--reference-dcs", metavar="FILE",
                        help=f"reference argon DCS, CSV angle_deg,energy_eV,dcs (default: the shipped "
                             f"{DEFAULT_REFERENCE})")
    parser.add_argument("--shape", nargs="+", action="extend", default=[], metavar="FILE",
                        help="DCS shape(s) for the ICS extrapolation, CSV angle_deg,energy_eV,dcs covering 0-180 deg "
                             "at every energy (the first is nominal, the others give the extrapolation term); "
                             "default: a log-linear extrapolation of the DCS itself")
    parser.add_argument("--angular-fwhm", type=_FWHM, metavar="DEG",
                        help="the analyzer's Gaussian angular response, FWHM in deg (default: the volume run's "
                             "detector.angular_fwhm_deg, else 0)")
    parser.add_argument("--theta-good", type=_THETA_GOOD, default=60.0, metavar="DEG",
                        help="normalise C over the angles >= DEG (default 60)")
    parser.add_argument("--volume-term", choices=VOLUME_TERMS, default="study",
                        help="effective-volume uncertainty: study = 20 %% at 25-40 deg as the study (with C's "
                             "statistics), measured = C's own uncertainty (default study)")
    parser.add_argument("--reference-term", type=_REFERENCE_TERM, default=0.20, metavar="F",
                        help="relative uncertainty of the reference argon DCS (default 0.20)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="the folder of the outputs: " + ", ".join(OUTPUT_NAMES))
    parser.add_argument("--force", action="store_true",
                        help="replace the outputs of an earlier `xbeam absolute` in OUTDIR (never a run file)")


# --------------------------------------------------------------------------- checks


def _inputs(args) -> list[tuple[str, Path]]:
    seen: dict[Path, str] = {}
    out = []
    for option in ("--relative", "--volume", "--rfm"):
        values = getattr(args, option[2:], None) or []
        if isinstance(values, (str, os.PathLike)):
            values = [values]
        if not values:
            raise AbsoluteInputError(f"{option}: at least one run file is needed")
        for value in values:
            path = Path(value)
            if not path.exists():
                raise AbsoluteInputError(f"{option} {path}: no such file")
            if path.is_dir():
                raise AbsoluteInputError(f"{option} {path}: is a folder, not a run file")
            key = Path(os.path.realpath(path))
            if key in seen:
                raise AbsoluteInputError(f"{option} {path}: given already ({seen[key]}): each run once")
            seen[key] = option
            out.append((option, path))
    return out


def _table(option: str, value: str | None, default: str | None = None) -> tuple[DcsTable, Path]:
    path = Path(value) if value else reference_path(default or DEFAULT_REFERENCE)
    if value and not path.is_file():
        raise AbsoluteInputError(f"{option} {path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    try:
        return DcsTable.from_csv(path), path
    except DcsTableError as exc:
        raise AbsoluteInputError(f"{option} {exc}") from None


def _table_source(option: str, path: Path) -> RunSource:
    import hashlib

    data = path.read_bytes()
    return RunSource(option, Path(os.path.abspath(path)), len(data), hashlib.sha256(data).hexdigest(), "", "dcs_table",
                     "", "")


def _angular_fwhm(args, volumes) -> tuple[float, str]:
    if args.angular_fwhm is not None:
        return _FWHM.check(float(args.angular_fwhm)), "--angular-fwhm"
    values = {v.angular_fwhm_deg for v in volumes if v.angular_fwhm_deg is not None}
    if len(values) > 1:
        listing = "; ".join(f"{v.path}: {v.angular_fwhm_deg if v.angular_fwhm_deg is not None else 'none'}"
                            for v in volumes)
        raise AbsoluteInputError(f"--volume: runs measured with different detector.angular_fwhm_deg ({listing}): "
                                 "give --angular-fwhm DEG")
    if values:
        return float(values.pop()), "the volume run's detector.angular_fwhm_deg"
    return 0.0, "default (no detector.angular_fwhm_deg in the volume run)"


def _parameters(args, options: ChainOptions, fwhm_source: str, reference: Path, shapes: list[Path],
                outdir: Path) -> dict[str, Any]:
    return {
        "relative": [str(Path(p).resolve()) for p in args.relative],
        "volume": [str(Path(p).resolve()) for p in args.volume],
        "rfm": [str(Path(p).resolve()) for p in args.rfm],
        "reference_dcs": str(reference.resolve()),
        "shape": [str(p.resolve()) for p in shapes],
        "angular_fwhm_deg": options.angular_fwhm_deg,
        "angular_fwhm_source": fwhm_source,
        "theta_good_deg": options.theta_good_deg,
        "volume_term": options.volume_term,
        "reference_term": options.reference_relative_err,
        "small_angle_term": options.small_angle_term,
        "small_angle_range_deg": list(options.small_angle_range_deg),
        "reference_minimum_exclusion_deg": options.exclude_within_deg,
        "mfp_tolerance": options.mfp_tolerance,
        "excluding_flags": "LOSS|RATE|OVERFLOW|LOW_BEAM|UNSTEADY, argon_flagged",
        "ics_match_ranges": "nominal: every unflagged point; alternatives: the forward and backward halves",
        "ics_extrapolation": "shape" if shapes else "log-linear extrapolation of the DCS itself (2, 3, 4 end points)",
        "output": str(outdir.resolve()),
        "force": bool(args.force),
    }


def _summary(result: AbsoluteResult, outdir: Path) -> str:
    b = result.budget
    energies = sorted({float(e) for e in b.energy_eV})
    lines = [f"xbeam absolute: {result.target_gas.name} against {result.reference_gas.name}, {len(energies)} energies, "
             f"{len(b)} points -> {outdir / 'table1.txt'} (and {', '.join(OUTPUT_NAMES[:1] + OUTPUT_NAMES[2:])})"]
    ics = {i.energy_eV: i for i in result.ics}
    for s in result.scales:
        k = s.scale
        text = (f"  {s.energy_eV:g} eV: k = {k.k:.5g} +- {100 * k.err_uncorrelated / abs(k.k):.2g} % "
                f"(+ {result.options.reference_relative_err:.0%} reference; RFM at "
                f"{', '.join(f'{a:g}' for a in s.angles_deg)} deg)")
        if s.energy_eV in ics:
            x = ics[s.energy_eV].result.ics
            text += f"; ICS {x.value:.3g} +- {x.u_total:.2g} (1e-20 m^2)"
        lines.append(text)
    lines.append(f"  {result.ics_note}")
    flagged = int(result.flagged.sum())
    if flagged:
        lines.append(f"  {flagged} flagged points: in the table, left out of the scale and the ICS fit (budget.csv)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(args) -> int:
    """Run ``xbeam absolute`` for parsed ``args``; 0 when the outputs are written.
    Raises :class:`AbsoluteInputError` for a user's mistake (nothing is written then)."""
    for check, name in ((_THETA_GOOD, "theta_good"), (_REFERENCE_TERM, "reference_term")):
        check.check(float(getattr(args, name)))
    if args.volume_term not in VOLUME_TERMS:
        raise AbsoluteInputError(f"--volume-term {args.volume_term!r}: one of {', '.join(VOLUME_TERMS)}")
    inputs = _inputs(args)
    if not args.output:
        raise AbsoluteInputError("-o: the output folder is needed")
    outdir = Path(args.output)
    reference, reference_file = _table("--reference-dcs", args.reference_dcs)
    shape_paths = [Path(p) for p in (args.shape or [])]
    shapes = []
    for p in shape_paths:
        table, path = _table("--shape", str(p))
        shapes.append((str(path), table))
    check_outputs(outdir, force=bool(args.force), inputs=[p for _, p in inputs] + [reference_file, *shape_paths],
                  ours=is_analysis_file)

    relatives = [read_relative(p, o) for o, p in inputs if o == "--relative"]
    volumes = [read_volume(p, o) for o, p in inputs if o == "--volume"]
    rfms = [read_rfm(p, o) for o, p in inputs if o == "--rfm"]
    fwhm, fwhm_source = _angular_fwhm(args, volumes)
    options = ChainOptions(reference_relative_err=float(args.reference_term), volume_term=args.volume_term,
                           theta_good_deg=float(args.theta_good), angular_fwhm_deg=fwhm)
    warnings = [w for run in (*relatives, *volumes, *rfms) for w in run.warnings]
    result = run_chain(combine_relative(relatives), combine_relative(volumes), rfms, reference, shapes=shapes,
                       options=options, warnings=warnings)

    sources = [r.source for r in (*relatives, *volumes, *rfms)]
    sources += [_table_source("--reference-dcs", reference_file)] + [_table_source("--shape", p) for p in shape_paths]
    parameters = _parameters(args, options, fwhm_source, reference_file, shape_paths, outdir)
    date = utc_iso(datetime.now(UTC))
    writers = text_writers(result)
    writers["absolute.h5"] = lambda p: write_absolute_h5(p, result, parameters=parameters, sources=sources,
                                                         rfm_runs=rfms, date=date)
    try:
        write_outputs(outdir, writers)
    except OSError as exc:
        raise AbsoluteInputError(f"-o {outdir}: cannot write the outputs: {exc.strerror or exc}") from None
    for w in result.warnings:
        print(f"xbeam absolute: warning: {w}", file=sys.stderr)
    print(_summary(result, outdir))
    return 0
