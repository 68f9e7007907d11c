"""Pfeiffer TPG 362: byte-level protocol tests (ACK/ENQ exchanges, NAK + ERR, statuses)."""

import pytest

from drivers.errors import ConnectionLost, DeviceError, GarbledReply, InstrumentError, InstrumentTimeout, LimitError
from drivers.pfeiffer_tpg362 import TPG362, ErrorStatus, GaugeReading
from drivers.testing import ProtocolTransport, expected_protocol

ACK = b"\x06\r\n"
NAK = b"\x15\r\n"
ENQ = b"\x05"
ETX = b"\x03"


def connect(unit_code=b"0"):
    """What the driver says on connecting: stop any stream, clear, read the unit."""
    return [(ETX, None), (b"UNI\r\n", ACK), (ENQ, unit_code + b"\r\n")]


def exchange(mnemonic: bytes, data: bytes):
    return [(mnemonic + b"\r\n", ACK), (ENQ, data + b"\r\n")]


# ------------------------------------------------------------------ readings
def test_pressure_channel_1_in_mbar():
    with expected_protocol(TPG362, connect() + exchange(b"PR1", b"0,+1.0000E-07")) as tpg:
        reading = tpg.pressure(1)
    assert reading == GaugeReading(channel=1, value_mbar=1.0e-7, status=0, underrange=False, overrange=False)
    assert reading.status_text == "measurement data okay"


def test_pressure_channel_2():
    with expected_protocol(TPG362, connect() + exchange(b"PR2", b"0,+3.0012E-01")) as tpg:
        assert tpg.pressure(2).value_mbar == pytest.approx(0.30012)


@pytest.mark.parametrize(
    "code, value, mbar",
    [(b"1", b"+7.5006E-08", 1.0e-7), (b"2", b"+1.0000E-05", 1.0e-7), (b"3", b"+7.5006E-05", 1.0e-7), (b"4", b"+1.0000E-07", 1.0e-7)],
)
def test_readings_are_converted_from_the_unit_read_at_connect(code, value, mbar):
    with expected_protocol(TPG362, connect(code) + exchange(b"PR1", b"0," + value)) as tpg:
        assert tpg.pressure(1).value_mbar == pytest.approx(mbar, rel=1e-4)


def test_underrange_and_overrange_are_readings_with_flags():
    pairs = connect() + exchange(b"PR1", b"1,+5.0000E-09") + exchange(b"PR2", b"2,+1.1000E+00")
    with expected_protocol(TPG362, pairs) as tpg:
        low = tpg.pressure(1)
        high = tpg.pressure(2)
    assert (low.status, low.underrange, low.overrange, low.value_mbar) == (1, True, False, 5e-9)
    assert (high.status, high.underrange, high.overrange) == (2, False, True)


@pytest.mark.parametrize(
    "status, text", [(3, "sensor error"), (4, "sensor off"), (5, "no sensor"), (6, "identification error")]
)
def test_sensor_fault_statuses_raise_device_error_naming_channel(status, text):
    pairs = connect() + exchange(b"PR2", b"%d,+0.0000E+00" % status)
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(DeviceError) as info:
            tpg.pressure(2)
    assert info.value.code == status
    assert f"channel 2: {text}" in str(info.value)
    assert "PR2" in str(info.value)


def test_pressures_reads_both_channels_with_prx():
    with expected_protocol(TPG362, connect() + exchange(b"PRX", b"0,+1.2300E-06,0,+2.9876E-01")) as tpg:
        chamber, needle = tpg.pressures()
    assert (chamber.channel, chamber.value_mbar) == (1, pytest.approx(1.23e-6))
    assert (needle.channel, needle.value_mbar) == (2, pytest.approx(0.29876))


def test_pressures_raises_for_a_channel_with_sensor_off():
    with expected_protocol(TPG362, connect() + exchange(b"PRX", b"0,+1.2300E-06,4,+0.0000E+00")) as tpg:
        with pytest.raises(DeviceError, match="channel 2: sensor off"):
            tpg.pressures()


