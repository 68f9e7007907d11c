"""Property-based fuzzing of every driver's reply parsing (hypothesis).

Each driver talks to a :class:`FakeDevice`: a healthy instrument answering from a
table, except that one request gets a fuzzed reply instead -- arbitrary bytes or
text, or the valid reply mutated (a byte dropped, duplicated, inserted or replaced,
the reply cut short or sent twice, a number swapped for ``nan``/``inf``/``1e999``/
``1_0``/a huge exponent).  Whatever comes back, each query method must

* raise nothing but the driver's typed errors (:class:`~drivers.errors.InstrumentError`),
* return no non-finite number and nothing outside the documented range of its quantity,
* and a ramp or a move must never send a value outside the configured limits.

The example count is bounded (``FUZZ_EXAMPLES`` per method) so the file runs in a few
seconds with the suite.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.errors import InstrumentError, InstrumentTimeout
from drivers.iseg_hv import RAMP_PERCENT_MAX, RAMP_PERCENT_MIN, Electrode, IsegHV
from drivers.keithley_6485 import CURRENT_RANGES_A, MAX_READING_A, Keithley6485
from drivers.keysight_53230a import Keysight53230A, format_reading
from drivers.keysight_e36xx import KeysightE36xx
from drivers.newport_smc100 import NewportSMC100
from drivers.numato_relay import NumatoRelay
from drivers.pfeiffer_tpg362 import TPG362
from drivers.transport import Transport
from foundation.clock import VirtualClock

#: examples per method in the suite (deterministic); XBEAM_FUZZ_EXAMPLES=5000 for a deep, random run
FUZZ_EXAMPLES = int(os.environ.get("XBEAM_FUZZ_EXAMPLES", "100"))
DEEP = "XBEAM_FUZZ_EXAMPLES" in os.environ

ENQ = b"\x05"
ETX = b"\x03"


# ----------------------------------------------------------------------------- the fake device
class FakeDevice(Transport):
    """An instrument that answers each request from ``answers`` (bytes or a function of
    the request), except ``fuzzed_key``, which gets ``fuzzed_reply``.  Requests it does not
    know get no reply (a timeout, at once).  Every write is recorded."""

    def __init__(self, answers: Callable[[bytes, FakeDevice], bytes | None], fuzzed_key, fuzzed_reply: bytes):
        self.address = "fuzz"
        self.answers = answers
        self.fuzzed_key = fuzzed_key
        self.fuzzed_reply = fuzzed_reply
        self.buffer = b""
        self.writes: list[bytes] = []
        self.state: dict = {}
        self._open = True

    def key(self, data: bytes):
        """The request a reply belongs to (the TPG's ENQ belongs to its mnemonic)."""
        return data

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        key = self.key(data)
        reply = self.fuzzed_reply if key == self.fuzzed_key else self.answers(data, self)
        if reply:
            self.buffer += reply

    def read_until(self, terminator: bytes) -> bytes:
        pos = self.buffer.find(terminator)
        if pos < 0:
            partial, self.buffer = self.buffer, b""
            raise InstrumentTimeout("no reply", address=self.address, reply=partial)
        data, self.buffer = self.buffer[:pos], self.buffer[pos + len(terminator):]
        return data

    def clear_input(self) -> None:
        self.buffer = b""

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open


class TPGDevice(FakeDevice):
    def key(self, data: bytes):
        if data == ENQ:
            return (self.state.get("last"), ENQ)
        if data != ETX:
            self.state["last"] = data
        return data


def table(replies: dict, terminator: bytes) -> Callable[[bytes, FakeDevice], bytes | None]:
    """A healthy device from ``request (without terminator) -> reply body | function``."""

    def answer(data: bytes, device: FakeDevice) -> bytes | None:
        request = data[: -len(terminator)] if data.endswith(terminator) else data
        reply = replies.get(request)
        if callable(reply):
            reply = reply(request, device)
        return None if reply is None else reply + terminator

    return answer


# ----------------------------------------------------------------------------- reply strategies
NASTY_NUMBERS = [
    "nan", "NaN", "inf", "-inf", "+Infinity", "1e999", "-1e400", "+1e400", "1_0", "1_000.5", "0x10", "1e-400",
    "+9.9E37", "-9.9E37", "9.91E37", "99999999999999999999999", "", "+", ".", "-0", "1e", "٣",
]
_NUMBER = re.compile(rb"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?")


@st.composite
def mutated(draw, valid: bytes, terminator: bytes) -> bytes:
    """A valid reply with one mutation."""
    body = valid[: -len(terminator)] if valid.endswith(terminator) else valid
    kind = draw(st.sampled_from(["drop", "duplicate", "insert", "replace", "truncate", "twice", "number", "float"]))
    if body and kind in ("drop", "duplicate", "replace", "truncate"):
        i = draw(st.integers(0, len(body) - 1))
        if kind == "drop":
            body = body[:i] + body[i + 1:]
        elif kind == "duplicate":
            body = body[:i] + body[i:i + 1] + body[i:]
        elif kind == "replace":
            body = body[:i] + bytes([draw(st.integers(0, 255))]) + body[i + 1:]
        else:
            body = body[:i]
    elif kind == "insert":
        i = draw(st.integers(0, len(body)))
        body = body[:i] + bytes([draw(st.integers(0, 255))]) + body[i:]
    elif kind == "twice":
        return valid + valid
    elif kind in ("number", "float"):
        spans = [m.span() for m in _NUMBER.finditer(body)]
        if spans:
            a, b = draw(st.sampled_from(spans))
            if kind == "number":
                text = draw(st.sampled_from(NASTY_NUMBERS))
            else:
                value = draw(st.floats(allow_nan=True, allow_infinity=True))
                text = draw(st.sampled_from([repr(value), f"{value:+E}" if math.isfinite(value) else str(value)]))
            body = body[:a] + text.encode("utf-8") + body[b:]
    terminated = draw(st.integers(0, 9)) > 0  # mostly: an unterminated reply is only a timeout
    return body + (terminator if terminated else b"")


def replies(valid: bytes, terminator: bytes):
    arbitrary = st.one_of(
        st.binary(max_size=40),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.encode),
    ).map(lambda body: body + terminator)
    return st.one_of(mutated(valid, terminator), mutated(valid, terminator), arbitrary)


