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
