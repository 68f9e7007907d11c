"""The shared driver machinery: descriptors, validators, typed errors, reconnect."""

import logging

import pytest

from drivers.base import SCPIInstrument, control, in_range, in_range_attr, measurement, one_of, setting
from drivers.errors import ConnectionLost, DeviceError, GarbledReply, InstrumentTimeout, LimitError
from drivers.testing import ProtocolMismatch, ProtocolTransport, expected_protocol
from drivers.transport import is_visa_address


class Toy(SCPIInstrument):
    model = "Toy 1000"
    max_level = 5.0
    min_level = 0.0
    level = control("LEV?", "LEV %g", "A level.", validator=in_range_attr("min_level", "max_level"), check_errors=True)
    mode = control("MODE?", "MODE %s", "Mode.", cast=str, validator=one_of("A", "B"))
    reading = measurement("READ?", "A reading.")
    gain = setting("GAIN %d", "Write-only gain.", validator=in_range(1, 10))


def test_control_get_and_set_with_error_check():
    with expected_protocol(Toy, [(b"LEV?\n", b"2.5\n"), (b"LEV 3\n", None), (b"SYST:ERR?\n", b'+0,"No error"\n')]) as toy:
        assert toy.level == 2.5
        toy.level = 3


def test_limit_refused_before_sending():
    with expected_protocol(Toy, []) as toy:
        with pytest.raises(LimitError, match=r"level = 7 refused before sending: allowed 0 to 5"):
            toy.level = 7
        with pytest.raises(LimitError, match="one of 'A', 'B'"):
            toy.mode = "C"
        with pytest.raises(LimitError):
            toy.gain = 11


def test_device_error_carries_code_and_all_queue_entries():
    pairs = [
        (b"LEV 1\n", None),
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        (b"SYST:ERR?\n", b'-113,"Undefined header"\n'),
        (b"SYST:ERR?\n", b'+0,"No error"\n'),
    ]
    with expected_protocol(Toy, pairs) as toy:
        with pytest.raises(DeviceError) as info:
            toy.level = 1
    err = info.value
    assert err.code == -222
    assert "Toy 1000" in str(err) and "LEV 1" in str(err) and "-113" in str(err)


def test_garbled_reply_names_command_and_reply():
    with expected_protocol(Toy, [(b"READ?\n", b"#$%\n")]) as toy:
        with pytest.raises(GarbledReply) as info:
            toy.reading
    assert info.value.command == "READ?" and info.value.reply == "#$%"
    assert "protocol-test" in str(info.value)


def test_timeout_then_resync_discards_late_reply():
    transport = ProtocolTransport([(b"READ?\n", None), (b"READ?\n", b"1.5\n")])
    toy = Toy("x", transport=transport)
    with pytest.raises(InstrumentTimeout):
        toy.reading
    transport.buffer = b"stale\n"  # the late reply of the timed-out query arrives
    assert toy.reading == 1.5
    transport.assert_done()


def test_disconnect_then_reconnect_on_next_call(caplog):
    transport = ProtocolTransport([(b"READ?\n", ProtocolTransport.DISCONNECT), (b"READ?\n", b"4\n")])
    toy = Toy("x", transport=transport)
    with pytest.raises(ConnectionLost):
        toy.reading
    transport.close()
    with caplog.at_level(logging.INFO):
        assert toy.reading == 4.0
    assert "reconnecting" in caplog.text


def test_protocol_mismatch_fails_the_test():
    with pytest.raises(ProtocolMismatch):
        with expected_protocol(Toy, [(b"LEV?\n", b"1\n")]) as toy:
            toy.reading


def test_snapshot_never_raises_on_flaky_link():
    with expected_protocol(Toy, [(b"*IDN?\n", None)]) as toy:
        snap = toy.snapshot()
    assert snap["model"] == "Toy 1000" and "snapshot_error" in snap


def test_traffic_logged_at_debug(caplog):
    with caplog.at_level(logging.DEBUG, logger="tests.drivers.test_base"):
        with expected_protocol(Toy, [(b"READ?\n", b"1\n")]) as toy:
            toy.reading
    assert "READ?" in caplog.text


@pytest.mark.parametrize(
    "address,visa",
    [
        ("TCPIP::127.0.0.1::5025::SOCKET", True),
        ("TCPIP0::10.0.0.2::inst0::INSTR", True),
        ("GPIB0::14::INSTR", True),
        ("ASRL/dev/ttyUSB0::INSTR", True),
        ("socket://127.0.0.1:5001", False),
        ("/dev/ttyUSB0", False),
        ("COM3", False),
        ("rfc2217://127.0.0.1:4000", False),
    ],
)
def test_address_kinds(address, visa):
    assert is_visa_address(address) is visa


