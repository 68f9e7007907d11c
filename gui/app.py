"""The GUI's entry function: ``xbeam gui`` (acquisition.cli) builds the session and the
dry-run callable and calls :func:`run_gui`.

This module imports neither drivers nor simulators (the import-linter contracts): the
command line wires the simulated apparatus in and hands over a connected session.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["run_gui"]


def run_gui(*, session=None, config=None, clock=None, dry_run=None, plan_path=None, start: bool = False,
            output=None, quit_when_done: bool = False, view_path=None, argv=None, queue_path=None) -> int:
    """Open the window and run the Qt event loop until it is closed.

    ``session``: a connected :class:`~acquisition.session.Session`, or None for a
    viewer-only window.  ``config``/``clock``: default the session's.  ``dry_run``:
    ``callable(plan_path) -> DryRunEstimate`` (run off the GUI thread).  ``plan_path``:
    a plan to load (``--plan``); ``start``: start it at once (``--start``; refused with
    exit code 2 if the plan has problems or there is no session).  ``output``: the run
    file (default runs/<UTC>_<sample>.h5).  ``quit_when_done``: close the window when
    the run ends.  ``view_path``: a run file to follow.  ``argv``: Qt's arguments.
    ``queue_path``: an overnight queue to show in the Queue dock (``--queue``; created if
    it does not exist; a live window can run it on its session).

    Returns the CLI's exit codes: 0 (closed; the run, if one ran, succeeded), 2 (the
    plan or the start was refused), 3 (the run failed), 4 (the run was aborted).
    The session is the caller's: it is not closed here."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        app.setApplicationName("xbeam")
        app.setOrganizationName("xbeam")
    # Python's cyclic garbage collector runs on whichever thread happens to allocate:
    # the session's worker, a simulator's client thread.  Collecting a cycle that holds
    # a Qt object there deletes it off its own thread, which can deadlock Qt.  While the
    # window is open, collection runs on a timer of the GUI thread instead (pyqtgraph's
    # GarbageCollector, written for exactly this).
    from pyqtgraph.util.garbage_collector import GarbageCollector

    from gui.window import MainWindow

    collector = GarbageCollector(interval=1.0)
    try:
        return _run_window(MainWindow, session=session, config=config, clock=clock, dry_run=dry_run,
                           plan_path=plan_path, start=start, output=output, quit_when_done=quit_when_done,
                           view_path=view_path, queue_path=queue_path)
    finally:
        collector.timer.stop()
        gc.enable()


def _run_window(MainWindow, *, session, config, clock, dry_run, plan_path, start, output, quit_when_done,  # noqa: N803
                view_path, queue_path) -> int:
    from PySide6.QtCore import QEventLoop

    window = MainWindow(session=session, config=config, clock=clock, dry_run=dry_run, plan_path=plan_path,
                        output=output, view_path=view_path, quit_when_done=quit_when_done, estimate_plan=not start,
                        queue_path=queue_path)
    if start:
        if session is None or window.plan is None:
            window.note("error", "--start: nothing started (no session, or the plan has problems: see the list)")
            if quit_when_done:
                window.close()
                return 2
        else:
            window.start_run()
            if window.handle is None and quit_when_done:  # refused: the log says why
                window.close()
                return 2
    window.show()
    loop = QEventLoop()
    window.closed.connect(loop.quit)
    loop.exec()
    if window.handle is None:
        return 0
    return window.exit_code if window.handle.done() else 4
