"""Physics of the simulated apparatus: counting statistics, saturation, lags, ramps."""

import math

import numpy as np
import pytest

from foundation.dcs_table import DcsTable, DcsTableError, reference_path
from simulators.world import RELAY_NEEDLE, RELAY_SIDE_LEAK, World, WorldConfig
from tests.worldsetup import beam_on, tune


def test_beam_about_100nA_at_2p2A_and_100eV(world, clock):
    beam_on(world)
    assert world.beam_current_A() == pytest.approx(100e-9, rel=0.05)  # drift is a few per cent
    assert world.energy_eV() == pytest.approx(100.0)


def test_counts_are_poisson_around_the_model_rate(world, clock):
    beam_on(world, angle_deg=90.0)
    residuals = []
    for _ in range(400):
        t0 = clock.now()
        clock.sleep(1.0)
        mu = world.expected_counts(t0, clock.now())
        n = world.detector_counts(t0, clock.now())
        residuals.append((n - mu) / math.sqrt(mu))
    r = np.array(residuals)
    assert mu > 1000  # a real rate, not a trivial one
    # mean 0 and variance 1 within their sampling errors (5 sigma: 0.25 and ~0.35)
    assert abs(r.mean()) < 5 / math.sqrt(len(r))
    assert abs(r.var() - 1) < 5 * math.sqrt(2 / len(r))


def test_counts_follow_the_dcs_in_angle(world, clock):
    beam_on(world, energy_eV=100.0, angle_deg=40.0)
    table = world.dcs_tables["target"]
    rates = {}
    for angle in (40.0, 90.0):
        world.goniometer.move_to(angle, clock.now())
        clock.sleep(30)
        rates[angle] = world.true_rate()
    world.set_relay(RELAY_NEEDLE, False)
    world.set_relay(RELAY_SIDE_LEAK, True)
    for angle in (90.0, 40.0):
        world.goniometer.move_to(angle, clock.now())
        clock.sleep(30)
        rates[angle] -= world.true_rate()  # background: same gas load through the side leak
    def relative(angle):  # the reduction: net rate * sin(theta) * effective-volume factor
        return rates[angle] * math.sin(math.radians(angle)) * world.effective_volume_correction(angle)

    ratio = relative(40.0) / relative(90.0)
    # beam drift between the two readings is at the per-cent level
    assert ratio == pytest.approx(table(100, 40.0) / table(100, 90.0), rel=0.05)


def test_measured_rate_bends_over_with_dead_time_and_gain_sag(clock):
    cfg = WorldConfig(seed=3, beam_drift=0.0, dead_time_s=100e-9)
    world = World(clock, cfg)
    beam_on(world, energy_eV=50.0, angle_deg=25.0, filament_A=1.8)
    true, measured = [], []
    for filament in (1.8, 2.0, 2.2, 2.35, 2.5, 2.6):
        world.set_filament(current_A=filament)
        clock.sleep(60.0)
        t0 = clock.now()
        clock.sleep(1.0)
        n_true = world.true_rate(t0 + 0.5)
        counts = world.detector_counts(t0, clock.now())
        true.append(n_true)
        measured.append(counts / 1.0)
    true, measured = np.array(true), np.array(measured)
    assert np.all(np.diff(true) > 0)
    # predicted: gain sag (n/(1+(n/n_s)^k)) then non-paralyzable dead time
    detected = true / (1 + (true / cfg.gain_sag_rate_cps) ** cfg.gain_sag_power)
    predicted = detected / (1 + detected * cfg.dead_time_s)
    assert measured == pytest.approx(predicted, rel=5 / math.sqrt(predicted.min()) + 1e-3)
    # at low rate nearly all counts are kept, at the highest the loss is large
    assert predicted[0] / true[0] > 0.99
    assert measured[-1] / true[-1] < 0.7
    # dead time alone would keep more than this: gain sag is at work too
    assert measured[-1] < (true[-1] / (1 + true[-1] * cfg.dead_time_s)) * 0.9


