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
