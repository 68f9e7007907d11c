"""A factory of the three run kinds `xbeam absolute` reads, as ``RunData`` built from the
columns of the shared contract (relative ``dcs`` runs, argon ``volume`` runs, ``rfm``
runs with their rate-of-rise records), from a known truth: the target's DCS table, the
argon reference, an effective-volume deviation, the flows and a beam profile that
depends on the mean free path.  The other test_absolute_chain*.py files import it; the
tests here check that the factory itself holds the physics it claims.

The model of a count rate (the simulator's, in miniature)::

    rate = R0 * (DCS_gas (x) g)(theta) * V(theta) * n_gas + background
    n_gas ~ F_gas * sqrt(M_gas) * peaking(Kn_gas)          (F / vbar, vbar ~ 1/sqrt(M))
    peaking(Kn) = 1 - 0.25 / (1 + Kn),   Kn = lambda(p, d, T) / 0.3 mm
    F_gas = p_gas * C_gas,   C_gas ~ sqrt(T/M) * (1 + 0.3 / Kn)   (transitional: not molecular)

so the flow form with sqrt(M) is exact at equal mean free paths, and sqrt(M) left out or
equal pressures (unequal beam profiles) are measurably wrong.  (In this model, as in
Knudsen's formula, the transitional part of the conductance depends on Kn alone, so at
equal mean free paths the pressure form would hold too; the flows are measured because
neither the pressures nor the conductances are known that well.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from acquisition.counting import corrected_rate, measured_rate
from acquisition.storage.reader import RunData
from analysis.absolute.mean_free_path import mean_free_path
from analysis.absolute.volume import convolved_reference
from foundation.dcs_table import DcsTable, reference_path

K_B = 1.380649e-23
NEEDLE_D_M = 0.3e-3

ISOFLURANE = {"name": "isoflurane", "molar_mass_g_mol": 184.49, "diameter_A": 5.83, "diameter_kind": "hard-sphere",
              "diameter_provenance": "ESTIMATE (test)", "source": "examples/gases/isoflurane.toml"}
ARGON = {"name": "argon", "molar_mass_g_mol": 39.948, "diameter_A": 3.58, "diameter_kind": "hard-sphere",
         "diameter_provenance": "viscosity (test)", "source": "examples/gases/argon.toml"}
#: a made-up second gas: its own mass, diameter and DCS (nothing tuned to isoflurane)
MADE_UP = {"name": "madeupane", "molar_mass_g_mol": 88.0, "diameter_A": 4.6, "diameter_kind": "hard-sphere",
           "diameter_provenance": "made up for the test", "source": "<test>"}


def deviation(theta_deg) -> np.ndarray:
    """The world's effective-volume deviation V(theta) (PHYSICS.md case 4.1)."""
    return 1.0 - 0.3 * np.exp(-(np.asarray(theta_deg, float) - 25.0) / 8.0)


def made_up_table(energies=(50.0, 100.0, 200.0)) -> DcsTable:
    """A smooth made-up DCS on 0-180 deg (usable as an ICS shape): a forward peak, a
    shallow minimum and a backward rise, changing with energy."""
    angles = np.arange(0.0, 181.0, 1.0)
    rows = []
    for e in energies:
        width = 12.0 * (100.0 / e) ** 0.3
        rows.append(8.0 * np.exp(-angles / width) + 0.12 + 0.08 * (1 - np.cos(np.radians(angles))) ** 2
                    * (e / 100.0) ** -0.5)
    return DcsTable(angles, np.asarray(energies, float), np.array(rows), source="<made-up test DCS>")


def shipped(name: str) -> DcsTable:
    return DcsTable.from_csv(reference_path(name))


