"""Serve an instrument emulator on a loopback TCP port, with fault injection.

VISA instruments are reached as raw SCPI sockets (``TCPIP::127.0.0.1::PORT::SOCKET``),
serial instruments as serial-over-TCP (``socket://127.0.0.1:PORT``): either way the
bytes on the wire are the instrument's own.  The emulator keeps its state across
connections, like a real instrument whose cable is unplugged and plugged back.

Faults a test can inject (:class:`Faults`): drop the connection at the next request,
send half a reply and hang up, garble a reply, stay silent, delay replies.

The command-table machinery every command-line instrument shares lives here too:
:class:`CommandEmulator` (SCPI header rules: paths, short/long forms, optional nodes,
numeric suffixes, compound messages) and :class:`ScpiEmulator` (IEEE 488.2 common
commands, status byte and event registers, error queue, numeric parameters with
``MIN|MAX|DEF`` and unit suffixes).  A model module declares its commands and its
state, not parsing.
"""

from __future__ import annotations

import errno
import logging
import math
import re
import socket
import threading
from collections.abc import Callable

from foundation.clock import RealClock

__all__ = [
    "Emulator",
    "LineEmulator",
    "CommandEmulator",
    "ScpiEmulator",
    "ScpiError",
    "StatusRegister",
    "SCPI_ERRORS",
    "parse_header",
    "split_parameters",
    "Faults",
    "InstrumentServer",
    "LOOPBACK",
    "ServerPortError",
]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_wall = RealClock()  # fault delays are wall time: they exist to trip drivers' wall-time timeouts


class Emulator:
    """Byte-level model of one instrument.  Subclasses implement :meth:`feed`."""

    model = "instrument"

    def __init__(self, world) -> None:
        self.world = world

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the instrument sends back."""
        raise NotImplementedError

    def on_connect(self) -> None:
        """A new connection (cable plugged in): drop half-received input."""


class LineEmulator(Emulator):
    """An instrument that takes one command per terminated line.

    Accepts LF or CR LF (``accept`` lists the terminators); replies end with
    ``reply_termination``.  :meth:`handle` returns the reply text or ``None``.
    """

    accept: tuple[bytes, ...] = (b"\n",)
    reply_termination = b"\n"
    encoding = "ascii"

    def __init__(self, world) -> None:
        super().__init__(world)
        self._buffer = b""
        self._split = re.compile(b"|".join(re.escape(t) for t in self.accept))

    def on_connect(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = b""
        while True:
            m = self._split.search(self._buffer)
            if m is None:
                return out
            line, self._buffer = self._buffer[: m.start()], self._buffer[m.end() :]
            line = line.rstrip(b"\r")
            reply = self.handle(line.decode(self.encoding, "replace").strip())
            if reply is not None:
                out += reply.encode(self.encoding) + self.reply_termination

    def handle(self, line: str) -> str | None:
        raise NotImplementedError


# ====================================================================== headers
#
# A header is registered in the manual's notation and parsed once into nodes:
#
#   "[SOURce:]VOLTage[:LEVel][:IMMediate]"   optional nodes in brackets (either colon side)
#   "INPut{1|2}:LEVel{1|2}:RELative"         a numeric suffix from a set (absent = 1)
#   "*IDN?"                                  a common command; a trailing "?" is a query
#
# A received mnemonic matches a node in its short form (the capitals and digits of the
# manual's spelling: "VOLT") or its long form ("VOLTAGE"), in any case; anything in
# between ("VOLTA") does not match (SCPI-99 vol. 1, 6.2.1).


class _Node:
    __slots__ = ("short", "long", "optional", "suffixes")

    def __init__(self, word: str, optional: bool, suffixes: frozenset[int] | None) -> None:
        cut = 0
        while cut < len(word) and not word[cut].islower():
            cut += 1
        digits = len(word) - len(word.rstrip("0123456789"))
        tail = word[len(word) - digits:] if digits and cut < len(word) - digits else ""
        self.short = (word[:cut] + tail).upper() or word.upper()  # "CALCulate3" -> "CALC3"
        self.long = word.upper()
        self.optional = optional
        self.suffixes = suffixes

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"_Node({self.long!r}, optional={self.optional}, suffixes={self.suffixes})"


_TOKEN = re.compile(r"\[|\]|:|([A-Za-z*][A-Za-z0-9*]*)(\{[0-9|]+\})?|(.)")


def parse_header(header: str) -> tuple[_Node, ...]:
    """Nodes of a header written in the manual's notation (see above)."""
    nodes: list[_Node] = []
    optional = False
    for m in _TOKEN.finditer(header):
        token = m.group(0)
        if token == "[":
            optional = True
        elif token == "]":
            optional = False
        elif token == ":":
            continue
        elif m.group(1):
            suffixes = None
            if m.group(2):
                suffixes = frozenset(int(n) for n in m.group(2)[1:-1].split("|"))
            nodes.append(_Node(m.group(1), optional, suffixes))
        else:
            raise ValueError(f"bad header notation {header!r} at {token!r}")
    return tuple(nodes)


