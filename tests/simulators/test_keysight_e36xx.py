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
            (b"CURR?\n", b"+2.00000000E+01\n"),  # the *RST table: 20 A (CURR? MAX is 20.6 A)
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


# ------------------------------------------------------------------ the *RST table
def test_rst_state_follows_the_manual_table(psu):
    script(psu, [(b"VOLT:PROT 5;:CURR:PROT 3;:TRIG:SOUR IMM;DEL 2;:VOLT:STEP 0.1\n", b""), (b"*RST\n", b"")])
    script(
        psu,
        [
            (b"CURR?;CURR:TRIG?;:CURR:PROT?;PROT:STAT?\n", b"+2.00000000E+01;+2.00000000E+01;+2.20000000E+01;1\n"),
            (b"VOLT?;VOLT:TRIG?;:VOLT:PROT?;PROT:STAT?\n", b"+0.00000000E+00;+0.00000000E+00;+2.20000000E+01;1\n"),
            (b"OUTP?;:OUTP:REL?;:TRIG:SOUR?;DEL?;:VOLT:RANG?\n", b"0;0;BUS;+0.00000000E+00;P8V\n"),
            (b"VOLT:STEP?;:CURR:STEP?\n", b"+3.60000000E-04;+3.20000000E-04\n"),
            (b"SYST:ERR?\n", b'+0,"No error"\n'),
        ],
    )


def test_min_max_queries_answer_the_limits_not_the_setting(psu):
    script(
        psu,
        [
            (b"CURR 2.5\n", b""),
            (b"CURR? MAX;CURR? MIN;CURR?\n", b"+2.06000000E+01;+0.00000000E+00;+2.50000000E+00\n"),
            (b"CURR? MAXIMUM\n", b"+2.06000000E+01\n"),
            (b"VOLT:PROT? MIN;PROT? MAX\n", b"+1.00000000E+00;+2.20000000E+01\n"),
            (b"CURR? 5\n", b""),
            (b"SYST:ERR?\n", b'-224,"Illegal parameter value"\n'),
        ],
    )


# ------------------------------------------------------------------ parameters
def test_unit_suffixes_with_multipliers(psu, world):
    script(
        psu,
        [
            (b"CURR 500MA\n", b""),
            (b"CURR?\n", b"+5.00000000E-01\n"),
            (b"CURR 1A\n", b""),
            (b"CURR?\n", b"+1.00000000E+00\n"),
            (b"VOLT 1.5 V\n", b""),
            (b"VOLT?\n", b"+1.50000000E+00\n"),
            (b"VOLT 750mv\n", b""),  # IEEE 488.2: M is milli, whatever the case
            (b"VOLT?\n", b"+7.50000000E-01\n"),
            (b"VOLT 2 A\n", b""),
            (b"VOLT 2 XV\n", b""),
            (b"SYST:ERR?\n", b'-131,"Invalid suffix"\n'),
            (b"SYST:ERR?\n", b'-131,"Invalid suffix"\n'),
            (b"VOLT?\n", b"+7.50000000E-01\n"),
        ],
    )
    assert world.filament_current_set_A == 1.0


def test_parameter_count_errors(psu):
    script(
        psu,
        [
            (b"OUTP ON,OFF\n", b""),
            (b"*IDN? 1\n", b""),
            (b"APPL\n", b""),
            (b"SYST:ERR?;ERR?;ERR?\n", b'-108,"Parameter not allowed";-108,"Parameter not allowed";-109,"Missing parameter"\n'),
        ],
    )


