"""Gas definition files (foundation.gas): the example files and every validation path."""

from pathlib import Path

import pytest

from foundation.dcs_table import DcsTable, reference_path
from foundation.gas import DIAMETER_KINDS, GasFileError, load_gas, parse_gas

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "gases"

GOOD = """
name = "neon"
molar_mass_g_mol = 20.18
[diameter]
value_A = 2.6
kind = "hard-sphere"
provenance = "made up for a test"
"""


def write(tmp_path, text, name="gas.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_examples_carry_the_physics_md_values():
    # PHYSICS.md reference numbers and case 3.1: M_Ar = 39.948, M_iso = 184.49, d_Ar = 3.58 A, d_iso = 5.83 A.
    argon = load_gas(EXAMPLES / "argon.toml")
    iso = load_gas(EXAMPLES / "isoflurane.toml")
    assert (argon.name, argon.molar_mass_g_mol, argon.diameter_A) == ("argon", 39.948, 3.58)
    assert (iso.name, iso.molar_mass_g_mol, iso.diameter_A) == ("isoflurane", 184.49, 5.83)
    assert argon.diameter_kind == iso.diameter_kind == "hard-sphere"
    assert argon.diameter_m == pytest.approx(3.58e-10, rel=1e-15)
    assert "viscosity" in argon.diameter_provenance and "Lennard-Jones" in argon.diameter_provenance
    assert "ESTIMATE" in iso.diameter_provenance and "7.8" in iso.diameter_provenance
    assert argon.dcs_table == reference_path("argon_dcs_elsepa.csv")
    assert iso.dcs_table == reference_path("isoflurane_dcs_table1.csv")
    assert DcsTable.from_csv(iso.dcs_table)(100, 90) == pytest.approx(0.207)  # Table 1, case 3.3's target


def test_minimal_file_and_relative_table_path(tmp_path):
    gas = load_gas(write(tmp_path, GOOD))
    assert gas.dcs_table is None and gas.source.endswith("gas.toml")
    (tmp_path / "neon.csv").write_text("angle_deg,energy_eV,dcs\n0,100,1\n180,100,1\n")
    gas = load_gas(write(tmp_path, GOOD.replace('name = "neon"', 'name = "neon"\ndcs_table = "neon.csv"')))
    assert gas.dcs_table == tmp_path / "neon.csv"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("molar_mass_g_mol = 20.18", "molar_mass_g_mol = -1", "molar_mass_g_mol = -1: must be a number > 0"),
        ("molar_mass_g_mol = 20.18", "molar_mass_g_mol = \"20\"", 'molar_mass_g_mol = "20": must be a number'),
        ("molar_mass_g_mol = 20.18", "", "molar_mass_g_mol: missing; a number > 0"),
        ("value_A = 2.6", "value_A = 2.6e-10", "diameter.value_A = 2.6e-10: must be a number > 0.5 and <= 50 "
                                              "(in angstrom, not m or nm)"),
        ("value_A = 2.6", "value_A = true", "diameter.value_A = true: must be a number"),
        ('kind = "hard-sphere"', 'kind = "LJ"', 'diameter.kind = "LJ": must be one of ' + ", ".join(DIAMETER_KINDS)),
        ('kind = "hard-sphere"', "", "diameter.kind: missing; one of hard-sphere"),
        ('provenance = "made up for a test"', 'provenance = "  "', 'diameter.provenance = "  ": must be a non-empty'),
        ('provenance = "made up for a test"', "", "diameter.provenance: missing; a non-empty string"),
        ('name = "neon"', "name = 3", "name = 3: must be a non-empty string"),
        ('name = "neon"', 'name = "neon"\nmolar_mass = 20', "molar_mass = 20: unknown key (did you mean "
                                                           "'molar_mass_g_mol'?)"),
        ('value_A = 2.6', 'value_A = 2.6\nvalue = 2', "diameter.value = 2: unknown key (did you mean 'value_A'?)"),
        ('name = "neon"', 'name = "neon"\ndcs_table = "nowhere.csv"', 'dcs_table = "nowhere.csv": no such file'),
        ('name = "neon"', 'name = "neon"\ndcs_table = 5', "dcs_table = 5: must be a path"),
    ],
)
def test_one_clear_line_naming_file_key_value_allowed(tmp_path, old, new, expected):
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(GasFileError) as info:
        load_gas(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: ") and expected in lines[0], lines[0]


def test_every_problem_reported_one_line_each(tmp_path):
    text = 'name = ""\nmolar_mass_g_mol = 0\ncolour = "blue"\n[diameter]\nvalue_A = 99\nkind = "kinetic"\n'
    with pytest.raises(GasFileError) as info:
        load_gas(write(tmp_path, text))
    assert len(info.value.lines) == 5  # colour, name, mass, value_A, provenance
    assert all(line.startswith(str(tmp_path)) for line in str(info.value).splitlines())


def test_missing_or_wrong_diameter_table(tmp_path):
    with pytest.raises(GasFileError, match="diameter: missing; a table with value_A, kind and provenance"):
        parse_gas({"name": "x", "molar_mass_g_mol": 1.0})
    with pytest.raises(GasFileError, match="diameter = 3.5: must be a table"):
        parse_gas({"name": "x", "molar_mass_g_mol": 1.0, "diameter": 3.5})


def test_unreadable_and_not_toml(tmp_path):
    with pytest.raises(GasFileError, match="cannot read the gas file"):
        load_gas(tmp_path / "absent.toml")
    with pytest.raises(GasFileError, match="not valid TOML"):
        load_gas(write(tmp_path, "name = \n"))
