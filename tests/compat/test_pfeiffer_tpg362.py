"""pylablib's Pfeiffer TPG26x driver (``pylablib-lightweight`` on PyPI, the same
``pylablib`` package without its GUI dependencies) against the TPG 362 emulator,
through pyserial's ``socket://`` URL (pylablib opens ports with ``serial_for_url``).

pylablib asks ``BAU`` when it connects; every query is the mnemonic, ACK, ENQ and the
data.  Readings are converted to Pa by pylablib from the unit it reads (``UNI``).

Not tested, because pylablib is wrong against the manual: ``enable(channel=1)`` writes
its value at index ``channel`` of a two-element list (``SEN,0,2`` switches gauge 2, and
channel 2 raises IndexError); the test switches the gauges with the manual's
``SEN,a,b`` through pylablib's own ``query``.  ``get/set_display_channel`` send
``SCT``, a TPG 26x mnemonic that the TPG 36x protocol does not list (the emulator
NAKs it, as for any mnemonic it does not have).
"""

import pytest

from simulators.pfeiffer_tpg362 import TPG362Emulator

from .conftest import peer

pfeiffer = peer("pylablib.devices.Pfeiffer")


@pytest.fixture
def emulator(world):
    return TPG362Emulator(world)


@pytest.fixture
def gauge(emulator, serve):
    server = serve(emulator)
    device = pfeiffer.TPG260((server.socket_url, 9600))  # asks BAU at connect
    yield device
    device.close()


def test_pressures_of_both_gauges_in_pascal(gauge, world):
    chamber_pa = gauge.get_pressure(1)
    needle_pa = gauge.get_pressure(2)
    assert chamber_pa == pytest.approx(world.chamber_mbar() * 100, rel=0.2)
    assert needle_pa == pytest.approx(world.needle_gauge_mbar() * 100, rel=0.05)
    assert gauge.get_channel_status(1) == "ok" and gauge.get_channel_status(2) == "ok"
    assert gauge.get_gauge_kind(1) == "PKR" and gauge.get_gauge_kind(2) == "CMR"


def test_units_change_what_the_gauge_reports(gauge, world):
    assert gauge.get_units() == "mbar"
    mbar = gauge.get_pressure(2, display_units=True)
    assert gauge.set_units("pa") == "pa"
    pa = gauge.get_pressure(2, display_units=True)
    assert pa == pytest.approx(mbar * 100, rel=0.05)
    assert gauge.set_units("torr") == "torr"
    assert gauge.get_pressure(2, display_units=True) == pytest.approx(mbar / 1.33322, rel=0.05)
    assert gauge.get_pressure(2) == pytest.approx(pa, rel=0.05)  # pylablib converts back to Pa


def test_sensor_off_and_on(gauge, emulator):
    assert gauge.is_enabled(1) is True  # the PKR can be switched
    assert gauge.is_enabled(2) is None  # the CMR cannot ("0")
    assert gauge.query("SEN,1,0", ["int", "int"]) == [1, 0]  # the manual's SEN: gauge 1 off
    assert gauge.is_enabled(1) is False and gauge.get_channel_status(1) == "sensor_off"
    with pytest.raises(pfeiffer.PfeifferError, match="sensor_off"):
        gauge.get_pressure(1)
    assert gauge.get_pressure(1, status_error=False) is None
    gauge.query("SEN,2,0")
    assert gauge.is_enabled(1) is True and gauge.get_channel_status(1) == "ok"


def test_filter_and_calibration_factor(gauge, world):
    assert gauge.get_measurement_filter(1) == "medium"
    assert gauge.set_measurement_filter("slow", channel=2) == "slow"
    assert (gauge.get_measurement_filter(1), gauge.get_measurement_filter(2)) == ("medium", "slow")
    before = gauge.get_pressure(2)
    assert gauge.set_calibration_factor(1.5, channel=2) == 1.5
    assert gauge.get_calibration_factor(1) == 1.0 and gauge.get_calibration_factor(2) == 1.5
    assert gauge.get_pressure(2) == pytest.approx(before * 1.5, rel=0.05)  # the factor multiplies the reading


def test_display_resolution(gauge):
    assert gauge.set_display_resolution(3) == 3
    assert gauge.get_display_resolution() == 3


def test_switching_functions_follow_the_worlds_pressure(gauge, world):
    needle_pa = gauge.get_pressure(2)
    # switch function 1 on the needle gauge, thresholds around its pressure: off (above upper)
    settings = gauge.setup_switch(1, 2, needle_pa * 0.1, needle_pa * 0.5)
    assert settings.channel == 2
    assert settings.low_thresh == pytest.approx(needle_pa * 0.1, rel=1e-3)
    assert gauge.get_switch_settings(1).high_thresh == pytest.approx(needle_pa * 0.5, rel=1e-3)
    # switch function 2 with thresholds far above: on (below the lower threshold)
    gauge.setup_switch(2, 2, needle_pa * 10, needle_pa * 20)
    status = gauge.get_switch_status()
    assert len(status) == 4 and status[0] is False and status[1] is True


def test_gauge_control_settings(gauge):
    settings = gauge.setup_gauge_control(1, "manual", "auto", 1.0e-3, 2.0e-3)
    assert (settings.activation_control, settings.deactivation_control) == ("manual", "auto")
    read = gauge.get_gauge_control_settings(1)
    assert read.on_thresh == pytest.approx(1.0e-3, rel=1e-3) and read.off_thresh == pytest.approx(2.0e-3, rel=1e-3)


def test_errors_list_and_reset(gauge, emulator):
    assert gauge.get_current_errors() == ["no_error"]
    emulator.sensor_status[2] = 3  # sensor error on channel 2: error 11, gauge 2
    assert gauge.get_current_errors() == ["gauge_2_err"]
    assert gauge.get_channel_status(2) == "sensor_error"
    emulator.sensor_status[2] = 0
    gauge.reset_error()
    assert gauge.get_current_errors() == ["no_error"]


def test_full_status_and_settings(gauge):
    # pylablib's generic readout: every status, info and settings variable it declares
    # except the display channel (SCT, see the module docstring)
    status = {name: gauge.get_device_variable(name) for name in ("pressure", "channel_status", "units", "switch_status")}
    assert status["units"] == "mbar" and status["channel_status"] == ["ok", "ok"]
    assert all(p > 0 for p in status["pressure"])
    assert gauge.get_device_variable("gauge_kind") == ["PKR", "CMR"]
