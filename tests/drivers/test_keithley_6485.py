"""Keithley 6485 picoammeter: byte-level protocol, reading strings, overflow, zero check."""

import pytest

from drivers.errors import DeviceError, GarbledReply, InstrumentTimeout, LimitError
from drivers.keithley_6485 import Keithley6485, Overflow, Reading, parse_elements, parse_on_off
from drivers.testing import ProtocolTransport, expected_protocol

NO_ERROR = (b"SYST:ERR?\n", b'0,"No error"\n')
ZCH_OFF = (b"SYST:ZCH?\n", b"0\n")


def test_identity_reset_clear():
    pairs = [
        (b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,B03   Sep 25 2002 10:53:29/A02  /E\n"),
        (b"*RST\n", None),
        (b"*CLS\n", None),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.identity().startswith("KEITHLEY INSTRUMENTS INC.,MODEL 6485")
        pa.reset()
        pa.clear_status()


@pytest.mark.parametrize("attribute, header", [("zero_check", b"SYST:ZCH"), ("zero_correct", b"SYST:ZCOR"), ("auto_range", b"CURR:RANG:AUTO")])
def test_boolean_settings(attribute, header):
    pairs = [
        (header + b" ON\n", None),
        NO_ERROR,
        (header + b"?\n", b"1\n"),
        (header + b" OFF\n", None),
        NO_ERROR,
        (header + b"?\n", b"0\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        setattr(pa, attribute, True)
        assert getattr(pa, attribute) is True
        setattr(pa, attribute, False)
        assert getattr(pa, attribute) is False


def test_zero_correct_acquire():
    with expected_protocol(Keithley6485, [(b"SYST:ZCOR:ACQ\n", None), NO_ERROR]) as pa:
        pa.acquire_zero_correction()


def test_range_and_nplc():
    pairs = [
        (b"CURR:RANG 2e-07\n", None),
        NO_ERROR,
        (b"CURR:RANG?\n", b"2.000000E-07\n"),
        (b"CURR:NPLC 1\n", None),
        NO_ERROR,
        (b"CURR:NPLC?\n", b"1.000000E+00\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.current_range = 200e-9
        assert pa.current_range == pytest.approx(200e-9)
        pa.nplc = 1
        assert pa.nplc == 1.0


@pytest.mark.parametrize("attribute, value", [("current_range", 0.0), ("current_range", 0.03), ("nplc", 0.001), ("nplc", 10), ("zero_check", "on")])
def test_limits_refuse_before_sending(attribute, value):
    with expected_protocol(Keithley6485, []) as pa:
        with pytest.raises(LimitError):
            setattr(pa, attribute, value)


def test_data_elements_set_and_query():
    pairs = [
        (b"FORM:ELEM READ\n", None),
        NO_ERROR,
        (b"FORM:ELEM READ,TIME,STAT\n", None),
        NO_ERROR,
        (b"FORM:ELEM?\n", b"READ,UNIT,TIME,STAT\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.data_elements = ["READ"]
        pa.data_elements = "STAT,READ,TIME"  # the instrument's order, whatever the caller's
        assert pa.data_elements == ("READ", "UNIT", "TIME", "STAT")


def test_data_elements_refused_before_sending():
    with expected_protocol(Keithley6485, []) as pa:
        with pytest.raises(LimitError):
            pa.data_elements = ["TIME", "STAT"]
        with pytest.raises(LimitError):
            pa.data_elements = ["READ", "VSO"]


def test_read_default_elements_with_units():
    pairs = [ZCH_OFF, (b"READ?\n", b"-1.234567E-08A,+1.234000E+02,+0.000000E+00\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.read_reading() == Reading(current_A=-1.234567e-08, timestamp_s=123.4, status=0)


def test_read_current_reading_only():
    pairs = [(b"FORM:ELEM READ\n", None), NO_ERROR, ZCH_OFF, (b"READ?\n", b"-9.876543E-08\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.data_elements = "READ"
        assert pa.read_current() == pytest.approx(-9.876543e-08)


def test_read_without_units_three_fields():
    pairs = [ZCH_OFF, (b"READ?\n", b"-1.000000E-07,+5.000000E+00,+1.024000E+03\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        reading = pa.read_reading()
    assert reading.current_A == pytest.approx(-1e-7)
    assert reading.status == 1024


def test_two_fields_ask_the_elements_once():
    pairs = [
        ZCH_OFF,
        (b"READ?\n", b"-1.000000E-07A,+1.600000E+01\n"),
        (b"FORM:ELEM?\n", b"READ,UNIT,STAT\n"),
        # zero check is asked once per connection, then tracked
        (b"READ?\n", b"-2.000000E-07A,+0.000000E+00\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.read_reading() == Reading(-1e-7, None, 16)
        assert pa.read_reading() == Reading(-2e-7, None, 0)


def test_initiate_and_fetch():
    pairs = [(b"INIT\n", None), NO_ERROR, ZCH_OFF, (b"FETC?\n", b"+2.000000E-12A,+1.000000E+00,+0.000000E+00\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.initiate()
        assert pa.fetch_reading().current_A == pytest.approx(2e-12)


def test_overflow_names_the_range():
    pairs = [
        ZCH_OFF,
        (b"READ?\n", b"+9.900000E+37A,+1.000000E+01,+1.000000E+00\n"),
        (b"CURR:RANG?\n", b"2.000000E-09\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(Overflow) as info:
            pa.read_current()
    assert info.value.range_A == pytest.approx(2e-9)
    assert "2e-09 A range" in str(info.value)
    assert isinstance(info.value, DeviceError)


def test_overflow_short_form():
    pairs = [(b"FORM:ELEM READ\n", None), NO_ERROR, ZCH_OFF, (b"READ?\n", b"+9.9E37\n"), (b"CURR:RANG?\n", b"2.000000E-08\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.data_elements = "READ"
        with pytest.raises(Overflow):
            pa.read_current()


def test_nan_reading_is_a_device_error():
    pairs = [ZCH_OFF, (b"READ?\n", b"+9.910000E+37A,+1.000000E+01,+0.000000E+00\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(DeviceError, match="NAN"):
            pa.read_current()


def test_reading_refused_while_zero_check_is_on():
    with expected_protocol(Keithley6485, [(b"SYST:ZCH?\n", b"1\n")]) as pa:
        with pytest.raises(DeviceError, match="zero check"):
            pa.read_current()


@pytest.mark.parametrize(
    "reply",
    [b"-1.0E-08A,+1.0E+00\n", b"-1.0E-8X,+1.0E+00,+0.0E+00\n", b"garbage\n", b"1,2,3,4,5\n"],
)
def test_garbled_reading(reply):
    pairs = [(b"FORM:ELEM READ,UNIT,TIME,STAT\n", None), NO_ERROR, ZCH_OFF, (b"READ?\n", reply)]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.data_elements = "READ,UNIT,TIME,STAT"
        with pytest.raises(GarbledReply):
            pa.read_reading()


def test_units_required_when_asked_for():
    pairs = [(b"FORM:ELEM READ,UNIT\n", None), NO_ERROR, ZCH_OFF, (b"READ?\n", b"-1.000000E-08\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.data_elements = "READ,UNIT"
        with pytest.raises(GarbledReply, match="unit"):
            pa.read_reading()


def test_refused_setting_raises_device_error_with_code():
    pairs = [
        (b"CURR:NPLC 6\n", None),
        (b"SYST:ERR?\n", b'-222,"Parameter data out of range"\n'),
        NO_ERROR,
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(DeviceError) as info:
            pa.nplc = 6
    assert info.value.code == -222


def test_silent_read_times_out():
    with expected_protocol(Keithley6485, [ZCH_OFF, (b"READ?\n", None)]) as pa:
        with pytest.raises(InstrumentTimeout):
            pa.read_current()


def test_configure_for_beam_sequence():
    pairs = [
        (b"SYST:ZCH ON\n", None),
        NO_ERROR,
        (b"CURR:RANG 2e-09\n", None),
        NO_ERROR,
        (b"INIT\n", None),
        NO_ERROR,
        (b"SYST:ZCOR:ACQ\n", None),
        NO_ERROR,
        (b"SYST:ZCOR ON\n", None),
        NO_ERROR,
        (b"CURR:RANG:AUTO ON\n", None),
        NO_ERROR,
        (b"SYST:ZCH OFF\n", None),
        NO_ERROR,
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.configure_for_beam()


def test_configure_for_beam_stops_at_a_refused_step():
    pairs = [
        (b"SYST:ZCH ON\n", None),
        NO_ERROR,
        (b"CURR:RANG 2e-09\n", None),
        NO_ERROR,
        (b"INIT\n", None),
        NO_ERROR,
        (b"SYST:ZCOR:ACQ\n", None),
        (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'),
        NO_ERROR,
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(DeviceError) as info:
            pa.configure_for_beam()
    assert info.value.code == -221


def test_settings_and_probe():
    pairs = [
        (b"SYST:ZCH?\n", b"0\n"),
        (b"SYST:ZCOR?\n", b"1\n"),
        (b"CURR:RANG:AUTO?\n", b"1\n"),
        (b"CURR:RANG?\n", b"2.000000E-07\n"),
        (b"CURR:NPLC?\n", b"6.000000E+00\n"),
        (b"FORM:ELEM?\n", b"READ,UNIT,TIME,STAT\n"),
        (b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,B03\n"),
        ZCH_OFF,
        (b"READ?\n", b"-1.000000E-07A,+1.000000E+00,+0.000000E+00\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.settings() == {
            "zero_check": False,
            "zero_correct": True,
            "auto_range": True,
            "current_range_A": pytest.approx(2e-7),
            "nplc": 6.0,
            "data_elements": "READ,UNIT,TIME,STAT",
        }
        assert pa.probe() == {
            "identity": "KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,B03",
            "zero_check": False,
            "overflow": False,
            "current_A": pytest.approx(-1e-7),
        }


def test_probe_in_zero_check_and_in_overflow():
    pairs = [
        (b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,1,B03\n"),
        (b"SYST:ZCH?\n", b"1\n"),
        (b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,1,B03\n"),
        ZCH_OFF,
        (b"READ?\n", b"+9.900000E+37A,+1.000000E+00,+1.000000E+00\n"),
        (b"CURR:RANG?\n", b"2.000000E-09\n"),
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.probe()["current_A"] is None
        probe = pa.probe()
    assert probe["overflow"] is True and probe["current_A"] is None and probe["range_A"] == pytest.approx(2e-9)


def test_parsers():
    assert parse_on_off("1") is True and parse_on_off("OFF") is False
    with pytest.raises(ValueError):
        parse_on_off("2")
    assert parse_elements("STATus,READing") == ("READ", "STAT")
    with pytest.raises(ValueError):
        parse_elements("READ,CHAN")


# ---------------------------------------------------------------- through the real stack
from drivers.errors import ConnectionLost, TransientError  # noqa: E402
from drivers.keysight_e36xx import KeysightE36xx  # noqa: E402
from simulators.keithley_6485 import Keithley6485Emulator  # noqa: E402
from simulators.keysight_e36xx import E36xxEmulator  # noqa: E402
from tests.worldsetup import tune  # noqa: E402


@pytest.fixture
def served(world, clock, serve):
    server = serve(Keithley6485Emulator(world))
    pa = Keithley6485(server.visa_address, timeout_s=0.3, clock=clock)
    yield server, pa
    pa.close()


def test_stack_filament_ramp_gives_100_nA_on_the_cup(served, world, clock, serve):
    server, pa = served
    tune(world, 100.0)
    supply = serve(E36xxEmulator(world))
    psu = KeysightE36xx(supply.visa_address, timeout_s=0.3, clock=clock)
    try:
        psu.voltage = 3.0  # the compliance; the ramp switches the output on at 0 A
        t0 = clock.now()
        psu.ramp_current_to(2.2, step_A=0.05, step_delay_s=1.0)
        assert clock.now() - t0 == pytest.approx(43.0)
        clock.sleep(15.0)  # five filament time constants at the final current
        pa.configure_for_beam()
        current = pa.read_current()
    finally:
        psu.close()
    assert current == pytest.approx(-100e-9, rel=0.1)
    assert current == pytest.approx(-world.beam_current_A(), rel=5e-3)
    assert pa.current_range == pytest.approx(200e-9)  # auto range chose it
    assert pa.auto_range is True and pa.zero_correct is True and pa.zero_check is False


def test_stack_cold_filament_gives_no_beam(served, world):
    server, pa = served
    tune(world, 100.0)
    pa.configure_for_beam()
    assert abs(pa.read_current()) < 1e-12


def test_stack_reading_in_zero_check_is_refused(served, world):
    server, pa = served
    tune(world, 100.0)
    world.set_filament(current_A=2.2, voltage_V=3.0, output=True)
    world.clock.sleep(30.0)
    with pytest.raises(DeviceError, match="zero check"):
        pa.read_current()  # power-on state: zero check on
    pa.zero_check = False
    assert pa.read_current() < -50e-9


def test_stack_fixed_range_overflows_then_auto_range_recovers(served, world):
    server, pa = served
    tune(world, 100.0)
    world.set_filament(current_A=2.2, voltage_V=3.0, output=True)
    world.clock.sleep(30.0)
    pa.configure_for_beam()
    pa.current_range = 2e-9
    with pytest.raises(Overflow) as info:
        pa.read_current()
    assert info.value.range_A == pytest.approx(2e-9)
    assert "+9.9" in str(info.value.reply)
    pa.auto_range = True
    assert pa.read_current() == pytest.approx(-world.beam_current_A(), rel=5e-3)


def test_stack_reading_only_and_two_element_formats(served, world):
    server, pa = served
    pa.zero_check = False
    pa.data_elements = "READ"
    assert abs(pa.read_current()) < 1e-12
    pa.data_elements = "READ,TIME"
    world.clock.sleep(7.0)
    reading = pa.read_reading()
    assert reading.timestamp_s == pytest.approx(7.0)
    assert reading.status is None


def test_stack_init_fetch(served):
    server, pa = served
    pa.zero_check = False
    pa.initiate()
    first = pa.fetch_reading()
    assert pa.fetch_reading() == first


def test_stack_refused_step_raises_device_error_with_code(served):
    server, pa = served
    pa.zero_check = False
    with pytest.raises(DeviceError) as info:
        pa.acquire_zero_correction()
    assert info.value.code == -221
    assert pa.zero_check is False  # and the driver goes on


@pytest.mark.parametrize(
    "fault, error",
    [("silence", InstrumentTimeout), ("garble", GarbledReply), ("truncate", ConnectionLost), ("drop", ConnectionLost)],
)
def test_stack_faults_are_typed_and_the_driver_recovers(served, world, fault, error):
    server, pa = served
    tune(world, 100.0)
    world.set_filament(current_A=2.2, voltage_V=3.0, output=True)
    world.clock.sleep(30.0)
    pa.configure_for_beam()
    server.faults.inject(fault)
    with pytest.raises(error) as info:
        pa.read_current()
    assert isinstance(info.value, TransientError)
    assert server.visa_address in str(info.value)
    assert pa.read_current() == pytest.approx(-world.beam_current_A(), rel=5e-3)
    assert pa.identity().startswith("KEITHLEY INSTRUMENTS INC.,MODEL 6485")


def test_stack_survives_a_pulled_cable(served):
    server, pa = served
    pa.zero_check = False
    server.drop_connections()
    with pytest.raises(ConnectionLost):
        pa.zero_check
    assert pa.zero_check is False  # reconnected; the instrument kept its state


def test_zero_check_set_by_the_driver_is_asked_again_before_a_reading_is_refused():
    pairs = [(b"SYST:ZCH ON\n", None), NO_ERROR, (b"SYST:ZCH?\n", b"1\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        pa.zero_check = True
        with pytest.raises(DeviceError, match="zero check is on"):
            pa.read_current()  # refused after asking: no READ?


# ---------------------------------------------------------------- trust: zero check does not latch, strict readings
READING = b"-1.000000E-07A,+1.000000E+00,+0.000000E+00\n"


def test_zero_check_switched_off_by_the_operator_is_seen_at_the_next_reading():
    pairs = [
        (b"SYST:ZCH?\n", b"1\n"),  # after a power cycle: the 6485 comes up in zero check
        (b"SYST:ZCH?\n", b"0\n"),  # the operator switched it off; the run resumes
        (b"READ?\n", READING),
        (b"READ?\n", READING),  # off is tracked: not asked before every reading
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(DeviceError, match="zero check is on"):
            pa.read_current()
        assert pa.read_current() == pytest.approx(-1e-7)
        assert pa.read_current() == pytest.approx(-1e-7)


def test_recheck_on_resume_and_after_a_reconnect():
    pairs = [
        ZCH_OFF,
        (b"READ?\n", READING),
        (b"SYST:ZCH?\n", b"1\n"),  # refresh_state() on resume: ZCHK was pressed while paused
        (b"SYST:ZCH?\n", b"1\n"),  # asked again before refusing; no READ?
    ]
    with expected_protocol(Keithley6485, pairs) as pa:
        assert pa.read_current() == pytest.approx(-1e-7)
        pa.refresh_state()
        with pytest.raises(DeviceError, match="zero check is on"):
            pa.read_current()
    pairs = [ZCH_OFF, (b"READ?\n", ProtocolTransport.DISCONNECT), ZCH_OFF, (b"READ?\n", READING)]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(ConnectionLost):
            pa.read_current()
        assert pa.read_current() == pytest.approx(-1e-7)  # asked again on the new connection
    with expected_protocol(Keithley6485, [(b"SYST:ZCH?\n", b"0\n")]) as pa:
        assert pa.recheck_zero_check() is False


@pytest.mark.parametrize(
    "reply",
    [b"-1.0E-08A,+1.0E+00,inf\n", b"-1.0E-08A,+1.0E+00,+1e400\n", b"-1.0E-08A,+1.0E+00,nan\n",
     b"-1.0E-08A,+1.0E+00,+7.0E+04\n", b"-1.0E-08A,+1.0E+00,+1.5E+00\n", b"-1.0E-08A,+1.0E+00,1_0\n",
     b"nanA,+1.0E+00,+0.0E+00\n", b"-1e999A,+1.0E+00,+0.0E+00\n", b"+5.0E+00A,+1.0E+00,+0.0E+00\n",
     b"-1.0E-08A,infinity,+0.0E+00\n", b"-1.0E-08A,+1.0E+05,+0.0E+00\n", b"-1.0E-08A,-2.0E+00,+0.0E+00\n",
     b"1_0A,+1.0E+00,+0.0E+00\n"],
)
def test_non_finite_or_out_of_range_fields_are_garbled_not_a_crash(reply):
    with expected_protocol(Keithley6485, [ZCH_OFF, (b"READ?\n", reply)]) as pa:
        with pytest.raises(GarbledReply):
            pa.read_reading()


def test_negative_overflow_is_an_overflow_not_a_number():
    pairs = [ZCH_OFF, (b"READ?\n", b"-9.900000E+37A,+1.000000E+01,+1.000000E+00\n"),
             (b"CURR:RANG?\n", b"2.000000E-09\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        with pytest.raises(Overflow):
            pa.read_current()


def test_range_and_nplc_readbacks_must_be_what_the_6485_has():
    pairs = [(b"CURR:RANG?\n", b"3.000000E-07\n"), (b"CURR:RANG?\n", b"inf\n"), (b"CURR:NPLC?\n", b"6.000000E+01\n")]
    with expected_protocol(Keithley6485, pairs) as pa:
        for _ in range(2):
            with pytest.raises(GarbledReply):
                pa.current_range
        with pytest.raises(GarbledReply):
            pa.nplc