_MNEMONIC = re.compile(r"([A-Z*]+?)(\d*)")

_MATCH, _SUFFIX = 1, 2  # results of matching a mnemonic against a node


def _match_node(node: _Node, mnemonic: str, strict: bool) -> tuple[int | None, int | None]:
    """(_MATCH, suffix) / (_SUFFIX, None) / (None, None); ``mnemonic`` is upper case."""
    if node.suffixes is None:
        return ((_MATCH, None) if mnemonic in (node.short, node.long) else (None, None))
    m = _MNEMONIC.fullmatch(mnemonic)
    if m is None or m.group(1) not in (node.short, node.long):
        return None, None
    number = int(m.group(2)) if m.group(2) else 1
    if number in node.suffixes or not strict:
        return _MATCH, number
    return _SUFFIX, None


def _match(nodes, mnemonics, strict: bool, i: int = 0, j: int = 0, found: tuple = ()):
    """Suffixes of a match of ``mnemonics`` against ``nodes`` (optional nodes may be
    skipped), or None."""
    if j == len(mnemonics):
        if all(n.optional for n in nodes[i:]):
            return found + tuple(1 for n in nodes[i:] if n.suffixes is not None)
        return None
    if i == len(nodes):
        return None
    node = nodes[i]
    kind, number = _match_node(node, mnemonics[j], strict)
    if kind == _MATCH:
        result = _match(nodes, mnemonics, strict, i + 1, j + 1, found + ((number,) if node.suffixes else ()))
        if result is not None:
            return result
    if node.optional:
        return _match(nodes, mnemonics, strict, i + 1, j, found + ((1,) if node.suffixes else ()))
    return None


def split_program_message(line: str) -> list[str]:
    """Message units of one program message: split at ``;`` outside quoted strings."""
    units: list[str] = []
    quote = None
    start = 0
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None  # a doubled quote closes and reopens: still fine
        elif ch in "\"'":
            quote = ch
        elif ch == ";":
            units.append(line[start:k])
            start = k + 1
    units.append(line[start:])
    return units


def split_parameters(arg: str) -> list[str]:
    """Parameters of a message unit: split at ``,`` outside quotes and parentheses."""
    if not arg.strip():
        return []
    parts: list[str] = []
    quote = None
    depth = 0
    start = 0
    for k, ch in enumerate(arg):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(arg[start:k].strip())
            start = k + 1
    parts.append(arg[start:].strip())
    return parts


_UNIT_HEADER = re.compile(r"\s*(:?\*?[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9_]*)*)(\?)?")


class _Entry:
    __slots__ = ("header", "nodes", "handler")

    def __init__(self, header: str, nodes, handler) -> None:
        self.header = header
        self.nodes = nodes
        self.handler = handler


