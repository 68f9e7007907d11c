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
    world.freeze("needle_pressure", 0.55)
    world.freeze("chamber_pressure", 1e-7)
    ask(tpg, b"UNI,5")
    assert value(ask(tpg, b"PR2"))[1] == pytest.approx(5.0, rel=1e-4)  # 10 V full scale, linear
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
