"""One clock for every wait in xbeam.

Drivers, simulators and the engine never call ``time.sleep`` themselves: they ask a
clock.  Three clocks share one interface:

* :class:`RealClock`: life as it is.
* :class:`ScaledClock`: time runs ``factor`` times faster than life (a simulated
  apparatus at x10 finishes a two-hour scan in twelve minutes).
* :class:`VirtualClock`: ``sleep`` advances time at once, so a simulated overnight scan
  finishes in seconds while drivers and simulators still see consistent times.

``now()`` is experiment time in seconds (monotonic, arbitrary origin).  ``wall_utc()``
is the wall time that corresponds to ``now()``; files store it as ISO 8601 UTC.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "RealClock", "ScaledClock", "VirtualClock", "make_clock", "utc_iso", "utc_iso_from_epoch"]


def utc_iso(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``, the form run files store."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime | None:
    """The inverse of :func:`utc_iso`: an ISO 8601 stamp as an aware datetime (a stamp
    without a zone is UTC); None if it is not one.  The run file's writer and the
    window's view-models read stamps with this one function, so a live run and its
    file give the same seconds, bit for bit."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: (minute since the epoch, its text up to the minute "2026-12-01T09:41:") of the last
#: stamp; one tuple, replaced whole, so that threads stamping at once never mix two
_minute_text: tuple[int, str] = (-1, "")


def utc_iso_from_epoch(epoch_s: float) -> str:
    """Same text as :func:`utc_iso` from POSIX seconds, without building a datetime.

    The runner stamps several events per point; strftime would be a third of its
    per-point cost, so the text up to the minute is kept from the previous call (the
    stamps of a run come in order, many per minute) and only seconds and microseconds
    are formatted.
    """
    global _minute_text
    us = round(epoch_s * 1_000_000)
    minute, us_of_minute = divmod(us, 60_000_000)
    cached = _minute_text
    if minute != cached[0]:
        cached = _minute_text = (minute, (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:"))
    s, us = divmod(us_of_minute, 1_000_000)
    return f"{cached[1]}{s:02d}.{us:06d}Z"


class Clock:
    """Interface: ``now``, ``sleep``, ``sleep_until``, ``wall_utc``."""

    #: how many experiment seconds pass per wall second (inf for a virtual clock)
    speed: float = 1.0

    def __init__(self) -> None:
        self._wall0 = datetime.now(timezone.utc)
        self._t0 = 0.0

    @property
    def _epoch0(self) -> float:
        return self._wall0.timestamp()

    def now(self) -> float:
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def sleep_until(self, t: float) -> None:
        """Sleep until ``now() >= t`` (returns at once if that time has passed)."""
        remaining = t - self.now()
        if remaining > 0:
            self.sleep(remaining)

    def wall_utc(self, t: float | None = None) -> datetime:
        """Wall time (UTC) corresponding to experiment time ``t`` (default: now)."""
        if t is None:
            t = self.now()
        return self._wall0 + timedelta(seconds=t - self._t0)

    def utc(self, t: float | None = None) -> str:
        """ISO 8601 UTC text of experiment time ``t`` (default: now), as files store it."""
        if t is None:
            t = self.now()
        return utc_iso_from_epoch(self._epoch0 + (t - self._t0))

    def wall_seconds(self, experiment_seconds: float) -> float:
        """How long ``experiment_seconds`` take in wall time (0 for a virtual clock)."""
        return experiment_seconds / self.speed

    def describe(self) -> str:
        return type(self).__name__


class RealClock(Clock):
    """The clock of the real apparatus."""

    speed = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock(Clock):
    """Experiment time runs ``factor`` times faster than wall time."""

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"time scale factor must be > 0, got {factor!r}")
        super().__init__()
        self.speed = float(factor)
        self._m0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._m0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def describe(self) -> str:
        return f"ScaledClock(x{self.speed:g})"


class VirtualClock(Clock):
    """Time advances only when somebody sleeps; sleeping returns at once.

    Thread-safe.  Several threads may share it (driver and simulators in one
    process): a sleep moves time forward to the sleeper's wake-up time, never back.
    """

    speed = float("inf")

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._t = float(start)
        self._t0 = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._t += seconds

    def sleep_until(self, t: float) -> None:
        with self._lock:
            if t > self._t:
                self._t = t

    def advance(self, seconds: float) -> None:
        """Move time forward (for tests); same as ``sleep``."""
        self.sleep(seconds)


def make_clock(time_scale: float | None = None, virtual: bool = False) -> Clock:
    """The clock a command line asks for: virtual, scaled, or real."""
    if virtual:
        return VirtualClock()
    if time_scale is not None and time_scale != 1:
        return ScaledClock(time_scale)
    return RealClock()
