"""The study's Table 1 layout and the writers (analysis.absolute.table1)."""

import csv
from decimal import Decimal

import numpy as np
import pytest

from analysis.absolute.budget import build_budget
from analysis.absolute.table1 import (
    BUDGET_COLUMNS,
    Table1,
    format_table1,
    format_value,
    table1_from_budget,
    write_budget_csv,
    write_table1_csv,
    write_table1_txt,
)
from foundation.dcs_table import DcsTable, reference_path


def shipped_cells():
    """(dcs text, dcs_err text) of every cell of the shipped Table 1, as written in the CSV."""
    lines = [line for line in reference_path("isoflurane_dcs_table1.csv").read_text().splitlines()
             if line and not line.startswith("#")]
    return [(row["dcs"], row["dcs_err"]) for row in csv.DictReader(lines)]


def test_every_cell_of_the_shipped_table_1_reproduced():
    # The printed cell is the value as written, with the uncertainty in units of its last digit:
    # 5.6 and 1.6 -> 5.6(16); 3.4 and 1 -> 3.4(10); 0.50 and 0.1 -> 0.50(10).
    cells = shipped_cells()
    assert len(cells) == 126
    for dcs_text, err_text in cells:
        places = -Decimal(dcs_text).as_tuple().exponent
        printed = f"{dcs_text}({int(Decimal(err_text).scaleb(places))})"
        assert format_value(float(dcs_text), float(err_text)) == printed


@pytest.mark.parametrize(
    ("value", "u", "text"),
    [(5.6, 1.6, "5.6(16)"), (3.4, 1.0, "3.4(10)"), (0.472, 0.096, "0.472(96)"), (3.07, 0.98, "3.07(98)"),
     (1.23, 0.996, "1.2(10)"), (33.1, 9.93, "33.1(99)"), (33.1, 12.0, "33(12)"), (330.0, 150.0, "330(150)"),
     (0.1234, 0.00125, "0.1234(13)"), (2.5, 0.0, "2.5"), (2.5, float("nan"), "2.5"), (float("nan"), 0.1, "")],
)
def test_format_value(value, u, text):
    assert format_value(value, u) == text


def table_from_reference():
    t = DcsTable.from_csv(reference_path("isoflurane_dcs_table1.csv"))
    ics = {50: 33.1, 100: 30.4, 150: 21.5, 200: 22.4, 250: 18.4, 300: 18.0}  # isoflurane_ics_table1.csv
    values = np.array([ics[e] for e in t.energies_eV])
    return t, Table1(t.energies_eV, t.angles_deg, t.dcs.T, t.dcs_err.T, values, 0.30 * values)


def test_text_layout_angles_down_energies_across_ics_last(tmp_path):
    t, table = table_from_reference()
    text = format_table1(table, title="Isoflurane")
    lines = text.splitlines()
    assert lines[0] == "Isoflurane"
    assert lines[2].split() == ["angle", "(deg)"] + [w for e in t.energies_eV for w in (f"{e:g}", "eV")]
    assert lines[3].split() == ["25", "5.0(15)", "5.6(16)", "3.07(98)", "2.67(76)", "3.29(96)", "2.74(78)"]
    assert lines[-1].split() == ["ICS", "33.1(99)", "30.4(91)", "21.5(65)", "22.4(67)", "18.4(55)", "18.0(54)"]
    assert len(lines) == 3 + 21 + 1
    write_table1_txt(tmp_path / "table1.txt", table)
    assert (tmp_path / "table1.txt").read_text() == format_table1(table)


def test_csv_numbers_in_the_same_layout(tmp_path):
    t, table = table_from_reference()
    write_table1_csv(tmp_path / "table1.csv", table)
    rows = list(csv.reader((tmp_path / "table1.csv").open()))
    assert rows[0][:5] == ["angle_deg", "dcs_50eV", "u_50eV", "dcs_100eV", "u_100eV"]
    assert rows[1][:3] == ["25", "5.0", "1.5"]
    assert rows[-1][0] == "ICS" and float(rows[-1][1]) == 33.1


def test_budget_csv_and_table_from_a_budget(tmp_path):
    budget = build_budget([100.0, 100.0, 150.0], [25.0, 90.0, 25.0], [5.6, 0.207, 3.07], stat=0.01,
                          stability=0.02, flow=0.03, rfm_stat=0.01, flags=["", "LOSS", ""])
    assert write_budget_csv(tmp_path / "budget.csv", budget) == 3
    rows = list(csv.DictReader((tmp_path / "budget.csv").open()))
    assert tuple(rows[0]) == BUDGET_COLUMNS
    assert BUDGET_COLUMNS[:10] == ("energy_eV", "angle_deg", "dcs", "u_total", "u_stat", "u_stability",
                                   "u_reference", "u_volume", "u_flow", "flags")
    assert float(rows[0]["u_total"]) == pytest.approx(budget.u_total[0])
    assert float(rows[0]["u_volume"]) == pytest.approx(0.2 * 5.6) and float(rows[1]["u_volume"]) == 0.0
    assert rows[1]["flags"] == "LOSS" and rows[0]["flags"] == ""
    total = sum(float(rows[0][k]) ** 2 for k in ("u_stat", "u_stability", "u_reference", "u_volume", "u_flow",
                                                  "u_rfm_stat"))
    assert float(rows[0]["u_total"]) == pytest.approx(total**0.5)
    table = table1_from_budget(budget, {100.0: (30.4, 9.1)})
    assert table.angles_deg.tolist() == [25.0, 90.0] and table.energies_eV.tolist() == [100.0, 150.0]
    assert np.isnan(table.dcs[1, 1])  # 150 eV, 90 deg not measured
    text = format_table1(table)
    assert text.splitlines()[-2].split() == ["90", "0.207(42)", "-"]
    assert text.splitlines()[-1].split() == ["ICS", "30.4(91)", "-"]


def test_table_shape_checked():
    with pytest.raises(ValueError, match="angles, energies"):
        Table1(np.array([50.0]), np.array([25.0, 30.0]), np.ones((1, 2)), np.ones((1, 2)))
