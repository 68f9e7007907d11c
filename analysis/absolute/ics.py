"""Integral and momentum-transfer cross sections (PHYSICS.md §6).

::

    c       = sum w_i y_i T_i / sum w_i T_i^2      over the measured, unflagged points (w = 1/u^2)
    DCS_ext = c T outside the measured range, the data inside
    ICS     = 2 pi int_0^pi DCS_ext sin(theta) dtheta
    MTCS    = 2 pi int_0^pi (1 - cos theta) DCS_ext sin(theta) dtheta

``T`` is a user-supplied shape (a theory curve, :class:`Shape`).  Integration is
Simpson's rule (:func:`scipy.integrate.simpson`) on a fine grid, 1 deg or finer and
0.5 deg below 30 deg, piecewise between the window edges so that the switch from shape
to data falls on a node.  On a 5 deg grid with the forward extrapolation the trapezoid
is off by 9-26 %.  Inside the window the data are interpolated linearly in log(DCS)
(in angle), as the reference tables are.

The measured window 25-125 deg holds only 13-25 % of the isoflurane ICS: the result is
only as good as the shape.  The uncertainty has three terms (:class:`CrossSection`):
the DCS (all points moved by their uncertainty together, shape renormalised: the
dominant terms of the DCS budget are common), the extrapolation (half the spread over
alternative shapes and matching ranges) and the integration (the change when the grid
is halved).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.integrate import simpson, trapezoid

from .budget import quadrature

__all__ = [
    "CrossSection",
    "IcsResult",
    "Shape",
    "cross_sections",
    "extrapolated_dcs",
    "ics_grid",
    "integrate",
    "integrate_function",
    "shape_scale",
    "solid_angle",
]

Kind = Literal["ics", "mtcs"]


def solid_angle(lo_deg: float, hi_deg: float) -> float:
    """``2 pi (cos lo - cos hi)`` (sr): the ICS of DCS = 1 between two angles."""
    return 2.0 * math.pi * (math.cos(math.radians(lo_deg)) - math.cos(math.radians(hi_deg)))


def _weight(theta_rad: np.ndarray, kind: Kind) -> np.ndarray:
    if kind == "ics":
        return 2.0 * np.pi * np.sin(theta_rad)
    if kind == "mtcs":
        return 2.0 * np.pi * (1.0 - np.cos(theta_rad)) * np.sin(theta_rad)
    raise ValueError(f"unknown cross section {kind!r}: 'ics' or 'mtcs'")


def integrate(theta_deg, dcs, *, kind: Kind = "ics", method: Literal["simpson", "trapezoid"] = "simpson") -> float:
    """``2 pi int DCS sin(theta) dtheta`` (or the MTCS) over the given angles (deg, sorted),
    by Simpson's rule or the trapezoid; no extrapolation beyond the first and last angle."""
    theta = np.radians(np.asarray(theta_deg, dtype=float))
    y = np.asarray(dcs, dtype=float) * _weight(theta, kind)
    if theta.size < 2 or np.any(np.diff(theta) <= 0):
        raise ValueError("integrate needs at least two strictly increasing angles")
    if method == "simpson":
        return float(simpson(y, x=theta))
    if method == "trapezoid":
        return float(trapezoid(y, theta))
    raise ValueError(f"unknown integration method {method!r}: 'simpson' or 'trapezoid'")


def _segment(lo: float, hi: float, step: float) -> np.ndarray:
    """Nodes from lo to hi, spacing at most ``step``, an even number of intervals (Simpson)."""
    n = max(2, math.ceil((hi - lo) / step - 1e-9))
    n += n % 2
    return np.linspace(lo, hi, n + 1)


def ics_grid(lo_deg: float = 0.0, hi_deg: float = 180.0, *, step_deg: float = 1.0, fine_step_deg: float = 0.5,
             fine_below_deg: float = 30.0) -> list[np.ndarray]:
    """The integration grid from ``lo_deg`` to ``hi_deg`` as segments (each for Simpson):
    ``fine_step_deg`` below ``fine_below_deg``, ``step_deg`` above."""
    if not (0 < fine_step_deg and 0 < step_deg and lo_deg < hi_deg):
        raise ValueError("steps must be > 0 and lo_deg < hi_deg")
    cuts = [lo_deg] + ([fine_below_deg] if lo_deg < fine_below_deg < hi_deg else []) + [hi_deg]
    return [_segment(a, b, fine_step_deg if b <= fine_below_deg else step_deg) for a, b in zip(cuts[:-1], cuts[1:])]


