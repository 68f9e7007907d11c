"""The one door between the session's threads and the GUI thread.

The event bus is synchronous: a subscriber runs on the thread that emits, which is the
session's worker (or its urgent thread, or the monitor poller).  Nothing slow may happen
there and no Qt object may be touched from it, so the bridge's subscriber does exactly
one thing: it puts the (immutable) event in a queue and, if the queue was empty, emits
a Qt signal.  The window connects that signal with ``Qt.QueuedConnection``: the slot
runs on the GUI thread, between repaints, and takes every event queued meanwhile
(:meth:`EventBridge.take`).  One signal per batch rather than per event: a fast run
publishes some twenty events a point, and a queued signal costs the GUI thread (and,
through the interpreter lock, the engine) far more than appending to a list.

Completions of manual operations (the session's :class:`~concurrent.futures.Future`s)
come the same way: a done-callback (which runs on whichever thread finished the
future) only emits :attr:`EventBridge.completed`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

__all__ = ["Completion", "EventBridge"]


@dataclass(frozen=True)
class Completion:
    """A manual operation ended: ``what`` it was (for the log), and its future (done)."""

    what: str
    future: Future

    @property
    def error(self) -> BaseException | None:
        if self.future.cancelled():
            return RuntimeError("cancelled")
        return self.future.exception()


class EventBridge(QObject):
    """Bus subscriber and future watcher whose only act is emitting a Qt signal."""

    #: events are waiting: :meth:`take` them (connect with Qt.QueuedConnection)
    ready = Signal()
    #: a :class:`Completion` of a watched future (connect with Qt.QueuedConnection)
    completed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: list[Callable[[], None]] = []
        # a deque: append and popleft are atomic, so the publisher takes no lock
        # (the engine's thread pays ~0.1 us per event, not a lock's round trip)
        self._queue: deque = deque()
        self._signalled = False

    # called on the session's threads: queue, signal if no signal is on its way, nothing else
    def _publish(self, event) -> None:
        self._queue.append(event)
        if self._signalled:
            return
        self._signalled = True
        try:
            self.ready.emit()
        except RuntimeError:  # the window (and this QObject) is gone: nobody to tell
            pass

    def take(self) -> list:
        """Every event queued since the last call, in the order published (GUI thread).

        The flag is lowered before the queue is emptied: an event appended after the
        last one taken always finds it lowered and signals again, so none is stranded."""
        self._signalled = False
        events, pop = [], self._queue.popleft
        try:
            while True:
                events.append(pop())
        except IndexError:
            return events

    def _done(self, what: str, future: Future) -> None:
        try:
            self.completed.emit(Completion(what, future))
        except RuntimeError:
            pass

    def subscribe(self, bus) -> Callable[[], None]:
        """Subscribe to ``bus``; returns the unsubscribe function (also kept for :meth:`close`)."""
        undo = bus.subscribe(self._publish)
        self._unsubscribe.append(undo)
        return undo

    def watch(self, future: Future, what: str) -> Future:
        """Deliver ``future``'s completion to :attr:`completed` on the GUI thread."""
        future.add_done_callback(lambda f: self._done(what, f))
        return future

    def close(self) -> None:
        """Unsubscribe from every bus (idempotent)."""
        while self._unsubscribe:
            undo = self._unsubscribe.pop()
            try:
                undo()
            except ValueError:  # already removed
                pass
