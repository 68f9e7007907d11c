"""Numato USB relay module: byte-level protocol tests (echo, LF CR, prompt)."""

import pytest

from drivers.errors import ConnectionLost, GarbledReply, InstrumentTimeout, LimitError
from drivers.numato_relay import NumatoRelay, relay_index
from drivers.testing import ProtocolTransport, expected_protocol

CONNECT = [(b"\r", b"\n\r>")]


def echo(command: bytes, output: bytes | None = None):
    """The module's reply: echo, LF CR, [output LF CR], prompt."""
    reply = command + b"\n\r" + (output + b"\n\r" if output is not None else b"") + b">"
    return (command + b"\r", reply)


def test_relay_on_and_off():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay on 0"), echo(b"relay off 1")]) as relays:
        relays.relay_on(0)
        relays.relay_off(1)


def test_set_relay():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay on 7"), echo(b"relay off 7")]) as relays:
        relays.set_relay(7, True)
        relays.set_relay(7, False)


def test_relay_read_on_off():
    pairs = CONNECT + [echo(b"relay read 0", b"on"), echo(b"relay read 1", b"off")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        assert relays.relay_state(0) is True
        assert relays.relay_state(1) is False


def test_readall_is_a_hex_mask():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay readall", b"05"), echo(b"relay readall", b"Ff")]) as relays:
        assert relays.states() == [True, False, True, False, False, False, False, False]
        assert relays.states() == [True] * 8


def test_writeall_sends_the_mask():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay writeall 82")]) as relays:
        relays.write_all([False, True, False, False, False, False, False, True])


def test_writeall_needs_one_state_per_relay():
    with expected_protocol(NumatoRelay, CONNECT) as relays:
        with pytest.raises(LimitError):
            relays.write_all([True, False])


def test_sixteen_relays_use_letters_and_four_hex_digits():
    pairs = CONNECT + [echo(b"relay on A"), echo(b"relay read F", b"on"), echo(b"relay readall", b"8401"), echo(b"relay writeall 0400")]
    with expected_protocol(NumatoRelay, pairs, relay_count=16) as relays:
        relays.relay_on(10)
        assert relays.relay_state(15)
        states = relays.states()
        assert [n for n, on in enumerate(states) if on] == [0, 10, 15]
        relays.write_all([n == 10 for n in range(16)])


def test_relay_index_names():
    assert [relay_index(n) for n in (0, 9, 10, 31)] == ["0", "9", "A", "V"]


def test_reset():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"reset")]) as relays:
        relays.reset()


def test_version_and_id_and_identity():
    pairs = CONNECT + [echo(b"ver", b"00000008"), echo(b"id get", b"xbeam001")]
    pairs += [echo(b"id get", b"xbeam001"), echo(b"ver", b"00000008")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        assert relays.version() == "00000008"
        assert relays.module_id() == "xbeam001"
        assert relays.identity() == "Numato 8-channel USB relay module, id xbeam001, firmware 00000008"


def test_snapshot_and_probe():
    pairs = CONNECT + [echo(b"id get", b"00000000"), echo(b"ver", b"00000008"), echo(b"relay readall", b"01")]
    pairs += [echo(b"id get", b"00000000"), echo(b"ver", b"00000008"), echo(b"ver", b"00000008")]
    pairs += [echo(b"id get", b"00000000"), echo(b"relay readall", b"02")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        snap = relays.snapshot()
        probe = relays.probe()
    assert snap["relay_count"] == 8 and snap["relays"][0] is True
    assert probe["relays"][1] is True and probe["version"] == "00000008" and probe["id"] == "00000000"


@pytest.mark.parametrize("n", [-1, 8, 2.0, "0", True])
def test_relay_number_checked_before_sending(n):
    with expected_protocol(NumatoRelay, CONNECT) as relays:
        with pytest.raises(LimitError, match="relay = "):
            relays.relay_on(n)
        with pytest.raises(LimitError):
            relays.relay_state(n)


def test_unsupported_relay_count():
    with pytest.raises(ValueError):
        NumatoRelay("protocol-test", transport=ProtocolTransport([]), relay_count=7)


@pytest.mark.parametrize(
    "reply",
    [
        b"relay on 1\n\r>",  # echo of another command
        b"relay on 0>",  # no LF CR
        b"relay on 0\n\rERR\n\r>",  # output where none is expected
        b"relay on 0\n\ra\n\rb\n\r>",  # two output lines
    ],
)
def test_reply_not_echo_and_prompt_is_garbled(reply):
    with expected_protocol(NumatoRelay, CONNECT + [(b"relay on 0\r", reply)]) as relays:
        with pytest.raises(GarbledReply):
            relays.relay_on(0)


@pytest.mark.parametrize("output", [b"maybe", None])
def test_read_without_on_off_is_garbled(output):
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay read 2", output)]) as relays:
        with pytest.raises(GarbledReply):
            relays.relay_state(2)


def test_readall_bad_mask_is_garbled():
    with expected_protocol(NumatoRelay, CONNECT + [echo(b"relay readall", b"0G")]) as relays:
        with pytest.raises(GarbledReply):
            relays.states()


def test_stale_output_on_connect_is_discarded():
    pairs = [(None, b"relay on 3\n\r>rel"), (b"\r", b"ay\n\r>"), echo(b"relay read 3", b"on")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        assert relays.relay_state(3)


def test_timeout_then_next_command_works():
    pairs = CONNECT + [(b"relay read 0\r", b"relay read 0\n\ro"), echo(b"relay read 0", b"off")]
    with expected_protocol(NumatoRelay, pairs, timeout_s=0.3) as relays:
        with pytest.raises(InstrumentTimeout):
            relays.relay_state(0)
        assert relays.relay_state(0) is False


def test_disconnect_then_reconnect():
    pairs = CONNECT + [(b"relay on 0\r", ProtocolTransport.DISCONNECT)] + CONNECT + [echo(b"relay on 0")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        with pytest.raises(ConnectionLost):
            relays.relay_on(0)
        relays.relay_on(0)


def test_late_reply_after_timeout_is_skipped_once():
    pairs = CONNECT + [(b"relay read 0\r", None), (b"relay on 1\r", b"relay read 0\n\roff\n\r>relay on 1\n\r>")]
    pairs += [echo(b"relay read 1", b"on")]
    with expected_protocol(NumatoRelay, pairs) as relays:
        with pytest.raises(InstrumentTimeout):
            relays.relay_state(0)
        relays.relay_on(1)
        assert relays.relay_state(1)


def test_foreign_reply_without_timeout_is_garbled():
    with expected_protocol(NumatoRelay, CONNECT + [(b"relay on 1\r", b"relay read 0\n\roff\n\r>relay on 1\n\r>")]) as relays:
        with pytest.raises(GarbledReply):
            relays.relay_on(1)
