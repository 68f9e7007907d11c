"""SMC100 emulator: the controller's bytes, states and error letters, driving the world's goniometer."""

import pytest

from simulators.newport_smc100 import SMC100Emulator


class Wire:
    """Talk to the emulator the way the serial line does."""

    def __init__(self, world):
        self.world = world
        self.emulator = SMC100Emulator(world)

    def __call__(self, command: str) -> str | None:
        out = self.emulator.feed(command.encode() + b"\r\n")
        if not out:
            return None
        assert out.endswith(b"\r\n") and out.count(b"\r\n") == 1
        return out[:-2].decode()

    def error(self) -> str:
        return self("1TE")

    def state(self) -> str:
        return self("1TS")[-2:]

    def homed(self, clock):
        self("1OR")
        clock.advance(60)
        assert self.state() == "32"


@pytest.fixture
def smc(world):
    return Wire(world)


def test_power_on_not_referenced_from_reset(smc):
    assert smc("1TS") == "1TS00000A"
    assert smc("1TE") == "1TE@"
    assert smc.world.goniometer.homed is False


def test_move_refused_until_referenced(smc, world):
    assert smc("1PA50") is None  # set commands are never answered
    assert smc.error() == "1TEH"
    assert smc.error() == "1TE@"  # reading TE clears it
    assert world.goniometer.position(world.clock.now()) == 0.0


def test_home_search_takes_time_and_ends_ready_from_homing(smc, world, clock):
    world.goniometer.move_to(40.0, clock.now())  # the stage was left at 40 deg before power-on
    clock.advance(60)
    assert smc("1TP") == "1TP40"
    assert smc("1OR") is None and smc.error() == "1TE@"
    assert smc.state() == "1E"
    clock.advance(4.0)  # 5 deg/s towards home at 0
    assert smc("1TP") == "1TP20" and smc.state() == "1E"
    assert smc("1OR") is None and smc.error() == "1TEE"  # home sequence already started
    clock.advance(4.0)
    assert smc("1TS") == "1TS000032"
    assert smc("1TP") == "1TP0" and world.goniometer.homed


def test_move_takes_distance_over_velocity(smc, world, clock):
    smc.homed(clock)
    assert smc("1PA25") is None and smc.error() == "1TE@"
    assert smc("1TS") == "1TS000028"
    assert smc("1PA?") == "1PA25"
    clock.advance(2.5)
    assert smc("1TP") == "1TP12.5"
    assert smc("1PA30") is None and smc.error() == "1TEM"  # not while moving
    clock.advance(2.5)
    assert smc("1TS") == "1TS000033" and smc("1TP") == "1TP25"
    assert world.scattering_angle_deg() == 25.0


def test_home_refused_when_ready(smc, clock):
    smc.homed(clock)
    assert smc("1OR") is None and smc.error() == "1TEK"


def test_stop_during_move_and_during_home(smc, world, clock):
    smc.homed(clock)
    smc("1PA100")
    clock.advance(3.0)
    assert smc("1ST") is None
    assert smc.state() == "33" and smc("1TP") == "1TP15"
    clock.advance(10)
    assert smc("1TP") == "1TP15" and smc("1PA?") == "1PA15"
    smc("1RS")
    smc("1OR")
    clock.advance(1.0)
    smc("1ST")
    assert smc.state() == "0B" and not world.goniometer.homed
    assert smc("1PA20") is None and smc.error() == "1TEH"


