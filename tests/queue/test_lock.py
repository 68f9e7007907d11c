"""One runner per queue; a dead runner (even SIGKILLed) does not leave the lock behind."""

import os
import signal
import subprocess
import sys

import pytest

from acquisition.queue import QueueBusy, RunnerLock, holder
from foundation.clock import RealClock

_WALL = RealClock()


def test_a_second_runner_is_refused_naming_the_first(tmp_path):
    db = tmp_path / "q.sqlite"
    with RunnerLock(db):
        assert holder(db)["pid"] == os.getpid()
        with pytest.raises(QueueBusy, match=f"pid {os.getpid()}"):
            RunnerLock(db).acquire()
    assert holder(db) is None
    with RunnerLock(db):  # free again once released
        pass


def test_a_sigkilled_runner_leaves_no_lock(tmp_path):
    db = tmp_path / "q.sqlite"
    code = ("import sys; from acquisition.queue import RunnerLock; lock = RunnerLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    assert holder(db)["pid"] == proc.pid
    with pytest.raises(QueueBusy):
        RunnerLock(db).acquire()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    assert holder(db) is None
    with RunnerLock(db):
        assert holder(db)["pid"] == os.getpid()


def test_a_reader_asking_who_holds_the_lock_never_refuses_a_runner(tmp_path):
    """holder() (the GUI's queue panel every second, `xbeam queue status`) takes the lock
    shared for an instant; a runner starting in that instant waits it out instead of
    calling the queue busy with 'holder unknown'."""
    import fcntl
    import threading

    from acquisition.queue.lock import lock_path

    db = tmp_path / "q.sqlite"
    lock_path(db).write_text("")
    probe = open(lock_path(db))  # noqa: SIM115 - held across the acquire below
    fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)  # a probe caught in its instant
    threading.Timer(0.1, probe.close).start()  # ... which ends (wall time: the probe is another thread)
    with RunnerLock(db) as lock:
        assert lock.held and holder(db)["pid"] == os.getpid()
    assert holder(db) is None
