"""The bridge: the bus's subscriber only emits a signal, and what it carries is
delivered on the GUI thread (queued), whatever thread published it."""

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, QThread, Slot

from acquisition.events import EventBus, Message
from gui.bridge import EventBridge


class Receiver(QObject):
    def __init__(self):
        super().__init__()
        self.got = []

    @Slot(object)
    def take(self, item):
        self.got.append((item, QThread.currentThread(), threading.current_thread()))


def test_events_from_a_worker_thread_arrive_on_the_gui_thread(qtbot):
    bus, bridge, receiver = EventBus(), EventBridge(), Receiver()
    signals = []
    bridge.ready.connect(lambda: [receiver.take(e) for e in bridge.take()] and signals.append(1),
                         Qt.QueuedConnection)
    bridge.subscribe(bus)
    sent = [Message(float(i), "2026-01-01T00:00:00Z", "info", f"line {i}") for i in range(50)]
    emitted_on = []

    def worker():
        for event in sent:
            bus.emit(event)
        emitted_on.append(threading.current_thread())

    thread = threading.Thread(target=worker, name="xbeam-apparatus_test")
    thread.start()
    thread.join(10)
    # the worker is done before the GUI thread has run a single slot: it never waited for one
    assert emitted_on and not receiver.got
    qtbot.waitUntil(lambda: len(receiver.got) == len(sent))
    assert [e for e, _, _ in receiver.got] == sent  # every event, once, in order
    assert len(signals) < len(sent)  # batched: one signal brought many events
    gui = QThread.currentThread()
    assert all(qt is gui and py is threading.main_thread() for _, qt, py in receiver.got)
    bridge.close()
    bus.emit(sent[0])
    qtbot.wait(20)
    assert len(receiver.got) == len(sent)  # unsubscribed
    assert not bus.subscribers


def test_a_future_completion_is_delivered_on_the_gui_thread(qtbot):
    bridge, receiver = EventBridge(), Receiver()
    bridge.completed.connect(receiver.take, Qt.QueuedConnection)
    with ThreadPoolExecutor(1, thread_name_prefix="xbeam-apparatus") as pool:
        gate = threading.Event()
        ok = bridge.watch(pool.submit(lambda: gate.wait(10) and 42), "set energy 100 eV")
        bad = bridge.watch(pool.submit(lambda: 1 / 0), "move goniometer")
        assert not bad.done() or bad.exception() is not None
        assert not receiver.got
        gate.set()
        qtbot.waitUntil(lambda: len(receiver.got) == 2)
    by_what = {c.what: (c, qt) for c, qt, _ in receiver.got}
    assert by_what["set energy 100 eV"][0].future is ok and by_what["set energy 100 eV"][0].error is None
    assert isinstance(by_what["move goniometer"][0].error, ZeroDivisionError)
    assert all(qt is QThread.currentThread() for _, qt in by_what.values())
    # an already finished future still comes through the queue, never re-entrantly
    done = Future()
    done.set_result(1)
    bridge.watch(done, "read status")
    assert len(receiver.got) == 2
    qtbot.waitUntil(lambda: len(receiver.got) == 3)


def test_a_subscriber_outliving_the_window_is_harmless(qtbot):
    bus, bridge = EventBus(), EventBridge()
    bridge.subscribe(bus)
    publish = bridge._publish
    bridge.deleteLater()
    qtbot.waitUntil(lambda: not _alive(bridge))
    publish(Message(0.0, "", "info", "late"))  # the C++ object is gone: nothing raises on the worker


def _alive(obj) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)
