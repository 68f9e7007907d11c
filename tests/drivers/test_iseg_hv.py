"""iseg EHS/EBS HV driver: every command byte for byte, then against its emulator."""

import pytest

from drivers.errors import DeviceError, GarbledReply, InstrumentTimeout, LimitError, TransientError
from drivers.iseg_hv import ChannelStatus, Electrode, IsegHV, ModuleStatus, RampTimeout, parse_unit_value
from drivers.testing import expected_protocol
from foundation.clock import VirtualClock
from simulators.iseg_hv import IsegHVEmulator
from simulators.world import ELECTRODE_MAP

ELECTRODES = {
    "cathode": Electrode(0, -310.0, 0.0, 20.0),
    "lens_A2": Electrode(1, -500.0, 500.0, 50.0),
    "channeltron": Electrode(3, 0.0, 3000.0, 100.0, tolerance_V=1.0),
}

# Channel Status values as the module sends them
OFF = b"0\r\n"
ON_SETTLED = b"136\r\n"  # Is Constant Voltage + Is On
ON_RAMPING = b"24\r\n"  # Is Voltage Ramp + Is On
INPUT_ERROR = b"4\r\n"
MODULE_GOOD = b"30465\r\n"  # fine adj., no sum error, no ramp, loop, module, supply, temperature good


def hv(pairs, **kwargs):
    kwargs.setdefault("electrodes", ELECTRODES)
    return expected_protocol(IsegHV, pairs, **kwargs)


# ---------------------------------------------------------------- status decoding
@pytest.mark.parametrize(
    "raw, set_fields, fault",
    [
        (0, set(), None),
        (136, {"is_on", "constant_voltage"}, None),
        (152, {"is_on", "is_ramping", "constant_voltage"}, None),
        (32, {"emergency_off"}, "Is Emergency Off"),
        (36, {"emergency_off", "input_error"}, "Is Emergency Off"),
        (4, {"input_error"}, None),
        (8192 + 8, {"current_trip", "is_on"}, "Is Current Trip"),
        (4096 + 64 + 8, {"external_inhibit", "constant_current", "is_on"}, "Is External Inhibit"),
        (0x8000 | 0x4000, {"voltage_limit_exceeded", "current_limit_exceeded"}, "Is Current Limit, Is Voltage Limit"),
        (0x400 | 0x800 | 0x100 | 1,
         {"current_bounds_exceeded", "voltage_bounds_exceeded", "low_current_range", "is_positive"},
         "Is Current Bounds, Is Voltage Bounds"),
        (0x7F0000, {"current_ramp", "current_ramp_up", "current_ramp_down", "voltage_ramp_up", "voltage_ramp_down",
                    "voltage_bound_upper", "voltage_bound_lower"}, None),
        (2 | 0x200 | 0x80000000, set(), None),  # reserved bits: kept in raw, not decoded
    ],
)
def test_channel_status_decoding(raw, set_fields, fault):
    status = ChannelStatus.from_raw(raw)
    flags = {name for name, value in vars(status).items() if name != "raw" and value}
    assert status.raw == raw
    assert flags == set_fields
    assert status.fault == fault


def test_module_status_decoding():
    good = ModuleStatus.from_raw(30465)
    assert good.fine_adjustment and good.no_sum_error and good.no_ramp and good.safety_loop_good
    assert good.module_good and good.supply_good and good.temperature_good
    assert not (good.input_error or good.service or good.kill_enable or good.high_voltage_on or good.event_active)
    assert good.fault is None
    loop_open = ModuleStatus.from_raw(30465 & ~(1 << 10) | 1 << 3)
    assert loop_open.high_voltage_on and loop_open.fault == "safety loop open"
    sick = ModuleStatus.from_raw((1 << 4) | (1 << 15) | (1 << 6))
    assert sick.service and sick.kill_enable and sick.input_error
    assert "Is Service" in sick.fault and "supply not good" in sick.fault and "sum error" in sick.fault


