"""The gas lines' flow physics (simulators.gas_flow) and the world's two lines built on it."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from foundation.gas import load_gas, shipped_gas
from simulators import gas_flow as gf
from simulators.gas_flow import GasLine, Tube
from simulators.world import LINE_RELAYS, World, WorldConfig

K = gf.BOLTZMANN
TUBE = Tube(0.3e-3, 10e-3)
ARGON = shipped_gas("argon")
ISOFLURANE = shipped_gas("isoflurane")


def conductance(p_mean, gas=ARGON, T=296.0, tube=TUBE):
    return gf.tube_conductance(p_mean, temperature_K=T, molar_mass_g_mol=gas.molar_mass_g_mol,
                               diameter_m=gas.diameter_m, tube=tube)


# ====================================================================== pure functions
def test_mean_speed_of_argon():
    # sqrt(8 R T / (pi M)), R = 8.314462618 J/(mol K)
    expected = math.sqrt(8 * 8.314462618 * 296.0 / (math.pi * 39.948e-3))
    assert gf.mean_speed(296.0, 39.948) == pytest.approx(expected, rel=1e-9)
    assert gf.mean_speed(296.0, 39.948) == pytest.approx(396.08, abs=0.01)


def test_hard_sphere_viscosity_inverts_physics_md_diameter_formula():
    """PHYSICS.md §3: d^2 = 2.6693e-20 sqrt(M T) / eta[uPa s] m^2 (argon 3.58 A at 25 C)."""
    eta = gf.hard_sphere_viscosity(298.15, 39.948, 3.58e-10)
    assert eta * 1e6 == pytest.approx(22.7, abs=0.05)  # measured: 22.6 uPa s
    d2 = 2.6693e-20 * math.sqrt(39.948 * 298.15) / (eta * 1e6)
    assert math.sqrt(d2) == pytest.approx(3.58e-10, rel=1e-4)
    # eta ~ sqrt(M T) / d^2
    assert gf.hard_sphere_viscosity(4 * 298.15, 39.948, 2 * 3.58e-10) == pytest.approx(eta / 2, rel=1e-12)


def test_mean_free_path_case_3_1():
    """PHYSICS.md case 3.1: lambda = 0.5 mm needs p_Ar = 14.306 Pa (295 K, 3.58 A), p_x = 5.394 Pa (5.83 A)."""
    assert gf.mean_free_path(14.306, 3.58e-10, 295.0) == pytest.approx(0.5e-3, rel=1e-4)
    assert gf.mean_free_path(5.394, 5.83e-10, 295.0) == pytest.approx(0.5e-3, rel=1e-4)
    assert gf.knudsen_number(14.306, 3.58e-10, 295.0, 0.3e-3) == pytest.approx(0.5 / 0.3, rel=1e-4)
    assert gf.mean_free_path(0.0, 3.58e-10, 295.0) == math.inf


def test_molecular_conductance_is_pi_over_12_vbar_d3_over_l_and_scales_as_sqrt_t_over_m():
    c = gf.molecular_conductance(296.0, 39.948, TUBE)
    assert c == pytest.approx(math.pi / 12 * gf.mean_speed(296.0, 39.948) * TUBE.diameter_m**3 / TUBE.length_m)
    # the same as Knudsen's (1/6) sqrt(2 pi k T / m) D^3 / L
    m = gf.molecular_mass_kg(39.948)
    assert c == pytest.approx(math.sqrt(2 * math.pi * K * 296.0 / m) / 6 * TUBE.diameter_m**3 / TUBE.length_m)
    assert gf.molecular_conductance(4 * 296.0, 39.948, TUBE) == pytest.approx(2 * c, rel=1e-12)
    assert gf.molecular_conductance(296.0, 184.49, TUBE) == pytest.approx(c * math.sqrt(39.948 / 184.49), rel=1e-12)


def test_conductance_molecular_limit_is_independent_of_pressure_and_goes_as_sqrt_t_over_m():
    low = 1e-4  # Pa: Kn ~ 1e5
    for gas in (ARGON, ISOFLURANE):
        c_mol = gf.molecular_conductance(296.0, gas.molar_mass_g_mol, TUBE)
        assert conductance(low, gas) == pytest.approx(c_mol, rel=1e-4)
        assert conductance(10 * low, gas) == pytest.approx(conductance(low, gas), rel=1e-4)
    ratio = conductance(low, ISOFLURANE, T=350.0) / conductance(low, ARGON, T=296.0)
    assert ratio == pytest.approx(math.sqrt(350.0 / 184.49 / (296.0 / 39.948)), rel=1e-4)


def test_conductance_viscous_limit_grows_as_pressure():
    high = 1e5  # Pa: Kn ~ 1e-3
    assert gf.knudsen_number(high, ARGON.diameter_m, 296.0, TUBE.diameter_m) < 1e-3
    assert conductance(2 * high) / conductance(high) == pytest.approx(2.0, rel=0.01)
    eta = gf.hard_sphere_viscosity(296.0, ARGON.molar_mass_g_mol, ARGON.diameter_m)
    poiseuille = gf.viscous_conductance(high, eta, TUBE)
    assert poiseuille == pytest.approx(math.pi * TUBE.diameter_m**4 * high / (128 * eta * TUBE.length_m))
    # Knudsen's Z -> 1/1.24 in the viscous limit
    c_mol = gf.molecular_conductance(296.0, ARGON.molar_mass_g_mol, TUBE)
    assert conductance(high) == pytest.approx(poiseuille + c_mol / 1.24, rel=1e-3)


def test_the_needle_is_transitional_at_the_working_pressures():
    """0.30 mbar of isoflurane and 0.40 mbar of argon: Kn 0.3 and 0.6; Z clearly below 1."""
    for gas, p, kn in ((ISOFLURANE, 30.0, 0.301), (ARGON, 40.0, 0.598)):
        assert gf.knudsen_number(p, gas.diameter_m, 296.0, TUBE.diameter_m) == pytest.approx(kn, abs=1e-3)
        eta = gf.hard_sphere_viscosity(296.0, gas.molar_mass_g_mol, gas.diameter_m)
        z = gf.knudsen_z(p / 2, 296.0, gas.molar_mass_g_mol, eta, TUBE)
        assert 0.81 < z < 0.95


def test_throughput_into_vacuum_uses_the_mean_pressure():
    q = gf.throughput(40.0, temperature_K=296.0, molar_mass_g_mol=ARGON.molar_mass_g_mol,
                      diameter_m=ARGON.diameter_m, tube=TUBE)
    assert q == pytest.approx(conductance(20.0) * 40.0, rel=1e-12)


def test_beam_peaking_limits():
    assert gf.beam_peaking(0.0) == pytest.approx(0.75)
    assert gf.beam_peaking(1e9) == pytest.approx(1.0)
    assert gf.beam_peaking(1.0) == pytest.approx(0.875)
    kn = np.linspace(0, 10, 50)
    assert np.all(np.diff([gf.beam_peaking(k) for k in kn]) > 0)


# ====================================================================== the line
def line(gas=ARGON, **kwargs) -> GasLine:
    kwargs.setdefault("initial_Pa", 40.0)
    return GasLine("test", gas, 0.0, **kwargs)


def test_a_new_line_is_at_steady_state_through_its_bypass():
    ln = line()
    assert ln.bypass and ln.open_outlets == 1
    assert ln.pressure(0.0) == 40.0
    assert ln.pressure(3600.0) == pytest.approx(40.0, rel=1e-9)
    assert ln.inflow(40.0, 0.0) + ln.outgassing_Pa_s * ln.volume_m3 / ln.kT == pytest.approx(ln.outlet_flow(40.0))


def test_line_pressure_follows_the_flow_equation():
    """The lazily integrated pressure against scipy's solution of the same ODE, across a
    leak-valve turn, with reservoir drift."""
    drift = lambda t: 1 + 0.01 * math.sin(t / 300.0)  # noqa: E731
    ln = line(reservoir_factor=drift)
    p10 = ln.pressure(10.0)  # the reservoir drifted a little since 0
    ln.set_leak_valve(ln.opening * 2.5, 10.0)

    def rhs(t, p):
        g = ln.opening * ln.leak_full_m3_s
        return [(g * (ln.reservoir_Pa * drift(t) - p[0]) - ln.throughput(p[0])) / ln.volume_m3 + ln.outgassing_Pa_s]

    times = np.linspace(10.0, 1200.0, 237)
    exact = solve_ivp(rhs, (10.0, 1200.0), [p10], t_eval=times, rtol=1e-11, atol=1e-12).y[0]
    ours = np.array([ln.pressure(t) for t in times])
    assert ours == pytest.approx(exact, rel=2e-6)
    assert ours[-1] > 1.8 * 40.0  # it did move
    # times in the past are read again the same, after the grid has grown and a valve moved
    ln.set_valves(1300.0, needle=True)
    assert [ln.pressure(t) for t in times[::10]] == pytest.approx(ours[::10], rel=1e-12)


def test_time_constant_of_the_working_lines():
    """V/C a few minutes at 20 cm^3: isoflurane at 0.30 mbar 156 s, argon at 0.40 mbar 75 s."""
    iso = line(ISOFLURANE, initial_Pa=30.0)
    ar = line(ARGON, initial_Pa=40.0)
    assert iso.time_constant(30.0) == pytest.approx(155.9, abs=0.5)
    assert ar.time_constant(40.0) == pytest.approx(75.0, abs=0.5)
    # the linearised relaxation (dQ/dp > C, plus the leak valve) is a little faster
    assert 0.85 < iso.relaxation_time(30.0) / iso.time_constant(30.0) < 1.0
    t_half = iso.relaxation_time(30.0) * math.log(2)
    iso.set_leak_valve(iso.opening_for(15.0, 0.0), 0.0)  # to half the pressure
    assert iso.pressure(t_half) == pytest.approx(22.5, rel=0.05)


def test_bypass_needle_and_side_are_the_same_tube():
    ln = line()
    before = [ln.pressure(t) for t in (100.0, 200.0)]
    ln.set_valves(300.0, needle=True)
    ln.set_valves(400.0, needle=False, side=True)
    ln.set_valves(500.0, side=False)
    assert len(ln._segments) == 1  # nothing changed for the line's equation
    assert ln.pressure(600.0) == pytest.approx(40.0, rel=1e-9)
    assert [ln.pressure(t) for t in (100.0, 200.0)] == before
    ln.set_valves(700.0, needle=True, side=True)  # two outlets: the pressure falls
    assert ln.pressure(1200.0) < 0.8 * 40.0


def test_opening_for_out_of_reach_is_refused():
    ln = line()
    with pytest.raises(ValueError, match="out of reach"):
        ln.opening_for(ln.reservoir_Pa * 1.1, 0.0)
    with pytest.raises(ValueError, match="from 0"):
        ln.set_leak_valve(1.5, 0.0)


# ====================================================================== the world's lines
def slope(t, p):
    t, p = np.asarray(t), np.asarray(p)
    tm = t - t.mean()
    b = np.sum(tm * (p - p.mean())) / np.sum(tm**2)
    resid = p - p.mean() - b * tm
    return b, math.sqrt(np.sum(resid**2) / (len(t) - 2) / np.sum(tm**2))


def record(world, line, seconds, step=1.0):
    t, p = [], []
    for _ in range(int(seconds / step) + 1):
        t.append(world.now())
        p.append(world.line_gauge_mbar(line))
        world.clock.sleep(step)
    return t, p


@pytest.mark.parametrize("line", ["target", "reference"])
def test_rate_of_rise_is_the_flow_that_was_passing(world, clock, line):
    """Shut the outlet (needle and side closed): dp/dt = F_in k T / V + base rate, where
    F_in is the flow that was passing; within the slope's uncertainty from the gauge noise."""
    ln = world.lines[line]
    clock.sleep(600.0)  # the reservoirs drift: the line follows within its time constant
    t_shut = clock.now()
    p0 = ln.pressure(t_shut)
    passing = ln.outlet_flow(p0)  # molecules/s through the bypass before
    world.set_relay(LINE_RELAYS[line]["shut"], True)
    assert ln.open_outlets == 0
    t, p = record(world, line, 20.0, 0.5)
    b, s_b = slope(t, p)
    expected = (ln.inflow(p0, t_shut) * ln.kT / ln.volume_m3 + ln.outgassing_Pa_s) / 100.0  # mbar/s
    # the flow that was passing, but for the line's lag behind its drifting reservoir
    # (tau * d ln p_res / dt, about 1e-3)
    assert expected == pytest.approx(passing * ln.kT / ln.volume_m3 / 100.0, rel=3e-3)
    assert s_b < 1e-3 * b  # the gauge's 1e-4 noise, 41 readings over 20 s: 5e-4
    # the inflow falls as the line fills (G (p_res - p)): the fitted slope is the rate at
    # mid-window, 10 s after the shut, over V / G (1e4 s isoflurane, 4e3 s argon)
    at_mid = expected * math.exp(-(np.mean(t) - t_shut) / ln.relaxation_time(p0, outlets=0))
    assert abs(b - at_mid) < 4 * s_b
    assert abs(b - expected) < 3e-3 * expected
    assert b > 1e-3  # mbar/s: a real rise (2e-3 target, 5e-3 argon)


