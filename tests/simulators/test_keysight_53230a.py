"""The 53230A emulator at the byte level: commands, replies, error queue, timing, counts."""

import math
import re

import pytest

from simulators.keysight_53230a import Counter53230AEmulator
from tests.worldsetup import beam_on

READING = re.compile(r"^[+-]\d\.\d{14}E[+-]\d{3}$")




@pytest.fixture
def counter(world):
    return Counter53230AEmulator(world)


def ask(emulator, text: str) -> str:
    """Send one line; return the reply without its terminator ('' when silent)."""
    reply = emulator.feed(text.encode() + b"\n")
    assert reply == b"" or reply.endswith(b"\n")
    return reply.decode()[:-1] if reply else ""


def errors(emulator) -> list[str]:
    out = []
    while True:
        entry = ask(emulator, "SYST:ERR?")
        if entry == '+0,"No error"':
            return out
        out.append(entry)


def unblock(reply: str) -> list[float]:
    m = re.fullmatch(r"#(\d)(\d+)(.*)", reply)
    assert m, reply
    assert len(m.group(2)) == int(m.group(1))
    payload = m.group(3)
    assert len(payload) == int(m.group(2))
    return [float(x) for x in payload.split(",")] if payload else []


def record_windows(world, monkeypatch, counts=100):
    """Make detector_counts return ``counts`` and record the windows asked for."""
    windows = []

    def fake(t0, t1):
        windows.append((t0, t1))
        return counts

    monkeypatch.setattr(world, "detector_counts", fake)
    return windows


# --------------------------------------------------------------- configuration
def test_identity(counter):
    assert ask(counter, "*IDN?").split(",")[1] == "53230A"


def test_configure_and_query_settings(counter):
    ask(counter, "CONF:TOT:TIM 0.5,(@1)")
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+5.00000000000000E-001"
    assert ask(counter, "TOT:GATE:TIME?") == "+5.00000000000000E-001"
    assert ask(counter, "SAMP:COUN?") == "+1"
    assert ask(counter, "TRIG:COUN?") == "+1"
    assert ask(counter, "TRIG:SOUR?") == "IMM"
    ask(counter, "SAMPLE:COUNT 20")
    ask(counter, "TRIG:COUN 3")
    assert ask(counter, "SAMP:COUN?") == "+20"
    assert ask(counter, "TRIG:COUN?") == "+3"
    # CONFigure resets sample and trigger counts
    ask(counter, "CONFIGURE:TOTALIZE:TIMED 1E-3,(@2)")
    assert ask(counter, "SAMP:COUN?") == "+1" and ask(counter, "TRIG:COUN?") == "+1"
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+1.00000000000000E-003"
    assert counter.channel == 2
    ask(counter, "CONF:TOT:TIM MAX,(@1)")
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+1.00000000000000E+003"
    ask(counter, "CONF:TOT:TIM MIN")
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+1.00000000000000E-006"
    ask(counter, "CONF:TOT:TIM")
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+1.00000000000000E-001"
    assert errors(counter) == []


@pytest.mark.parametrize(
    "command, error",
    [
        ("CONF:TOT:TIM 2000,(@1)", '-222,"Data out of range"'),
        ("CONF:TOT:TIM 1e-7,(@1)", '-222,"Data out of range"'),
        ("CONF:TOT:TIM 0,(@1)", '-222,"Data out of range"'),
        ("CONF:TOT:TIM 0.5,(@3)", '-224,"Illegal parameter value"'),
        ("CONF:TOT:TIM fast,(@1)", '-104,"Data type error"'),
        ("SAMP:COUN 0", '-222,"Data out of range"'),
        ("SAMP:COUN 1000001", '-222,"Data out of range"'),
        ("SAMP:COUN 2.5", '-222,"Data out of range"'),
        ("TRIG:COUN 0", '-222,"Data out of range"'),
        ("TRIG:SOUR NOW", '-224,"Illegal parameter value"'),
        ("FORM REAL,64", '-221,"Settings conflict"'),
        ("FORM HEX", '-224,"Illegal parameter value"'),
        ("MEAS:BOGUS?", '-113,"Undefined header"'),
        ("FETC?", '-230,"Data corrupt or stale"'),
        ("R?", '-230,"Data corrupt or stale"'),
    ],
)
def test_refused_commands_queue_the_manuals_errors(counter, command, error):
    ask(counter, "CONF:TOT:TIM 0.25,(@1)")
    assert ask(counter, command) == ""
    assert errors(counter) == [error]
    # a refused setting leaves the previous one in force
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+2.50000000000000E-001"