@pytest.mark.parametrize(
    "reply, unit, value",
    [("1.23456E+03V", "V", 1234.56), ("-5.00000E+01V", "V", -50.0), ("5.000000E2V", "V", 500.0),
     ("2.50000E-05A", "A", 2.5e-5), ("5.000E+00%/s", "%/s", 5.0), (" 12V ", "V", 12.0)],
)
def test_parse_unit_value(reply, unit, value):
    assert parse_unit_value(reply, unit) == pytest.approx(value)


@pytest.mark.parametrize("reply, unit", [("1.0E+02", "V"), ("1.0E+02A", "V"), ("V", "V"), ("1.0E+02V", "%/s")])
def test_parse_unit_value_refuses(reply, unit):
    with pytest.raises(ValueError):
        parse_unit_value(reply, unit)


# ---------------------------------------------------------------- byte-level commands
def test_identity():
    idn = b"iseg Spezialelektronik GmbH,EBS 80 10,520001,5.26"
    with hv([(b"*IDN?\r\n", idn + b"\r\n")]) as m:
        assert m.identity() == idn.decode()


def test_set_voltage_signed_then_status_checked():
    pairs = [
        (b":VOLT -100.000,(@0)\r\n", None),
        (b":READ:CHAN:STAT? (@0)\r\n", ON_RAMPING),
        (b":VOLT 250.500,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", OFF),
    ]
    with hv(pairs) as m:
        m.set_voltage("cathode", -100)
        m.set_voltage(1, 250.5)  # a raw channel takes the limits of its electrode


def test_set_voltage_refused_by_module_is_device_error():
    pairs = [(b":VOLT 450.000,(@1)\r\n", None), (b":READ:CHAN:STAT? (@1)\r\n", INPUT_ERROR)]
    with hv(pairs) as m:
        with pytest.raises(DeviceError, match="lens_A2: module refused.*Input Error") as info:
            m.set_voltage("lens_A2", 450)
    assert info.value.command == ":VOLT 450.000,(@1)"


def test_setpoint_nominal_and_measured_readbacks():
    pairs = [
        (b":READ:VOLT? (@1)\r\n", b"-1.00500E+02V\r\n"),
        (b":READ:VOLT:NOM? (@1)\r\n", b"1.00000E+03V\r\n"),
        (b":MEAS:VOLT? (@0)\r\n", b"-4.99998E+01V\r\n"),
        (b":MEAS:CURR? (@3)\r\n", b"2.50000E-05A\r\n"),
        (b":MEAS:VOLT? (@5)\r\n", b"0.00000E+00V\r\n"),
    ]
    with hv(pairs) as m:
        assert m.voltage_setpoint("lens_A2") == -100.5
        assert m.nominal_voltage(1) == 1000.0
        assert m.measured_voltage("cathode") == pytest.approx(-49.9998)
        assert m.measured_current("channeltron") == pytest.approx(2.5e-5)
        assert m.measured_voltage(5) == 0.0  # an unconfigured channel may be read


@pytest.mark.parametrize("reply", [b"-4.99998E+01\r\n", b"-4.99998E+01A\r\n", b"\xfe#10V\r\n", b"ERR\r\n"])
def test_readback_without_its_unit_is_garbled(reply):
    with hv([(b":MEAS:VOLT? (@0)\r\n", reply)]) as m:
        with pytest.raises(GarbledReply) as info:
            m.measured_voltage("cathode")
    assert info.value.command == ":MEAS:VOLT? (@0)"


