"""The iseg EBS emulator: its bytes, and that they follow the world's HV channels."""

import pytest

from simulators.iseg_hv import IsegHVEmulator, model_name
from simulators.world import HV_MODULES


@pytest.fixture
def gun(world):
    return IsegHVEmulator(world, "hv_gun")


def ask(emulator, line: str) -> bytes:
    return emulator.feed(line.encode() + b"\r\n")


def test_idn_and_channel_count(gun, world):
    assert ask(gun, "*IDN?") == b"iseg Spezialelektronik GmbH,EBS 80 10,520001,5.26\r\n"
    assert ask(gun, ":READ:MOD:CHAN?") == b"8\r\n"
    assert ask(IsegHVEmulator(world, "hv_analyzer"), "*IDN?").split(b",")[1:3] == [b"EBS F0 10", b"520002"]
    assert model_name(*HV_MODULES["hv_detector"][:2]) == "EBS 40 40"
    with pytest.raises(ValueError, match="unknown HV module"):
        IsegHVEmulator(world, "hv_nowhere")


def test_setpoint_is_signed_and_set_commands_are_silent(gun, world):
    assert ask(gun, ":VOLT -100.5,(@0)") == b""
    assert ask(gun, ":READ:VOLT? (@0)") == b"-1.00500E+02V\r\n"
    assert world.hv["hv_gun"][0].set_V == -100.5
    assert ask(gun, ":READ:VOLT:NOM? (@0)") == b"1.00000E+03V\r\n"


def test_output_follows_the_world_ramp(gun, world, clock):
    ask(gun, ":VOLT -100,(@0)")
    ask(gun, ":VOLT ON,(@0)")
    assert ask(gun, ":READ:CHAN:STAT? (@0)") == b"24\r\n"  # on, ramping
    clock.advance(1.0)  # default module ramp 5 %/s = 50 V/s
    assert ask(gun, ":MEAS:VOLT? (@0)") == b"-5.00000E+01V\r\n"
    assert ask(gun, ":MEAS:CURR? (@0)") == b"-5.00000E-08A\r\n"  # 1 GOhm leakage
    assert world.electrode_voltage("cathode") == -50.0
    clock.advance(1.5)
    assert ask(gun, ":READ:CHAN:STAT? (@0)") == b"136\r\n"  # on, constant voltage
    assert world.electrode_voltage("cathode") == -100.0
    ask(gun, ":VOLT OFF,(@0)")  # off ramps down
    assert ask(gun, ":READ:CHAN:STAT? (@0)") == b"16\r\n"
    clock.advance(2.0)
    assert ask(gun, ":MEAS:VOLT? (@0)") == b"0.00000E+00V\r\n"
    assert ask(gun, ":READ:CHAN:STAT? (@0)") == b"0\r\n"


def test_setpoint_beyond_nominal_is_ignored_with_input_error(gun, world):
    ask(gun, ":VOLT 200,(@2)")
    assert ask(gun, ":VOLT 1000.5,(@2)") == b""
    assert ask(gun, ":READ:VOLT? (@2)") == b"2.00000E+02V\r\n"
    assert ask(gun, ":READ:CHAN:STAT? (@2)") == b"4\r\n"
    assert ask(gun, ":READ:CHAN:STAT? (@2)") == b"4\r\n"  # a query does not clear it
    ask(gun, ":VOLT -1000,(@2)")  # bipolar: the full nominal voltage of either sign
    assert ask(gun, ":READ:CHAN:STAT? (@2)") == b"0\r\n"
    assert world.hv["hv_gun"][2].set_V == -1000.0
    ask(gun, ":VOLT lots,(@2)")
    assert ask(gun, ":READ:CHAN:STAT? (@2)") == b"4\r\n"
    ask(gun, "*CLS")
    assert ask(gun, ":READ:CHAN:STAT? (@2)") == b"0\r\n"