def test_format_ascii_and_clear_status(counter):
    ask(counter, "FORM ASC")
    ask(counter, "FORM:DATA ASCII")
    assert errors(counter) == []
    ask(counter, "NOT:A:COMMAND")
    ask(counter, "*CLS")
    assert errors(counter) == []


# -------------------------------------------------------------- measurement
def test_readings_cover_consecutive_gates_from_init(counter, world, clock, monkeypatch):
    windows = record_windows(world, monkeypatch, counts=123456)
    clock.advance(10.0)
    ask(counter, "CONF:TOT:TIM 0.5,(@1);:SAMP:COUN 4")
    ask(counter, "INIT")
    assert ask(counter, "DATA:POIN?") == "+0"
    assert ask(counter, "R?") == "#10"  # running, nothing complete yet: an empty block
    clock.advance(1.25)
    assert ask(counter, "DATA:POIN?") == "+2"
    reply = ask(counter, "R?")
    assert reply == "#245+1.23456000000000E+005,+1.23456000000000E+005"
    assert ask(counter, "DATA:POIN?") == "+0"  # R? erased them
    clock.advance(1.0)
    assert unblock(ask(counter, "R? 1")) == [123456.0]
    assert ask(counter, "DATA:POIN?") == "+1"
    assert windows == [(10.0, 10.5), (10.5, 11.0), (11.0, 11.5)]
    assert errors(counter) == []


def test_counts_drawn_once_and_fetch_returns_memory(counter, world, clock):
    beam_on(world)
    ask(counter, "CONF:TOT:TIM 1,(@1);:SAMP:COUN 3")
    ask(counter, "INIT")
    clock.advance(3.5)
    first = ask(counter, "FETC?")
    assert ask(counter, "FETC?") == first  # FETC? does not erase and does not redraw
    values = first.split(",")
    assert len(values) == 3 and all(READING.match(v) for v in values)
    assert unblock(ask(counter, "R? 2")) == [float(v) for v in values[:2]]
    assert ask(counter, "FETC?") == values[2]


def test_counts_follow_the_world_rate(counter, world, clock):
    beam_on(world)
    ask(counter, "CONF:TOT:TIM 2,(@1);:SAMP:COUN 10")
    t0 = clock.now()
    ask(counter, "INIT")
    clock.advance(20.0)
    counts = unblock(ask(counter, "R?"))
    assert len(counts) == 10
    for k, n in enumerate(counts):
        expected = world.expected_counts(t0 + 2 * k, t0 + 2 * (k + 1))
        assert expected > 1e4  # a beam that is really on
        assert n == int(n) and abs(n - expected) < 5 * math.sqrt(expected)
    assert sum(counts) == pytest.approx(world.measured_rate() * 20.0, rel=5 / math.sqrt(sum(counts)) + 0.01)


def test_dark_world_counts_nothing(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@1)")
    ask(counter, "INIT")
    clock.advance(1.0)
    assert ask(counter, "FETC?") == "+0.00000000000000E+000"


def test_early_fetch_waits_for_the_end_on_the_clock(counter, clock):
    ask(counter, "CONF:TOT:TIM 0.5,(@1);:SAMP:COUN 4")
    ask(counter, "INIT")
    assert len(ask(counter, "FETC?").split(",")) == 4
    assert clock.now() == pytest.approx(2.0)


def test_read_query_is_init_plus_fetch(counter, clock):
    ask(counter, "CONF:TOT:TIM 0.5,(@1);:SAMP:COUN 2")
    assert len(ask(counter, "READ?").split(",")) == 2
    assert clock.now() == pytest.approx(1.0)


def test_trigger_count_times_sample_count(counter, clock):
    ask(counter, "CONF:TOT:TIM 0.1,(@1);:SAMP:COUN 3;:TRIG:COUN 2;:TRIG:SOUR IMM")
    ask(counter, "INIT")
    clock.advance(5.0)
    assert ask(counter, "DATA:POIN?") == "+6"


def test_abort_stops_later_readings(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@1);:SAMP:COUN 5")
    ask(counter, "INIT")
    clock.advance(2.5)
    ask(counter, "ABOR")
    clock.advance(10.0)
    assert ask(counter, "DATA:POIN?") == "+2"
    assert len(ask(counter, "FETC?").split(",")) == 2
    assert len(unblock(ask(counter, "R?"))) == 2
    assert ask(counter, "R?") == ""  # nothing left and nothing running
    assert errors(counter) == ['-230,"Data corrupt or stale"']
    ask(counter, "INIT")  # a new measurement may start
    assert errors(counter) == []


