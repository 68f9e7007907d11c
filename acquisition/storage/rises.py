"""Rate-of-rise records in a run file (RFM runs): ``/entry/rate_of_rise``.

Layout (an NXcollection, laid out at the start of a run of kind "rfm": SWMR forbids
new datasets later)::

    /entry/rate_of_rise
        records_done       scalar: rows committed (a crash keeps only those)
        record, cycle, energy_index, gas_index, kind ("rise" | "base"), line, gas,
        t_start, utc_start, volume_cm3, temperature_K, steady_mbar,
        sample_offset, sample_length, session          one row per record
        time (s since the record's first sample), pressure (mbar)   every sample, end to end

A record's samples are ``time[sample_offset : sample_offset + sample_length]``.  A row
counts only once ``records_done`` says so, like a point and ``points_done``.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from acquisition.events import PressureRise

from .layout import KIND_LEN, UTC_LEN, append_many, appendable, decode, fit, put_row, str_dtype

__all__ = ["RISE_COLUMNS", "RiseWriter", "build_rise_layout", "read_rises", "trim_rises"]

GROUP = "rate_of_rise"
LINE_LEN = 16
GAS_LEN = 64

#: per-record columns: name -> (dtype, units, doc, missing)
RISE_COLUMNS: dict[str, tuple[Any, str | None, str, Any]] = {
    "record": ("i4", None, "record number in the run", -1),
    "cycle": ("i4", None, "RFM cycle", -1),
    "energy_index": ("i4", None, "index into /entry/rel_dcs/energy", -1),
    "gas_index": ("i4", None, "0 the target gas, 1 the reference gas", -1),
    "kind": (str_dtype(KIND_LEN), None, "rise (outlet shut) or base (inlet closed too)", ""),
    "line": (str_dtype(LINE_LEN), None, "gas line: target or reference", ""),
    "gas": (str_dtype(GAS_LEN), None, "the gas in the line", ""),
    "t_start": ("f8", "s", "first sample, clock seconds of the session", float("nan")),
    "utc_start": (str_dtype(UTC_LEN), None, "first sample, ISO 8601 UTC", ""),
    "volume_cm3": ("f8", "cm^3", "the line's volume (apparatus file)", float("nan")),
    "temperature_K": ("f8", "K", "the line's temperature (apparatus file)", float("nan")),
    "steady_mbar": ("f8", "mbar", "the line's pressure before it was shut", float("nan")),
    "sample_offset": ("i8", None, "first index of the record in time/pressure", -1),
    "sample_length": ("i8", None, "number of samples of the record", 0),
    "session": ("i4", None, "writer session (0 = first; +1 per resume)", -1),
}
_TEXT = {"kind": KIND_LEN, "line": LINE_LEN, "gas": GAS_LEN, "utc_start": UTC_LEN}


def build_rise_layout(entry: h5py.Group) -> None:
    group = entry.create_group(GROUP)
    group.attrs["NX_class"] = "NXcollection"
    group.create_dataset("records_done", data=np.int64(0))
    for name, (dtype, units, doc, missing) in RISE_COLUMNS.items():
        appendable(group, name, dtype, units, doc, missing)
    appendable(group, "time", "f8", "s", "since the record's first sample", float("nan"))
    appendable(group, "pressure", "f8", "mbar", "the line's capacitance manometer", float("nan"))


class RiseWriter:
    """Appends :class:`~acquisition.events.PressureRise` records (the run writer owns it)."""

    def __init__(self, entry: h5py.Group, session: int, sync) -> None:
        self._group = group = entry[GROUP]
        self._session = session
        self._sync = sync
        self._cols = {name: group[name] for name in RISE_COLUMNS}
        self._n = int(group["records_done"][()])

    def write(self, rise: PressureRise) -> None:
        group = self._group
        offset = group["time"].shape[0]
        append_many(group["time"], np.asarray(rise.times_s, dtype="f8"))
        append_many(group["pressure"], np.asarray(rise.pressures_mbar, dtype="f8"))
        row = {
            "record": self._n, "cycle": rise.cycle, "energy_index": rise.energy_index, "gas_index": rise.gas_index,
            "kind": rise.kind, "line": rise.line, "gas": rise.gas, "t_start": rise.t, "utc_start": rise.utc,
            "volume_cm3": rise.volume_cm3, "temperature_K": rise.temperature_K, "steady_mbar": rise.steady_mbar,
            "sample_offset": offset, "sample_length": len(rise.times_s), "session": self._session,
        }
        for name, ds in self._cols.items():
            value = row[name]
            put_row(ds, self._n, fit(value, _TEXT[name]) if name in _TEXT else value)
        self._sync()  # the rows are on disk before they are counted
        self._n += 1
        group["records_done"][()] = self._n
        self._sync()


def committed_rises(entry: h5py.Group) -> int:
    if GROUP not in entry:
        return 0
    group = entry[GROUP]
    return min([int(group["records_done"][()])] + [group[name].shape[0] for name in RISE_COLUMNS])


def growing(entry: h5py.Group) -> list[h5py.Dataset]:
    """The datasets a SWMR reader must refresh."""
    if GROUP not in entry:
        return []
    group = entry[GROUP]
    return [group["records_done"], group["time"], group["pressure"], *(group[n] for n in RISE_COLUMNS)]


def read_rises(entry: h5py.Group) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(per-record columns, samples) of the committed records; empty dicts if the run has none."""
    if GROUP not in entry:
        return {}, {}
    group = entry[GROUP]
    n = committed_rises(entry)
    records = {}
    for name in RISE_COLUMNS:
        values = group[name][:n]
        records[name] = (np.array([decode(v) for v in values], dtype=str) if name in _TEXT else values)
    end = int((records["sample_offset"] + records["sample_length"]).max()) if n else 0
    samples = {"time": group["time"][:end], "pressure": group["pressure"][:end]}
    return records, samples


def trim_rises(entry: h5py.Group) -> None:
    """Before appending again after a crash: drop rows and samples beyond the committed records."""
    if GROUP not in entry:
        return
    group = entry[GROUP]
    n = committed_rises(entry)
    for name in RISE_COLUMNS:
        group[name].resize((n,))
    end = int(group["sample_offset"][n - 1] + group["sample_length"][n - 1]) if n else 0
    group["time"].resize((end,))
    group["pressure"].resize((end,))
    group["records_done"][()] = n