# ---------------------------------------------------------------- strict numbers
from drivers.base import parse_float, parse_int, parse_integral, parse_register  # noqa: E402
from drivers.errors import ReadbackError  # noqa: E402


@pytest.mark.parametrize(
    "text, value",
    [("1.5", 1.5), (" +2.20000000E+00 ", 2.2), ("-4.99998E+01", -49.9998), (".5", 0.5), ("5.", 5.0), ("7", 7.0),
     ("1e-300", 1e-300), ("+9.9E37", 9.9e37)],
)
def test_parse_float_takes_what_instruments_send(text, value):
    assert parse_float(text) == value


@pytest.mark.parametrize(
    "text",
    ["nan", "NaN", "inf", "-inf", "+Infinity", "1e999", "-1e400", "1_0", "1_000.5", "0x1p3", "1e", "", "+", ".",
     "1.5.2", "\u0661", "1,5", "1 5", "--1"],
)
def test_parse_float_refuses_what_only_python_takes(text):
    with pytest.raises(ValueError):
        parse_float(text)


def test_integer_parsers_refuse_python_syntax_and_out_of_range_values():
    assert parse_int("+12") == 12 and parse_int("-3", -5, 5) == -3
    assert parse_integral("+1.000000E+01") == 10 and parse_register("30465", 16) == 30465
    assert parse_register("4294967295", 32) == 2**32 - 1
    for bad in ("1_0", "1.5", "inf", "99999999999999999999999"):
        with pytest.raises(ValueError):
            parse_register(bad, 32)
    for bad in ("1_0", "+1e400", "inf", "nan", "1.5"):
        with pytest.raises(ValueError):
            parse_integral(bad)
    with pytest.raises(ValueError):
        parse_int("7", 0, 5)


@pytest.mark.parametrize("reply", [b"nan\n", b"inf\n", b"1e999\n", b"1_0\n", b"-Infinity\n"])
def test_non_finite_reading_is_garbled(reply):
    with expected_protocol(Toy, [(b"READ?\n", reply)]) as toy:
        with pytest.raises(GarbledReply) as info:
            toy.reading
    assert info.value.reply == reply.decode().strip()


def test_a_cast_that_overflows_is_a_garbled_reply_not_an_overflow_error():
    with expected_protocol(Toy, [(b"READ?\n", b"inf\n")]) as toy:
        with pytest.raises(GarbledReply, match="cannot parse reply"):
            toy.ask_value("READ?", lambda r: int(float(r)))


def test_scpi_error_code_must_be_an_integer():
    with expected_protocol(Toy, [(b"SYST:ERR?\n", b'1_0,"x"\n'), (b"SYST:ERR?\n", b'+1e400,"x"\n')]) as toy:
        for _ in range(2):
            with pytest.raises(GarbledReply):
                toy.next_error()


# ---------------------------------------------------------------- commanded values, ramp starts
def test_a_setting_is_remembered_only_once_the_device_took_it():
    pairs = [
        (b"LEV 3\n", None), (b"SYST:ERR?\n", b'+0,"No error"\n'),
        (b"LEV 4\n", None), (b"SYST:ERR?\n", b'-222,"Data out of range"\n'), (b"SYST:ERR?\n", b'+0,"No error"\n'),
    ]
    with expected_protocol(Toy, pairs) as toy:
        assert toy.commanded("level") is None
        toy.level = 3
        assert toy.commanded("level") == 3.0
        with pytest.raises(DeviceError):
            toy.level = 4
        assert toy.commanded("level") is None  # refused: what the device holds is not known


def _start(toy, readback, commanded=None):
    if commanded is not None:
        toy.remember_commanded("level", commanded)
    check = lambda v: in_range_attr("min_level", "max_level")(toy, v, "level")  # noqa: E731
    return toy.ramp_start("level", readback, command="LEV?", reply=str(readback), check=check, tolerance=0.1,
                          what="level")


def test_ramp_start_is_the_commanded_value_checked_against_the_readback():
    with expected_protocol(Toy, []) as toy:
        assert _start(toy, 2.05, commanded=2.0) == 2.0  # the commanded value, not the readback
        with pytest.raises(ReadbackError, match="reads back 4.5, but 2 was commanded") as info:
            _start(toy, 4.5, commanded=2.0)
        assert info.value.readback == 4.5 and info.value.commanded == 2.0
        assert isinstance(info.value, GarbledReply)


def test_ramp_start_without_a_commanded_value_is_the_readback_within_the_limits():
    with expected_protocol(Toy, []) as toy:
        assert _start(toy, 4.5) == 4.5
        with pytest.raises(ReadbackError, match="outside the limits"):
            _start(toy, 9.5)
        with pytest.raises(ReadbackError, match="outside the limits"):
            _start(toy, 9.5, commanded=2.0)
