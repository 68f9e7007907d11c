"""Newport SMC100 goniometer driver: every command byte for byte, then against its emulator."""

import pytest

from drivers.errors import ConnectionLost, DeviceError, GarbledReply, InstrumentError, InstrumentTimeout, LimitError
from drivers.newport_smc100 import (
    COMMAND_ERRORS,
    CONTROLLER_STATES,
    POSITIONER_ERRORS,
    MotionTimeout,
    NewportSMC100,
    SMC100CommandError,
    format_number,
)
from drivers.testing import ProtocolTransport, expected_protocol
from foundation.clock import VirtualClock


def q(command: str, reply: str | None):
    """One exchange: ``command`` + CR LF out, ``reply`` + CR LF back (None = silence)."""
    return (command.encode() + b"\r\n", None if reply is None else reply.encode() + b"\r\n")


def sent(command: str):
    """A set command: the SMC100 does not answer it."""
    return (command.encode() + b"\r\n", None)


NO_ERROR = q("1TE", "1TE@")


def set_ok(command: str):
    return [sent(command), NO_ERROR]


# ----------------------------------------------------------------- line settings
def test_line_settings_are_the_manuals():
    s = NewportSMC100.serial_settings
    assert (s.baud_rate, s.bytesize, s.parity, s.stopbits, s.xonxoff) == (57600, 8, "N", 1, True)
    assert NewportSMC100.write_termination == b"\r\n" == NewportSMC100.read_termination


def test_constructor_rejects_bad_configuration():
    transport = ProtocolTransport([])
    with pytest.raises(ValueError, match="controller_address"):
        NewportSMC100("x", transport=transport, controller_address=32)
    with pytest.raises(ValueError, match="min_angle_deg < max_angle_deg"):
        NewportSMC100("x", transport=transport, min_angle_deg=130, max_angle_deg=20)
    with pytest.raises(ValueError, match="backlash_deg"):
        NewportSMC100("x", transport=transport, backlash_deg=-1)


# ----------------------------------------------------------------- queries
def test_position_tp():
    with expected_protocol(NewportSMC100, [q("1TP", "1TP12.3456")]) as smc:
        assert smc.position_deg == 12.3456


def test_target_position_pa_query():
    with expected_protocol(NewportSMC100, [q("1PA?", "1PA25")]) as smc:
        assert smc.target_position_deg == 25.0


def test_other_controller_address_prefixes_every_command():
    pairs = [q("7TP", "7TP-1.5"), q("7TS", "7TS000033")]
    with expected_protocol(NewportSMC100, pairs, controller_address=7) as smc:
        assert smc.position_deg == -1.5
        assert smc.state().ready


@pytest.mark.parametrize("code,name", sorted(CONTROLLER_STATES.items()))
def test_every_controller_state_decodes(code, name):
    with expected_protocol(NewportSMC100, [q("1TS", f"1TS0000{code}")]) as smc:
        st = smc.state()
    assert st.state_code == code and st.state_name == name and st.raw == f"1TS0000{code}"
    assert st.error_bits == 0 and st.errors == ()
    assert st.ready == name.startswith("READY")
    assert st.moving == (name == "MOVING")
    assert st.homing == name.startswith("HOMING")
    assert st.disabled == name.startswith("DISABLE")
    assert st.referenced == (name.split()[0] in ("READY", "MOVING", "DISABLE", "JOGGING"))


def test_state_names_cover_the_manual_examples():
    assert CONTROLLER_STATES["0A"] == "NOT REFERENCED from reset"
    assert CONTROLLER_STATES["1E"].startswith("HOMING")
    assert CONTROLLER_STATES["28"] == "MOVING"
    assert [CONTROLLER_STATES[c] for c in ("32", "33", "34")] == [
        "READY from HOMING",
        "READY from MOVING",
        "READY from DISABLE",
    ]


@pytest.mark.parametrize("bit,name", sorted(POSITIONER_ERRORS.items()))
def test_every_positioner_error_bit_decodes(bit, name):
    with expected_protocol(NewportSMC100, [q("1TS", f"1TS{bit:04X}33")]) as smc:
        st = smc.state()
    assert st.error_bits == bit and st.errors == (name,) and st.ready