def test_init_while_running_is_ignored(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@1);:SAMP:COUN 3")
    ask(counter, "INIT")
    clock.advance(1.5)
    ask(counter, "INIT:IMM")
    assert errors(counter) == ['-213,"Init ignored"']
    assert ask(counter, "DATA:POIN?") == "+1"  # the first measurement went on


def test_reconfigure_clears_memory(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@1)")
    ask(counter, "INIT")
    clock.advance(2.0)
    ask(counter, "CONF:TOT:TIM 2,(@1)")
    assert ask(counter, "FETC?") == ""
    assert errors(counter) == ['-230,"Data corrupt or stale"']


def test_reset(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@2);:SAMP:COUN 7;:TRIG:SOUR BUS")
    ask(counter, "INIT")
    ask(counter, "*RST")
    assert ask(counter, "SENS:TOT:GATE:TIME?") == "+1.00000000000000E-001"
    assert ask(counter, "SAMP:COUN?") == "+1"
    assert ask(counter, "TRIG:SOUR?") == "IMM"
    assert counter.channel == 1
    assert ask(counter, "FETC?") == ""
    assert errors(counter) == ['-230,"Data corrupt or stale"']


def test_timeout_hook_makes_next_reading_not_a_number(counter, clock):
    ask(counter, "CONF:TOT:TIM 1,(@1);:SAMP:COUN 3")
    ask(counter, "INIT")
    clock.advance(1.0)
    counter.timeout_next = True
    clock.advance(2.0)
    assert ask(counter, "FETC?").split(",") == [
        "+9.91000000000000E+037",
        "+0.00000000000000E+000",
        "+0.00000000000000E+000",
    ]
    assert counter.timeout_next is False


def test_external_trigger_never_arrives(counter, clock):
    ask(counter, "CONF:TOT:TIM 0.1,(@1);:TRIG:SOUR EXT")
    ask(counter, "INIT")
    clock.advance(10.0)
    assert ask(counter, "R?") == "#10"
    assert ask(counter, "FETC?") == ""  # busy: the host's I/O timeout ends this
    ask(counter, "ABOR")
    assert ask(counter, "R?") == ""
    assert errors(counter) == ['-230,"Data corrupt or stale"']


def test_infinite_gate_closes_on_abort(counter, world, clock, monkeypatch):
    windows = record_windows(world, monkeypatch, counts=42)
    ask(counter, "CONF:TOT:TIM INF,(@1);:SAMP:COUN 5")
    ask(counter, "INIT")
    clock.advance(3.0)
    assert ask(counter, "DATA:POIN?") == "+0"
    ask(counter, "ABOR")
    assert ask(counter, "FETC?") == "+4.20000000000000E+001"
    assert windows == [(0.0, 3.0)]


# ------------------------------------------------------------------ SCPI paths
def test_relative_headers_follow_the_path(counter):
    ask(counter, "TRIG:SOUR BUS;COUN 2;DEL 0.5")
    assert ask(counter, "TRIG:SOUR?;COUN?;DEL?") == "BUS;+2;+5.00000000000000E-001"
    ask(counter, "CONF:TOT:TIM 1;SAMP:COUN 2")  # SAMP:COUN under CONF:TOT: not a header
    assert errors(counter) == ['-113,"Undefined header"']
    assert ask(counter, "SAMP:COUN?") == "+1"