def test_paralyzable_dead_time_model(clock):
    world = World(clock, WorldConfig(seed=1, dead_time_model="paralyzable", dead_time_s=1e-6))
    assert world.counted_rate(1e6) == pytest.approx(1e6 * math.exp(-1.0))
    assert world.counted_rate(2e6) < world.counted_rate(1e6)  # paralyzable: rate falls again


def test_chamber_pressure_follows_valves_with_time_constant(world, clock):
    p_base = world.chamber_mbar()
    world.set_relay(RELAY_NEEDLE, True)
    tau = world.config.chamber_tau_s
    clock.sleep(tau)
    p_tau = world.chamber_mbar()
    clock.sleep(20 * tau)
    p_full = world.chamber_mbar()
    assert p_full / p_base > 10  # an order of magnitude higher with gas
    assert (p_tau - p_base) / (p_full - p_base) == pytest.approx(1 - math.exp(-1), rel=1e-3)
    world.set_relay(RELAY_NEEDLE, False)
    world.set_relay(RELAY_SIDE_LEAK, True)  # same gas load through the side leak
    clock.sleep(20 * tau)
    assert world.chamber_mbar() == pytest.approx(p_full, rel=1e-3)


def test_high_voltage_ramps_at_finite_rate(world, clock):
    ch = world.electrode("channeltron")
    ch.set_ramp(100.0, clock.now())
    ch.set_voltage(2500.0, clock.now())
    ch.set_on(True, clock.now())
    clock.sleep(10.0)
    assert ch.voltage(clock.now()) == pytest.approx(1000.0)
    assert ch.is_ramping(clock.now())
    clock.sleep(20.0)
    assert ch.voltage(clock.now()) == 2500.0 and not ch.is_ramping(clock.now())
    ch.trip(clock.now())
    assert ch.voltage(clock.now()) == 0.0


def test_goniometer_travels_at_finite_speed(world, clock):
    g = world.goniometer
    g.move_to(100.0, clock.now())
    clock.sleep(10.0)
    assert g.position(clock.now()) == pytest.approx(10 * world.config.goniometer_speed_deg_s)
    clock.sleep(100.0)
    assert g.position(clock.now()) == 100.0


def test_no_counts_without_channeltron_voltage(world, clock):
    beam_on(world)
    world.electrode("channeltron").trip(clock.now())
    assert world.true_rate() == 0.0


def test_faults_pressure_burst_beam_loss_and_freeze(world, clock):
    beam_on(world)
    world.pressure_burst(1e-4, 5.0)
    assert world.chamber_mbar() > 1e-4
    clock.sleep(5.0 + 30 * world.config.chamber_tau_s)
    assert world.chamber_mbar() < 2e-6
    world.beam_loss(10.0)
    assert world.beam_current_A() == 0.0
    clock.sleep(11.0)
    assert world.beam_current_A() > 50e-9
    world.freeze("chamber_pressure")
    frozen = world.chamber_gauge_mbar()
    world.set_relay(RELAY_NEEDLE, False)
    clock.sleep(60.0)
    assert world.chamber_gauge_mbar() == frozen
    world.unfreeze()
    assert world.chamber_gauge_mbar() < frozen / 5


def test_any_gas_by_file(tmp_path, clock):
    path = tmp_path / "gas.csv"
    path.write_text("# test gas\nangle_deg,energy_eV,dcs\n20,50,2\n130,50,1\n20,300,4\n130,300,0.5\n")
    world = World(clock, WorldConfig(seed=1, target_dcs=path))
    assert world.dcs_tables["target"](50, 20) == pytest.approx(2.0)
    assert world.dcs_tables["target"](175, 75) == pytest.approx(math.sqrt(2.0), rel=1e-9)  # geometric means in angle and energy


