"""Keithley 6485 emulator: the bytes it answers, zero check/correct, ranges, overflow."""

import re

import pytest

from simulators.keithley_6485 import Keithley6485Emulator
from tests.worldsetup import beam_on

READING = re.compile(rb"^([+-]\d\.\d{6}E[+-]\d\d)A,([+-]\d\.\d{6}E[+-]\d\d),([+-]\d\.\d{6}E[+-]\d\d)\n$")




@pytest.fixture
def pa(world):
    return Keithley6485Emulator(world)


def script(emulator, pairs):
    for request, reply in pairs:
        assert emulator.feed(request) == reply, request


def value(reply: bytes) -> float:
    return float(reply.split(b",")[0].rstrip(b"\n").rstrip(b"A"))


def test_identity_and_power_on_state(pa):
    script(
        pa,
        [
            (b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,4100123,B03   Sep 25 2002 10:53:29/A02  /E\n"),
            (b"SYST:ZCH?\n", b"1\n"),
            (b"SYST:ZCOR?\n", b"0\n"),
            (b"CURR:RANG:AUTO?\n", b"1\n"),
            (b"CURR:NPLC?\n", b"6.000000E+00\n"),
            (b"FORM:ELEM?\n", b"READ,UNIT,TIME,STAT\n"),
            (b"SYST:ERR?\n", b'0,"No error"\n'),
        ],
    )


def test_boolean_settings_round_trip(pa):
    script(
        pa,
        [
            (b"SYST:ZCH OFF\n", b""),
            (b"SYST:ZCH?\n", b"0\n"),
            (b"SYST:ZCOR ON\n", b""),
            (b"SYST:ZCOR?\n", b"1\n"),
            (b"CURR:RANG:AUTO OFF\n", b""),
            (b"CURR:RANG:AUTO?\n", b"0\n"),
            (b":SENSE:CURRENT:DC:RANGE:AUTO 1\n", b""),
        ],
    )
    assert pa.auto_range is True


def test_reading_string_default_elements(pa, world):
    world.clock.advance(12.5)
    reply = pa.feed(b"READ?\n")
    m = READING.match(reply)
    assert m, reply
    assert float(m.group(2)) == pytest.approx(12.5)
    assert float(m.group(3)) == 0.0


def test_zero_check_reads_the_offset_not_the_beam(pa, world):
    beam_on(world)
    assert world.beam_current_A() > 50e-9
    offset = value(pa.feed(b"READ?\n"))
    assert 0 < offset < 1e-12


def test_beam_reads_negative_about_100_nA(pa, world):
    beam_on(world)
    reply = pa.feed(b"SYST:ZCH OFF;:READ?\n")
    assert value(reply) == pytest.approx(-world.beam_current_A(), rel=2e-3)
    assert -110e-9 < value(reply) < -90e-9
    assert pa.feed(b"CURR:RANG?\n") == b"2.000000E-07\n"  # auto range picked 200 nA


def test_zero_correct_removes_the_offset(pa):
    raw = value(pa.feed(b"READ?\n"))
    script(pa, [(b"SYST:ZCOR:ACQ\n", b""), (b"SYST:ZCOR ON\n", b"")])
    corrected = value(pa.feed(b"READ?\n"))
    assert abs(corrected) < 0.1 * abs(raw)


def test_zero_acquire_refused_outside_zero_check(pa):
    script(pa, [(b"SYST:ZCH OFF\n", b""), (b"SYST:ZCOR:ACQ\n", b""), (b"SYST:ERR?\n", b'-221,"Settings conflict"\n')])


def test_fixed_range_too_small_overflows(pa, world):
    beam_on(world)
    script(pa, [(b"SYST:ZCH OFF\n", b""), (b"CURR:RANG 2e-9\n", b""), (b"CURR:RANG:AUTO?\n", b"0\n")])
    reply = pa.feed(b"READ?\n")
    assert reply.startswith(b"+9.900000E+37A,")
    assert reply.endswith(b",+1.000000E+00\n")  # status bit 0: overflow
    script(pa, [(b"FORM:ELEM READ\n", b""), (b"READ?\n", b"+9.900000E+37\n")])


def test_range_selection_takes_the_lowest_range_holding_the_value(pa):
    script(
        pa,
        [
            (b"CURR:RANG 1.5e-7\n", b""),
            (b"CURR:RANG?\n", b"2.000000E-07\n"),
            (b"CURR:RANG 2.1e-6\n", b""),
            (b"CURR:RANG?\n", b"2.000000E-06\n"),  # 105 % still fits
            (b"CURR:RANG MIN\n", b""),
            (b"CURR:RANG?\n", b"2.000000E-09\n"),
            (b"CURR:RANG 0.05\n", b""),
            (b"SYST:ERR?\n", b'-222,"Parameter data out of range"\n'),
            (b"CURR:RANG?\n", b"2.000000E-09\n"),
        ],
    )


def test_nplc(pa):
    script(
        pa,
        [
            (b"CURR:NPLC 1\n", b""),
            (b"SENS:CURR:NPLC?\n", b"1.000000E+00\n"),
            (b"CURR:NPLC 0.001\n", b""),
            (b"SYST:ERR?\n", b'-222,"Parameter data out of range"\n'),
        ],
    )


def test_data_elements(pa):
    script(
        pa,
        [
            (b"FORM:ELEM STAT,READ\n", b""),
            (b"FORM:ELEM?\n", b"READ,STAT\n"),
            (b"FORM:ELEM READING,UNITS\n", b""),
            (b"FORM:ELEM?\n", b"READ,UNIT\n"),
            (b"FORM:ELEM CHAN\n", b""),
            (b"FORM:ELEM\n", b""),
            (b"SYST:ERR?\n", b'-224,"Illegal parameter value"\n'),
            (b"SYST:ERR?\n", b'-109,"Missing parameter"\n'),
        ],
    )
    assert re.match(rb"^[+-]\d\.\d{6}E[+-]\d\dA\n$", pa.feed(b"READ?\n"))


def test_init_then_fetch_returns_that_reading(pa):
    script(pa, [(b"FETC?\n", b""), (b"SYST:ERR?\n", b'-230,"Data corrupt or stale"\n'), (b"INIT\n", b"")])
    first = pa.feed(b"FETC?\n")
    assert pa.feed(b"FETC?\n") == first


def test_rst_restores_zero_check_and_elements(pa):
    script(pa, [(b"SYST:ZCH OFF;:FORM:ELEM READ;:CURR:RANG 2e-9\n", b""), (b"*RST\n", b"")])
    script(pa, [(b"SYST:ZCH?;:FORM:ELEM?;:CURR:RANG:AUTO?\n", b"1;READ,UNIT,TIME,STAT;1\n")])


def test_unknown_header(pa):
    script(pa, [(b"SYST:FOO ON\n", b""), (b"SYST:ERR?\n", b'-113,"Undefined header"\n'), (b"SYST:ERR?\n", b'0,"No error"\n')])


def fields(reply: bytes) -> list[bytes]:
    return reply.rstrip(b"\n").split(b",")


# ------------------------------------------------------------------ trigger model
def test_trigger_count_gives_that_many_readings(pa, world, clock):
    beam_on(world)
    t0 = clock.now()
    reply = pa.feed(b"SYST:ZCH OFF;:TRIG:COUN 5;:READ?\n")
    parts = fields(reply)
    assert len(parts) == 15  # five readings of READ,UNIT,TIME,STAT (units on the reading)
    currents = [float(p.rstrip(b"A")) for p in parts[0::3]]
    assert all(-110e-9 < i < -90e-9 for i in currents)
    stamps = [float(p) for p in parts[1::3]]
    assert stamps == pytest.approx([t0 + 0.1 * k for k in range(5)])  # 6 NPLC at 60 Hz each
    assert clock.now() == pytest.approx(t0 + 0.4)  # READ? answered once the last was taken
    script(pa, [(b"FETC?\n", reply), (b"SYST:ERR?\n", b'0,"No error"\n')])


def test_relative_headers_and_arm_layer(pa, clock):
    script(
        pa,
        [
            (b"TRIG:COUN 2;DEL 0.5;SOUR IMM\n", b""),
            (b"TRIG:COUN?;DEL?;SOUR?\n", b"2;5.000000E-01;IMM\n"),
            (b":ARM:COUN 3;:ARM:SOUR TIM;TIM 10\n", b""),
            (b"ARM:SEQ1:LAY1:COUN?;:ARM:SOUR?;TIM?\n", b"3;TIM;1.000000E+01\n"),
            (b"FORM:ELEM READ,TIME\n", b""),
        ],
    )
    t0 = clock.now()
    stamps = [float(x) for x in fields(pa.feed(b"READ?\n"))[1::2]]
    # arm cycles every 10 s; in each, two readings 0.5 s delay apart after 0.1 s integration
    expected = [t0 + a * 10 + d for a in range(3) for d in (0.5, 1.1)]
    assert stamps == pytest.approx(expected)


def test_bus_arm_waits_for_trg(pa, clock):
    script(
        pa,
        [
            (b"ARM:SOUR BUS;:TRIG:COUN 2;:FORM:ELEM READ\n", b""),
            (b"READ?\n", b""),  # illegal with the arm source BUS
            (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'),
            (b"INIT\n", b""),
            (b"STAT:OPER:COND?\n", b"0\n"),  # not idle: waiting in the arm layer
            (b"*TRG\n", b""),
            (b"*TRG\n", b""),  # one arm cycle only: the second is ignored
            (b"SYST:ERR?\n", b'-211,"Trigger ignored"\n'),
        ],
    )
    assert len(fields(pa.feed(b"FETC?\n"))) == 2
    script(pa, [(b"STAT:OPER:COND?\n", b"1024\n")])


def test_infinite_count_and_abort(pa, clock):
    script(pa, [(b"TRIG:COUN INF;COUN?\n", b"+9.900000E+37\n"), (b"READ?\n", b""), (b"SYST:ERR?\n", b'-221,"Settings conflict"\n')])
    script(pa, [(b"INIT\n", b""), (b"INIT\n", b""), (b"SYST:ERR?\n", b'-213,"Init ignored"\n')])
    clock.advance(3600.0)  # 36 000 readings at 0.1 s: only the latest is kept
    assert pa.feed(b"SENS:DATA?\n").count(b",") == 2
    script(pa, [(b"ABOR;:STAT:OPER:COND?\n", b"1024\n")])


def test_opc_waits_for_the_readings(pa, clock):
    script(pa, [(b"TRIG:COUN 10;:INIT;*OPC\n", b""), (b"*ESR?\n", b"128\n"), (b"*OPC?\n", b"1\n"), (b"*ESR?\n", b"1\n")])
    assert clock.now() == pytest.approx(0.9)


# ------------------------------------------------------------------ CONFigure, FUNCtion, MEASure
def test_configure_resets_the_trigger_model(pa):
    script(
        pa,
        [
            (b"TRIG:COUN 7;:ARM:COUN 2;:CURR:NPLC 1;:CURR:RANG 2e-6\n", b""),
            (b"CONF:CURR:DC\n", b""),
            (b"TRIG:COUN?;:ARM:COUN?;:CURR:NPLC?;:CURR:RANG:AUTO?\n", b"1;1;6.000000E+00;1\n"),
            (b"CONF?;:FUNC?\n", b'"CURR:DC";"CURR:DC"\n'),
            (b"FUNC 'CURR'\n", b""),
            (b"SENS:FUNC \"CURRENT:DC\"\n", b""),
            (b"FUNC 'VOLT'\n", b""),
            (b"FUNC CURR\n", b""),
            (b"SYST:ERR?;ERR?;ERR?\n", b'-151,"Invalid string data";-104,"Data type error";0,"No error"\n'),
        ],
    )


def test_measure_configures_then_reads(pa):
    script(pa, [(b"TRIG:COUN 3;:FORM:ELEM READ\n", b"")])
    assert len(fields(pa.feed(b"MEAS?\n"))) == 1  # CONFigure set the trigger count back to 1
    assert len(fields(pa.feed(b"MEAS:CURR:DC?\n"))) == 1


def test_min_max_def_queries_and_no_suffixes(pa):
    script(
        pa,
        [
            (b"CURR:RANG? MAX;RANG? MIN\n", b"2.000000E-02;2.000000E-09\n"),
            (b"CURR:NPLC? MIN;NPLC? MAX;NPLC? DEF\n", b"1.000000E-02;6.000000E+00;6.000000E+00\n"),
            (b"TRIG:DEL? MAX\n", b"9.999998E+02\n"),
            (b"CURR:RANG 2nA\n", b""),
            (b"SYST:ERR?\n", b'-138,"Suffix not allowed"\n'),
            (b"SYST:LFR 50;:SYST:LFR?;:CURR:NPLC? MAX\n", b"50;5.000000E+00\n"),
        ],
    )


def test_auto_range_limits(pa, world):
    beam_on(world)
    script(pa, [(b"SYST:ZCH OFF;:CURR:RANG:AUTO:LLIM 2e-6\n", b""), (b"FORM:ELEM READ\n", b"")])
    pa.feed(b"READ?\n")
    assert pa.feed(b"CURR:RANG?\n") == b"2.000000E-06\n"  # 100 nA, but not below the lower limit
    script(pa, [(b"CURR:RANG:AUTO:LLIM 2e-9;ULIM 20e-9\n", b"")])
    assert pa.feed(b"READ?\n") == b"+9.900000E+37\n"  # the upper limit caps the auto range


# ------------------------------------------------------------------ buffer and status (pymeasure's flow)
def test_buffer_fills_and_the_status_byte_says_so(pa, world, clock):
    beam_on(world)
    script(
        pa,
        [
            (b"status:queue:clear;*RST;:stat:pres;:*CLS;\n", b""),
            (b":STAT:PRES;*CLS;*SRE 1;:STAT:MEAS:ENAB 512;\n", b""),
            (b":TRAC:CLEAR;\n", b""),
            (b":TRAC:POIN 10\n", b""),
            (b":TRIG:COUN 10\n", b""),
            (b":TRIG:SEQ:DEL 0.000000\n", b""),
            (b":TRAC:FEED SENSE;:TRAC:FEED:CONT NEXT;\n", b""),
            (b":system:error?\n", b'0,"No error"\n'),
            (b"SYST:ZCH OFF;:FORM:ELEM READ\n", b""),
            (b":INIT\n", b""),
            (b"*STB?\n", b"0\n"),
            (b"TRAC:POIN:ACT?\n", b"1\n"),
        ],
    )
    clock.advance(1.0)
    script(pa, [(b"*STB?\n", b"65\n"), (b"TRAC:FEED:CONT?;:TRAC:POIN:ACT?\n", b"NEV;10\n")])  # MSB + MSS
    pa.feed(b":FORM:DATA ASCII\n")
    values = [float(x) for x in fields(pa.feed(b":TRAC:DATA?\n"))]
    assert len(values) == 10 and all(-110e-9 < v < -90e-9 for v in values)
    mean = float(pa.feed(b"CALC3:FORM MEAN;DATA?\n"))
    assert mean == pytest.approx(sum(values) / 10, rel=1e-5)
    # RAV (64), BAV (256), BFL (512) latched; reading the event register clears it
    script(pa, [(b"STAT:MEAS?\n", b"832\n"), (b"STAT:MEAS?\n", b"0\n"), (b"STAT:MEAS:COND?\n", b"768\n")])


def test_buffer_timestamps_and_empty_buffer(pa, clock):
    script(pa, [(b"TRAC:DATA?\n", b""), (b"SYST:ERR?\n", b'-230,"Data corrupt or stale"\n')])
    script(pa, [(b"TRAC:POIN 3;FEED:CONT NEXT;:TRIG:COUN 3;:TRIG:DEL 1;:FORM:ELEM READ,TIME\n", b"")])
    pa.feed(b"READ?\n")
    stamps = [float(x) for x in fields(pa.feed(b"TRAC:DATA?\n"))[1::2]]
    assert stamps == pytest.approx([0.0, 1.1, 2.2])  # from the first stored reading
    stamps = [float(x) for x in fields(pa.feed(b"TRAC:TST:FORM DELT;:TRAC:DATA?\n"))[1::2]]
    assert stamps == pytest.approx([0.0, 1.1, 1.1])


def test_pymeasure_6487_measure_current_message(pa):
    # pymeasure sends ":SENS:FUNC:CURR;" (a header the 6485 does not have) first:
    # that unit fails, the rest of the message is still executed
    script(pa, [(b":SENS:FUNC:CURR;:SENS:CURR:NPLC 1.000000;:FORM:ELEM READ;\n", b"")])
    script(pa, [(b"FORM:ELEM?;:CURR:NPLC?\n", b"READ;1.000000E+00\n"), (b"SYST:ERR?\n", b'-113,"Undefined header"\n')])


def test_common_commands_and_status_byte(pa):
    script(
        pa,
        [
            (b"*ESR?;*ESR?\n", b"128;0\n"),
            (b"FOO\n", b""),
            (b"*STB?\n", b"4\n"),  # EAV: the error queue is not empty
            (b"*ESE 32;*STB?\n", b"36\n"),
            (b"*SRE 4;*STB?\n", b"100\n"),
            (b"*CLS;*STB?\n", b"0\n"),
            (b"*TST?;*OPC?;*SRE?;*ESE?\n", b"0;1;4;32\n"),
            (b"SYST:VERS?\n", b"1996.0\n"),
            (b"STAT:QUE?\n", b'0,"No error"\n'),
        ],
    )


def test_error_queue_holds_ten(pa):
    for _ in range(12):
        pa.feed(b"FOO\n")
    replies = [pa.feed(b"SYST:ERR?\n") for _ in range(11)]
    assert replies[:9] == [b'-113,"Undefined header"\n'] * 9
    assert replies[9:] == [b'-350,"Queue overflow"\n', b'0,"No error"\n']


def test_pymeasure_6487_trigger_setups(pa):
    # what pymeasure's Keithley 6487 class sends; the 6485's trigger layer has no BUS source
    script(pa, [(b":ARM:SOUR IMM;:TRIG:SOUR IMM;\n", b""), (b":TRIG:COUNT?\n", b"1\n")])
    script(pa, [(b":ARM:COUN 2;:TRIG:COUN 3\n", b""), (b":ARM:COUN INF;:TRIG:COUN INF\n", b"")])
    script(pa, [(b":TRAC:FEED:CONT NEV\n", b""), (b":TRIG:OUTP NONE\n", b""), (b":TRIG:OUTP?;OLIN?\n", b"NONE;2\n")])
    script(pa, [(b":ARM:SOUR TLIN;:TRIG:SOUR TLIN;:ARM:ILIN 3;:TRIG:ILIN 3;\n", b""), (b"ARM:ILIN?;:TRIG:ILIN?\n", b"3;3\n")])
    script(pa, [(b":SENS:AVER:TCON REP;:SENS:AVER:COUNT 10;:SENS:AVER ON\n", b""),
                (b":SENS:AVER:TCON?;:SENS:AVER:COUNT?;:SENS:AVER?\n", b"REP;10;1\n")])
    script(pa, [(b":SYST:AZER:STAT?;:SYST:LFR?;:DISP:ENAB?\n", b"1;60;1\n"), (b"SYST:ERR?\n", b'0,"No error"\n')])
    script(pa, [(b":ARM:COUN 1;:ARM:SOUR BUS;:TRIG:SOUR BUS;\n", b""), (b"SYST:ERR?\n", b'-224,"Illegal parameter value"\n')])


# ---------------------------------------------------------------- the RS-232 port


IDN = b"KEITHLEY INSTRUMENTS INC.,MODEL 6485,4100123,B03   Sep 25 2002 10:53:29/A02  /E"


@pytest.mark.parametrize("name, ending", [("LF", b"\n"), ("CR", b"\r"), ("LFCR", b"\n\r"), ("CRLF", b"\r\n")])
def test_rs232_replies_end_in_the_front_panel_terminator(world, name, ending):
    pa = Keithley6485Emulator(world, rs232_terminator=name)
    assert pa.feed(b"*IDN?\r") == IDN + ending
    assert pa.feed(b"SYST:ZCH?;:FORM:ELEM?\r") == b"1;READ,UNIT,TIME,STAT" + ending


def test_rs232_processes_a_command_at_its_cr_only(world):
    pa = Keithley6485Emulator(world, rs232_terminator="CR")
    assert pa.feed(b"*IDN?\n") == b""  # an LF alone does not end it (manual 9-17)
    assert pa.feed(b"\r") == IDN + b"\r"
    # CR LF, as VISA writes by default: the LF opens the next message and is ignored
    assert pa.feed(b"SYST:ZCH OFF\r\n") == b""
    assert pa.feed(b"SYST:ZCH?\r\n") == b"0\r"
    assert pa.feed(b"SYST:ERR?\r\n") == b'0,"No error"\r'


def test_the_gpib_link_is_the_default(world):
    pa = Keithley6485Emulator(world)
    assert pa.rs232_terminator is None
    assert pa.feed(b"*IDN?\n") == IDN + b"\n"
    assert pa.feed(b"*IDN?\r\n") == IDN + b"\n"


def test_an_unknown_rs232_terminator_is_refused(world):
    with pytest.raises(ValueError, match="RS-232 terminator 'CRCR'"):
        Keithley6485Emulator(world, rs232_terminator="CRCR")
