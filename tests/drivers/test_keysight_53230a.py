"""Byte-level protocol tests of the Keysight 53220A/53230A counter driver (timed totalize)."""

import math

import pytest

from drivers.errors import ConnectionLost, DeviceError, GarbledReply, InstrumentTimeout, LimitError, TransientError
from drivers.keysight_53230a import (
    CounterTimeoutValue,
    Keysight53230A,
    SubgateCount,
    format_reading,
    parse_definite_block,
)
from drivers.testing import ProtocolTransport, expected_protocol
from foundation.clock import VirtualClock
from simulators.keysight_53230a import Counter53230AEmulator
from tests.worldsetup import beam_on

NO_ERROR = (b"SYST:ERR?\n", b'+0,"No error"\n')
INIT = [(b"INIT\n", None), NO_ERROR]
ABORT = [(b"ABOR\n", None), (b"*OPC?\n", b"1\n")]


def configure(gate: bytes, samples: int, channel: int = 1):
    """The exchange of configure_totalize(gate, samples)."""
    return [
        (b"FORM ASC;:CONF:TOT:TIM " + gate + b",(@%d);:SAMP:COUN %d;:TRIG:COUN 1;:TRIG:SOUR IMM\n" % (channel, samples),
         None),
        NO_ERROR,
    ]


def reading(count) -> str:
    return format_reading(count)


def block(*counts) -> bytes:
    payload = ",".join(format_reading(c) for c in counts)
    length = str(len(payload))
    return f"#{len(length)}{length}{payload}\n".encode()


# --------------------------------------------------------------------- formats
def test_reading_format_is_the_counters():
    assert format_reading(123456) == "+1.23456000000000E+005"
    assert format_reading(0) == "+0.00000000000000E+000"
    assert format_reading(9.91e37) == "+9.91000000000000E+037"
    assert format_reading(0.1) == "+1.00000000000000E-001"


@pytest.mark.parametrize(
    "reply, payload",
    [
        ("#10", ""),
        ("#15abcde", "abcde"),
        ("#212" + "x" * 12, "x" * 12),
        ("#3114" + "y" * 114, "y" * 114),
        ("#40003abc", "abc"),
    ],
)
def test_definite_block_headers(reply, payload):
    assert parse_definite_block(reply) == payload


@pytest.mark.parametrize(
    "reply", ["", "#", "#0abc", "#a12", "#2", "#21", "#3x12abc", "#15abcd", "#15abcdef", "+1.0E+000"]
)
def test_malformed_definite_blocks(reply):
    with pytest.raises(ValueError):
        parse_definite_block(reply)


def test_subgate_count_totals():
    result = SubgateCount((10, 12, 9), 0.5, True)
    assert result.total == 31
    assert result.counted_s == pytest.approx(1.5)
    assert SubgateCount((), 2.0, False).total == 0
    assert SubgateCount((), 2.0, False).counted_s == 0.0


# ----------------------------------------------------------------- configure
def test_configure_totalize_sends_manual_commands():
    with expected_protocol(Keysight53230A, configure(b"0.5", 3)) as counter:
        counter.configure_totalize(0.5, 3)
        assert counter.gate_s == 0.5
        assert counter.samples == 3


def test_configure_on_channel_2_and_gate_limits():
    with expected_protocol(Keysight53230A, configure(b"1e-06", 1, channel=2) + configure(b"1000", 1, 2), channel=2) as c:
        c.configure_totalize(1e-6)
        c.configure_totalize(1000.0)


@pytest.mark.parametrize("gate", [0.0, 0.5e-6, -1.0, 1000.5, float("nan"), float("inf")])
def test_gate_outside_range_refused_before_sending(gate):
    with expected_protocol(Keysight53230A, []) as counter:
        with pytest.raises(LimitError, match="gate_s"):
            counter.configure_totalize(gate)


@pytest.mark.parametrize("samples", [0, -1, 1_000_001, 2.5, True, "3"])
def test_sample_count_outside_range_refused_before_sending(samples):
    with expected_protocol(Keysight53230A, []) as counter:
        with pytest.raises(LimitError, match="samples"):
            counter.configure_totalize(0.1, samples)


