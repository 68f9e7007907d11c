"""QMI's Newport SMC100CC driver (``qmi`` on PyPI, QuTech) against the SMC100 emulator.

QMI talks raw TCP (``tcp:127.0.0.1:PORT``, the bytes of the RS-232 link), reads ``TE``
after every command and ``TB<letter>`` when it is not ``@``.  It sleeps
``COMMAND_EXEC_TIME`` (0.5 s) after each check and ``PW0_EXEC_TIME`` (10 s) after
leaving CONFIGURATION; both are instance attributes and are shortened here (the
emulator, like the controller, needs no more than the world's ``save_s``).

Not tested because QMI is wrong against the manual: ``set_disable_state(True)`` sends
``MM1`` and ``is_in_disable_state`` reads ``MM? = 1`` as DISABLE, while the manual's
``MM0`` enters DISABLE and ``MM1`` leaves it (xbeam's driver and the emulator follow
the manual; QMI's inverted call is refused with ``K`` in READY, as the controller does).
"""

import pytest

from simulators.newport_smc100 import SMC100Emulator

from .conftest import peer, wait_until

smc100cc = peer("qmi.instruments.newport.smc_100cc")
actuators = peer("qmi.instruments.newport.actuators")
qmi_context = peer("qmi.core.context")
qmi_exceptions = peer("qmi.core.exceptions")

#: the analyzer turntable as a QMI actuator: degrees as the unit, the world's travel
TURNTABLE = actuators.LinearActuator(-10.0, 170.0, 20.0, 0.001, 0.001, 0.0, 0.0005)


@pytest.fixture
def server(world, serve):
    return serve(SMC100Emulator(world))


@pytest.fixture
def smc(server):
    driver = smc100cc.Newport_SMC100CC(
        qmi_context.QMI_Context("xbeam-compat"), "gonio", f"tcp:127.0.0.1:{server.port}", "FT0001", {1: TURNTABLE}
    )
    driver.COMMAND_EXEC_TIME = 0.005
    driver.PW0_EXEC_TIME = 0.05
    driver.open()
    yield driver
    driver.close()


def state(smc) -> str:
    return smc.get_positioner_error_and_state()[1]


def home(smc, world, clock):
    smc.home_search()
    wait_until(lambda: state(smc).startswith("READY"))
    assert world.goniometer.homed and world.goniometer.position(clock.now()) == pytest.approx(0.0)


def test_identity_stage_and_state_after_power_on(smc):
    idn = smc.get_idn()
    assert (idn.vendor, idn.model, idn.serial) == ("Newport", "SMC_CC", "FT0001")
    assert smc.get_positioner_error_and_state() == ([], "NOT REFERENCED from RESET")
    # ID? is read inside PW1 ... PW0: the controller leaves CONFIGURATION not referenced
    assert smc.get_stage_identifier().strip() == "1IDURS100BCC"
    assert state(smc) == "NOT REFERENCED from CONFIGURATION."
    assert smc.get_error() == ("@", "No error")


def test_configuration_parameters_are_kept_in_flash(smc):
    # every one of these goes through CONFIGURATION (PW1, set, PW0) and reads back
    smc.set_home_search_timeout(30.0)
    assert smc.get_home_search_timeout() == 30.0
    smc.set_backlash_compensation(0.1)
    assert smc.get_backlash_compensation() == pytest.approx(0.1)
    smc.set_backlash_compensation(0.0)
    smc.set_hysteresis_compensation(0.05)  # refused while a backlash is set: cleared first
    assert smc.get_hysteresis_compensation() == pytest.approx(0.05)
    smc.set_hysteresis_compensation(0.0)
    smc.set_home_search_type(0)
    assert smc.get_home_search_type() == 0
    smc.set_peak_current_limit(1.5)
    assert smc.get_peak_current_limit() == pytest.approx(1.5)
    smc.set_rms_current_limit(0.6)
    assert smc.get_rms_current_limit() == pytest.approx(0.6)
    smc.set_rms_current_averaging_time(3.0)
    assert smc.get_rms_current_averaging_time() == pytest.approx(3.0)
    smc.set_negative_software_limit(-5.0, True)
    smc.set_positive_software_limit(160.0, True)
    assert (smc.get_negative_software_limit(), smc.get_positive_software_limit()) == (-5.0, 160.0)
    assert smc.get_controller_rs485_address() == 2
    assert smc.is_in_configuration_state() is False
    smc.set_configuration_state(True)
    assert smc.is_in_configuration_state() is True
    smc.set_configuration_state(False)
    assert state(smc) == "NOT REFERENCED from CONFIGURATION."


