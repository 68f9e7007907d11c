"""The engine's event stream: what every consumer (storage, plots, log, progress) sees.

The engine never calls a consumer by name; it publishes these immutable records to
subscribers (:class:`EventBus`).  A run is::

    RunStart, (Monitor | Point | Progress | Suspended | Resumed | Paused | Message)*, RunStop

Times: ``t`` fields are clock seconds (``foundation.clock``); ``utc`` fields are ISO
8601 UTC strings for files.  Quantities carry their unit in the name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any

__all__ = [
    "PointFlag",
    "Gate",
    "RunStart",
    "Point",
    "Monitor",
    "Suspended",
    "Resumed",
    "Paused",
    "Message",
    "Progress",
    "RunStop",
    "InstrumentHealth",
    "ElectrodeReading",
    "ApparatusStatus",
    "LineReading",
    "PressureRise",
    "HEALTH_STATES",
    "instrument_of",
    "Event",
    "EventBus",
]

log = logging.getLogger(__name__)


class PointFlag(IntFlag):
    """Why a point should not be trusted as it stands (stored as uint8)."""

    NONE = 0
    LOSS = 1  #: dead-time loss beyond the configured fraction (signal or background)
    RATE = 2  #: raw rate beyond the channeltron's linear limit (gain sag)
    OVERFLOW = 4  #: counter overflow or invalid reading
    BACKGROUND_INTERPOLATED = 8  #: no background at this angle: taken from neighbours
    REDONE = 16  #: measured again after a suspension, pause or device error
    LOW_BEAM = 32  #: beam current below the interlock threshold at some monitor reading
    UNSTEADY = 64  #: sub-gate counts inconsistent with a steady rate (a burst inside a sub-gate), still after a re-count

    @property
    def saturated(self) -> bool:
        return bool(self & (PointFlag.LOSS | PointFlag.RATE | PointFlag.OVERFLOW))

    def describe(self) -> str:
        return "|".join(f.name for f in PointFlag if f and f in self) or "ok"


@dataclass(frozen=True)
class Gate:
    """One channeltron count with the monitor readings around it."""

    counts: int
    gate_s: float  #: counted time (sum of the completed sub-gates)
    t_start: float
    t_stop: float
    utc_start: str
    subgate_counts: tuple[int, ...]
    subgate_s: float
    beam_current_A: float  #: mean of the readings before and after (positive)
    beam_current_before_A: float
    beam_current_after_A: float
    needle_mbar: float  #: gas-line pressure behind the needle, mean of before/after
    chamber_mbar: float
    angle_readback_deg: float  #: the goniometer's position as the controller reported it after the move
    #: chi2 per degree of freedom of the sub-gate counts against a steady rate scaled by
    #: the beam current (nan: fewer than two sub-gates); see counting.subgate_dispersion
    subgate_chi2: float = float("nan")
    steady: bool = True  #: False: still inconsistent after being counted again

    @property
    def rate_cps(self) -> float:
        return self.counts / self.gate_s if self.gate_s > 0 else float("nan")


@dataclass(frozen=True)
class RunStart:
    run_id: str
    utc: str
    t: float
    plan: dict[str, Any]  #: validated plan as plain data
    plan_text: str  #: the plan file as the operator wrote it
    apparatus: dict[str, Any]  #: validated apparatus config as plain data
    apparatus_text: str
    snapshot: dict[str, Any]  #: every instrument's identity and settings
    software_version: str
    metadata: dict[str, Any]  #: operator, sample, notes
    energies_eV: tuple[float, ...]
    angles_deg: tuple[float, ...]
    sweeps: int
    planned_points: int
    clock: str = "RealClock"
    resumed: bool = False
    kind: str = "dcs"  #: the procedure that makes the run (acquisition.procedures); files record it


@dataclass(frozen=True)
class Point:
    """One measured (sweep, energy, angle): signal, optional background, derived numbers."""

    seq: int
    sweep: int
    energy_index: int
    angle_index: int
    energy_eV: float
    angle_deg: float
    signal: Gate
    background: Gate | None
    #: the typed result of the point (the run kind's type in
    #: ``acquisition.reduction.RESULT_TYPES``; a DCS run's is ``DcsPointResult``): its
    #: fields, with units in their names, are the run file's derived columns
    derived: Any
    flags: PointFlag
    attempts: int = 1


@dataclass(frozen=True)
class Monitor:
    """A reading of the slow monitors (for the NXlog time logs and strip charts)."""

    t: float
    utc: str
    beam_current_A: float
    chamber_mbar: float
    needle_mbar: float


@dataclass(frozen=True)
class Suspended:
    t: float
    utc: str
    reason: str  #: which suspender tripped, with the reading and threshold
    point: tuple[int, int, int] | None = None  #: (sweep, energy_index, angle_index) interrupted


@dataclass(frozen=True)
class Resumed:
    t: float
    utc: str
    reason: str


@dataclass(frozen=True)
class Paused:
    t: float
    utc: str
    reason: str


@dataclass(frozen=True)
class Message:
    """Anything the operator should read in the log and the file (retries, warnings)."""

    t: float
    utc: str
    level: str
    text: str


@dataclass(frozen=True)
class Progress:
    """After every point: how far the run is and when it will end (from measured durations)."""

    t: float
    done: int
    total: int
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class RunStop:
    t: float
    utc: str
    status: str  #: "success", "aborted", "failed"
    reason: str
    points_done: int


#: an instrument's connection state, as the instrument panel shows it
HEALTH_STATES = ("ok", "retrying", "fault")


@dataclass(frozen=True)
class InstrumentHealth:
    """An instrument's connection changed: it answered (``ok``), a transient fault is
    being retried (``retrying``), or it failed beyond the retries (``fault``).

    Published by the runner's retries and the session's status readings; the panel's
    connection lights follow these and nothing else."""

    t: float
    instrument: str  #: the apparatus file's name for it: "gauges", "gun", ...
    state: str  #: one of HEALTH_STATES
    reason: str = ""  #: the driver's error text (empty when ok)


def instrument_of(exc: BaseException) -> str:
    """The apparatus name of the instrument a driver error names ("gauges" of
    "gauges (pfeiffer_tpg362)"), or "" if it names none."""
    name = getattr(exc, "instrument", "") or ""
    return "" if name == "?" else name.split(" (", 1)[0]


@dataclass(frozen=True)
class ElectrodeReading:
    """One electrode at one moment: what its module was told and what it measures."""

    name: str
    module: str  #: the HV module (instrument name) carrying it
    setpoint_V: float  #: Vset read back from the module (NaN: unreadable)
    readback_V: float  #: measured output voltage (NaN: unreadable)
    on: bool
    fault: str | None = None  #: the module's fault bits for this channel, by the manual's names


@dataclass(frozen=True)
class LineReading:
    """One gas line at one moment: where its gas goes and its manometer."""

    name: str  #: "target" or "reference"
    gas: str  #: the gas it holds ("" when the line declares none: the plan's gas)
    path: str | None  #: from the relay states (apparatus.GAS_PATHS; None: unreadable or impossible)
    pressure_mbar: float  #: NaN: unreadable


@dataclass(frozen=True)
class ApparatusStatus:
    """Everything the instrument panel shows, read while no run owns the apparatus.

    A quantity whose instrument did not answer is NaN (or None); the reason went out
    as an :class:`InstrumentHealth` event."""

    t: float
    utc: str
    energy_eV: float | None  #: the tune last applied in full (None: none, or interrupted)
    angle_deg: float  #: goniometer position read back (NaN: unreadable)
    goniometer: str  #: the controller's state ("READY from MOVING", ...), "" if unreadable
    referenced: bool
    gas_path: str | None  #: from the relay states: "needle", "side_leak", "closed" (None: unreadable or both open)
    filament_current_A: float  #: measured
    filament_voltage_V: float  #: measured
    filament_setpoint_A: float
    filament_on: bool
    electrodes: tuple[ElectrodeReading, ...]
    channeltron: str  #: which electrode is the channeltron
    beam_current_A: float
    chamber_mbar: float
    needle_mbar: float
    lines: tuple[LineReading, ...] = ()  #: every gas line of the apparatus file


@dataclass(frozen=True)
class PressureRise:
    """One rate-of-rise record of a gas line (the relative flow method's flow
    measurement): the line's manometer sampled after its outlet was shut (``kind``
    "rise": the flow that was passing fills the line) or after it was sealed, inlet
    closed too ("base": outgassing only).  Raw: the analysis fits it."""

    t: float  #: clock time of the first sample
    utc: str
    key: tuple  #: ("rise", cycle, energy_index, gas_index) of the procedure item
    cycle: int
    energy_index: int
    gas_index: int  #: 0 the target gas, 1 the reference gas
    kind: str  #: "rise" or "base"
    line: str  #: "target" or "reference"
    gas: str
    times_s: tuple[float, ...]  #: since the first sample
    pressures_mbar: tuple[float, ...]
    volume_cm3: float
    temperature_K: float
    steady_mbar: float  #: the line's pressure before it was shut


Event = (RunStart | Point | Monitor | Suspended | Resumed | Paused | Message | Progress | RunStop
         | InstrumentHealth | ApparatusStatus | PressureRise)


@dataclass
class EventBus:
    """Fan events out to subscribers; a failing subscriber is logged, not fatal,
    except those marked ``critical`` (storage), whose failure stops the run."""

    subscribers: list[tuple[Callable[[Event], None], bool]] = field(default_factory=list)

    def subscribe(self, callback: Callable[[Event], None], *, critical: bool = False) -> Callable[[], None]:
        entry = (callback, critical)
        self.subscribers.append(entry)
        return lambda: self.subscribers.remove(entry)

    def emit(self, event: Event) -> None:
        for callback, critical in list(self.subscribers):
            try:
                callback(event)
            except Exception:
                if critical:
                    raise
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)