def test_output_on_checks_present_setpoint_and_status():
    pairs = [
        (b":READ:VOLT? (@1)\r\n", b"2.50000E+02V\r\n"),
        (b":VOLT ON,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":VOLT OFF,(@1)\r\n", None),
        (b":VOLT OFF,(@6)\r\n", None),
    ]
    with hv(pairs) as m:
        m.output("lens_A2", True)
        m.output("lens_A2", False)
        m.output(6, False)  # switching off needs no limits


def test_output_on_refused_in_emergency_off():
    pairs = [
        (b":READ:VOLT? (@3)\r\n", b"2.50000E+03V\r\n"),
        (b":VOLT ON,(@3)\r\n", None),
        (b":READ:CHAN:STAT? (@3)\r\n", b"36\r\n"),
    ]
    with hv(pairs) as m:
        with pytest.raises(DeviceError, match="channeltron: module refused"):
            m.output("channeltron", True)


def test_output_on_refused_when_front_panel_setpoint_is_outside_limits():
    # the only bytes: the setpoint query; ON is never sent
    with hv([(b":READ:VOLT? (@0)\r\n", b"-4.00000E+02V\r\n")]) as m:
        with pytest.raises(LimitError, match="cathode present setpoint voltage = -400.0"):
            m.output("cathode", True)


def test_emergency_off_writes_first_then_confirms_and_clear_checks_status():
    pairs = [
        (b":VOLT EMCY OFF,(@3)\r\n", None),
        (b":READ:CHAN:STAT? (@3)\r\n", b"32\r\n"),
        (b":VOLT EMCY CLR,(@3)\r\n", None),
        (b":READ:CHAN:STAT? (@3)\r\n", OFF),
        (b":VOLT EMCY OFF,(@7)\r\n", None),
    ]
    with hv(pairs) as m:
        m.emergency_off("channeltron")
        m.clear_emergency("channeltron")
        m.emergency_off(7, confirm=False)


def test_emergency_off_not_confirmed_is_a_device_error():
    pairs = [(b":VOLT EMCY OFF,(@3)\r\n", None), (b":READ:CHAN:STAT? (@3)\r\n", b"8\r\n")]
    with hv(pairs) as m, pytest.raises(DeviceError, match="channeltron .* not in emergency off"):
        m.emergency_off("channeltron")


def test_channel_status_query_decodes():
    pairs = [(b":READ:CHAN:STAT? (@3)\r\n", b"32\r\n"), (b":READ:CHAN:STAT? (@0)\r\n", b"8200\r\n")]
    with hv(pairs) as m:
        emcy = m.channel_status("channeltron")
        assert emcy.emergency_off and not emcy.is_on and emcy.fault == "Is Emergency Off"
        trip = m.channel_status(0)
        assert trip.current_trip and trip.is_on and trip.fault == "Is Current Trip"


@pytest.mark.parametrize("reply", [b"-1\r\n", b"1.5\r\n", b"on\r\n", b"\r\n"])
def test_status_register_must_be_unsigned_integer(reply):
    with hv([(b":READ:CHAN:STAT? (@0)\r\n", reply)]) as m:
        with pytest.raises(GarbledReply):
            m.channel_status("cathode")


def test_module_status_and_channel_count():
    pairs = [(b":READ:MOD:STAT?\r\n", MODULE_GOOD), (b":READ:MOD:CHAN?\r\n", b"8\r\n")]
    with hv(pairs) as m:
        status = m.module_status()
        assert status.raw == 30465 and status.fault is None
        assert m.module_channels() == 8


def test_ramp_speed_percent_get_and_set():
    pairs = [
        (b":CONF:RAMP:VOLT?\r\n", b"5.000E+00%/s\r\n"),
        (b":CONF:RAMP:VOLT 2.500\r\n", None),
        (b":READ:MOD:STAT?\r\n", MODULE_GOOD),
    ]
    with hv(pairs) as m:
        assert m.ramp_speed_percent == 5.0
        m.ramp_speed_percent = 2.5


def test_ramp_speed_refused_by_module_is_device_error():
    pairs = [(b":CONF:RAMP:VOLT 9.000\r\n", None), (b":READ:MOD:STAT?\r\n", b"30529\r\n")]
    with hv(pairs) as m:
        with pytest.raises(DeviceError, match="Is Input Error"):
            m.ramp_speed_percent = 9


def test_no_error_queue():
    with hv([]) as m:
        with pytest.raises(NotImplementedError):
            m.next_error()


# ---------------------------------------------------------------- limits, before any byte
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.set_voltage("cathode", 5.0), r"cathode voltage = 5.0 refused before sending: allowed -310 to 0 V"),
        (lambda m: m.set_voltage("lens_A2", float("nan")), "lens_A2 voltage"),
        (lambda m: m.set_voltage("anode", 10.0), r"electrode = 'anode' .* one of cathode, channeltron, lens_A2"),
        (lambda m: m.set_voltage(8, 0.0), "channel = 8 .* 0 to 7"),
        (lambda m: m.set_voltage(5, 10.0), "no limits known"),
        (lambda m: m.output(5, True), "no limits known"),
        (lambda m: m.measured_voltage(-1), "channel = -1"),
        (lambda m: m.channel_status("nope"), "electrode = 'nope'"),
        (lambda m: m.emergency_off(True), "electrode name or a channel number"),
        (lambda m: setattr(m, "ramp_speed_percent", 20), "0.04 to 10"),
        (lambda m: m.ramp_to({"cathode": -100.0, "lens_A2": 600.0}), "lens_A2 voltage = 600.0"),
        (lambda m: m.ramp_to({"lens_A2": 10.0, 1: 20.0}), "given twice"),
        (lambda m: m.ramp_to({"cathode": -1.0}, step_interval_s=0), "step_interval_s"),
    ],
)
def test_limits_refused_before_sending(call, match):
    with hv([]) as m:  # the scripted transport fails the test on any byte
        with pytest.raises(LimitError, match=match):
            call(m)