def test_software_limits_query_and_set(smc, clock):
    assert smc("1SL?") == "1SL-10"  # a query is answered in every state
    smc("1SL-5")
    assert smc.error() == "1TEH"  # but the limits are set only in CONFIGURATION, DISABLE, READY
    smc.homed(clock)
    assert smc("1SL?") == "1SL-10" and smc("1SR?") == "1SR170"
    smc("1SL-5")
    smc("1SR100")
    assert smc.error() == "1TE@"
    assert smc("1SL?") == "1SL-5" and smc("1SR?") == "1SR100"
    smc("1PA120")
    assert smc.error() == "1TEG" and smc.state() == "32"  # out of the software limits: no move
    smc("1PA-6")
    assert smc.error() == "1TEG"
    smc("1SL5")
    assert smc.error() == "1TEC"  # SL is -1e12..0
    smc("1SR-1")
    assert smc.error() == "1TEC"  # SR is 0..1e12
    smc("1PA50")
    clock.advance(20)
    smc("1SR40")
    assert smc.error() == "1TEC"  # a working limit may not exclude the set-point
    assert smc("1SR?") == "1SR100"


def test_limits_set_refused_while_moving(smc, clock):
    smc.homed(clock)
    smc("1PA50")
    assert smc("1SR120") is None and smc.error() == "1TEM"
    assert smc("1SR?") == "1SR170"


def test_velocity(smc, world, clock):
    assert smc("1VA?") == "1VA5"
    smc.homed(clock)
    smc("1VA2")
    assert smc.error() == "1TE@" and smc("1VA?") == "1VA2"
    smc("1PA10")
    assert smc("1VA3") is None and smc.error() == "1TEM"
    clock.advance(4.0)
    assert smc("1TP") == "1TP8" and smc.state() == "28"
    clock.advance(1.0)
    assert smc.state() == "33"
    smc("1VA50")
    assert smc.error() == "1TEC"  # above the stage's maximum
    smc("1VA0")
    assert smc.error() == "1TEC"


def test_missing_or_bad_parameter_is_error_c(smc, clock):
    smc.homed(clock)
    for command in ("1PA", "1PAabc", "1PAnan"):
        smc(command)
        assert smc.error() == "1TEC", command


def test_identity_and_version(smc):
    assert smc("1ID?") == "1IDURS100BCC"
    assert smc("1VE") == "1VE SMC_CC - Controller-driver version  3. 1. 2"
    smc("1IDother")
    assert smc.error() == "1TEH"  # the stage name is set only in CONFIGURATION


def test_reset_loses_reference_and_restores_stored_settings(smc, world, clock):
    smc.homed(clock)
    smc("1VA1")
    smc("1SL-2")
    smc("1PA30")
    clock.advance(2)
    smc("1RS")
    assert smc("1TS") == "1TS00000A" and not world.goniometer.homed
    assert not world.goniometer.is_moving(clock.now())
    assert smc("1VA?") == "1VA5"
    smc("1OR")
    clock.advance(60)
    assert smc("1SL?") == "1SL-10"


def test_disable_and_enable(smc, clock):
    smc.homed(clock)
    smc("1MM0")
    assert smc.state() == "3C"
    smc("1PA50")
    assert smc.error() == "1TEJ"
    smc("1MM1")
    assert smc.state() == "34"
    smc("1MM1")
    assert smc.error() == "1TEK"


def test_following_error_switches_the_motor_off_mid_move(smc, world, clock):
    smc.homed(clock)
    smc("1PA100")
    clock.advance(2.0)
    smc.emulator.inject_error_bits = 0x0020
    assert smc("1TS") == "1TS00203D"  # DISABLE from MOVING, the error bits shown
    clock.advance(10)
    assert smc("1TP") == "1TP10" and not world.goniometer.is_moving(clock.now())
    smc.emulator.inject_error_bits = 0
    smc("1MM1")
    assert smc("1TS") == "1TS000034"
    assert smc("1TH") == "1TH10"  # MM1 sets the set-point to the present position


@pytest.mark.parametrize("bits", [0x0001, 0x0002, 0x0200, 0x0004])
def test_end_of_run_or_hardware_fault_aborts_a_move_to_not_referenced(smc, world, clock, bits):
    smc.homed(clock)
    smc("1PA100")
    clock.advance(2.0)
    smc.emulator.inject_error_bits = bits
    assert smc("1TS") == f"1TS{bits:04X}0F"  # NOT REFERENCED from MOVING
    clock.advance(10)
    assert smc("1TP") == "1TP10" and not world.goniometer.homed
    smc("1MM1")
    assert smc.error() == "1TEH"  # the reference is lost: home again
    smc.emulator.inject_error_bits = 0
    smc("1OR")
    clock.advance(60)
    assert smc.state() == "32"


