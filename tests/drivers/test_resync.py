"""A reply that arrives after its query timed out must not answer the next query."""

import pytest

from drivers.base import SCPIInstrument
from drivers.errors import InstrumentTimeout
from simulators.server import ScpiEmulator


class Echoes(ScpiEmulator):
    identity = "xbeam,late reply test,0,0"

    def __init__(self, world):
        super().__init__(world)
        self.command("A?", lambda a: "alpha")
        self.command("B?", lambda a: "bravo")


class Probe(SCPIInstrument):
    model = "late-reply probe"


@pytest.mark.parametrize("transport", ["visa", "serial-socket"])
def test_late_reply_is_not_taken_for_the_next_answer(world, clock, transport, serve):
    server = serve(Echoes(world))
    address = server.visa_address if transport == "visa" else server.socket_url
    inst = Probe(address, clock=clock, timeout_s=0.3)
    assert inst.ask("A?") == "alpha"
    server.faults.delay_s = 0.6  # the reply comes, but after the driver gave up
    with pytest.raises(InstrumentTimeout):
        inst.ask("A?")
    server.faults.delay_s = 0.0
    assert inst.ask("B?") == "bravo"
    assert inst.ask("A?") == "alpha"
    inst.close()
