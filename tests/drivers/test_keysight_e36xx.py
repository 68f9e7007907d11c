"""Keysight E36xx filament supply: byte-level protocol, limits, ramp."""

import pytest

from drivers.errors import DeviceError, GarbledReply, InstrumentTimeout, LimitError, ReadbackError
from drivers.keysight_e36xx import KeysightE36xx, KeysightE3634A, parse_output_state
from drivers.testing import expected_protocol
from foundation.clock import VirtualClock

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


OUTPUT_ON = (b"OUTP?\n", b"1\n")


def test_ramp_steps_up_from_the_measured_current_with_delays_and_readback():
    clock = VirtualClock()
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+2.00000000E+00\n")]
    for value in (b"2.0500", b"2.1000", b"2.1500", b"2.2000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", b"+" + value + b"0000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs, clock=clock) as psu:
        assert psu.ramp_current_to(2.2, step_A=0.05, step_delay_s=2.0) == pytest.approx(2.2)
    assert clock.now() == pytest.approx(3 * 2.0)  # a pause between steps, none after the last


def test_ramp_splits_into_equal_steps_no_larger_than_step():
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+1.00000000E+00\n")]
    for value in (b"0.9333", b"0.8667", b"0.8000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.ramp_current_to(0.8, step_A=0.07, step_delay_s=0.5)


def test_a_ramp_down_ends_at_exactly_zero_amps():
    """From 10 mA in 57 steps, start + (0 - start) * 57 / 57 is -1.7e-18 A in floating
    point, which the limits refuse (the filament was left one step up at the end of a
    night in the queue soak): the last step is the target itself."""
    start, steps = 0.01, 57
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+1.00000000E-02\n")]
    for i in range(1, steps + 1):
        value = (b"%.4f" % (start - start * i / steps)) if i < steps else b"0.0000"
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        assert psu.ramp_current_to(0.0, step_A=0.000177, step_delay_s=0.0) == 0.0


def test_ramp_with_output_off_starts_at_zero_amps_then_switches_on():
    clock = VirtualClock()
    pairs = [
        (b"OUTP?\n", b"0\n"),
        (b"CURR 0.0000\n", None),  # after *RST the setpoint is the range's full current
        NO_ERROR,
        (b"CURR?\n", b"+0.00000000E+00\n"),
        (b"OUTP ON\n", None),
        NO_ERROR,
    ]
    for value in (b"0.0500", b"0.1000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    with expected_protocol(KeysightE36xx, pairs, clock=clock) as psu:
        psu.ramp_current_to(0.1)
    assert clock.now() == pytest.approx(1.0)


def test_ramp_to_zero_with_output_off_leaves_it_off():
    pairs = [(b"OUTP?\n", b"0\n"), (b"CURR 0.0000\n", None), NO_ERROR, (b"CURR?\n", b"+0.00000000E+00\n")]
    pairs += [(b"CURR 0.0000\n", None), NO_ERROR, (b"CURR?\n", b"+0.00000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        assert psu.ramp_current_to(0.0) == 0.0


def test_ramp_to_the_flowing_current_sets_the_setpoint_once():
    # CV-limited: 1.2 A flows although the setpoint is higher; the setpoint still ends at the target
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+1.20000000E+00\n"), (b"CURR 1.2000\n", None), NO_ERROR]
    pairs += [(b"CURR?\n", b"+1.20000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        assert psu.ramp_current_to(1.2) == pytest.approx(1.2)


def test_ramp_from_a_current_beyond_the_limit_is_refused():
    # 3.1 A flowing with max_current_A = 3: set at the front panel, or a wrong reply.
    # Ramping down from it would send 3.05 A, beyond the limit; nothing is sent.
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+3.10000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(ReadbackError, match="filament current reads back 3.1, outside the limits"):
            psu.ramp_current_to(3.0)


def test_ramp_refuses_target_beyond_limit_before_sending():
    with expected_protocol(KeysightE36xx, []) as psu:
        with pytest.raises(LimitError):
            psu.ramp_current_to(3.5)
        with pytest.raises(LimitError):
            psu.ramp_current_to(2.0, step_A=0)
        with pytest.raises(LimitError):
            psu.ramp_current_to(2.0, step_delay_s=-1)


def test_ramp_stops_when_readback_disagrees():
    pairs = [
        OUTPUT_ON,
        (b"MEAS:CURR?\n", b"+0.00000000E+00\n"),
        (b"CURR 0.0500\n", None),
        NO_ERROR,
        (b"CURR?\n", b"+0.00000000E+00\n"),
    ]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        with pytest.raises(DeviceError, match="reads back"):
            psu.ramp_current_to(0.1)


def test_ramp_stops_at_a_refused_step():
    pairs = [
        OUTPUT_ON,
        (b"MEAS:CURR?\n", b"+0.00000000E+00\n"),
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


# ---------------------------------------------------------------- through the real stack
from drivers.errors import ConnectionLost, TransientError  # noqa: E402
from simulators.keysight_e36xx import E36xxEmulator  # noqa: E402


@pytest.fixture
def served(world, clock, serve):
    """The emulator on a loopback socket and the driver on pyvisa-py, one virtual clock."""
    server = serve(E36xxEmulator(world))
    psu = KeysightE36xx(server.visa_address, timeout_s=0.3, clock=clock)
    yield server, psu
    psu.close()


def test_stack_identity_settings_probe(served, world):
    server, psu = served
    assert server.visa_address.startswith("TCPIP::127.0.0.1::")
    assert "E3633A" in psu.identity()
    psu.voltage = 3.0
    psu.current = 2.2
    psu.output = True
    assert psu.settings()["output"] is True
    probe = psu.probe()
    assert probe["measured_current_A"] == pytest.approx(2.2)
    assert probe["measured_voltage_V"] == pytest.approx(2.2 * world.config.filament_resistance_ohm)


def test_stack_ramp_never_steps_more_than_step_and_takes_its_time(served, world, clock):
    server, psu = served
    set_filament = world.set_filament
    psu.voltage = 3.0  # power-on state otherwise: output off, current setpoint 20.6 A
    flowing = []
    world.set_filament = lambda **kw: (set_filament(**kw), flowing.append(world.filament_current_A()))
    t0 = clock.now()
    assert psu.ramp_current_to(2.2, step_A=0.05, step_delay_s=1.0) == pytest.approx(2.2)
    assert clock.now() - t0 == pytest.approx(43.0)  # 44 steps, a second between them
    assert max(b - a for a, b in zip([0.0] + flowing, flowing)) <= 0.05 + 1e-9  # never a step
    assert len(flowing) == 46  # CURR 0, OUTP ON, 44 steps
    assert world.filament_current_A() == pytest.approx(2.2)
    assert psu.output is True


def test_stack_refused_setting_raises_device_error_then_works(world, clock, serve):
    # driver limits wider than the supply's present 8 V range: the supply itself refuses
    server = serve(E36xxEmulator(world))
    psu = KeysightE36xx(server.visa_address, timeout_s=0.3, clock=clock, max_voltage_V=20.0)
    try:
        with pytest.raises(DeviceError) as info:
            psu.voltage = 12.0
        assert info.value.code == -222
        assert world.filament_voltage_set_V == 0.0
        psu.voltage_range = "P20V"
        psu.voltage = 12.0
        assert psu.voltage == pytest.approx(12.0)
    finally:
        psu.close()


@pytest.mark.parametrize(
    "fault, error",
    [("silence", InstrumentTimeout), ("garble", GarbledReply), ("truncate", ConnectionLost), ("drop", ConnectionLost)],
)
def test_stack_faults_are_typed_and_the_driver_recovers(served, fault, error):
    server, psu = served
    psu.current = 1.25
    server.faults.inject(fault)
    with pytest.raises(error) as info:
        psu.measured_voltage
    assert isinstance(info.value, TransientError)
    assert "MEAS:VOLT?" in str(info.value) and server.visa_address in str(info.value)
    assert psu.current == pytest.approx(1.25)
    assert psu.identity().startswith("Agilent Technologies,E3633A")


def test_stack_survives_a_pulled_cable(served):
    server, psu = served
    psu.current = 0.5
    server.drop_connections()
    with pytest.raises(ConnectionLost):
        psu.current
    assert psu.current == pytest.approx(0.5)  # reconnected; the supply kept its state


# ---------------------------------------------------------------- trust: ramps never overshoot, strict replies
def test_a_wrong_measured_current_is_not_the_start_of_a_ramp():
    # the reply that made the old driver send CURR 9.8000 to a filament limited to 2.8 A
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+9.85000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs, max_current_A=2.8) as psu:
        with pytest.raises(ReadbackError, match="outside the limits") as info:
            psu.ramp_current_to(2.2)
    assert info.value.command == "MEAS:CURR?" and info.value.reply == "+9.85000000E+00"


def test_the_ramp_starts_from_the_commanded_current_checked_against_the_setpoint():
    pairs = [(b"CURR 2.0000\n", None), NO_ERROR]
    # the next ramp: the setpoint reads back what was commanded, the ramp goes on from 2.0 A
    pairs += [OUTPUT_ON, (b"CURR?\n", b"+2.00000000E+00\n")]
    for value in (b"2.0500", b"2.1000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    # then a setpoint far from the 2.1 A commanded: no step is sent
    pairs += [OUTPUT_ON, (b"CURR?\n", b"+2.80000000E+00\n")]
    with expected_protocol(KeysightE36xx, pairs, max_current_A=2.8) as psu:
        psu.current = 2.0
        psu.ramp_current_to(2.1)
        assert psu.commanded("current") == 2.1
        with pytest.raises(ReadbackError, match="reads back 2.8, but 2.1 was commanded"):
            psu.ramp_current_to(0.0)


def test_every_step_goes_through_the_current_validator(monkeypatch):
    seen = []
    validator = KeysightE36xx.current.validator

    def spy(inst, value, what):
        seen.append(round(value, 4))
        return validator(inst, value, what)

    monkeypatch.setattr(KeysightE36xx.current, "validator", spy)
    pairs = [OUTPUT_ON, (b"MEAS:CURR?\n", b"+1.00000000E+00\n")]
    for value in (b"1.0500", b"1.1000"):
        pairs += [(b"CURR " + value + b"\n", None), NO_ERROR, (b"CURR?\n", value + b"\n")]
    with expected_protocol(KeysightE36xx, pairs) as psu:
        psu.ramp_current_to(1.1)
    assert {1.05, 1.1} <= set(seen)


@pytest.mark.parametrize(
    "command, reply",
    [(b"MEAS:CURR?", b"nan"), (b"MEAS:CURR?", b"+1e999"), (b"MEAS:CURR?", b"1_0"), (b"MEAS:CURR?", b"+9.9E+37"),
     (b"MEAS:VOLT?", b"inf"), (b"CURR?", b"-1.00000000E+00"), (b"CURR?", b"+2.10000000E+01"),
     (b"VOLT?", b"Infinity"), (b"VOLT:RANG?", b"P99V")],
)
def test_readbacks_beyond_what_the_model_can_hold_are_garbled(command, reply):
    attribute = {b"MEAS:CURR?": "measured_current", b"MEAS:VOLT?": "measured_voltage", b"CURR?": "current",
                 b"VOLT?": "voltage", b"VOLT:RANG?": "voltage_range"}[command]
    with expected_protocol(KeysightE36xx, [(command + b"\n", reply + b"\n")]) as psu:
        with pytest.raises(GarbledReply):
            getattr(psu, attribute)