def test_base_rate_with_the_inlet_shut(world, clock):
    relays = LINE_RELAYS["target"]
    world.set_relay(relays["inlet"], True)
    world.set_relay(relays["shut"], True)
    t, p = record(world, "target", 60.0)
    b, s_b = slope(t, p)
    assert b == pytest.approx(world.config.line_outgassing_mbar_s, abs=4 * s_b)
    assert s_b < 0.2 * b  # the base rate is measurable above the gauge noise
    world.set_relay(relays["inlet"], False)  # the inlet back: the full rise again
    t, p = record(world, "target", 20.0)
    assert slope(t, p)[0] > 100 * b


def test_inlet_closed_line_empties_through_its_outlet(world, clock):
    world.set_relay(LINE_RELAYS["reference"]["inlet"], True)
    tau = world.lines["reference"].time_constant(40.0)
    clock.sleep(10 * tau)
    assert world.line_pressure_mbar("reference") < 0.01


def test_no_disturbance_of_the_line_on_a_dcs_valve_change(clock):
    """Needle, side entrance and bypass: the line pressure is the same whichever is open."""
    still, switched = World(clock, WorldConfig(seed=4)), World(clock, WorldConfig(seed=4))
    for i in range(40):
        relays = LINE_RELAYS["target"]
        switched.set_relay(relays["needle"], i % 2 == 0)
        switched.set_relay(relays["side"], i % 2 == 1)
        clock.sleep(17.0)
        for line in ("target", "reference"):
            assert switched.line_pressure_mbar(line) == pytest.approx(still.line_pressure_mbar(line), rel=1e-9)
    switched.set_relay(relays["side"], False)
    clock.sleep(600.0)
    assert switched.line_pressure_mbar("target") == pytest.approx(still.line_pressure_mbar("target"), rel=1e-9)