def test_faults_in_ready_and_disable(smc, clock):
    smc.homed(clock)
    smc.emulator.inject_error_bits = 0x0020
    assert smc("1TS") == "1TS00203C"  # DISABLE from READY
    smc.emulator.inject_error_bits = 0x0001
    assert smc("1TS") == "1TS00010D"  # an end of run in DISABLE: NOT REFERENCED from DISABLE
    smc.emulator.inject_error_bits = 0
    smc.homed(clock)
    smc.emulator.inject_error_bits = 0x0008
    assert smc("1TS") == "1TS00080E"  # RMS current limit in READY
    smc("1OR")
    assert smc.error() == "1TED"  # no home search with a hardware fault present


def test_end_of_run_during_home_is_looked_at_when_it_ends(smc, world, clock):
    world.goniometer.move_to(40.0, clock.now())
    clock.advance(60)
    smc("1OR")
    clock.advance(1)
    smc.emulator.inject_error_bits = 0x0001
    assert smc.state() == "1E"
    clock.advance(10)
    assert smc("1TS") == "1TS00010B"


def test_injected_error_during_home_leaves_not_referenced(smc, world, clock):
    world.goniometer.move_to(40.0, clock.now())
    clock.advance(60)
    smc("1OR")
    clock.advance(1)
    smc.emulator.inject_error_bits = 0x0040
    assert smc("1TS") == "1TS00400B"
    assert not world.goniometer.homed


def test_command_syntax(smc, clock):
    smc.homed(clock)
    assert smc("1 t p") == "1TP0"  # blanks ignored anywhere, lower case accepted
    smc("1 P A 1 2.5")
    clock.advance(10)
    assert smc("1TP") == "1TP12.5"
    assert smc("1ZZ") is None and smc.error() == "1TEA"  # unknown command
    assert smc("1.5TS") is None and smc.error() == "1TEA"  # floating point address
    assert smc("TS") is None and smc.error() == "1TEB"  # address missing
    assert smc("2TS") is None and smc.error() == "1TE@"  # another controller's command: ignored
    assert smc("1TS?") == "1TS000033"


def test_command_split_across_reads(smc):
    assert smc.emulator.feed(b"1T") == b""
    assert smc.emulator.feed(b"S\r") == b""
    assert smc.emulator.feed(b"\n1TE\r\n") == b"1TS00000A\r\n1TE@\r\n"


# ---------------------------------------------------------------- broadcast stop (emergency path)
@pytest.mark.parametrize("stop", ["ST", "0ST", "st", " S T"])
def test_address_less_stop_stops_the_turntable_where_it_is(smc, world, clock, stop):
    smc.homed(clock)
    smc("1PA100")
    clock.advance(3.0)
    assert smc(stop) is None  # a broadcast is never answered
    assert not world.goniometer.is_moving(clock.now())
    clock.advance(10)
    assert world.scattering_angle_deg() == 15.0
    assert smc("1TS") == "1TS000033" and smc("1TP") == "1TP15" and smc.error() == "1TE@"


def test_broadcast_stop_ends_a_home_search(smc, world, clock):
    world.goniometer.move_to(40.0, clock.now())
    clock.advance(60)
    smc("1OR")
    clock.advance(2)
    smc("ST")
    assert smc.state() == "0B" and not world.goniometer.homed
    assert world.goniometer.position(clock.now() + 5) == 30.0


def test_stop_in_not_referenced_is_refused(smc):
    smc("ST")
    assert smc.error() == "1TEH"


