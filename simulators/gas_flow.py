"""Gas flow in the simulated gas lines: pure physics functions and :class:`GasLine`.

SI units throughout (Pa, m, m^3/s, K, kg; molar masses in g/mol as in the gas files);
the world converts to mbar at its interfaces.  The sources of the formulas:

* **Mean speed** (Maxwell-Boltzmann): ``vbar = sqrt(8 k T / (pi m))``.
* **Hard-sphere viscosity**, Chapman-Enskog first approximation (Chapman & Cowling,
  *The Mathematical Theory of Non-Uniform Gases*, ch. 10; Hirschfelder, Curtiss & Bird
  eq. 8.2-18 with Omega = 1): ``eta = (5/16) sqrt(pi m k T) / (pi d^2)``.  It is the
  inverse of PHYSICS.md §3's ``d^2 = 2.6693e-20 sqrt(M T) / eta[uPa s] m^2`` (argon,
  3.58 A, 298 K: 22.7 uPa s; measured 22.6).
* **Mean free path** of hard spheres (PHYSICS.md §3): ``lambda = k T / (sqrt(2) pi d^2 p)``;
  the Knudsen number of the needle ``Kn = lambda / D``.
* **Tube conductance**, Knudsen's transitional formula (M. Knudsen, Ann. Phys. 28
  (1909) 75; in Dushman & Lafferty, *Scientific Foundations of Vacuum Technique*,
  2nd ed., §2.3, and Roth, *Vacuum Technology*, §3.4)::

      C = C_visc + Z C_mol
      C_visc = pi D^4 pbar / (128 eta L)                  (Poiseuille, pbar the mean pressure)
      C_mol  = (pi/12) vbar D^3 / L = (1/6) sqrt(2 pi k T/m) D^3/L   (long tube, L >> D)
      Z      = (1 + a) / (1 + 1.24 a),   a = sqrt(m/(k T)) D pbar / eta

  Z goes from 1 (molecular, a -> 0) to 1/1.24 (viscous).  The molecular part ~ sqrt(T/M)
  and does not depend on the pressure; the viscous part grows ~ p.  The long-tube
  ``C_mol`` overestimates a tube of L/D = 33 by about 5 % (Clausing's factor 0.038
  against 4D/3L = 0.040): a constant the method does not care about.  Throughput into
  vacuum: ``Q = C(p/2) p`` (Pa m^3/s); molecules per second ``F = Q / (k T)``.
* **Beam peaking**: the density on the axis of the beam from a long tube is more
  forward-peaked in the molecular regime than when collisions near the exit
  broaden it.  A smooth model of that, not a literature formula:
  ``peaking(Kn) = 1 - 0.25/(1 + Kn)`` (0.75 viscous, 1 molecular), so that unequal mean
  free paths of the two gases bias the relative flow method by several per cent.

:class:`GasLine`: a volume V at T fed from a reservoir through a leak valve
(``F_in = G (p_res - p)``, G = opening x the valve's full conductance) and emptied through
whichever of its outlets (needle, side entrance, bypass to the pump; the same tube each)
is open, plus a constant outgassing rate::

    dp/dt = [inlet_open G (p_res(t) - p) - n_open Q(p)] / V + b0

The pressure is evaluated lazily at any time: each stretch between valve events is a
segment integrated by RK4 on a grid (step a tenth of the line's local time constant, at
most ``max_step_s``), extended as later times are asked for, read between nodes by cubic
Hermite interpolation (the ODE gives the derivatives); older segments are kept for an
hour, so a counter integrating a gate that ended at ``now`` reads the past exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AVOGADRO",
    "BOLTZMANN",
    "GasLine",
    "Tube",
    "beam_peaking",
    "hard_sphere_viscosity",
    "knudsen_number",
    "knudsen_z",
    "mean_free_path",
    "mean_speed",
    "molecular_conductance",
    "molecular_mass_kg",
    "throughput",
    "tube_conductance",
    "viscous_conductance",
]

BOLTZMANN = 1.380649e-23  # J/K (exact, SI 2019)
AVOGADRO = 6.02214076e23  # 1/mol (exact, SI 2019)
#: Knudsen's transitional constant: Z -> 1/1.24 in the viscous limit
_KNUDSEN_B = 1.24


@dataclass(frozen=True)
class Tube:
    """A cylindrical tube (the needle and the other outlets): diameter and length in m."""

    diameter_m: float = 0.3e-3
    length_m: float = 10e-3


def molecular_mass_kg(molar_mass_g_mol: float) -> float:
    """Mass of one molecule: ``M / N_A`` (M in g/mol)."""
    return molar_mass_g_mol * 1e-3 / AVOGADRO


def mean_speed(temperature_K: float, molar_mass_g_mol: float) -> float:
    """Maxwell-Boltzmann mean speed ``sqrt(8 k T / (pi m))`` (m/s)."""
    return math.sqrt(8.0 * BOLTZMANN * temperature_K / (math.pi * molecular_mass_kg(molar_mass_g_mol)))


def hard_sphere_viscosity(temperature_K: float, molar_mass_g_mol: float, diameter_m: float) -> float:
    """Chapman-Enskog viscosity of hard spheres ``(5/16) sqrt(pi m k T) / (pi d^2)`` (Pa s)."""
    m = molecular_mass_kg(molar_mass_g_mol)
    return 5.0 / 16.0 * math.sqrt(math.pi * m * BOLTZMANN * temperature_K) / (math.pi * diameter_m**2)


def mean_free_path(pressure_Pa: float, diameter_m: float, temperature_K: float) -> float:
    """Hard-sphere mean free path ``k T / (sqrt(2) pi d^2 p)`` (m); infinite at p = 0."""
    if pressure_Pa <= 0:
        return math.inf
    return BOLTZMANN * temperature_K / (math.sqrt(2.0) * math.pi * diameter_m**2 * pressure_Pa)


def knudsen_number(pressure_Pa: float, diameter_m: float, temperature_K: float, tube_diameter_m: float) -> float:
    """``Kn = lambda / D`` of a tube of diameter D."""
    return mean_free_path(pressure_Pa, diameter_m, temperature_K) / tube_diameter_m


def molecular_conductance(temperature_K: float, molar_mass_g_mol: float, tube: Tube) -> float:
    """Long-tube molecular conductance ``(pi/12) vbar D^3 / L`` (m^3/s): ~ sqrt(T/M), no p."""
    return math.pi / 12.0 * mean_speed(temperature_K, molar_mass_g_mol) * tube.diameter_m**3 / tube.length_m


def viscous_conductance(mean_pressure_Pa: float, viscosity_Pa_s: float, tube: Tube) -> float:
    """Poiseuille conductance ``pi D^4 pbar / (128 eta L)`` (m^3/s): ~ pbar."""
    return math.pi * tube.diameter_m**4 * mean_pressure_Pa / (128.0 * viscosity_Pa_s * tube.length_m)


def knudsen_z(mean_pressure_Pa: float, temperature_K: float, molar_mass_g_mol: float, viscosity_Pa_s: float,
              tube: Tube) -> float:
    """Knudsen's ``Z = (1 + a)/(1 + 1.24 a)``, ``a = sqrt(m/(k T)) D pbar / eta``."""
    m = molecular_mass_kg(molar_mass_g_mol)
    a = math.sqrt(m / (BOLTZMANN * temperature_K)) * tube.diameter_m * mean_pressure_Pa / viscosity_Pa_s
    return (1.0 + a) / (1.0 + _KNUDSEN_B * a)


