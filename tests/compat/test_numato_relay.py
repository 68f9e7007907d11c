"""Numato Lab's own Python API for its USB relay modules (``numato-usb-relay`` on PyPI,
by Numato Systems) against the relay emulator.

The API opens the port with ``serial.Serial(port=...)`` for every command, writes it
ending in CR and reads a fixed number of bytes until its timeout; a pyserial URL
needs ``serial.serial_for_url``, so ``serial.Serial`` is pointed at it for the test
(the API's own code is unchanged).  Each command is then one TCP connection, as each
is one open/close of the COM port on the real module; the emulator keeps its state
across connections, as the module does.

Not tested: ``info`` (the power-on status), ``relay poweron`` and ``gpio poweron``:
the API lists them but no source at hand gives the firmware's reply to ``info``, so
the emulator answers them as it answers any command it does not know (echo, prompt).
"""

import pytest
import serial

from simulators.numato_relay import NumatoRelayEmulator

from .conftest import peer, wait_until

relay_api = peer("numato_usb_relay.relay")

#: the API reads a fixed byte count, so every read lasts this long (a reply takes milliseconds)
READ_TIMEOUT_S = 0.2


def _serial_for_url(port=None, baudrate=9600, timeout=None, **kwargs):
    return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout, **kwargs)


@pytest.fixture
def module(world, serve, monkeypatch):
    emulator = NumatoRelayEmulator(world, relay_count=4)  # 4 relays and 4 GPIOs, as the NL-USB-4 module
    server = serve(emulator)
    monkeypatch.setattr(relay_api.serial, "Serial", _serial_for_url)
    device = relay_api.Relay(numberRelays=4, port=server.socket_url, timeout=READ_TIMEOUT_S, name="usb")
    return device, emulator


def test_connect_reads_version_and_id(module):
    device, emulator = module
    assert device.version == emulator.version == device.ver()
    assert device.id == emulator.module_id == device.id_get()
    assert "ports: 4" in device.dev_info()


def test_id_set_is_kept_across_connections(module):
    device, emulator = module
    device.id_set("BEAMLINE")
    assert device.id_get() == "BEAMLINE" == emulator.module_id  # id set is read, so it is in


def test_relays_switch_the_worlds_valves(module, world):
    device, _ = module
    # a set command gets no reply: the API writes and closes the port, so the world is
    # checked once the emulator has the line (wait_until), then read back through the API
    device.relay_on("0")
    wait_until(lambda: world.relays[0])
    assert device.relay_read("0") == "on"
    device.relay_on("1")
    wait_until(lambda: world.relays[1])
    device.relay_off("0")
    wait_until(lambda: not world.relays[0])
    assert device.relay_read("0") == "off" and device.relay_read("1") == "on"
    device.relay_update("xcxo")  # the API's string form: relay 1 off, relay 3 on
    wait_until(lambda: not world.relays[1])
    assert device.relay_read("3") == "on"


def test_reset_switches_every_relay_off(module, world):
    device, _ = module
    device.relay_on("0")
    device.relay_on("2")
    device.reset()
    wait_until(lambda: not any(world.relays[:4]))
    assert [device.relay_read(str(n)) for n in range(4)] == ["off"] * 4


def test_gpio_and_adc(module):
    device, emulator = module
    device.gpio_set("0")
    wait_until(lambda: emulator.gpio_outputs.get(0) is True)
    device.gpio_clear("0")
    wait_until(lambda: emulator.gpio_outputs.get(0) is False)
    emulator.gpio_inputs[2] = True
    assert device.gpio_read("2") == "1"
    emulator.analog_inputs_V[1] = 2.5
    assert int(device.adc_read("1")) == pytest.approx(512, abs=1)  # 10 bit of 5 V


def test_readall_and_writeall_on_a_module_with_eight_relays(world, serve, monkeypatch):
    # the API reads and writes all relays at once only on modules with more than four
    server = serve(NumatoRelayEmulator(world, relay_count=8))
    monkeypatch.setattr(relay_api.serial, "Serial", _serial_for_url)
    device = relay_api.Relay(numberRelays=8, port=server.socket_url, timeout=READ_TIMEOUT_S, name="usb")
    device.relay_writeall("03")  # the API reads the reply (echo and prompt) of writeall
    assert world.relays[:2] == [True, True]
    assert device.relay_readall() == "03"
    device.relay_writeall("00")
    assert world.relays[:2] == [False, False] and device.relay_readall() == "00"
