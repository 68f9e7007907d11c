"""python-ivi's Agilent E3633A and E3634A drivers (``python-ivi`` on PyPI) against the
E36xx emulators, through pyvisa-py.

python-ivi opens ``TCPIP::...::SOCKET`` resources through the long-gone ``visa``
module (its resource parser then fails on them), but it takes any object with
``read_raw``/``write_raw`` as its interface: :class:`VisaLink` is that object around a
pyvisa-py raw-socket resource.  Everything the driver sends and parses is its own.

Not tested, because python-ivi is wrong for these single-output models against their
User's Guide: ``outputs[0].query_output_state`` asks ``STAT:QUES:INST:ISUM1:COND?``
(the E3631A's instrument summary registers; the E3633A/E3634A answer -113 and nothing
else, as the emulator does), ``memory.get_name``/``set_name`` use ``MEM:STAT:NAME``
(not in the E3633A/E3634A command set), and ``reset=True`` at construction calls a
method that does not exist (``utility_reset``), so the reset is ``utility.reset()``.
Its E3634A class lists the OCP mixin after the E3600A base, so there
``reset_output_protection`` sends only ``VOLT:PROT:CLE`` and a current trip stays
latched (the emulator keeps it, as the supply would): the trip test runs on the E3633A.
python-ivi caches what it set; reads after a trigger or a trip invalidate the cache.
``_ask`` (python-ivi's own query) reads the voltage range, which the driver sets but
does not read back.
"""

import time

import pytest

from simulators.keysight_e36xx import E36xxEmulator, E3634AEmulator

from .conftest import peer, wait_until

ivi = peer("ivi")
pyvisa = peer("pyvisa")


class VisaLink:
    """python-ivi's interface protocol over a pyvisa-py resource (no logic of its own)."""

    def __init__(self, resource) -> None:
        self.resource = resource

    def write_raw(self, data: bytes) -> None:
        self.resource.write_raw(data)

    def read_raw(self, num: int = -1) -> bytes:
        return self.resource.read_raw()

    def ask_raw(self, data: bytes, num: int = -1) -> bytes:
        self.write_raw(data)
        return self.read_raw(num)

    def write(self, message, encoding: str = "utf-8") -> None:
        if isinstance(message, (list, tuple)):
            for item in message:
                self.write(item, encoding)
            return
        self.write_raw(str(message).encode(encoding) + b"\n")

    def read(self, num: int = -1, encoding: str = "utf-8") -> str:
        return self.read_raw(num).decode(encoding).rstrip("\r\n")

    def ask(self, message, num: int = -1, encoding: str = "utf-8") -> str:
        self.write(message, encoding)
        return self.read(num, encoding)

    def clear(self) -> None:  # a raw socket has no device clear
        pass

    def close(self) -> None:
        self.resource.close()


MODELS = {
    "E3633A": (E36xxEmulator, "agilentE3633A", {"P8V": (8.24, 20.6), "P20V": (20.6, 10.3)}),
    "E3634A": (E3634AEmulator, "agilentE3634A", {"P25V": (25.75, 7.21), "P50V": (51.5, 4.12)}),
}


@pytest.fixture(params=sorted(MODELS))
def psu(request, world, serve):
    emulator_class, driver_name, _ = MODELS[request.param]
    server = serve(emulator_class(world))
    resource = pyvisa.ResourceManager("@py").open_resource(
        server.visa_address, read_termination="\n", write_termination="\n", timeout=2000
    )
    driver = getattr(ivi.agilent, driver_name)(VisaLink(resource), id_query=True)  # the model is checked
    driver._self_test_delay = 0  # its wait before reading *TST? (5 s): the emulator's test is instant
    driver.utility.reset()
    yield driver
    resource.close()


def fresh(psu):
    psu.driver_operation.invalidate_all_attributes()
    return psu.outputs[0]


def test_identity(psu):
    assert psu.identity.instrument_manufacturer == "Agilent Technologies"
    assert psu.identity.instrument_model in MODELS
    assert psu.identity.instrument_firmware_revision == "2.1-5.0-1.0"
    assert psu.utility.self_test() == (0, "Self test passed")
    assert psu.utility.error_query() == (0, "No error")