class CommandEmulator(LineEmulator):
    """A line instrument driven by a table of headers in the manual's notation.

    ``self.command("MEASure:VOLTage?", fn)`` registers a handler that takes the
    parameter text and returns the reply (or ``None``); see :func:`parse_header` for
    the notation.  The table implements the header rules of SCPI-99 vol. 1 ch. 6 once
    for every model:

    * ``;`` separates message units (not inside quoted strings); replies of one
      program message are joined with ``;``;
    * after a unit, the *current path* is its header without the last node: a header
      without a leading colon is relative to it (``TRIG:SOUR IMM;COUN 2`` sets
      ``TRIG:COUN``); a leading ``:`` starts from the root; a new line resets the path;
      common commands (``*XXX``) neither use nor change it;
    * short or long mnemonics, any case; optional nodes; numeric suffixes
      (``INPut2``), a suffix outside the node's set is :meth:`suffix_error`.

    While a handler runs, ``self.suffixes`` holds the header's numeric suffixes in node
    order (1 where absent) and ``self.query_header`` the header as received.  What a
    refused or unknown command does is the model's own: a SCPI instrument queues an
    error (:class:`ScpiEmulator`), an iseg module sets an Is Input Error bit.  Handlers
    refuse by raising :attr:`refusal`.
    """

    refusal: type[Exception] = Exception
    #: SCPI requires white space between header and parameters ("APPL5,1" is -111);
    #: iseg modules also take ":MEAS:VOLT?(@0)"
    strict_header_separator = True

    def __init__(self, world) -> None:
        super().__init__(world)
        self._table: dict[bool, list[_Entry]] = {False: [], True: []}
        self._lookup: dict[tuple, tuple] = {}
        self._path: tuple[str, ...] = ()
        self.suffixes: tuple[int, ...] = ()
        self.query_header = ""
        self._replies: list[str] = []

    # ------------------------------------------------------------ registration
    def command(self, header: str, handler: Callable[[str], str | None]) -> None:
        """Register ``handler`` for ``header`` (manual notation, ``?`` for a query)."""
        query = header.endswith("?")
        entry = _Entry(header, parse_header(header[:-1] if query else header), handler)
        self._table[query].append(entry)
        self._lookup.clear()

    def resolve(self, mnemonics: tuple[str, ...], query: bool):
        """``(entry, suffixes)`` for a header, ``(None, "suffix")`` when only a suffix is
        out of range, ``(None, None)`` when undefined."""
        key = (mnemonics, query)
        hit = self._lookup.get(key)
        if hit is None:
            hit = (None, None)
            for strict in (True, False):
                for entry in self._table[query]:
                    found = _match(entry.nodes, mnemonics, strict)
                    if found is not None:
                        hit = (entry, found) if strict else (None, "suffix")
                        break
                if hit[0] is not None or hit[1] is not None:
                    break
            if len(self._lookup) > 4096:
                self._lookup.clear()
            self._lookup[key] = hit
        return hit

    # ------------------------------------------------------------ execution
    def handle(self, line: str) -> str | None:
        self._path = ()
        self._replies = []
        self.before_message()
        for unit in split_program_message(line):
            if unit.strip():
                self._execute_unit(unit)
            self.after_unit()
        replies, self._replies = self._replies, []
        return ";".join(replies) if replies else None

    def reply_pending(self) -> bool:
        """Replies of this program message already formatted (IEEE 488.2 MAV)."""
        return bool(self._replies)

    def _execute_unit(self, unit: str) -> None:
        m = _UNIT_HEADER.match(unit)
        if m is None:
            self.syntax_error(unit)
            return
        text, query = m.group(1), bool(m.group(2))
        arg = unit[m.end():]
        if arg and not arg[0].isspace() and self.strict_header_separator:
            self.syntax_error(unit, separator=True)
            return
        arg = arg.strip()
        absolute = text.startswith(":")
        words = tuple(w.upper() for w in text.lstrip(":").split(":"))
        common = words[0].startswith("*")
        mnemonics = words if (absolute or common) else self._path + words
        header = text + ("?" if query else "")
        entry, found = self.resolve(mnemonics, query)
        if entry is None:
            if found == "suffix":
                self.suffix_error(header, arg)
            else:
                self.undefined(header, arg)
            return
        if not common:
            self._path = mnemonics[:-1]
        self.suffixes = found
        self.query_header = header
        try:
            reply = entry.handler(arg)
        except self.refusal as exc:
            self.refused(header, arg, exc)
            return
        self.accepted(header, arg)
        if reply is not None:
            self._replies.append(reply)

    # ------------------------------------------------------------ model hooks
    def before_message(self) -> None:
        """A program message arrived (override: bring time-dependent state up to date)."""

    def after_unit(self) -> None:
        """A message unit was executed (override: latch status events)."""

    def refused(self, header: str, arg: str, exc: Exception) -> None:
        """A handler refused the command (override: the model's way of saying so)."""

    def accepted(self, header: str, arg: str) -> None:
        """A command was carried out (override if acceptance clears an error state)."""

    def undefined(self, header: str, arg: str) -> None:
        """No handler for ``header`` (override)."""

    def suffix_error(self, header: str, arg: str) -> None:
        """A header whose numeric suffix is outside the node's set (override)."""
        self.undefined(header, arg)

    def syntax_error(self, unit: str, separator: bool = False) -> None:
        """A unit that is not ``<header>[<white space><parameters>]`` (override)."""
        self.undefined(unit.strip(), "")


# ================================================================= SCPI numbers
#: IEEE 488.2 7.7.3.2 suffix multipliers (suffixes are case-insensitive: "M" is milli)
MULTIPLIERS: dict[str, float] = {
    "EX": 1e18, "PE": 1e15, "T": 1e12, "G": 1e9, "MA": 1e6, "K": 1e3,
    "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12, "F": 1e-15, "A": 1e-18,
}
#: units where IEEE 488.2 reads a leading M as mega, not milli
_MEGA_UNITS = {"HZ": "MHZ", "OHM": "MOHM"}

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NON_DECIMAL = {"#H": 16, "#Q": 8, "#B": 2}
_KEYWORDS = {
    "MIN": "MIN", "MINIMUM": "MIN", "MAX": "MAX", "MAXIMUM": "MAX",
    "DEF": "DEF", "DEFAULT": "DEF", "INF": "INF", "INFINITY": "INF",
    "NINF": "NINF", "NAN": "NAN", "UP": "UP", "DOWN": "DOWN",
}