def test_emergency_off_drops_at_once_and_refuses_on_until_cleared(world, clock):
    det = IsegHVEmulator(world, "hv_detector")
    ask(det, ":VOLT 2500,(@0)")
    ask(det, ":VOLT ON,(@0)")
    clock.advance(20.0)  # 200 V/s on the 4 kV module
    assert world.electrode_voltage("channeltron") == 2500.0
    ask(det, ":VOLT EMCY OFF,(@0)")
    assert world.electrode_voltage("channeltron") == 0.0  # no time has passed
    assert ask(det, ":READ:CHAN:STAT? (@0);:MEAS:VOLT? (@0)") == b"32;0.00000E+00V\r\n"
    ask(det, ":VOLT ON,(@0)")
    assert ask(det, ":READ:CHAN:STAT? (@0)") == b"36\r\n"  # refused: input error
    clock.advance(5.0)
    assert world.electrode_voltage("channeltron") == 0.0
    ask(det, ":VOLT EMCY CLR,(@0)")
    assert ask(det, ":READ:CHAN:STAT? (@0)") == b"0\r\n"  # off, not on
    ask(det, ":VOLT:EMCY OFF,(@0)")  # the manual's other spelling
    assert world.hv["hv_detector"][0].emergency_off
    ask(det, ":VOLT:EMCY CLR,(@0)")
    ask(det, ":VOLT ON,(@0)")
    clock.advance(1.0)
    assert world.electrode_voltage("channeltron") == 200.0


def test_module_ramp_speed_is_percent_of_nominal(gun, world, clock):
    assert ask(gun, ":CONF:RAMP:VOLT?") == b"5.000E+00%/s\r\n"
    ask(gun, ":CONF:RAMP:VOLT 2.5")
    assert ask(gun, ":CONF:RAMP:VOLT?") == b"2.500E+00%/s\r\n"
    assert ask(gun, ":READ:RAMP:VOLT?") == b"2.500E+00%/s\r\n"
    assert all(ch.ramp_V_per_s == 25.0 for ch in world.hv["hv_gun"])
    ask(gun, ":VOLT 50,(@1);:VOLT ON,(@1)")
    clock.advance(1.0)
    assert world.electrode_voltage("wehnelt") == 25.0


@pytest.mark.parametrize("value", ["20", "0.01", "fast", "5,(@0)"])
def test_module_ramp_speed_out_of_range_is_a_module_input_error(gun, world, value):
    good = int(ask(gun, ":READ:MOD:STAT?"))
    ask(gun, f":CONF:RAMP:VOLT {value}")
    assert int(ask(gun, ":READ:MOD:STAT?")) == good | 1 << 6
    assert world.hv["hv_gun"][0].ramp_V_per_s == 50.0
    ask(gun, ":CONF:RAMP:VOLT 5")  # an accepted module setting clears it
    assert int(ask(gun, ":READ:MOD:STAT?")) == good


def test_module_status_summarises_the_channels(gun, clock):
    # fine adjustment, no sum error, no ramp, safety loop, module, supply, temperature good
    assert ask(gun, ":READ:MOD:STAT?") == b"30465\r\n"
    ask(gun, ":VOLT 100,(@4);:VOLT ON,(@4)")
    assert int(ask(gun, ":READ:MOD:STAT?")) == 30465 - (1 << 9) + (1 << 3)  # ramping, HV on
    clock.advance(5.0)
    assert int(ask(gun, ":READ:MOD:STAT?")) == 30465 + (1 << 3)


def test_unknown_commands_and_foreign_channels_are_not_answered(gun):
    assert ask(gun, "SYST:ERR?") == b""  # iseg keeps no SCPI error queue
    assert int(ask(gun, ":READ:MOD:STAT?")) & 1 << 6
    ask(gun, "*CLS")
    assert ask(gun, ":MEAS:VOLT? (@8)") == b""  # the module has channels 0-7
    assert ask(gun, ":READ:VOLT?") == b""  # channel list missing
    assert int(ask(gun, ":READ:MOD:STAT?")) & 1 << 6
    ask(gun, "*CLS")
    assert int(ask(gun, ":READ:MOD:STAT?")) & 1 << 6 == 0


