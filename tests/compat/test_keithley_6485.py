"""PyMoDAQ's Keithley picoammeter plugin (``pymodaq-plugins-keithley`` on PyPI, the
PyMoDAQ project's Keithley plugins: ``DAQ_0DViewer_Keithley_Pico``, whose types are
``Pico_648X``, ``Pico_6430`` and ``Pico_6514``) against the 6485 emulator, through
pyvisa-py's ``TCPIP::...::SOCKET`` resource.

The plugin opens its resource with ``read_termination='\\r'``: it is written for the
RS-232 port with the front panel's terminator set to CR (6485 manual 9-17), so the
emulator runs as that port (``rs232_terminator="CR"``).  The plugin is driven as
PyMoDAQ drives it, headless: ``ini_detector`` (connect), ``grab_data`` (a
measurement), ``commit_settings`` (a changed setting), ``stop`` and ``close``.

Importing ``pymodaq`` imports every module of every installed PyMoDAQ plugin package,
and several of this package's modules list the VISA resources at import (the
Keithley 2400 actuator, and this viewer for its port list).  pyvisa-py's listing
broadcasts on the machine's networks (VXI-11 portmapper, mDNS), so the import runs
with ``ResourceManager.list_resources[_info]`` answering an empty list and with
sockets limited to loopback for the whole module (:func:`_loopback_only`); the
plugin's own code is unchanged.  Its port list is then empty and the emulator's
address is set as a user would type it.  PyMoDAQ keeps its configuration and logs in
``~/.pymodaq`` (created at the first import), as it does for any user.

Not tested: the plugin's other measurement types (``CONF:VOLT``, ``CONF:RES``,
``CONF:CHAR``) are for the 6430 and 6514; a 6485 measures current only, and the
test checks that it refuses them as the 6485 does (``-113``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from unittest import mock

import numpy as np
import pytest

from simulators.keithley_6485 import Keithley6485Emulator
from tests.worldsetup import beam_on

from .conftest import peer, wait_until

PLUGIN = "pymodaq_plugins_keithley.daq_viewer_plugins.plugins_0D.daq_0Dviewer_Keithley_Pico"


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # an AF_UNIX path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: resolving it would leave the machine


@contextlib.contextmanager
def _loopback_only():
    """Refuse (OSError) and record every socket connect, datagram or name look-up that
    would leave loopback."""
    refused: list[tuple[str, object]] = []
    guarded = {}

    def guard(name, original, address_of):
        def wrapper(*args, **kwargs):
            address = address_of(args)
            if not _is_loopback(address):
                refused.append((name, address))
                raise OSError(f"compat tests stay on loopback: {name} {address!r} refused")
            return original(*args, **kwargs)

        return wrapper

    for name, address_of in (("connect", lambda a: a[1]), ("connect_ex", lambda a: a[1]),
                             ("sendto", lambda a: a[-1])):
        guarded[name] = guard(name, getattr(socket.socket, name), address_of)
    lookup = guard("getaddrinfo", socket.getaddrinfo, lambda a: (a[0], 0) if a[0] is not None else ("localhost", 0))
    with contextlib.ExitStack() as stack:
        for name, wrapper in guarded.items():
            stack.enter_context(mock.patch.object(socket.socket, name, wrapper))
        stack.enter_context(mock.patch.object(socket, "getaddrinfo", lookup))
        yield refused


@pytest.fixture(scope="module")
def pico():
    """The plugin's module, imported (with pymodaq) on loopback, listing no resources."""
    pyvisa_highlevel = peer("pyvisa.highlevel")
    with _loopback_only() as refused:
        with mock.patch.object(pyvisa_highlevel.ResourceManager, "list_resources", return_value=()), \
                mock.patch.object(pyvisa_highlevel.ResourceManager, "list_resources_info", return_value={}):
            module = peer(PLUGIN)
        assert refused == []  # the listing was the only way off the machine
        yield module
        assert refused == []


@pytest.fixture
def emulator(world):
    return Keithley6485Emulator(world, rs232_terminator="CR")


