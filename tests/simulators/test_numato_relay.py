"""Numato relay emulator: byte pairs for every command, then driver against emulator."""

import pytest

from drivers.errors import ConnectionLost, GarbledReply, InstrumentTimeout, LimitError
from drivers.numato_relay import NumatoRelay
from simulators.numato_relay import NumatoRelayEmulator
from simulators.server import InstrumentServer


@pytest.fixture
def module(world):
    return NumatoRelayEmulator(world)


def reply(command: bytes, output: bytes | None = None) -> bytes:
    return command + b"\n\r" + (output + b"\n\r" if output is not None else b"") + b">"


# ------------------------------------------------------------------ byte pairs
def test_relay_on_switches_the_world(module, world):
    assert module.feed(b"relay on 0\r") == reply(b"relay on 0")
    assert world.relays[0] is True
    assert module.feed(b"relay off 0\r") == reply(b"relay off 0")
    assert world.relays[0] is False


def test_relay_read(module, world):
    world.set_relay(1, True)
    assert module.feed(b"relay read 1\r") == reply(b"relay read 1", b"on")
    assert module.feed(b"relay read 0\r") == reply(b"relay read 0", b"off")


def test_readall_and_writeall(module, world):
    assert module.feed(b"relay writeall 83\r") == reply(b"relay writeall 83")
    assert world.relays == [True, True, False, False, False, False, False, True]
    assert module.feed(b"relay readall\r") == reply(b"relay readall", b"83")
    assert module.feed(b"relay writeall 0a\r") == reply(b"relay writeall 0a")
    assert module.feed(b"relay readall\r") == reply(b"relay readall", b"0A")


def test_writeall_with_wrong_width_is_ignored(module, world):
    assert module.feed(b"relay writeall 1\r") == reply(b"relay writeall 1")
    assert not any(world.relays)


def test_reset_turns_all_off(module, world):
    module.feed(b"relay writeall ff\r")
    assert module.feed(b"reset\r") == reply(b"reset")
    assert not any(world.relays)


def test_ver_and_id(module):
    assert module.feed(b"ver\r") == reply(b"ver", b"00000008")
    assert module.feed(b"id get\r") == reply(b"id get", b"00000000")
    assert module.feed(b"id set xbeam001\r") == reply(b"id set xbeam001")
    assert module.feed(b"id get\r") == reply(b"id get", b"xbeam001")


def test_echo_is_character_by_character(module):
    assert module.feed(b"rel") == b"rel"
    assert module.feed(b"ay read 0") == b"ay read 0"
    assert module.feed(b"\r") == b"\n\roff\n\r>"


def test_lf_after_cr_is_ignored(module):
    assert module.feed(b"ver\r\n") == reply(b"ver", b"00000008")


def test_unknown_command_and_relay_out_of_range_give_only_the_prompt(module, world):
    assert module.feed(b"relay on 8\r") == reply(b"relay on 8")
    assert module.feed(b"relay on A\r") == reply(b"relay on A")
    assert module.feed(b"frobnicate\r") == reply(b"frobnicate")
    assert module.feed(b"\r") == b"\n\r>"
    assert not any(world.relays)


def test_sixteen_relays_letters_and_unwired_relays(world):
    module = NumatoRelayEmulator(world, relay_count=16)
    assert module.feed(b"relay on F\r") == reply(b"relay on F")
    assert module.feed(b"relay on 1\r") == reply(b"relay on 1")
    assert module.feed(b"relay readall\r") == reply(b"relay readall", b"8002")
    assert module.feed(b"relay read F\r") == reply(b"relay read F", b"on")
    assert world.relays[1] and len(world.relays) == 8  # relay 15 is not wired to the world


def test_on_connect_drops_half_a_command(module):
    module.feed(b"relay on")
    module.on_connect()
    assert module.feed(b"ver\r") == reply(b"ver", b"00000008")


# ====================================================================== driver against emulator
@pytest.fixture
def served(world, serve):
    return serve(NumatoRelayEmulator(world))


@pytest.fixture
def relays(served, clock):
    driver = NumatoRelay(served.socket_url, clock=clock, timeout_s=0.3)
    yield driver
    driver.close()


def test_driver_switches_and_reads(relays, world):
    relays.relay_on(1)
    assert world.relays[1] and relays.relay_state(1)
    relays.relay_off(1)
    assert not relays.relay_state(1)
    relays.write_all([True, False, True, False, False, False, False, False])
    assert relays.states() == [True, False, True, False, False, False, False, False]
    assert world.relays[:3] == [True, False, True]
    relays.reset()
    assert relays.states() == [False] * 8


def test_driver_identity_probe_snapshot(relays, world):
    world.set_relay(0, True)
    assert relays.identity() == "Numato 8-channel USB relay module, id 00000000, firmware 00000008"
    probe = relays.probe()
    assert probe["relays"][0] is True and probe["version"] == "00000008"
    assert relays.snapshot()["relays"][0] is True


