"""The SCPI engine every SCPI emulator shares: header paths, forms, parameters, status.

A toy model exercises the rules in isolation; the same rules are then replayed
against the three instrument emulators with the exchanges public clients send.
"""

import pytest

from simulators.keithley_6485 import Keithley6485Emulator
from simulators.keysight_53230a import Counter53230AEmulator
from simulators.keysight_e36xx import E36xxEmulator
from simulators.server import ScpiEmulator, ScpiError, StatusRegister, parse_header, split_program_message


class Toy(ScpiEmulator):
    """A small instrument: a frequency (Hz), two sense channels, a text, a trigger."""

    idn = "xbeam,toy,1,1"

    def __init__(self, world) -> None:
        super().__init__(world)
        self.frequency = 1e3
        self.ranges = {1: 10.0, 2: 10.0}
        self.text = ""
        self.source, self.count = "IMM", 1
        self.questionable = 0
        self.status_register(StatusRegister("QUES", 3, lambda: self.questionable), "STATus:QUEStionable", transitions=True)
        self.command("[SOURce:]FREQuency[:CW]", lambda a: setattr(self, "frequency", self.numeric(
            self.single(a), low=1.0, high=1e9, unit="HZ", default=1e3)))
        self.command("[SOURce:]FREQuency[:CW]?", lambda a: f"{self.query_value(a, self.frequency, minimum=1.0, maximum=1e9, default=1e3):+.6E}")
        self.command("[SENSe{1|2}:]VOLTage[:DC]:RANGe", self._set_range)
        self.command("[SENSe{1|2}:]VOLTage[:DC]:RANGe?", lambda a: f"{self.ranges[self.suffixes[0]]:+.6E}")
        self.command("DISPlay:TEXT", lambda a: setattr(self, "text", self.string(a)))
        self.command("DISPlay:TEXT?", lambda a: '"' + self.text.replace('"', '""') + '"')
        self.command("TRIGger:SOURce", lambda a: setattr(self, "source", self.choice(a, {"IMMediate": "IMM", "BUS": "BUS"})))
        self.command("TRIGger:SOURce?", lambda a: self.source)
        self.command("TRIGger:COUNt", lambda a: setattr(self, "count", self.integer(a, 1, 100)))
        self.command("TRIGger:COUNt?", lambda a: str(self.count))
        self.command("FAIL", lambda a: (_ for _ in ()).throw(ScpiError(-310)))

    def _set_range(self, arg: str) -> None:
        self.ranges[self.suffixes[0]] = self.numeric(self.single(arg), low=0.0, high=1000.0, unit="V")


@pytest.fixture
def toy(world):
    return Toy(world)


def ask(emulator, text: str) -> str:
    reply = emulator.feed(text.encode() + b"\n")
    return reply.decode()[:-1] if reply else ""


def errors(emulator) -> list[str]:
    out = []
    while (entry := ask(emulator, "SYST:ERR?")) not in ('+0,"No error"', '0,"No error"'):
        out.append(entry)
    return out


# ------------------------------------------------------------------ notation
def test_header_notation():
    nodes = parse_header("[SENSe{1|2}:]VOLTage[:DC]:RANGe")
    assert [(n.short, n.long, n.optional, n.suffixes) for n in nodes] == [
        ("SENS", "SENSE", True, frozenset({1, 2})),
        ("VOLT", "VOLTAGE", False, None),
        ("DC", "DC", True, None),
        ("RANG", "RANGE", False, None),
    ]
    assert [n.short for n in parse_header("CALCulate3:FORMat")] == ["CALC3", "FORM"]
    assert split_program_message("DISP:TEXT 'a;b';*IDN?") == ["DISP:TEXT 'a;b'", "*IDN?"]


# ------------------------------------------------------------------ paths
def test_relative_headers_take_the_path_of_the_previous_header(toy):
    ask(toy, "TRIG:SOUR BUS;COUN 2")
    assert ask(toy, "TRIG:SOUR?;COUN?") == "BUS;2"
    assert errors(toy) == []


def test_a_leading_colon_goes_back_to_the_root(toy):
    ask(toy, "TRIG:SOUR BUS;:FREQ 5")
    assert ask(toy, "FREQ?") == "+5.000000E+00"
    ask(toy, "TRIG:SOUR IMM;FREQ 7")  # TRIG:FREQ does not exist
    assert errors(toy) == ['-113,"Undefined header"']
    assert ask(toy, "FREQ?;TRIG:SOUR?") == "+5.000000E+00;IMM"