def test_channel_lists_ranges_and_long_headers(gun, world, clock):
    ask(gun, ":VOLT 10,(@0-2)")
    ask(gun, ":VOLT 20,(@4,6)")
    assert ask(gun, ":READ:VOLT? (@0,1,2,4,5,6)") == (
        b"1.00000E+01V,1.00000E+01V,1.00000E+01V,2.00000E+01V,0.00000E+00V,2.00000E+01V\r\n"
    )
    ask(gun, ":VOLTAGE ON,(@0-7)")
    clock.advance(1.0)
    assert ask(gun, ":READ:CHANNEL:STATUS? (@0,5)") == b"136,136\r\n"  # gun_L3 is on at its 0 V setpoint
    assert ask(gun, ":measure:voltage?(@6)") == b"2.00000E+01V\r\n"
    assert world.electrode_voltage("gun_L4") == 20.0


def test_reset_turns_everything_off_with_ramp(gun, world, clock):
    ask(gun, ":VOLT 100,(@3);:VOLT ON,(@3)")
    clock.advance(5.0)
    ask(gun, "*RST")
    assert world.hv["hv_gun"][3].set_V == 0.0 and not world.hv["hv_gun"][3].on
    assert world.electrode_voltage("gun_L1") == 100.0  # ramps down, does not jump
    clock.advance(2.0)
    assert world.electrode_voltage("gun_L1") == 0.0
    assert ask(gun, "*OPC?") == b"1\r\n"


def test_line_endings_and_partial_input(gun):
    assert gun.feed(b"*IDN?\n").endswith(b"5.26\r\n")  # LF alone is accepted
    assert gun.feed(b":READ:MOD:") == b""
    assert gun.feed(b"CHAN?\r\n") == b"8\r\n"
    gun.feed(b":READ:MOD:")
    gun.on_connect()  # a new connection drops the half line
    assert gun.feed(b"*OPC?\r\n") == b"1\r\n"


@pytest.fixture
def det(world):
    return IsegHVEmulator(world, "hv_detector")


def test_instruction_set_and_common_commands(gun):
    assert ask(gun, "*INSTR?") == b"EDCP\r\n"
    assert ask(gun, "*LLO;*GTL;*OPC?") == b"1\r\n"
    assert ask(gun, ":READ:FIRM:REL?") == b"5.26\r\n"


def test_current_set_value_limits_the_current(det, world, clock):
    ask(det, ":VOLT 2500,(@0);:VOLT ON,(@0)")
    clock.advance(20.0)
    assert world.electrode_voltage("channeltron") == 2500.0
    rate = world.measured_rate()
    ask(det, ":CURR 1E-6,(@0)")  # 1 uA into the 100 MOhm channeltron: 100 V at most
    assert ask(det, ":READ:CURR? (@0)") == b"1.00000E-06A\r\n"
    assert ask(det, ":MEAS:VOLT? (@0);:MEAS:CURR? (@0)") == b"1.00000E+02V;1.00000E-06A\r\n"
    assert int(ask(det, ":READ:CHAN:STAT? (@0)")) == 8 | 64  # on, constant current
    assert world.electrode_voltage("channeltron") == pytest.approx(100.0)
    assert world.measured_rate() < 1e-3 * rate  # far below the plateau: the channeltron stops counting
    ask(det, ":CURR 2E-3,(@0)")
    assert ask(det, ":MEAS:VOLT? (@0)") == b"2.50000E+03V\r\n"
    assert int(ask(det, ":READ:CHAN:STAT? (@0)")) == 8 | 128  # back to constant voltage


def test_current_beyond_nominal_is_an_input_error(det, world):
    ask(det, ":CURR 5E-4,(@1)")
    ask(det, ":CURR 3E-3,(@1)")  # the 4 kV module has 2 mA
    assert ask(det, ":READ:CHAN:STAT? (@1)") == b"4\r\n"
    assert world.hv["hv_detector"][1].current_limit_A == 5e-4
    ask(det, "*RST")
    assert ask(det, ":READ:CURR? (@1)") == b"2.00000E-03A\r\n"  # *RST: Iset = Inom