# ------------------------------------------------------------------ APPLy
def test_apply_sets_both_and_answers_a_quoted_string(psu, world):
    script(
        psu,
        [
            (b"APPL 2.0,2.2\n", b""),
            (b"APPL?\n", b'"2.00000,2.20000"\n'),
            (b"APPL 3\n", b""),  # one parameter: the voltage
            (b"APPL?\n", b'"3.00000,2.20000"\n'),
            (b"APPLY MIN,DEF\n", b""),
            (b"APPL?\n", b'"0.00000,20.00000"\n'),
            (b"APPL 9,1\n", b""),  # 9 V is beyond the 8 V range: nothing changes
            (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
            (b"APPL?\n", b'"0.00000,20.00000"\n'),
            (b"VOLT:RANG P20V;:APPL 15,DEF\n", b""),  # DEF is 20 A: too much for the 10 A range
            (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        ],
    )
    assert world.filament_current_set_A == 10.3


# ------------------------------------------------------------------ protection
def test_ocp_trip_switches_the_filament_off_until_cleared(psu, world):
    script(
        psu,
        [
            (b"CURR:PROT 2.0\n", b""),
            (b"APPL 2,2.2;:OUTP ON\n", b""),  # 2.2 A through the filament: above the OCP level
            (b"CURR:PROT:TRIP?;:VOLT:PROT:TRIP?\n", b"1;0\n"),
            (b"MEAS:CURR?\n", b"+0.00000000E+00\n"),
            (b"OUTP?\n", b"1\n"),  # the output setting stays; the protection holds it off
            (b"STAT:QUES?\n", b"+1024\n"),
            (b"STAT:QUES?\n", b"+0\n"),  # reading the event register clears it
        ],
    )
    assert world.filament_output is False and world.filament_current_A() == 0.0
    script(psu, [(b"CURR:PROT:CLE\n", b""), (b"CURR:PROT:TRIP?\n", b"1\n")])  # the cause is still there
    script(psu, [(b"CURR:PROT 3;:CURR:PROT:CLE\n", b""), (b"CURR:PROT:TRIP?\n", b"0\n"), (b"MEAS:CURR?\n", b"+2.20000000E+00\n")])
    assert world.filament_output is True


def test_ovp_trip_and_disabled_protection(psu, world):
    script(
        psu,
        [
            (b"VOLT:PROT 1.0\n", b""),
            (b"APPL 2,2.2;:OUTP ON\n", b""),  # 2.2 A x 0.55 ohm = 1.21 V > 1.0 V
            (b"VOLT:PROT:TRIP?\n", b"1\n"),
            (b"STAT:QUES:COND?\n", b"+512\n"),
        ],
    )
    assert world.filament_output is False
    script(psu, [(b"VOLT:PROT:STAT OFF;CLE\n", b""), (b"VOLT:PROT:TRIP?;STAT?\n", b"0;0\n")])
    assert world.filament_output is True and world.filament_current_A() == pytest.approx(2.2)


def test_questionable_status_reports_cc_and_cv_and_reaches_the_status_byte(psu):
    script(
        psu,
        [
            (b"APPL 2,2.2;:OUTP ON\n", b""),
            (b"STAT:QUES:COND?\n", b"+1\n"),  # CC: the voltage is unregulated
            (b"VOLT 0.55\n", b""),
            (b"STAT:QUES:COND?\n", b"+2\n"),  # CV: 1 A at 0.55 V
            (b"*STB?\n", b"+0\n"),
            (b"STAT:QUES:ENAB 1024;ENAB?\n", b"+1024\n"),
            (b"CURR:PROT 0.5\n", b""),  # trips at once
            (b"*STB?\n", b"+8\n"),
            (b"*SRE 8;*STB?\n", b"+72\n"),  # and requests service
            (b"*CLS;*STB?\n", b"+0\n"),
        ],
    )


# ------------------------------------------------------------------ triggers
def test_bus_trigger_transfers_the_triggered_levels(psu, world, clock):
    script(
        psu,
        [
            (b"APPL 2,1;:OUTP ON\n", b""),
            (b"VOLT:TRIG 3;:CURR:TRIG 2.2\n", b""),
            (b"VOLT?;:VOLT:TRIG?\n", b"+2.00000000E+00;+3.00000000E+00\n"),
            (b"*TRG\n", b""),  # not initiated: ignored
            (b"SYST:ERR?\n", b'-211,"Trigger ignored"\n'),
            (b"TRIG:DEL 1.5;:INIT;*TRG\n", b""),
            (b"CURR?\n", b"+1.00000000E+00\n"),  # the delay runs on the world's clock
        ],
    )
    clock.advance(1.5)
    script(psu, [(b"CURR?;:VOLT?\n", b"+2.20000000E+00;+3.00000000E+00\n")])
    assert world.filament_current_set_A == 2.2


def test_immediate_trigger_and_opc(psu, clock):
    script(
        psu,
        [
            (b"TRIG:SOUR IMM;DEL 2\n", b""),
            (b"CURR:TRIG 1.5;:INIT;*OPC\n", b""),
            (b"*ESR?\n", b"+128\n"),  # power on; the operation is still pending
            (b"*OPC?\n", b"1\n"),  # waits (on the clock) for the transfer
            (b"CURR?;*ESR?\n", b"+1.50000000E+00;+1\n"),
        ],
    )
    assert clock.now() == pytest.approx(2.0)


# ------------------------------------------------------------------ steps, memories
def test_step_up_and_down(psu):
    script(
        psu,
        [
            (b"VOLT 1;:VOLT:STEP 0.25\n", b""),
            (b"VOLT UP;VOLT UP\n", b""),
            (b"VOLT?\n", b"+1.50000000E+00\n"),
            (b"VOLT DOWN\n", b""),
            (b"VOLT?;VOLT:STEP?;STEP? DEF\n", b"+1.25000000E+00;+2.50000000E-01;+3.60000000E-04\n"),
            (b"VOLT 8.24;:VOLT UP\n", b""),
            (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        ],
    )


def test_save_and_recall(psu, world):
    script(
        psu,
        [
            (b"APPL 1.5,2.1;:VOLT:PROT 4;:OUTP ON\n", b""),
            (b"*SAV 2\n", b""),
            (b"*RST\n", b""),
            (b"*RCL 2\n", b""),
            (b"APPL?;:VOLT:PROT?;:OUTP?\n", b'"1.50000,2.10000";+4.00000000E+00;0\n'),
            (b"*RCL 3;*SAV 4\n", b""),
            (b"SYST:ERR?;ERR?\n", b'+810,"State has not been stored";-222,"Data out of range"\n'),
        ],
    )
    assert world.filament_output is False  # a recall never switches the filament on


# ------------------------------------------------------------------ common commands
def test_common_commands_and_event_status(psu):
    script(
        psu,
        [
            (b"*ESR?\n", b"+128\n"),  # power on
            (b"*ESR?\n", b"+0\n"),
            (b"*ESE 60;*ESE?\n", b"+60\n"),
            (b"FOO\n", b""),
            (b"*STB?\n", b"+32\n"),  # ESB: a command error, enabled
            (b"*ESR?\n", b"+32\n"),
            (b"VOLT 99\n", b""),
            (b"*ESR?\n", b"+16\n"),  # execution error
            (b"*TST?;*OPC?\n", b"+0;1\n"),
            (b"*IDN?;*STB?\n", b"Agilent Technologies,E3633A,0,2.1-5.0-1.0;+16\n"),  # MAV
            (b"SYST:VERS?\n", b"1996.0\n"),
            (b"DISP:TEXT 'FIL;AMENT';:DISP:TEXT?\n", b'"FIL;AMENT"\n'),
            (b"DISP OFF;:DISP?\n", b"0\n"),
            (b"SYST:ERR?;ERR?\n", b'-113,"Undefined header";-222,"Data out of range"\n'),
        ],
    )


def test_error_queue_overflow(psu):
    for _ in range(25):
        psu.feed(b"FOO\n")
    replies = [psu.feed(b"SYST:ERR?\n") for _ in range(21)]
    assert replies[:19] == [b'-113,"Undefined header"\n'] * 19
    assert replies[19:] == [b'-350,"Too many errors"\n', b'+0,"No error"\n']


def test_e3634a_ranges_and_reset():
    from foundation.clock import VirtualClock
    from simulators.keysight_e36xx import E3634AEmulator
    from simulators.world import World, WorldConfig

    psu = E3634AEmulator(World(VirtualClock(), WorldConfig(seed=1)))
    script(
        psu,
        [
            (b"*IDN?\n", b"Agilent Technologies,E3634A,0,2.1-5.0-1.0\n"),
            (b"VOLT:RANG?;:CURR?;:VOLT:PROT?;:CURR:PROT?\n", b"P25V;+7.00000000E+00;+5.50000000E+01;+7.50000000E+00\n"),
            (b"VOLT:RANG HIGH;:VOLT? MAX;:CURR? MAX\n", b"+5.15000000E+01;+4.12000000E+00\n"),
        ],
    )


def test_python_ivi_style_lowercase_long_forms(psu, world):
    # the exchanges python-ivi's Agilent E3600 driver makes, less its multi-output INST:NSEL
    script(
        psu,
        [
            (b":source:current:level 2.200000e+00\n", b""),
            (b":source:current:level?\n", b"+2.20000000E+00\n"),
            (b":source:voltage:level 2.000000e+00\n", b""),
            (b":source:current:protection:state 1\n", b""),
            (b":source:current:protection:state?\n", b"1\n"),
            (b":source:voltage:protection:level max\n", b""),
            (b":source:voltage:protection:level?\n", b"+2.20000000E+01\n"),
            (b":output:state 1\n", b""),
            (b":output:state?\n", b"1\n"),
            (b":measure:current?\n", b"+2.20000000E+00\n"),
            (b":measure:voltage?\n", b"+1.21000000E+00\n"),
            (b"*TST?\n", b"+0\n"),
            (b":system:error?\n", b'+0,"No error"\n'),
        ],
    )
    assert world.filament_current_A() == pytest.approx(2.2)
