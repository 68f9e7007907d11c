"""Byte-level emulator of a Numato Lab USB relay module.

Like the module, it echoes every printable character as it arrives; a CR ends the
command and is answered with LF CR, the output line (if any) ending in LF CR, and
the prompt ``>`` (see :mod:`drivers.numato_relay`).  LF is ignored, so hosts that
end commands with CR LF work too.  A command the firmware does not know gets no
output, only the prompt.

Relays that exist in the world (relay 0 = gas needle valve, relay 1 = side leak)
are switched through ``world.set_relay`` and read back from ``world.relays``;
relays the apparatus does not wire keep their state here.

Coverage (Numato's command tables for its USB and Ethernet relay modules; the same
firmware command line):

==================  =========================================================  =========
command             what the emulator does                                     source
==================  =========================================================  =========
ver                 firmware version (8 characters)                            Numato
id get, id set X    module id; ``id set`` takes exactly 8 characters            Numato
relay on|off|read N relay N (0-9, then A-V) on, off, ``on``/``off``             Numato
relay readall       hex mask, two digits per eight relays                       Numato
relay writeall HH   all relays from a hex mask of that width                    Numato
reset               every relay off                                            Numato
gpio set|clear N    GPIO N an output, high / low (modules with GPIOs only)      Numato
gpio read N         GPIO N an input: ``1``/``0`` from :attr:`gpio_inputs`        Numato
adc read N          0-1023 (10 bit, 5 V reference) from :attr:`analog_inputs_V`  Numato
==================  =========================================================  =========

A module has ``gpio_count`` GPIOs (default: 4 on the 1-, 2- and 4-relay modules, none
on the larger ones; every GPIO can be read as an analog input).  Anything else gets the
firmware's answer to an unknown command: the echo and the prompt, no output line.

Not emulated for want of a source: ``info`` ("the power-on status"), ``relay poweron
HH`` and ``gpio poweron DD VV``.  Numato's own Python API (``numato-usb-relay``) lists
all three for its newer firmware and reads up to 105 bytes after ``info``, but neither
it nor Numato's pages at hand give the text of the reply; ``info`` is answered as an
unknown command (echo, prompt) rather than with an invented format.
"""

from __future__ import annotations

import re

from .server import Emulator

__all__ = ["NumatoRelayEmulator"]

_RELAY_NAMES = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
_MAX_LINE = 64
_BACKSPACE = 0x08