def test_read_backs(gun):
    ask(gun, ":VOLT:BOUNDS 5,(@2);:CURR:BOU 1E-6,(@2)")
    assert ask(gun, ":READ:VOLT:LIM? (@2);:READ:VOLT:NOM? (@2);:READ:VOLT:MODE? (@2)") == (
        b"1.00000E+03V;1.00000E+03V;1.00000E+03V\r\n"
    )
    assert ask(gun, ":READ:VOLT:MODE:LIST? (@2);:READ:VOLT:BOU? (@2)") == b"1.00000E+03V;5.00000E+00V\r\n"
    assert ask(gun, ":READ:CURR:LIM? (@2);NOM? (@2);MODE? (@2);BOU? (@2)") == (
        b"1.00000E-03A;1.00000E-03A;1.00000E-03A;1.00000E-06A\r\n"
    )
    assert ask(gun, ":READ:VOLT:LIM?;:READ:CURR:LIM?") == b"1.000E+02%;1.000E+02%\r\n"  # the module
    assert ask(gun, ":READ:VOLT:ON? (@2);EMCY? (@2)") == b"0;0\r\n"
    assert ask(gun, ":READ:RAMP:VOLT? (@2);:READ:RAMP:VOLT:MIN? (@2);MAX? (@2)") == (
        b"5.000E+01V/s;4.000E-01V/s;1.000E+02V/s\r\n"
    )
    assert ask(gun, ":READ:RAMP:CURR?;:CONF:RAMP:CURR 2;:READ:RAMP:CURR? (@2)") == b"5.000E+00%/s;2.000E-05A/s\r\n"
    assert ask(gun, ":READ:MOD:TEMP?") == b"3.20000E+01C\r\n"
    assert ask(gun, ":READ:MOD:SUPP? (@0);:READ:MOD:SUPP:N24V?;:READ:MOD:SUPPLY:P3V?") == (
        b"2.40000E+01V;-2.40000E+01V;3.30000E+00V\r\n"
    )
    assert ask(gun, ":CONF:OUTP:MODE? (@2);MODE:LIST? (@2);:CONF:OUTP:POL:LIST? (@2)") == b"1;1;p,n\r\n"
    assert ask(gun, ":CONF:AVER?;:CONF:KILL?;:CONF:ADJ?") == b"64;0;1\r\n"
    changes = int(ask(gun, ":READ:MOD:SETVALUE?"))
    ask(gun, ":VOLT 10,(@3)")
    assert int(ask(gun, ":READ:MOD:SETVALUE?")) == changes + 1


def test_polarity_of_a_bipolar_channel(gun, world):
    ask(gun, ":VOLT 40,(@1);:CONF:OUTP:POL n,(@1)")
    assert ask(gun, ":READ:VOLT? (@1);:CONF:OUTP:POL? (@1)") == b"-4.00000E+01V;n\r\n"
    ask(gun, ":VOLT ON,(@1);:CONF:OUTP:POL p,(@1)")  # not while on
    assert int(ask(gun, ":READ:CHAN:STAT? (@1)")) & 4
    assert world.hv["hv_gun"][1].set_V == -40.0


def test_channel_events_latch_and_clear(gun, clock):
    ask(gun, ":VOLT 100,(@0);:VOLT ON,(@0)")
    assert ask(gun, ":READ:CHAN:EV:STAT? (@0)") == b"0\r\n"  # ramping
    clock.advance(5.0)
    assert ask(gun, ":READ:CHAN:EV:STAT? (@0)") == b"144\r\n"  # end of ramp, constant voltage
    ask(gun, ":VOLT OFF,(@0)")
    clock.advance(5.0)
    assert ask(gun, ":READ:CHAN:EVENT:STATUS? (@0)") == b"152\r\n"  # + on to off
    ask(gun, ":EVENT 16,(@0)")  # a one clears that bit
    assert ask(gun, ":READ:CHAN:EV:STAT? (@0)") == b"136\r\n"
    ask(gun, ":EVENT CLEAR,(@0)")
    assert ask(gun, ":READ:CHAN:EV:STAT? (@0)") == b"0\r\n"
    ask(gun, ":VOLT 2000,(@0)")  # refused: input error, latched as an event too
    assert ask(gun, ":READ:CHAN:EV:STAT? (@0)") == b"4\r\n"


