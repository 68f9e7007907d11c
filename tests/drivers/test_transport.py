"""Transports: every read has one overall deadline, however the bytes trickle in."""

import socket
import threading

import pytest

from drivers.base import SCPIInstrument
from drivers.errors import InstrumentTimeout
from drivers.transport import open_transport
from foundation.clock import RealClock


class Trickler:
    """A loopback TCP device that answers any request with a byte every ``interval_s``
    and sends the terminator only after ``stream_s``: a reply that keeps coming."""

    def __init__(self, interval_s: float = 0.02, stream_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.stream_s = stream_s
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        clock = RealClock()
        with conn:
            try:
                conn.recv(100)  # the request
                sent = 0.0
                while sent < self.stream_s and not self.stop.is_set():
                    conn.sendall(b"7")
                    clock.sleep(self.interval_s)
                    sent += self.interval_s
                conn.sendall(b"\n")
                while not self.stop.is_set() and conn.recv(100):
                    pass
            except OSError:
                pass  # the client gave up and closed: that is the point

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=2.0)


@pytest.fixture
def trickler():
    server = Trickler()
    yield server
    server.close()


class Probe(SCPIInstrument):
    model = "trickle probe"


@pytest.mark.timeout(30)  # a hang guard only; the assertion is the typed timeout
@pytest.mark.parametrize("kind", ["visa", "serial-socket"])
def test_a_reply_that_never_ends_times_out_within_the_timeout(trickler, kind):
    address = (
        f"TCPIP::127.0.0.1::{trickler.port}::SOCKET" if kind == "visa" else f"socket://127.0.0.1:{trickler.port}"
    )
    transport = open_transport(address, timeout_s=0.3)
    try:
        transport.write(b"Q?\n")
        with pytest.raises(InstrumentTimeout) as info:
            transport.read_until(b"\n")
        assert info.value.reply and set(info.value.reply) == {ord("7")}  # the partial bytes, for the message
    finally:
        transport.close()


@pytest.mark.timeout(30)
def test_a_driver_on_visa_gets_a_typed_timeout_naming_the_command(trickler):
    inst = Probe(f"TCPIP::127.0.0.1::{trickler.port}::SOCKET", timeout_s=0.3)
    try:
        with pytest.raises(InstrumentTimeout) as info:
            inst.ask("Q?")
        assert info.value.command == "Q?" and "trickle probe" in str(info.value)
    finally:
        inst.close()


@pytest.mark.timeout(30)
def test_the_generic_visa_path_reads_replies_and_times_out_on_silence(world, serve, monkeypatch):
    # sessions other than a pyvisa-py raw socket (GPIB, USB, serial, a vendor VISA) read through VISA
    from drivers.transport import VisaTransport
    from simulators.server import ScpiEmulator

    class Answers(ScpiEmulator):
        identity = "xbeam,generic path,0,0"

        def __init__(self, world):
            super().__init__(world)
            self.command("A?", lambda a: "alpha")

    monkeypatch.setattr(VisaTransport, "_raw_socket", lambda self: None)
    server = serve(Answers(world))
    inst = Probe(server.visa_address, timeout_s=0.3)
    try:
        assert inst.ask("A?") == "alpha"
        server.faults.inject("silence")
        with pytest.raises(InstrumentTimeout):
            inst.ask("A?")
        assert inst.ask("A?") == "alpha"
    finally:
        inst.close()
