"""TPG 362 emulator: byte pairs for every mnemonic and error path, then driver against emulator."""

import re

import pytest

from drivers.errors import ConnectionLost, DeviceError, GarbledReply, InstrumentTimeout
from drivers.pfeiffer_tpg362 import TPG362
from simulators.pfeiffer_tpg362 import CMR, PKR, TPG362Emulator
from simulators.server import InstrumentServer

ACK = b"\x06\r\n"
NAK = b"\x15\r\n"
ENQ = b"\x05"
ETX = b"\x03"
READING = re.compile(rb"^([0-6]),([+-]\d\.\d{4}E[+-]\d\d)\r\n$")
PRX_LINE = re.compile(rb"^0,\+\d\.\d{4}E[+-]\d\d,0,\+\d\.\d{4}E[+-]\d\d\r\n$")


@pytest.fixture
def tpg(world):
    return TPG362Emulator(world)


def ask(emulator, message: bytes) -> bytes:
    assert emulator.feed(message + b"\r\n") == ACK
    return emulator.feed(ENQ)


def value(reply: bytes) -> tuple[int, float]:
    m = READING.match(reply)
    assert m, reply
    return int(m.group(1)), float(m.group(2))


# ------------------------------------------------------------- readings
def test_pr1_reads_the_chamber_gauge(tpg, world):
    status, p = value(ask(tpg, b"PR1"))
    assert status == 0
    assert p == pytest.approx(world.chamber_mbar(), rel=0.01)


def test_pr2_reads_the_needle_line(tpg, world):
    status, p = value(ask(tpg, b"PR2"))
    assert status == 0
    assert p == pytest.approx(world.needle_line_mbar(), rel=0.01)


def test_logarithmic_gauge_sends_zeros_in_third_and_fourth_decimal(tpg):
    reply = ask(tpg, b"PR1")
    assert re.match(rb"^0,\+\d\.\d\d00E-0\d\r\n$", reply), reply
    assert PKR.format(1.2345e-7) == "+1.2300E-07" and CMR.format(0.29876) == "+2.9876E-01"


def test_prx_both_channels(tpg, world):
    reply = ask(tpg, b"PRX")
    fields = reply.strip().split(b",")
    assert len(fields) == 4 and fields[0] == b"0" and fields[2] == b"0"
    assert float(fields[3]) == pytest.approx(world.needle_line_mbar(), rel=0.01)


def test_repeated_enq_reads_again(tpg):
    assert tpg.feed(b"PR1\r\n") == ACK
    assert READING.match(tpg.feed(ENQ)) and READING.match(tpg.feed(ENQ))


def test_lf_is_optional_and_spaces_ignored(tpg):
    assert tpg.feed(b"P R1\r") == ACK
    assert READING.match(tpg.feed(ENQ))


def test_message_split_over_several_feeds(tpg):
    assert tpg.feed(b"PR") == b""
    assert tpg.feed(b"2\r") == ACK
    assert tpg.feed(b"\n") == b""
    assert READING.match(tpg.feed(ENQ))


@pytest.mark.parametrize("status", [3, 4, 6])
def test_forced_sensor_status(tpg, status):
    tpg.sensor_status[2] = status
    assert ask(tpg, b"PR2") == b"%d,+0.0000E+00\r\n" % status
    assert ask(tpg, b"PR1").startswith(b"0,")


def test_no_sensor_reads_2e_2_mbar_and_tid_says_so(tpg):
    tpg.sensor_status[1] = 5
    tpg.sensor_status[2] = 6
    assert ask(tpg, b"PR1") == b"5,+2.0000E-02\r\n"
    assert ask(tpg, b"TID") == b"noSEn,noid\r\n"


def test_underrange_from_the_gauges_range(tpg, world):
    world.freeze("needle_pressure", 5e-5)  # below 1e-4 of the CMR's 1.1 mbar full scale
    world.freeze("chamber_pressure", 1e-10)  # below the PKR's 5e-9 mbar
    assert value(ask(tpg, b"PR2"))[0] == 1
    assert value(ask(tpg, b"PR1")) == (1, 5e-9)


def test_overrange_from_the_gauges_range(tpg, world):
    world.freeze("needle_pressure", 1.5)
    assert value(ask(tpg, b"PR2")) == (2, 1.1)


