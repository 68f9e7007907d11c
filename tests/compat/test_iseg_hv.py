"""iseg-nhr (``iseg-nhr`` on PyPI, a driver for iseg NHR modules on their own serial
link) against the iseg emulator in its serial mode (``echo=True``), through pyserial's
``socket://`` URL.

iseg-nhr reads the echo of every command and compares it with what it sent, then
reads the answer of a query; it opens the port with ``serial.Serial(port=...)``, so
``serial.Serial`` is pointed at ``serial_for_url`` for the test.  The emulated module
is the world's 4-channel detector module (an EBS, bipolar): iseg-nhr's NHR-only
calls are not tested against it because the EBS does not have them (per-channel ramp
speeds ``:CONF:RAMP:VOLT[:UP|:DOWN] <V/s>,(@ch)``, refused as on an EBS), nor calls
whose registers or replies the instruction set at hand does not give
(``:READ:MOD:CONT?``, ``:READ:CHAN:CONT?``, ``:READ:FIRM:NAME?``, ``:SYS:USER:CONF?``).

Not tested because iseg-nhr sends headers that are not the manual's: the supply
voltages as ``:READ:MOD:SUP:P24V?`` (``SUPPly``'s short form is ``SUPP``) and the
emergency off as ``:VOLT EMCY_OFF`` / ``EMCY_CLR`` (the manual: ``EMCY OFF``,
``EMCY CLR``); the emulator refuses them as unknown commands (Is Input Error, no
answer).  Whether a real module's parser is more lenient could not be checked.
"""

import pytest
import serial

from simulators.iseg_hv import IsegHVEmulator

from .conftest import peer, wait_until

iseg_nhr = peer("iseg_nhr")
nhr_transport = peer("iseg_nhr.transport")

_SERIAL_KEYS = ("baudrate", "bytesize", "stopbits", "parity", "timeout", "write_timeout")


def _serial_for_url(port=None, **kwargs):
    return serial.serial_for_url(port, **{k: v for k, v in kwargs.items() if k in _SERIAL_KEYS})


@pytest.fixture
def module(world, serve, monkeypatch):
    server = serve(IsegHVEmulator(world, "hv_detector", echo=True))
    monkeypatch.setattr(nhr_transport.serial, "Serial", _serial_for_url)
    device = iseg_nhr.NHR(server.socket_url, timeout=1.0)
    yield device
    device.close()


def hv(world, channel: int):
    return world.hv["hv_detector"][channel]


def test_identity_and_module_readbacks(module):
    assert module.identity == "iseg Spezialelektronik GmbH,EBS 40 40,520003,5.26"
    assert module.instruction_set == "EDCP"
    assert module.operation_complete is True
    assert module.number_channels == 4
    assert module.temperature == 32.0
    assert module.firmware_release == "5.26"
    status = {bit.name for bit in module.status_register}
    assert {"IsModuleGood", "IsSupplyGood", "IsTemperatureGood", "IsSafetyLoopGood"} <= status
    assert "IsInputError" not in status
    assert module.event_register == ()


def test_nominal_values_limits_and_modes(module):
    ch = module.channel(1)
    assert ch.voltage.limit == ch.voltage.maximum == ch.voltage.mode == 4000.0
    assert ch.current.limit == ch.current.maximum == ch.current.mode == pytest.approx(0.002)
    assert ch.voltage.ramp.min == pytest.approx(1.6) and ch.voltage.ramp.max == pytest.approx(400.0)
    assert ch.polarity_list == "p,n" and ch.output_mode == 1 and ch.output_mode_list == "1"


def test_setpoint_on_measure_off_drive_the_worlds_channel(module, world, clock):
    ch = module.channel(1)
    ch.voltage.setpoint = 300.0
    assert ch.voltage.setpoint == 300.0 and hv(world, 1).set_V == 300.0
    assert ch.on_state is False
    ch.on()
    assert ch.on_state is True
    wait_until(lambda: ch.voltage.measured == pytest.approx(300.0))  # the ramp, on the world's clock
    assert hv(world, 1).voltage(clock.now()) == pytest.approx(300.0)
    assert ch.current.measured == pytest.approx(hv(world, 1).current(clock.now()), rel=1e-3)
    assert module.voltages == (0.0, ch.voltage.measured, 0.0, 0.0)
    assert module.setpoints == (0.0, 300.0, 0.0, 0.0)
    assert module.currents[1] > 0
    assert {bit.name for bit in ch.status_register} >= {"IsOn", "IsConstantVoltage"}
    ch.off()
    wait_until(lambda: ch.voltage.measured == 0.0)
    assert ch.on_state is False and not hv(world, 1).on


def test_several_channels_on_and_off_at_once(module, world):
    for n in (0, 2):
        module.channel(n).voltage.setpoint = -100.0  # bipolar: either sign
    module.on([0, 2])
    assert hv(world, 0).on and hv(world, 2).on and not hv(world, 1).on
    module.off([0, 2])
    assert not hv(world, 0).on and not hv(world, 2).on


def test_bounds(module, world):
    # iseg-nhr has no current set value (:CURR): only the bounds
    ch = module.channel(3)
    ch.voltage.bounds = 5.0
    ch.current.bounds = 1.0e-4
    assert (ch.voltage.bounds, ch.current.bounds) == (5.0, pytest.approx(1.0e-4))


def test_module_ramp_speed_is_read_per_channel(module):
    # the EBS sets its ramp for the whole module in %/s (``:CONF:RAMP:VOLT``); iseg-nhr
    # reads each channel's ramp in V/s: 5 %/s of 4 kV
    assert [module.channel(n).voltage.ramp.speed for n in range(4)] == [200.0] * 4


def test_inhibit_action_and_polarity(module, world):
    ch = module.channel(0)
    ch.inhibit = 1
    assert ch.inhibit == ch.inhibit_options[1]
    assert ch.polarity == iseg_nhr.channel.Polarity.POSITIVE
    ch.voltage.setpoint = 50.0
    ch.polarity = iseg_nhr.channel.Polarity.NEGATIVE  # the set value follows the polarity
    assert ch.polarity == iseg_nhr.channel.Polarity.NEGATIVE and hv(world, 0).set_V == -50.0


def test_events_status_clear_reset_and_local(module, world):
    ch = module.channel(2)
    ch.voltage.setpoint = 100.0
    ch.on()
    wait_until(lambda: ch.voltage.measured == pytest.approx(100.0))
    assert ch.event_register != ()  # the switch-on latched events (on, ramp end, constant voltage)
    ch.event_clear()
    module.event_clear()
    module.status_clear()
    assert ch.emergency is False
    module.lockout()
    module.local()
    module.reset()  # *RST: off with ramp, Vset 0
    assert ch.voltage.setpoint == 0.0 and ch.on_state is False and hv(world, 2).set_V == 0.0
