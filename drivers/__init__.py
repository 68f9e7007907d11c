"""Instrument drivers, one module per model.

``driver_class(model)`` maps the model names used in apparatus files and on the
``xbeam probe`` command line to driver classes (imported on demand, so a missing
optional dependency of one model does not break the others).
"""

from __future__ import annotations

import importlib

__all__ = ["MODELS", "driver_class"]

#: model name -> (module, class)
MODELS: dict[str, tuple[str, str]] = {
    "tpg362": ("drivers.pfeiffer_tpg362", "TPG362"),
    "iseg_hv": ("drivers.iseg_hv", "IsegHV"),
    "keysight_e36xx": ("drivers.keysight_e36xx", "KeysightE36xx"),
    "newport_smc100": ("drivers.newport_smc100", "NewportSMC100"),
    "keysight_53230a": ("drivers.keysight_53230a", "Keysight53230A"),
    "keithley_6485": ("drivers.keithley_6485", "Keithley6485"),
    "numato_relay": ("drivers.numato_relay", "NumatoRelay"),
}


def driver_class(model: str):
    """The driver class for ``model``; ValueError listing the known models otherwise."""
    try:
        module, cls = MODELS[model.lower()]
    except KeyError:
        raise ValueError(f"unknown instrument model {model!r}: one of {', '.join(sorted(MODELS))}") from None
    return getattr(importlib.import_module(module), cls)