def test_common_commands_keep_the_path(toy):
    ask(toy, "TRIG:SOUR BUS;*CLS;COUN 3")
    assert ask(toy, "TRIG:COUN?") == "3"
    assert errors(toy) == []


def test_a_new_message_starts_at_the_root(toy):
    ask(toy, "TRIG:SOUR BUS")
    ask(toy, "COUN 2")
    assert errors(toy) == ['-113,"Undefined header"']


def test_an_error_does_not_stop_the_rest_of_the_message(toy):
    assert ask(toy, "BOGUS;TRIG:COUN 4;:TRIG:COUN?") == "4"
    assert errors(toy) == ['-113,"Undefined header"']


def test_empty_units_and_white_space_are_ignored(toy):
    assert ask(toy, "  TRIG:COUN 5 ;; :TRIG:COUN? ;") == "5"
    assert errors(toy) == []


# ------------------------------------------------------------------ mnemonics
@pytest.mark.parametrize("header", ["FREQ?", "FREQUENCY?", "frequency?", "FrEq:cW?", ":SOUR:FREQ:CW?", "SOURCE:FREQUENCY?"])
def test_short_long_any_case_and_optional_nodes(toy, header):
    assert ask(toy, header) == "+1.000000E+03"


@pytest.mark.parametrize("header", ["FREQU?", "FRE?", "SOUR:FREQ:CWW?", "CW?"])
def test_anything_else_is_an_undefined_header(toy, header):
    assert ask(toy, header) == ""
    assert errors(toy) == ['-113,"Undefined header"']


def test_numeric_suffixes(toy):
    ask(toy, "SENS2:VOLT:RANG 100")
    assert ask(toy, "SENS2:VOLT:RANG?;:SENS:VOLT:RANG?;:SENSE1:VOLTAGE:DC:RANGE?;:VOLT:RANG?") == (
        "+1.000000E+02;+1.000000E+01;+1.000000E+01;+1.000000E+01"
    )
    ask(toy, "SENS3:VOLT:RANG 1")
    assert errors(toy) == ['-114,"Header suffix out of range"']


def test_header_separator_and_syntax(toy):
    ask(toy, "FREQ5")
    ask(toy, "TRIG:COUN,3")
    ask(toy, "@#!")
    assert errors(toy) == ['-113,"Undefined header"', '-111,"Header separator error"', '-102,"Syntax error"']


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    "value, expected",
    [("2.5E3", 2500.0), ("2.5 KHZ", 2500.0), ("3MHZ", 3e6), ("3 mhz", 3e6), ("0.5GHz", 5e8),
     ("MIN", 1.0), ("maximum", 1e9), ("DEF", 1e3), ("#H10", 16.0), ("#B101", 5.0), ("#Q17", 15.0)],
)
def test_numeric_forms(toy, value, expected):
    ask(toy, f"FREQ {value}")
    assert errors(toy) == []
    assert float(ask(toy, "FREQ?")) == pytest.approx(expected)


def test_suffix_multipliers_mega_and_milli(toy):
    ask(toy, "VOLT:RANG 500MV")  # IEEE 488.2: M is milli ...
    assert float(ask(toy, "VOLT:RANG?")) == pytest.approx(0.5)
    ask(toy, "VOLT:RANG 2KV")
    assert errors(toy) == ['-222,"Data out of range"']


@pytest.mark.parametrize(
    "command, error",
    [("FREQ 5 V", '-131,"Invalid suffix"'), ("FREQ 5 QHZ", '-131,"Invalid suffix"'),
     ("FREQ fast", '-104,"Data type error"'), ("FREQ", '-109,"Missing parameter"'),
     ("FREQ 1,2", '-108,"Parameter not allowed"'), ("FREQ 0.5", '-222,"Data out of range"'),
     ("FREQ INF", '-224,"Illegal parameter value"'), ("TRIG:SOUR NOW", '-224,"Illegal parameter value"'),
     ("DISP:TEXT bare", '-104,"Data type error"'), ("FAIL", '-310,"System error"')],
)
def test_parameter_errors(toy, command, error):
    ask(toy, command)
    assert errors(toy) == [error]
    assert ask(toy, "FREQ?") == "+1.000000E+03"


def test_min_max_def_as_query_arguments(toy):
    ask(toy, "FREQ 123")
    assert ask(toy, "FREQ? MAX;FREQ? MIN;FREQ? DEF;FREQ?") == "+1.000000E+09;+1.000000E+00;+1.000000E+03;+1.230000E+02"
    assert ask(toy, "FREQ? 5") == ""
    assert errors(toy) == ['-224,"Illegal parameter value"']


