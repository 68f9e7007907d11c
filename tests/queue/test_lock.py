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