def test_limits_before_sending(relays, served):
    before = len(served.emulator.received)
    with pytest.raises(LimitError):
        relays.relay_on(8)
    assert len(served.emulator.received) == before


def test_needle_valve_raises_the_chamber_pressure(relays, world, clock):
    closed = world.chamber_gauge_mbar()
    relays.relay_on(0)
    clock.advance(10.0)
    assert 5 < world.chamber_gauge_mbar() / closed < 30
    relays.relay_off(0)
    clock.advance(20.0)
    assert world.chamber_gauge_mbar() == pytest.approx(closed, rel=0.05)


def test_side_leak_gives_the_same_gas_load_without_the_needle_beam(relays, world, clock):
    relays.relay_on(1)
    clock.advance(10.0)
    side = world.chamber_mbar()
    relays.relay_off(1)
    relays.relay_on(0)
    clock.advance(10.0)
    assert world.chamber_mbar() == pytest.approx(side, rel=0.01)


def test_driver_against_sixteen_relay_module(world, clock):
    with InstrumentServer(NumatoRelayEmulator(world, relay_count=16), lock=world.lock) as server:
        with NumatoRelay(server.socket_url, relay_count=16, clock=clock, timeout_s=0.3) as relays:
            relays.relay_on(12)
            relays.relay_on(0)
            assert [n for n, on in enumerate(relays.states()) if on] == [0, 12]
            assert world.relays[0]


# ------------------------------------------------------------------ faults
def test_silence_times_out_then_works(relays, served):
    served.faults.inject("silence")
    with pytest.raises(InstrumentTimeout):
        relays.relay_on(0)
    assert relays.relay_state(0) is True  # the module heard the command


def test_delay_beyond_timeout_then_late_reply_skipped(relays, served):
    served.faults.delay_s = 0.45  # the answer comes during the next command's read
    with pytest.raises(InstrumentTimeout):
        relays.relay_state(0)
    served.faults.delay_s = 0.0
    relays.relay_on(5)
    assert relays.relay_state(5) is True


def test_garble_then_works(relays, served):
    served.faults.inject("garble")
    with pytest.raises(GarbledReply):
        relays.states()
    assert relays.states() == [False] * 8


@pytest.mark.parametrize("kind", ["truncate", "drop"])
def test_cut_connection_then_reconnects(relays, served, kind):
    served.faults.inject(kind)
    with pytest.raises((ConnectionLost, InstrumentTimeout)):
        relays.relay_state(3)
    relays.relay_on(3)
    assert relays.relay_state(3) is True


def test_cable_pulled_then_reconnects(relays, served):
    served.drop_connections()
    with pytest.raises((ConnectionLost, InstrumentTimeout)):
        relays.relay_on(2)
    relays.relay_on(2)
    assert relays.states()[2]


# ------------------------------------------------------------------ GPIO and ADC
@pytest.fixture
def small_module(world):
    return NumatoRelayEmulator(world, relay_count=4)


def test_gpio_outputs_and_inputs(small_module):
    assert small_module.feed(b"gpio set 2\r") == reply(b"gpio set 2")
    assert small_module.gpio_outputs == {2: True}
    assert small_module.feed(b"gpio clear 2\r") == reply(b"gpio clear 2")
    assert small_module.gpio_outputs == {2: False}
    small_module.gpio_inputs[1] = True
    assert small_module.feed(b"gpio read 1\r") == reply(b"gpio read 1", b"1")
    assert small_module.feed(b"gpio read 2\r") == reply(b"gpio read 2", b"0")
    assert 2 not in small_module.gpio_outputs  # read makes it an input
    assert small_module.feed(b"gpio set 4\r") == reply(b"gpio set 4")  # no GPIO 4: nothing
    assert small_module.gpio_outputs == {}


def test_adc_read_is_ten_bit(small_module):
    small_module.analog_inputs_V[0] = 2.5
    assert small_module.feed(b"adc read 0\r") == reply(b"adc read 0", b"512")
    small_module.analog_inputs_V[3] = 7.0  # clipped at the 5 V reference
    assert small_module.feed(b"adc read 3\r") == reply(b"adc read 3", b"1023")
    assert small_module.feed(b"adc read 4\r") == reply(b"adc read 4")


def test_modules_without_gpio_treat_them_as_unknown(module):
    assert module.gpio_count == 0
    assert module.feed(b"gpio set 0\r") == reply(b"gpio set 0")
    assert module.feed(b"adc read 0\r") == reply(b"adc read 0")
    assert module.feed(b"info\r") == reply(b"info")  # unknown to the firmware: echo and prompt only


def test_id_set_needs_exactly_eight_characters(module):
    assert module.feed(b"id set abc\r") == reply(b"id set abc")
    assert module.feed(b"id get\r") == reply(b"id get", b"00000000")
