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
    assert smc("1SL?") is None and smc.error() == "1TEH"  # no answer in NOT REFERENCED
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


def test_limits_query_refused_while_moving(smc, clock):
    smc.homed(clock)
    smc("1PA50")
    assert smc("1SR?") is None and smc.error() == "1TEM"


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


@pytest.mark.parametrize("bits", [0x0020, 0x0200, 0x0001])
def test_injected_positioner_error_cuts_a_move(smc, world, clock, bits):
    smc.homed(clock)
    smc("1PA100")
    clock.advance(2.0)
    smc.emulator.inject_error_bits = bits
    assert smc("1TS") == f"1TS{bits:04X}3D"  # DISABLE from MOVING, the error bits shown
    clock.advance(10)
    assert smc("1TP") == "1TP10" and not world.goniometer.is_moving(clock.now())
    smc.emulator.inject_error_bits = 0
    smc("1MM1")
    assert smc("1TS") == "1TS000034"


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
