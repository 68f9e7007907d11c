"""The GUI tests: Qt offscreen (set before anything imports Qt), QSettings in a
temporary folder (a test never touches the user's), and a session on the simulated
apparatus with a virtual clock (a run takes milliseconds per point)."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import re  # noqa: E402
import threading  # noqa: E402

import pytest  # noqa: E402

from tests.plans import plan_text  # noqa: E402

#: a short plan on the simulated apparatus: 50 eV at 25 and 30 deg is beyond the
#: channeltron's linear limit (RATE), the rest is clean
SHORT_PLAN = plan_text(energies=(50,), angles=(25, 30, 60, 90), dwell_s=10.0, background_dwell_s=None,
                       energy_s=1.0)

#: long enough that pause, resume and abort land in the middle of it
LONG_PLAN = plan_text(energies=(50,), angles=range(40, 131, 5), sweeps=3, dwell_s=10.0, background_dwell_s=None,
                      energy_s=1.0)


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_gui_thread(qapp):
    """As in the application (gui.app): the cyclic collector runs on a timer of the GUI
    thread, never on a simulator's or the session's thread, where deleting a Qt object
    can deadlock Qt (one hang in ~30 runs of a GUI test file before this).  Garbage of
    the test before is collected here, on this thread."""
    import gc

    from pyqtgraph.util.garbage_collector import GarbageCollector

    gc.collect()
    collector = GarbageCollector(interval=0.5)
    yield
    collector.timer.stop()
    gc.enable()
    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _settings_in_tmp(tmp_path_factory):
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.NativeFormat, QSettings.IniFormat):
        QSettings.setPath(fmt, QSettings.UserScope, folder)
        QSettings.setPath(fmt, QSettings.SystemScope, folder)


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "gui.ini"), QSettings.IniFormat)


@pytest.fixture
def plan_file(tmp_path):
    def write(text=SHORT_PLAN, name="plan.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def sim():
    from foundation.clock import VirtualClock
    from simulators.apparatus import SimulatedApparatus
    from simulators.world import WorldConfig

    clock = VirtualClock()
    with SimulatedApparatus(clock, WorldConfig(seed=7)) as apparatus:
        yield apparatus
        for server in apparatus.servers.values():
            server.faults.clear()


@pytest.fixture
def session(sim):
    """A connected session; the gauges answer within 0.3 s or time out (the fault test
    silences them: four timeouts must not take eight seconds)."""
    from acquisition.config import parse_apparatus
    from acquisition.session import Session

    text = re.sub(r'(\[instruments\.gauges\]\nmodel = "[^"]+"\naddress = "[^"]+"\n)timeout_s = 2\.0',
                  r"\1timeout_s = 0.3", sim.apparatus_toml())
    config = parse_apparatus(text, source="<sim>")
    assert config.instruments["gauges"].timeout_s == 0.3
    with Session.connect(config, sim.clock, monitor_interval_s=0.02) as s:
        s.sim = sim
        yield s
        for server in sim.servers.values():
            server.faults.clear()


class Hold:
    """Bus subscriber that keeps the run's worker inside the emit of its first Point
    until the test releases it: the test acts at a known point of the run."""

    def __init__(self):
        self.first = threading.Event()
        self.release = threading.Event()

    def __call__(self, event):
        from acquisition.events import Point

        if isinstance(event, Point) and not self.first.is_set():
            self.first.set()
            self.release.wait(30)


@pytest.fixture
def hold(session):
    h = Hold()
    undo = session.bus.subscribe(h)
    yield h
    h.release.set()
    undo()


@pytest.fixture
def window(qtbot, session, settings, tmp_path):
    from gui.window import MainWindow

    w = MainWindow(session=session, output=tmp_path / "run.h5", settings=settings)
    w.confirm = lambda *a: True
    w.panel.confirm = lambda *a: True
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.handle is not None and not w.handle.done():
        w.handle.abort("test teardown")
        w.handle.join(30)
    w.close()