# -------------------------------------------------------------- units
@pytest.mark.parametrize("code, mbar_per_unit", [(b"0", 1.0), (b"1", 1.333223684), (b"2", 0.01), (b"3", 1.333223684e-3), (b"4", 1.0)])
def test_uni_changes_the_unit_of_the_replies(tpg, world, code, mbar_per_unit):
    world.freeze("needle_pressure", 0.3)
    assert ask(tpg, b"UNI," + code) == code + b"\r\n"
    assert ask(tpg, b"UNI") == code + b"\r\n"
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(0.3 / mbar_per_unit, rel=1e-4)


def test_uni_volt_gives_gauge_signals(tpg, world):
    world.freeze("needle_pressure", 0.5)
    world.freeze("chamber_pressure", 1e-7)
    ask(tpg, b"UNI,5")
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(5.0, rel=1e-4)  # 10 V at the 1 mbar full scale, linear
    assert value(ask(tpg, b"PR1"))[1] == pytest.approx(1.4, rel=0.01)  # (log10 p + 9.333) / 1.667


# -------------------------------------------------------------- identification and errors
def test_tid_and_ayt(tpg):
    assert ask(tpg, b"TID") == b"PKR,CMR\r\n"
    assert ask(tpg, b"AYT") == b"TPG362,PTG28290,44990000,010500,010100\r\n"


def test_unknown_mnemonic_nak_then_syntax_error_word_cleared_on_read(tpg):
    assert tpg.feed(b"XYZ\r\n") == NAK
    assert tpg.feed(b"PR3\r\n") == NAK
    assert ask(tpg, b"ERR") == b"0001\r\n"
    assert ask(tpg, b"ERR") == b"0000\r\n"


@pytest.mark.parametrize("message", [b"UNI,9", b"UNI,x", b"PR1,1", b"COM,7", b"UNI,1,2"])
def test_bad_parameter_nak_and_parameter_error(tpg, message):
    assert tpg.feed(message + b"\r\n") == NAK
    assert ask(tpg, b"ERR") == b"0010\r\n"


def test_syntax_and_parameter_bits_accumulate(tpg):
    tpg.feed(b"FOO\r\n")
    tpg.feed(b"UNI,8\r\n")
    assert ask(tpg, b"ERR") == b"0011\r\n"


def test_enq_without_valid_request_sends_error_word(tpg):
    assert tpg.feed(ENQ) == b"0000\r\n"
    tpg.feed(b"BAD\r\n")
    assert tpg.feed(ENQ) == b"0001\r\n"


def test_etx_clears_half_message(tpg):
    assert tpg.feed(b"PR") == b""
    assert tpg.feed(ETX) == b""
    assert tpg.feed(b"TID\r\n") == ACK
    assert tpg.feed(ENQ) == b"PKR,CMR\r\n"


# -------------------------------------------------------------- continuous output
def test_com_streams_lazily_and_first_byte_stops_it(tpg, clock):
    reply = tpg.feed(b"COM,0\r\n")
    assert reply.startswith(ACK)
    assert PRX_LINE.match(reply[len(ACK):])  # ACK is immediately followed by one line
    clock.advance(0.35)
    out = tpg.feed(ETX)  # three lines fell due at 0.1, 0.2, 0.3 s; then the stream stops
    assert out.count(b"\r\n") == 3
    clock.advance(5.0)
    assert tpg.feed(b"PR1\r\n") == ACK  # nothing streamed any more
    assert not tpg.streaming


def test_stream_backlog_is_bounded(world, clock):
    tpg = TPG362Emulator(world, streaming=True)
    clock.advance(3600.0)
    assert tpg.feed(ETX).count(b"\r\n") == 16


def test_streamed_line_has_prx_format(world, clock):
    tpg = TPG362Emulator(world, streaming=True)
    clock.advance(1.0)
    line = tpg.feed(b"\x03")
    assert PRX_LINE.match(line), line


# -------------------------------------------------------------- what other clients send
def test_baud_rate_query_at_connect(tpg):
    """pylablib's TPG26x asks BAU when it connects (ENQ sent alone)."""
    assert tpg.feed(b"BAU\r\n") == ACK
    assert tpg.feed(ENQ) == b"0\r\n"
    assert ask(tpg, b"BAU,1") == b"1\r\n"
    assert tpg.feed(b"BAU,9\r\n") == NAK