def test_module_max_voltage_applies_to_every_electrode():
    with hv([], max_voltage_V=2000.0) as m:
        with pytest.raises(LimitError, match="max_voltage_V"):
            m.set_voltage("channeltron", 2500.0)


def test_bad_configuration_refused_at_construction():
    with pytest.raises(ValueError, match="channel 9, the module has 0..7"):
        IsegHV("x", transport=object(), electrodes={"a": Electrode(9, 0, 1, 1)})
    with pytest.raises(ValueError, match="share channel 1"):
        IsegHV("x", transport=object(), electrodes={"a": Electrode(1, 0, 1, 1), "b": Electrode(1, 0, 1, 1)})
    with pytest.raises(ValueError, match="min_V 5 > max_V 1"):
        IsegHV("x", transport=object(), electrodes={"a": Electrode(1, 5, 1, 1)})


# ---------------------------------------------------------------- ramp_to, byte by byte
STEPPED = {"a": Electrode(1, -100.0, 100.0, 20.0), "b": Electrode(2, -100.0, 100.0, 10.0)}


def test_ramp_to_steps_all_electrodes_together_then_waits_for_readbacks():
    clock = VirtualClock()
    pairs = [
        # a: on, at 0 V; b: off -> Vset := its present output, then ON
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"0.00000E+00V\r\n"),
        (b":READ:CHAN:STAT? (@2)\r\n", OFF),
        (b":MEAS:VOLT? (@2)\r\n", b"0.00000E+00V\r\n"),
        (b":VOLT 0.000,(@2)\r\n", None),
        (b":READ:CHAN:STAT? (@2)\r\n", OFF),
        (b":VOLT ON,(@2)\r\n", None),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_SETTLED),
        # step 1 (a by 20 V, b by 10 V)
        (b":VOLT 20.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":VOLT -10.000,(@2)\r\n", None),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_RAMPING),
        # step 2: a has arrived at its target, b goes on
        (b":VOLT 30.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":VOLT -15.000,(@2)\r\n", None),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_RAMPING),
        # arrival: both within 0.5 V
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@1)\r\n", b"2.99998E+01V\r\n"),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@2)\r\n", b"-1.50001E+01V\r\n"),
    ]
    with hv(pairs, electrodes=STEPPED, clock=clock) as m:
        m.ramp_to({"a": 30.0, "b": -15.0})
    assert clock.now() == 2.0  # two steps of 1 s


def test_ramp_to_polls_until_arrival_and_checks_status_of_finished_electrodes():
    clock = VirtualClock()
    pairs = [
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"1.00000E+01V\r\n"),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@2)\r\n", b"5.00000E+00V\r\n"),
        (b":VOLT 0.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":READ:CHAN:STAT? (@2)\r\n", ON_SETTLED),  # b is already at its target: status only
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":MEAS:VOLT? (@1)\r\n", b"4.00000E+00V\r\n"),  # the module ramp lags
        (b":READ:CHAN:STAT? (@2)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@2)\r\n", b"5.00000E+00V\r\n"),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@1)\r\n", b"1.00000E-01V\r\n"),
    ]
    with hv(pairs, electrodes=STEPPED, clock=clock) as m:
        m.ramp_to({"a": 0.0, "b": 5.0}, step_interval_s=0.5)
    assert clock.now() == 1.0  # one step, one poll interval


