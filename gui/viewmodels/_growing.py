"""Append-only numpy columns that grow by doubling.

Why: a night's run adds points one at a time while the plots ask for arrays several
times a second.  Rebuilding arrays from a list of objects on every redraw is O(n) in
Python per call; a preallocated array that doubles when full makes each append O(1)
amortised and hands out its filled part as a view without copying.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["GrowingArray", "GrowingTable"]


class GrowingArray:
    """A 1-D array of one dtype; :meth:`view` is the filled part (a view: do not keep
    it across appends, the buffer may be replaced when it grows)."""

    __slots__ = ("_data", "_n")

    def __init__(self, dtype, capacity: int = 256) -> None:
        self._data = np.empty(max(int(capacity), 1), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _reserve(self, n: int) -> None:
        if n > self._data.shape[0]:
            size = self._data.shape[0]
            while size < n:
                size *= 2
            data = np.empty(size, dtype=self._data.dtype)
            data[: self._n] = self._data[: self._n]
            self._data = data

    def append(self, value) -> None:
        if self._n == self._data.shape[0]:
            self._reserve(self._n + 1)
        self._data[self._n] = value
        self._n += 1

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self._data.dtype)
        k = values.shape[0]
        self._reserve(self._n + k)
        self._data[self._n : self._n + k] = values
        self._n += k

    def view(self) -> np.ndarray:
        return self._data[: self._n]

    def clear(self) -> None:
        self._n = 0


class GrowingTable:
    """Named :class:`GrowingArray` columns of equal length (one row per point)."""

    def __init__(self, dtypes: Mapping[str, object], capacity: int = 256) -> None:
        self._columns = {name: GrowingArray(dtype, capacity) for name, dtype in dtypes.items()}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, **row) -> None:
        for name, column in self._columns.items():
            column.append(row[name])
        self._n += 1

    def extend(self, columns: Mapping[str, Iterable]) -> None:
        """Append rows given column-wise (every column, equal lengths)."""
        for name, column in self._columns.items():
            column.extend(columns[name])
        self._n = len(next(iter(self._columns.values())))

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name].view()

    def clear(self) -> None:
        for column in self._columns.values():
            column.clear()
        self._n = 0