class NumatoRelayEmulator(Emulator):
    """A Numato module with ``relay_count`` relays wired to the world's valves."""

    model = "Numato USB relay module"
    reply_termination = b">"  # every reply ends with the prompt (the server's garble keeps it)

    def __init__(
        self,
        world,
        relay_count: int = 8,
        *,
        version: str = "00000008",
        module_id: str = "00000000",
        gpio_count: int | None = None,
    ) -> None:
        super().__init__(world)
        if relay_count not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"relay_count = {relay_count!r}: one of 1, 2, 4, 8, 16, 32")
        self.relay_count = relay_count
        self.gpio_count = (4 if relay_count <= 4 else 0) if gpio_count is None else gpio_count
        #: GPIO output levels (gpio set/clear), the levels on the pins read as inputs, analog volts
        self.gpio_outputs: dict[int, bool] = {}
        self.gpio_inputs: dict[int, bool] = {n: False for n in range(self.gpio_count)}
        self.analog_inputs_V: dict[int, float] = {n: 0.0 for n in range(self.gpio_count)}
        self.version = version
        self.module_id = module_id
        self._unwired: dict[int, bool] = {}
        self._line = bytearray()
        self.received: list[str] = []  # commands received, for tests

    # ------------------------------------------------------------ relays
    def _wired(self, n: int) -> bool:
        return n < len(self.world.relays)

    def relay(self, n: int) -> bool:
        return bool(self.world.relays[n]) if self._wired(n) else self._unwired.get(n, False)

    def set_relay(self, n: int, on: bool) -> None:
        if self._wired(n):
            if bool(self.world.relays[n]) != on:  # a relay that does not move leaves the gas alone
                self.world.set_relay(n, on)
        else:
            self._unwired[n] = on

    @property
    def _mask_digits(self) -> int:
        return max(2, self.relay_count // 4)

    def _index(self, name: str) -> int | None:
        n = _RELAY_NAMES.find(name) if len(name) == 1 else -1
        return n if 0 <= n < self.relay_count else None

    # ------------------------------------------------------------ bytes
    def on_connect(self) -> None:
        self._line.clear()

    def feed(self, data: bytes) -> bytes:
        with self.world.lock:
            out = bytearray()
            for byte in data:
                out += self._byte(byte)
            return bytes(out)

    def _byte(self, byte: int) -> bytes:
        if byte == 0x0D:
            command = self._line.decode("ascii", "replace")
            self._line.clear()
            output = self.handle(command)
            return b"\n\r" + (output.encode("ascii") + b"\n\r" if output is not None else b"") + b">"
        if byte == _BACKSPACE and self._line:
            self._line.pop()
            return bytes([byte])
        if 0x20 <= byte < 0x7F and len(self._line) < _MAX_LINE:
            self._line.append(byte)
            return bytes([byte])  # the module echoes as it receives
        return b""  # LF and other control characters: ignored

    # ------------------------------------------------------------ commands
    def handle(self, command: str) -> str | None:
        """Execute one command line; return its output line or None."""
        self.received.append(command)
        words = command.split()
        if words == ["ver"]:
            return self.version
        if words == ["id", "get"]:
            return self.module_id
        if len(words) == 3 and words[:2] == ["id", "set"] and len(words[2]) == 8:
            self.module_id = words[2]
            return None
        if words == ["reset"]:
            for n in range(self.relay_count):
                self.set_relay(n, False)
            return None
        if len(words) >= 2 and words[0] == "relay":
            return self._relay_command(words[1:])
        if len(words) == 3 and words[0] == "gpio" and self.gpio_count:
            return self._gpio_command(words[1], words[2])
        if len(words) == 3 and words[:2] == ["adc", "read"] and self.gpio_count:
            n = self._gpio_index(words[2])
            if n is None:
                return None
            volts = min(max(self.analog_inputs_V.get(n, 0.0), 0.0), 5.0)
            return str(round(volts / 5.0 * 1023))
        return None

    def _gpio_index(self, name: str) -> int | None:
        n = _RELAY_NAMES.find(name) if len(name) == 1 else -1
        return n if 0 <= n < self.gpio_count else None

    def _gpio_command(self, verb: str, name: str) -> str | None:
        n = self._gpio_index(name)
        if n is None:
            return None
        if verb in ("set", "clear"):
            self.gpio_outputs[n] = verb == "set"
            return None
        if verb == "read":  # the pin becomes an input and is read
            self.gpio_outputs.pop(n, None)
            return "1" if self.gpio_inputs.get(n, False) else "0"
        return None

    def _relay_command(self, args: list[str]) -> str | None:
        verb = args[0]
        if verb == "readall" and len(args) == 1:
            mask = sum(1 << n for n in range(self.relay_count) if self.relay(n))
            return f"{mask:0{self._mask_digits}X}"
        if verb == "writeall" and len(args) == 2:
            if re.fullmatch(f"[0-9A-Fa-f]{{{self._mask_digits}}}", args[1]):
                mask = int(args[1], 16)
                for n in range(self.relay_count):
                    self.set_relay(n, bool(mask >> n & 1))
            return None
        if verb in ("on", "off", "read") and len(args) == 2:
            n = self._index(args[1])
            if n is None:
                return None
            if verb == "read":
                return "on" if self.relay(n) else "off"
            self.set_relay(n, verb == "on")
        return None


#: what this module emulates, for simulators.apparatus: the driver model it answers
#: like (the model's name), its class, and how it is reached ("serial": a pyserial
#: socket:// URL; "visa": a raw SCPI socket, TCPIP::host::port::SOCKET)
EMULATES = "numato_relay"
EMULATOR = NumatoRelayEmulator
TRANSPORT = "serial"