# ------------------------------------------------------------------ inputs
def test_input_defaults_and_round_trips(counter):
    assert ask(counter, "INP:COUP?;IMP?;RANG?;PROB?") == (
        "AC;+1.00000000000000E+006;+5.00000000000000E+000;+1"
    )
    assert ask(counter, "INP:LEV:AUTO?;:INP:LEV:REL?;:INP:SLOP?;NREJ?;FILT?") == "1;+50;POS;0;0"
    ask(counter, "INP2:COUP DC;IMP 50;RANG 50;PROB 10")
    assert ask(counter, "INPUT2:COUPLING?;IMPEDANCE?;RANGE?;PROBE?") == (
        "DC;+5.00000000000000E+001;+5.00000000000000E+001;+10"
    )
    assert ask(counter, "INP1:COUP?") == "AC"  # channel 1 untouched
    ask(counter, "INP:IMP 1 MOHM")  # IEEE 488.2: MOHM is mega-ohm
    assert ask(counter, "INP:IMP?;IMP? MIN") == "+1.00000000000000E+006;+5.00000000000000E+001"
    ask(counter, "INP:LEV:REL 33")
    assert ask(counter, "INP:LEV:REL?") == "+35"  # 5 % resolution
    ask(counter, "INP3:COUP AC")
    ask(counter, "INP:PROB 3")
    assert errors(counter) == ['-114,"Header suffix out of range"', '-224,"Illegal parameter value"']
    ask(counter, "*RST")
    assert ask(counter, "INP2:COUP?;IMP?") == "AC;+1.00000000000000E+006"


def test_absolute_threshold_turns_auto_level_off_and_is_range_checked(counter):
    ask(counter, "INP:LEV -50 MV;SLOP NEG")
    assert ask(counter, "INP:LEV?;:INP:LEV:AUTO?;:INP:SLOP?") == "-5.00000000000000E-002;0;NEG"
    ask(counter, "INP:LEV 6")
    assert errors(counter) == ['-222,"Data out of range"']
    ask(counter, "INP:RANG 50;LEV 6")
    assert ask(counter, "INP:LEV?") == "+6.00000000000000E+000"
    assert errors(counter) == []


def test_auto_level_reports_its_threshold(counter, world):
    beam_on(world)
    cfg = world.config
    peak = cfg.cem_pulse_height_V + 3 * cfg.cem_pulse_sigma_V
    assert float(ask(counter, "INP:LEV?")) == pytest.approx(-0.5 * peak)
    assert float(ask(counter, "INP:LEV:PTP?")) == pytest.approx(peak)
    ask(counter, "INP:LEV:REL 20;:INP:LEV:AUTO ONCE")
    assert ask(counter, "INP:LEV:AUTO?") == "0"
    assert float(ask(counter, "INP:LEV?")) == pytest.approx(-0.8 * peak)


@pytest.mark.parametrize("setup, level", [
    ("INP:LEV -0.02", -0.02),
    ("INP:LEV -0.05", -0.05),
    ("INP:LEV -0.08", -0.08),
])
def test_discriminator_level_thins_the_counts(counter, world, monkeypatch, setup, level):
    record_windows(world, monkeypatch, counts=100_000)
    ask(counter, "CONF:TOT:TIM 1,(@1)")
    ask(counter, setup)
    n = float(ask(counter, "READ?"))
    p = world.pulse_fraction(level)
    assert 0.0 < p < 1.0 or level == -0.02
    assert n == pytest.approx(100_000 * p, abs=5 * math.sqrt(100_000 * p * (1 - p)) + 1)


def test_discriminator_above_the_baseline_or_behind_the_filter_counts_nothing(counter, world, monkeypatch):
    record_windows(world, monkeypatch, counts=100_000)
    ask(counter, "CONF:TOT:TIM 1,(@1);:INP:LEV 0.1")
    assert float(ask(counter, "READ?")) == 0.0  # the pulses are negative
    ask(counter, "INP:LEV -0.02;FILT ON")
    assert float(ask(counter, "READ?")) == 0.0  # 10 ns pulses shrink to a fraction of a mV
    ask(counter, "INP:LEV:AUTO ON")
    assert float(ask(counter, "READ?")) == 100_000.0
    ask(counter, "INP:LEV -0.02;FILT OFF;:CONF:TOT:TIM 1")  # CONFigure turns auto-level back on
    assert ask(counter, "INP:LEV:AUTO?") == "1"


# ------------------------------------------------------------------ triggers and gates
def test_trigger_delay_and_bus_triggers(counter, world, clock, monkeypatch):
    windows = record_windows(world, monkeypatch)
    ask(counter, "CONF:TOT:TIM 0.5,(@1);:SAMP:COUN 2;:TRIG:COUN 2;SOUR BUS;DEL 1")
    ask(counter, "*TRG")
    assert errors(counter) == ['-211,"Trigger ignored"']  # not initiated
    ask(counter, "INIT")
    assert ask(counter, "STAT:OPER:COND?") == "+32"  # waiting for trigger
    clock.advance(2.0)
    ask(counter, "*TRG")
    assert ask(counter, "STAT:OPER:COND?") == "+16"  # measuring
    clock.advance(1.2)
    ask(counter, "*TRG")  # the first burst is still going: ignored
    clock.advance(0.8)
    ask(counter, "*TRG")
    clock.advance(2.0)
    assert len(unblock(ask(counter, "R?"))) == 4
    assert windows == [(3.0, 3.5), (3.5, 4.0), (5.0, 5.5), (5.5, 6.0)]
    assert errors(counter) == ['-211,"Trigger ignored"']


