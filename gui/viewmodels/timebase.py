"""The strip chart's time axis: seconds since the run start, from UTC stamps.

Why UTC and not the events' clock seconds: the run file stores its monitor times as
"seconds since the start" computed from UTC stamps (``RunWriter._rel_time``), and its
``t_*`` columns restart with every writer session.  Computing the live times the same
way, from the same stamps, gives the live window and a followed file the very same
numbers (bit for bit), and survives a resumed run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from foundation.clock import parse_utc

__all__ = ["TimeBase"]


class TimeBase:
    """The origin of the time axis (None until known) and conversions to it."""

    def __init__(self) -> None:
        self.origin: datetime | None = None
        self.origin_utc: str | None = None

    def set_origin(self, utc: str | None) -> bool:
        """Use ``utc`` as the origin; False (and no change) if it is not a readable stamp."""
        moment = parse_utc(utc) if utc else None
        if moment is None:
            return False
        self.origin, self.origin_utc = moment, utc
        return True

    def clear(self) -> None:
        self.origin = self.origin_utc = None

    def ensure(self, utc: str) -> None:
        """Without an origin (a live window that saw no RunStart), the first stamp is it."""
        if self.origin is None:
            self.set_origin(utc)

    def origin_from_log(self, entries: Iterable[tuple[float, str, str, str]]) -> bool:
        """A file's origin from its event log: each entry holds its UTC stamp and its
        seconds since the start, so stamp - seconds is the start (to a microsecond).
        For a followed file whose start stamp the caller does not know."""
        if self.origin is not None:
            return True
        for t, utc, _kind, _text in entries:
            moment = parse_utc(utc)
            if moment is not None and math.isfinite(t):
                start = moment - timedelta(seconds=t)
                self.origin, self.origin_utc = start, start.isoformat()
                return True
        return False

    def rel(self, utc: str) -> float:
        """Seconds from the origin to ``utc``; NaN without an origin or a readable stamp."""
        if self.origin is None:
            return math.nan
        moment = parse_utc(utc)
        return math.nan if moment is None else (moment - self.origin).total_seconds()