def test_enq_followed_by_cr_lf_keeps_the_exchange_in_step(tpg):
    """hvl-ccb ends every write, ENQ included, with CR LF."""
    assert tpg.feed(b"TID\r\n") == ACK
    assert tpg.feed(ENQ + b"\r\n") == b"PKR,CMR\r\n"
    assert tpg.feed(b"PR2\r\n") == ACK
    assert READING.match(tpg.feed(ENQ + b"\r\n"))
    assert tpg.feed(b"\r\n") == b""  # a bare CR is no message
    assert ask(tpg, b"ERR") == b"0000\r\n"


def test_set_without_enquiry_takes_effect(tpg, world):
    """A set is carried out on ACK; hvl-ccb sends FSR that way and never ENQs."""
    world.freeze("needle_pressure", 0.3)
    assert tpg.feed(b"FSR,5,3\r\n") == ACK
    assert ask(tpg, b"FSR") == b"5,3\r\n"
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(3.0, rel=1e-4)  # a 1 mbar gauge read as a 10 mbar one
    assert tpg.feed(b"FSR,5,10\r\n") == NAK
    assert tpg.feed(b"FSR,5\r\n") == NAK  # one value per channel
    assert ask(tpg, b"ERR") == b"0010\r\n"


def test_program_number_and_temperature(tpg):
    assert ask(tpg, b"PNR") == b"010500\r\n"
    assert ask(tpg, b"TMP") == b"28\r\n"


# -------------------------------------------------------------- gauge parameters
def test_sensor_off_and_on(tpg, world):
    assert ask(tpg, b"SEN") == b"2,0\r\n"  # PKR on; the CMR cannot be switched
    assert ask(tpg, b"SEN,1,0") == b"1,0\r\n"
    assert ask(tpg, b"PR1") == b"4,+0.0000E+00\r\n"  # sensor off
    assert ask(tpg, b"PRX").startswith(b"4,+0.0000E+00,0,")
    assert ask(tpg, b"SEN,0,1") == b"1,0\r\n"  # no change; the CMR stays as it is
    assert value(ask(tpg, b"PR2"))[0] == 0
    assert ask(tpg, b"SEN,2,0") == b"2,0\r\n"
    assert value(ask(tpg, b"PR1"))[0] == 0
    assert tpg.feed(b"SEN,3,0\r\n") == NAK


def test_filter_display_keylock_and_the_rest_are_kept(tpg):
    for message, reply in [
        (b"FIL", b"1,1"), (b"FIL,0,2", b"0,2"), (b"DCD", b"2"), (b"DCD,3", b"3"), (b"LOC,1", b"1"),
        (b"CPR,1", b"1"), (b"WDT,0", b"0"), (b"SC1", b"0,0,1.0000E-03,2.0000E-03"),
        (b"SC2,1,2,5E-3,8E-3", b"1,2,5.0000E-03,8.0000E-03"),
    ]:
        assert ask(tpg, message) == reply + b"\r\n", message
    for bad in (b"FIL,3,1", b"DCD,4", b"LOC,2", b"SC1,5,0,1,2", b"FIL,a,b"):
        assert tpg.feed(bad + b"\r\n") == NAK, bad
    assert ask(tpg, b"SAV,0") == b"0\r\n"  # the factory parameters again
    assert ask(tpg, b"FIL") == b"1,1\r\n" and ask(tpg, b"DCD") == b"2\r\n"


def test_calibration_factor_multiplies_the_reading(tpg, world):
    world.freeze("needle_pressure", 0.3)
    world.freeze("chamber_pressure", 2e-6)
    assert ask(tpg, b"CAL") == b"1.000,1.000\r\n"
    assert ask(tpg, b"CAL,2.5,1.5") == b"2.500,1.500\r\n"
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(0.45, rel=1e-4)
    assert value(ask(tpg, b"PR1"))[1] == pytest.approx(5e-6, rel=0.01)
    assert tpg.feed(b"CAL,1,2.5\r\n") == NAK  # a linear gauge's factor is 0.5 to 2


def test_offset_correction_of_the_linear_gauge(tpg, world):
    world.freeze("needle_pressure", 0.3)
    assert ask(tpg, b"OFD,0,0.05") == b"+0.0000E+00,+5.0000E-02\r\n"
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(0.3, rel=1e-4)  # OFC off
    assert ask(tpg, b"OFC,0,1") == b"0,1\r\n"
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(0.25, rel=1e-4)
    assert ask(tpg, b"OFC,0,2") == b"0,2\r\n"  # auto: the present reading is the zero
    assert value(ask(tpg, b"PR2"))[0] == 1  # underrange now
    assert ask(tpg, b"OFD") == b"+0.0000E+00,+3.0000E-01\r\n"