def test_several_error_bits_and_lower_case_hex():
    with expected_protocol(NewportSMC100, [q("1TS", "1TS0a213D")]) as smc:
        st = smc.state()
    assert st.error_bits == 0x0A21
    assert st.errors == (
        "negative end of run",
        "following error",
        "80 W output power exceeded",
        "unused error bit 0x0800",
    )
    assert st.disabled and st.state_code == "3D"


@pytest.mark.parametrize("reply", ["1TS0000", "1TS00003Z", "1TS000099", "1TSXYZ", "1TP000033", "garbage"])
def test_malformed_ts_reply_is_garbled(reply):
    with expected_protocol(NewportSMC100, [q("1TS", reply)]) as smc, pytest.raises(GarbledReply) as info:
        smc.state()
    assert info.value.command == "1TS"


@pytest.mark.parametrize("letter,meaning", sorted(COMMAND_ERRORS.items()))
def test_every_te_letter_decodes(letter, meaning):
    with expected_protocol(NewportSMC100, [q("1TE", f"1TE{letter}")]) as smc:
        assert smc.last_error() == (letter, meaning)


def test_te_meanings_match_the_manual():
    assert COMMAND_ERRORS["@"] == "No error"
    assert COMMAND_ERRORS["C"] == "Parameter missing or out of range"
    assert COMMAND_ERRORS["G"] == "Displacement out of limits"
    assert COMMAND_ERRORS["H"] == "Command not allowed in NOT REFERENCED state"
    assert COMMAND_ERRORS["M"] == "Command not allowed in MOVING state"


@pytest.mark.parametrize("reply", ["1TE", "1TEZ", "1TE@@", "1TS@"])
def test_malformed_te_is_garbled(reply):
    with expected_protocol(NewportSMC100, [q("1TE", reply)]) as smc, pytest.raises(GarbledReply):
        smc.last_error()


@pytest.mark.parametrize("reply", ["1TPabc", "1TPnan", "1TP", "1TPinf"])
def test_tp_not_a_number_is_garbled(reply):
    with (
        expected_protocol(NewportSMC100, [q("1TP", reply)]) as smc,
        pytest.raises(GarbledReply, match="not a finite number"),
    ):
        _ = smc.position_deg


def test_software_limits_query():
    with expected_protocol(NewportSMC100, [q("1SL?", "1SL-10"), q("1SR?", "1SR170")]) as smc:
        assert smc.software_limits == (-10.0, 170.0)


def test_refused_query_gets_no_reply_and_te_says_why():
    # SL? in NOT REFERENCED: the controller stays silent and memorizes error H
    with (
        expected_protocol(NewportSMC100, [q("1SL?", None), q("1TE", "1TEH")], timeout_s=0.3) as smc,
        pytest.raises(SMC100CommandError, match="NOT REFERENCED") as info,
    ):
        _ = smc.software_limits
    assert info.value.letter == "H" and info.value.command == "1SL?"


def test_velocity_query_and_set():
    with expected_protocol(NewportSMC100, [q("1VA?", "1VA5")] + set_ok("1VA2.5")) as smc:
        assert smc.velocity_deg_s == 5.0
        smc.velocity_deg_s = 2.5


def test_velocity_refused_before_sending():
    with expected_protocol(NewportSMC100, []) as smc:
        with pytest.raises(LimitError, match="velocity_deg_s"):
            smc.velocity_deg_s = 0
        with pytest.raises(LimitError):
            smc.velocity_deg_s = float("nan")


def test_velocity_above_stage_maximum_is_device_error_c():
    with (
        expected_protocol(NewportSMC100, [sent("1VA50"), q("1TE", "1TEC")]) as smc,
        pytest.raises(SMC100CommandError, match="Parameter missing or out of range") as info,
    ):
        smc.velocity_deg_s = 50
    assert info.value.letter == "C" and info.value.command == "1VA50"


def test_set_software_limits():
    with expected_protocol(NewportSMC100, set_ok("1SL-5") + set_ok("1SR135.25")) as smc:
        smc.set_software_limits(-5, 135.25)