def test_broadcast_disable(smc, clock):
    smc.homed(clock)
    smc("MM0")
    assert smc.state() == "3C"
    smc("0MM1")
    assert smc.state() == "34"
    assert smc("MM?") is None  # a broadcast query gets no reply


# ---------------------------------------------------------------- TE and TB
def test_tb_explains_an_error_and_sets_none_itself(smc):
    assert smc("1TB") == "1TB@ No error"
    assert smc("1TB@") == "1TB@ No error"
    assert smc.error() == "1TE@"
    smc("1PA10")  # refused in NOT REFERENCED
    assert smc("1TB") == "1TBH Command not allowed in NOT REFERENCED state"
    assert smc.error() == "1TE@"  # TB read (and cleared) the memorised error


def test_qmi_style_error_check_te_then_tb_code(smc):
    """The QMI driver reads TE after every command and TB<letter> when TE is not @."""
    smc("1PA10")
    assert smc("1TE") == "1TEH"
    assert smc("1TBH") == "1TBH Command not allowed in NOT REFERENCED state"
    assert smc("1TE") == "1TE@"
    assert smc("1TP") == "1TP0"  # and the conversation goes on
    for letter, text in [("G", "Displacement out of limits"), ("C", "Parameter missing or out of range"),
                         ("W", "Command not allowed for PP version")]:
        assert smc(f"1TB{letter}") == f"1TB{letter} {text}"
        assert smc("1TE") == "1TE@"


def test_tb_with_an_unknown_letter(smc):
    assert smc("1TBZ") is None and smc.error() == "1TEC"


def test_ts_clears_latched_positioner_bits(smc, clock):
    smc("1PW1")
    smc("1OT2")  # a 2 s home time-out
    smc("1OH1")  # at 1 deg/s
    smc("1PW0")
    smc.world.goniometer.move_to(40.0, clock.now())
    clock.advance(60)
    smc("1OR")
    clock.advance(5)
    assert smc("1TS") == "1TS00400B"  # homing time-out: aborted at 2 s ...
    assert smc("1TS") == "1TS00000B"  # ... and the bit reported once
    assert smc("1TP") == "1TP38"


# ---------------------------------------------------------------- moves
def test_relative_move_and_set_point(smc, world, clock):
    smc.homed(clock)
    smc("1PR20")
    assert smc.error() == "1TE@" and smc.state() == "28"
    clock.advance(2)
    assert smc("1TH") == "1TH10" and smc("1TP") == "1TP10"  # the profiler's set-point while moving
    assert smc("1PR?") == "1PR20"
    clock.advance(2)
    smc("1PR-5.5")
    clock.advance(2)
    assert smc("1TS") == "1TS000033" and smc("1TP") == "1TP14.5" and smc("1TH") == "1TH14.5"
    smc("1PR-30")
    assert smc.error() == "1TEG"  # below SL
    assert world.scattering_angle_deg() == 14.5


def test_targets_are_rounded_to_the_encoder_grid(smc, world, clock):
    smc.homed(clock)
    smc("1PA10.00026")
    clock.advance(5)
    assert smc("1TP") == "1TP10.0005" and smc("1PA?") == "1PA10.0005"
    assert world.scattering_angle_deg() == pytest.approx(10.0005)


def test_simultaneous_started_move(smc, world, clock):
    smc.homed(clock)
    smc("1SE30")
    assert smc("1SE?") == "1SE30" and smc.state() == "32"  # prepared, not started
    smc("SE")
    assert smc.state() == "28"
    clock.advance(6)
    assert smc("1TP") == "1TP30"


def test_motion_time(smc, clock):
    smc("1PT10")
    assert smc.error() == "1TEH"
    smc.homed(clock)
    assert smc("1PT10") == "1PT2"  # 10 deg at 5 deg/s
    smc("1VA2")
    assert smc("1PT5") == "1PT2.5"
    assert smc("1PT-1") is None and smc.error() == "1TEC"


