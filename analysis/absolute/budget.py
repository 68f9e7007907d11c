"""The uncertainty budget of the absolute DCS, in quadrature, every term kept (PHYSICS.md §5).

::

    u_DCS^2 = u_stat^2 + u_stab^2 + u_ref,Ar^2 + u_vol(theta)^2 + u_flow^2 + u_RFM,stat^2

* ``stat``: counting statistics of the relative DCS point;
* ``stability``: short-term stability, the sweep-to-sweep scatter beyond statistics
  (:func:`stability_from_sweeps`);
* ``reference``: the argon reference DCS (about 20 %, the largest);
* ``volume``: the effective-volume correction; the study's practice is a relative 20 %
  at 25-40 deg and nothing beyond (:func:`small_angle_volume_term`, configurable);
* ``flow``: the flow measurements of the RFM points (and V, T if not shared);
* ``rfm_stat``: the statistics of the RFM points (through the scale factor k).

Table 1 of the study: 28-32 % at 25-40 deg, 20-25 % at 45-125 deg.  Terms are given as
relative uncertainties; :class:`Budget` holds them absolute (in the DCS unit), as
``budget.csv`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TERMS", "Budget", "build_budget", "quadrature", "small_angle_volume_term", "stability_from_sweeps"]

#: the terms, in budget.csv's order
TERMS = ("stat", "stability", "reference", "volume", "flow", "rfm_stat")


def quadrature(*terms):
    """``sqrt(sum t_i^2)``, element-wise (e.g. the ICS: 25, 15, 8 % -> 30.2 %)."""
    arrays = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in terms))
    total = np.sqrt(sum(a**2 for a in arrays))
    return float(total) if total.ndim == 0 else total


def small_angle_volume_term(angles_deg, *, relative: float = 0.20, lo_deg: float = 25.0, hi_deg: float = 40.0,
                            elsewhere: float = 0.0):
    """The effective-volume term as the study applied it: ``relative`` at
    ``lo_deg <= theta <= hi_deg``, ``elsewhere`` beyond (relative uncertainties)."""
    a = np.asarray(angles_deg, dtype=float)
    out = np.where((a >= lo_deg) & (a <= hi_deg), relative, elsewhere)
    return float(out) if out.ndim == 0 else out


def stability_from_sweeps(sweep_values: Sequence[float], sweep_errors: Sequence[float]) -> float:
    """Relative short-term-stability term of a point measured in several sweeps.

    The standard error of the mean from the scatter, ``s/sqrt(n)``, includes the
    counting statistics; the term is the excess beyond them,
    ``sqrt(max(0, s^2/n - u_stat^2))`` with ``u_stat = 1/sqrt(sum 1/u_i^2)``, divided by
    the mean, so that statistics are not counted twice.  0 for one sweep.
    """
    v = np.asarray(sweep_values, dtype=float)
    u = np.asarray(sweep_errors, dtype=float)
    ok = np.isfinite(v) & np.isfinite(u) & (u > 0)
    v, u = v[ok], u[ok]
    if v.size < 2:
        return 0.0
    mean = float(np.mean(v))
    scatter2 = float(np.var(v, ddof=1)) / v.size
    stat2 = 1.0 / float(np.sum(1.0 / u**2))
    return float(np.sqrt(max(0.0, scatter2 - stat2)) / abs(mean)) if mean else float("inf")


@dataclass(frozen=True)
class Budget:
    """Per point: the DCS and every uncertainty term, absolute (1e-20 m^2/sr)."""

    energy_eV: np.ndarray
    angle_deg: np.ndarray
    dcs: np.ndarray
    u_stat: np.ndarray
    u_stability: np.ndarray
    u_reference: np.ndarray
    u_volume: np.ndarray
    u_flow: np.ndarray
    u_rfm_stat: np.ndarray
    flags: tuple[str, ...]  #: per point, "|"-joined names ("" when none)

    @property
    def u_total(self) -> np.ndarray:
        return np.asarray(quadrature(*(getattr(self, f"u_{t}") for t in TERMS)))

    @property
    def relative_total(self) -> np.ndarray:
        return self.u_total / np.abs(self.dcs)

    def __len__(self) -> int:
        return int(self.dcs.size)


def build_budget(energy_eV, angle_deg, dcs, *, stat, stability=0.0, reference=0.20, volume=None, flow=0.0,
                 rfm_stat=0.0, flags=None) -> Budget:
    """A :class:`Budget` from relative terms (scalars or per point).

    ``volume=None`` applies :func:`small_angle_volume_term` (20 % at 25-40 deg).
    ``flags``: per point, a string, an iterable of names or an ``int``/``IntFlag``
    (rendered by its ``describe()`` if it has one, else by its member names).
    """
    dcs = np.atleast_1d(np.asarray(dcs, dtype=float))
    e, a = (np.broadcast_to(np.asarray(x, dtype=float), dcs.shape).copy() for x in (energy_eV, angle_deg))
    if volume is None:
        volume = small_angle_volume_term(a)
    rel = {"stat": stat, "stability": stability, "reference": reference, "volume": volume, "flow": flow,
           "rfm_stat": rfm_stat}
    absolute = {}
    for name, value in rel.items():
        r = np.broadcast_to(np.asarray(value, dtype=float), dcs.shape)
        if np.any(r < 0):
            raise ValueError(f"budget term {name} has a negative relative uncertainty")
        absolute[f"u_{name}"] = np.abs(dcs) * r
    if flags is None:
        texts = ("",) * dcs.size
    else:
        flags = list(flags) if not isinstance(flags, (str, int)) else [flags] * dcs.size
        if len(flags) != dcs.size:
            raise ValueError(f"{len(flags)} flags for {dcs.size} points")
        texts = tuple(_flag_text(f) for f in flags)
    return Budget(e, a, dcs, flags=texts, **absolute)


def _flag_text(flag) -> str:
    if flag is None:
        return ""
    if isinstance(flag, str):
        return "" if flag in ("ok", "") else flag
    if hasattr(flag, "describe"):
        text = flag.describe()
        return "" if text == "ok" else text
    if isinstance(flag, int):
        return "" if flag == 0 else str(flag)
    return "|".join(str(f) for f in flag)
