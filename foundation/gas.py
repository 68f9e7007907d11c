"""Gas definition files (TOML): what the absolute scale needs to know about a gas.

The relative flow method (PHYSICS.md §3) needs, per gas, its molar mass (the
``sqrt(M_Ar/M_x)`` of the flow form) and a molecular diameter (the equal-mean-free-path
pressures, ``p_x/p_Ar = (d_Ar/d_x)^2``).  The diameter is never a constant in code: it
is a per-gas value with its *kind* (only diameters of the same kind may be compared)
and a provenance string saying where the number comes from.  The simulator also takes
the gas's DCS table from here.

A file::

    name = "argon"
    molar_mass_g_mol = 39.948
    dcs_table = "argon_dcs.csv"   # optional; relative to this file, or "reference:NAME"

    [diameter]
    value_A = 3.58
    kind = "hard-sphere"          # one of DIAMETER_KINDS
    provenance = "viscosity diameter at 25 C, ..."

Every problem of a file is reported, one line each, naming the file, the key, the bad
value and what is allowed (:class:`GasFileError`).  This is a small equivalent of
``acquisition.tomlcheck.ConfigError`` rather than an import of it: ``foundation`` is the
bottom layer and imports no other layer of xbeam (import-linter), and the toolkit stays
where the apparatus and plan schemas live.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DIAMETER_KINDS", "REFERENCE_PREFIX", "SHIPPED_GASES_DIR", "Gas", "GasFileError", "load_gas", "parse_gas",
           "shipped_gas"]

#: the kinds of molecular diameter a gas file may declare.  ``hard-sphere``: the diameter
#: of the hard-sphere mean free path ``lambda = k_B T / (sqrt(2) pi d^2 p)``, e.g. from
#: viscosity (tabulated mean free paths use these) or a volume-based estimate;
#: ``lennard-jones-sigma``: the LJ length parameter (3.40-3.54 A for argon, smaller than
#: its hard-sphere 3.58 A); ``kinetic``: the zeolite-sieving "kinetic diameter".
DIAMETER_KINDS = ("hard-sphere", "lennard-jones-sigma", "kinetic")
#: ``dcs_table = "reference:argon_dcs_elsepa.csv"`` names a table shipped in foundation/data
REFERENCE_PREFIX = "reference:"

#: the gas definitions shipped with xbeam (the simulator's default gases; the same
#: content as examples/gases/)
SHIPPED_GASES_DIR = Path(__file__).resolve().parent / "data" / "gases"

_TOP_KEYS = ("name", "molar_mass_g_mol", "diameter", "dcs_table")
_DIAMETER_KEYS = ("value_A", "kind", "provenance")


class GasFileError(ValueError):
    """An invalid gas file: every problem, one line each (``file: key = value: allowed``)."""

    def __init__(self, source: str | Path, lines: list[str]) -> None:
        self.source = str(source)
        self.lines = tuple(lines)
        super().__init__("\n".join(f"{self.source}: {line}" for line in self.lines))


@dataclass(frozen=True)
class Gas:
    """One gas: name, molar mass (g/mol), molecular diameter (angstrom, as written in the
    file) with its kind and provenance, and optionally the path of its DCS table (for the
    simulator)."""

    name: str
    molar_mass_g_mol: float
    diameter_A: float
    diameter_kind: str
    diameter_provenance: str
    dcs_table: Path | None = None
    source: str = ""

    @property
    def diameter_m(self) -> float:
        """The diameter in metres (SI, for the mean-free-path formulas)."""
        return self.diameter_A * 1e-10


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


def _unknown(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{key} = {_show(value)}: unknown key{hint}; allowed: {', '.join(allowed)}"


def _number(issues: list[str], key: str, value: Any, allowed: str, lower: float, upper: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if value is None:
        issues.append(f"{key}: missing; {allowed}")
    elif not ok or not lower < value <= upper:
        issues.append(f"{key} = {_show(value)}: must be {allowed}")
    else:
        return float(value)
    return math.nan


def _text(issues: list[str], key: str, value: Any, what: str) -> str:
    if value is None:
        issues.append(f"{key}: missing; {what}")
    elif not isinstance(value, str) or not value.strip():
        issues.append(f"{key} = {_show(value)}: must be {what}")
    else:
        return value.strip()
    return ""


def parse_gas(data: dict[str, Any], source: str | Path = "<string>", base_dir: Path | None = None) -> Gas:
    """A :class:`Gas` from the parsed TOML ``data``; ``dcs_table`` relative to ``base_dir``.

    Raises :class:`GasFileError` listing every problem (missing or unknown keys, a
    non-positive mass or diameter, an unknown diameter kind, an empty provenance, a
    DCS table that does not exist).
    """
    issues: list[str] = []
    for key, value in data.items():
        if key not in _TOP_KEYS:
            issues.append(_unknown(key, value, _TOP_KEYS))
    name = _text(issues, "name", data.get("name"), "a non-empty string (e.g. \"argon\")")
    mass = _number(issues, "molar_mass_g_mol", data.get("molar_mass_g_mol"),
                   "a number > 0 and <= 10000 (in g/mol)", 0.0, 1e4)

    diameter = data.get("diameter")
    value_A, kind, provenance = math.nan, "", ""
    if diameter is None:
        issues.append("diameter: missing; a table with value_A, kind and provenance (PHYSICS.md §3)")
    elif not isinstance(diameter, dict):
        issues.append(f"diameter = {_show(diameter)}: must be a table with value_A, kind and provenance")
    else:
        for key, value in diameter.items():
            if key not in _DIAMETER_KEYS:
                issues.append(_unknown(f"diameter.{key}", value, _DIAMETER_KEYS))
        # outside 0.5-50 A is a unit slip (metres, nanometres), not a molecule
        value_A = _number(issues, "diameter.value_A", diameter.get("value_A"),
                          "a number > 0.5 and <= 50 (in angstrom, not m or nm)", 0.5, 50.0)
        kind_value = diameter.get("kind")
        if kind_value is None:
            issues.append(f"diameter.kind: missing; one of {', '.join(DIAMETER_KINDS)}")
        elif kind_value not in DIAMETER_KINDS:
            issues.append(f"diameter.kind = {_show(kind_value)}: must be one of {', '.join(DIAMETER_KINDS)}")
        else:
            kind = kind_value
        provenance = _text(issues, "diameter.provenance", diameter.get("provenance"),
                           "a non-empty string saying where the diameter comes from (never a bare number)")

    table: Path | None = None
    raw_table = data.get("dcs_table")
    if raw_table is not None:
        if not isinstance(raw_table, str) or not raw_table.strip():
            issues.append(f"dcs_table = {_show(raw_table)}: must be a path (relative to the gas file) "
                          f"or {REFERENCE_PREFIX}NAME of a shipped table")
        else:
            if raw_table.startswith(REFERENCE_PREFIX):
                from foundation.dcs_table import reference_path

                table = reference_path(raw_table[len(REFERENCE_PREFIX):])
            else:
                table = Path(raw_table)
                if not table.is_absolute() and base_dir is not None:
                    table = base_dir / table
            if not table.is_file():
                issues.append(f"dcs_table = {_show(raw_table)}: no such file ({table}); a DCS table CSV "
                              f"(angle_deg,energy_eV,dcs)")
                table = None
    if issues:
        raise GasFileError(source, issues)
    return Gas(name, mass, value_A, kind, provenance, table, str(source))


def load_gas(path: str | Path) -> Gas:
    """Read and validate a gas definition file (TOML); see the module docstring."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GasFileError(path, [f"cannot read the gas file: {getattr(exc, 'strerror', None) or exc}"]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GasFileError(path, [f"not valid TOML: {exc}"]) from exc
    return parse_gas(data, path, path.resolve().parent)


@cache
def shipped_gas(name: str) -> Gas:
    """The gas definition shipped with xbeam as ``foundation/data/gases/<name>.toml``
    (``"isoflurane"``, ``"argon"``); ``source`` is that file's absolute path.

    An unknown name is a ``ValueError`` naming the shipped gases."""
    path = SHIPPED_GASES_DIR / f"{name}.toml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED_GASES_DIR.glob("*.toml")))
        raise ValueError(f"no shipped gas {name!r}; shipped: {shipped}")
    return load_gas(path)