def test_immediate_trigger_delay_spaces_the_bursts(counter, world, clock, monkeypatch):
    windows = record_windows(world, monkeypatch)
    ask(counter, "CONF:TOT:TIM 1,(@1);:TRIG:COUN 2;DEL 0.5")
    ask(counter, "INIT")
    clock.advance(10.0)
    ask(counter, "FETC?")
    assert windows == [(0.5, 1.5), (2.0, 3.0)]


def test_advanced_gate_start_delay_and_hold_time(counter, world, clock, monkeypatch):
    windows = record_windows(world, monkeypatch)
    ask(counter, "CONF:TOT:TIM 1,(@1);:TOT:GATE:SOUR ADV")
    ask(counter, "GATE:STAR:SOUR IMM;DEL:SOUR TIME;TIME 0.25")
    ask(counter, "GATE:STOP:SOUR IMM;HOLD:SOUR TIME;TIME 0.5")
    assert ask(counter, "GATE:STAR:DEL:TIME?;:GATE:STOP:HOLD:TIME?") == "+2.50000000000000E-001;+5.00000000000000E-001"
    ask(counter, "SAMP:COUN 2;:INIT")
    clock.advance(5.0)
    ask(counter, "FETC?")
    assert windows == [(0.25, 0.75), (1.0, 1.5)]
    ask(counter, "TOT:GATE:SOUR EXT;:INIT")
    clock.advance(5.0)
    assert ask(counter, "R?") == "#10"  # no gate signal is connected
    assert errors(counter) == []


def test_continuous_totalize_and_the_running_count(counter, world, clock, monkeypatch):
    monkeypatch.setattr(world, "detector_counts", lambda t0, t1: int(round(1000 * (t1 - t0))))
    ask(counter, "CONF:TOT:CONT (@2)")
    assert ask(counter, "CONF?") == '"TOT:CONT (@2)"'
    ask(counter, "INIT")
    clock.advance(2.0)
    assert ask(counter, "TOT:DATA?") == "+2.00000000000000E+003"
    clock.advance(3.0)
    assert ask(counter, "SENS:TOT:DATA?") == "+5.00000000000000E+003"
    clock.advance(1.0)
    ask(counter, "ABOR")
    assert ask(counter, "FETC?") == "+6.00000000000000E+003"
    assert ask(counter, "TOT:DATA?") == "+6.00000000000000E+003"


def test_configure_query_measure_and_version(counter, clock):
    assert ask(counter, "CONF?") == '"TOT:TIM +1.00000000000000E-001,(@1)"'
    ask(counter, "CONF:TOT:TIM 100 MS,(@2)")
    assert ask(counter, "CONF?") == '"TOT:TIM +1.00000000000000E-001,(@2)"'
    assert READING.match(ask(counter, "MEAS:TOT:TIM? 0.5,(@1)"))
    assert clock.now() == pytest.approx(0.5)
    assert ask(counter, "SYST:VERS?") == "1994.0"
    assert ask(counter, "TOT:GATE:TIME? MAX;TIME? MIN") == "+1.00000000000000E+003;+1.00000000000000E-006"


# ------------------------------------------------------------------ status
def test_status_byte_operation_register_and_opc(counter, clock):
    assert ask(counter, "*ESR?") == "+128"
    assert ask(counter, "*STB?") == "+0"
    ask(counter, "STAT:OPER:ENAB 16;:CONF:TOT:TIM 1;:INIT")
    assert ask(counter, "*STB?") == "+128"  # measuring, enabled into the status byte
    ask(counter, "*OPC")
    assert ask(counter, "*ESR?") == "+0"
    assert ask(counter, "*OPC?") == "1"  # waits on the clock for the gate
    assert clock.now() == pytest.approx(1.0)
    # OPC; the latched "measuring" event keeps OPER summary, MAV while the reply is pending
    assert ask(counter, "*ESR?;*STB?") == "+1;+144"
    assert ask(counter, "STAT:OPER?;*STB?") == "+16;+16"  # cleared by the read; MAV: its reply waits
    ask(counter, "BOGUS")
    assert ask(counter, "*STB?") == "+4"  # EAV
    ask(counter, "*ESE 32;*SRE 32")
    assert ask(counter, "*STB?") == "+100"  # ESB + MSS + EAV
    ask(counter, "*CLS")
    assert ask(counter, "*STB?") == "+0"