@dataclass
class World:
    """The truth every factory run is measured from."""

    energies_eV: tuple[float, ...] = (50.0, 100.0, 200.0)
    angles_deg: tuple[float, ...] = tuple(float(a) for a in range(25, 130, 5))
    target: dict = field(default_factory=lambda: dict(ISOFLURANE))
    reference: dict = field(default_factory=lambda: dict(ARGON))
    target_table: DcsTable = field(default_factory=lambda: shipped("isoflurane_dcs_table1.csv"))
    reference_table: DcsTable = field(default_factory=lambda: shipped("argon_dcs_elsepa.csv"))
    fwhm_deg: float = 0.0
    temperature_K: float = 296.0
    volume_cm3: float = 20.0
    dead_time_s: float = 1e-7
    rfm_angles_deg: tuple[float, ...] = (60.0, 90.0)
    cycles: int = 2
    reference_pressure_mbar: float = 0.40
    target_pressure_mbar: float | None = None  #: None: the equal-mean-free-path pressure
    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    @property
    def p_target_mbar(self) -> float:
        if self.target_pressure_mbar is not None:
            return self.target_pressure_mbar
        return self.reference_pressure_mbar * (self.reference["diameter_A"] / self.target["diameter_A"]) ** 2

    def truth(self, energy_eV: float, angles_deg) -> np.ndarray:
        """What the chain should give: the target's DCS (x) the angular response."""
        return convolved_reference(self.target_table, energy_eV, angles_deg, self.fwhm_deg)

    def argon(self, energy_eV: float, angles_deg) -> np.ndarray:
        return convolved_reference(self.reference_table, energy_eV, angles_deg, self.fwhm_deg)

    # -- the gas lines
    def knudsen(self, gas: dict, p_mbar: float) -> float:
        return float(mean_free_path(p_mbar * 100.0, gas["diameter_A"] * 1e-10, self.temperature_K)) / NEEDLE_D_M

    def flow(self, gas: dict, p_mbar: float) -> float:
        """molecules/s through the needle at line pressure p (transitional conductance)."""
        kn = self.knudsen(gas, p_mbar)
        return 7.5e15 * p_mbar * math.sqrt(self.temperature_K / gas["molar_mass_g_mol"]) / math.sqrt(296 / 39.948) \
            * (1.0 + 0.3 / kn) / 1.3

    def density(self, gas: dict, p_mbar: float, flow: float) -> float:
        """The beam density in the interaction region (arbitrary unit)."""
        peaking = 1.0 - 0.25 / (1.0 + self.knudsen(gas, p_mbar))
        return flow * math.sqrt(gas["molar_mass_g_mol"]) * peaking


def _base_run(path: str, kind: str, gas: str, energies, angles, sweeps: int, points: dict, plan: dict,
              apparatus: dict, run_id: str) -> RunData:
    return RunData(path=Path(path), run_id=run_id, status="success", recovered=0, plan_text="", apparatus_text="",
                   plan=plan, energies_eV=np.asarray(energies, float), angles_deg=np.asarray(angles, float),
                   sweeps=sweeps, planned_points=len(points["seq"]), points=points, monitors={"time": np.zeros(0)},
                   log=[], sample=gas, apparatus=apparatus, kind=kind, software_version="test")


def _detector(world: World, fwhm: float | None) -> dict:
    d = {"channeltron_electrode": "channeltron", "channeltron_V": 2400.0, "dead_time_s": world.dead_time_s,
         "dead_time_model": "nonparalyzable", "max_loss_fraction": 0.1, "linear_limit_cps": 1e6}
    if fwhm is not None:
        d["angular_fwhm_deg"] = fwhm
    return d