def test_setpoints_and_output_drive_the_filament(psu, world):
    out = psu.outputs[0]
    assert out.enabled is False and out.voltage_level == 0.0
    out.voltage_level = 3.0
    out.current_limit = 2.0
    wait_until(lambda: (world.filament_voltage_set_V, world.filament_current_set_A) == (3.0, 2.0))
    out.enabled = True
    wait_until(lambda: world.filament_output)
    wait_until(lambda: out.measure("current") == pytest.approx(2.0, abs=1e-3))  # the filament's thermal lag
    volts = out.measure("voltage")
    assert 0.0 < volts <= 3.0 and volts == pytest.approx(world.filament_voltage_V(), abs=1e-3)
    out.enabled = False
    assert out.measure("current") == 0.0 and world.filament_output is False
    fresh_out = fresh(psu)
    assert (fresh_out.voltage_level, fresh_out.current_limit, fresh_out.enabled) == (3.0, 2.0, False)


def test_ranges_and_their_maxima(psu):
    model = psu.identity.instrument_model
    (low_name, (low_v, low_i)), (high_name, (high_v, high_i)) = sorted(MODELS[model][2].items(), key=lambda r: r[1])
    out = psu.outputs[0]
    out.configure_range("voltage", high_v * 0.9)  # VOLT:RANG to the higher range
    assert psu._ask("VOLT:RANG?") == high_name
    assert out.query_current_limit_max(high_v * 0.9) == high_i
    out.voltage_level = high_v * 0.9
    assert fresh(psu).voltage_level == pytest.approx(high_v * 0.9)
    out.configure_range("voltage", low_v * 0.5)  # back down: the setpoint is clipped to the range
    assert psu._ask("VOLT:RANG?") == low_name
    assert out.query_voltage_level_max(low_i) == low_v
    assert fresh(psu).voltage_level <= low_v
    assert psu.utility.error_query() == (0, "No error")


@pytest.mark.parametrize("psu", ["E3633A"], indirect=True)  # see the module docstring for the E3634A
def test_overcurrent_protection_trips_the_output_and_resets(psu, world):
    out = psu.outputs[0]
    assert out.ovp_enabled is True and out.ocp_enabled is True  # the *RST state
    out.ovp_limit = 10.0
    out.ocp_limit = 5.0
    assert (fresh(psu).ovp_limit, fresh(psu).ocp_limit) == (10.0, 5.0)
    out = fresh(psu)
    out.current_limit = 0.5  # a cold filament at 0.5 A needs little voltage: no trip
    out.voltage_level = 4.0
    out.enabled = True
    wait_until(lambda: world.filament_output)
    out.ocp_limit = 0.4  # below the current flowing: the protection trips, the output goes off
    assert out.measure("current") == 0.0 and world.filament_output is False
    out.ocp_limit = 5.0
    out.reset_output_protection()  # VOLT:PROT:CLE and CURR:PROT:CLE: the output comes back
    assert fresh(psu).enabled is True and world.filament_output is True


def test_current_limit_behavior_is_the_ocp_state(psu):
    out = psu.outputs[0]
    assert out.current_limit_behavior == "trip"
    out.current_limit_behavior = "regulate"
    assert fresh(psu).ocp_enabled is False and fresh(psu).current_limit_behavior == "regulate"


def test_triggered_levels_transfer_after_the_delay(psu, world):
    out = psu.outputs[0]
    out.voltage_level = 3.0
    out.current_limit = 1.0
    assert out.trigger_source == "bus"  # the *RST source
    out.trigger_source = "immediate"
    out.triggered_voltage_level = 4.0
    out.triggered_current_limit = 1.5
    out.trigger_delay = 0.5
    out = fresh(psu)
    assert (out.trigger_source, out.triggered_voltage_level, out.triggered_current_limit, out.trigger_delay) == (
        "immediate", 4.0, 1.5, 0.5
    )
    psu.trigger.initiate()
    # the emulator evaluates the trigger system when the host talks to it: poll through the peer
    wait_until(lambda: fresh(psu).voltage_level == 4.0)
    assert (world.filament_voltage_set_V, world.filament_current_set_A) == (4.0, 1.5)
    assert fresh(psu).current_limit == 1.5


def test_bus_trigger_after_initiate(psu, world):
    out = psu.outputs[0]
    out.triggered_voltage_level = 2.5
    psu.trigger.initiate()
    time.sleep(0.05)  # nothing is transferred before the trigger (source BUS)
    assert fresh(psu).voltage_level == 0.0 and world.filament_voltage_set_V == 0.0
    psu.send_software_trigger()
    wait_until(lambda: fresh(psu).voltage_level == 2.5)
    assert world.filament_voltage_set_V == 2.5


def test_save_and_recall(psu, world):
    out = psu.outputs[0]
    out.voltage_level = 2.0
    psu.memory.save(1)
    out.voltage_level = 1.0
    psu.memory.recall(1)
    assert fresh(psu).voltage_level == 2.0 and world.filament_voltage_set_V == 2.0
    assert psu.utility.error_query() == (0, "No error")