def test_event_masks_reach_the_module_status(gun, clock):
    ask(gun, ":EVENT:MASK 8,(@4);:CONF:EVENT:CHANMASK 16")
    assert ask(gun, ":READ:CHAN:EV:MASK? (@4);:READ:MOD:EV:CHANMASK?") == b"8;16\r\n"
    ask(gun, ":VOLT 10,(@4);:VOLT ON,(@4)")
    clock.advance(1.0)
    ask(gun, ":VOLT OFF,(@4)")
    assert ask(gun, ":READ:MOD:EV:CHANSTAT?") == b"16\r\n"  # channel 4 went from on to off
    assert int(ask(gun, ":READ:MOD:STAT?")) & 1 << 11  # Is Event Active
    ask(gun, "*CLS")
    assert ask(gun, ":READ:MOD:EV:CHANSTAT?") == b"0\r\n"


def test_kill_enable_trips_a_channel_at_its_current_limit(det, world, clock):
    ask(det, ":VOLT 2500,(@0);:VOLT ON,(@0)")
    clock.advance(20.0)
    ask(det, ":CONF:KILL 1")
    assert int(ask(det, ":READ:MOD:STAT?")) & 1 << 15  # Is Kill Enable
    ask(det, ":CURR 1E-6,(@0)")
    status = int(ask(det, ":READ:CHAN:STAT? (@0)"))
    assert status & 1 << 13 and not status & 8  # Is Current Trip, off
    assert world.electrode_voltage("channeltron") == 0.0  # shut down without ramp
    ask(det, ":CURR 2E-3,(@0);:VOLT ON,(@0)")  # refused until the trip is cleared
    assert int(ask(det, ":READ:CHAN:STAT? (@0)")) & 4
    ask(det, ":EVENT CLEAR,(@0);:VOLT ON,(@0)")
    assert int(ask(det, ":READ:CHAN:STAT? (@0)")) & (8 | 1 << 13) == 8


def test_delayed_trip_ramps_down_after_the_trip_time(det, world, clock):
    ask(det, ":VOLT 2500,(@0);:VOLT ON,(@0)")
    clock.advance(20.0)
    ask(det, ":CONF:TRIP:ACTION 1,(@0);TIME 500,(@0)")  # relative header: :CONF:TRIP:TIME
    assert ask(det, ":CONF:TRIP:ACT? (@0);TIME? (@0)") == b"1;500ms\r\n"
    ask(det, ":CURR 2E-5,(@0)")  # 2 kV at 20 uA
    assert int(ask(det, ":READ:CHAN:STAT? (@0)")) == 8 | 64
    clock.advance(0.6)
    status = int(ask(det, ":READ:CHAN:STAT? (@0)"))
    assert status & 1 << 13 and status & 16  # tripped, ramping down
    assert 1000.0 < world.electrode_voltage("channeltron") < 2000.0


# ------------------------------------------------------------------ serial echo
def test_serial_link_echoes_every_line_before_its_answer(world):
    # the module on its own USB/RS-232 link: the command line comes back first
    hv = IsegHVEmulator(world, "hv_detector", echo=True)
    assert ask(hv, "*IDN?") == b"*IDN?\r\niseg Spezialelektronik GmbH,EBS 40 40,520003,5.26\r\n"
    assert ask(hv, ":VOLT 250,(@1)") == b":VOLT 250,(@1)\r\n"  # a set command: its echo only
    assert world.hv["hv_detector"][1].set_V == 250.0
    assert ask(hv, ":READ:VOLT? (@1)") == b":READ:VOLT? (@1)\r\n2.50000E+02V\r\n"
    # unknown: echoed, then nothing (as without echo), and Is Input Error is set
    assert ask(hv, ":READ:NOTHING?") == b":READ:NOTHING?\r\n"
    assert int(ask(hv, ":READ:MOD:STAT?").split(b"\r\n")[1]) & (1 << 6)


def test_no_echo_on_the_controller_socket(gun):
    assert ask(gun, ":VOLT 10,(@0)") == b""
    assert ask(gun, ":READ:VOLT? (@0)") == b"1.00000E+01V\r\n"