def tube_conductance(mean_pressure_Pa: float, *, temperature_K: float, molar_mass_g_mol: float, diameter_m: float,
                     tube: Tube) -> float:
    """Knudsen's transitional conductance ``C_visc + Z C_mol`` of ``tube`` (m^3/s) for a gas
    of molar mass M (g/mol) and hard-sphere diameter d (m) at mean pressure pbar."""
    eta = hard_sphere_viscosity(temperature_K, molar_mass_g_mol, diameter_m)
    return (viscous_conductance(mean_pressure_Pa, eta, tube)
            + knudsen_z(mean_pressure_Pa, temperature_K, molar_mass_g_mol, eta, tube)
            * molecular_conductance(temperature_K, molar_mass_g_mol, tube))


def throughput(upstream_Pa: float, *, temperature_K: float, molar_mass_g_mol: float, diameter_m: float,
               tube: Tube, downstream_Pa: float = 0.0) -> float:
    """Throughput ``Q = C(pbar) (p_up - p_down)`` through ``tube`` (Pa m^3/s)."""
    pbar = 0.5 * (upstream_Pa + downstream_Pa)
    c = tube_conductance(pbar, temperature_K=temperature_K, molar_mass_g_mol=molar_mass_g_mol,
                         diameter_m=diameter_m, tube=tube)
    return c * (upstream_Pa - downstream_Pa)


