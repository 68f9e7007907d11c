"""E36xx emulator: the bytes it answers and what it does to the world's filament."""

import pytest

from simulators.keysight_e36xx import E36xxEmulator


@pytest.fixture
def psu(world):
    return E36xxEmulator(world)


def script(emulator, pairs):
    for request, reply in pairs:
        assert emulator.feed(request) == reply, request


def test_identity_and_common_commands(psu):
    script(
        psu,
        [
            (b"*IDN?\n", b"Agilent Technologies,E3633A,0,2.1-5.0-1.0\n"),
            (b"*OPC?\n", b"1\n"),
            (b"SYST:ERR?\n", b'+0,"No error"\n'),
        ],
    )


def test_power_on_state_is_safe(psu, world):
    script(
        psu,
        [
            (b"OUTP?\n", b"0\n"),
            (b"VOLT?\n", b"+0.00000000E+00\n"),
            (b"CURR?\n", b"+2.06000000E+01\n"),
            (b"VOLT:RANG?\n", b"P8V\n"),
            (b"MEAS:CURR?\n", b"+0.00000000E+00\n"),
        ],
    )
    assert world.filament_current_A() == 0.0


def test_setpoints_reach_the_world_in_cc(psu, world):
    script(
        psu,
        [
            (b"CURR 2.2000\n", b""),
            (b"VOLT 2.0000\n", b""),
            (b"OUTP ON\n", b""),
            (b"CURR?\n", b"+2.20000000E+00\n"),
            (b"VOLT?\n", b"+2.00000000E+00\n"),
            (b"OUTP?\n", b"1\n"),
            (b"MEAS:CURR?\n", b"+2.20000000E+00\n"),
            (b"MEAS:VOLT?\n", b"+1.21000000E+00\n"),  # 2.2 A through 0.55 ohm
        ],
    )
    assert (world.filament_current_set_A, world.filament_voltage_set_V, world.filament_output) == (2.2, 2.0, True)


def test_voltage_setting_limits_the_current(psu, world):
    script(psu, [(b"CURR 2.2;VOLT 0.55;OUTP ON\n", b""), (b"MEAS:CURR?\n", b"+1.00000000E+00\n")])
    assert world.filament_current_A() == pytest.approx(1.0)


def test_output_off_drops_the_current(psu, world):
    script(psu, [(b"CURR 2;VOLT 2;OUTP 1\n", b""), (b"OUTP OFF\n", b""), (b"MEAS:CURR?\n", b"+0.00000000E+00\n")])
    assert world.filament_output is False


def test_long_forms_and_compound_messages(psu):
    script(
        psu,
        [
            (b":SOURCE:CURRENT:LEVEL:IMMEDIATE:AMPLITUDE 1.5\n", b""),
            (b"SOUR:CURR?;:OUTPUT:STATE?\n", b"+1.50000000E+00;0\n"),
            (b"MEASURE:SCALAR:VOLTAGE:DC?\n", b"+0.00000000E+00\n"),
            (b"MEAS?\n", b"+0.00000000E+00\n"),
        ],
    )


def test_min_max_parameters(psu):
    script(
        psu,
        [
            (b"VOLT? MAX\n", b"+8.24000000E+00\n"),
            (b"CURR? MIN\n", b"+0.00000000E+00\n"),
            (b"VOLT MAX\n", b""),
            (b"VOLT?\n", b"+8.24000000E+00\n"),
        ],
    )


def test_out_of_range_setting_is_refused_with_222(psu, world):
    script(
        psu,
        [
            (b"CURR 1.0\n", b""),
            (b"VOLT 9.0\n", b""),
            (b"CURR -0.1\n", b""),
            (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
            (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
            (b"SYST:ERR?\n", b'+0,"No error"\n'),
            (b"VOLT?\n", b"+0.00000000E+00\n"),
            (b"CURR?\n", b"+1.00000000E+00\n"),
        ],
    )
    assert world.filament_current_set_A == 1.0


def test_bad_parameters_and_unknown_headers(psu):
    script(
        psu,
        [
            (b"OUTP MAYBE\n", b""),
            (b"VOLT abc\n", b""),
            (b"VOLT\n", b""),
            (b"VOLT:RANG P6V\n", b""),
            (b"FOO:BAR 3\n", b""),
            (b"SYST:ERR?\n", b'-224,"Illegal parameter value"\n'),
            (b"SYST:ERR?\n", b'-104,"Data type error"\n'),
            (b"SYST:ERR?\n", b'-109,"Missing parameter"\n'),
            (b"SYST:ERR?\n", b'-224,"Illegal parameter value"\n'),
            (b"SYST:ERR?\n", b'-113,"Undefined header"\n'),
            (b"SYST:ERR?\n", b'+0,"No error"\n'),
        ],
    )


def test_cls_empties_the_error_queue(psu):
    script(psu, [(b"FOO\n", b""), (b"*CLS\n", b""), (b"SYST:ERR?\n", b'+0,"No error"\n')])


def test_range_change_clips_setpoints(psu):
    script(
        psu,
        [
            (b"VOLT:RANG P20V\n", b""),
            (b"VOLT:RANG?\n", b"P20V\n"),
            (b"CURR?\n", b"+1.03000000E+01\n"),
            (b"VOLT 15\n", b""),
            (b"VOLT:RANG LOW\n", b""),
            (b"VOLT:RANG?\n", b"P8V\n"),
            (b"VOLT?\n", b"+8.24000000E+00\n"),
            (b"SYST:ERR?\n", b'+0,"No error"\n'),
        ],
    )


def test_rst_turns_the_filament_off(psu, world):
    script(psu, [(b"CURR 2.2;VOLT 2;OUTP ON\n", b""), (b"*RST\n", b""), (b"OUTP?;VOLT?\n", b"0;+0.00000000E+00\n")])
    assert world.filament_current_A() == 0.0


def test_crlf_and_split_packets(psu):
    assert psu.feed(b"OUT") == b""
    assert psu.feed(b"P?\r\n") == b"0\n"