def test_channel_checked_before_sending():
    with expected_protocol(TPG362, connect()) as tpg:
        with pytest.raises(LimitError, match="channel = 3"):
            tpg.pressure(3)


def test_readings_in_volt_are_not_pressures():
    with expected_protocol(TPG362, connect(b"5") + exchange(b"PR1", b"0,+1.4000E+00")) as tpg:
        with pytest.raises(InstrumentError, match="Volt, not a pressure unit"):
            tpg.pressure(1)


@pytest.mark.parametrize(
    "reply", [b"0;+1.0000E-07", b"0,abc", b"9,+1.0000E-07", b"+1.0000E-07", b"0,+1.0000E-07,0"]
)
def test_malformed_reading_is_garbled(reply):
    with expected_protocol(TPG362, connect() + exchange(b"PR1", reply)) as tpg:
        with pytest.raises(GarbledReply):
            tpg.pressure(1)


# ------------------------------------------------------------- NAK and ERR
def test_nak_reads_error_word_and_raises_with_it():
    pairs = connect() + [(b"PR1\r\n", NAK)] + exchange(b"ERR", b"0001")
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(DeviceError) as info:
            tpg.pressure(1)
    assert info.value.code == 1
    assert "syntax error" in str(info.value) and "PR1" in str(info.value)


def test_nak_with_several_error_bits():
    pairs = connect() + [(b"UNI,3\r\n", NAK)] + exchange(b"ERR", b"1010")
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(DeviceError) as info:
            tpg.unit = "Micron"
    assert info.value.code == 0b1010
    assert "controller error" in str(info.value) and "inadmissible parameter" in str(info.value)


def test_nak_when_error_word_cannot_be_read():
    pairs = connect() + [(b"PR1\r\n", NAK), (b"ERR\r\n", NAK)]
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(DeviceError, match="reading the error word failed"):
            tpg.pressure(1)


def test_error_status_decoded():
    pairs = connect() + exchange(b"ERR", b"0000") + exchange(b"ERR", b"0110")
    with expected_protocol(TPG362, pairs) as tpg:
        clean = tpg.error_status()
        bad = tpg.error_status()
    assert clean.ok and clean.messages == ()
    assert bad == ErrorStatus("0110", False, True, True, False)
    assert bad.messages == ("no hardware", "inadmissible parameter")


def test_error_word_malformed_is_garbled():
    with expected_protocol(TPG362, connect() + exchange(b"ERR", b"0002")) as tpg:
        with pytest.raises(GarbledReply):
            tpg.error_status()


# -------------------------------------------------------------- settings
def test_unit_read_and_set():
    pairs = connect() + exchange(b"UNI", b"0") + exchange(b"UNI,1", b"1") + exchange(b"PR1", b"0,+7.5006E-08")
    with expected_protocol(TPG362, pairs) as tpg:
        assert tpg.unit == "mbar"
        tpg.unit = "Torr"
        assert tpg.cached_unit == "Torr"
        assert tpg.pressure(1).value_mbar == pytest.approx(1e-7, rel=1e-4)


@pytest.mark.parametrize("name, code", [("mbar", b"0"), ("Pa", b"2"), ("hPa", b"4"), ("Volt", b"5")])
def test_unit_codes(name, code):
    with expected_protocol(TPG362, connect() + exchange(b"UNI," + code, code)) as tpg:
        tpg.unit = name


def test_unit_checked_before_sending():
    with expected_protocol(TPG362, connect()) as tpg:
        with pytest.raises(LimitError, match="unit = 'psi'"):
            tpg.unit = "psi"


def test_unit_set_not_taken_is_garbled():
    with expected_protocol(TPG362, connect() + exchange(b"UNI,1", b"0")) as tpg:
        with pytest.raises(GarbledReply):
            tpg.unit = "Torr"