# ----------------------------------------------------------------------------- oracles
def finite(value, where="value"):
    """Every number anywhere in a returned value is finite."""
    if isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value!r}"
    elif isinstance(value, dict):
        for k, v in value.items():
            finite(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            finite(v, f"{where}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            finite(getattr(value, field.name), f"{where}.{field.name}")


def within(low, high):
    def check(value):
        assert low <= value <= high, f"{value!r} outside {low}..{high}"

    return check


def one_of(*allowed):
    def check(value):
        assert value in allowed, f"{value!r} not one of {allowed}"

    return check


def is_bool(value):
    assert isinstance(value, bool)


def no_check(value):
    pass


@dataclasses.dataclass
class Case:
    """One query method of one driver under fuzz."""

    name: str
    make: Callable[[Transport], object]
    device: type
    answers: Callable
    terminator: bytes
    keys: list  # the requests whose reply is fuzzed (one per example)
    call: Callable[[object], object]
    check: Callable[[object], None] = no_check
    sent_ok: Callable[[list[bytes]], None] | None = None  # what the driver wrote must satisfy this


CASES: list[Case] = []


def case(driver: str, name: str, keys, call, check=no_check, sent_ok=None):
    spec = DRIVERS[driver]
    CASES.append(Case(f"{driver}.{name}", spec["make"], spec["device"], spec["answers"], spec["term"],
                      [k if isinstance(k, (tuple, bytes)) else spec["key"](k) for k in keys], call, check, sent_ok))


# ----------------------------------------------------------------------------- TPG 362
def _tpg_key(mnemonic: str):
    return (mnemonic.encode() + b"\r\n", ENQ)


TPG_DATA = {
    "UNI": b"0", "PR1": b"0,+1.2300E-07", "PR2": b"1,+3.0012E-01", "PRX": b"0,+1.2300E-06,0,+2.9876E-01",
    "TID": b"PKR,CMR", "ERR": b"0000", "AYT": b"TPG362,PTG28290,44990000,010500,010100",
}


def _tpg_answers(data: bytes, device: FakeDevice) -> bytes | None:
    if data == ETX:
        return None
    if data == ENQ:
        last = device.state.get("last", b"")
        return TPG_DATA.get(last[:-2].decode("latin-1"), b"0000") + b"\r\n"
    return b"\x06\r\n"


def tpg_reading(reading):
    assert reading.status in (0, 1, 2) and reading.channel in (1, 2)
    assert abs(reading.value_mbar) < 1e100 * 1.34  # sx.xxxxEsxx in Torr at most


# ----------------------------------------------------------------------------- iseg
ISEG_ELECTRODES = {"lens": Electrode(1, -500.0, 500.0, 20.0), "cathode": Electrode(0, -310.0, 0.0, 20.0)}


def _iseg_vset(request: bytes, device: FakeDevice) -> bytes:
    channel = int(request.rsplit(b"@", 1)[1].rstrip(b")"))
    return f"{device.state.get(channel, -10.0 if channel == 0 else 10.0):.5E}V".encode()


def _iseg_answers(data: bytes, device: FakeDevice) -> bytes | None:
    request = data[:-2]
    m = re.fullmatch(rb":VOLT (-?[0-9.]+),\(@([0-9]+)\)", request)
    if m:
        device.state[int(m.group(2))] = float(m.group(1))
        return None
    if request.startswith((b":READ:VOLT? ", b":MEAS:VOLT? ")):
        return _iseg_vset(request, device) + b"\r\n"
    fixed = {b":READ:MOD:STAT?": b"30465", b":CONF:RAMP:VOLT?": b"5.000E+00%/s", b":READ:MOD:CHAN?": b"8",
             b"*IDN?": b"iseg Spezialelektronik GmbH,EBS 80 10,520001,5.26"}
    if request in fixed:
        return fixed[request] + b"\r\n"
    if request.startswith(b":READ:CHAN:STAT? "):
        return b"136\r\n"
    if request.startswith(b":MEAS:CURR? "):
        return b"2.50000E-05A\r\n"
    if request.startswith(b":READ:VOLT:NOM? "):
        return b"1.00000E+03V\r\n"
    return None


def iseg_sent_within_limits(writes):
    for w in writes:
        m = re.fullmatch(rb":VOLT (-?[0-9.]+),\(@([0-9]+)\)\r\n", w)
        if m:
            electrode = next(e for e in ISEG_ELECTRODES.values() if e.channel == int(m.group(2)))
            assert electrode.min_V <= float(m.group(1)) <= electrode.max_V, w


def iseg_status(status):
    assert 0 <= status.raw < 2**32


# ----------------------------------------------------------------------------- E36xx
def _e36_curr(request, device):
    return f"{device.state.get('curr', 1.0):+.8E}".encode()


def _e36_set_curr(request, device):
    device.state["curr"] = float(request.split()[1])
    return None


E36_REPLIES = {
    b"OUTP?": b"1", b"MEAS:CURR?": b"+1.00000000E+00", b"MEAS:VOLT?": b"+1.20000000E+00", b"CURR?": _e36_curr,
    b"VOLT?": b"+3.00000000E+00", b"VOLT:RANG?": b"P8V", b"SYST:ERR?": b'+0,"No error"',
    b"*IDN?": b"Agilent Technologies,E3633A,0,2.1-5.0-1.0",
}


def _e36_answers(data, device):
    request = data[:-1]
    if request.startswith(b"CURR "):
        return _e36_set_curr(request, device)
    return table(E36_REPLIES, b"\n")(data, device)


def e36_sent_within_limits(writes):
    for w in writes:
        if w.startswith(b"CURR "):
            assert 0.0 <= float(w.split()[1]) <= 2.8, w


# ----------------------------------------------------------------------------- Keithley 6485
K_READING = b"-1.000000E-07A,+1.000000E+00,+0.000000E+00"
K_REPLIES = {
    b"SYST:ZCH?": b"0", b"READ?": K_READING, b"FETC?": K_READING, b"FORM:ELEM?": b"READ,UNIT,TIME,STAT",
    b"SYST:ZCOR?": b"1", b"CURR:RANG:AUTO?": b"1", b"CURR:RANG?": b"2.000000E-07", b"CURR:NPLC?": b"6.000000E+00",
    b"*IDN?": b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,B03", b"SYST:ERR?": b'0,"No error"',
}


def k_reading(reading):
    assert abs(reading.current_A) <= MAX_READING_A
    assert reading.timestamp_s is None or 0 <= reading.timestamp_s < 100_000
    assert reading.status is None or 0 <= reading.status < 2**16


# ----------------------------------------------------------------------------- 53230A
def _block(request, device):
    device.state["n"] = device.state.get("n", 0) + 1
    payload = format_reading(100 + device.state["n"])
    return f"#{len(str(len(payload)))}{len(payload)}{payload}".encode()


C_REPLIES = {
    b"SYST:ERR?": b'+0,"No error"', b"FETC?": format_reading(5).encode(), b"R?": _block, b"DATA:POIN?": b"+0",
    b"*OPC?": b"1", b"SENS:TOT:GATE:TIME?": b"+1.00000000000000E-001", b"SAMP:COUN?": b"+3", b"TRIG:COUN?": b"+1",
    b"TRIG:SOUR?": b"IMM", b"*IDN?": b"Agilent Technologies,53230A,MY50001234,02.05",
}


def counts_ok(counts):
    counts = getattr(counts, "counts", counts)
    counts = [counts] if isinstance(counts, int) else counts
    assert all(isinstance(c, int) and 0 <= c < 10**15 for c in counts)


# ----------------------------------------------------------------------------- SMC100
def _smc_tp(request, device):
    return b"1TP" + device.state.get("pa", b"10")


def _smc_answers(data, device):
    request = data[:-2]
    if request.startswith(b"1PA") and request != b"1PA?":
        device.state["pa"] = request[3:]
        return None
    return table(SMC_REPLIES, b"\r\n")(data, device)


SMC_REPLIES = {
    b"1TS": b"1TS000033", b"1TP": _smc_tp, b"1TE": b"1TE@", b"1VA?": b"1VA20", b"1PA?": b"1PA60",
    b"1SL?": b"1SL-10", b"1SR?": b"1SR170", b"1ID?": b"1IDURS100BCC", b"1VE": b"1VE SMC_CC - x",
}


def smc_sent_within_limits(writes):
    for w in writes:
        if w.startswith(b"1PA") and w != b"1PA?\r\n":
            assert 20.0 <= float(w[3:-2]) <= 130.0, w


# ----------------------------------------------------------------------------- Numato
def _numato_answers(data, device):
    command = data[:-1].decode("latin-1")
    outputs = {"": None, "relay read 0": "on", "relay readall": "05", "ver": "00000008", "id get": "xbeam001",
               "relay on 0": None, "relay off 0": None}
    if command not in outputs:
        return None
    output = outputs[command]
    return (command + "\n\r" + ("" if output is None else output + "\n\r") + ">").encode("latin-1")


def _numato_key(command: str):
    return command.encode() + b"\r"


DRIVERS = {
    "tpg362": dict(make=lambda t: TPG362("fuzz", transport=t, clock=VirtualClock()), device=TPGDevice,
                   answers=_tpg_answers, term=b"\r\n", key=_tpg_key),
    "iseg_hv": dict(make=lambda t: IsegHV("fuzz", transport=t, clock=VirtualClock(), electrodes=ISEG_ELECTRODES),
                    device=FakeDevice, answers=_iseg_answers, term=b"\r\n", key=lambda c: c.encode() + b"\r\n"),
    "keysight_e36xx": dict(make=lambda t: KeysightE36xx("fuzz", transport=t, clock=VirtualClock(), max_current_A=2.8),
                           device=FakeDevice, answers=_e36_answers, term=b"\n", key=lambda c: c.encode() + b"\n"),
    "keithley_6485": dict(make=lambda t: Keithley6485("fuzz", transport=t, clock=VirtualClock()), device=FakeDevice,
                          answers=table(K_REPLIES, b"\n"), term=b"\n", key=lambda c: c.encode() + b"\n"),
    "keysight_53230a": dict(make=lambda t: Keysight53230A("fuzz", transport=t, clock=VirtualClock(), timeout_s=0.25),
                            device=FakeDevice, answers=table(C_REPLIES, b"\n"), term=b"\n",
                            key=lambda c: c.encode() + b"\n"),
    "newport_smc100": dict(make=lambda t: NewportSMC100("fuzz", transport=t, clock=VirtualClock(), move_timeout_s=2.0),
                           device=FakeDevice, answers=_smc_answers, term=b"\r\n", key=lambda c: c.encode() + b"\r\n"),
    "numato_relay": dict(make=lambda t: NumatoRelay("fuzz", transport=t, clock=VirtualClock()), device=FakeDevice,
                         answers=_numato_answers, term=b">", key=_numato_key),
}

# the valid reply of each fuzzed request (the seed of the mutations)
VALID: dict = {}

# ---- TPG 362
for m in TPG_DATA:
    VALID[_tpg_key(m)] = TPG_DATA[m] + b"\r\n"
VALID[b"PR1\r\n"] = b"\x06\r\n"  # the ACK
case("tpg362", "connect", ["UNI"], lambda d: d.cached_unit, one_of("mbar", "Torr", "Pa", "Micron", "hPa", "Volt"))
case("tpg362", "pressure", ["PR1", b"PR1\r\n"], lambda d: d.pressure(1), tpg_reading)
case("tpg362", "pressure_2", ["PR2"], lambda d: d.pressure(2), tpg_reading)
case("tpg362", "pressures", ["PRX"], lambda d: d.pressures(), lambda r: [tpg_reading(x) for x in r])
case("tpg362", "unit", ["UNI"], lambda d: d.unit, one_of("mbar", "Torr", "Pa", "Micron", "hPa", "Volt"))
case("tpg362", "gauges", ["TID"], lambda d: d.gauge_identification())
case("tpg362", "error_status", ["ERR"], lambda d: d.error_status(), lambda e: within(0, 15)(e.code))
case("tpg362", "identity", ["AYT", "TID"], lambda d: d.identity())
case("tpg362", "probe", ["AYT", "TID", "UNI", "PRX"], lambda d: d.probe())

# ---- iseg
for channel in (0, 1):
    VALID[f":READ:CHAN:STAT? (@{channel})\r\n".encode()] = b"136\r\n"
    VALID[f":READ:VOLT? (@{channel})\r\n".encode()] = b"1.00000E+01V\r\n"
    VALID[f":MEAS:VOLT? (@{channel})\r\n".encode()] = b"1.00000E+01V\r\n"
    VALID[f":MEAS:CURR? (@{channel})\r\n".encode()] = b"2.50000E-05A\r\n"
    VALID[f":READ:VOLT:NOM? (@{channel})\r\n".encode()] = b"1.00000E+03V\r\n"
VALID[b":READ:MOD:STAT?\r\n"] = b"30465\r\n"
VALID[b":CONF:RAMP:VOLT?\r\n"] = b"5.000E+00%/s\r\n"
VALID[b":READ:MOD:CHAN?\r\n"] = b"8\r\n"
VALID[b"*IDN?\r\n"] = b"iseg Spezialelektronik GmbH,EBS 80 10,520001,5.26\r\n"
case("iseg_hv", "channel_status", [":READ:CHAN:STAT? (@1)"], lambda d: d.channel_status("lens"), iseg_status)
case("iseg_hv", "module_status", [":READ:MOD:STAT?"], lambda d: d.module_status(), iseg_status)
case("iseg_hv", "voltage_setpoint", [":READ:VOLT? (@1)"], lambda d: d.voltage_setpoint(1))
case("iseg_hv", "nominal_voltage", [":READ:VOLT:NOM? (@1)"], lambda d: d.nominal_voltage(1))
case("iseg_hv", "measured", [":MEAS:VOLT? (@1)", ":MEAS:CURR? (@1)"],
     lambda d: (d.measured_voltage(1), d.measured_current(1)))
case("iseg_hv", "ramp_speed", [":CONF:RAMP:VOLT?"], lambda d: d.ramp_speed_percent,
     within(RAMP_PERCENT_MIN, RAMP_PERCENT_MAX))
case("iseg_hv", "channels", [":READ:MOD:CHAN?"], lambda d: d.module_channels(), within(1, 256))
case("iseg_hv", "ramp_to", [":READ:CHAN:STAT? (@1)", ":READ:VOLT? (@1)", ":MEAS:VOLT? (@1)",
                            ":READ:CHAN:STAT? (@0)", ":READ:VOLT? (@0)"],
     lambda d: d.ramp_to({"lens": 60.0, "cathode": -50.0}, timeout_s=3.0), sent_ok=iseg_sent_within_limits)
case("iseg_hv", "ramp_after_a_setting", [":READ:VOLT? (@1)", ":READ:CHAN:STAT? (@1)"],
     lambda d: (d.set_voltage("lens", 10.0), d.ramp_to({"lens": -40.0}, timeout_s=3.0)),
     sent_ok=iseg_sent_within_limits)
case("iseg_hv", "output_on", [":READ:VOLT? (@1)", ":READ:CHAN:STAT? (@1)"], lambda d: d.output("lens", True),
     sent_ok=iseg_sent_within_limits)
case("iseg_hv", "settings", [":READ:CHAN:STAT? (@0)", ":READ:VOLT? (@1)", ":CONF:RAMP:VOLT?"], lambda d: d.settings())
case("iseg_hv", "probe", ["*IDN?", ":READ:MOD:CHAN?", ":READ:MOD:STAT?", ":MEAS:VOLT? (@0)", ":MEAS:CURR? (@0)"],
     lambda d: d.probe())

# ---- E36xx
for request, reply in E36_REPLIES.items():
    VALID[request + b"\n"] = (reply if isinstance(reply, bytes) else b"+1.00000000E+00") + b"\n"
case("keysight_e36xx", "current", ["CURR?"], lambda d: d.current, within(0.0, 20.6))
case("keysight_e36xx", "voltage", ["VOLT?"], lambda d: d.voltage, within(0.0, 20.6))
case("keysight_e36xx", "output", ["OUTP?"], lambda d: d.output, is_bool)
case("keysight_e36xx", "voltage_range", ["VOLT:RANG?"], lambda d: d.voltage_range, one_of("P8V", "P20V"))
case("keysight_e36xx", "measured", ["MEAS:CURR?", "MEAS:VOLT?"], lambda d: (d.measured_current, d.measured_voltage),
     lambda v: [within(-21.7, 21.7)(x) for x in v])
case("keysight_e36xx", "errors", ["SYST:ERR?"], lambda d: d.next_error(), lambda e: within(-32768, 32767)(e[0]))
case("keysight_e36xx", "ramp", ["OUTP?", "MEAS:CURR?", "CURR?", "SYST:ERR?"],
     lambda d: d.ramp_current_to(2.2, step_A=0.5), lambda v: within(0.0, 2.8 + 2e-3)(v),
     sent_ok=e36_sent_within_limits)
case("keysight_e36xx", "ramp_after_a_setting", ["OUTP?", "CURR?"],
     lambda d: (setattr(d, "current", 1.0), d.ramp_current_to(0.0, step_A=0.5)), sent_ok=e36_sent_within_limits)
case("keysight_e36xx", "settings", ["CURR?", "VOLT?", "VOLT:RANG?", "OUTP?"], lambda d: d.settings())

# ---- Keithley 6485
for request, reply in K_REPLIES.items():
    VALID[request + b"\n"] = reply + b"\n"
case("keithley_6485", "read_reading", ["READ?", "SYST:ZCH?", "FORM:ELEM?", "CURR:RANG?"],
     lambda d: d.read_reading(), k_reading)
case("keithley_6485", "fetch_reading", ["FETC?"], lambda d: d.fetch_reading(), k_reading)
case("keithley_6485", "read_current", ["READ?"], lambda d: d.read_current(), within(-MAX_READING_A, MAX_READING_A))
case("keithley_6485", "booleans", ["SYST:ZCH?", "SYST:ZCOR?", "CURR:RANG:AUTO?"],
     lambda d: (d.zero_check, d.zero_correct, d.auto_range), lambda v: [is_bool(x) for x in v])
case("keithley_6485", "range_nplc", ["CURR:RANG?", "CURR:NPLC?"], lambda d: (d.current_range, d.nplc),
     lambda v: (one_of(*CURRENT_RANGES_A)(v[0]), within(0.01, 6.0)(v[1])))
case("keithley_6485", "data_elements", ["FORM:ELEM?"], lambda d: d.data_elements)
case("keithley_6485", "probe", ["*IDN?", "SYST:ZCH?", "READ?", "CURR:RANG?"], lambda d: d.probe())
case("keithley_6485", "settings", ["SYST:ZCOR?", "CURR:RANG?", "CURR:NPLC?", "FORM:ELEM?"], lambda d: d.settings())

# ---- 53230A
for request, reply in C_REPLIES.items():
    VALID[request + b"\n"] = (reply if isinstance(reply, bytes) else _block(b"", FakeDevice(None, None, b""))) + b"\n"
case("keysight_53230a", "points", ["DATA:POIN?"], lambda d: d.points_available(), within(0, 1_000_000))
case("keysight_53230a", "read_available", ["R?"], lambda d: d.read_available(), counts_ok)
case("keysight_53230a", "count", ["FETC?", "SYST:ERR?"], lambda d: d.count(0.1), counts_ok)
case("keysight_53230a", "count_subgates", ["R?", "SYST:ERR?", "DATA:POIN?", "*OPC?"],
     lambda d: d.count_subgates(0.1, 3), lambda r: (counts_ok(r), within(0, 3)(len(r.counts))))
case("keysight_53230a", "settings", ["SENS:TOT:GATE:TIME?", "SAMP:COUN?", "TRIG:COUN?", "TRIG:SOUR?"],
     lambda d: d.settings(), lambda s: (within(1e-6, 1000)(s["gate_s"]), within(1, 10**6)(s["samples"])))
case("keysight_53230a", "errors", ["SYST:ERR?"], lambda d: d.next_error())

# ---- SMC100
for request, reply in SMC_REPLIES.items():
    VALID[request + b"\r\n"] = (reply if isinstance(reply, bytes) else b"1TP10") + b"\r\n"
case("newport_smc100", "position", ["1TP"], lambda d: d.position_deg, within(-1e12, 1e12))
case("newport_smc100", "target", ["1PA?"], lambda d: d.target_position_deg, within(-1e12, 1e12))
case("newport_smc100", "state", ["1TS"], lambda d: d.state(), lambda s: within(0, 0xFFFF)(s.error_bits))
case("newport_smc100", "last_error", ["1TE"], lambda d: d.last_error())
case("newport_smc100", "velocity", ["1VA?"], lambda d: d.velocity_deg_s, lambda v: (v > 0, within(0, 1e12)(v)))
case("newport_smc100", "limits", ["1SL?", "1SR?"], lambda d: d.software_limits,
     lambda v: (within(-1e12, 0)(v[0]), within(0, 1e12)(v[1])))
case("newport_smc100", "move_to", ["1TS", "1TP", "1TE", "1VA?"], lambda d: d.move_to(60),
     lambda v: within(59.95, 60.05)(v), sent_ok=smc_sent_within_limits)
case("newport_smc100", "move_down", ["1TS", "1TP"], lambda d: d.move_to(30),
     lambda v: within(29.95, 30.05)(v), sent_ok=smc_sent_within_limits)
case("newport_smc100", "identity", ["1VE", "1ID?"], lambda d: d.identity())
case("newport_smc100", "settings", ["1TS", "1TP", "1VA?", "1SL?", "1SR?"], lambda d: d.settings())

# ---- Numato
for command in ("", "relay read 0", "relay readall", "ver", "id get", "relay on 0"):
    VALID[_numato_key(command)] = _numato_answers(_numato_key(command), None)
case("numato_relay", "connect", [""], lambda d: None)
case("numato_relay", "relay_state", ["relay read 0"], lambda d: d.relay_state(0), is_bool)
case("numato_relay", "states", ["relay readall"], lambda d: d.states(), lambda v: [is_bool(x) for x in v])
case("numato_relay", "relay_on", ["relay on 0"], lambda d: d.relay_on(0))
case("numato_relay", "identity", ["ver", "id get"], lambda d: (d.version(), d.module_id()))
case("numato_relay", "probe", ["id get", "ver", "relay readall"], lambda d: d.probe())


def test_every_driver_is_fuzzed():
    assert {c.name.split(".")[0] for c in CASES} == set(DRIVERS)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=not DEEP, database=None)
@given(data=st.data())
def test_only_typed_errors_and_no_out_of_range_values(c: Case, data):
    key = data.draw(st.sampled_from(c.keys), label="fuzzed request")
    reply = data.draw(replies(VALID.get(key, c.terminator), c.terminator), label="reply")
    device = c.device(c.answers, key, reply)
    try:
        driver = c.make(device)
        result = c.call(driver)
    except InstrumentError:
        result = None
    else:
        finite(result)
        c.check(result)
    if c.sent_ok is not None:
        c.sent_ok(device.writes)