def test_strings_keep_separators_and_doubled_quotes(toy):
    ask(toy, 'DISP:TEXT "a;b,c ""q"""')
    assert ask(toy, "DISP:TEXT?") == '"a;b,c ""q"""'
    ask(toy, "DISP:TEXT 'it''s'")
    assert ask(toy, "DISP:TEXT?") == '"it\'s"'


# ------------------------------------------------------------------ status model
def test_errors_set_their_event_status_bit(toy):
    assert ask(toy, "*ESR?") == "+128"  # power on
    ask(toy, "BOGUS")
    assert ask(toy, "*ESR?") == "+32"  # command error
    ask(toy, "FREQ 0")
    assert ask(toy, "*ESR?") == "+16"  # execution error
    ask(toy, "FAIL")
    assert ask(toy, "*ESR?") == "+8"  # device-dependent error
    assert ask(toy, "*ESR?") == "+0"  # reading clears


def test_status_byte_summaries_and_service_request(toy):
    assert ask(toy, "*STB?") == "+0"
    ask(toy, "BOGUS")
    assert ask(toy, "*STB?") == "+4"  # EAV
    ask(toy, "*ESE 32")
    assert ask(toy, "*STB?") == "+36"  # + ESB
    ask(toy, "*SRE #H20")
    assert ask(toy, "*STB?;*SRE?") == "+100;+32"  # + MSS; bit 6 cannot be enabled
    ask(toy, "*CLS")
    assert ask(toy, "*STB?;*ESE?") == "+0;+32"  # *CLS keeps the enables
    assert ask(toy, "*ESE?;*STB?") == "+32;+16"  # MAV: the *ESE? reply is waiting


def test_questionable_register_latches_positive_transitions(toy):
    ask(toy, "STAT:QUES:ENAB 6")
    toy.questionable = 2
    assert ask(toy, "*STB?") == "+8"
    toy.questionable = 0
    assert ask(toy, "STAT:QUES:COND?;EVEN?;EVEN?") == "+0;+2;+0"
    ask(toy, "STAT:QUES:NTR 4;PTR 0")
    toy.questionable = 4
    ask(toy, "*OPC")
    toy.questionable = 0
    assert ask(toy, "STAT:QUES?") == "+4"  # the falling edge, through the negative filter


def test_opc_and_queue_overflow(toy):
    assert ask(toy, "*OPC?;*OPC;*ESR?") == "1;+129"
    for _ in range(toy.error_queue_size + 3):
        ask(toy, "BOGUS")
    found = errors(toy)
    assert len(found) == toy.error_queue_size and found[-1] == '-350,"Queue overflow"'


def test_common_command_parameters(toy):
    ask(toy, "*ESE 300")
    ask(toy, "*ESE")
    ask(toy, "*CLS 1")
    assert errors(toy)[-3:] == ['-222,"Data out of range"', '-109,"Missing parameter"', '-108,"Parameter not allowed"']
    assert ask(toy, ":*IDN?") == "xbeam,toy,1,1"  # a colon before a common command is tolerated


# ------------------------------------------------------------------ the real models
def test_form_elem_then_relative_data(world):
    pa = Keithley6485Emulator(world)
    ask(pa, ":FORM:ELEM READ;DATA ASC")
    assert ask(pa, "FORM:ELEM?;DATA?") == "READ;ASC"
    assert errors(pa) == []


def test_trigger_source_then_relative_count_on_every_scpi_model(world):
    for emulator, source in ((E36xxEmulator(world), "IMM"), (Counter53230AEmulator(world), "IMM"), (Keithley6485Emulator(world), "IMM")):
        ask(emulator, "TRIG:SOUR IMM;DEL 0")
        assert ask(emulator, "TRIG:SOUR?") == source
        assert errors(emulator) == []
    counter = Counter53230AEmulator(world)
    ask(counter, "TRIG:SOUR IMM;COUN 2")
    assert ask(counter, "TRIG:COUN?") == "+2"


@pytest.mark.parametrize("cls", [E36xxEmulator, Keithley6485Emulator, Counter53230AEmulator])
def test_ieee_488_2_common_commands_on_every_scpi_model(world, cls):
    emulator = cls(world)
    replies = ask(emulator, "*IDN?;*ESR?;*ESE 4;*ESE?;*SRE 16;*SRE?;*STB?;*OPC?;*TST?").split(";")
    assert replies[0] == emulator.idn and replies[1].lstrip("+") == "128"
    assert [r.lstrip("+") for r in replies[2:]] == ["4", "16", "80", "1", "0"]  # *STB?: MAV + MSS
    ask(emulator, "*WAI;*CLS;*RST")
    assert errors(emulator) == []