def test_53220a_gate_range_via_limits():
    with expected_protocol(Keysight53230A, configure(b"0.0001", 1), min_gate_s=100e-6) as counter:
        with pytest.raises(LimitError):
            counter.configure_totalize(50e-6)
        counter.configure_totalize(100e-6)


def test_configure_error_queue_raises_device_error():
    pairs = configure(b"0.5", 2)[:-1] + [
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        NO_ERROR,
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(DeviceError) as info:
            counter.configure_totalize(0.5, 2)
        assert info.value.code == -222
        assert "CONF:TOT:TIM" in str(info.value)
        assert counter.gate_s is None  # a refused configuration is not remembered


# ---------------------------------------------------------- start/fetch/read
def test_start_fetch_waits_for_the_measurement_on_the_clock():
    clock = VirtualClock()
    reply = ",".join(reading(c) for c in (12, 13, 0)).encode() + b"\n"
    pairs = configure(b"0.5", 3) + INIT + [(b"FETC?\n", reply)]
    with expected_protocol(Keysight53230A, pairs, clock=clock) as counter:
        counter.configure_totalize(0.5, 3)
        counter.start()
        assert clock.now() == 0.0
        assert counter.fetch() == [12, 13, 0]
        # FETC? went out only once the three gates must have ended
        assert clock.now() >= 1.5


def test_fetch_timeout_value_is_typed():
    pairs = configure(b"1", 2) + INIT + [(b"FETC?\n", b"+5.00000000000000E+000,+9.91000000000000E+037\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        counter.configure_totalize(1.0, 2)
        counter.start()
        with pytest.raises(CounterTimeoutValue) as info:
            counter.fetch()
        assert isinstance(info.value, TransientError)
        assert info.value.command == "FETC?"
        assert "9.91" in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [b"-1.00000000000000E+000\n", b"+1.50000000000000E+000\n", b"abc\n", b"+1.0E+000,,+2.0E+000\n", b"\xff\xfe\n"],
)
def test_fetch_garbled_counts(reply):
    with expected_protocol(Keysight53230A, [(b"FETC?\n", reply)]) as counter:
        with pytest.raises(GarbledReply):
            counter.fetch()


def test_fetch_without_measurement_reports_data_stale():
    pairs = [
        (b"FETC?\n", None),  # the counter sends nothing and queues -230
        (b"SYST:ERR?\n", b'-230,"Data corrupt or stale"\n'),
        NO_ERROR,
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(DeviceError) as info:
            counter.fetch()
        assert info.value.code == -230
        assert info.value.command == "FETC?"


def test_silent_fetch_with_empty_queue_stays_a_timeout():
    with expected_protocol(Keysight53230A, [(b"FETC?\n", None), NO_ERROR]) as counter:
        with pytest.raises(InstrumentTimeout):
            counter.fetch()


@pytest.mark.parametrize("counts", [(), (123456,), (1, 2), (5, 6, 7, 8, 9)])
def test_read_available_parses_blocks_of_any_header_width(counts):
    reply = block(*counts)
    with expected_protocol(Keysight53230A, [(b"R?\n", reply)]) as counter:
        assert counter.read_available() == list(counts)


def test_block_header_widths_in_the_replies_used():
    assert block() == b"#10\n"
    assert block(1).startswith(b"#222")
    assert block(1, 2).startswith(b"#245")
    assert block(5, 6, 7, 8, 9).startswith(b"#3114")


def test_read_available_with_max_count():
    with expected_protocol(Keysight53230A, [(b"R? 5\n", block(3, 4))]) as counter:
        assert counter.read_available(5) == [3, 4]
    with expected_protocol(Keysight53230A, []) as counter:
        with pytest.raises(LimitError):
            counter.read_available(0)


@pytest.mark.parametrize(
    "reply",
    [
        b"#245" + reading(1).encode() + b"\n",  # says 45 bytes, carries 22
        b"#0" + reading(1).encode() + b"\n",  # indefinite length: not what R? sends
        reading(1).encode() + b"\n",  # no block header at all
        b"#2\n",
        b"#222-1.00000000000000E+000\n",  # negative count
    ],
)
def test_read_available_garbled_blocks(reply):
    with expected_protocol(Keysight53230A, [(b"R?\n", reply)]) as counter:
        with pytest.raises(GarbledReply) as info:
            counter.read_available()
        assert info.value.command == "R?"


def test_read_available_timeout_value():
    with expected_protocol(Keysight53230A, [(b"R?\n", block(4, 9.91e37))]) as counter:
        with pytest.raises(CounterTimeoutValue) as info:
            counter.read_available()
        assert info.value.command == "R?"


def test_read_available_without_measurement_reports_data_stale():
    pairs = [(b"R?\n", None), (b"SYST:ERR?\n", b'-230,"Data corrupt or stale"\n'), NO_ERROR]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(DeviceError) as info:
            counter.read_available()
        assert info.value.code == -230


def test_read_available_connection_drop():
    with expected_protocol(Keysight53230A, [(b"R?\n", ProtocolTransport.DISCONNECT)]) as counter:
        with pytest.raises(ConnectionLost):
            counter.read_available()


def test_points_available_and_abort():
    pairs = [(b"DATA:POIN?\n", b"+3\n"), *ABORT, (b"DATA:POIN?\n", b"three\n"), (b"ABOR\n", None), (b"*OPC?\n", b"0\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.points_available() == 3
        counter.abort()
        with pytest.raises(GarbledReply):
            counter.points_available()
        with pytest.raises(GarbledReply):
            counter.abort()


def test_init_ignored_while_running_is_a_device_error():
    pairs = [(b"INIT\n", None), (b"SYST:ERR?\n", b'-213,"Init ignored"\n'), NO_ERROR]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(DeviceError) as info:
            counter.start()
        assert info.value.code == -213
        assert info.value.command == "INIT"


# -------------------------------------------------------------------- count
def test_count_one_gate():
    pairs = configure(b"2", 1) + INIT + [(b"FETC?\n", reading(4711).encode() + b"\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.count(2.0) == 4711


def test_count_with_wrong_number_of_readings_is_garbled():
    pairs = configure(b"2", 1) + INIT + [(b"FETC?\n", b"+1.0E+000,+2.0E+000\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(GarbledReply):
            counter.count(2.0)


def test_count_subgates_collects_each_subgate():
    clock = VirtualClock()
    pairs = configure(b"0.5", 3) + [
        *INIT,
        (b"R?\n", block(10)),
        (b"R?\n", block(12)),
        (b"R?\n", block(9)),
    ]
    seen = []

    def check(counts):
        seen.append(list(counts))
        return True

    with expected_protocol(Keysight53230A, pairs, clock=clock) as counter:
        result = counter.count_subgates(0.5, 3, check)
    assert result == SubgateCount((10, 12, 9), 0.5, True)
    assert result.total == 31 and result.counted_s == pytest.approx(1.5)
    assert seen == [[10], [10, 12], [10, 12, 9]]
    assert clock.now() >= 1.5


def test_count_subgates_polls_until_a_late_reading_arrives():
    pairs = configure(b"1", 2) + [
        *INIT,
        (b"R?\n", block()),  # not there yet: poll again
        (b"R?\n", block(7, 8)),  # late: both sub-gates at once
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.count_subgates(1.0, 2).counts == (7, 8)


def test_count_subgates_check_stops_early_and_aborts():
    pairs = configure(b"0.5", 5) + [
        *INIT,
        (b"R?\n", block(10)),
        (b"R?\n", block(11)),
        *ABORT,
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        result = counter.count_subgates(0.5, 5, lambda counts: len(counts) < 2)
    assert result.completed is False
    assert result.counts == (10, 11)
    assert result.counted_s == pytest.approx(1.0)


def test_count_subgates_check_sees_late_readings_one_by_one():
    pairs = configure(b"0.5", 4) + INIT + [(b"R?\n", block(1, 2, 3))] + ABORT
    with expected_protocol(Keysight53230A, pairs) as counter:
        result = counter.count_subgates(0.5, 4, lambda counts: counts[-1] != 2)
    assert result.counts == (1, 2) and not result.completed


def test_count_subgates_gives_up_on_a_stuck_counter_and_aborts():
    # gate 1 s, I/O timeout 0.25 s: R? at 1.02, 1.12, 1.22, 1.32 s, then give up
    pairs = configure(b"1", 2) + INIT + [(b"R?\n", block())] * 4 + ABORT
    with expected_protocol(Keysight53230A, pairs, timeout_s=0.25) as counter:
        with pytest.raises(InstrumentTimeout, match="sub-gate 1 of 2"):
            counter.count_subgates(1.0, 2)


def test_count_subgates_timeout_value_aborts():
    pairs = configure(b"0.5", 3) + INIT + [(b"R?\n", block(5)), (b"R?\n", block(9.91e37))] + ABORT
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(CounterTimeoutValue):
            counter.count_subgates(0.5, 3)


def test_count_subgates_limits_before_sending():
    with expected_protocol(Keysight53230A, []) as counter:
        with pytest.raises(LimitError):
            counter.count_subgates(0.5, 0)
        with pytest.raises(LimitError):
            counter.count_subgates(2000.0, 3)


# ------------------------------------------------------------ common/snapshot
def test_identity_clear_reset():
    idn = b"Agilent Technologies,53230A,MY50001234,02.05-1519.666-1.19-4.15-127-155-35\n"
    pairs = [(b"*IDN?\n", idn), (b"*CLS\n", None), (b"*RST\n", None)]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.identity().startswith("Agilent Technologies,53230A")
        counter.clear_status()
        counter.reset()
        assert counter.gate_s is None


def test_settings_and_snapshot():
    pairs = [
        (b"SENS:TOT:GATE:TIME?\n", b"+5.00000000000000E-001\n"),
        (b"SAMP:COUN?\n", b"+20\n"),
        (b"TRIG:COUN?\n", b"+1\n"),
        (b"TRIG:SOUR?\n", b"IMM\n"),
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.settings() == {
            "channel": 1,
            "gate_s": 0.5,
            "samples": 20,
            "trigger_count": 1,
            "trigger_source": "IMM",
        }


def test_probe_drains_error_queue():
    pairs = [
        (b"*IDN?\n", b"Keysight Technologies,53230A,MY0,1.0\n"),
        (b"SYST:ERR?\n", b'-113,"Undefined header"\n'),
        NO_ERROR,
    ] + configure(b"0.1", 1) + INIT + [(b"FETC?\n", reading(12).encode() + b"\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        probe = counter.probe()
    assert probe["counts_in_0.1_s"] == 12
    assert probe["identity"] == "Keysight Technologies,53230A,MY0,1.0"
    assert probe["errors"] == [(-113, "Undefined header")]
    assert probe["model"] == "Keysight 53230A"


def test_garbled_error_queue_entry():
    with expected_protocol(Keysight53230A, [(b"*IDN?\n", b"x\n"), (b"SYST:ERR?\n", b"nonsense\n")]) as counter:
        with pytest.raises(GarbledReply):
            counter.probe()


def test_channel_must_exist():
    with pytest.raises(ValueError):
        Keysight53230A("protocol-test", transport=ProtocolTransport([]), channel=3)


# ----------------------------------------------- against the emulator, via pyvisa-py


@pytest.fixture
def served(world, serve):
    emulator = Counter53230AEmulator(world)
    return emulator, serve(emulator)


@pytest.fixture
def live(served, world, clock):
    """(driver, emulator, server) over TCPIP::127.0.0.1::PORT::SOCKET with a beam on."""
    emulator, server = served
    beam_on(world)
    counter = Keysight53230A(server.visa_address, clock=clock, timeout_s=0.3)
    yield counter, emulator, server
    counter.close()


def within_poisson(n, expected, sigmas=5.0):
    return abs(n - expected) < sigmas * math.sqrt(expected)


def test_live_identity_and_settings(live):
    counter, _, _ = live
    assert "53230A" in counter.identity()
    counter.configure_totalize(0.25, 8)
    assert counter.settings() == {
        "channel": 1,
        "gate_s": 0.25,
        "samples": 8,
        "trigger_count": 1,
        "trigger_source": "IMM",
    }
    assert counter.snapshot()["gate_s"] == 0.25
    probe = counter.probe()  # a 0.1 s count of its own
    assert probe["errors"] == [] and probe["counts_in_0.1_s"] >= 0


def test_live_count_subgates_matches_world_rate(live, world, clock):
    counter, _, _ = live
    rate = world.measured_rate()
    assert rate > 1e3
    t0 = clock.now()
    result = counter.count_subgates(1.0, 10)
    assert result.completed and len(result.counts) == 10 and result.counted_s == 10.0
    expected = rate * result.counted_s
    assert within_poisson(result.total, expected)
    for k, n in enumerate(result.counts):
        assert within_poisson(n, world.expected_counts(t0 + k, t0 + k + 1))
    # the sub-gates scatter like Poisson counts, not like a constant
    assert len(set(result.counts)) > 1


def test_live_check_stops_after_two_subgates(live, world, clock):
    counter, _, _ = live
    seen = []

    def check(counts):
        seen.append(len(counts))
        return len(counts) < 2

    result = counter.count_subgates(0.5, 10, check)
    assert result.completed is False
    assert len(result.counts) == 2 and result.counted_s == 1.0
    assert seen == [1, 2]
    assert within_poisson(result.total, world.measured_rate() * 1.0)
    clock.advance(10.0)
    assert counter.points_available() == 0  # aborted: later sub-gates never appear


def test_live_count_and_fetch(live, world, clock):
    counter, _, _ = live
    assert within_poisson(counter.count(2.0), world.measured_rate() * 2.0)
    counter.configure_totalize(0.5, 4)
    counter.start()
    counts = counter.fetch()
    assert len(counts) == 4
    assert counter.fetch() == counts  # FETC? leaves reading memory alone
    assert counter.read_available(3) == counts[:3]
    assert counter.points_available() == 1


def test_live_timeout_value(live):
    counter, emulator, _ = live
    emulator.timeout_next = True
    with pytest.raises(CounterTimeoutValue):
        counter.count(0.5)
    assert counter.count(0.5) > 0


def test_live_fetch_without_measurement_is_data_stale(live):
    counter, _, _ = live
    counter.reset()
    with pytest.raises(DeviceError) as info:
        counter.fetch()
    assert info.value.code == -230
    assert counter.count(0.1) > 0


def test_live_device_refuses_gate_the_driver_was_misconfigured_for(served, clock):
    _, server = served
    counter = Keysight53230A(server.visa_address, clock=clock, timeout_s=0.3, max_gate_s=5000.0)
    try:
        with pytest.raises(DeviceError) as info:
            counter.configure_totalize(2000.0)
        assert info.value.code == -222
        assert counter.count(0.1) >= 0
    finally:
        counter.close()


def test_live_silence_then_recovers(live):
    counter, _, server = live
    server.faults.inject("silence")
    with pytest.raises(InstrumentTimeout):
        counter.identity()
    assert "53230A" in counter.identity()


def test_live_garbled_block_then_recovers(live):
    counter, _, server = live
    counter.configure_totalize(0.5, 2)
    counter.start()
    server.faults.inject("garble")
    with pytest.raises(GarbledReply):
        counter.read_available()
    assert counter.points_available() >= 0
    assert len(counter.fetch()) == 2


def test_live_truncated_reply_then_recovers(live):
    counter, _, server = live
    counter.configure_totalize(0.5, 3)
    counter.start()
    server.faults.inject("truncate")
    with pytest.raises(ConnectionLost):
        counter.fetch()
    counts = counter.fetch()  # the driver reconnects; the counter kept its readings
    assert len(counts) == 3


def test_live_dropped_connection_mid_count_then_recovers(live, world):
    counter, emulator, server = live

    def pull_the_cable_after_first_subgate(counts):
        if len(counts) == 1:
            server.faults.inject("drop")  # the next R? finds the link gone
        return True

    with pytest.raises(ConnectionLost):
        counter.count_subgates(0.5, 4, pull_the_cable_after_first_subgate)
    # the driver reconnected to abort the orphaned measurement
    assert emulator.measurement.aborted_at is not None
    result = counter.count_subgates(0.5, 4)
    assert result.completed and len(result.counts) == 4
    assert within_poisson(result.total, world.measured_rate() * 2.0)


def test_live_drop_before_configure_then_recovers(live):
    counter, _, server = live
    server.faults.inject("drop")
    with pytest.raises(ConnectionLost):
        counter.configure_totalize(0.5, 2)
    counter.configure_totalize(0.5, 2)
    counter.start()
    assert len(counter.fetch()) == 2


# ------------------------------------------------------------ trust: stale blocks, strict readings
def test_a_stale_duplicate_block_is_not_taken_as_the_next_subgate():
    # the reply to the first R? arrives twice: its copy would answer the second R?,
    # and every later reply would be one behind (the last sub-gate lost)
    pairs = configure(b"0.5", 3) + INIT + [
        (b"R?\n", block(10) + block(10)),
        (b"R?\n", block(12)),
        (b"DATA:POIN?\n", b"+0\n"),  # its answer comes after the real block(12)
        *ABORT,
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(GarbledReply, match="stale duplicate") as info:
            counter.count_subgates(0.5, 3)
    assert info.value.command == "R?"


def test_two_equal_subgates_in_a_row_are_counted_after_the_stream_is_proven_in_step():
    pairs = configure(b"0.5", 3) + INIT + [
        (b"R?\n", block(10)),
        (b"R?\n", block(10)),
        (b"DATA:POIN?\n", b"+0\n"),
        (b"R?\n", block(9)),
    ]
    with expected_protocol(Keysight53230A, pairs) as counter:
        assert counter.count_subgates(0.5, 3).counts == (10, 10, 9)


def test_more_readings_than_subgates_left_is_garbled_not_cut_off():
    pairs = configure(b"0.5", 2) + INIT + [(b"R?\n", block(1, 2, 3))] + ABORT
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(GarbledReply, match="holds 3 more"):
            counter.count_subgates(0.5, 2)


@pytest.mark.parametrize("item", [b"1e999", b"+1_0", b"nan", b"-inf", b"0x10"])
def test_a_non_finite_or_python_only_reading_is_garbled_not_a_counter_timeout(item):
    pairs = configure(b"2", 1) + INIT + [(b"FETC?\n", item + b"\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(GarbledReply):
            counter.count(2.0)


@pytest.mark.parametrize("reply", [b"1_0", b"-1", b"+2000000", b"inf", b"+1.5"])
def test_points_available_is_a_count_of_reading_memory(reply):
    with expected_protocol(Keysight53230A, [(b"DATA:POIN?\n", reply + b"\n")]) as counter:
        with pytest.raises(GarbledReply):
            counter.points_available()


GOOD_SETTINGS = [(b"SENS:TOT:GATE:TIME?\n", b"+5.0E-001\n"), (b"SAMP:COUN?\n", b"+20\n"),
                 (b"TRIG:COUN?\n", b"+1\n"), (b"TRIG:SOUR?\n", b"IMM\n")]


@pytest.mark.parametrize(
    "index, reply",
    [(0, b"nan"), (0, b"+5.0E+004"), (1, b"inf"), (1, b"+1.5"), (2, b"+1e400"), (2, b"0"), (3, b"\xfe#"), (3, b"NOW")],
)
def test_settings_replies_are_typed(index, reply):
    # int(float('inf')) raised OverflowError here; every reply now parses or is GarbledReply
    pairs = GOOD_SETTINGS[:index] + [(GOOD_SETTINGS[index][0], reply + b"\n")]
    with expected_protocol(Keysight53230A, pairs) as counter:
        with pytest.raises(GarbledReply):
            counter.settings()
