"""The desktop application (PySide6 + pyqtgraph): not built yet.

The GUI issue builds it on what exists: the engine runs in a worker thread and takes
pause/resume/abort from any thread (``acquisition.engine.Engine``); every event it
publishes (``acquisition.events``: Point with its flags, Monitor, Progress,
Suspended/Resumed/Paused, Message, RunStop) reaches the GUI as a Qt signal; a
running run file is readable with ``acquisition.storage.read_run`` (SWMR).
Nothing here may talk to a driver directly.
"""