def test_acceleration_and_jerk(smc, clock):
    assert smc("1AC?") == "1AC20"
    smc("1AC10")
    assert smc.error() == "1TEH"
    smc.homed(clock)
    smc("1AC10")
    assert smc.error() == "1TE@" and smc("1AC?") == "1AC10"
    smc("1AC30")
    assert smc.error() == "1TEC"  # above the stored maximum
    smc("1JR0.1")
    assert smc("1JR?") == "1JR0.1"
    smc("1PA50")
    smc("1AC5")
    assert smc.error() == "1TEM"


def test_hysteresis_compensation_overshoots_positive_moves(smc, world, clock):
    smc("1PW1")
    smc("1BH2")
    smc("1PW0")
    smc.homed(clock)
    smc("1PA10")
    clock.advance(2.2)  # 11 deg of 10 + 2
    assert smc("1TP") == "1TP11" and smc.state() == "28"
    clock.advance(0.2)
    assert smc("1TP") == "1TP12"
    clock.advance(0.4)  # and back by 2 deg
    assert smc("1TP") == "1TP10" and smc.state() == "33"
    assert smc("1PT10") == "1PT2.8"
    smc("1PA4")  # negative moves approach directly
    clock.advance(1.2)
    assert smc("1TP") == "1TP4" and smc.state() == "33"


def test_backlash_waits_while_the_motor_takes_up_the_play(smc, world, clock):
    smc("1PW1")
    smc("1BA0.5")
    smc("1BH1")
    assert smc.error() == "1TEC"  # not together with backlash compensation
    smc("1PW0")
    smc.homed(clock)
    smc("1PA10")
    clock.advance(2)
    smc("1PA5")  # reverses: 0.1 s of play first, the stage standing still
    clock.advance(0.1)
    assert smc("1TP") == "1TP10"
    clock.advance(1.0)
    assert smc("1TP") == "1TP5" and smc.state() == "33"


# ---------------------------------------------------------------- CONFIGURATION
def test_configuration_state_saves_to_flash(smc, clock):
    assert smc("1PW?") == "1PW0"
    smc("1PW1")
    assert smc.state() == "14" and smc("1PW?") == "1PW1"
    smc("1VA10")
    smc("1SL-5")
    smc("1IDmy stage")
    smc("1PA5")
    assert smc.error() == "1TEI"
    smc("1PW0")
    assert smc.state() == "0C" and smc.error() == "1TE@"
    smc("1RS")
    assert smc("1VA?") == "1VA10" and smc("1SL?") == "1SL-5" and smc("1ID?") == "1IDmystage"
    smc.homed(clock)
    smc("1VA10")
    assert smc.error() == "1TE@"


def test_configuration_left_by_reset_is_lost(smc):
    smc("1PW1")
    smc("1VA1")
    smc("1RS")
    assert smc.state() == "0A" and smc("1VA?") == "1VA5"


def test_configuration_needs_not_referenced(smc, clock):
    smc.homed(clock)
    smc("1PW1")
    assert smc.error() == "1TEK"
    smc("1PW0")
    assert smc.error() == "1TEK"
    smc("1RS")
    smc("1PW0")
    assert smc.error() == "1TEH"


def test_pw0_ignores_commands_while_writing_the_flash(world, clock):
    wire = Wire(world)
    wire.emulator.save_s = 3.0
    wire("1PW1")
    wire("1PW0")
    assert wire("1TS") is None
    clock.advance(3.0)
    assert wire("1TS") == "1TS00000C"


def test_reset_reboot_time(world, clock):
    wire = Wire(world)
    wire.emulator.boot_s = 2.0
    wire("1RS")
    assert wire("1TS") is None
    clock.advance(2.0)
    assert wire("1TS") == "1TS00000A"