@pytest.mark.parametrize("low,high", [(5, 135), (-5, -1), (-2e12, 10), (-5, 2e12), (0, 0)])
def test_software_limits_refused_before_sending(low, high):
    with expected_protocol(NewportSMC100, []) as smc, pytest.raises(LimitError):
        smc.set_software_limits(low, high)


def test_identity_stage_and_version():
    pairs = [q("1VE", "1VE SMC_CC - Controller-driver version  3. 1. 2"), q("1ID?", "1IDURS100BCC")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        assert smc.identity() == "SMC_CC - Controller-driver version  3. 1. 2; stage URS100BCC"


def test_reply_without_echo_is_garbled():
    with expected_protocol(NewportSMC100, [q("1ID?", "URS100BCC")]) as smc, pytest.raises(GarbledReply, match="1ID"):
        smc.stage_id()


def test_stop_reads_and_discards_te():
    # ST is refused in NOT REFERENCED (error H) and the controller memorises the
    # letter; stop() reads it away so that the next command is not blamed for it
    pairs = [sent("1ST"), q("1TE", "1TEH")] + set_ok("1OR")
    with expected_protocol(NewportSMC100, pairs) as smc:
        smc.stop()
        smc._send("OR")


def test_stop_after_home_refused_te_does_not_fail_the_home_search():
    # reproduced on the emulator: after stop() in NOT REFERENCED, home() raised
    # "refused OR: error H" while the stage homed to READY
    pairs = [sent("1ST"), q("1TE", "1TEH"), q("1TS", "1TS00000A")] + set_ok("1OR") + [q("1TS", "1TS000032")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        smc.stop()
        smc.home()


def test_stop_still_stops_when_te_gets_no_reply():
    # the ST went out: a silent TE afterwards is logged, not raised (stopping must not fail)
    with expected_protocol(NewportSMC100, [sent("1ST"), q("1TE", None)], timeout_s=0.2) as smc:
        smc.stop()


def test_reset_waits_for_not_referenced():
    with expected_protocol(NewportSMC100, [sent("1RS"), q("1TS", "1TS00000A")]) as smc:
        smc.reset()


def test_reset_tolerates_a_rebooting_controller():
    pairs = [sent("1RS"), q("1TS", None), q("1TE", None), q("1TS", "1TS00000A")]
    with expected_protocol(NewportSMC100, pairs, timeout_s=0.2) as smc:
        smc.reset()


def test_enable_and_disable():
    with expected_protocol(NewportSMC100, set_ok("1MM0") + set_ok("1MM1")) as smc:
        smc.disable()
        smc.enable()


# ----------------------------------------------------------------- home
def test_home_from_reset_polls_until_ready():
    pairs = [q("1TS", "1TS00000A")] + set_ok("1OR")
    pairs += [q("1TS", "1TS00001E"), q("1TS", "1TS00001E"), q("1TS", "1TS000032")]
    with expected_protocol(NewportSMC100, pairs, poll_interval_s=0.5) as smc:
        t0 = smc.clock.now()
        smc.home()
        assert smc.clock.now() - t0 == pytest.approx(1.0)  # two polls on the driver's clock


def test_home_when_already_referenced_does_nothing():
    with expected_protocol(NewportSMC100, [q("1TS", "1TS000033")]) as smc:
        smc.home()


def test_home_timeout_error_bit_is_device_error():
    pairs = [q("1TS", "1TS00000A")] + set_ok("1OR") + [q("1TS", "1TS00401E")]
    with expected_protocol(NewportSMC100, pairs) as smc, pytest.raises(DeviceError, match="homing time-out") as info:
        smc.home()
    assert info.value.code == 0x0040


def test_home_stopped_ends_not_referenced():
    pairs = [q("1TS", "1TS00000A")] + set_ok("1OR") + [q("1TS", "1TS00000B")]
    with expected_protocol(NewportSMC100, pairs) as smc, pytest.raises(DeviceError, match="NOT REFERENCED from HOMING"):
        smc.home()


def test_home_refused_in_disable():
    with (
        expected_protocol(NewportSMC100, [q("1TS", "1TS00003C")]) as smc,
        pytest.raises(DeviceError, match=r"DISABLE from READY.*enable\(\)"),
    ):
        smc.home()


def test_home_that_does_not_finish_times_out_and_stops():
    pairs = [q("1TS", "1TS00000A")] + set_ok("1OR") + [q("1TS", "1TS00001E")] * 3
    pairs += [sent("1ST"), NO_ERROR, q("1TP", "1TP3.5")]
    with (
        expected_protocol(NewportSMC100, pairs, poll_interval_s=1.0) as smc,
        pytest.raises(MotionTimeout, match=r"home search not finished in time: last position 3.5 deg, state HOMING"),
    ):
        smc.home(timeout_s=2.0)


# ----------------------------------------------------------------- moves
def test_move_up_goes_straight():
    pairs = [q("1TS", "1TS000032"), q("1TP", "1TP0")] + set_ok("1PA25") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000028"), q("1TS", "1TS000033"), q("1TP", "1TP25")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        assert smc.move_to(25) == 25.0


def test_move_down_overshoots_then_comes_up():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP125")]
    pairs += set_ok("1PA59.5") + [q("1VA?", "1VA5")] + [q("1TS", "1TS000028"), q("1TS", "1TS000033")]
    pairs += set_ok("1PA60") + [q("1TS", "1TS000033"), q("1TP", "1TP60.0001")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        assert smc.move_to(60) == pytest.approx(60.0001)


def test_overshoot_never_leaves_the_configured_range():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP50")]
    pairs += set_ok("1PA20") + [q("1VA?", "1VA5")] + [q("1TS", "1TS000033")]
    pairs += set_ok("1PA20.2") + [q("1TS", "1TS000033"), q("1TP", "1TP20.2")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        assert smc.move_to(20.2) == pytest.approx(20.2)


def test_custom_backlash():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP90")]
    pairs += set_ok("1PA78") + [q("1VA?", "1VA5")] + [q("1TS", "1TS000033")]
    pairs += set_ok("1PA80") + [q("1TS", "1TS000033"), q("1TP", "1TP80")]
    with expected_protocol(NewportSMC100, pairs, backlash_deg=2.0) as smc:
        smc.move_to(80)


@pytest.mark.parametrize("angle", [19.99, 130.01, -5, float("nan"), float("inf")])
def test_move_outside_configured_range_refused_before_sending(angle):
    with expected_protocol(NewportSMC100, []) as smc, pytest.raises(LimitError, match="angle_deg") as info:
        smc.move_to(angle)
    assert "refused before sending" in str(info.value)


def test_configured_range_is_per_installation():
    with (
        expected_protocol(NewportSMC100, [], min_angle_deg=30, max_angle_deg=100) as smc,
        pytest.raises(LimitError, match="30 to 100 deg"),
    ):
        smc.move_to(25)


def test_move_when_not_referenced_asks_for_home_and_sends_no_move():
    with (
        expected_protocol(NewportSMC100, [q("1TS", "1TS00000A")]) as smc,
        pytest.raises(DeviceError, match=r"NOT REFERENCED from reset: home it first"),
    ):
        smc.move_to(50)


def test_move_while_moving_waits_for_the_previous_move():
    pairs = [q("1TS", "1TS000028"), q("1TS", "1TS000028"), q("1TS", "1TS000033"), q("1TP", "1TP40")]
    pairs += set_ok("1PA50") + [q("1VA?", "1VA5")] + [q("1TS", "1TS000033"), q("1TP", "1TP50")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        assert smc.move_to(50) == 50.0


def test_move_while_homing_is_refused():
    with (
        expected_protocol(NewportSMC100, [q("1TS", "1TS00001E")]) as smc,
        pytest.raises(DeviceError, match="HOMING commanded from RS-232-C: wait for the home search to end"),
    ):
        smc.move_to(50)


def test_move_in_disable_is_refused():
    with (
        expected_protocol(NewportSMC100, [q("1TS", "1TS00003C")]) as smc,
        pytest.raises(DeviceError, match=r"cannot start move to 50 deg: controller is DISABLE from READY.*enable"),
    ):
        smc.move_to(50)


def test_move_refused_by_controller_raises_with_te_letter():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10"), sent("1PA50"), q("1TE", "1TEG")]
    with (
        expected_protocol(NewportSMC100, pairs) as smc,
        pytest.raises(SMC100CommandError, match="Displacement out of limits") as info,
    ):
        smc.move_to(50)
    assert info.value.letter == "G" and info.value.command == "1PA50"


def test_following_error_during_move_is_device_error():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10")] + set_ok("1PA50") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000028"), q("1TS", "1TS00203D")]
    with expected_protocol(NewportSMC100, pairs) as smc, pytest.raises(DeviceError, match="following error") as info:
        smc.move_to(50)
    assert info.value.code == 0x0020 and not isinstance(info.value, SMC100CommandError)


def test_end_of_run_during_move_is_device_error():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10")] + set_ok("1PA50") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000233")]
    with expected_protocol(NewportSMC100, pairs) as smc, pytest.raises(DeviceError, match="positive end of run"):
        smc.move_to(50)


def test_move_timeout_stops_and_names_target_position_state():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10")] + set_ok("1PA50") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000028")] + [sent("1ST"), NO_ERROR, q("1TP", "1TP31.25")]  # travel wait used up the time
    with expected_protocol(NewportSMC100, pairs, poll_interval_s=1.0) as smc, pytest.raises(MotionTimeout) as info:
        smc.move_to(50, timeout_s=2.0)
    text = str(info.value)
    assert "target 50 deg" in text and "last position 31.25 deg" in text and "state MOVING" in text
    assert isinstance(info.value, InstrumentError) and not isinstance(info.value, DeviceError)


