"""Keysight (Agilent) 53220A / 53230A universal counter in timed-totalize mode.

The counter counts the channeltron's pulses on channel 1 for a fixed gate time
(``CONFigure:TOTalize:TIMed <gate>,(@1)``).  One ``INITiate`` takes ``SAMPle:COUNt``
consecutive gates ("sub-gates") with trigger source ``IMMediate``; the readings
land in reading memory, from where

* ``FETCh?`` returns all of them (comma separated ASCII) once the measurement is done
  (it waits on the instrument if asked early),
* ``R? [<max_count>]`` reads *and erases* the readings completed so far, as an
  IEEE 488.2 definite-length block ``#<n><len><data>`` -- this is how long counts are
  watched while they run,
* ``DATA:POINts?`` says how many readings are in memory.

Readings are ASCII, 15 significant digits (``+1.23456000000000E+005``); a totalize
reading is an integer count.  A reading that did not complete within the
measurement timeout (``SYSTem:TIMeout``) is returned as ``9.91E37`` (not a number):
this driver turns it into :class:`CounterTimeoutValue` instead of a huge count.

Programming reference: Keysight 53220A/53230A User's Guide ch. 3 (totalize: gate
1 us .. 1000 s on the 53230A, 100 us .. 1000 s on the 53220A), ch. 5 (sample/trigger
count 1 .. 1,000,000), ch. 7 (data flow, R? and the definite-length block) and the
Programmer's Reference (R?, FETCh?: ``-230 "Data corrupt or stale"`` and no reply when
no measurement is in memory or in progress).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import Option, SCPIInstrument, parse_float, parse_in_range_attr, parse_int, parse_integral
from .errors import GarbledReply, InstrumentError, InstrumentTimeout, TransientError

__all__ = [
    "Keysight53230A",
    "SubgateCount",
    "CounterTimeoutValue",
    "INVALID_READING",
    "format_reading",
    "parse_definite_block",
]

#: what the counter returns for a reading that timed out or is invalid ("not a number")
INVALID_READING = 9.91e37
#: 9.9E37 is SCPI "infinity"; anything at or above it is not a count
_NOT_A_COUNT = 9.9e37

#: the largest count that the 15 significant digits of an ASCII reading hold exactly
_MAX_EXACT_COUNT = 10**15
#: reading memory of the 53220A/53230A (readings)
READING_MEMORY = 1_000_000
#: TRIGger:SOURce names as the counter reports them
TRIGGER_SOURCES = ("IMM", "EXT", "BUS", "INT")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class CounterTimeoutValue(TransientError):
    """The counter returned 9.91E37: a reading did not complete (measurement timeout)."""


@dataclass(frozen=True)
class SubgateCount:
    """The result of :meth:`Keysight53230A.count_subgates`."""

    #: one count per completed sub-gate, in order
    counts: tuple[int, ...]
    #: length of each sub-gate (s)
    subgate_s: float
    #: False when the check callback stopped the count early
    completed: bool

    @property
    def total(self) -> int:
        """Sum of the sub-gate counts."""
        return sum(self.counts)

    @property
    def counted_s(self) -> float:
        """Time actually counted: completed sub-gates times the sub-gate length (s)."""
        return len(self.counts) * self.subgate_s


def format_reading(value: float) -> str:
    """A reading as the counter prints it in ASCII: ``+1.23456000000000E+005``.

    15 significant digits and a three-digit exponent (the emulator uses this too).
    """
    mantissa, exponent = f"{value:+.14E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"


def parse_definite_block(reply: str) -> str:
    """Payload of an IEEE 488.2 definite-length block ``#<n><len><data>``.

    ``n`` (1-9) is the number of digits of ``len``; ``len`` the number of data bytes.
    Raises ``ValueError`` if the header is malformed or the payload has another length
    (a block cut short by a dropped link, or two replies run together).
    """
    if len(reply) < 2 or reply[0] != "#":
        raise ValueError("definite-length block must start with '#<digit>'")
    if not reply[1].isdigit() or reply[1] == "0":
        # '#0' would be an indefinite-length block: R? never sends one
        raise ValueError(f"block header digit count must be 1-9, got {reply[1]!r}")
    ndigits = int(reply[1])
    length_text = reply[2 : 2 + ndigits]
    if len(length_text) != ndigits or not length_text.isdigit():
        raise ValueError(f"block length must be {ndigits} digit(s), got {length_text!r}")
    length = int(length_text)
    payload = reply[2 + ndigits :]
    if len(payload) != length:
        raise ValueError(f"block announces {length} bytes but carries {len(payload)}")
    return payload


class Keysight53230A(SCPIInstrument):
    """Keysight 53220A/53230A counter counting channeltron pulses (timed totalize).

    ``min_gate_s``/``max_gate_s`` default to the 53230A's gate range; pass
    ``min_gate_s=100e-6`` for a 53220A.  ``channel`` is the counter input (1 or 2).
    Every wait (for a gate to finish) goes through ``self.clock``.
    """

    model = "Keysight 53230A"
    options = {
        "channel": Option("int", "counter input", ge=1, le=2),
        "min_gate_s": Option("number", "shortest gate the counter model accepts", gt=0),
        "max_gate_s": Option("number", "longest gate the counter model accepts", gt=0),
    }
    write_termination = b"\n"
    read_termination = b"\n"
    default_timeout_s = 2.0

    #: readings per trigger / triggers per INIT accepted by the counter
    max_samples = 1_000_000
    #: how long after the nominal end of a gate we allow before asking for it: the
    #: counter re-arms between gates and formats readings (microseconds to ms)
    settle_s = 0.02

    def __init__(
        self,
        address: str,
        *,
        visa_backend: str = "@py",
        timeout_s: float | None = None,
        clock=None,
        transport=None,
        name: str | None = None,
        channel: int = 1,
        min_gate_s: float = 1e-6,
        max_gate_s: float = 1000.0,
    ) -> None:
        if channel not in (1, 2):
            raise ValueError(f"counter channel must be 1 or 2, got {channel!r}")
        self.channel = channel
        self.min_gate_s = float(min_gate_s)
        self.max_gate_s = float(max_gate_s)
        self._gate_s: float | None = None
        self._samples = 1
        self._started_at: float | None = None
        super().__init__(
            address, visa_backend=visa_backend, timeout_s=timeout_s, clock=clock, transport=transport, name=name
        )

    # ------------------------------------------------------------ configuration
    def configure_totalize(self, gate_s: float, samples: int = 1) -> None:
        """Timed totalize on the channel: ``samples`` gates of ``gate_s`` per INIT.

        Sends, as one program message, ``FORM ASC`` (readings as text),
        ``CONF:TOT:TIM <gate>,(@ch)`` (which also resets sample and trigger counts),
        ``SAMP:COUN``, ``TRIG:COUN 1`` and ``TRIG:SOUR IMM``, then reads the error
        queue.  Limits are checked first.
        """
        gate_s = float(gate_s)
        if not (math.isfinite(gate_s) and self.min_gate_s <= gate_s <= self.max_gate_s):
            raise self.limit_error("gate_s", gate_s, f"{self.min_gate_s:g} to {self.max_gate_s:g} s")
        if not _is_int(samples) or not (1 <= samples <= self.max_samples):
            raise self.limit_error("samples", samples, f"an integer 1 to {self.max_samples}")
        samples = int(samples)
        # One SCPI program message (";:" goes back to the root): the counter is set up
        # twice per point, and five round trips of the loopback stack were a tenth of a
        # simulated night.  %.9g: the 53230A resolves the gate to 1 us; never round a
        # gate to a shorter one.
        command = (
            f"FORM ASC;:CONF:TOT:TIM {gate_s:.9g},(@{self.channel});:SAMP:COUN {samples};"
            ":TRIG:COUN 1;:TRIG:SOUR IMM"
        )
        self.write(command)
        self.check_errors(after=command)
        self._gate_s = gate_s
        self._samples = samples
        self._started_at = None

    @property
    def gate_s(self) -> float | None:
        """Gate time last configured through this driver (s), None before."""
        return self._gate_s

    @property
    def samples(self) -> int:
        """Readings per INIT last configured through this driver."""
        return self._samples

    # ------------------------------------------------------------ measurement
    def start(self) -> None:
        """``INIT``: clear reading memory and start the configured gates now.

        The error queue is read right after: it reports ``-213 "Init ignored"`` when a
        measurement is already running, and its reply proves the counter has
        started before the driver begins timing the gates (INIT itself is silent).
        """
        self.write("INIT")
        self.check_errors(after="INIT")
        # timed from after the reply: never earlier than the counter's own start
        self._started_at = self.clock.now()

    def measurement_end(self) -> float | None:
        """Clock time by which the running measurement must be done (None if none started)."""
        if self._started_at is None or self._gate_s is None:
            return None
        return self._started_at + self._samples * self._gate_s + self.settle_s

    def fetch(self) -> list[int]:
        """``FETC?``: all counts of the measurement.

        Sleeps on ``self.clock`` until the configured measurement must be done before
        asking, so that the counter's own wait does not run into the I/O timeout.
        """
        end = self.measurement_end()
        if end is not None:
            self.clock.sleep_until(end)
        return self._parse_counts("FETC?", self._ask_data("FETC?"))

    def read_available(self, max_count: int | None = None) -> list[int]:
        """``R? [max_count]``: read and erase the readings completed so far (oldest first)."""
        if max_count is None:
            command = "R?"
        else:
            if not _is_int(max_count) or not 1 <= max_count <= self.max_samples:
                raise self.limit_error("max_count", max_count, f"an integer 1 to {self.max_samples}")
            command = f"R? {int(max_count)}"
        return self._read_block(command)[1]

    def _read_block(self, command: str = "R?") -> tuple[str, list[int]]:
        """``R?``: the reply as received and its counts."""
        reply = self._ask_data(command)
        try:
            payload = parse_definite_block(reply)
        except ValueError as exc:
            raise self.garbled(command, reply, f"not a definite-length block: {exc}") from None
        return reply, self._parse_counts(command, payload)

    def points_available(self) -> int:
        """``DATA:POIN?``: number of readings in reading memory (0 to 1,000,000)."""
        return self.ask_value("DATA:POIN?", lambda r: parse_int(r, 0, READING_MEMORY))

    def abort(self) -> None:
        """``ABOR``: stop the measurement in progress; no further readings appear.

        Followed by ``*OPC?`` (``1`` once the abort is done), so that nothing the
        caller does next -- reading the interlocks, moving on -- overtakes it.
        """
        self.write("ABOR")
        self._started_at = None
        reply = self.ask("*OPC?")
        if reply not in ("1", "+1"):
            raise self.garbled("*OPC?", reply, "operation-complete query must answer 1")

    def reset(self) -> None:
        """``*RST``: factory settings (gate 0.1 s, one sample), reading memory cleared."""
        super().reset()
        self._gate_s = None
        self._samples = 1
        self._started_at = None

    def count(self, gate_s: float) -> int:
        """Count pulses for one timed gate of ``gate_s`` and return the count."""
        self.configure_totalize(gate_s, 1)
        self.start()
        counts = self.fetch()
        if len(counts) != 1:
            raise self.garbled("FETC?", ",".join(map(str, counts)), f"expected 1 reading, got {len(counts)}")
        return counts[0]

    def count_subgates(
        self,
        subgate_s: float,
        n: int,
        check: Callable[[list[int]], bool] | None = None,
    ) -> SubgateCount:
        """Count ``n`` consecutive sub-gates of ``subgate_s`` with one INIT.

        After each sub-gate the completed readings are collected with ``R?`` and
        ``check(counts_so_far)`` is called once per new sub-gate.  If it returns False
        the counter is aborted (``ABOR``) and the result holds the sub-gates up to and
        including the one that ``check`` saw last, with ``completed=False``.  The
        engine uses this to watch interlocks during long counts and to estimate
        short-term stability from the scatter of the sub-gates.
        """
        self.configure_totalize(subgate_s, n)
        n = self._samples
        self.start()
        t0 = self._started_at
        counts: list[int] = []
        self._previous_block = None
        finished = False
        try:
            while len(counts) < n:
                new = self._wait_for_readings(t0, len(counts), n)
                for value in new:
                    counts.append(value)
                    if check is not None and not check(list(counts)):
                        self.abort()
                        finished = True
                        return SubgateCount(tuple(counts), self._gate_s, completed=False)
            finished = True
            return SubgateCount(tuple(counts), self._gate_s, completed=True)
        finally:
            if not finished:
                self._abort_quietly()

    # --------------------------------------------------------------- snapshot
    def settings(self) -> dict[str, Any]:
        """Gate time, sample count, trigger count and source as the counter has them."""
        gate = parse_in_range_attr("min_gate_s", "max_gate_s")
        settings: dict[str, Any] = {
            "channel": self.channel,
            "gate_s": self.ask_value("SENS:TOT:GATE:TIME?", lambda r: gate(self, r)),
            "samples": self.ask_value("SAMP:COUN?", lambda r: parse_integral(r, 1, self.max_samples)),
            "trigger_count": self.ask_value("TRIG:COUN?", lambda r: parse_integral(r, 1, self.max_samples)),
        }
        source = self.ask("TRIG:SOUR?")
        if source.upper() not in TRIGGER_SOURCES:
            raise self.garbled("TRIG:SOUR?", source, "not one of " + ", ".join(TRIGGER_SOURCES))
        settings["trigger_source"] = source.upper()
        return settings

    def probe(self) -> dict[str, Any]:
        """Cable check: identity, the pending error queue (drained), one 0.1 s count.

        Returns ``{"model", "address", "identity", "errors", "counts_in_0.1_s"}`` with
        ``errors`` a list of ``(code, message)``; raises a typed error if the counter
        does not answer.  The count is what a technician looks at: pulses arriving.
        """
        identity = self.identity()
        errors = []
        for _ in range(32):
            code, message = self.next_error()
            if code == 0:
                break
            errors.append((code, message))
        counts = self.count(0.1)
        return {"model": self.model, "address": self.address, "identity": identity, "errors": errors,
                "counts_in_0.1_s": counts}

    # ---------------------------------------------------------------- helpers
    def _ask_data(self, command: str) -> str:
        """Ask for readings; on silence, look in the error queue for the reason.

        FETC? and R? without a measurement queue ``-230 "Data corrupt or stale"`` and
        send nothing: a DeviceError naming that is more useful than a bare timeout.
        """
        try:
            return self.ask(command)
        except InstrumentTimeout:
            try:
                self.check_errors(after=command)
            except InstrumentTimeout:
                pass  # the counter is silent altogether: report the original timeout
            raise

    def _parse_counts(self, command: str, text: str) -> list[int]:
        """Comma-separated ASCII readings -> counts; 9.91E37 -> CounterTimeoutValue."""
        text = text.strip()
        if not text:
            return []
        counts = []
        for item in text.split(","):
            try:
                value = parse_float(item)
            except ValueError:
                raise self.garbled(command, text, f"reading {item!r} is not a number") from None
            if value >= _NOT_A_COUNT:
                raise CounterTimeoutValue(
                    f"counter returned {item.strip()} (not a number): a gate did not complete "
                    "within the measurement timeout",
                    instrument=self.name,
                    address=self.address,
                    command=command,
                    reply=text,
                )
            if not math.isfinite(value) or value < 0 or value != math.floor(value) or value >= _MAX_EXACT_COUNT:
                raise self.garbled(command, text, f"reading {item!r} is not a non-negative integer count")
            counts.append(int(value))
        return counts

    def _wait_for_readings(self, t0: float, have: int, n: int) -> list[int]:
        """Sleep until sub-gate ``have`` must be done, then collect with R?.

        A late counter gets until the I/O timeout past the nominal end before this
        gives up with InstrumentTimeout (it would otherwise wait forever).
        """
        gate = self._gate_s
        due = t0 + (have + 1) * gate + self.settle_s
        deadline = due + self.timeout_s
        poll_s = min(gate, 0.1)
        self.clock.sleep_until(due)
        while True:
            reply, new = self._read_block("R?")
            if new:
                if len(new) > n - have:
                    raise self.garbled("R?", reply, f"{have} of {n} sub-gates read, and this block holds {len(new)} more")
                self._check_not_stale(reply)
                return new
            if self.clock.now() >= deadline:
                raise InstrumentTimeout(
                    f"sub-gate {have + 1} of {n} not in reading memory {self.timeout_s:g} s after it should have ended",
                    instrument=self.name,
                    address=self.address,
                    command="R?",
                    reply="#10",
                )
            self.clock.sleep(poll_s)

    def _check_not_stale(self, reply: str) -> None:
        """A block byte for byte like the one before may be a stale duplicate, not the next sub-gate.

        Two consecutive sub-gates may count the same (a low background rate does that
        often); but a reply that arrived twice, or late, puts the previous block where
        the answer to this R? should be, and every later reply one behind.  Asking
        ``DATA:POIN?`` tells them apart: if the stream is in step its answer is an
        integer; if this block was stale, the real answer to this R? (a block) comes
        instead.  That is a garbled reply: the link is resynchronised and the count
        fails (the engine measures it again).
        """
        previous, self._previous_block = getattr(self, "_previous_block", None), reply
        if reply != previous:
            return
        try:
            self.points_available()
        except GarbledReply as exc:
            raise self.garbled(
                "R?", reply, f"block repeats the previous one, and the answer to DATA:POIN? was {exc.reply!r}: "
                "a stale duplicate, not the next sub-gate",
            ) from None

    def _abort_quietly(self) -> None:
        """Best-effort ABOR after a failure mid-count (the link may be the failure)."""
        try:
            self.abort()
        except InstrumentError as exc:
            self.log.warning("%s at %s: ABOR after a failed count also failed: %s", self.name, self.address, exc)


#: the driver of this model (drivers.MODELS finds it by this module's name)
DRIVER = Keysight53230A