def integrate_function(f: Callable[[np.ndarray], np.ndarray], lo_deg: float = 0.0, hi_deg: float = 180.0, *,
                       kind: Kind = "ics", step_deg: float = 1.0, fine_step_deg: float = 0.5,
                       fine_below_deg: float = 30.0) -> float:
    """The ICS (or MTCS) of a DCS given as a function of angle (deg), by Simpson on
    :func:`ics_grid` between ``lo_deg`` and ``hi_deg``."""
    segments = ics_grid(lo_deg, hi_deg, step_deg=step_deg, fine_step_deg=fine_step_deg,
                        fine_below_deg=fine_below_deg)
    return float(sum(integrate(g, f(g), kind=kind) for g in segments))


@dataclass(frozen=True)
class Shape:
    """A DCS shape ``T(theta)`` on 0-180 deg (a theory curve), interpolated log-linearly."""

    angles_deg: np.ndarray
    values: np.ndarray
    name: str = "shape"

    def __post_init__(self) -> None:
        a = np.asarray(self.angles_deg, dtype=float)
        v = np.asarray(self.values, dtype=float)
        if a.shape != v.shape or a.ndim != 1 or a.size < 2:
            raise ValueError(f"shape {self.name!r}: angles and values must be 1-d of equal length >= 2")
        if np.any(np.diff(a) <= 0) or a[0] > 0 or a[-1] < 180:
            raise ValueError(f"shape {self.name!r}: angles must increase and cover 0-180 deg "
                             f"(given {a[0]:g}-{a[-1]:g}): the extrapolation needs the whole range")
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"shape {self.name!r}: values must be finite and > 0")
        object.__setattr__(self, "angles_deg", a)
        object.__setattr__(self, "values", v)

    @classmethod
    def from_function(cls, f: Callable[[np.ndarray], np.ndarray], name: str = "shape", step_deg: float = 0.1) -> Shape:
        a = np.linspace(0.0, 180.0, round(180.0 / step_deg) + 1)
        return cls(a, np.asarray(f(a), dtype=float), name)

    def __call__(self, theta_deg) -> np.ndarray:
        return np.exp(np.interp(np.asarray(theta_deg, dtype=float), self.angles_deg, np.log(self.values)))


def shape_scale(theta_deg, dcs, err, shape: Shape, *, use=None) -> tuple[float, float]:
    """``c = sum w y T / sum w T^2`` (``w = 1/u^2``) over the points in ``use`` (bool mask;
    default all): ``(c, u_c)`` with ``u_c = 1/sqrt(sum w T^2)``."""
    theta, y, u = (np.asarray(x, dtype=float) for x in (theta_deg, dcs, err))
    use = np.ones_like(y, dtype=bool) if use is None else np.asarray(use, dtype=bool)
    use = use & np.isfinite(y) & np.isfinite(u) & (u > 0)
    if not use.any():
        raise ValueError("no unflagged point with a positive uncertainty to normalise the shape on")
    t = shape(theta[use])
    w = 1.0 / u[use] ** 2
    s = float(np.sum(w * t**2))
    return float(np.sum(w * y[use] * t) / s), 1.0 / math.sqrt(s)