def test_default_move_timeout_from_constructor():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10")] + set_ok("1PA50") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000028")] + [sent("1ST"), NO_ERROR, q("1TP", None), q("1TE", None)]
    with (
        expected_protocol(NewportSMC100, pairs, poll_interval_s=1.0, move_timeout_s=1.0, timeout_s=0.2) as smc,
        pytest.raises(MotionTimeout, match="last position unknown"),
    ):
        smc.move_to(50)


def test_format_number():
    assert [format_number(v) for v in (25, 59.5, -0.0, 1e-9, 125.1234567, -10)] == [
        "25",
        "59.5",
        "0",
        "0",
        "125.123457",
        "-10",
    ]


# ----------------------------------------------------------------- snapshot
def test_settings_when_ready_include_limits():
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP90"), q("1VA?", "1VA5"), q("1SL?", "1SL-10"), q("1SR?", "1SR170")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        s = smc.settings()
    assert s["state"] == "READY from MOVING" and s["position_deg"] == 90.0 and s["velocity_deg_s"] == 5.0
    assert s["software_limits_deg"] == [-10.0, 170.0] and s["backlash_deg"] == 0.5


def test_settings_when_not_referenced_skip_limits():
    pairs = [q("1TS", "1TS00000A"), q("1TP", "1TP0"), q("1VA?", "1VA5")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        s = smc.settings()
    assert "software_limits_deg" not in s and s["state_code"] == "0A"


def test_probe():
    pairs = [q("1TS", "1TS00000A"), q("1TE", "1TE@"), q("1VE", "1VE SMC_CC - x"), q("1ID?", "1IDURS100BCC")]
    pairs += [q("1TP", "1TP0")]
    with expected_protocol(NewportSMC100, pairs) as smc:
        p = smc.probe()
    assert p["state"] == "NOT REFERENCED from reset" and p["referenced"] is False
    assert p["identity"] == "SMC_CC - x; stage URS100BCC" and p["last_error"] == "@ No error"


# ----------------------------------------------------------------- faults
def test_silence_times_out_then_driver_works_again():
    pairs = [q("1TP", None), q("1TE", None), q("1TP", "1TP42")]
    with expected_protocol(NewportSMC100, pairs, timeout_s=0.2) as smc:
        with pytest.raises(InstrumentTimeout):
            _ = smc.position_deg
        assert smc.position_deg == 42.0


def test_disconnect_then_reconnect():
    pairs = [q("1TP", None)]
    pairs[0] = (pairs[0][0], ProtocolTransport.DISCONNECT)
    pairs.append(q("1TP", "1TP7"))
    with expected_protocol(NewportSMC100, pairs) as smc:
        with pytest.raises(ConnectionLost):
            _ = smc.position_deg
        assert smc.position_deg == 7.0


# ======================================================= against the emulator
# The driver talks to SMC100Emulator through pyserial's socket:// and a loopback
# server; driver and world share one VirtualClock, so a 20 s move is 200 polls
# that take no wall time.


class HookClock(VirtualClock):
    """A virtual clock that runs a callback once time passes a mark (a fault mid-move)."""

    def __init__(self):
        super().__init__()
        self._hooks = []

    def at(self, t, action):
        self._hooks.append((t, action))

    def sleep(self, seconds):
        super().sleep(seconds)
        due = [h for h in self._hooks if self.now() >= h[0]]
        self._hooks = [h for h in self._hooks if h not in due]
        for _, action in due:
            action()


@pytest.fixture
def clock():
    """Overrides conftest's clock (the world fixture runs on it too)."""
    return HookClock()


class Recorder:
    """Spy on the goniometer: every target the controller sends it to."""

    def __init__(self, goniometer):
        self.targets = []
        self._move_to = goniometer.move_to
        goniometer.move_to = self

    def __call__(self, target, t):
        self.targets.append(target)
        return self._move_to(target, t)


@pytest.fixture
def server(world, serve):
    from simulators.newport_smc100 import SMC100Emulator

    return serve(SMC100Emulator(world))


@pytest.fixture
def smc(server, clock):
    driver = NewportSMC100(server.socket_url, clock=clock, timeout_s=0.3)
    yield driver
    driver.close()


def test_sim_home_then_sweep_25_to_125(smc, server, world, clock):
    assert smc.state().state_name == "NOT REFERENCED from reset"
    smc.home()
    assert smc.state().state_name == "READY from HOMING" and world.goniometer.homed
    assert smc.move_to(25) == pytest.approx(25, abs=1e-3)
    t0 = clock.now()
    final = smc.move_to(125)
    elapsed = clock.now() - t0
    speed = world.config.goniometer_speed_deg_s
    assert elapsed == pytest.approx(100 / speed, abs=2 * smc.poll_interval_s)
    assert final == pytest.approx(125, abs=1e-3)
    assert world.scattering_angle_deg() == pytest.approx(125, abs=1e-3)
    assert smc.state().state_name == "READY from MOVING"


def test_sim_move_down_overshoots_below_then_comes_up(smc, world, clock):
    smc.home()
    smc.move_to(125)
    spy = Recorder(world.goniometer)
    t0 = clock.now()
    assert smc.move_to(60) == pytest.approx(60, abs=1e-3)
    assert spy.targets == [pytest.approx(59.5), pytest.approx(60)]
    travel = (125 - 59.5) + 0.5
    assert clock.now() - t0 == pytest.approx(travel / world.config.goniometer_speed_deg_s, abs=3 * smc.poll_interval_s)
    smc.move_to(90)  # upward: straight there
    assert spy.targets[2:] == [pytest.approx(90)]


def test_sim_same_angle_from_both_sides_ends_with_an_upward_approach(smc, world):
    smc.home()
    spy = Recorder(world.goniometer)
    smc.move_to(40)
    smc.move_to(80)
    smc.move_to(40)
    assert spy.targets == [40, 80, 39.5, 40]


def test_sim_limits_refused_before_sending(smc, server, world):
    smc.home()
    seen = []
    handle = server.emulator.handle
    server.emulator.handle = lambda line: (seen.append(line), handle(line))[1]
    with pytest.raises(LimitError):
        smc.move_to(135)
    with pytest.raises(LimitError):
        smc.move_to(10)
    assert seen == []
    assert world.goniometer.position(world.clock.now()) == 0.0


def test_sim_move_before_home_is_refused_and_nothing_moves(smc, world):
    with pytest.raises(DeviceError, match="home it first"):
        smc.move_to(50)
    assert world.goniometer.position(world.clock.now()) == 0.0
    assert smc.last_error() == ("@", "No error")  # no PA was sent


def test_sim_controller_software_limit_is_device_error(smc, world):
    smc.home()
    smc.set_software_limits(-5, 100)
    assert smc.software_limits == (-5.0, 100.0)
    with pytest.raises(SMC100CommandError, match="Displacement out of limits") as info:
        smc.move_to(120)
    assert info.value.letter == "G"
    assert world.goniometer.position(world.clock.now()) == 0.0
    assert smc.move_to(99) == pytest.approx(99, abs=1e-3)  # works again


def test_sim_velocity(smc, world, clock):
    smc.home()
    smc.velocity_deg_s = 2.0
    assert smc.velocity_deg_s == 2.0
    t0 = clock.now()
    smc.move_to(30)
    assert clock.now() - t0 == pytest.approx(15, abs=2 * smc.poll_interval_s)
    with pytest.raises(SMC100CommandError, match="out of range"):
        smc.velocity_deg_s = 500


def test_sim_positioner_error_during_move_then_recovery(smc, server, world, clock):
    smc.wait_travel = False  # poll throughout, so the fault lands mid-move
    smc.home()
    t0 = clock.now()
    clock.at(t0 + 3.0, lambda: setattr(server.emulator, "inject_error_bits", 0x0020))
    with pytest.raises(DeviceError, match="following error") as info:
        smc.move_to(100)
    assert info.value.code == 0x0020
    stopped_at = smc.position_deg
    assert 10 < stopped_at < 20 and not world.goniometer.is_moving(clock.now())
    assert smc.state().state_name == "DISABLE from MOVING"
    server.emulator.inject_error_bits = 0
    with pytest.raises(DeviceError, match="enable"):
        smc.move_to(100)
    smc.enable()
    assert smc.move_to(100) == pytest.approx(100, abs=1e-3)


def test_sim_move_timeout_stops_the_stage(smc, world, clock):
    smc.home()
    with pytest.raises(MotionTimeout, match=r"target 120 deg.*last position \d+(\.\d+)? deg, state MOVING"):
        smc.move_to(120, timeout_s=5.0)
    t = clock.now()
    assert not world.goniometer.is_moving(t)
    assert world.goniometer.position(t) == pytest.approx(25, abs=1.0)
    assert smc.state().ready


def test_sim_stop_in_not_referenced_then_home_succeeds(smc, world):
    # ST in NOT REFERENCED leaves error H memorised in the controller; home() used to
    # read it as OR's own error and raise while the stage homed to READY
    smc.stop()
    smc.home()
    assert smc.state().ready
    assert smc.last_error() == ("@", "No error")


def test_sim_reset_needs_a_new_home(smc, world):
    smc.home()
    smc.move_to(45)
    smc.reset()
    assert not smc.state().referenced
    with pytest.raises(DeviceError, match="home it first"):
        smc.move_to(50)
    smc.home()
    assert smc.move_to(50) == pytest.approx(50, abs=1e-3)


def test_sim_identity_settings_probe(smc):
    assert smc.identity() == "SMC_CC - Controller-driver version  3. 1. 2; stage URS100BCC"
    assert "software_limits_deg" not in smc.settings()
    smc.home()
    snap = smc.snapshot()
    assert snap["software_limits_deg"] == [-10.0, 170.0] and snap["state"] == "READY from HOMING"
    assert smc.probe()["referenced"] is True


def test_sim_silence_times_out_then_works(smc, server):
    smc.home()
    server.faults.inject("silence")
    with pytest.raises(InstrumentTimeout):
        _ = smc.position_deg
    assert smc.move_to(30) == pytest.approx(30, abs=1e-3)


def test_sim_replies_lost_mid_move_then_the_retry_finishes_the_move(smc, server, world, clock):
    smc.wait_travel = False  # poll throughout, so the fault lands mid-move
    smc.home()
    clock.at(clock.now() + 2.0, lambda: server.faults.inject("silence", count=2))  # a TS poll and its TE
    with pytest.raises(InstrumentTimeout):
        smc.move_to(60)
    assert world.goniometer.is_moving(clock.now())  # the controller carries on
    assert smc.move_to(60) == pytest.approx(60, abs=1e-3)  # the retry waits for it, then approaches


def test_sim_garbled_reply_then_works(smc, server):
    smc.home()
    server.faults.inject("garble")
    with pytest.raises(GarbledReply):
        smc.state()
    assert smc.state().ready


def test_sim_truncated_reply_then_reconnects(smc, server):
    smc.home()
    server.faults.inject("truncate")
    with pytest.raises(ConnectionLost) as info:
        _ = smc.position_deg
    assert info.value.command == "1TP"
    assert smc.move_to(40) == pytest.approx(40, abs=1e-3)


def test_sim_dropped_connection_then_reconnects(smc, server):
    smc.home()
    server.drop_connections()
    with pytest.raises(ConnectionLost):
        _ = smc.position_deg
    assert smc.position_deg == pytest.approx(0, abs=1e-3)


# ======================================================= trust: the angle read back is the angle measured
def _move_up_to_60(final_replies):
    pairs = [q("1TS", "1TS000033"), q("1TP", "1TP10")] + set_ok("1PA60") + [q("1VA?", "1VA5")]
    pairs += [q("1TS", "1TS000033")] + [q("1TP", reply) for reply in final_replies]
    return pairs


def test_move_returns_the_position_measured_at_the_end():
    with expected_protocol(NewportSMC100, _move_up_to_60(["1TP59.97"])) as smc:
        assert smc.move_to(60) == pytest.approx(59.97)  # within 0.05 deg: a reading, not the target


def test_a_stage_that_stopped_short_is_a_device_error_naming_target_position_and_tolerance():
    with expected_protocol(NewportSMC100, _move_up_to_60(["1TP59.2", "1TP59.2"])) as smc:
        with pytest.raises(DeviceError) as info:
            smc.move_to(60)
    text = str(info.value)
    assert "move to 60 deg ended at 59.2 deg" in text and "tolerance of 0.05 deg" in text
    assert not isinstance(info.value, GarbledReply)


def test_a_truncated_position_reply_is_garbled_not_an_angle():
    # '1TP6' is '1TP60' short of a byte: read as 6 deg it was stored as the angle
    with expected_protocol(NewportSMC100, _move_up_to_60(["1TP6", "1TP60"])) as smc:
        with pytest.raises(GarbledReply, match="reads 6 deg, then 60 deg"):
            smc.move_to(60)


def test_position_tolerance_is_a_constructor_option():
    with expected_protocol(NewportSMC100, _move_up_to_60(["1TP59.2"]), position_tolerance_deg=1.0) as smc:
        assert smc.move_to(60) == pytest.approx(59.2)
        assert smc.position_tolerance_deg == 1.0
    with pytest.raises(ValueError, match="position_tolerance_deg"):
        NewportSMC100("x", transport=ProtocolTransport([]), position_tolerance_deg=0)
    import inspect

    default = inspect.signature(NewportSMC100.__init__).parameters["position_tolerance_deg"].default
    assert default == 0.05


@pytest.mark.parametrize(
    "command, reply, read",
    [("1TP", "1TP1_0", "position_deg"), ("1TP", "1TP1e999", "position_deg"), ("1TP", "1TP2e12", "position_deg"),
     ("1TP", "1TP0x10", "position_deg"), ("1PA?", "1PA-Infinity", "target_position_deg"),
     ("1VA?", "1VA0", "velocity_deg_s"), ("1VA?", "1VA-5", "velocity_deg_s")],
)
def test_numbers_must_be_finite_decimals_in_the_manuals_range(command, reply, read):
    with expected_protocol(NewportSMC100, [q(command, reply)]) as smc, pytest.raises(GarbledReply):
        getattr(smc, read)


def test_software_limits_must_have_their_signs():
    with expected_protocol(NewportSMC100, [q("1SL?", "1SL10")]) as smc:
        with pytest.raises(GarbledReply):
            smc.software_limits


@pytest.mark.parametrize("reply", ["1TS0000 33", "1TS0000033", "1TS00003"])
def test_ts_payload_is_exactly_six_hex_digits(reply):
    with expected_protocol(NewportSMC100, [q("1TS", reply)]) as smc, pytest.raises(GarbledReply):
        smc.state()
