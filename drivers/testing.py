"""Byte-pair protocol testing for drivers, after PyMeasure's ``expected_protocol``.

A test lists the exact bytes the driver must send and the exact bytes the device
answers, terminators included::

    with expected_protocol(TPG362, [(b"PR1\\r\\n", b"\\x06\\r\\n"),
                                    (b"\\x05", b"0,+1.0000E-07\\r\\n")]) as gauge:
        assert gauge.pressure(1).value_mbar == 1e-7

A request of ``None`` means the device speaks unprompted (its reply is queued at
once); a reply of ``None`` means the device stays silent, so a read times out with
:class:`drivers.errors.InstrumentTimeout`, as the real device would.  The context
manager fails the test if the driver sends anything else, in another order, or not
everything listed.
"""

from __future__ import annotations

from contextlib import contextmanager

from foundation.clock import VirtualClock

from .errors import ConnectionLost, InstrumentTimeout
from .transport import Transport

__all__ = ["ProtocolTransport", "expected_protocol", "ProtocolMismatch"]


class ProtocolMismatch(AssertionError):
    pass


class ProtocolTransport(Transport):
    """A transport that checks writes against a script and plays back replies."""

    DISCONNECT = object()

    def __init__(self, pairs, address: str = "protocol-test") -> None:
        self.address = address
        self.pairs = list(pairs)
        self.index = 0
        self.buffer = b""
        self._open = True
        self._queue_unsolicited()

    def _queue_unsolicited(self) -> None:
        while self.index < len(self.pairs) and self.pairs[self.index][0] is None:
            self._queue(self.pairs[self.index][1])
            self.index += 1

    def _queue(self, reply) -> None:
        if reply is self.DISCONNECT:
            self._open = False
        elif reply is not None:
            self.buffer += reply

    def open(self) -> None:
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def close(self) -> None:
        self._open = False

    def write(self, data: bytes) -> None:
        if self.index >= len(self.pairs):
            raise ProtocolMismatch(f"driver sent {data!r} after the script ended")
        expected, reply = self.pairs[self.index]
        if data != expected:
            raise ProtocolMismatch(f"step {self.index}: driver sent {data!r}, script expected {expected!r}")
        self.index += 1
        self._queue(reply)
        self._queue_unsolicited()

    def read_until(self, terminator: bytes) -> bytes:
        pos = self.buffer.find(terminator)
        if pos < 0:
            partial, self.buffer = self.buffer, b""
            if not self._open:
                raise ConnectionLost("connection closed by peer", address=self.address, reply=partial)
            raise InstrumentTimeout("no reply (script has none)", address=self.address, reply=partial)
        data, self.buffer = self.buffer[:pos], self.buffer[pos + len(terminator) :]
        return data

    def clear_input(self) -> None:
        self.buffer = b""

    def assert_done(self) -> None:
        if self.index != len(self.pairs):
            raise ProtocolMismatch(f"driver stopped at step {self.index}; script still expects {self.pairs[self.index:]!r}")


@contextmanager
def expected_protocol(driver_class, pairs, **kwargs):
    """Build ``driver_class`` on a scripted transport; check the whole script ran."""
    transport = ProtocolTransport(pairs)
    kwargs.setdefault("clock", VirtualClock())
    instrument = driver_class("protocol-test", transport=transport, **kwargs)
    yield instrument
    transport.assert_done()