def test_gas_correction_of_the_full_range_gauge(tpg, world):
    world.freeze("chamber_pressure", 1.0e-6)
    assert ask(tpg, b"GAS,1,0") == b"1,0\r\n"  # argon
    assert value(ask(tpg, b"PR1"))[1] == pytest.approx(8.0e-7, rel=0.01)
    world.freeze("chamber_pressure", 1.0e-2)  # above the ionisation range: no correction
    assert value(ask(tpg, b"PR1"))[1] == pytest.approx(1.0e-2, rel=0.01)
    assert tpg.feed(b"GAS,9,0\r\n") == NAK


def test_unit_applies_to_thresholds_and_offsets(tpg):
    assert ask(tpg, b"UNI,2") == b"2\r\n"  # Pa
    assert ask(tpg, b"SP1,0,0.1,0.2") == b"0,1.0000E-01,2.0000E-01\r\n"
    ask(tpg, b"UNI,0")
    assert ask(tpg, b"SP1") == b"0,1.0000E-03,2.0000E-03\r\n"  # kept in mbar
    assert tpg.feed(b"SP1,0,2E-3,1E-3\r\n") == NAK  # lower above upper
    assert tpg.feed(b"SP5\r\n") == NAK


def test_switching_functions_follow_the_world(tpg, world, clock):
    ask(tpg, b"SP1,0,5E-7,8E-7")  # chamber: on below 5e-7, off above 8e-7
    ask(tpg, b"SP2,0,1E-9,2E-9")  # never on
    ask(tpg, b"SP3,1,0.5,0.6")  # needle line: on
    ask(tpg, b"SP4,1,1E-4,2E-4")  # never on
    assert ask(tpg, b"SPS") == b"1,0,1,0\r\n"
    world.set_relay(0, True)  # gas in: the chamber rises to about 1.3e-6
    clock.advance(10)
    assert ask(tpg, b"SPS") == b"0,0,1,0\r\n"
    world.set_relay(0, False)
    clock.advance(1.2)  # between the thresholds: unchanged
    assert 5e-7 < world.chamber_mbar() < 8e-7 and ask(tpg, b"SPS") == b"0,0,1,0\r\n"
    clock.advance(20.0)
    assert ask(tpg, b"SPS") == b"1,0,1,0\r\n"


def test_reset_lists_present_errors(tpg):
    assert ask(tpg, b"RES") == b"0\r\n"
    tpg.sensor_status[1] = 3
    tpg.sensor_status[2] = 6
    assert ask(tpg, b"RES") == b"9,12\r\n"
    assert ask(tpg, b"RES,1") == b"9,12\r\n"  # the conditions are still there
    tpg.sensor_status[1] = tpg.sensor_status[2] = 0
    assert ask(tpg, b"RES,1") == b"0\r\n"
    assert tpg.feed(b"RES,2\r\n") == NAK


def test_mnemonics_not_emulated_are_syntax_errors(tpg):
    for message in (b"DCB", b"RST", b"ETH"):
        assert tpg.feed(message + b"\r\n") == NAK
    assert ask(tpg, b"ERR") == b"0001\r\n"


# ====================================================================== driver against emulator
# Through the real stack: pyserial socket:// to the emulator served on loopback, one
# VirtualClock shared by driver and world.


@pytest.fixture
def served(world, serve):
    return serve(TPG362Emulator(world))


@pytest.fixture
def gauge(served, clock):
    tpg = TPG362(served.socket_url, clock=clock, timeout_s=0.3)
    yield tpg
    tpg.close()


def test_driver_reads_both_gauges(gauge, world):
    chamber, needle = gauge.pressures()
    assert chamber.value_mbar == pytest.approx(world.chamber_mbar(), rel=0.02)
    assert needle.value_mbar == pytest.approx(world.needle_line_mbar(), rel=0.001)
    assert gauge.pressure(2).value_mbar == pytest.approx(world.needle_line_mbar(), rel=0.001)
    assert (chamber.status, needle.status) == (0, 0)


def test_driver_identity_and_probe(gauge):
    assert gauge.identity().startswith("Pfeiffer TPG362 PTG28290")
    probe = gauge.probe()
    assert probe["channel_1"]["gauge"] == "PKR" and probe["channel_2"]["gauge"] == "CMR"
    assert probe["channel_2"]["status_text"] == "measurement data okay"
    assert gauge.snapshot()["pressure_unit"] == "mbar"


