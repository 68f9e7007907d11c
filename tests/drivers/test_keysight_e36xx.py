"""Keysight E36xx filament supply: byte-level protocol, limits, ramp."""

import pytest

from acquisition.clock import VirtualClock
from drivers.errors import DeviceError, GarbledReply, InstrumentTimeout, LimitError
from drivers.keysight_e36xx import KeysightE3634A, KeysightE36xx, parse_output_state
from drivers.testing import expected_protocol

NO_ERROR = (b"SYST:ERR?\n", b'+0,"No error"\n')


def test_identity():
    with expected_protocol(KeysightE36xx, [(b"*IDN?\n", b"Agilent Technologies,E3633A,0,2.1-5.0-1.0\n")]) as psu:
        assert psu.identity() == "Agilent Technologies,E3633A,0,2.1-5.0-1.0"


def test_clear_status_and_reset():
    with expected_protocol(KeysightE36xx, [(b"*CLS\n", None), (b"*RST\n", None)]) as psu:
        psu.clear_status()
        psu.reset()


def test_current_setpoint_set_checks_errors_and_reads_back():
    pairs = [(b"CURR 2.2000\n", None), NO_ERROR, (b"CURR?\n", b"+2.20000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.current = 2.2
        assert psu.current == pytest.approx(2.2)


def test_voltage_setpoint():
    pairs = [(b"VOLT 1.5000\n", None), NO_ERROR, (b"VOLT?\n", b"+1.50000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.voltage = 1.5
        assert psu.voltage == pytest.approx(1.5)


def test_output_on_off_and_query():
    pairs = [
        (b"OUTP ON\n", None),
        NO_ERROR,
        (b"OUTP?\n", b"1\n"),
        (b"OUTP OFF\n", None),
        NO_ERROR,
        (b"OUTP?\n", b"0\n"),
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.output = True
        assert psu.output is True
        psu.output = False
        assert psu.output is False


def test_voltage_range():
    pairs = [(b"VOLT:RANG P20V\n", None), NO_ERROR, (b"VOLT:RANG?\n", b"P20V\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.voltage_range = "p20v"
        assert psu.voltage_range == "P20V"


def test_voltage_range_of_the_e3634a():
    pairs = [(b"VOLT:RANG P50V\n", None), NO_ERROR]
    with expected_protocol(KeysightE3634A, pairs, max_voltage_V=50.0) as psu:
        psu.voltage_range = "P50V"
        with pytest.raises(LimitError):
            psu.voltage_range = "P8V"


def test_measurements():
    pairs = [(b"MEAS:CURR?\n", b"+2.19980000E+00\n"), (b"MEAS:VOLT?\n", b"+1.20989000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        assert psu.measured_current == pytest.approx(2.1998)
        assert psu.measured_voltage == pytest.approx(1.20989)


@pytest.mark.parametrize(
    "attribute, value",
    [("current", 3.01), ("current", -0.1), ("voltage", 8.5), ("voltage", -1.0), ("output", "yes"), ("voltage_range", "P6V")],
)
def test_limits_refuse_before_sending(attribute, value):
    with expected_protocol(KeysightE36xx, []) as psu:  # an empty script: any byte sent fails the test
        with pytest.raises(LimitError) as info:
            setattr(psu, attribute, value)
        assert attribute in str(info.value)


def test_configured_limits_apply():
    with expected_protocol(KeysightE36xx, [(b"CURR 1.0000\n", None), NO_ERROR], max_current_A=1.0) as psu:
        psu.current = 1.0
        with pytest.raises(LimitError, match="max_current_A"):
            psu.current = 1.2


def test_refused_setting_raises_device_error_with_code():
    pairs = [
        (b"VOLT 7.0000\n", None),
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        NO_ERROR,
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(DeviceError) as info:
            psu.voltage = 7.0
    assert info.value.code == -222
    assert "Data out of range" in str(info.value)
    assert "VOLT 7.0000" in str(info.value)


def test_whole_error_queue_is_read():
    pairs = [
        (b"OUTP ON\n", None),
        (b"SYST:ERR?\n", b'-113,"Undefined header"\n'),
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        NO_ERROR,
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(DeviceError) as info:
            psu.output = True
    assert info.value.code == -113
    assert "-222" in str(info.value)


def test_garbled_number_and_output_state():
    pairs = [(b"CURR?\n", b"+2.2\x00E\n"), (b"OUTP?\n", b"2\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(GarbledReply):
            psu.current
        with pytest.raises(GarbledReply):
            psu.output


def test_silence_times_out():
    with expected_protocol(KeysightE36xx, [(b"MEAS:CURR?\n", None)]) as psu:
        with pytest.raises(InstrumentTimeout):
            psu.measured_current


def test_ramp_steps_up_with_delays_and_readback():
    clock = VirtualClock()
    pairs = [(b"CURR?\n", b"+2.00000000E+00\n")]
    for value in (b"2.0500", b"2.1000", b"2.1500", b"2.2000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", b"+" + value + b"0000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs, clock=clock) as psu:
        assert psu.ramp_current_to(2.2, step_A=0.05, step_delay_s=2.0) == pytest.approx(2.2)
    assert clock.now() == pytest.approx(3 * 2.0)  # a pause between steps, none after the last


def test_ramp_splits_into_equal_steps_no_larger_than_step():
    pairs = [(b"CURR?\n", b"+1.00000000E+00\n")]
    for value in (b"0.9333", b"0.8667", b"0.8000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.ramp_current_to(0.8, step_A=0.07, step_delay_s=0.5)


def test_ramp_to_present_setpoint_sends_no_step():
    with expected_protocol(KeysightE36xx, [(b"CURR?\n", b"+2.20000000E+00\n")]) as psu:
        assert psu.ramp_current_to(2.2) == pytest.approx(2.2)


def test_ramp_refuses_target_beyond_limit_before_sending():
    with expected_protocol(KeysightE36xx, []) as psu:
        with pytest.raises(LimitError):
            psu.ramp_current_to(3.5)
        with pytest.raises(LimitError):
            psu.ramp_current_to(2.0, step_A=0)


def test_ramp_stops_when_readback_disagrees():
    pairs = [
        (b"CURR?\n", b"+0.00000000E+00\n"),
        (b"CURR 0.0500\n", None),
        NO_ERROR,
        (b"CURR?\n", b"+0.00000000E+00\n"),
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(DeviceError, match="reads back"):
            psu.ramp_current_to(0.1)


def test_ramp_stops_at_a_refused_step():
    pairs = [
        (b"CURR?\n", b"+0.00000000E+00\n"),
        (b"CURR 0.0500\n", None),
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        NO_ERROR,
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(DeviceError) as info:
            psu.ramp_current_to(0.1)
    assert info.value.code == -222


def test_settings_and_probe():
    pairs = [
        (b"CURR?\n", b"+2.20000000E+00\n"),
        (b"VOLT?\n", b"+2.00000000E+00\n"),
        (b"VOLT:RANG?\n", b"P8V\n"),
        (b"OUTP?\n", b"1\n"),
        (b"*IDN?\n", b"Agilent Technologies,E3633A,0,2.1-5.0-1.0\n"),
        (b"MEAS:CURR?\n", b"+2.19990000E+00\n"),
        (b"MEAS:VOLT?\n", b"+1.20990000E+00\n"),
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        assert psu.settings() == {
            "current_setpoint_A": pytest.approx(2.2),
            "voltage_setpoint_V": pytest.approx(2.0),
            "voltage_range": "P8V",
            "output": True,
            "max_current_A": 3.0,
            "max_voltage_V": 8.0,
        }
        probe = psu.probe()
    assert probe == {
        "identity": "Agilent Technologies,E3633A,0,2.1-5.0-1.0",
        "measured_current_A": pytest.approx(2.1999),
        "measured_voltage_V": pytest.approx(1.2099),
    }


def test_parse_output_state():
    assert parse_output_state("1") is True
    assert parse_output_state("0") is False
    with pytest.raises(ValueError):
        parse_output_state("1.5")
