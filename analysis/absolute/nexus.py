"""``absolute.h5``: the analysis file of ``xbeam absolute`` (NeXus), so that a table can be
traced to its runs and redone.

Layout::

    /                       NXroot  @default=entry, file_name, file_time, creator
    /entry                  NXentry @default=absolute_dcs: title, start_time, program_name
        process             NXprocess: program, version, date, notes (NXnote: warnings,
                            how the ICS was extrapolated)
            parameters      NXcollection: every parameter, one field each (+ parameters_json)
            inputs          NXcollection: one NXcollection per input file: option, path
                            (absolute), size_bytes, sha256, run_id, run_kind, status, gas
        absolute_dcs        NXdata  data[energy, angle] (1e-20 m^2/sr), data_errors (total),
                            flagged
        budget              NXdata  u_total[energy, angle] and every term, dcs, flags
        volume_factors      NXdata  data[energy, angle] = C, data_errors, in_normalisation,
                            near_minimum, argon_excluded, reference_dcs, measured, measured_errors
        rfm_points          NXdata  dcs[point] per cycle, with intensities, flows, densities
        rfm_combined        NXdata  dcs[point] per (energy, angle), cycles combined
        flows               NXdata  flow[point] per (file, cycle, energy, gas), the fits
        scale               NXdata  k[energy] with its parts
        ics, mtcs           NXdata  value[energy], errors, u_dcs, u_extrapolation, u_integration
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .budget import TERMS
from .chain import AbsoluteResult
from .runs import RfmRun, RunSource, angle_key, energy_key

__all__ = ["PROGRAM", "is_analysis_file", "software_version", "write_absolute_h5"]

PROGRAM = "xbeam absolute"


def software_version() -> str:
    try:
        from importlib.metadata import version

        return version("xbeam")
    except Exception:  # not installed (a checkout on the path): the version is unknown, not an error
        return "unknown"


def is_analysis_file(path: str | os.PathLike) -> bool:
    """True for an ``absolute.h5`` this program wrote (the only HDF5 file ``--force``
    replaces)."""
    try:
        with h5py.File(path, "r") as f:
            program = f.get("entry/process/program")
            return program is not None and _text(program[()]) == PROGRAM
    except (OSError, KeyError, ValueError):
        return False


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _str(group: h5py.Group, name: str, text: str, **attrs: Any) -> h5py.Dataset:
    ds = group.create_dataset(name, data=str(text), dtype=h5py.string_dtype("utf-8"))
    for k, v in attrs.items():
        ds.attrs[k] = v
    return ds


def _strings(group: h5py.Group, name: str, values: Sequence[str]) -> h5py.Dataset:
    return group.create_dataset(name, data=np.array([str(v) for v in values], dtype=object),
                                dtype=h5py.string_dtype("utf-8"))


def _num(group: h5py.Group, name: str, values: Any, units: str | None = None, long_name: str | None = None,
         dtype: str = "f8") -> h5py.Dataset:
    ds = group.create_dataset(name, data=np.asarray(values, dtype=dtype))
    if units:
        ds.attrs["units"] = units
    if long_name:
        ds.attrs["long_name"] = long_name
    return ds


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    g = parent.create_group(name)
    g.attrs["NX_class"] = nx_class
    return g


def _nxdata(parent: h5py.Group, name: str, signal: str, axes: Sequence[str], title: str) -> h5py.Group:
    g = _group(parent, name, "NXdata")
    g.attrs["signal"] = signal
    g.attrs["axes"] = list(axes)
    for i, axis in enumerate(axes):
        g.attrs[f"{axis}_indices"] = np.int32(i)
    _str(g, "title", title)
    return g


def _grid(energies: np.ndarray, angles: np.ndarray, e: np.ndarray, a: np.ndarray, values, fill=np.nan,
          dtype: Any = float) -> np.ndarray:
    out = np.full((energies.size, angles.size), fill, dtype=dtype)
    ei = {energy_key(x): i for i, x in enumerate(energies)}
    ai = {angle_key(x): j for j, x in enumerate(angles)}
    for x, y, v in zip(e, a, values):
        out[ei[energy_key(x)], ai[angle_key(y)]] = v
    return out


def _axes(g: h5py.Group, energies: np.ndarray, angles: np.ndarray) -> None:
    _num(g, "energy", energies, "eV", "incident energy (eV)")
    _num(g, "angle", angles, "deg", "scattering angle (deg)")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parameter(group: h5py.Group, name: str, value: Any) -> None:
    value = _plain(value)
    if value is None:
        _str(group, name, "")
    elif isinstance(value, bool):
        group.create_dataset(name, data=np.uint8(value))
    elif isinstance(value, (int, float)):
        group.create_dataset(name, data=value)
    elif isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in value):
        group.create_dataset(name, data=np.asarray(value, dtype=float))
    elif isinstance(value, list):
        _strings(group, name, [json.dumps(v) if not isinstance(v, str) else v for v in value] or [""])
    else:
        _str(group, name, str(value))


def _process(entry: h5py.Group, result: AbsoluteResult, parameters: Mapping[str, Any],
             sources: Sequence[RunSource], date: str) -> None:
    proc = _group(entry, "process", "NXprocess")
    _str(proc, "program", PROGRAM)
    _str(proc, "version", software_version())
    _str(proc, "date", date)
    _num(proc, "sequence_index", 1, dtype="i4")
    note = _group(proc, "notes", "NXnote")
    _str(note, "type", "text/plain")
    _str(note, "description", "warnings of the analysis and how the ICS was extrapolated")
    _str(note, "data", "\n".join([result.ics_note, *result.warnings]))
    params = _group(proc, "parameters", "NXcollection")
    for name, value in parameters.items():
        _parameter(params, name, value)
    _str(params, "parameters_json", json.dumps({k: _plain(v) for k, v in parameters.items()}, default=str, indent=1))
    inputs = _group(proc, "inputs", "NXcollection")
    counters: dict[str, int] = {}
    for s in sources:
        role = s.option.lstrip("-").replace("-", "_")
        k = counters.get(role, 0)
        counters[role] = k + 1
        g = _group(inputs, f"{role}_{k}", "NXcollection")
        _str(g, "option", s.option)
        _str(g, "path", str(s.path))
        g.create_dataset("size_bytes", data=np.int64(s.size_bytes))
        _str(g, "sha256", s.sha256)
        _str(g, "run_id", s.run_id)
        _str(g, "run_kind", s.kind)
        _str(g, "status", s.status)
        _str(g, "gas", s.gas)
        _str(g, "software_version", s.software_version)
        _str(g, "start_time", s.start_utc)


def _absolute(entry: h5py.Group, result: AbsoluteResult, energies: np.ndarray, angles: np.ndarray) -> None:
    b = result.budget
    g = _nxdata(entry, "absolute_dcs", "data", ("energy", "angle"),
                f"absolute elastic DCS of {result.target_gas.name}")
    _num(g, "data", _grid(energies, angles, b.energy_eV, b.angle_deg, b.dcs), "1e-20 m^2/sr", "absolute DCS")
    _num(g, "data_errors", _grid(energies, angles, b.energy_eV, b.angle_deg, b.u_total), "1e-20 m^2/sr",
         "total standard uncertainty (every term of the budget in quadrature)")
    _num(g, "flagged", _grid(energies, angles, b.energy_eV, b.angle_deg, result.flagged, 0, np.uint8), None,
         "1: left out of the scale and the ICS normalisation", dtype="u1")
    _axes(g, energies, angles)

    g = _nxdata(entry, "budget", "u_total", ("energy", "angle"), "uncertainty budget, absolute (1e-20 m^2/sr)")
    _num(g, "u_total", _grid(energies, angles, b.energy_eV, b.angle_deg, b.u_total), "1e-20 m^2/sr", "total")
    aux = []
    for t in TERMS:
        _num(g, f"u_{t}", _grid(energies, angles, b.energy_eV, b.angle_deg, getattr(b, f"u_{t}")), "1e-20 m^2/sr",
             f"{t} term")
        aux.append(f"u_{t}")
    g.attrs["auxiliary_signals"] = aux
    _num(g, "dcs", _grid(energies, angles, b.energy_eV, b.angle_deg, b.dcs), "1e-20 m^2/sr", "absolute DCS")
    flags = _grid(energies, angles, b.energy_eV, b.angle_deg, b.flags, "", object)
    g.create_dataset("flags", data=flags, dtype=h5py.string_dtype("utf-8"))
    _axes(g, energies, angles)


def _volume(entry: h5py.Group, result: AbsoluteResult) -> None:
    sets = result.volume_sets
    energies = np.array(sorted({s.factors.energy_eV for s in sets}))
    angles = np.array(sorted({float(a) for s in sets for a in s.factors.angles_deg}))
    columns: dict[str, list] = {k: [] for k in ("e", "a", "c", "u", "norm", "near", "excl", "ref", "m", "um")}
    for s in sets:
        f = s.factors
        n = f.angles_deg.size
        columns["e"] += [f.energy_eV] * n
        columns["a"] += f.angles_deg.tolist()
        columns["c"] += f.factors.tolist()
        columns["u"] += f.errors.tolist()
        columns["norm"] += f.in_normalisation.tolist()
        columns["near"] += f.near_minimum.tolist()
        columns["excl"] += s.excluded.tolist()
        columns["ref"] += s.reference_dcs.tolist()
        columns["m"] += s.measured.tolist()
        columns["um"] += s.measured_err.tolist()
    g = _nxdata(entry, "volume_factors", "data", ("energy", "angle"), "effective-volume factors C(theta) from argon")
    e, a = columns["e"], columns["a"]
    _num(g, "data", _grid(energies, angles, e, a, columns["c"]), "1", "C = r/<r>_good, r = reference/R_Ar")
    _num(g, "data_errors", _grid(energies, angles, e, a, columns["u"]), "1", "standard uncertainty of C")
    for name, key, doc in (("in_normalisation", "norm", "1: in <r>_good"),
                           ("near_minimum", "near", "1: near a minimum of the reference"),
                           ("argon_excluded", "excl", "1: the argon point was flagged")):
        _num(g, name, _grid(energies, angles, e, a, columns[key], 0, np.uint8), None, doc, dtype="u1")
    _num(g, "reference_dcs", _grid(energies, angles, e, a, columns["ref"]), "1e-20 m^2/sr",
         "reference argon DCS convolved with the angular response")
    _num(g, "measured", _grid(energies, angles, e, a, columns["m"]), "arb", "relative argon DCS R_Ar")
    _num(g, "measured_errors", _grid(energies, angles, e, a, columns["um"]), "arb", "its statistics and stability")
    _axes(g, energies, angles)
    minima = [";".join(f"{x:g}" for x in s.factors.minima_deg) for s in sets]
    _strings(g, "reference_minima_deg", minima)


def _rfm(entry: h5py.Group, result: AbsoluteResult, rfm_runs: Sequence[RfmRun]) -> None:
    pts = result.cycle_points
    g = _nxdata(entry, "rfm_points", "dcs", ("point",), "absolute RFM points, one per (file, cycle, energy, angle)")
    _num(g, "point", np.arange(len(pts)), None, "point index", dtype="i4")
    _num(g, "dcs", [p.point.dcs for p in pts], "1e-20 m^2/sr", "DCS_Ar (I_x/I_Ar)(F_Ar/F_x)sqrt(M_Ar/M_x)")
    _num(g, "dcs_errors", [p.point.err_uncorrelated for p in pts], "1e-20 m^2/sr", "statistics and flow")
    columns = {
        "source_index": ([p.source_index for p in pts], None, "index of the --rfm file (process/inputs/rfm_N)"),
        "cycle": ([p.cycle for p in pts], None, "cycle"),
        "energy": ([p.energy_eV for p in pts], "eV", "incident energy"),
        "angle": ([p.angle_deg for p in pts], "deg", "scattering angle"),
        "err_stat": ([p.point.err_stat for p in pts], "1e-20 m^2/sr", "from the intensities' statistics"),
        "err_flow": ([p.point.err_flow for p in pts], "1e-20 m^2/sr", "from the flow fits"),
        "reference_dcs": ([p.reference_dcs for p in pts], "1e-20 m^2/sr", "convolved argon reference"),
        "intensity_ratio": ([p.intensity_ratio for p in pts], "1", "I_x / I_Ar"),
        "intensity_ratio_relative_err": ([p.intensity_ratio_err for p in pts], "1", "relative"),
        "density_ratio": ([p.density.value for p in pts], "1", "(F_Ar/F_x) sqrt(M_Ar/M_x)"),
        "density_ratio_relative_err": ([p.density.relative_err for p in pts], "1", "relative"),
        "target_intensity": ([p.target.intensity.cps_per_nA for p in pts], "1/(s nA)", "recomputed from the gates"),
        "target_intensity_stored": ([p.target.stored_cps_per_nA for p in pts], "1/(s nA)", "as the run stored it"),
        "reference_intensity": ([p.reference.intensity.cps_per_nA for p in pts], "1/(s nA)",
                                "recomputed from the gates"),
        "reference_intensity_stored": ([p.reference.stored_cps_per_nA for p in pts], "1/(s nA)",
                                       "as the run stored it"),
        "target_flow": ([p.target_flow.flow.molecules_per_s for p in pts], "1/s", "molecules/s"),
        "reference_flow": ([p.reference_flow.flow.molecules_per_s for p in pts], "1/s", "molecules/s"),
        "target_line_pressure": ([p.target.line_pressure_mbar for p in pts], "mbar", "over the signal gate"),
        "reference_line_pressure": ([p.reference.line_pressure_mbar for p in pts], "mbar", "over the signal gate"),
        "mfp_ratio": ([p.mfp_ratio for p in pts], "1", "lambda_target / lambda_reference at those pressures"),
    }
    for name, (values, units, doc) in columns.items():
        _num(g, name, values, units, doc, dtype="i4" if name in ("source_index", "cycle") else "f8")
    _strings(g, "flags", ["|".join(p.flags) for p in pts] or [""])

    comb = result.rfm_points
    g = _nxdata(entry, "rfm_combined", "dcs", ("point",), "RFM points, cycles combined per (energy, angle)")
    _num(g, "point", np.arange(len(comb)), None, "point index", dtype="i4")
    _num(g, "dcs", [c.point.dcs for c in comb], "1e-20 m^2/sr", "weighted mean over the cycles")
    _num(g, "dcs_errors", [c.point.err_uncorrelated for c in comb], "1e-20 m^2/sr", "statistics and flow")
    _num(g, "energy", [c.energy_eV for c in comb], "eV")
    _num(g, "angle", [c.angle_deg for c in comb], "deg")
    _num(g, "err_stat", [c.point.err_stat for c in comb], "1e-20 m^2/sr")
    _num(g, "err_flow", [c.point.err_flow for c in comb], "1e-20 m^2/sr")
    _num(g, "reference_relative_err", [c.point.reference_relative_err for c in comb], "1", "common, added once")
    _num(g, "n_cycles", [c.n_cycles for c in comb], None, dtype="i4")
    _num(g, "chi2_per_dof", [c.chi2_per_dof for c in comb], "1", "scatter of the cycles against their errors")

    flows = [(j, f) for j, run in enumerate(rfm_runs) for f in run.flows]
    g = _nxdata(entry, "flows", "flow", ("point",), "flows from the rate of rise (rise minus base)")
    _num(g, "point", np.arange(len(flows)), None, "flow index", dtype="i4")
    _num(g, "flow", [f.flow.molecules_per_s for _, f in flows], "1/s", "molecules/s")
    _num(g, "flow_errors", [f.flow.err_molecules_per_s for _, f in flows], "1/s", "from the two slope fits")
    _num(g, "source_index", [j for j, _ in flows], None, dtype="i4")
    _num(g, "cycle", [f.cycle for _, f in flows], None, dtype="i4")
    _num(g, "energy", [f.energy_eV for _, f in flows], "eV")
    _num(g, "gas_index", [f.gas_index for _, f in flows], None, dtype="i4")
    _strings(g, "gas", [f.gas for _, f in flows] or [""])
    for which in ("rise", "base"):
        fits = [getattr(f, which) for _, f in flows]
        _num(g, f"{which}_record", [r.record for r in fits], None, dtype="i4")
        _num(g, f"{which}_slope", [r.fit.slope_Pa_s for r in fits], "Pa/s")
        _num(g, f"{which}_slope_errors", [r.fit.slope_err_Pa_s for r in fits], "Pa/s")
        _num(g, f"{which}_points_fitted", [r.fit.n_points for r in fits], None, dtype="i4")
        _num(g, f"{which}_curvature_p", [r.fit.curvature_p for r in fits], "1")
    _num(g, "volume", [f.rise.volume_cm3 for _, f in flows], "cm^3")
    _num(g, "temperature", [f.rise.temperature_K for _, f in flows], "K")
    _num(g, "steady_pressure", [f.rise.steady_mbar for _, f in flows], "mbar", "line pressure before shutting")


def _scale_and_ics(entry: h5py.Group, result: AbsoluteResult) -> None:
    sc = result.scales
    g = _nxdata(entry, "scale", "k", ("energy",), "scale factors: DCS_abs = k C R")
    _num(g, "energy", [s.energy_eV for s in sc], "eV")
    _num(g, "k", [s.scale.k for s in sc], "1e-20 m^2/sr/arb", "scale factor")
    _num(g, "k_errors", [s.scale.err_uncorrelated for s in sc], "1e-20 m^2/sr/arb", "uncorrelated terms")
    _num(g, "err_common", [s.scale.err_common for s in sc], "1e-20 m^2/sr/arb", "the reference term, common")
    _num(g, "stat_relative_err", [s.scale.stat_relative_err for s in sc], "1", "budget term rfm_stat")
    _num(g, "flow_relative_err", [s.scale.flow_relative_err for s in sc], "1", "budget term flow")
    _num(g, "n_points", [s.scale.n_points for s in sc], None, dtype="i4")
    _strings(g, "rfm_angles_deg", [";".join(f"{a:g}" for a in s.angles_deg) for s in sc] or [""])
    for kind in ("ics", "mtcs"):
        items = result.ics
        g = _nxdata(entry, kind, "value", ("energy",),
                    "integral elastic cross section" if kind == "ics" else "momentum-transfer cross section")
        xs = [getattr(i.result, kind) for i in items]
        _num(g, "energy", [i.energy_eV for i in items], "eV")
        _num(g, "value", [x.value for x in xs], "1e-20 m^2")
        _num(g, "value_errors", [x.u_total for x in xs], "1e-20 m^2", "u_dcs, u_extrapolation, u_integration")
        _num(g, "u_dcs", [x.u_dcs for x in xs], "1e-20 m^2")
        _num(g, "u_extrapolation", [x.u_extrapolation for x in xs], "1e-20 m^2")
        _num(g, "u_integration", [x.u_integration for x in xs], "1e-20 m^2")
        _num(g, "window_fraction", [x.window_fraction for x in xs], "1", "part from inside the measured window")
        _strings(g, "method", [i.method for i in items] or [""])
        _strings(g, "shapes", ["; ".join(i.shape_names) for i in items] or [""])
        _str(g, "note", result.ics_note)


def write_absolute_h5(path: str | os.PathLike, result: AbsoluteResult, *, parameters: Mapping[str, Any],
                      sources: Sequence[RunSource], rfm_runs: Sequence[RfmRun], date: str) -> None:
    """Write the analysis file (see the module docstring) to ``path``."""
    b = result.budget
    energies, angles = np.unique(b.energy_eV), np.unique(b.angle_deg)
    with h5py.File(path, "w", libver=("v110", "v114")) as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        f.attrs["file_name"] = "absolute.h5"
        f.attrs["file_time"] = date
        f.attrs["creator"] = PROGRAM
        f.attrs["creator_version"] = software_version()
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        f.attrs["h5py_version"] = h5py.version.version
        entry = _group(f, "entry", "NXentry")
        entry.attrs["default"] = "absolute_dcs"
        _str(entry, "title", f"absolute elastic DCS of {result.target_gas.name} (relative flow method against "
                             f"{result.reference_gas.name})")
        _str(entry, "start_time", date)
        _str(entry, "program_name", PROGRAM, version=software_version())
        _process(entry, result, parameters, sources, date)
        _absolute(entry, result, energies, angles)
        _volume(entry, result)
        _rfm(entry, result, rfm_runs)
        _scale_and_ics(entry, result)