def dcs_run(world: World, *, kind: str = "dcs", path: str = "rel.h5", gas: dict | None = None,
            table: str = "target", energies=None, angles=None, sweeps: int = 3, rel_err: float = 0.015,
            sweep_jitter: float = 0.0, level: float = 1000.0, stored_factor=None, flags=None,
            fwhm_in_apparatus: float | None = None, run_id: str = "run-rel") -> RunData:
    """A relative ``dcs`` run (``table="target"``) or an argon ``volume`` run
    (``kind="volume"``, ``table="reference"``): ``rel_dcs = level_E * DCS (x) g * V`` with
    Gaussian noise ``rel_err``, times ``stored_factor(theta)`` (the factor the run applied,
    recorded in ``effective_volume_factor``).  ``flags``: {(energy, angle): bits}."""
    gas = gas or (world.target if table == "target" else world.reference)
    energies = tuple(world.energies_eV if energies is None else energies)
    angles = tuple(world.angles_deg if angles is None else angles)
    flags = flags or {}
    cols: dict[str, list] = {k: [] for k in ("seq", "sweep", "energy_index", "angle_index", "energy", "angle",
                                             "rel_dcs", "rel_dcs_err", "effective_volume_factor", "path_factor",
                                             "flags")}
    seq = 0
    for s in range(sweeps):
        for i, e in enumerate(energies):
            dcs = world.truth(e, angles) if table == "target" else world.argon(e, angles)
            true = level * (e / 100.0) ** 0.5 * dcs * deviation(angles)
            for j, a in enumerate(angles):
                factor = 1.0 if stored_factor is None else float(stored_factor(a))
                sigma = rel_err * true[j]
                v = true[j] * (1.0 + sweep_jitter * world.rng.standard_normal()) + sigma * world.rng.standard_normal()
                for k, x in (("seq", seq), ("sweep", s), ("energy_index", i), ("angle_index", j), ("energy", e),
                             ("angle", a), ("rel_dcs", v * factor), ("rel_dcs_err", sigma * factor),
                             ("effective_volume_factor", factor), ("path_factor", np.sin(np.radians(a))),
                             ("flags", flags.get((e, a), 0))):
                    cols[k].append(x)
                seq += 1
    dtypes = {"seq": "i8", "sweep": "i4", "energy_index": "i4", "angle_index": "i4", "flags": "u1"}
    points = {k: np.asarray(v, dtype=dtypes.get(k, "f8")) for k, v in cols.items()}
    plan = {"kind": kind, "scan": {"gas": gas["name"], "energies_eV": list(energies), "angles_deg": list(angles),
                                   "sweeps": sweeps}}
    return _base_run(path, kind, gas["name"], energies, angles, sweeps, points, plan,
                     {"detector": _detector(world, fwhm_in_apparatus)}, run_id)


def volume_run(world: World, **kwargs) -> RunData:
    kwargs.setdefault("path", "argon.h5")
    kwargs.setdefault("run_id", "run-volume")
    kwargs.setdefault("sweeps", 2)
    kwargs.setdefault("rel_err", 0.01)
    kwargs.setdefault("level", 700.0)
    return dcs_run(world, kind="volume", table="reference", **kwargs)


@dataclass
class RfmTruth:
    """What an RFM factory run was made from (per cycle: the flows of each gas)."""

    flows: dict = field(default_factory=dict)  #: (cycle, energy_index, gas_index) -> molecules/s
    pressures: dict = field(default_factory=dict)  #: gas_index -> mbar


