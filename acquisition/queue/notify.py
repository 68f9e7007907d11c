"""The notification hook: an operator's command run on item end, failure, policy
action, pause for the operator and queue end.

The command is a shell command line from the queue's settings (``notify``), so that
users can wire it to mail or chat with a pipe.  It gets, in its environment:

=====================  ========================================================
``XBEAM_EVENT``        ``item-end``, ``failure``, ``policy``, ``pause``, ``queue-end``
``XBEAM_QUEUE``        the queue database (absolute path)
``XBEAM_ITEM``         the item's id ("" for the queue's own events)
``XBEAM_ITEM_LABEL``   the item as ``xbeam queue list`` shows it
``XBEAM_RUN_FILE``     the item's run file ("" if none)
``XBEAM_STATUS``       the item's or the queue's status (success, skipped, ...)
``XBEAM_REASON``       why, in one line
``XBEAM_SAFE_STATE``   the safe state reached, if one was applied
=====================  ========================================================

A hook that fails (exit status, not found, longer than ``notify_timeout_s`` wall
seconds) is logged and recorded in the queue's events; it never stops the queue.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, command: str, queue_path: str | os.PathLike, *, timeout_s: float = 30.0,
                 record=None) -> None:
        """``record(kind, text)``: where a failure is recorded besides the log."""
        self.command = command
        self.queue_path = str(Path(queue_path).resolve())
        self.timeout_s = timeout_s
        self.record = record
        self.sent = 0
        self.failed = 0

    def __call__(self, event: str, *, item=None, status: str = "", reason: str = "", run_file: str = "",
                 safe_state: str = "") -> bool:
        """Run the hook (if any); True if it ran and succeeded."""
        if not self.command:
            return False
        env = dict(os.environ)
        env.update({
            "XBEAM_EVENT": event,
            "XBEAM_QUEUE": self.queue_path,
            "XBEAM_ITEM": str(item.id) if item is not None else "",
            "XBEAM_ITEM_LABEL": item.label if item is not None else "",
            "XBEAM_RUN_FILE": run_file or (item.run_file or "" if item is not None else ""),
            "XBEAM_STATUS": status,
            "XBEAM_REASON": " ".join(reason.split()),
            "XBEAM_SAFE_STATE": safe_state,
        })
        why = None
        try:
            done = subprocess.run(["/bin/sh", "-c", self.command], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            why = f"took longer than {self.timeout_s:g} s (notify_timeout_s); killed"
        except OSError as exc:
            why = f"could not start: {exc}"
        else:
            if done.returncode != 0:
                out = " ".join(done.stdout.decode(errors="replace").split())[-200:]
                why = f"exit status {done.returncode}" + (f": {out}" if out else "")
        if why is None:
            self.sent += 1
            return True
        self.failed += 1
        text = f"notification hook ({event}) failed: {why}"
        log.warning(text)
        if self.record is not None:
            try:
                self.record("notify-failed", text)
            except Exception:  # recording the failure must not fail the queue either
                log.exception("recording a failed notification")
        return False
