"""The instrument panel: the last apparatus status, the last monitor reading, and the
count-rate meter that tells the operator how close the channeltron is to its limits.

Why the meter is a model of its own: "how full" is the raw rate against the detector's
linear limit, and "saturated" is the point's own verdict (its flags) or the same
limits the runner applies; both come from the configuration, not from the widget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from acquisition.events import ApparatusStatus, Monitor, PointFlag

from .records import PointRecord

__all__ = ["Meter", "PanelModel"]


@dataclass(frozen=True)
class Meter:
    rate_cps: float  #: last raw signal rate
    loss: float  #: dead-time loss fraction of that gate
    saturated: bool  #: the point's LOSS/RATE/OVERFLOW flags, or the rate or loss beyond the limits
    fill: float  #: rate / linear limit, clipped to 0..1 (0 for a NaN rate)
    limit_cps: float = math.nan  #: added: the linear limit the fill is against
    flags: int = 0  #: added: the point's PointFlag bits


EMPTY_METER = Meter(math.nan, math.nan, False, 0.0)


class PanelModel:
    def __init__(self) -> None:
        self.status: ApparatusStatus | None = None
        self.monitor: Monitor | None = None
        self.meter: Meter = EMPTY_METER
        self.energy_eV: float | None = None
        #: the goniometer's latest position: from a status reading, or (during a run,
        #: where status is read only at each energy change) from the latest point
        self.angle_deg: float = math.nan
        self._angle_t = -math.inf
        self.version = 0

    def on_status(self, status: ApparatusStatus) -> None:
        self.status = status
        if status.energy_eV is not None:
            self.energy_eV = status.energy_eV
        if status.t >= self._angle_t:
            self.angle_deg, self._angle_t = status.angle_deg, status.t
        self.version += 1

    def on_monitor(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.version += 1

    def on_point(self, record: PointRecord, linear_limit_cps: float, max_loss_fraction: float) -> None:
        rate, loss = record.signal_rate_cps, record.signal_loss
        over = (math.isfinite(rate) and rate > linear_limit_cps) or (math.isfinite(loss) and loss > max_loss_fraction)
        saturated = PointFlag(record.flags).saturated or over
        fill = rate / linear_limit_cps if math.isfinite(rate) and linear_limit_cps > 0 else 0.0
        self.meter = Meter(rate, loss, saturated, min(max(fill, 0.0), 1.0), float(linear_limit_cps), record.flags)
        self.energy_eV = record.energy_eV
        if math.isfinite(record.angle_readback_deg) and not record.t_start < self._angle_t:
            self.angle_deg, self._angle_t = record.angle_readback_deg, record.t_start
        self.version += 1
