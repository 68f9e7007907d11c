"""The log panel: the last ``maxlen`` lines, and how many of each level it holds.

Why bounded: a night with a flaky gauge can log a retry every few seconds; the panel
shows the recent past (the run file keeps everything), and memory stays flat.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable

from .records import LogRecord

__all__ = ["LogModel"]


class LogModel:
    def __init__(self, maxlen: int = 5000) -> None:
        self.maxlen = int(maxlen)
        self._records: deque[LogRecord] = deque(maxlen=self.maxlen)
        self._counts: Counter[str] = Counter()
        #: added: lines ever added (views append only the new ones: added - what they drew)
        self.added = 0
        self.version = 0

    def add(self, record: LogRecord) -> None:
        if len(self._records) == self.maxlen:
            self._counts[self._records[0].level] -= 1  # the oldest line is about to go
        self._records.append(record)
        self._counts[record.level] += 1
        self.added += 1
        self.version += 1

    def extend(self, records: Iterable[LogRecord]) -> None:
        for record in records:
            self.add(record)

    def clear(self) -> None:
        self._records.clear()
        self._counts.clear()
        self.version += 1

    def records(self) -> list[LogRecord]:
        """The kept lines, oldest first."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def counts_by_level(self) -> dict[str, int]:
        """Lines per level among those kept."""
        return {level: n for level, n in self._counts.items() if n > 0}