def test_default_world_density_factor_one_for_the_target_gas_at_0p30_mbar(world, clock):
    world.set_relay(LINE_RELAYS["target"]["needle"], True)
    clock.sleep(30.0)  # 20 chamber time constants
    assert world.line_pressure_mbar("target") == pytest.approx(0.30, rel=1e-4)
    assert world.needle_density("target") == pytest.approx(1.0, rel=1e-4)
    assert world.diffuse_density("target") == pytest.approx(1.0, rel=1e-4)
    assert world.needle_density("reference") == 0.0 and world.diffuse_density("reference") == 0.0
    assert world.chamber_mbar() == pytest.approx(world.config.base_pressure_mbar + world.config.gas_load_mbar,
                                                 rel=1e-4)
    assert world.line_pressure_mbar("reference") == pytest.approx(0.40, rel=1e-4)


def test_density_ratio_of_two_gases_through_the_needle(world, clock):
    """n_Ar / n_x = (F_Ar / F_x) sqrt(M_Ar / M_x) * peaking(Kn_Ar) / peaking(Kn_x): the flow form
    of the RFM, with the beam-profile term that equal mean free paths remove."""
    lines = world.lines
    densities, flows, peaks = {}, {}, {}
    for line in ("target", "reference"):
        world.set_relay(LINE_RELAYS[line]["needle"], True)
        clock.sleep(5.0)
        densities[line] = world.needle_density(line)
        flows[line] = world.line_flow(line)
        peaks[line] = gf.beam_peaking(lines[line].knudsen(lines[line].pressure(clock.now())))
        world.set_relay(LINE_RELAYS[line]["needle"], False)
    m_ar, m_x = ARGON.molar_mass_g_mol, ISOFLURANE.molar_mass_g_mol
    expected = flows["reference"] / flows["target"] * math.sqrt(m_ar / m_x) * peaks["reference"] / peaks["target"]
    assert densities["reference"] / densities["target"] == pytest.approx(expected, rel=1e-6)
    # unequal mean free paths (Kn 0.3 and 0.6 at 0.30 and 0.40 mbar) bias the ratio by several per cent
    assert 1.03 < peaks["reference"] / peaks["target"] < 1.10


