"""The window's pressure dialog (RFM runs): the engine thread asks, the dialog shows the
live reading, Confirm is possible only within tolerance, Stop declines, an abort closes
it; the driver is read on the asking thread only."""

from __future__ import annotations

import threading

import pytest

from acquisition.operator import OperatorDeclined, PressureRequest
from gui.operator_dialog import DialogOperator
from gui.viewmodels.operator import CONFIRMED, PressurePrompt

REQUEST = PressureRequest("reference", "argon", 0.40, 0.02, why="equal mean free paths of 0.5 mm")


def ask(operator, readings, outcome):
    """Run set_line_pressure on a thread of its own, as the engine does."""
    threads = []

    def read():
        threads.append(threading.current_thread())
        return readings[0]

    def job():
        try:
            operator.set_line_pressure(REQUEST, read)
            outcome.append("returned")
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=job, daemon=True)
    worker.start()
    return worker, threads


def test_confirm_is_only_possible_within_tolerance(qtbot):
    operator = DialogOperator(read_interval_s=0.02)
    readings, outcome = [0.30], []
    worker, threads = ask(operator, readings, outcome)
    qtbot.waitUntil(lambda: operator.dialog is not None and operator.dialog.isVisible(), timeout=5000)
    dialog = operator.dialog
    qtbot.waitUntil(lambda: "0.3 mbar" in dialog.reading.text(), timeout=5000)
    assert "outside tolerance" in dialog.reading.text()
    assert not dialog.confirm_button.isEnabled()
    assert "0.392 to 0.408 mbar" in dialog.findChildren(type(dialog.reading))[0].text()
    readings[0] = 0.401
    qtbot.waitUntil(dialog.confirm_button.isEnabled, timeout=5000)
    dialog.confirm_button.click()
    worker.join(5)
    assert outcome == ["returned"]
    assert set(threads) == {worker}  # the gauge is read on the engine's thread, never the GUI's


def test_stop_declines_and_escape_does_not(qtbot):
    from PySide6.QtCore import Qt

    operator = DialogOperator(read_interval_s=0.02)
    outcome = []
    worker, _ = ask(operator, [0.30], outcome)
    qtbot.waitUntil(lambda: operator.dialog is not None and operator.dialog.isVisible(), timeout=5000)
    qtbot.keyClick(operator.dialog, Qt.Key_Escape)  # a slip of the hand does not stop the run
    operator.dialog.close()
    qtbot.wait(100)
    assert operator.dialog.isVisible() and not outcome
    operator.dialog.stop_button.click()
    worker.join(5)
    assert isinstance(outcome[0], OperatorDeclined)


def test_a_confirmation_raced_by_a_drifting_reading_is_refused():
    prompt = PressurePrompt(REQUEST)
    prompt.update(0.401)
    prompt.update(0.38)  # the valve crept between the button lighting up and the click
    assert "not within 2%" in prompt.confirm()
    assert prompt.wait(0) is None
    prompt.update(0.399)
    assert prompt.confirm() is None and prompt.wait(0) == CONFIRMED


@pytest.mark.parametrize("reading, text", [(float("nan"), "waiting for the gauge"), (0.42, "+5.0%, outside")])
def test_reading_text(reading, text):
    prompt = PressurePrompt(REQUEST)
    prompt.update(reading)
    assert text in prompt.reading_text()


def test_an_abort_closes_the_dialog(qtbot):
    from acquisition.runner import Abort

    operator = DialogOperator(read_interval_s=0.02)
    aborted = threading.Event()
    outcome = []

    def read():
        if aborted.is_set():
            raise Abort("aborted by operator")
        return 0.30

    def job():
        try:
            operator.set_line_pressure(REQUEST, read)
        except Abort as exc:
            outcome.append(exc)

    worker = threading.Thread(target=job, daemon=True)
    worker.start()
    qtbot.waitUntil(lambda: operator.dialog is not None and operator.dialog.isVisible(), timeout=5000)
    aborted.set()
    worker.join(5)
    assert isinstance(outcome[0], Abort)
    qtbot.waitUntil(lambda: not operator.dialog.isVisible(), timeout=5000)
