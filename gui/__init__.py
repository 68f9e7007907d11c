"""The desktop application (PySide6 + pyqtgraph): not built yet (the GUI issue).

What it builds on is in place: the window is a client of
:class:`acquisition.session.Session` and of nothing else (manual operations as
futures, runs with handles that pause, resume and abort from the GUI thread, every
event on ``session.bus``); a bridge subscribes to the bus and only emits a queued Qt
signal; the Qt-free view-models (:mod:`gui.viewmodels`) are fed by live events and by
:class:`acquisition.storage.RunFollower` alike.  gui/ never imports drivers/ or
simulators/ (import-linter checks it); only its entry point may start the simulated
apparatus, through the same wiring as the CLI.  See docs/architecture.md.
"""
