"""scinstr's Keysight 532x0A counter driver (``scinstr`` on PyPI, FEMTO Engineering)
against the 53230A emulator, over its raw LAN socket (``Cnt532x0aEth``: 127.0.0.1 and
the emulator's port instead of 5025).

scinstr's Ethernet class cannot read: ``read()`` calls ``_read()`` without the
``length`` its socket version requires, the TypeError is logged and ``None`` returned,
so every query (``query``, ``data_read``, ``get_error``) gives ``None`` whatever the
counter sends (a bug of the peer, not of the wire protocol); ``close`` calls an
abstract method.  What is tested is everything it sends: connecting, ``reset``
(``*RST``, ``*CLS``), the frequency set-up of its own example (``CONF:FREQ``,
``TRIG:SOUR``, ``TRIG:SLOP``, ``SENS:FREQ:GATE:TIME``, ``SENS:FREQ:GATE:SOUR``),
``ABORT`` and ``local`` (``SYST:LOCK:REL``), each checked on the emulator and in its
error queue, and a ``READ?`` it sends whose reply is on the wire (read here beside it).
"""

import logging
import socket

import pytest

from simulators.keysight_53230a import Counter53230AEmulator
from tests.worldsetup import beam_on

from .conftest import peer, wait_until

cnt532x0a = peer("scinstr.cnt.cnt532x0a")


@pytest.fixture
def emulator(world):
    return Counter53230AEmulator(world)


@pytest.fixture
def counter(emulator, serve):
    server = serve(emulator)
    device = cnt532x0a.Cnt532x0aEth(ip="127.0.0.1", port=server.port, timeout=2.0)
    assert device.connect() is True and device.is_connected
    yield device
    device._sock.close()  # its close() calls the abstract base's close()


def errors(emulator) -> list[str]:
    out = []
    while True:
        entry = emulator.feed(b"SYST:ERR?\n").decode().strip()
        if entry.startswith("+0,"):
            return out
        out.append(entry)


def test_reset_clears_the_counter(counter, emulator):
    emulator.feed(b"CONF:TOT:TIM 2.5\n")
    emulator.feed(b"BOGUS\n")  # an error in the queue, that *CLS clears
    assert counter.reset() is True
    wait_until(lambda: emulator.gate_s == 0.1 and emulator.status_byte() == 0)
    assert errors(emulator) == []


def test_its_frequency_setup_is_accepted_as_sent(counter, emulator):
    for command in ("CONF:FREQ 100.0E6", "TRIG:SOUR IMM", "TRIG:SLOP POS", "SENS:FREQ:GATE:TIME 1.0",
                    "SENS:FREQ:GATE:SOUR TIME"):
        assert counter.write(command) == len(command) + 1  # bytes sent, the LF included
    wait_until(lambda: emulator.freq_gate_s == 1.0)
    assert (emulator.function, emulator.trigger_source, emulator.trigger_slope) == ("FREQ", "IMM", "POS")
    assert emulator.freq_gate_source == "TIME"
    assert errors(emulator) == []


def test_abort_and_local(counter, emulator):
    emulator.feed(b"SYST:LOCK:REQ?\n")
    counter.write("ABORT")
    counter.local()  # SYST:LOCK:REL
    wait_until(lambda: emulator.lock_count == 0)
    assert errors(emulator) == []


def test_a_frequency_reading_goes_out_on_the_wire(counter, emulator, world, caplog):
    beam_on(world)
    counter.write("CONF:FREQ 100.0E6")
    counter.write("SENS:FREQ:GATE:TIME 0.1")
    with caplog.at_level(logging.ERROR):
        assert counter.data_read() is None  # scinstr's read bug (module docstring)
    assert "Read error" in caplog.text
    counter._sock.settimeout(2.0)
    reply = counter._sock.recv(4096)  # READ? was sent and answered: a reading per second of pulses
    rate = float(reply.decode())
    assert 0 < rate < 1e7 and reply.endswith(b"\n")
    assert rate == pytest.approx(world.measured_rate(), rel=0.5)


def test_connection_refused_is_reported_not_raised(world):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    device = cnt532x0a.Cnt532x0aEth(ip="127.0.0.1", port=port, timeout=0.5)
    assert device.connect() is False