def rfm_run(world: World, *, path: str = "rfm.h5", energies=None, plan_target: dict | None = None,
            plan_reference: dict | None = None, signal_s: float = 40.0, background_s: float = 20.0,
            rate_90deg_argon: float = 6e4, rise_s: float = 60.0, base_s: float = 30.0, sample_s: float = 1.0,
            gauge_noise_mbar: float = 2e-5, base_rate_mbar_s: float = 2e-6, p_reservoir_mbar: float = 20.0,
            flags=None, drop_records=(), short_records=(), record_gas=None,
            run_id: str = "run-rfm") -> tuple[RunData, RfmTruth]:
    """An ``rfm`` run: sweep = 2 cycle + gas_index (0 target through the needle, 1
    reference); each point's gates counted from the rate model with dead time; after
    each (cycle, energy, gas) a rise (outlet shut: the line fills towards the reservoir,
    the initial slope the flow) and a base record (inlet closed: outgassing)."""
    energies = tuple(world.energies_eV if energies is None else energies)
    angles = world.rfm_angles_deg
    gases = (world.target, world.reference)
    pressures = {0: world.p_target_mbar, 1: world.reference_pressure_mbar}
    truth = RfmTruth(pressures=pressures)
    flags = flags or {}
    rng = world.rng
    names = ["seq", "sweep", "energy_index", "angle_index", "energy", "angle", "cycle", "gas_index",
             "signal_counts", "signal_gate_s", "signal_beam_current", "background_counts", "background_gate_s",
             "background_beam_current", "signal_rate_cps", "background_rate_cps", "intensity_cps_per_nA",
             "intensity_err", "line_pressure_mbar", "flags"]
    cols: dict[str, list] = {k: [] for k in names}
    rises: dict[str, list] = {k: [] for k in ("record", "cycle", "energy_index", "gas_index", "kind", "line", "gas",
                                              "t_start", "utc_start", "volume_cm3", "temperature_K", "steady_mbar",
                                              "sample_offset", "sample_length", "session")}
    t_all, p_all = [], []
    r0 = rate_90deg_argon / (world.argon(100.0, [90.0])[0] * deviation(90.0)
                             * world.density(world.reference, pressures[1], world.flow(world.reference, pressures[1])))
    seq = record = 0

    for c in range(world.cycles):
        for i, e in enumerate(energies):
            for g, gas in enumerate(gases):
                p = pressures[g]
                flow = world.flow(gas, p) * (1.0 + 0.02 * c + 0.01 * i)  # a valve that drifts between cycles
                truth.flows[(c, i, g)] = flow
                n = world.density(gas, p, flow)
                table = world.truth if g == 0 else world.argon
                for j, a in enumerate(angles):
                    true_signal = r0 * table(e, [a])[0] * deviation(a) * n
                    true_background = 0.08 * rate_90deg_argon
                    current_s, current_b = 100e-9 * (1 + 0.01 * rng.standard_normal()), 99e-9
                    m_s = measured_rate(true_signal * current_s / 100e-9 + true_background, world.dead_time_s)
                    m_b = measured_rate(true_background * current_b / 100e-9, world.dead_time_s)
                    n_s, n_b = rng.poisson(m_s * signal_s), rng.poisson(m_b * background_s)
                    rs, vs = corrected_rate(n_s, signal_s, world.dead_time_s)
                    rb, vb = corrected_rate(n_b, background_s, world.dead_time_s)
                    intensity = rs / (current_s * 1e9) - rb / (current_b * 1e9)
                    err = math.hypot(math.sqrt(vs) / (current_s * 1e9), math.sqrt(vb) / (current_b * 1e9))
                    row = {"seq": seq, "sweep": 2 * c + g, "energy_index": i, "angle_index": j, "energy": e,
                           "angle": a, "cycle": c, "gas_index": g, "signal_counts": n_s, "signal_gate_s": signal_s,
                           "signal_beam_current": current_s, "background_counts": n_b,
                           "background_gate_s": background_s, "background_beam_current": current_b,
                           "signal_rate_cps": n_s / signal_s, "background_rate_cps": n_b / background_s,
                           "intensity_cps_per_nA": intensity, "intensity_err": err,
                           "line_pressure_mbar": p * (1 + 1e-4 * rng.standard_normal()),
                           "flags": flags.get((c, e, a, g), 0)}
                    for k, v in row.items():
                        cols[k].append(v)
                    seq += 1
                # rate of rise right after this gas's intensities
                slope_mbar_s = flow * K_B * world.temperature_K / (world.volume_cm3 * 1e-6) / 100.0
                for kind, duration in (("rise", rise_s), ("base", base_s)):
                    if (c, i, g, kind) in drop_records:
                        continue
                    t = np.arange(0.0, duration + sample_s / 2, sample_s)
                    if (c, i, g, kind) in short_records:
                        t = t[:3]
                    if kind == "rise":
                        span = p_reservoir_mbar - p
                        tau = span / slope_mbar_s  # the inflow falls as the line fills: curved late
                        pres = p_reservoir_mbar - span * np.exp(-t / tau) + base_rate_mbar_s * t
                    else:
                        pres = p + base_rate_mbar_s * t
                    pres = pres + gauge_noise_mbar * rng.standard_normal(t.size)
                    gas_name = gas["name"] if record_gas is None or (c, i, g) not in record_gas else record_gas[(c, i, g)]
                    for k, v in (("record", record), ("cycle", c), ("energy_index", i), ("gas_index", g),
                                 ("kind", kind), ("line", "target" if g == 0 else "reference"), ("gas", gas_name),
                                 ("t_start", 1000.0 * record), ("utc_start", ""), ("volume_cm3", world.volume_cm3),
                                 ("temperature_K", world.temperature_K), ("steady_mbar", p),
                                 ("sample_offset", sum(len(x) for x in t_all)), ("sample_length", t.size),
                                 ("session", 0)):
                        rises[k].append(v)
                    t_all.append(t)
                    p_all.append(pres)
                    record += 1
    int_cols = {"seq": "i8", "sweep": "i4", "energy_index": "i4", "angle_index": "i4", "cycle": "i4",
                "gas_index": "i4", "signal_counts": "i8", "background_counts": "i8", "flags": "u1"}
    points = {k: np.asarray(v, dtype=int_cols.get(k, "f8")) for k, v in cols.items()}
    str_cols = ("kind", "line", "gas", "utc_start")
    rise_int = ("record", "cycle", "energy_index", "gas_index", "sample_offset", "sample_length", "session")
    rise_arrays = {k: (np.asarray(v, dtype=str) if k in str_cols else np.asarray(v, dtype="i8" if k in rise_int
                                                                                     else "f8"))
                   for k, v in rises.items()}
    plan = {"kind": "rfm",
            "scan": {"gas": world.target["name"], "energies_eV": list(energies), "angles_deg": list(angles)},
            "rfm": {"target_gas": dict(plan_target or world.target), "reference_gas": dict(plan_reference
                                                                                           or world.reference),
                    "target_pressure_mbar": pressures[0], "reference_pressure_mbar": pressures[1],
                    "mean_free_path_m": world.knudsen(world.reference, pressures[1]) * NEEDLE_D_M,
                    "temperature_K": world.temperature_K, "angles_deg": list(angles), "cycles": world.cycles,
                    "rise_s": rise_s, "base_s": base_s, "sample_s": sample_s}}
    run = _base_run(path, "rfm", world.target["name"], energies, angles, 2 * world.cycles, points, plan,
                    {"detector": _detector(world, None)}, run_id)
    run.rises = rise_arrays  # RunData grows these for rfm runs (the contract, section 3)
    run.rise_samples = {"time": np.concatenate(t_all) if t_all else np.zeros(0),
                        "pressure": np.concatenate(p_all) if p_all else np.zeros(0)}
    return run, truth


