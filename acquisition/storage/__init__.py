"""Run files: one crash-safe, NeXus-shaped HDF5 file per run.

* :mod:`.layout`: where everything lives in the file (columns from the run kind's
  result type), and the HDF5 text helpers.
* :mod:`.writer`: :class:`RunWriter` (create, append, resume) and :class:`RunRecorder`
  (the event-bus subscriber that owns a run's file).
* :mod:`.recovery`: a crashed file rewritten in place through h5py's public API.
* :mod:`.reader`: :func:`read_run` (a whole run) and :class:`RunFollower` (what was
  committed since the last call: live viewers, the queue's status).

Exports (CSV, tables) are analysis (:mod:`analysis`), which reads files through
:mod:`.reader`.
"""

from .layout import (
    DERIVED_UNITS,
    FILE_VERSION,
    GATES,
    LIBVER,
    POINT_COLUMNS,
    StorageError,
    default_run_path,
    point_columns,
)
from .reader import RunData, RunFollower, RunUpdate, read_run
from .recovery import recover
from .writer import RunRecorder, RunWriter

__all__ = [
    "DERIVED_UNITS",
    "FILE_VERSION",
    "GATES",
    "LIBVER",
    "POINT_COLUMNS",
    "RunData",
    "RunFollower",
    "RunRecorder",
    "RunUpdate",
    "RunWriter",
    "StorageError",
    "default_run_path",
    "point_columns",
    "read_run",
    "recover",
]