def test_zt_lists_every_configuration_parameter(smc, clock):
    lines = smc.emulator.feed(b"1ZT\r\n").decode().split("\r\n")
    assert lines[0] == "1PW1" and lines[-2] == "1PW0" and lines[-1] == ""
    assert lines[1] == "1AC20.000000" and "1HT0" in lines and "1SL-10.000000" in lines
    assert "1SU0.000500" in lines and "1ZX3" in lines
    assert [line[1:3] for line in lines[1:-2]] == [
        "AC", "BA", "BH", "DV", "FD", "FE", "FF", "HT", "JR", "KD", "KI", "KP", "KV", "OH", "OT",
        "QI", "QI", "QI", "SA", "SC", "SL", "SR", "SU", "VA", "ZX",
    ]
    smc.homed(clock)
    smc("1VA2")
    assert "1VA5.000000" in smc.emulator.feed(b"1ZT\r\n").decode()  # the stored value, not the working one


def test_configuration_only_parameters(smc, clock):
    for command in ("1BA0.1", "1DV24", "1HT1", "1OH2", "1OT10", "1QIL1", "1SA3", "1SC0", "1SU0.001", "1ZX2"):
        smc(command)
        assert smc.error() == "1TEH", command
    smc("1PW1")
    for command, query, reply in [
        ("1DV24", "1DV?", "1DV24"), ("1QIL2", "1QIL?", "1QIL2"), ("1QIR1.5", "1QIR?", "1QIR1.5"),
        ("1QIT5", "1QIT?", "1QIT5"), ("1SA3", "1SA?", "1SA3"), ("1SC0", "1SC?", "1SC0"),
        ("1KP10", "1KP?", "1KP10"), ("1FE0.1", "1FE?", "1FE0.1"), ("1HT2", "1HT?", "1HT2"),
    ]:
        smc(command)
        assert smc.error() == "1TE@", command
        assert smc(query) == reply
    for bad in ("1DV50", "1QIR1.6", "1SA1", "1SA32", "1HT5", "1OT1", "1FF48", "1QIX1", "1QI"):
        smc(bad)
        assert smc.error() == "1TEC", bad


def test_loop_parameters_in_disable_only(smc, clock):
    smc.homed(clock)
    smc("1KP3")
    assert smc.error() == "1TEK"
    smc("1MM0")
    smc("1KP3")
    assert smc.error() == "1TE@" and smc("1KP?") == "1KP3"


def test_keypad_enable_errors_as_listed(smc, clock):
    smc.homed(clock)
    smc("1JM0")
    assert smc.error() == "1TE@" and smc("1JM?") == "1JM0"
    smc("1JM2")
    assert smc.error() == "1TEA"
    smc("1JM")
    assert smc.error() == "1TEB"
    smc("1JD")
    assert smc.error() == "1TEK"  # no keypad: never in JOGGING


def test_encoder_increment_sets_the_units(smc, world, clock):
    smc("1PW1")
    smc("1SU0.001")  # one count = 0.001 unit: 1 deg = 2 units
    smc("1SR340")
    smc("1VA10")
    smc("1PW0")
    smc.homed(clock)
    smc("1PA100")
    clock.advance(10)
    assert smc("1TP") == "1TP100" and world.scattering_angle_deg() == 50.0


@pytest.mark.parametrize("home_type", [3, 4])
def test_home_on_the_negative_end_of_run_switch(smc, world, clock, home_type):
    smc("1PW1")
    smc(f"1HT{home_type}")
    smc("1SL0")
    smc("1PW0")
    smc("1OR")
    clock.advance(5)
    assert smc.state() == "32" and smc("1TP") == "1TP0" and world.goniometer.position(clock.now()) == -10.0
    smc("1PA10")
    clock.advance(2)
    assert world.scattering_angle_deg() == 0.0


def test_home_at_the_present_position(smc, world, clock):
    world.goniometer.move_to(30.0, clock.now())
    clock.advance(10)
    smc("1PW1")
    smc("1HT1")
    smc("1PW0")
    smc("1OR")
    assert smc.state() == "32" and smc("1TP") == "1TP0"
    assert world.goniometer.homed and world.scattering_angle_deg() == 30.0