def test_servo_parameters_read_back(smc):
    assert smc.get_proportional_gain() > 0 and smc.get_integral_gain() >= 0
    assert smc.get_derivative_gain() >= 0 and smc.get_velocity_feed_forward() >= 0
    assert smc.get_driver_voltage() > 0 and smc.get_following_error_limit() > 0
    assert smc.get_low_pass_filter_cutoff_frequency() > 0 and smc.get_friction_compensation() >= 0
    assert smc.get_control_loop_state() in (0, 1)
    assert smc.get_encoder_increment_value() > 0
    assert smc.get_jerk_time() >= 0


def test_home_search_then_absolute_and_relative_moves_drive_the_turntable(smc, world, clock):
    with pytest.raises(qmi_exceptions.QMI_InstrumentException, match="NOT REFERENCED"):
        smc.move_absolute(45.0)  # QMI checks the state first, as the manual requires
    home(smc, world, clock)
    smc.move_absolute(45.0)
    assert state(smc) == "MOVING."
    assert 0.0 <= smc.get_setpoint() <= 45.0  # TH: the profile's set-point, on its way
    wait_until(lambda: state(smc) == "READY from MOVING.")
    assert smc.get_position() == pytest.approx(45.0) == smc.get_setpoint()
    assert world.goniometer.position(clock.now()) == pytest.approx(45.0)
    smc.move_relative(5.0)
    wait_until(lambda: state(smc) == "READY from MOVING.")
    assert smc.get_position() == pytest.approx(50.0) == world.goniometer.position(clock.now())
    assert smc.get_error() == ("@", "No error")


def test_motion_time_velocity_acceleration_jerk(smc, world, clock):
    home(smc, world, clock)
    v = smc.get_velocity()
    assert v == world.goniometer.speed
    assert smc.get_motion_time(10.0) == pytest.approx(10.0 / v, rel=0.05)
    smc.set_velocity(v / 2)  # READY: the working value, at most the stored one
    assert smc.get_velocity() == v / 2 and world.goniometer.speed == pytest.approx(v / 2)
    with pytest.raises(qmi_exceptions.QMI_InstrumentException, match="Error C"):
        smc.set_velocity(v * 2)  # above the stored velocity: refused with C, as the controller does
    a = smc.get_acceleration()
    smc.set_acceleration(a / 2)
    assert smc.get_acceleration() == a / 2
    smc.set_jerk_time(0.1)
    assert smc.get_jerk_time() == pytest.approx(0.1)


def test_stop_motion_stops_the_turntable_mid_move(smc, world, clock):
    home(smc, world, clock)
    smc.move_absolute(160.0)
    wait_until(lambda: world.goniometer.position(clock.now()) > 20.0)
    smc.stop_motion()
    wait_until(lambda: state(smc) == "READY from MOVING.")
    t = clock.now()
    assert not world.goniometer.is_moving(t)
    assert 20.0 < world.goniometer.position(t) < 160.0
    assert smc.get_position() == pytest.approx(world.goniometer.position(clock.now()), abs=1e-3)


def test_software_limits_refuse_moves_beyond_them(smc, world, clock):
    home(smc, world, clock)
    smc.set_negative_software_limit(-8.0)
    smc.set_positive_software_limit(150.0)
    assert (smc.get_negative_software_limit(), smc.get_positive_software_limit()) == (-8.0, 150.0)
    with pytest.raises(qmi_exceptions.QMI_InstrumentException, match="Error G"):
        smc.move_absolute(155.0)  # inside QMI's actuator range, outside the controller's SR
    assert not world.goniometer.is_moving(clock.now())


def test_ttl_and_analog_inputs_outputs(smc, server, world, clock):
    home(smc, world, clock)  # SB is refused in NOT REFERENCED (H)
    assert smc.get_ttl_input_value() == 15  # unwired inputs are pulled up
    server.emulator.analog_input_V = 2.5
    assert smc.get_analog_input_value() == pytest.approx(2.5, abs=0.08)
    smc.set_ttl_output_value(5)
    assert smc.get_ttl_output_value() == 5


def test_reset_loses_the_reference(smc, world, clock):
    home(smc, world, clock)
    smc.move_absolute(30.0)
    wait_until(lambda: state(smc) == "READY from MOVING.")
    smc.reset()
    wait_until(lambda: state(smc) == "NOT REFERENCED from RESET")
    with pytest.raises(qmi_exceptions.QMI_InstrumentException, match="NOT REFERENCED"):
        smc.move_relative(5.0)