def test_gauge_identification():
    with expected_protocol(TPG362, connect() + exchange(b"TID", b"PKR,CMR")) as tpg:
        assert tpg.gauge_identification() == ("PKR", "CMR")


def test_gauge_identification_malformed():
    with expected_protocol(TPG362, connect() + exchange(b"TID", b"PKR")) as tpg:
        with pytest.raises(GarbledReply):
            tpg.gauge_identification()


AYT = b"TPG362,PTG28290,44990000,010500,010100"


def test_identity_from_ayt_and_tid():
    with expected_protocol(TPG362, connect() + exchange(b"AYT", AYT) + exchange(b"TID", b"PKR,CMR")) as tpg:
        ident = tpg.identity()
    assert ident == "Pfeiffer TPG362 PTG28290 s/n 44990000 firmware 010500 hardware 010100; gauges PKR,CMR"


def test_are_you_there_malformed():
    with expected_protocol(TPG362, connect() + exchange(b"AYT", b"TPG362")) as tpg:
        with pytest.raises(GarbledReply):
            tpg.are_you_there()


def test_snapshot():
    pairs = connect() + exchange(b"AYT", AYT) + exchange(b"TID", b"PKR,CMR") + exchange(b"TID", b"PKR,CMR")
    pairs += exchange(b"UNI", b"0")
    with expected_protocol(TPG362, pairs) as tpg:
        snap = tpg.snapshot()
    assert snap["pressure_unit"] == "mbar" and snap["gauge_1"] == "PKR" and snap["gauge_2"] == "CMR"
    assert snap["identity"].startswith("Pfeiffer TPG362")


def test_probe_reports_a_channel_with_sensor_off():
    pairs = connect() + exchange(b"AYT", AYT) + exchange(b"TID", b"PKR,CMR") + exchange(b"UNI", b"0")
    pairs += exchange(b"TID", b"PKR,CMR") + exchange(b"PRX", b"0,+1.2000E-07,4,+0.0000E+00")
    with expected_protocol(TPG362, pairs) as tpg:
        probe = tpg.probe()
    assert probe["channel_1"] == {"gauge": "PKR", "status": 0, "status_text": "measurement data okay", "pressure_mbar": pytest.approx(1.2e-7)}
    assert probe["channel_2"]["status_text"] == "sensor off" and probe["channel_2"]["pressure_mbar"] is None


# ------------------------------------------------------ continuous output
def test_stream_on_connect_is_discarded():
    """Lines streamed before the ETX arrived are cleared or skipped before the ACK."""
    stream = b"0,+1.0000E-07,0,+3.0000E-01\r\n"
    pairs = [(None, stream * 3), (ETX, None), (b"UNI\r\n", stream + b"0,+1.0E-0" + b"\r\n" + ACK), (ENQ, b"0\r\n")]
    pairs += exchange(b"PR1", b"0,+1.0000E-07")
    with expected_protocol(TPG362, pairs) as tpg:
        assert tpg.pressure(1).value_mbar == 1e-7


def test_streamed_line_before_ack_is_skipped_later_too():
    stream = b"0,+1.0000E-07,0,+3.0000E-01\r\n"
    pairs = connect() + [(b"PR2\r\n", stream + ACK), (ENQ, b"0,+3.0000E-01\r\n")]
    with expected_protocol(TPG362, pairs) as tpg:
        assert tpg.pressure(2).value_mbar == 0.3


def test_other_line_instead_of_ack_is_garbled():
    with expected_protocol(TPG362, connect() + [(b"PR1\r\n", b"hello\r\n")]) as tpg:
        with pytest.raises(GarbledReply, match="expected ACK or NAK"):
            tpg.pressure(1)