def test_esp_stage_configuration(smc):
    assert smc("1ZX?") == "1ZXURS100BCC"
    smc("1PW1")
    smc("1VA1")
    smc("1ZX2")  # reload the stage's own parameters
    assert smc("1VA?") == "1VA5"
    smc("1ZX1")
    assert smc("1ZX?") == "1ZXUNKNOWN"


# ---------------------------------------------------------------- inputs, outputs, version
def test_analog_and_ttl_inputs_and_outputs(smc, clock):
    assert smc("1RA") == "1RA0" and smc("1RB") == "1RB15"  # unwired TTL inputs are pulled up
    smc.emulator.analog_input_V = 7.8
    smc.emulator.ttl_inputs = 5
    assert smc("1RA") == "1RA7.8125" and smc("1RB") == "1RB5"
    smc("1SB3")
    assert smc.error() == "1TEH"
    smc.homed(clock)
    smc("1SB3")
    assert smc("1SB?") == "1SB3"
    smc("1SB16")
    assert smc.error() == "1TEC"


def test_mm_query(smc, clock):
    smc.homed(clock)
    assert smc("1MM?") == "1MM1"
    smc("1MM0")
    assert smc("1MM?") == "1MM0"


def test_pp_version(world, clock):
    wire = Wire(world)
    wire.emulator = SMC100Emulator(world, variant="PP")
    assert wire("1VE") == "1VE SMC_PP - Controller-driver version  3. 1. 2"
    assert wire("1ID?") == "1IDURS100BPP"
    assert wire("1FRM?") == "1FRM200" and wire("1FRS?") == "1FRS0.1"
    for command in ("1KP?", "1SU?", "1SC?", "1DV?"):
        assert wire(command) is None and wire.error() == "1TEW", command
    assert wire("1VB?") == "1VB0"
    wire.homed(clock)
    wire("1PA12.3")
    clock.advance(5)
    assert wire("1TP") == "1TP12.3"


def test_cc_refuses_the_stepper_commands(smc):
    for command in ("1FRM?", "1FRS0.1", "1VB?"):
        assert smc(command) is None and smc.error() == "1TEX", command


# ---------------------------------------------------------------- what public clients send
def test_parameterless_commands_ignore_what_follows(smc):
    """Clients send TS?, TP?, TH?, VE?, TE? (one adds a 0 before the address)."""
    assert smc("1TS?") == "1TS00000A"
    assert smc("01TS?") == "1TS00000A"
    assert smc("1TP?") == "1TP0" and smc("1TH?") == "1TH0"
    assert smc("1VE?").startswith("1VE SMC_CC")
    assert smc("1TE?") == "1TE@"


def test_reset_and_configure_sequence(smc, clock):
    """RS twice, wait for 0A, ID?, PW1, wait for 14, ZX1, ZX2, PW0, wait for 0C, then home."""
    smc("1RS")
    smc("1RS")
    assert smc("1TS?") == "1TS00000A"
    assert smc("1ID?") == "1IDURS100BCC"
    smc("1PW1")
    assert smc("1TS?") == "1TS000014"
    smc("1ZX1")
    smc("1ZX2")
    smc("1PW0")
    assert smc("1TS?") == "1TS00000C"
    smc("1OR")
    clock.advance(60)
    assert smc("1TS?") == "1TS000032" and smc.error() == "1TE@"


def test_stage_identifier_through_configuration(smc, clock):
    """QMI reads ID? inside PW1 ... PW0 (after RS when referenced), checking TE after each."""
    smc.homed(clock)
    assert smc("1TS")[-2:] == "32"
    smc("1RS")
    smc("1PW1")
    assert smc("1TE") == "1TE@"
    assert smc("1ID?") == "1IDURS100BCC"
    assert smc("1TE") == "1TE@"
    smc("1PW0")
    assert smc("1TS") == "1TS00000C"