def beam_peaking(kn: float) -> float:
    """Forward peaking of the needle's beam: ``1 - 0.25/(1 + Kn)`` (a model, see module docstring)."""
    return 1.0 - 0.25 / (1.0 + kn)


class _Segment:
    """The line's pressure from ``t0`` while its valves stand still: RK4 nodes, Hermite between."""

    __slots__ = ("t0", "ts", "ps", "ds", "inflow", "outlets", "_last")

    def __init__(self, t0: float, p0: float, inflow: float, outlets: int, line: "GasLine") -> None:
        self.t0 = t0
        self.inflow = inflow  # G / V (1/s), 0 with the inlet closed
        self.outlets = outlets  # open outlets / V (1/m^3)
        self.ts = [t0]
        self.ps = [p0]
        self.ds = [line._rhs(self, p0, t0)]
        self._last = 0


class GasLine:
    """One gas line (see module docstring).

    ``gas``: anything with ``molar_mass_g_mol`` and ``diameter_m`` (a
    :class:`foundation.gas.Gas`).  ``reservoir_factor(t)``: the reservoir's pressure
    relative to ``reservoir_Pa`` at time t (drift, depletion), 1 at ``t0``.  The leak
    valve starts at the opening that holds ``initial_Pa`` steady through one outlet (the
    bypass): the line starts at steady state.
    """

    #: outlets of a line, all the same tube
    OUTLETS = ("needle", "side", "bypass")

    def __init__(self, name: str, gas, t0: float, *, volume_m3: float = 20e-6, temperature_K: float = 296.0,
                 reservoir_Pa: float = 2000.0, tube: Tube = Tube(), leak_full_m3_s: float = 2e-8,
                 outgassing_Pa_s: float = 2e-4, initial_Pa: float = 30.0,
                 reservoir_factor: Callable[[float], float] | None = None, max_step_s: float = 10.0,
                 history_s: float = 3600.0) -> None:
        if not 0 < initial_Pa < reservoir_Pa:
            raise ValueError(f"line {name}: initial pressure {initial_Pa} Pa must lie between 0 and the "
                             f"reservoir's {reservoir_Pa} Pa")
        self.name = name
        self.gas = gas
        self.volume_m3 = float(volume_m3)
        self.temperature_K = float(temperature_K)
        self.reservoir_Pa = float(reservoir_Pa)
        self.tube = tube
        self.leak_full_m3_s = float(leak_full_m3_s)
        self.outgassing_Pa_s = float(outgassing_Pa_s)
        self.max_step_s = float(max_step_s)
        self.history_s = float(history_s)
        self._reservoir_factor = reservoir_factor or (lambda t: 1.0)
        T, M, d, D = self.temperature_K, gas.molar_mass_g_mol, gas.diameter_m, tube.diameter_m
        self.kT = BOLTZMANN * T
        self.mean_speed = mean_speed(T, M)
        self.viscosity = hard_sphere_viscosity(T, M, d)
        self.molecular_conductance = molecular_conductance(T, M, tube)
        # the conductance's constants: C(pbar) = cv * pbar + Cm (1 + a pbar)/(1 + 1.24 a pbar)
        self._cv = math.pi * D**4 / (128.0 * self.viscosity * tube.length_m)
        self._a = math.sqrt(molecular_mass_kg(M) / self.kT) * D / self.viscosity
        self._kn = BOLTZMANN * T / (math.sqrt(2.0) * math.pi * d**2 * D)  # Kn = _kn / p
        self.needle = self.side = self.shut = self.inlet_closed = False
        self.opening = self.opening_for(initial_Pa, t0)
        self._segments: list[_Segment] = []
        self._start(t0, float(initial_Pa))

    # ------------------------------------------------------------ physics of the line
    def conductance(self, p_Pa: float) -> float:
        """Conductance (m^3/s) of one outlet with ``p_Pa`` upstream and vacuum downstream."""
        pbar = 0.5 * p_Pa
        ap = self._a * pbar
        return self._cv * pbar + self.molecular_conductance * (1.0 + ap) / (1.0 + _KNUDSEN_B * ap)

    def throughput(self, p_Pa: float) -> float:
        """Throughput of one outlet into vacuum, ``C(p/2) p`` (Pa m^3/s)."""
        return self.conductance(p_Pa) * p_Pa

    def outlet_flow(self, p_Pa: float) -> float:
        """Molecules per second through one open outlet at line pressure ``p_Pa``."""
        return self.throughput(p_Pa) / self.kT

    def knudsen(self, p_Pa: float) -> float:
        """Knudsen number of the needle at line pressure ``p_Pa``."""
        return self._kn / p_Pa if p_Pa > 0 else math.inf

    def reservoir(self, t: float) -> float:
        """Reservoir pressure (Pa) at ``t``."""
        return self.reservoir_Pa * self._reservoir_factor(t)

    def inflow(self, p_Pa: float, t: float) -> float:
        """Molecules per second through the leak valve, ``G (p_res - p)``; 0 with the inlet closed."""
        if self.inlet_closed:
            return 0.0
        return self.opening * self.leak_full_m3_s * (self.reservoir(t) - p_Pa) / self.kT

    @property
    def bypass(self) -> bool:
        """The three-way arrangement: the bypass is open when needle and side are closed
        and the outlet is not shut."""
        return not (self.needle or self.side or self.shut)

    @property
    def open_outlets(self) -> int:
        return int(self.needle) + int(self.side) + int(self.bypass)

    def opening_for(self, p_Pa: float, t: float, outlets: int = 1) -> float:
        """The leak-valve opening that holds ``p_Pa`` steady through ``outlets`` open
        outlets with the reservoir as at ``t`` (may exceed 1: out of the valve's reach)."""
        p_res = self.reservoir(t)
        if not 0 < p_Pa < p_res:
            raise ValueError(f"line {self.name}: {p_Pa} Pa is out of reach (reservoir {p_res:.4g} Pa)")
        need = outlets * self.throughput(p_Pa) - self.outgassing_Pa_s * self.volume_m3
        return max(0.0, need) / (self.leak_full_m3_s * (p_res - p_Pa))

    def time_constant(self, p_Pa: float) -> float:
        """``V / C`` (s) of one outlet at line pressure ``p_Pa``."""
        return self.volume_m3 / self.conductance(p_Pa)

    def relaxation_time(self, p_Pa: float, outlets: int | None = None) -> float:
        """The linearised relaxation time ``V / (G + n dQ/dp)`` (s) at ``p_Pa`` for the
        present valves (or ``outlets`` open)."""
        n = self.open_outlets if outlets is None else outlets
        h = 1e-6 * p_Pa
        dq = (self.throughput(p_Pa + h) - self.throughput(p_Pa - h)) / (2 * h)
        g = 0.0 if self.inlet_closed else self.opening * self.leak_full_m3_s
        return self.volume_m3 / (g + n * dq) if g + n * dq > 0 else math.inf

    # ------------------------------------------------------------ valves
    def set_valves(self, t: float, *, needle: bool | None = None, side: bool | None = None,
                   shut: bool | None = None, inlet_closed: bool | None = None) -> None:
        """Change valves at ``t``; the pressure is continuous across the change."""
        p = self.pressure(t)
        if needle is not None:
            self.needle = bool(needle)
        if side is not None:
            self.side = bool(side)
        if shut is not None:
            self.shut = bool(shut)
        if inlet_closed is not None:
            self.inlet_closed = bool(inlet_closed)
        self._start(t, p)

    def set_leak_valve(self, opening: float, t: float) -> None:
        """Turn the leak valve to ``opening`` (0 closed .. 1 fully open) at ``t``."""
        opening = float(opening)
        if not 0.0 <= opening <= 1.0:
            raise ValueError(f"line {self.name}: leak valve opening {opening!r} must be from 0 (closed) to 1 (open)")
        p = self.pressure(t)
        self.opening = opening
        self._start(t, p)

    # ------------------------------------------------------------ pressure
    def pressure(self, t: float) -> float:
        """Line pressure (Pa) at ``t`` (before the oldest kept segment: its start)."""
        seg = self._segments[-1]
        if t < seg.t0:
            i = bisect_right([s.t0 for s in self._segments], t) - 1
            if i < 0:
                return self._segments[0].ps[0]
            seg = self._segments[i]
        ts = seg.ts
        if t >= ts[-1]:
            if t > ts[-1]:
                self._extend(seg, t)
            if t == ts[-1]:
                return seg.ps[-1]
        i = seg._last
        if not ts[i] <= t < ts[i + 1]:
            i = bisect_right(ts, t) - 1
            seg._last = i
        t0, t1 = ts[i], ts[i + 1]
        h = t1 - t0
        s = (t - t0) / h
        s2, s3 = s * s, s * s * s
        return ((2 * s3 - 3 * s2 + 1) * seg.ps[i] + (s3 - 2 * s2 + s) * h * seg.ds[i]
                + (3 * s2 - 2 * s3) * seg.ps[i + 1] + (s3 - s2) * h * seg.ds[i + 1])

    def pressure_rate(self, t: float) -> float:
        """dp/dt (Pa/s) at ``t`` from the ODE."""
        seg = self._segment_at(t)
        return self._rhs(seg, self.pressure(t), t)

    def _segment_at(self, t: float) -> _Segment:
        for seg in reversed(self._segments):
            if seg.t0 <= t:
                return seg
        return self._segments[0]

    def _start(self, t: float, p: float) -> None:
        g = 0.0 if self.inlet_closed else self.opening * self.leak_full_m3_s / self.volume_m3
        n = self.open_outlets / self.volume_m3
        last = self._segments[-1] if self._segments else None
        if last is not None and last.inflow == g and last.outlets == n:
            return  # the same equation (a DCS run's needle <-> side): the segment goes on
        if last is not None and last.t0 >= t:
            self._segments.pop()  # replaced at the same instant
        self._segments.append(_Segment(t, p, g, n, self))
        while len(self._segments) > 8 and self._segments[1].t0 < t - self.history_s:
            del self._segments[0]

    def _rhs(self, seg: _Segment, p: float, t: float) -> float:
        rate = self.outgassing_Pa_s - seg.outlets * self.throughput(p)
        if seg.inflow:
            rate += seg.inflow * (self.reservoir(t) - p)
        return rate

    def _extend(self, seg: _Segment, t_end: float) -> None:
        ts, ps, ds = seg.ts, seg.ps, seg.ds
        t, p, d = ts[-1], ps[-1], ds[-1]
        while t < t_end:
            stiffness = seg.inflow + seg.outlets * self.conductance(max(p, 0.0))  # ~ |d f/d p|
            h = self.max_step_s if stiffness <= 0 else min(self.max_step_s, 0.1 / stiffness)
            k1 = d
            k2 = self._rhs(seg, p + 0.5 * h * k1, t + 0.5 * h)
            k3 = self._rhs(seg, p + 0.5 * h * k2, t + 0.5 * h)
            k4 = self._rhs(seg, p + h * k3, t + h)
            p = max(0.0, p + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))
            t += h
            d = self._rhs(seg, p, t)
            ts.append(t)
            ps.append(p)
            ds.append(d)