# ----------------------------------------------------------------- faults
def test_timeout_then_interface_reset_and_retry():
    pairs = connect() + [(b"PR1\r\n", None)] + [(ETX, None)] + exchange(b"PR1", b"0,+1.0000E-07")
    with expected_protocol(TPG362, pairs, timeout_s=0.3) as tpg:
        with pytest.raises(InstrumentTimeout):
            tpg.pressure(1)
        assert tpg.pressure(1).value_mbar == 1e-7


def test_silent_after_enq_times_out():
    pairs = connect() + [(b"PR1\r\n", ACK), (ENQ, None)] + [(ETX, None)] + exchange(b"PR1", b"0,+2.0000E-07")
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(InstrumentTimeout):
            tpg.pressure(1)
        assert tpg.pressure(1).value_mbar == 2e-7


def test_disconnect_then_reconnect_runs_on_connect_again():
    pairs = connect() + [(b"PR1\r\n", ACK), (ENQ, ProtocolTransport.DISCONNECT)]
    pairs += connect() + exchange(b"PR1", b"0,+1.0000E-07")
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(ConnectionLost):
            tpg.pressure(1)
        assert tpg.pressure(1).value_mbar == 1e-7


# ------------------------------------------------------ trust: the manual's format, a unit that holds
@pytest.mark.parametrize(
    "reply",
    [b"0,+.300E-06", b"0,+3.000E-07", b"0,+3.0000E-7", b"0,+3.0000E-007", b"0,3.0000E-07", b"0,+3.0000e-07",
     b"0,nan", b"0,+inf", b"0,+1.0000E+999", b"0,1_0", b"0,+3.00_0E-07", b"00,+3.0000E-07", b"0,+30.000E-08",
     b"1,+3.0000", b"2, +3.0000E-07"],
)
def test_a_reading_not_in_the_manuals_format_is_garbled(reply):
    with expected_protocol(TPG362, connect() + exchange(b"PR1", reply)) as tpg:
        with pytest.raises(GarbledReply):
            tpg.pressure(1)


def test_prx_pairs_are_held_to_the_format_too():
    with expected_protocol(TPG362, connect() + exchange(b"PRX", b"0,+1.2300E-06,0,+2.987E-01")) as tpg:
        with pytest.raises(GarbledReply):
            tpg.pressures()


def test_a_sensor_fault_with_the_manuals_short_value_is_still_the_fault():
    with expected_protocol(TPG362, connect() + exchange(b"PR2", b"5,2.0000E-2")) as tpg:
        with pytest.raises(DeviceError, match="no sensor"):
            tpg.pressure(2)


def test_a_garbled_unit_reply_does_not_rescale_the_readings():
    pairs = connect() + exchange(b"UNI", b"1") + exchange(b"UNI", b"0") + exchange(b"PR1", b"0,+1.0000E-07")
    with expected_protocol(TPG362, pairs) as tpg:
        with pytest.raises(GarbledReply, match="readings stay in mbar"):
            tpg.unit
        assert tpg.cached_unit == "mbar"
        assert tpg.pressure(1).value_mbar == 1e-7  # not 1.33e-7


def test_a_unit_changed_at_the_controller_is_believed_when_reported_twice(caplog):
    pairs = connect() + exchange(b"UNI", b"2") + exchange(b"UNI", b"2") + exchange(b"PR1", b"0,+1.0000E-05")
    with expected_protocol(TPG362, pairs) as tpg:
        assert tpg.unit == "Pa"
        assert tpg.pressure(1).value_mbar == pytest.approx(1e-7)
    assert "pressure unit changed" in caplog.text


@pytest.mark.parametrize("code", [b"+1", b"01", b"1_", b"\xd9\xa1", b"6"])
def test_unit_code_is_one_digit(code):
    with expected_protocol(TPG362, connect() + exchange(b"UNI", code)) as tpg:
        with pytest.raises(GarbledReply):
            tpg.unit
    assert tpg.cached_unit == "mbar"


def test_refresh_state_reads_the_unit_again():
    with expected_protocol(TPG362, connect() + exchange(b"UNI", b"0")) as tpg:
        tpg.refresh_state()
