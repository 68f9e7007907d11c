"""The instrument panel: the apparatus state at a glance, and the hand controls.

Every control turns into a request ``(operation, args)`` on :attr:`InstrumentPanel.requested`;
the window sends it to the session (a future, never a wait).  The panel draws the
:class:`~gui.viewmodels.panel.PanelModel` (status, monitors, count-rate meter) and the
:class:`~gui.viewmodels.health.HealthModel` (a light per instrument).

Setpoint entries are :class:`~gui.widgets.common.GuardedSpinBox`es whose ranges are the
configured limits; a value is applied on Enter only.  During a run every hand control
is disabled except the two urgent ones, Stop motion and Channeltron OFF.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from acquisition.events import PointFlag
from gui.widgets.common import COLOURS, GuardedSpinBox, StatusLight, fmt_amps, fmt_mbar, fmt_number

__all__ = ["InstrumentPanel", "RateMeter", "panel_limits"]

_STALE = "color: #8a8a8a; font-style: italic;"
GAS_PATHS = (("needle", "Needle"), ("side_leak", "Side leak"), ("closed", "Closed"))


#: the iseg channel-status name of an emergency off (drivers.iseg_hv CHANNEL_STATUS_BITS)
EMERGENCY_OFF = "Is Emergency Off"


def _option(config, instrument: str, key: str, fallback: float) -> float:
    inst = getattr(config, "instruments", {}).get(instrument)
    if inst is None:
        return fallback
    if key in inst.options:
        return float(inst.options[key])
    try:
        from acquisition.config import driver_default

        value = driver_default(inst.model, key)
        return float(value) if value is not None else fallback
    except Exception:  # an unknown model or option: the fallback is only a display range
        return fallback


def panel_limits(config) -> dict[str, tuple[float, float]]:
    """The ranges of the setpoint entries, from the apparatus file: energies the tune
    covers, the goniometer's angle limits, 0..the filament's maximum current, and
    each electrode's min_V..max_V."""
    energies = config.tune.energies_eV
    limits = {
        "energy": (float(min(energies)), float(max(energies))),
        "angle": (_option(config, "goniometer", "min_angle_deg", -180.0),
                  _option(config, "goniometer", "max_angle_deg", 180.0)),
        "filament": (0.0, _option(config, "filament", "max_current_A", 3.0)),
    }
    for name, e in config.electrodes.items():
        limits[f"electrode:{name}"] = (float(e.min_V), float(e.max_V))
    return limits


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Yes | QMessageBox.Cancel, parent)
    box.setDefaultButton(QMessageBox.Cancel)  # Enter on a stray focus does not switch the HV on
    return box.exec() == QMessageBox.Yes


def _reserve(label: QLabel, sample: str) -> None:
    """Room for the widest text ``label`` will show (in its own font)."""
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance(sample) + 6)