def test_a_lab_scripts_input_setup_is_accepted(counter):
    # the input setup public lab scripts send to a 53220A/53230A before counting
    for line in ("*RST; *CLS", ":INP:IMP 1E6", ":INP:LEV:AUTO ON", ":INP:COUP DC",
                 "INPut1:COUPling DC", "INP1:RANG 50", "INPut1:PROBe 10", "INP:LEV .9", "SAMP:COUN 1"):
        ask(counter, line)
    assert errors(counter) == []
    assert ask(counter, "INP:COUP?;RANG?;PROB?;LEV?;LEV:AUTO?") == (
        "DC;+5.00000000000000E+001;+10;+9.00000000000000E-001;0"
    )


# ------------------------------------------------------------------ frequency (what lab clients measure)
def test_function_frequency_reads_the_pulse_rate_over_the_gate(counter, world, clock):
    beam_on(world)
    assert ask(counter, "FUNC 'FREQ 1'") == ""
    assert ask(counter, "FUNC?") == '"FREQ 1"'
    assert ask(counter, "FREQ:GATE:TIME 1") == ""
    assert ask(counter, "FREQ:GATE:TIME?") == "+1.00000000000000E+000"
    t0 = clock.now()
    reply = ask(counter, "READ?")
    assert READING.match(reply)
    rate = world.measured_rate(t0 + 0.5)
    # a 1 s gate: events per second, Poisson around the world's counted rate
    assert float(reply) == pytest.approx(rate, abs=6 * math.sqrt(rate))
    assert float(reply) == round(float(reply))
    assert clock.now() == pytest.approx(t0 + 1.0)
    assert errors(counter) == []


def test_frequency_without_pulses_is_the_no_signal_reading(counter):
    assert ask(counter, "MEAS:FREQ?") == "+9.91000000000000E+037"  # no beam: no edge in the gate
    assert ask(counter, "CONF?") == '"FREQ +1.00000000000000E+007,+1.00000000000000E-004,(@1)"'


def test_conf_freq_channel_and_gate_source(counter):
    assert ask(counter, "CONF:FREQ 1E3,(@2)") == ""
    assert ask(counter, "FUNC?") == '"FREQ 2"'
    assert ask(counter, "FREQ:GATE:SOUR ADV") == ""
    assert ask(counter, "FREQ:GATE:SOUR?") == "ADV"
    assert ask(counter, "SENS:FREQ:GATE:SOUR EXT") == ""  # TIME or ADVanced only
    assert errors(counter) == ['-224,"Illegal parameter value"']
    assert ask(counter, "CONF:TOT:TIM 0.1") == ""
    assert ask(counter, "FUNC?") == '"TOT:TIM 1"'


def test_function_names_in_both_forms_and_the_ones_not_emulated(counter):
    assert ask(counter, 'FUNC "FREQuency 2"') == ""
    assert ask(counter, "FUNC?") == '"FREQ 2"'
    assert ask(counter, 'SENS:FUNC "TOTalize:TIMed"') == ""
    assert ask(counter, "FUNC?") == '"TOT:TIM 1"'
    assert ask(counter, "FUNC 'PER 1'") == ""  # period: not emulated
    assert ask(counter, "FUNC FREQ") == ""  # not a string
    assert errors(counter) == ['-224,"Illegal parameter value"', '-104,"Data type error"']


def test_interface_lock_request_release_owner(counter):
    assert ask(counter, "SYST:LOCK:OWN?") == "NONE"
    assert ask(counter, "SYST:LOCK:REQ?") == "1"
    assert ask(counter, "SYST:LOCK:REQ?") == "1"  # requests nest
    assert ask(counter, "SYST:LOCK:OWN?") == "LAN"
    ask(counter, "SYST:LOCK:REL")
    assert ask(counter, "SYST:LOCK:OWN?") == "LAN"
    ask(counter, "SYSTem:LOCK:RELease")
    assert ask(counter, "SYST:LOCK:OWN?") == "NONE"
    ask(counter, "SYST:LOCK:REL")  # releasing an unheld lock is harmless
    assert errors(counter) == []