#: SCPI-99 vol. 2 ch. 21 error texts; a model overrides the ones its manual words differently
SCPI_ERRORS: dict[int, str] = {
    -100: "Command error", -101: "Invalid character", -102: "Syntax error",
    -103: "Invalid separator", -104: "Data type error", -105: "GET not allowed",
    -108: "Parameter not allowed", -109: "Missing parameter", -110: "Command header error",
    -111: "Header separator error", -112: "Program mnemonic too long",
    -113: "Undefined header", -114: "Header suffix out of range",
    -120: "Numeric data error", -121: "Invalid character in number",
    -123: "Exponent too large", -124: "Too many digits", -128: "Numeric data not allowed",
    -130: "Suffix error", -131: "Invalid suffix", -134: "Suffix too long",
    -138: "Suffix not allowed", -140: "Character data error", -141: "Invalid character data",
    -144: "Character data too long", -148: "Character data not allowed",
    -150: "String data error", -151: "Invalid string data", -158: "String data not allowed",
    -160: "Block data error", -161: "Invalid block data", -168: "Block data not allowed",
    -200: "Execution error", -210: "Trigger error", -211: "Trigger ignored",
    -212: "Arm ignored", -213: "Init ignored", -214: "Trigger deadlock",
    -220: "Parameter error", -221: "Settings conflict", -222: "Data out of range",
    -223: "Too much data", -224: "Illegal parameter value", -230: "Data corrupt or stale",
    -240: "Hardware error", -300: "Device-specific error", -310: "System error",
    -350: "Queue overflow", -400: "Query error", -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED", -430: "Query DEADLOCKED",
    -440: "Query UNTERMINATED after indefinite response",
}