def test_reference_tables_load_and_match_shared_copies():
    iso = DcsTable.from_csv(reference_path("isoflurane_dcs_table1.csv"))
    assert iso(50, 25) == pytest.approx(5.0)
    assert iso.dcs_err is not None
    argon = DcsTable.from_csv(reference_path("argon_dcs_elsepa.csv"))
    assert argon.angles_deg[0] == 0 and argon.angles_deg[-1] == 180
    shared = reference_path("x").parent.parent.parent.parent / "shared" / "reference"
    if shared.is_dir():  # the repo ships copies of shared/reference; they must not diverge
        for name in ("isoflurane_dcs_table1.csv", "argon_dcs_elsepa.csv", "isoflurane_ics_table1.csv"):
            assert (shared / name).read_bytes() == reference_path(name).read_bytes()


def test_malformed_table_is_rejected(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("angle_deg,energy_eV,dcs\n20,50,2\n30,50,-1\n")
    with pytest.raises(DcsTableError, match="must be > 0"):
        DcsTable.from_csv(bad)
    holes = tmp_path / "holes.csv"
    holes.write_text("angle_deg,energy_eV,dcs\n20,50,2\n30,50,1\n20,100,1\n")
    with pytest.raises(DcsTableError, match="not a full grid"):
        DcsTable.from_csv(holes)


def test_cached_transmission_equals_direct_computation_through_ramps(world, clock):
    from simulators.world import ANALYZER_ELECTRODES

    tune(world, 100.0)
    clock.sleep(1.0)
    for name in ANALYZER_ELECTRODES:  # a slow retune: the transmission changes while ramping
        ch = world.electrode(name)
        ch.set_ramp(5.0, clock.now())
        ch.set_voltage(world.tuned_potential(name, 120.0), clock.now())
    values = []
    for _ in range(40):
        t = clock.now()
        cached = world._transmission(ANALYZER_ELECTRODES, 120.0, t)
        assert cached == world._transmission_now(ANALYZER_ELECTRODES, 120.0, t)
        values.append(cached)
        clock.sleep(1.0)
    assert values[0] < 0.5 and values[-1] == 1.0  # it did change, then settled at the new tune
    world.electrode("lens_A2").set_voltage(world.tuned_potential("lens_A2", 120.0) + 30, clock.now())
    clock.sleep(60.0)  # a change after settling invalidates the cache
    assert world._transmission(ANALYZER_ELECTRODES, 120.0, clock.now()) < 0.9


def test_angular_response_convolves_the_dcs_tables(clock):
    """WorldConfig.angular_fwhm_deg: each line's DCS averaged over a Gaussian in angle; the
    argon minimum at 123 deg / 100 eV fills in by 1.344 under 4 deg (docs/absolute.md)."""
    world = World(clock, WorldConfig(seed=1, angular_fwhm_deg=4.0))
    table = world.dcs_tables["reference"]
    sigma = 4.0 / (2 * math.sqrt(2 * math.log(2)))
    x = np.linspace(-6 * sigma, 6 * sigma, 2401)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    for line, energy, angle in (("reference", 100.0, 123.0), ("target", 50.0, 60.0), ("reference", 150.0, 2.0)):
        grid = np.abs(angle + x)
        direct = np.sum(world.dcs_tables[line](energy, grid) * weights) / np.sum(weights)
        assert world._dcs(line, energy, angle) == pytest.approx(direct, rel=1e-3)
    assert world._dcs("reference", 100.0, 123.0) / table(100.0, 123.0) == pytest.approx(1.344, abs=0.002)
    sharp = World(clock, WorldConfig(seed=1))
    assert sharp._dcs("reference", 100.0, 123.0) == pytest.approx(float(table(100.0, 123.0)), rel=1e-12)


def test_volume_deviation_is_what_the_exact_factor_inverts(world):
    for angle in (25.0, 30.0, 60.0, 120.0):
        v = world.volume_deviation(angle)
        assert v == pytest.approx(math.sin(math.radians(angle)) * world.geometry(angle), rel=1e-12)
        assert world.effective_volume_correction(angle) == pytest.approx(1 / v, rel=1e-12)
    assert world.volume_deviation(25.0) == pytest.approx(1.15)
    assert world.volume_deviation(90.0) == pytest.approx(1.0, abs=1e-5)