@pytest.fixture
def viewer(pico, emulator, serve):
    server = serve(emulator)
    plugin = pico.DAQ_0DViewer_Keithley_Pico()  # no parent: standalone, as PyMoDAQ's own plugin tests
    plugin.settings.child("keithley_type").setValue("Pico_648X")
    plugin.settings.child("VISA_ressources").setValue(server.visa_address)
    plugin.settings.child("timeout").setValue(2000)  # ms, the plugin's minimum
    exported = []
    plugin.dte_signal.connect(exported.append)
    yield plugin, exported
    if plugin.controller is not None:
        plugin.close()


def errors(emulator) -> list[str]:
    """Empty the error queue (as the front panel's error list would)."""
    out = []
    with emulator.world.lock:  # the server feeds the emulator under this lock
        while True:
            entry = emulator.feed(b"SYST:ERR?\r").decode().strip()
            if entry.startswith("0,"):
                return out
            out.append(entry)


def next_errors(emulator) -> list[str]:
    """The errors of a command that gets no reply, once the emulator has it."""
    seen: list[str] = []
    wait_until(lambda: seen.extend(errors(emulator)) or seen)
    return seen


def exported_value(exported) -> float:
    (dte,) = exported
    (data,) = dte.data
    (array,) = data.data
    return float(np.asarray(array).ravel()[0])


def test_ini_detector_resets_identifies_and_configures(viewer, emulator):
    plugin, _ = viewer
    emulator.feed(b"SYST:ZCH OFF;:FORM:ELEM READ,TIME;:TRIG:COUN 7;:ARM:SOUR BUS\r")
    emulator.feed(b"BOGUS\r")  # an error in the queue, that its *CLS clears
    status = plugin.ini_detector()
    assert status.initialized is True and status.controller is plugin.controller
    assert plugin.settings["id"] == Keithley6485Emulator.idn
    # *RST; STAT:PRES; *CLS; CONF:CURR; :FORM:ELEM READ;DATA ASC; ARM/TRIG IMM, count 1
    assert emulator.zero_check is True  # *RST turns zero check on, and the plugin leaves it
    assert emulator.elements == ("READ",)
    assert (emulator.arm_source, emulator.arm_count) == ("IMM", 1)
    assert (emulator.trigger_source, emulator.trigger_count) == ("IMM", 1)
    assert errors(emulator) == []


def test_grab_data_averages_its_count_of_readings(viewer, emulator, world):
    plugin, exported = viewer
    beam_on(world)
    plugin.ini_detector()
    exported.clear()
    plugin.grab_data(Naverage=5)  # TRIG:COUN 5, then one READ? for the five readings
    assert emulator.trigger_count == 5
    # zero check is on (the plugin never turns it off): the input's own offset, not the beam
    assert exported_value(exported) == pytest.approx(emulator.input_offset_A, abs=5e-14)
    emulator.feed(b"SYST:ZCH OFF\r")  # the front panel's ZCHK key
    exported.clear()
    plugin.grab_data(Naverage=3)
    assert emulator.trigger_count == 3
    assert exported_value(exported) == pytest.approx(-world.beam_current_A(), rel=0.2)
    assert errors(emulator) == []


def test_commit_settings_measurement_type_and_timeout(viewer, emulator):
    plugin, _ = viewer
    plugin.ini_detector()
    meas_type = plugin.settings.child("config", "meas_type")
    emulator.feed(b"TRIG:COUN 4\r")
    meas_type.setValue("CURR")
    plugin.commit_settings(meas_type)  # CONF:CURR: the function's defaults again
    wait_until(lambda: emulator.trigger_count == 1)
    assert errors(emulator) == []
    for other in ("VOLT", "RES", "CHAR"):  # the 6430's and 6514's functions
        meas_type.setValue(other)
        plugin.commit_settings(meas_type)
        assert next_errors(emulator) == ['-113,"Undefined header"']
    timeout = plugin.settings.child("timeout")
    timeout.setValue(3000)
    plugin.commit_settings(timeout)
    assert plugin.controller.timeout == 3000


def test_stop_and_close(viewer, emulator):
    plugin, _ = viewer
    plugin.ini_detector()
    assert plugin.stop() == ""
    plugin.close()
    assert emulator.elements == ("READ",)  # the instrument keeps its settings
