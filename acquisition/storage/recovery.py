"""Recovering a run file left by a crash, through h5py's public API only.

A writer killed in SWMR mode leaves the file's consistency flags set, so HDF5 refuses
to open it for writing again.  Instead of clearing those flags behind the library's
back, the crashed file is read the supported way (SWMR read, which accepts such a
file), every object is copied into a fresh file beside it, rows beyond the committed
points are trimmed, the copy is made durable, and it atomically replaces the crashed
file.  A crash during recovery leaves the original untouched (and a ``.recovering``
file that the next recovery overwrites).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py

from .layout import LIBVER, StorageError, committed_points, fsync_dir, trim_to_committed
from .reader import open_run_file

__all__ = ["recover"]

log = logging.getLogger(__name__)


def recover(path: str | os.PathLike) -> int:
    """Rewrite the crashed run file ``path`` in place; returns the points kept.

    Only call it when no process has the file open for writing (the writer's lock
    says so: :meth:`~acquisition.storage.writer.RunWriter.resume` checks)."""
    path = Path(path)
    copy = path.with_name(f".{path.name}.recovering")
    try:
        # opened like every read: refused at once if truncated, read attempts bounded
        with open_run_file(path) as src, h5py.File(copy, "w", libver=LIBVER) as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for name in src:
                src.copy(src[name], dst, name=name)
            n = committed_points(dst["entry"])
            trim_to_committed(dst, n)
            dst.flush()
            os.fsync(dst.id.get_vfd_handle())
    except StorageError:
        copy.unlink(missing_ok=True)
        raise
    except (OSError, KeyError, RuntimeError) as exc:
        copy.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot recover the crashed run file: {exc}") from exc
    os.replace(copy, path)
    fsync_dir(path.parent)
    log.info("recovered %s: %d committed points kept", path, n)
    return n