class RateMeter(QWidget):
    """The channeltron's last raw rate as a fraction of its linear limit, the dead-time
    loss, and a SATURATED tag in red that cannot be missed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setMinimumHeight(22)
        self.rate = QLabel("—")
        self.loss = QLabel("dead-time loss —")
        self.saturated = QLabel("SATURATED")
        self.saturated.setAlignment(Qt.AlignCenter)
        self.saturated.setStyleSheet(
            f"background: {COLOURS['saturated']}; color: white; font-weight: bold; padding: 2px 8px; border-radius: 3px;")
        policy = self.saturated.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the layout keeps its room: nothing jumps when it shows
        self.saturated.setSizePolicy(policy)
        self.saturated.setVisible(False)
        _reserve(self.rate, "888.8 kcps")
        _reserve(self.saturated, "SATURATED (LOSS|RATE|OVERFLOW)")
        _reserve(self.loss, "dead-time loss 88.88 %")
        layout.addWidget(QLabel("Count rate"), 0, 0)
        layout.addWidget(self.rate, 0, 1)
        layout.addWidget(self.saturated, 0, 2)
        layout.addWidget(self.bar, 1, 0, 1, 3)
        layout.addWidget(self.loss, 2, 0, 1, 3)
        self._chunk = ""

    def show_meter(self, rate_cps: float, loss: float, saturated: bool, fill: float, limit_cps: float | None,
                   flags: int = 0) -> None:
        if not math.isfinite(rate_cps):
            self.rate.setText("—")
            self.bar.setValue(0)
            self.bar.setFormat("no count yet")
            self.loss.setText("dead-time loss —")
            self.saturated.setVisible(False)
            return
        self.rate.setText(f"{rate_cps / 1e3:.1f} kcps" if rate_cps >= 1e3 else f"{rate_cps:.0f} cps")
        fraction = fill if math.isfinite(fill) else 0.0
        self.bar.setValue(int(round(min(max(fraction, 0.0), 1.0) * 1000)))
        limit = f" of {limit_cps / 1e3:g} kcps" if limit_cps else ""
        self.bar.setFormat(f"{fraction * 100:.0f} %{limit} linear limit")
        chunk = COLOURS["saturated"] if saturated or fraction >= 1.0 else (
            COLOURS["warning"] if fraction >= 0.7 else COLOURS["ok"])
        if chunk != self._chunk:
            self._chunk = chunk
            self.bar.setStyleSheet(f"QProgressBar::chunk {{ background: {chunk}; }} QProgressBar {{ text-align: center; }}")
        loss_pct = loss * 100 if math.isfinite(loss) else float("nan")
        self.loss.setText(f"dead-time loss {fmt_number(loss_pct, '.2f', '%')}")
        self.loss.setStyleSheet(f"color: {COLOURS['saturated']}; font-weight: bold;" if saturated else "")
        why = PointFlag(int(flags)) & (PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW)
        self.saturated.setText(f"SATURATED ({why.describe()})" if why else "SATURATED")
        self.saturated.setVisible(bool(saturated))


class InstrumentPanel(QScrollArea):
    """See the module docstring.  ``config`` is the apparatus config (limits, names)."""

    #: (operation, args): set_energy, ramp_filament, set_electrode, channeltron_on,
    #: channeltron_off, move_to, stop_motion, home, select_gas, read_status
    requested = Signal(str, tuple)

    def __init__(self, config, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.limits = panel_limits(config)
        self.confirm: Callable[[QWidget, str, str], bool] = _confirm  #: replaced by tests
        self.channeltron = config.detector.channeltron_electrode
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # squeeze, never hide a value to the right
        self.setFrameShape(QFrame.NoFrame)
        body = QWidget()
        self.setWidget(body)
        column = QVBoxLayout(body)
        column.setContentsMargins(6, 6, 6, 6)
        self._manual: list[QWidget] = []  #: disabled during a run
        self._urgent: list[QWidget] = []  #: enabled whenever a session is there
        self._versions: tuple = ()
        self._mode: tuple = ()
        self.stale = QLabel("")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("background: #fff3b0; color: #5a4a00; padding: 3px; border-radius: 3px;")
        self.stale.setVisible(False)
        column.addWidget(self._connections())
        column.addWidget(self._meter_box())
        column.addWidget(self._monitors())
        column.addWidget(self.stale)
        column.addWidget(self._energy_and_beam())
        column.addWidget(self._goniometer())
        column.addWidget(self._gas())
        column.addWidget(self._electrodes())
        column.addStretch(1)
        # wide enough for every value: a value pushed out of sight to the right is a lie
        self.setMinimumWidth(body.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 4)
        self.set_mode(connected=True, running=False)

    # ------------------------------------------------------------ building
    def _connections(self) -> QGroupBox:
        box = QGroupBox("Connections")
        self._lights_layout = QGridLayout(box)
        self._lights_layout.setContentsMargins(6, 4, 6, 4)
        self.lights: dict[str, StatusLight] = {}
        for name in self.config.instruments:
            self._light(name)
        return box

    def _light(self, name: str) -> StatusLight:
        light = self.lights.get(name)
        if light is None:
            light = StatusLight(name)
            n = len(self.lights)
            self._lights_layout.addWidget(light, n // 2, n % 2)
            self.lights[name] = light
        return light

    def _meter_box(self) -> QGroupBox:
        box = QGroupBox("Channeltron")
        layout = QVBoxLayout(box)
        self.meter = RateMeter()
        layout.addWidget(self.meter)
        return box

    def _monitors(self) -> QGroupBox:
        box = QGroupBox("Monitors")
        grid = QGridLayout(box)
        self.chamber = QLabel("—")
        self.needle = QLabel("—")
        self.beam = QLabel("—")
        rows = [("Chamber", self.chamber), ("Gas line", self.needle), ("Beam current", self.beam)]
        # with a second gas line (the relative flow method) each line's manometer and path
        gas_lines = getattr(self.config, "gas_lines", {})
        self.line_labels: dict[str, QLabel] = {}
        if len(gas_lines) > 1:
            for name, line in gas_lines.items():
                self.line_labels[name] = QLabel("—")
                self.line_labels[name].setObjectName(f"line_{name}")
                rows.append((f"{name.capitalize()} line" + (f" ({line.gas})" if line.gas else ""),
                             self.line_labels[name]))
        for row, (text, label) in enumerate(rows):
            grid.addWidget(QLabel(text), row, 0)
            label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            label.setStyleSheet("font-family: monospace; font-size: 13px;")
            label.setMinimumWidth(150)
            grid.addWidget(label, row, 1)
        return box

    def _setpoint_row(self, grid: QGridLayout, row: int, label: str, limit: str, op: str, *, decimals: int,
                      step: float, suffix: str, widest: str, readback: str = "—") -> tuple[GuardedSpinBox, QLabel]:
        """One guarded setpoint (within ``self.limits[limit]``; Enter asks the session for
        ``op``) and its readback label, on a row of ``grid``."""
        lo, hi = self.limits[limit]
        spin = GuardedSpinBox(lo, hi, decimals=decimals, step=step, suffix=suffix)
        spin.setObjectName(limit)
        spin.applied.connect(lambda v: self.requested.emit(op, (v,)))
        shown = QLabel(readback)
        _reserve(shown, widest)
        grid.addWidget(QLabel(label), row, 0)
        grid.addWidget(spin, row, 1)
        grid.addWidget(shown, row, 2)
        self._manual.append(spin)
        return spin, shown

    def _energy_and_beam(self) -> QGroupBox:
        box = QGroupBox("Energy and filament")
        grid = QGridLayout(box)
        self.energy, self.energy_readback = self._setpoint_row(
            grid, 0, "Energy", "energy", "set_energy", decimals=1, step=1.0, suffix="eV",
            widest="tune: none applied", readback="tune: —")
        self.filament, self.filament_readback = self._setpoint_row(
            grid, 1, "Filament", "filament", "ramp_filament", decimals=2, step=0.05, suffix="A",
            widest="2.888 A, 8.88 V ON")
        return box

    def _goniometer(self) -> QGroupBox:
        box = QGroupBox("Goniometer")
        grid = QGridLayout(box)
        self.angle, self.angle_readback = self._setpoint_row(
            grid, 0, "Angle", "angle", "move_to", decimals=2, step=1.0, suffix="°", widest="-188.88 °")
        self.gonio_state = QLabel("—")
        self.stop = QPushButton("Stop motion")
        self.stop.setObjectName("stop_motion")
        self.stop.setStyleSheet("QPushButton:enabled { font-weight: bold; color: #b00000; }")
        self.stop.setToolTip("Stop the turntable now (urgent: aborts a run; the file stays resumable)")
        self.stop.clicked.connect(lambda: self.requested.emit("stop_motion", ()))
        self.home = QPushButton("Home")
        self.home.clicked.connect(lambda: self.requested.emit("home", ()))
        grid.addWidget(self.gonio_state, 1, 0, 1, 3)
        row = QHBoxLayout()
        row.addWidget(self.stop)
        row.addWidget(self.home)
        grid.addLayout(row, 2, 0, 1, 3)
        self._manual.append(self.home)
        self._urgent.append(self.stop)
        return box

    def _gas(self) -> QGroupBox:
        box = QGroupBox("Gas path")
        layout = QHBoxLayout(box)
        self.gas_group = QButtonGroup(self)
        self.gas_group.setExclusive(False)  # shows the readback; a click is a request
        self.gas_buttons: dict[str, QRadioButton] = {}
        for key, text in GAS_PATHS:
            button = QRadioButton(text)
            button.setObjectName(f"gas_{key}")
            button.clicked.connect(lambda _checked=False, k=key: self._gas_clicked(k))
            self.gas_group.addButton(button)
            self.gas_buttons[key] = button
            layout.addWidget(button)
            self._manual.append(button)
        self._gas_shown: str | None = None
        return box

    def _gas_clicked(self, key: str) -> None:
        self._show_gas(self._gas_shown)  # the readback decides what is checked
        self.requested.emit("select_gas", (key,))

    def _show_gas(self, path: str | None) -> None:
        self._gas_shown = path
        for key, button in self.gas_buttons.items():
            button.setChecked(key == path)

    def _electrodes(self) -> QGroupBox:
        box = QGroupBox("Electrodes")
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(8)
        for col, text in enumerate(("", "set (Enter applies)", "readback", "state")):
            head = QLabel(text)
            head.setStyleSheet("color: #555;")
            grid.addWidget(head, 0, col)
        self.setpoints: dict[str, GuardedSpinBox] = {}
        self.readbacks: dict[str, QLabel] = {}
        self.states: dict[str, QLabel] = {}
        for row, (name, _e) in enumerate(self.config.electrodes.items(), start=1):
            lo, hi = self.limits[f"electrode:{name}"]
            grid.addWidget(QLabel(name), row, 0)
            readback = QLabel("—")
            readback.setObjectName(f"readback_{name}")
            readback.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            readback.setStyleSheet("font-family: monospace;")
            readback.setMinimumWidth(80)
            state = QLabel("—")
            self.readbacks[name], self.states[name] = readback, state
            if name == self.channeltron:
                buttons = QHBoxLayout()
                self.cem_on = QPushButton("HV ON…")
                self.cem_on.setObjectName("channeltron_on")
                self.cem_on.setToolTip(f"Ramp the channeltron to its plateau "
                                       f"({self.config.detector.channeltron_V:g} V), after a confirmation")
                self.cem_on.clicked.connect(self._channeltron_on)
                self.cem_off = QPushButton("HV OFF")
                self.cem_off.setObjectName("channeltron_off")
                self.cem_off.setStyleSheet("QPushButton:enabled { font-weight: bold; color: white; background: #b00000; }")
                self.cem_off.setToolTip("Channeltron high voltage off now (urgent: aborts a run)")
                self.cem_off.clicked.connect(lambda: self.requested.emit("channeltron_off", ()))
                buttons.addWidget(self.cem_on)
                buttons.addWidget(self.cem_off)
                grid.addLayout(buttons, row, 1)
                self._manual.append(self.cem_on)
                self._urgent.append(self.cem_off)
            else:
                spin = GuardedSpinBox(lo, hi, decimals=1, step=1.0, suffix="V")
                spin.setObjectName(f"setpoint_{name}")
                spin.setMinimumWidth(100)
                spin.applied.connect(lambda v, n=name: self.requested.emit("set_electrode", (n, v)))
                self.setpoints[name] = spin
                self._manual.append(spin)
                grid.addWidget(spin, row, 1)
            grid.addWidget(readback, row, 2)
            grid.addWidget(state, row, 3)
        return box

    def _channeltron_on(self) -> None:
        volts = self.config.detector.channeltron_V
        if self.confirm(self, "Channeltron high voltage",
                        f"Ramp the channeltron ({self.channeltron}) to {volts:g} V?\n\n"
                        "Only with the chamber pumped down and the gas pressure within limits."):
            self.requested.emit("channeltron_on", ())

    # ------------------------------------------------------------ state
    def set_mode(self, *, connected: bool, running: bool) -> None:
        """No session: nothing is enabled.  A run: only the urgent controls, and the
        readbacks marked as not current (the status is read between runs only)."""
        mode = (connected, running)
        if mode == self._mode:
            return
        self._mode = mode
        for w in self._manual:
            w.setEnabled(connected and not running)
        for w in self._urgent:
            w.setEnabled(connected)
        self._versions = ()  # redraw: the stale marks follow the mode

    def _show_stale(self, status) -> bool:
        stale = self._mode[1] and status is not None
        if stale:
            stamp = status.utc.replace("T", " ")[11:19] if status.utc else "?"
            self.stale.setText(f"A run owns the apparatus: the grey readbacks below were read at {stamp} UTC "
                               "(a run reads them at each energy change; the monitors above, the tune energy, "
                               "the angle and the count rate are live)")
        self.stale.setVisible(stale)
        style = _STALE if stale else ""
        for label in (self.gonio_state, self.filament_readback):
            label.setStyleSheet(style)
        for label in self.readbacks.values():
            label.setStyleSheet("font-family: monospace;" + style)
        return stale

    def redraw(self, panel, health) -> None:
        """Draw the view-models if either changed since the last draw."""
        versions = (panel.version, health.version)
        if versions == self._versions:
            return
        self._versions = versions
        for name, state, reason in health.items():
            self._light(name).set_state(state, reason)
        meter = panel.meter
        limit = getattr(meter, "limit_cps", math.nan)
        if not math.isfinite(limit):
            limit = getattr(self.config.detector, "linear_limit_cps", None)
        self.meter.show_meter(meter.rate_cps, meter.loss, meter.saturated, meter.fill, limit, getattr(meter, "flags", 0))
        hint = self.widget().minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 4
        if hint > self.minimumWidth():  # a longer text arrived: widen rather than cut it
            self.setMinimumWidth(hint)
        monitor = panel.monitor
        status = panel.status
        if monitor is not None:
            self._show_monitors(monitor.beam_current_A, monitor.chamber_mbar, monitor.needle_mbar)
        elif status is not None:
            self._show_monitors(status.beam_current_A, status.chamber_mbar, status.needle_mbar)
        energy = panel.energy_eV
        self.energy_readback.setText(f"tune: {fmt_number(energy, '.1f', 'eV')}" if energy is not None
                                     else "tune: none applied")
        if status is None:
            return
        stale = self._show_stale(status)
        if energy is not None:
            self.energy.set_committed(energy)
        self.angle_readback.setText(fmt_number(panel.angle_deg, ".2f", "°"))
        if math.isfinite(panel.angle_deg):
            self.angle.set_committed(panel.angle_deg)
        self.gonio_state.setText((status.goniometer or "state unreadable")
                                 + ("" if status.referenced else "  (not referenced: Home)"))
        self.filament_readback.setText(
            f"{fmt_number(status.filament_current_A, '.3f', 'A')}, {fmt_number(status.filament_voltage_V, '.2f', 'V')}"
            f" {'ON' if status.filament_on else 'off'}")
        if math.isfinite(status.filament_setpoint_A):
            self.filament.set_committed(status.filament_setpoint_A)
        self._show_gas(status.gas_path)
        for line in getattr(status, "lines", ()):
            if line.name in self.line_labels:
                self.line_labels[line.name].setText(f"{fmt_mbar(line.pressure_mbar)}, {line.path or '?'}")
        for e in status.electrodes:
            if e.name not in self.readbacks:
                continue
            self.readbacks[e.name].setText(fmt_number(e.readback_V, ".1f", "V"))
            if e.fault == EMERGENCY_OFF and e.name == status.channeltron:
                # what the safe state and every interlock trip leave: not a fault of the module
                self.states[e.name].setText("EMCY OFF")
                self.states[e.name].setStyleSheet(f"color: {COLOURS['warning']}; font-weight: bold;")
                self.states[e.name].setToolTip("switched off at once (safe state or interlock trip); "
                                               "HV ON clears it and ramps back to the plateau")
            elif e.fault:
                self.states[e.name].setText(f"FAULT {e.fault}")
                self.states[e.name].setStyleSheet(f"color: {COLOURS['fault']}; font-weight: bold;")
                self.states[e.name].setToolTip(e.fault)
            else:
                self.states[e.name].setText("on" if e.on else "off")
                self.states[e.name].setStyleSheet(_STALE if stale else f"color: {COLOURS['ok']};" if e.on
                                                  else "color: #666;")
                self.states[e.name].setToolTip("")
            spin = self.setpoints.get(e.name)
            if spin is not None and math.isfinite(e.setpoint_V):
                spin.set_committed(e.setpoint_V)

    def _show_monitors(self, beam: float, chamber: float, needle: float) -> None:
        self.chamber.setText(fmt_mbar(chamber))
        self.needle.setText(fmt_mbar(needle))
        self.beam.setText(fmt_amps(beam))
