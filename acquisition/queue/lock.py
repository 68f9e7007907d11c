"""One runner per queue: an ``flock`` on a lock file beside the database.

Why a kernel lock and not a lock row in the database: a row (pid, host, heartbeat)
outlives the process that wrote it, so every reader must guess whether its writer is
still alive (a heartbeat older than *what*? a pid reused by another program after a
reboot?), and two runners starting together race between reading the row and writing
it.  An ``flock`` is held by an open file description: the kernel drops it the moment
the process ends, however it ends (exit, exception, SIGKILL, a power cut: the lock is
never on disk), so a dead runner cannot leave it behind and nothing has to time out.
Taking it is atomic (``LOCK_EX | LOCK_NB``), so of two runners started together
exactly one wins.

The lock file also holds, as text, who holds it (pid, host, since): only for the
message the second runner prints; whether the lock is *held* is always asked of the
kernel.  Its limits: a local file system (flock over NFS is emulated and not to be
trusted; one apparatus PC is the case this serves), and the lock file must not be
deleted while a runner holds it (a runner started afterwards would lock a new file).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no second-runner protection
    fcntl = None

from foundation.clock import RealClock

from .errors import QueueBusy

_WALL = RealClock()

__all__ = ["RunnerLock", "lock_path"]

#: a runner that finds the lock taken tries this often, this far apart, before it gives up
PROBE_TRIES = 25
PROBE_WAIT_S = 0.02


def lock_path(db_path: str | os.PathLike) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".lock")


class RunnerLock:
    """``with RunnerLock(db_path):`` holds the queue's runner lock or raises
    :class:`QueueBusy` naming the runner that holds it."""

    def __init__(self, db_path: str | os.PathLike) -> None:
        self.path = lock_path(db_path)
        self._fh = None

    @property
    def held(self) -> bool:
        """Held by this object (this process)."""
        return self._fh is not None

    def acquire(self) -> RunnerLock:
        fh = open(self.path, "a+")  # noqa: SIM115 - held open while the runner lives
        if fcntl is not None:
            # a reader asking who holds the lock (holder(): the GUI's panel every second,
            # `xbeam queue status`) holds it shared for microseconds: try again for a
            # moment before calling the queue busy, so a probe never refuses a runner
            for attempt in range(PROBE_TRIES):
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if attempt + 1 < PROBE_TRIES:
                        _WALL.sleep(PROBE_WAIT_S)  # another process's instant: wall time
                        continue
                    fh.seek(0)
                    who = _describe(fh.read())
                    fh.close()
                    raise QueueBusy(f"{self.path.with_suffix('')}: another `xbeam queue run` is running this "
                                    f"queue ({who}); one runner per queue (`xbeam queue status` shows what it does)"
                                    ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _utc_now()}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.seek(0)
                fh.truncate()
            except OSError:
                pass
            fh.close()  # closing drops the flock

    def __enter__(self) -> RunnerLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(db_path: str | os.PathLike) -> dict | None:
    """Who holds the runner lock of the queue at ``db_path`` (pid, host, since), or
    None when no runner is alive.  Asks the kernel, never trusts the text alone."""
    path = lock_path(db_path)
    if fcntl is None or not path.exists():
        return None
    with open(path) as fh:
        try:  # shared: probes never exclude each other, and a runner retries past one
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            try:
                return json.loads(fh.read() or "{}")
            except ValueError:
                return {}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None


def _describe(text: str) -> str:
    try:
        info = json.loads(text or "{}")
    except ValueError:
        info = {}
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


def _utc_now() -> str:
    from datetime import datetime, timezone

    from foundation.clock import utc_iso

    return utc_iso(datetime.now(timezone.utc))