def test_count_rates_follow_the_densities_of_both_gases(clock):
    """Two lines with the same DCS table: the rates through the needles are in the ratio
    of the densities (no Poisson: the model rate), each gas with its own mean speed."""
    from tests.worldsetup import beam_on

    argon_table = ARGON.dcs_table
    world = World(clock, WorldConfig(seed=2, target_dcs=argon_table, beam_drift=0.0))
    beam_on(world, angle_deg=90.0)  # target through the needle
    world.set_relay(LINE_RELAYS["target"]["needle"], False)
    clock.sleep(30.0)
    off = world.true_rate()
    rates = {}
    for line in ("target", "reference"):
        world.set_relay(LINE_RELAYS[line]["needle"], True)
        clock.sleep(30.0)
        rates[line] = (world.true_rate() - off, world.needle_density(line), world.diffuse_density(line))
        world.set_relay(LINE_RELAYS[line]["needle"], False)
        clock.sleep(30.0)
    f = world.config.diffuse_fraction
    (r_x, n_x, d_x), (r_ar, n_ar, d_ar) = rates["target"], rates["reference"]
    assert r_ar / r_x == pytest.approx((n_ar + f * d_ar) / (n_x + f * d_x), rel=1e-3)
    assert 1.2 < r_ar / r_x < 1.5  # (F_Ar/F_x = 2.8) * sqrt(M_Ar/M_x) (0.47) * peaking (1.05)