def test_ramp_to_fault_at_start_names_electrode_and_fault():
    pairs = [(b":READ:CHAN:STAT? (@3)\r\n", b"32\r\n")]
    with hv(pairs) as m:
        with pytest.raises(DeviceError, match=r"channeltron \(channel 3\) has a fault: Is Emergency Off"):
            m.ramp_to({"channeltron": 2500.0})


def test_ramp_to_fault_during_steps_stops_the_move():
    pairs = [
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"0.00000E+00V\r\n"),
        (b":VOLT 20.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", b"8200\r\n"),
    ]
    with hv(pairs, electrodes=STEPPED) as m:
        with pytest.raises(DeviceError, match=r"a \(channel 1\) has a fault: Is Current Trip"):
            m.ramp_to({"a": 60.0})


def test_ramp_to_timeout_names_late_electrodes_and_readbacks():
    clock = VirtualClock()
    late = [(b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING), (b":MEAS:VOLT? (@1)\r\n", b"1.20000E+01V\r\n")]
    pairs = [
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"0.00000E+00V\r\n"),
        (b":VOLT 20.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        *late,
        *late,
    ]
    with hv(pairs, electrodes=STEPPED, clock=clock) as m:
        with pytest.raises(RampTimeout) as info:
            m.ramp_to({"a": 20.0}, timeout_s=1.0)
    assert info.value.readbacks == {"a": 12.0} and info.value.targets == {"a": 20.0}
    assert "a at 12 V (target 20 V)" in str(info.value)
    assert clock.now() == 2.0


# ---------------------------------------------------------------- snapshot
def test_settings_and_probe():
    pairs = [
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"3.00000E+01V\r\n"),
        (b":READ:CHAN:STAT? (@2)\r\n", OFF),
        (b":READ:VOLT? (@2)\r\n", b"0.00000E+00V\r\n"),
        (b":CONF:RAMP:VOLT?\r\n", b"5.000E+00%/s\r\n"),
        (b"*IDN?\r\n", b"iseg Spezialelektronik GmbH,EBS 80 10,520001,5.26\r\n"),
        (b":READ:MOD:CHAN?\r\n", b"8\r\n"),
        (b":READ:MOD:STAT?\r\n", MODULE_GOOD),
        (b":MEAS:VOLT? (@0)\r\n", b"3.00000E+01V\r\n"),
        (b":MEAS:CURR? (@0)\r\n", b"3.00000E-08A\r\n"),
    ]
    with hv(pairs, electrodes=STEPPED) as m:
        settings = m.settings()
        assert settings["ramp_speed_percent"] == 5.0
        assert settings["electrodes"]["a"]["setpoint_V"] == 30.0 and settings["electrodes"]["a"]["on"]
        assert settings["electrodes"]["b"]["on"] is False
        probe = m.probe()
        assert probe["channels"] == 8 and probe["module_status"] == 30465 and probe["module_fault"] is None
        assert probe["identity"].startswith("iseg Spezialelektronik GmbH")
        assert probe["channel_0_voltage_V"] == 30.0 and probe["channel_0_current_A"] == 3e-8


# ---------------------------------------------------------------- against the emulator
def module_electrodes(module, ramps):
    return {
        name: Electrode(ch, -450.0, 450.0, ramps.get(name, 50.0))
        for name, (mod, ch) in ELECTRODE_MAP.items()
        if mod == module and name != "channeltron"
    }


@pytest.fixture
def analyzer(world, serve):
    server = serve(IsegHVEmulator(world, "hv_analyzer"))
    electrodes = module_electrodes("hv_analyzer", {"cyl_inner": 20.0, "lens_B1": 10.0})
    driver = IsegHV(server.visa_address, clock=world.clock, timeout_s=0.3, electrodes=electrodes, channels=16)
    yield driver, server, world
    driver.close()


@pytest.fixture
def detector(world, serve):
    server = serve(IsegHVEmulator(world, "hv_detector"))
    electrodes = {"channeltron": Electrode(0, 0.0, 3000.0, 100.0, tolerance_V=1.0)}
    driver = IsegHV(server.visa_address, clock=world.clock, timeout_s=0.3, electrodes=electrodes, channels=4)
    yield driver, server, world
    driver.close()