def with_kind(run: RunData, kind: str) -> RunData:
    return replace(run, kind=kind)


# --------------------------------------------------------------------------- the factory's own physics


def test_the_flow_form_with_sqrt_m_is_exact_at_equal_mean_free_paths():
    world = World()
    p_x, p_ar = world.p_target_mbar, world.reference_pressure_mbar
    assert math.isclose(world.knudsen(world.target, p_x), world.knudsen(world.reference, p_ar), rel_tol=1e-9)
    f_x, f_ar = world.flow(world.target, p_x), world.flow(world.reference, p_ar)
    n_x, n_ar = world.density(world.target, p_x, f_x), world.density(world.reference, p_ar, f_ar)
    # n_Ar/n_x = (F_Ar/F_x) sqrt(M_Ar/M_x) exactly
    assert math.isclose(n_ar / n_x, f_ar / f_x * math.sqrt(39.948 / 184.49), rel_tol=1e-12)


def test_equal_pressures_change_the_beam_profile_by_several_percent():
    world = World(target_pressure_mbar=0.40)
    kn_x, kn_ar = world.knudsen(world.target, 0.40), world.knudsen(world.reference, 0.40)
    peak = [1 - 0.25 / (1 + k) for k in (kn_x, kn_ar)]
    assert abs(peak[0] / peak[1] - 1) > 0.03


def test_the_rise_starts_at_the_flow_and_curves_later():
    world = World(cycles=1, energies_eV=(100.0,))
    run, truth = rfm_run(world, gauge_noise_mbar=0.0, base_rate_mbar_s=0.0)
    t = run.rise_samples["time"][: run.rises["sample_length"][0]]
    p = run.rise_samples["pressure"][: run.rises["sample_length"][0]]
    slope0 = (p[1] - p[0]) / (t[1] - t[0]) * 100.0  # Pa/s
    flow0 = slope0 * world.volume_cm3 * 1e-6 / (K_B * world.temperature_K)
    assert math.isclose(flow0, truth.flows[(0, 0, 0)], rel_tol=2e-3)
    assert (p[-1] - p[-2]) < (p[1] - p[0])  # filling: the rise slows