class ScpiError(Exception):
    """Raised by a handler: the command is refused and ``(code, message)`` queued.

    Without ``message`` the model's own text for ``code`` is used.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(f"{code},{message!r}")
        self.code = code
        self.message = message


class StatusRegister:
    """A SCPI status register set: condition, event (latched), enable, transition filters.

    ``condition`` is a callable giving the live condition bits (or None: event-only,
    bits set by :meth:`set_event`).  :meth:`update` latches the transitions the filters
    pass (positive by default) into the event register; ``summary`` is the bit it
    drives in the status byte.
    """

    def __init__(self, name: str, summary_bit: int, condition: Callable[[], int] | None = None) -> None:
        self.name = name
        self.summary_bit = summary_bit
        self.condition = condition
        self.event = 0
        self.enable = 0
        self.ptr = 0x7FFF
        self.ntr = 0
        self._last = 0

    def read_condition(self) -> int:
        return int(self.condition()) if self.condition is not None else 0

    def update(self) -> None:
        now = self.read_condition()
        rising, falling = now & ~self._last, ~now & self._last
        self.event |= (rising & self.ptr) | (falling & self.ntr)
        self._last = now

    def set_event(self, bits: int) -> None:
        self.event |= bits

    def read_event(self) -> int:
        self.update()
        value, self.event = self.event, 0
        return value

    def preset(self) -> None:
        """``STATus:PRESet``: enable 0, PTR all ones, NTR 0 (SCPI-99 vol. 2, 20.7)."""
        self.enable, self.ptr, self.ntr = 0, 0x7FFF, 0

    @property
    def summary(self) -> bool:
        return bool(self.event & self.enable)


# standard event status register bits (IEEE 488.2 11.5.1)
ESR_OPC, ESR_RQC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_URQ, ESR_PON = (1 << b for b in range(8))
# status byte bits
STB_EAV, STB_QUES, STB_MAV, STB_ESB, STB_MSS, STB_OPER = 4, 8, 16, 32, 64, 128


class ScpiEmulator(CommandEmulator):
    """An IEEE 488.2 / SCPI instrument: the header rules, the status model, the error
    queue and the parameter forms, once for every SCPI model.

    A model registers its commands (``self.command(...)``) and its status registers
    (:meth:`status_register`), sets :attr:`idn`, overrides :meth:`reset` (``*RST``)
    and, for overlapped commands, :meth:`pending_until`.  Built in:

    * ``*IDN? *RST *CLS *ESE[?] *ESR? *SRE[?] *STB? *OPC[?] *WAI *TST? *TRG`` and
      ``SYSTem:ERRor[:NEXT]?``;
    * the status byte: MAV (a reply of this program message is waiting), ESB
      (``*ESR`` & ``*ESE``), MSS (``*STB`` & ``*SRE``), EAV at :attr:`eav_bit` when the
      model has it, and the summary bit of every registered status register;
    * the error queue (:attr:`error_queue_size` entries, the last replaced by -350 on
      overflow); queuing an error sets the ESR bit of its class (-1xx CME, -2xx EXE,
      -3xx and device errors DDE, -4xx QYE);
    * parameters: :meth:`numeric` (NRf, ``#H/#Q/#B``, ``MIN|MAX|DEF|INF``, unit suffixes
      with IEEE 488.2 multipliers), :meth:`query_value` (``CURR? MAX``),
      :meth:`boolean`, :meth:`choice`, :meth:`string`, :meth:`params`.
    """

    idn = "xbeam,SCPI emulator,0,0"
    error_queue_size = 20
    #: status byte bit of the error queue (SCPI-99 EAV; None where the model has none)
    eav_bit: int | None = STB_EAV
    #: the model's wording where it differs from :data:`SCPI_ERRORS`
    error_messages: dict[int, str] = {}
    #: "+0" (Keysight) or "0" (Keithley) for NR1 replies such as *ESR?
    signed_integers = True
    #: whether numeric parameters take unit suffixes (IEEE 488.2 7.7.3)
    accepts_suffixes = True
    #: *TST? reply
    self_test_reply = "+0"
    #: SYSTem:ERRor? reply format
    error_format = '{code:+d},"{message}"'

    refusal = ScpiError

    def __init__(self, world) -> None:
        super().__init__(world)
        self.errors: list[tuple[int, str]] = []
        self.esr = ESR_PON  # power on
        self.ese = 0
        self.sre = 0
        self._opc_armed = False
        self.registers: dict[str, StatusRegister] = {}
        self.command("*IDN?", self._no_params(lambda: self.idn))
        self.command("*CLS", self._no_params(self.clear_status))
        self.command("*RST", self._no_params(self._reset_command))
        self.command("*ESE", lambda arg: setattr(self, "ese", self.integer(arg, 0, 255)))
        self.command("*ESE?", self._no_params(lambda: self.nr1(self.ese)))
        self.command("*ESR?", self._no_params(self._read_esr))
        self.command("*SRE", lambda arg: setattr(self, "sre", self.integer(arg, 0, 255) & ~STB_MSS))
        self.command("*SRE?", self._no_params(lambda: self.nr1(self.sre)))
        self.command("*STB?", self._no_params(lambda: self.nr1(self.status_byte())))
        self.command("*OPC", self._no_params(self._opc))
        self.command("*OPC?", self._no_params(self._opc_query))
        self.command("*WAI", self._no_params(self._wai))
        self.command("*TST?", self._no_params(lambda: self.self_test_reply))
        self.command("*TRG", self._no_params(self.bus_trigger))
        self.command("SYSTem:ERRor[:NEXT]?", self._no_params(self.next_error))

    # ------------------------------------------------------------ error queue
    def error_text(self, code: int) -> str:
        return self.error_messages.get(code) or SCPI_ERRORS.get(code) or "Device-specific error"

    def push_error(self, code: int, message: str | None = None) -> None:
        message = message or self.error_text(code)
        if -199 <= code <= -100:
            self.esr |= ESR_CME
        elif -299 <= code <= -200:
            self.esr |= ESR_EXE
        elif -499 <= code <= -400:
            self.esr |= ESR_QYE
        elif code != 0:
            self.esr |= ESR_DDE
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, self.error_text(-350))
            return
        self.errors.append((code, message))

    def format_error(self, code: int, message: str) -> str:
        return self.error_format.format(code=code, message=message)

    def next_error(self) -> str:
        code, message = self.errors.pop(0) if self.errors else (0, "No error")
        return self.format_error(code, message)

    # ------------------------------------------------------------ status model
    def status_register(self, register: StatusRegister, header: str | None = None, *, transitions: bool = False) -> StatusRegister:
        """Add ``register`` to the status byte and, with ``header`` ("STATus:QUEStionable"),
        its commands ``[:EVENt]? :CONDition? :ENABle[?]`` (and ``:PTRansition[?]
        :NTRansition[?]`` with ``transitions``)."""
        self.registers[register.name] = register
        if header:
            self.command(header + "[:EVENt]?", self._no_params(lambda: self.nr1(register.read_event())))
            self.command(header + ":CONDition?", self._no_params(lambda: self.nr1(register.read_condition())))
            self.command(header + ":ENABle", lambda arg: setattr(register, "enable", self.integer(arg, 0, 65535)))
            self.command(header + ":ENABle?", self._no_params(lambda: self.nr1(register.enable)))
            if transitions:
                self.command(header + ":PTRansition", lambda arg: setattr(register, "ptr", self.integer(arg, 0, 65535)))
                self.command(header + ":PTRansition?", self._no_params(lambda: self.nr1(register.ptr)))
                self.command(header + ":NTRansition", lambda arg: setattr(register, "ntr", self.integer(arg, 0, 65535)))
                self.command(header + ":NTRansition?", self._no_params(lambda: self.nr1(register.ntr)))
        return register

    def status_byte(self) -> int:
        """IEEE 488.2 status byte with MSS (the ``*STB?`` view)."""
        self.service()
        for register in self.registers.values():
            register.update()
        stb = 0
        if self.eav_bit is not None and self.errors:
            stb |= self.eav_bit
        if self.reply_pending():
            stb |= STB_MAV
        if self.esr & self.ese:
            stb |= STB_ESB
        for register in self.registers.values():
            if register.summary:
                stb |= 1 << register.summary_bit
        if stb & self.sre & ~STB_MSS:
            stb |= STB_MSS
        return stb

    def nr1(self, value: int) -> str:
        return f"{value:+d}" if self.signed_integers else f"{value:d}"

    def clear_status(self) -> None:
        """``*CLS``: error queue, event registers, ESR and a pending ``*OPC`` cleared."""
        self.errors.clear()
        self.esr = 0
        self._opc_armed = False
        for register in self.registers.values():
            register.update()
            register.event = 0

    def _read_esr(self) -> str:
        self.service()
        value, self.esr = self.esr, 0
        return self.nr1(value)

    # ------------------------------------------------------- overlapped commands
    def pending_until(self) -> float | None:
        """Clock time at which the pending overlapped operations end (override):
        None when none is pending, ``math.inf`` when one waits for an event that
        never comes (a trigger nobody sends)."""
        return None

    def _opc(self) -> None:
        self._opc_armed = True
        self.service()

    def _opc_query(self) -> str | None:
        if not self._wait_pending():
            return None  # the instrument would keep the bus busy until the I/O timeout
        return "1"

    def _wai(self) -> None:
        self._wait_pending()

    def _wait_pending(self) -> bool:
        end = self.pending_until()
        if end is None:
            return True
        if math.isinf(end):
            return False
        self.world.clock.sleep_until(end)
        self.service()
        return True

    def service(self) -> None:
        """Bring time-dependent state up to ``now`` (override and call super)."""
        if self._opc_armed and self.pending_until() is None:
            self._opc_armed = False
            self.esr |= ESR_OPC

    def before_message(self) -> None:
        self.service()

    def after_unit(self) -> None:
        for register in self.registers.values():
            register.update()

    def bus_trigger(self) -> None:
        """``*TRG`` (override): a model without a bus trigger ignores it."""
        raise ScpiError(-211)

    def _reset_command(self) -> None:
        self._opc_armed = False
        self.reset()

    def reset(self) -> None:
        """``*RST``: the model's defaults (override)."""

    # ------------------------------------------------------- refusals
    def refused(self, header: str, arg: str, exc: Exception) -> None:
        self.push_error(exc.code, exc.message)

    def undefined(self, header: str, arg: str) -> None:
        self.push_error(-113)

    def suffix_error(self, header: str, arg: str) -> None:
        self.push_error(-114)

    def syntax_error(self, unit: str, separator: bool = False) -> None:
        self.push_error(-111 if separator else -102)

    # ------------------------------------------------- parameter helpers
    def _no_params(self, fn: Callable[[], str | None]) -> Callable[[str], str | None]:
        def handler(arg: str) -> str | None:
            if arg.strip():
                raise ScpiError(-108)
            return fn()

        return handler

    @staticmethod
    def params(arg: str, least: int = 0, most: int | None = None) -> list[str]:
        """The comma-separated parameters; -109 below ``least``, -108 above ``most``."""
        parts = split_parameters(arg)
        if len(parts) < least or any(not p for p in parts[:least]):
            raise ScpiError(-109)
        if most is not None and len(parts) > most:
            raise ScpiError(-108)
        return parts

    def single(self, arg: str) -> str:
        """Exactly one parameter."""
        return self.params(arg, 1, 1)[0]

    @staticmethod
    def keyword(text: str) -> str | None:
        """``MIN|MAX|DEF|INF|UP|DOWN`` in short or long form -> its short form, else None."""
        return _KEYWORDS.get(text.strip().upper())

    def number(self, text: str, unit: str | None = None) -> float:
        """A numeric value (``<NRf>``, ``#H1F``) with an optional unit suffix: no keywords.

        ``-109`` when missing, ``-104`` when not a number, ``-131`` for a suffix that is
        not ``[multiplier]unit``, ``-138`` for a suffix where the model takes none.
        """
        text = text.strip()
        if not text:
            raise ScpiError(-109)
        base = _NON_DECIMAL.get(text[:2].upper())
        if base is not None:
            try:
                return float(int(text[2:], base))
            except ValueError:
                raise ScpiError(-104) from None
        m = _DECIMAL.match(text)
        if m is None:
            raise ScpiError(-104)
        value = float(m.group(0))
        suffix = text[m.end():].strip().upper()
        if not suffix:
            return value
        if not self.accepts_suffixes or unit is None:
            raise ScpiError(-138)
        unit = unit.upper()
        if suffix == unit:
            return value
        if unit in _MEGA_UNITS and suffix == _MEGA_UNITS[unit]:
            return value * 1e6
        if suffix.endswith(unit) and suffix[: -len(unit)] in MULTIPLIERS:
            return value * MULTIPLIERS[suffix[: -len(unit)]]
        if unit == "PCT" and suffix == "%":
            return value
        raise ScpiError(-131)

    def numeric(
        self,
        text: str,
        *,
        low: float,
        high: float,
        unit: str | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        default: float | None = None,
        infinity: float | None = None,
        code: int = -222,
    ) -> float:
        """``<value>|MIN|MAX|DEF[|INF]`` checked against ``low .. high`` (``code`` when
        outside; the keywords map to ``minimum``/``maximum`` (default ``low``/``high``),
        ``default`` and ``infinity``; a keyword the parameter has not is -224)."""
        key = self.keyword(text)
        if key is not None:
            value = {"MIN": low if minimum is None else minimum, "MAX": high if maximum is None else maximum,
                     "DEF": default, "INF": infinity}.get(key)
            if value is None:
                raise ScpiError(-224)
            return value
        if not text.strip():
            raise ScpiError(-109)
        value = self.number(text, unit)
        if infinity is not None and value >= 9.9e37:
            return infinity
        if not math.isfinite(value) or not low <= value <= high:
            raise ScpiError(code)
        return value

    def query_value(self, arg: str, present, *, minimum=None, maximum=None, default=None):
        """A query's value: the present one, or ``MIN|MAX|DEF`` when asked (``CURR? MAX``);
        any other parameter is -224, more than one -108."""
        parts = self.params(arg, 0, 1)
        if not parts:
            return present
        key = self.keyword(parts[0])
        value = {"MIN": minimum, "MAX": maximum, "DEF": default}.get(key or "")
        if value is None:
            raise ScpiError(-224)
        return value

    def integer(self, text: str, low: int, high: int) -> int:
        """An integer register value (``<NRf>`` rounded, ``#H/#Q/#B``) in ``low .. high``."""
        parts = self.params(text, 1, 1)
        value = self.number(parts[0])
        value = int(round(value))
        if not low <= value <= high:
            raise ScpiError(-222)
        return value

    def boolean(self, arg: str) -> bool:
        """``ON|OFF|1|0`` -> bool; anything else is ``-224 Illegal parameter value``."""
        parts = self.params(arg, 1, 1)
        text = parts[0].upper()
        if text in ("ON", "1"):
            return True
        if text in ("OFF", "0"):
            return False
        raise ScpiError(-224)

    def choice(self, arg: str, options: dict[str, str], code: int = -224) -> str:
        """One of ``options`` (mixed-case name -> value): short or long form, any case."""
        text = self.params(arg, 1, 1)[0].upper()
        for name, value in options.items():
            node = _Node(name, False, None)
            if text in (node.short, node.long):
                return value
        raise ScpiError(code)

    def string(self, arg: str) -> str:
        """A quoted string parameter (single or double quotes, doubled to escape)."""
        text = self.params(arg, 1, 1)[0]
        if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
            raise ScpiError(-104)
        quote = text[0]
        return text[1:-1].replace(quote * 2, quote)