def test_ramp_to_takes_the_time_the_ramp_rates_give(analyzer):
    m, _, world = analyzer
    targets = {"lens_A2": 120.0, "cyl_inner": -84.0, "lens_B1": 53.0}  # 50, 20, 10 V/s
    t0 = world.clock.now()
    m.ramp_to(targets)
    # ceil(120/50)=3, ceil(84/20)=5, ceil(53/10)=6 steps of 1 s; the module (50 V/s) keeps up
    assert world.clock.now() - t0 == pytest.approx(6.0)
    for name, target in targets.items():
        assert abs(m.measured_voltage(name) - target) <= 0.5
        assert world.electrode_voltage(name) == pytest.approx(target)
        assert m.voltage_setpoint(name) == target
        status = m.channel_status(name)
        assert status.is_on and status.constant_voltage and not status.is_ramping
    assert m.module_status().fault is None
    # back down, partly through zero (bipolar)
    t1 = world.clock.now()
    m.ramp_to({"lens_A2": -30.0, "cyl_inner": 0.0}, step_interval_s=0.5)
    assert world.clock.now() - t1 == pytest.approx(4.5)  # cyl_inner: 84 V at 10 V per 0.5 s step
    assert world.electrode_voltage("lens_A2") == pytest.approx(-30.0)
    assert m.measured_current("lens_A2") < 0


def test_slow_module_ramp_makes_ramp_to_wait_for_readbacks(analyzer):
    m, _, world = analyzer
    m.ramp_speed_percent = 1.0  # 10 V/s on a 1 kV module
    assert m.ramp_speed_percent == 1.0
    t0 = world.clock.now()
    m.ramp_to({"lens_A4": 100.0})  # stepped in 2 s, but the output needs 10 s
    assert world.clock.now() - t0 == pytest.approx(10.0)
    assert world.electrode_voltage("lens_A4") == pytest.approx(100.0)


def test_ramp_timeout_through_the_stack(analyzer):
    m, _, _ = analyzer
    m.ramp_speed_percent = 0.1  # 1 V/s
    with pytest.raises(RampTimeout) as info:
        m.ramp_to({"lens_A1": 40.0}, timeout_s=5.0)
    assert set(info.value.readbacks) == {"lens_A1"}
    assert 0 < info.value.readbacks["lens_A1"] < 40.0


def test_setpoint_beyond_nominal_is_refused_by_the_module(analyzer):
    m, _, world = analyzer
    wide = IsegHV(m.address, clock=world.clock, timeout_s=0.3, channels=16,
                  electrodes={"lens_B3": Electrode(8, -2000.0, 2000.0, 50.0)})
    try:
        wide.set_voltage("lens_B3", 100.0)
        with pytest.raises(DeviceError, match="Input Error"):
            wide.set_voltage("lens_B3", 1500.0)  # the module is 1 kV
        assert wide.voltage_setpoint("lens_B3") == 100.0
        assert wide.channel_status("lens_B3").input_error
        wide.set_voltage("lens_B3", -100.0)  # the next accepted setting clears it
        assert not wide.channel_status("lens_B3").input_error
    finally:
        wide.close()


def test_emergency_off_drops_the_channeltron_at_once(detector):
    m, _, world = detector
    t0 = world.clock.now()
    m.ramp_to({"channeltron": 2500.0})
    assert world.clock.now() - t0 == pytest.approx(25.0)  # 100 V/s; the module does 200 V/s
    assert world.electrode_voltage("channeltron") == pytest.approx(2500.0)
    assert m.measured_current("channeltron") == pytest.approx(2500.0 / world.config.cem_resistance_ohm)

    t1 = world.clock.now()
    m.emergency_off("channeltron")
    assert world.clock.now() == t1  # no waiting
    assert world.electrode_voltage("channeltron") == 0.0
    assert m.measured_voltage("channeltron") == 0.0
    status = m.channel_status("channeltron")
    assert status.emergency_off and not status.is_on and status.fault == "Is Emergency Off"
    with pytest.raises(DeviceError, match="channeltron .* Is Emergency Off"):
        m.ramp_to({"channeltron": 2500.0})
    with pytest.raises(DeviceError, match="module refused"):
        m.output("channeltron", True)
    assert world.electrode_voltage("channeltron") == 0.0

    m.clear_emergency("channeltron")
    status = m.channel_status("channeltron")
    assert not status.emergency_off and not status.is_on and status.fault is None
    m.ramp_to({"channeltron": 2400.0})  # from 0 V again, rate-limited
    assert world.electrode_voltage("channeltron") == pytest.approx(2400.0)


