"""Strip charts of the slow monitors and the count rate: ring buffers that hold a night,
and a min/max envelope that draws it in a couple of thousand points.

Why a ring buffer: twelve hours of monitor readings at 10 Hz are ~430,000 samples per
trace; appending to preallocated arrays is O(1) and never reallocates, and when the
buffer is full the oldest samples go.  Why min/max per bucket rather than every k-th
sample: decimation drops a one-sample pressure burst, which is exactly what the
operator is looking for; the envelope keeps the extremes of every bucket.

Times are whatever the caller gives (the run view uses seconds since the run start,
the run file's own time base); they are expected in the order appended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["RingBuffer", "downsample_minmax", "StripChartModel", "MONITOR_TRACES", "RATE_TRACE", "TRACES"]

MONITOR_TRACES = ("beam_current_A", "chamber_mbar", "needle_mbar")
RATE_TRACE = "count_rate_cps"
TRACES = (*MONITOR_TRACES, RATE_TRACE)


class RingBuffer:
    """Time-stamped samples of a few fields in preallocated arrays; the oldest are
    overwritten once ``capacity`` is reached."""

    def __init__(self, capacity: int, fields: tuple[str, ...]) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = int(capacity)
        self.fields = tuple(fields)
        self._t = np.empty(self.capacity)
        self._v = {f: np.empty(self.capacity) for f in self.fields}
        self._head = 0  # next slot written
        self._n = 0
        #: the times were appended in non-decreasing order (lets view() clip by bisection)
        self.monotonic = True
        self._last_t = -math.inf

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._head = self._n = 0
        self.monotonic = True
        self._last_t = -math.inf

    def append(self, t: float, **values: float) -> None:
        i = self._head
        self._t[i] = t
        for f in self.fields:
            self._v[f][i] = values.get(f, math.nan)
        if t < self._last_t:
            self.monotonic = False
        self._last_t = t
        self._head = (i + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)

    def extend(self, t_array, **arrays) -> None:
        t_array = np.asarray(t_array, dtype=float)
        k = t_array.shape[0]
        if k == 0:
            return
        columns = {f: np.broadcast_to(np.asarray(arrays.get(f, math.nan), dtype=float), (k,)) for f in self.fields}
        if t_array[0] < self._last_t or (k > 1 and bool(np.any(np.diff(t_array) < 0))):
            self.monotonic = False
        self._last_t = float(t_array[-1])
        if k >= self.capacity:  # only the newest capacity samples survive
            t_array = t_array[-self.capacity:]
            columns = {f: v[-self.capacity:] for f, v in columns.items()}
            self._t[:] = t_array
            for f in self.fields:
                self._v[f][:] = columns[f]
            self._head, self._n = 0, self.capacity
            return
        first = min(k, self.capacity - self._head)  # up to the end of the storage, then wrap
        for dst, src in ((self._t, t_array), *((self._v[f], columns[f]) for f in self.fields)):
            dst[self._head : self._head + first] = src[:first]
            dst[: k - first] = src[first:]
        self._head = (self._head + k) % self.capacity
        self._n = min(self._n + k, self.capacity)

    def _segments(self) -> list[slice]:
        """The filled storage as slices in time order (one, or two once wrapped)."""
        if self._n < self.capacity:
            return [slice(0, self._n)]
        if self._head == 0:
            return [slice(0, self.capacity)]
        return [slice(self._head, self.capacity), slice(0, self._head)]

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of the times and every field, oldest first."""
        segments = self._segments()
        t = np.concatenate([self._t[s] for s in segments])
        return t, {f: np.concatenate([self._v[f][s] for s in segments]) for f in self.fields}

    def field(self, name: str, t0: float | None = None, t1: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Times and one field, oldest first, clipped to [t0, t1] (added: what a view
        needs, without copying the other fields or the samples outside the window)."""
        parts = self.field_views(name, t0, t1)
        if len(parts) == 1:
            return parts[0][0].copy(), parts[0][1].copy()
        return np.concatenate([t for t, _ in parts]), np.concatenate([v for _, v in parts])

    def field_views(self, name: str, t0: float | None = None,
                    t1: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Like :meth:`field`, as views of the storage, one (t, values) pair per
        contiguous piece (two once wrapped).  Why: copying a night of samples into a
        fresh array costs more than reducing it (the fresh pages are faulted in); the
        views are valid until the next append."""
        parts = []
        values = self._v[name]
        for s in self._segments():
            t, v = self._t[s], values[s]
            if self.monotonic:
                lo = 0 if t0 is None else int(np.searchsorted(t, t0, "left"))
                hi = t.shape[0] if t1 is None else int(np.searchsorted(t, t1, "right"))
                parts.append((t[lo:hi], v[lo:hi]))
            else:
                keep = np.ones(t.shape[0], dtype=bool)
                if t0 is not None:
                    keep &= t >= t0
                if t1 is not None:
                    keep &= t <= t1
                parts.append((t[keep], v[keep]))
        return parts

    def span(self) -> tuple[float, float]:
        """(oldest, newest) time; NaNs when empty."""
        if self._n == 0:
            return math.nan, math.nan
        segments = self._segments()
        first, last = self._t[segments[0].start], self._t[segments[-1].stop - 1]
        if not self.monotonic:
            t = self._t[: self._n] if self._n < self.capacity else self._t
            first, last = float(np.nanmin(t)), float(np.nanmax(t))
        return float(first), float(last)


def downsample_minmax(t: np.ndarray, y: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The min/max envelope of ``y``: at most ``2 * n_buckets`` samples, each bucket's
    lowest and highest (in time order), so that a single-sample spike survives.

    Vectorised: equal buckets of ``k = ceil(n / n_buckets)`` samples are a reshape to
    (m, k) and one argmin and argmax along the rows; the short last bucket is done on
    its own.  NaNs count as neither extreme (a bucket of only NaNs yields NaNs: a gap)."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    n = y.shape[0]
    n_buckets = max(int(n_buckets), 1)
    if n <= 2 * n_buckets:
        return t.copy(), y.copy()
    k = -(-n // n_buckets)
    m = n // k
    full = m * k
    if np.isnan(y).any():
        low, high = np.where(np.isnan(y), np.inf, y), np.where(np.isnan(y), -np.inf, y)
    else:
        low = high = y
    base = np.arange(m) * k
    i_min = low[:full].reshape(m, k).argmin(axis=1) + base
    i_max = high[:full].reshape(m, k).argmax(axis=1) + base
    if full < n:
        i_min = np.append(i_min, full + int(low[full:].argmin()))
        i_max = np.append(i_max, full + int(high[full:].argmax()))
    # each bucket's two indices in time order; a flat bucket gives the same index twice
    idx = np.stack([np.minimum(i_min, i_max), np.maximum(i_min, i_max)], axis=1).ravel()
    return t[idx], y[idx]


class StripChartModel:
    """Beam current, chamber and needle pressures (from monitors) and the raw signal
    count rate (from points), each kept for ``capacity`` samples."""

    def __init__(self, capacity: int = 12 * 3600 * 10 + 1024, rate_capacity: int | None = None) -> None:
        self._monitors = RingBuffer(capacity, MONITOR_TRACES)
        # a point is tens of seconds: a tenth of the monitors' room is still days of points
        self._rates = RingBuffer(rate_capacity or max(capacity // 10, 1024), (RATE_TRACE,))
        self.version = 0

    def clear(self) -> None:
        self._monitors.clear()
        self._rates.clear()
        self.version += 1

    def __len__(self) -> int:
        return len(self._monitors) + len(self._rates)

    def add_monitor(self, t: float, beam: float, chamber: float, needle: float) -> None:
        if not math.isfinite(t):
            return  # a reading without a time cannot be placed
        self._monitors.append(t, beam_current_A=beam, chamber_mbar=chamber, needle_mbar=needle)
        self.version += 1

    def add_monitors(self, t, beam, chamber, needle) -> None:
        t = np.asarray(t, dtype=float)
        if t.shape[0] == 0:
            return
        keep = np.isfinite(t)
        columns = {name: np.broadcast_to(np.asarray(v, dtype=float), t.shape)[keep]
                   for name, v in zip(MONITOR_TRACES, (beam, chamber, needle))}
        self._monitors.extend(t[keep], **columns)
        self.version += 1

    def add_rate(self, t: float, cps: float) -> None:
        if not math.isfinite(t):
            return
        self._rates.append(t, count_rate_cps=cps)
        self.version += 1

    def add_rates(self, t: Iterable[float], cps: Iterable[float]) -> None:
        """Several rate samples at once (added: a file update brings many points)."""
        t = np.asarray(t if isinstance(t, np.ndarray) else list(t), dtype=float)
        cps = np.asarray(cps if isinstance(cps, np.ndarray) else list(cps), dtype=float)
        keep = np.isfinite(t)
        if keep.any():
            self._rates.extend(t[keep], count_rate_cps=cps[keep])
            self.version += 1

    def _buffer(self, trace: str) -> RingBuffer:
        if trace in MONITOR_TRACES:
            return self._monitors
        if trace == RATE_TRACE:
            return self._rates
        raise KeyError(f"no trace {trace!r}; traces: {', '.join(TRACES)}")

    def raw(self, trace: str, t0: float | None = None, t1: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every sample of a trace in [t0, t1] (added: for tests and export)."""
        return self._buffer(trace).field(trace, t0, t1)

    def view(self, trace: str, t0: float | None = None, t1: float | None = None,
             max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """A trace clipped to [t0, t1] and reduced to at most ``max_points`` samples.

        The ring's pieces are reduced where they lie (no copy of the night first), each
        with its share of the buckets."""
        parts = [p for p in self._buffer(trace).field_views(trace, t0, t1) if p[0].shape[0]]
        buckets = max(max_points // 2, 1)
        total = sum(p[0].shape[0] for p in parts)
        if len(parts) <= 1 or total <= 2 * buckets:
            if not parts:
                return np.zeros(0), np.zeros(0)
            if len(parts) == 1:
                return downsample_minmax(parts[0][0], parts[0][1], buckets)
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        # two pieces: split the buckets in proportion, at least one each, never more in all
        first = min(max(buckets * parts[0][0].shape[0] // total, 1), buckets - 1)
        a = downsample_minmax(parts[0][0], parts[0][1], first)
        b = downsample_minmax(parts[1][0], parts[1][1], max(buckets - first, 1))
        return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])

    def span(self) -> tuple[float, float]:
        """(first, last) time over every trace; NaNs when empty."""
        spans = [b.span() for b in (self._monitors, self._rates) if len(b)]
        if not spans:
            return math.nan, math.nan
        return min(s[0] for s in spans), max(s[1] for s in spans)
