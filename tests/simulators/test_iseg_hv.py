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