def test_unit_change_reaches_the_emulator_and_readings_stay_in_mbar(gauge, served, world):
    world.freeze("needle_pressure", 0.3)
    gauge.unit = "Torr"
    assert served.emulator.unit_code == 1
    assert gauge.unit == "Torr"
    assert gauge.pressure(2).value_mbar == pytest.approx(0.3, rel=1e-4)
    gauge.unit = "Pa"
    assert gauge.pressure(2).value_mbar == pytest.approx(0.3, rel=1e-4)


def test_unit_read_at_connect(served, clock, world):
    served.emulator.unit_code = 3  # Micron, set on the front panel
    world.freeze("needle_pressure", 0.3)
    with TPG362(served.socket_url, clock=clock, timeout_s=0.3) as tpg:
        assert tpg.cached_unit == "Micron"
        assert tpg.pressure(2).value_mbar == pytest.approx(0.3, rel=1e-4)


def test_chamber_pressure_follows_the_needle_valve(gauge, world, clock):
    closed = gauge.pressure(1).value_mbar
    world.set_relay(0, True)
    clock.advance(10.0)
    opened = gauge.pressure(1).value_mbar
    assert 5 < opened / closed < 30  # about an order of magnitude with gas
    world.set_relay(0, False)
    clock.advance(20.0)
    assert gauge.pressure(1).value_mbar == pytest.approx(closed, rel=0.05)


def test_sensor_off_through_the_stack(gauge, served):
    served.emulator.sensor_status[2] = 4
    with pytest.raises(DeviceError, match="channel 2: sensor off"):
        gauge.pressure(2)
    assert gauge.pressure(1).status == 0
    assert gauge.probe()["channel_2"]["pressure_mbar"] is None


def test_underrange_through_the_stack(gauge, world):
    world.freeze("needle_pressure", 1e-5)
    reading = gauge.pressure(2)
    assert reading.underrange and reading.status == 1
    world.freeze("needle_pressure", 2.0)
    assert gauge.pressure(2).overrange


def test_nak_through_the_stack_reads_the_error_word(gauge):
    with pytest.raises(DeviceError) as info:
        gauge.query("XYZ")
    assert info.value.code == 1 and "syntax error" in str(info.value)
    with pytest.raises(DeviceError) as info:
        gauge.query("UNI,9")
    assert info.value.code == 2 and "inadmissible parameter" in str(info.value)
    assert gauge.error_status().ok  # ERR read out by the driver cleared it
    assert gauge.pressure(1).status == 0


def test_continuous_output_is_discarded_on_connect(world, clock):
    emulator = TPG362Emulator(world, streaming=True)
    with InstrumentServer(emulator, lock=world.lock) as server:
        clock.advance(10.0)
        with TPG362(server.socket_url, clock=clock, timeout_s=0.3) as tpg:
            assert emulator.streamed_lines == 10  # they were on the wire when the driver connected
            assert tpg.pressure(1).status == 0
            assert not emulator.streaming


def test_com_started_stream_is_stopped_by_the_next_connect(gauge, served, clock):
    gauge.write("COM,0")  # continuous output every 100 ms
    gauge.close()
    clock.advance(1.0)
    gauge.reconnect()
    assert served.emulator.streamed_lines >= 10
    assert gauge.pressure(2).status == 0


# ------------------------------------------------------------------ faults
def test_silence_times_out_then_works(gauge, served):
    served.faults.inject("silence")
    with pytest.raises(InstrumentTimeout):
        gauge.pressure(1)
    assert gauge.pressure(1).status == 0


def test_delay_beyond_timeout_then_works(gauge, served):
    served.faults.delay_s = 0.45  # the ACK comes during the next exchange
    with pytest.raises(InstrumentTimeout):
        gauge.pressure(1)
    served.faults.delay_s = 0.0
    assert gauge.pressure(1).status == 0


def test_garble_then_works(gauge, served):
    served.faults.inject("garble")
    with pytest.raises(GarbledReply):
        gauge.pressure(1)
    assert gauge.pressure(1).status == 0