def test_silence_times_out_then_works(analyzer):
    m, server, _ = analyzer
    server.faults.inject("silence")
    with pytest.raises(InstrumentTimeout) as info:
        m.measured_voltage("lens_A2")
    assert info.value.command == ":MEAS:VOLT? (@1)"
    assert m.measured_voltage("lens_A2") == 0.0
    assert m.identity().startswith("iseg Spezialelektronik GmbH,EBS F0 10")


def test_garbled_reply_then_works(analyzer):
    m, server, _ = analyzer
    server.faults.inject("garble")
    with pytest.raises(GarbledReply):
        m.channel_status("lens_A2")
    assert m.channel_status("lens_A2").raw == 0


def test_truncated_reply_then_works(analyzer):
    m, server, world = analyzer
    m.set_voltage("lens_A3", -20.0)
    server.faults.inject("truncate")
    with pytest.raises(TransientError):
        m.voltage_setpoint("lens_A3")
    assert m.voltage_setpoint("lens_A3") == -20.0  # reconnected
    m.ramp_to({"lens_A3": -20.0})
    assert world.electrode_voltage("lens_A3") == pytest.approx(-20.0)


# ---------------------------------------------------------------- trust: ramps never overshoot, strict replies
from drivers.errors import ReadbackError  # noqa: E402

LENS = {"lens_A2": Electrode(1, -500.0, 500.0, 50.0)}


def test_a_wrong_vset_reply_is_not_the_start_of_a_ramp():
    # a late reply or crosstalk: 950 V read back for an electrode limited to +-500 V.
    # Starting from it would send ':VOLT 900.000' at the first step.
    pairs = [(b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED), (b":READ:VOLT? (@1)\r\n", b"9.50000E+02V\r\n")]
    with hv(pairs, electrodes=LENS) as m:
        with pytest.raises(ReadbackError, match=r"lens_A2 Vset reads back 950, outside the limits") as info:
            m.ramp_to({"lens_A2": 100.0})
    assert info.value.command == ":READ:VOLT? (@1)" and info.value.reply == "9.50000E+02V"


def test_the_ramp_starts_from_the_commanded_vset_and_a_far_readback_is_an_error():
    clock = VirtualClock()
    pairs = [
        (b":VOLT 100.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        # the next ramp: Vset reads back 0.2 V off (within tolerance_V): the start is the 100 V commanded
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"1.00200E+02V\r\n"),
        (b":VOLT 150.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING),
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@1)\r\n", b"1.50000E+02V\r\n"),
        # and then a parseable Vset inside the limits but far from the 150 V commanded
        (b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED),
        (b":READ:VOLT? (@1)\r\n", b"4.00000E+02V\r\n"),
    ]
    with hv(pairs, electrodes=LENS, clock=clock) as m:
        m.set_voltage("lens_A2", 100.0)
        m.ramp_to({"lens_A2": 150.0})
        assert m.commanded(("Vset", 1)) == 150.0
        with pytest.raises(ReadbackError, match="reads back 400, but 150 was commanded") as info:
            m.ramp_to({"lens_A2": 0.0})
    assert info.value.commanded == 150.0 and info.value.readback == 400.0


