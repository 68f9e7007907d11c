"""Numato Lab USB relay module (ASCII commands over USB CDC serial, 19200 8N1).

The module is a small command line: it echoes every character it receives, and
after the CR that ends a command it sends LF CR, the command's output (if any)
followed by LF CR, and the prompt ``>``::

    host   -> "relay read 0" CR
    module -> "relay read 0" LF CR "on" LF CR ">"

Commands: ``relay on N``, ``relay off N``, ``relay read N`` (``on``/``off``),
``relay readall`` / ``relay writeall HH..`` (hex mask, bit N = relay N, two hex
digits per eight relays), ``ver`` (firmware version, 8 characters), ``id get``
(module id, 8 characters), ``reset`` (all relays off).  Relays 0-9 are addressed
by their digit, relays 10-31 by the letters A-V.

The driver reads every reply up to the prompt and checks it is exactly the echo
of the command plus the expected output; anything else is a garbled reply.  On the
xbeam apparatus relay 0 opens the gas needle valve and relay 1 the side leak.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from .base import Instrument, Option
from .errors import InstrumentTimeout
from .transport import SerialSettings

__all__ = ["NumatoRelay", "relay_index"]

_LINE_END = "\n\r"
_RELAY_NAMES = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
_SUPPORTED_COUNTS = (1, 2, 4, 8, 16, 32)
#: any complete reply: printable echo, LF CR, at most one printable output line ending LF CR
_WELL_FORMED = re.compile(r"[ -~]*\n\r(?:[ -~]+\n\r)?")


def relay_index(n: int) -> str:
    """The character that names relay ``n`` in a command (0-9, then A-V)."""
    return _RELAY_NAMES[n]


class NumatoRelay(Instrument):
    """Numato Lab USB relay module with ``relay_count`` relays (see module docstring)."""

    model = "Numato USB relay module"
    options = {
        "relay_count": Option("int", "relays on the module", ge=1, le=64),
    }
    write_termination = b"\r"
    read_termination = b">"
    serial_settings = SerialSettings(baud_rate=19200)
    default_timeout_s = 1.0
    prompt: ClassVar[str] = ">"

    def __init__(self, address: str, *, relay_count: int = 8, **kwargs) -> None:
        if relay_count not in _SUPPORTED_COUNTS:
            raise ValueError(f"relay_count = {relay_count!r}: Numato modules have {_SUPPORTED_COUNTS} relays")
        self.relay_count = relay_count
        self._late_reply_possible = False
        super().__init__(address, **kwargs)

    # ------------------------------------------------------------ connection
    def on_connect(self) -> None:
        """Send a bare CR, wait for the prompt, discard everything before and after it.

        The CR ends whatever half command the module holds (a previous session cut
        mid-command); its reply and any stale output are thrown away.
        """
        with self._lock:
            self._late_reply_possible = False
            self.write_bytes(self.write_termination, "CR")
            self.read_bytes("CR")
            self._transport.clear_input()

    # --------------------------------------------------------- conversation
    def command(self, command: str) -> str | None:
        """Send one command; return its output line (``None`` if it has none).

        The reply up to the prompt must be the echo, LF CR, and at most one output
        line ending in LF CR; anything else is garbled.
        """
        with self._lock:
            self.write(command)
            reply = self._read_reply(command)
        body = reply[len(command + _LINE_END) :]
        if body == "":
            return None
        output = body[: -len(_LINE_END)]
        if _LINE_END in output or not output:
            raise self.garbled(command, reply + self.prompt, "more than one output line")
        return output

    def _read_reply(self, command: str) -> str:
        """Read up to the prompt; the reply must start with the echo of ``command``.

        After a timeout the module's late answer to the timed-out command may still
        come: a well-formed reply echoing another command is then skipped (once).
        """
        echo = command + _LINE_END
        for _ in range(2):
            try:
                reply = self.read(command)
            except InstrumentTimeout:
                self._late_reply_possible = True
                raise
            if reply.startswith(echo) and reply.endswith(_LINE_END):
                self._late_reply_possible = False
                return reply
            if not (self._late_reply_possible and _WELL_FORMED.fullmatch(reply)):
                break
            self._late_reply_possible = False
            self.log.debug("%s: discarding a late reply %r", self.name, reply)
        raise self.garbled(command, reply + self.prompt, "expected the echo of the command, LF CR, then '>'")

    def _output(self, command: str, pattern: str) -> str:
        """A command whose output must match ``pattern`` (a regex)."""
        output = self.command(command)
        if output is None or not re.fullmatch(pattern, output):
            raise self.garbled(command, output, f"expected output matching {pattern!r}")
        return output

    def _no_output(self, command: str) -> None:
        output = self.command(command)
        if output is not None:
            raise self.garbled(command, output, "expected no output")

    def _check_relay(self, n: int) -> str:
        try:
            index = operator.index(n)
        except TypeError:
            index = -1
        if isinstance(n, bool) or not 0 <= index < self.relay_count:
            raise self.limit_error("relay", n, f"0 to {self.relay_count - 1}")
        return relay_index(index)

    @property
    def _mask_digits(self) -> int:
        return max(2, self.relay_count // 4)

    # ---------------------------------------------------------------- relays
    def relay_on(self, n: int) -> None:
        """``relay on N``: energise relay ``n``."""
        self._no_output(f"relay on {self._check_relay(n)}")

    def relay_off(self, n: int) -> None:
        """``relay off N``: release relay ``n``."""
        self._no_output(f"relay off {self._check_relay(n)}")

    def set_relay(self, n: int, on: bool) -> None:
        """Relay ``n`` on or off."""
        (self.relay_on if on else self.relay_off)(n)

    def relay_state(self, n: int) -> bool:
        """``relay read N``: True if relay ``n`` is on."""
        return self._output(f"relay read {self._check_relay(n)}", "on|off") == "on"

    def states(self) -> list[bool]:
        """``relay readall``: every relay's state, index = relay number."""
        mask = int(self._output("relay readall", f"[0-9A-Fa-f]{{{self._mask_digits}}}"), 16)
        return [bool(mask >> n & 1) for n in range(self.relay_count)]

    def write_all(self, states: Sequence[bool]) -> None:
        """``relay writeall HH``: set every relay at once (index = relay number)."""
        if len(states) != self.relay_count:
            raise self.limit_error("states", list(states), f"{self.relay_count} booleans")
        mask = sum(1 << n for n, on in enumerate(states) if on)
        self._no_output(f"relay writeall {mask:0{self._mask_digits}x}")

    def reset(self) -> None:
        """``reset``: every relay off."""
        self._no_output("reset")

    # --------------------------------------------------------- identification
    def version(self) -> str:
        """``ver``: firmware version (8 characters)."""
        return self._output("ver", r"[ -~]{1,16}")

    def module_id(self) -> str:
        """``id get``: the module id set by ``id set`` (8 characters)."""
        return self._output("id get", r"[ -~]{1,16}")

    def identity(self) -> str:
        return f"Numato {self.relay_count}-channel USB relay module, id {self.module_id()}, firmware {self.version()}"

    def settings(self) -> dict[str, Any]:
        return {"relay_count": self.relay_count, "relays": self.states()}

    def probe(self) -> dict[str, Any]:
        """Identity and every relay's state, for ``xbeam probe numato_relay``."""
        return {
            "model": self.model,
            "address": self.address,
            "identity": self.identity(),
            "version": self.version(),
            "id": self.module_id(),
            "relays": self.states(),
        }


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = NumatoRelay