def _data_interpolant(theta: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    order = np.argsort(theta)
    theta, y = theta[order], y[order]
    if np.all(y > 0):
        logy = np.log(y)
        return lambda g: np.exp(np.interp(g, theta, logy))
    return lambda g: np.interp(g, theta, y)


def extrapolated_dcs(grid_deg, theta_deg, dcs, shape: Shape, c: float, *, use=None) -> np.ndarray:
    """``DCS_ext`` on ``grid_deg``: the data (log-linear between the used points) inside
    their angular range, ``c T`` outside."""
    theta, y = np.asarray(theta_deg, dtype=float), np.asarray(dcs, dtype=float)
    use = np.ones_like(y, dtype=bool) if use is None else np.asarray(use, dtype=bool)
    use = use & np.isfinite(y)
    g = np.asarray(grid_deg, dtype=float)
    lo, hi = theta[use].min(), theta[use].max()
    inside = (g >= lo) & (g <= hi)
    return np.where(inside, _data_interpolant(theta[use], y[use])(g), c * shape(g))


def _total(theta, y, use, shape, c, kind, step, fine, fine_below) -> tuple[float, float]:
    """(whole-range integral, window integral) of the extrapolated DCS, piecewise."""
    lo, hi = float(theta[use].min()), float(theta[use].max())
    data = _data_interpolant(theta[use], y[use])
    opts = {"kind": kind, "step_deg": step, "fine_step_deg": fine, "fine_below_deg": fine_below}
    window = integrate_function(data, lo, hi, **opts) if hi > lo else 0.0
    front = integrate_function(lambda g: c * shape(g), 0.0, lo, **opts) if lo > 0 else 0.0
    back = integrate_function(lambda g: c * shape(g), hi, 180.0, **opts) if hi < 180 else 0.0
    return front + window + back, window


@dataclass(frozen=True)
class CrossSection:
    """One integrated cross section (1e-20 m^2) and its uncertainty terms (absolute)."""

    value: float
    u_dcs: float
    u_extrapolation: float
    u_integration: float
    window: float  #: the part from inside the measured window (data only)
    alternatives: tuple[float, ...] = ()  #: the value for every (shape, matching range)

    @property
    def u_total(self) -> float:
        return quadrature(self.u_dcs, self.u_extrapolation, self.u_integration)

    @property
    def window_fraction(self) -> float:
        return self.window / self.value


@dataclass(frozen=True)
class IcsResult:
    ics: CrossSection
    mtcs: CrossSection
    scale: float  #: c of the nominal shape and matching range
    scale_err: float


def cross_sections(theta_deg, dcs, err, shapes: Sequence[Shape] | Shape, *, flagged=None,
                   match_ranges_deg: Sequence[tuple[float, float] | None] = (None,), step_deg: float = 1.0,
                   fine_step_deg: float = 0.5, fine_below_deg: float = 30.0) -> IcsResult:
    """ICS and MTCS of one energy's DCS, extrapolated with ``shapes[0]`` normalised over
    ``match_ranges_deg[0]`` (``None``: every unflagged point), and their uncertainties.

    ``flagged``: bool per point, left out of the normalisation and of the data inside
    the window.  The other shapes and matching ranges give the extrapolation term (half
    the spread of every combination); the DCS term moves every point by its ``err``
    together (half the difference); the integration term is the change when both grid
    steps are halved.
    """
    theta, y, u = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (theta_deg, dcs, err))
    if not (theta.shape == y.shape == u.shape):
        raise ValueError(f"{theta.size} angles, {y.size} DCS values, {u.size} uncertainties")
    shapes = [shapes] if isinstance(shapes, Shape) else list(shapes)
    if not shapes or not match_ranges_deg:
        raise ValueError("at least one shape and one matching range")
    use = np.isfinite(y) & ~(np.zeros_like(y, bool) if flagged is None else np.asarray(flagged, dtype=bool))
    if use.sum() < 1:
        raise ValueError("no unflagged point")
    grid = {"step": step_deg, "fine": fine_step_deg, "fine_below": fine_below_deg}

    def scale_for(shape: Shape, values: np.ndarray, match) -> tuple[float, float]:
        sel = use if match is None else use & (theta >= match[0]) & (theta <= match[1])
        return shape_scale(theta, values, u, shape, use=sel)

    def one(kind: Kind) -> CrossSection:
        nominal_c = scale_for(shapes[0], y, match_ranges_deg[0])[0]
        value, window = _total(theta, y, use, shapes[0], nominal_c, kind, **grid)
        alternatives = []
        for shape in shapes:
            for match in match_ranges_deg:
                c = scale_for(shape, y, match)[0]
                alternatives.append(_total(theta, y, use, shape, c, kind, **grid)[0])
        u_extrap = (max(alternatives) - min(alternatives)) / 2.0
        moved = []
        for sign in (1.0, -1.0):
            ys = y + sign * u
            c = scale_for(shapes[0], ys, match_ranges_deg[0])[0]
            moved.append(_total(theta, ys, use, shapes[0], c, kind, **grid)[0])
        u_dcs = abs(moved[0] - moved[1]) / 2.0
        fine = _total(theta, y, use, shapes[0], nominal_c, kind, step_deg / 2, fine_step_deg / 2, fine_below_deg)[0]
        return CrossSection(value, u_dcs, u_extrap, abs(fine - value), window, tuple(alternatives))

    c, uc = scale_for(shapes[0], y, match_ranges_deg[0])
    return IcsResult(one("ics"), one("mtcs"), c, uc)