def test_every_step_is_checked_against_the_limits_before_it_is_sent(monkeypatch):
    checked = []
    original = IsegHV._check_voltage

    def spy(self, label, config, volts):
        checked.append(round(float(volts), 3))
        return original(self, label, config, volts)

    monkeypatch.setattr(IsegHV, "_check_voltage", spy)
    pairs = [(b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED), (b":READ:VOLT? (@1)\r\n", b"0.00000E+00V\r\n")]
    for value in (b"50.000", b"100.000", b"120.000"):
        pairs += [(b":VOLT " + value + b",(@1)\r\n", None), (b":READ:CHAN:STAT? (@1)\r\n", ON_RAMPING)]
    pairs += [(b":READ:CHAN:STAT? (@1)\r\n", ON_SETTLED), (b":MEAS:VOLT? (@1)\r\n", b"1.20000E+02V\r\n")]
    with hv(pairs, electrodes=LENS) as m:
        checked.clear()
        m.ramp_to({"lens_A2": 120.0})
    assert {50.0, 100.0, 120.0} <= set(checked)  # each value sent went through the validator first


def test_an_off_channel_reading_outside_the_limits_is_not_a_start():
    pairs = [(b":READ:CHAN:STAT? (@1)\r\n", OFF), (b":MEAS:VOLT? (@1)\r\n", b"7.00000E+02V\r\n")]
    with hv(pairs, electrodes=LENS) as m:
        with pytest.raises(ReadbackError, match="lens_A2 is off and reads 700 V, outside the limits"):
            m.ramp_to({"lens_A2": 100.0})


def test_an_off_channel_reading_a_few_mV_beyond_a_one_sided_range_starts_at_its_end():
    pairs = [
        (b":READ:CHAN:STAT? (@0)\r\n", OFF),
        (b":MEAS:VOLT? (@0)\r\n", b"2.00000E-03V\r\n"),  # noise on a cathode limited to -310..0 V
        (b":VOLT 0.000,(@0)\r\n", None),
        (b":READ:CHAN:STAT? (@0)\r\n", OFF),
        (b":VOLT ON,(@0)\r\n", None),
        (b":READ:CHAN:STAT? (@0)\r\n", ON_SETTLED),
        (b":VOLT -10.000,(@0)\r\n", None),
        (b":READ:CHAN:STAT? (@0)\r\n", ON_RAMPING),
        (b":READ:CHAN:STAT? (@0)\r\n", ON_SETTLED),
        (b":MEAS:VOLT? (@0)\r\n", b"-1.00000E+01V\r\n"),
    ]
    with hv(pairs) as m:
        m.ramp_to({"cathode": -10.0})


def test_output_on_checks_the_vset_against_the_commanded_value():
    pairs = [
        (b":VOLT 100.000,(@1)\r\n", None),
        (b":READ:CHAN:STAT? (@1)\r\n", OFF),
        (b":READ:VOLT? (@1)\r\n", b"3.00000E+02V\r\n"),
    ]
    with hv(pairs, electrodes=LENS) as m:
        m.set_voltage("lens_A2", 100.0)
        with pytest.raises(ReadbackError, match="100 was commanded"):
            m.output("lens_A2", True)  # ON is never sent


@pytest.mark.parametrize(
    "reply", [b"99999999999999999999999\r\n", b"4294967296\r\n", b"1_0\r\n", b"inf\r\n", b"+1e400\r\n", b"\xd9\xa1\r\n"]
)
def test_status_register_beyond_32_bits_or_in_python_syntax_is_garbled(reply):
    with hv([(b":READ:CHAN:STAT? (@0)\r\n", reply)]) as m:
        with pytest.raises(GarbledReply):
            m.channel_status("cathode")


@pytest.mark.parametrize("reply", [b"nanV\r\n", b"infV\r\n", b"1e999V\r\n", b"1_0V\r\n", b"-InfinityV\r\n"])
def test_non_finite_voltage_is_garbled(reply):
    with hv([(b":MEAS:VOLT? (@1)\r\n", reply)]) as m:
        with pytest.raises(GarbledReply):
            m.measured_voltage(1)


def test_ramp_speed_and_channel_count_outside_their_range_are_garbled():
    pairs = [(b":CONF:RAMP:VOLT?\r\n", b"5.000E+01%/s\r\n"), (b":READ:MOD:CHAN?\r\n", b"0\r\n"),
             (b":READ:MOD:CHAN?\r\n", b"1_6\r\n")]
    with hv(pairs) as m:
        with pytest.raises(GarbledReply):
            m.ramp_speed_percent
        for _ in range(2):
            with pytest.raises(GarbledReply):
                m.module_channels()