def test_garbled_data_line_then_works(gauge, served):
    served.faults.inject("garble", 1)
    with pytest.raises(GarbledReply):
        gauge.pressures()  # the ACK is garbled
    gauge.pressures()
    # now garble the data line: ACK passes, the reading does not
    gauge.write("PR1")
    assert gauge.read() == "\x06"
    served.faults.inject("garble")
    gauge.write_bytes(b"\x05")
    with pytest.raises(GarbledReply):
        gauge.read()
    assert gauge.pressure(2).status == 0


@pytest.mark.parametrize("kind", ["truncate", "drop"])
def test_cut_connection_then_reconnects(gauge, served, kind):
    served.faults.inject(kind)
    with pytest.raises((ConnectionLost, InstrumentTimeout)):
        gauge.pressure(1)
    assert gauge.pressure(1).status == 0
    assert gauge.pressure(2).status == 0


# ====================================================================== the second controller
# `line_gauges`: the reference line's capacitance manometer on channel 1, no sensor on
# channel 2.  Exact bytes for what any client sends (ENQ alone, ENQ + CR LF).


@pytest.fixture
def line_tpg(world):
    world.freeze("reference_line_pressure", 0.4)
    return TPG362Emulator(world, "line_gauges")


def test_line_gauges_read_the_reference_line_and_report_no_sensor(line_tpg):
    assert ask(line_tpg, b"PR1") == b"0,+4.0000E-01\r\n"
    assert ask(line_tpg, b"PR2") == b"5,+2.0000E-02\r\n"
    assert ask(line_tpg, b"PRX") == b"0,+4.0000E-01,5,+2.0000E-02\r\n"
    assert ask(line_tpg, b"TID") == b"CMR,noSEn\r\n"
    assert ask(line_tpg, b"SEN") == b"0,0\r\n"  # neither can be switched
    assert ask(line_tpg, b"RES") == b"0\r\n"  # a channel without a sensor is not an error


def test_line_gauges_answer_every_client_style(line_tpg):
    assert line_tpg.feed(b"PR1\r") == ACK  # CR alone
    assert line_tpg.feed(ENQ) == b"0,+4.0000E-01\r\n"
    assert line_tpg.feed(b"PRX\r\n") == ACK  # CR LF, then ENQ + CR LF (hvl-ccb)
    assert line_tpg.feed(ENQ + b"\r\n") == b"0,+4.0000E-01,5,+2.0000E-02\r\n"
    assert line_tpg.feed(b"PR2\r\n" + ENQ) == ACK + b"5,+2.0000E-02\r\n"  # one write (pylablib-like)
    assert line_tpg.feed(ENQ) == b"5,+2.0000E-02\r\n"  # ENQ again reads again


def test_line_gauges_no_sensor_whatever_status_is_forced(line_tpg):
    line_tpg.sensor_status[2] = 0  # a test hook cannot plug a sensor in
    assert ask(line_tpg, b"PR2") == b"5,+2.0000E-02\r\n"
    assert ask(line_tpg, b"OFC,2,2") == b"2,0\r\n"  # auto offset: the manometer's reading, not the empty channel
    assert ask(line_tpg, b"OFD") == b"+4.0000E-01,+0.0000E+00\r\n"
    assert ask(line_tpg, b"PR2") == b"5,+2.0000E-02\r\n"


def test_line_gauges_units_and_the_no_sensor_reading(line_tpg):
    assert ask(line_tpg, b"UNI,2") == b"2\r\n"
    assert ask(line_tpg, b"PRX") == b"0,+4.0000E+01,5,+2.0000E+00\r\n"


def test_gauges_by_name_default_and_unknown(world):
    assert TPG362Emulator(world).gauges == {1: PKR, 2: CMR}
    assert TPG362Emulator(world, "line_gauges").gauges == {1: CMR, 2: CMR}
    with pytest.raises(ValueError, match="unknown gauge controller"):
        TPG362Emulator(world, "hv_gun")


def test_driver_reads_the_reference_line_and_refuses_the_empty_channel(world, serve, clock):
    world.unfreeze()
    server = serve(TPG362Emulator(world, "line_gauges"))
    with TPG362(server.socket_url, clock=clock, timeout_s=0.3) as tpg:
        assert tpg.pressure(1).value_mbar == pytest.approx(world.line_pressure_mbar("reference"), rel=0.001)
        assert tpg.gauge_identification() == ("CMR", "noSEn")
        with pytest.raises(DeviceError, match="channel 2: no sensor"):
            tpg.pressure(2)
        assert tpg.probe()["channel_2"]["pressure_mbar"] is None