class Faults:
    """Faults a test injects into an :class:`InstrumentServer`.

    ``inject(kind)`` arms one fault for the next exchange: ``"drop"`` closes the
    connection when the next request arrives (no reply), ``"truncate"`` sends the first
    half of the next reply and closes, ``"garble"`` replaces the next reply by
    non-ASCII junk (terminator kept), ``"silence"`` swallows the next reply.  The
    command itself is still executed (the instrument heard it).  ``delay_s`` delays
    every reply by that much wall time.
    """

    KINDS = ("drop", "truncate", "garble", "silence")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self.delay_s = 0.0

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(self.KINDS)}")
        with self._lock:
            self._pending.extend([kind] * count)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
        self.delay_s = 0.0

    @property
    def pending(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._pending)

    def _take(self, kinds: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._pending and self._pending[0] in kinds:
                return self._pending.pop(0)
            return None


def garble(reply: bytes, termination: bytes) -> bytes:
    """Junk of the reply's length that no parser accepts, ending like a reply."""
    body = reply[: -len(termination)] if termination and reply.endswith(termination) else reply
    return b"\xfe#" + body[::-1] + b"\x15" + termination


class ServerPortError(RuntimeError):
    """An emulator cannot listen on its port (out of range, in use, not permitted);
    ``port`` is the port, the message names it and says why."""

    def __init__(self, port: int, message: str) -> None:
        self.port = port
        super().__init__(message)


class InstrumentServer:
    """Serve one emulator on ``127.0.0.1:port`` (0 = any free port), one thread per client.

    ``lock`` (normally ``world.lock``) is held while the emulator digests bytes, so
    emulators never see the world half-updated.
    """

    def __init__(self, emulator: Emulator, port: int = 0, lock=None) -> None:
        self.emulator = emulator
        self.lock = lock if lock is not None else threading.RLock()
        self.faults = Faults()
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.port = 0

    # ------------------------------------------------------------- addresses
    @property
    def socket_url(self) -> str:
        """pyserial URL (serial instruments)."""
        return f"socket://{LOOPBACK}:{self.port}"

    @property
    def visa_address(self) -> str:
        """VISA raw-socket resource (SCPI instruments)."""
        return f"TCPIP::{LOOPBACK}::{self.port}::SOCKET"

    # ------------------------------------------------------------- lifecycle
    def start(self) -> "InstrumentServer":
        """Listen on the port; a port out of range, in use or not permitted is a
        :class:`ServerPortError` naming it."""
        port = self._requested_port
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ServerPortError(port, f"port {port!r} for the {self.emulator.model} emulator is out of range: "
                                        "allowed 1-65535, or 0 for any free port")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((LOOPBACK, port))
            listener.listen(8)
        except OSError as exc:
            listener.close()
            why = {errno.EADDRINUSE: "already in use (another simulator, or another program, listens there)",
                   errno.EACCES: "not permitted (ports below 1024 need privileges)"}.get(exc.errno, exc.strerror)
            raise ServerPortError(port, f"{LOOPBACK}:{port} for the {self.emulator.model} emulator: {why}") from exc
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, f"{self.emulator.model} server :{self.port}")
        log.debug("%s served on %s:%d", self.emulator.model, LOOPBACK, self.port)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            # on Linux close() alone does not wake a thread blocked in accept(); shutdown does
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self._listener.close()
            except OSError:
                pass
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> "InstrumentServer":
        return self.start() if self._listener is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Close every client connection (a cable pulled); the emulator keeps its state."""
        with self._clients_lock:
            clients, self._clients = list(self._clients), set()
        for conn in clients:
            _close(conn)

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # listener closed by stop()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._clients_lock:
                self._clients.add(conn)
            with self.lock:
                self.emulator.on_connect()
            self._spawn(self._serve, f"{self.emulator.model} client", conn)

    def _serve(self, conn: socket.socket) -> None:
        termination = getattr(self.emulator, "reply_termination", b"\n")
        try:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                _quick_ack(conn)
                if self.faults._take(("drop",)):
                    return
                with self.lock:
                    reply = self.emulator.feed(data)
                if not reply:
                    continue
                if self.faults.delay_s > 0:
                    _wall.sleep(self.faults.delay_s)
                fault = self.faults._take(("truncate", "garble", "silence"))
                if fault == "silence":
                    continue
                if fault == "garble":
                    reply = garble(reply, termination)
                if fault == "truncate":
                    conn.sendall(reply[: max(1, len(reply) // 2)])
                    return
                conn.sendall(reply)
        except OSError:
            return
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            _close(conn)


def _quick_ack(conn: socket.socket) -> None:
    # Acknowledge at once: a host that writes a command and then a query (Nagle on,
    # as pyvisa-py's socket is) would otherwise wait for our delayed ACK, 40 ms a time.
    # Linux clears the flag after use, so it is set after every receive.
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.close()
    except OSError:
        pass