def test_made_up_gas_in_the_target_line_is_normalised_to_itself(tmp_path, clock):
    table = tmp_path / "x_dcs.csv"
    table.write_text("angle_deg,energy_eV,dcs\n0,50,2\n180,50,1\n0,300,4\n180,300,0.5\n")
    gas_file = tmp_path / "xenonish.toml"
    gas_file.write_text('name = "xenonish"\nmolar_mass_g_mol = 131.3\ndcs_table = "x_dcs.csv"\n'
                        '[diameter]\nvalue_A = 4.9\nkind = "hard-sphere"\nprovenance = "made up for a test"\n')
    gas = load_gas(gas_file)
    world = World(clock, WorldConfig(seed=1, target_gas=gas))
    assert world.gases["target"] is gas and world.dcs_paths["target"] == table
    world.set_relay(LINE_RELAYS["target"]["needle"], True)
    clock.sleep(5.0)
    assert world.needle_density("target") == pytest.approx(1.0, rel=1e-4)
    assert world.lines["target"].mean_speed == pytest.approx(gf.mean_speed(296.0, 131.3))
    with pytest.raises(ValueError, match="no dcs_table"):
        World(clock, WorldConfig(target_gas=replace(gas, dcs_table=None)))


def test_leak_valve_sets_the_line_pressure(world, clock):
    opening = world.leak_valve_for("reference", 0.20)
    assert opening < world.leak_valve("reference")
    world.set_leak_valve("reference", opening)
    assert world.leak_valve("reference") == opening
    clock.sleep(20 * world.lines["reference"].relaxation_time(20.0))
    assert world.line_pressure_mbar("reference") == pytest.approx(0.20, rel=0.01)  # the reservoir drifts
    with pytest.raises(ValueError, match="unknown gas line"):
        world.set_leak_valve("sample", 0.1)


def test_reference_line_gauge_freezes(world, clock):
    world.freeze("reference_line_pressure", 0.123)
    assert world.line_gauge_mbar("reference") == 0.123
    assert world.line_gauge_mbar("target") != 0.123
    world.freeze("needle_pressure")
    frozen = world.needle_gauge_mbar()
    world.set_leak_valve("target", 0.0)
    clock.sleep(300.0)
    assert world.line_gauge_mbar("target") == frozen
    world.unfreeze()
    assert world.line_gauge_mbar("target") < frozen / 2


def test_gauge_readers_per_controller(world):
    assert world.gauge_sensors("gauges") == {1: "chamber", 2: "target"}
    assert world.gauge_sensors("line_gauges") == {1: "reference", 2: None}
    readers = world.gauge_readers("line_gauges")
    assert readers[2] is None
    world.freeze("reference_line_pressure", 0.4)
    assert readers[1]() == 0.4
    with pytest.raises(ValueError, match="unknown gauge controller"):
        world.gauge_readers("gauge")
