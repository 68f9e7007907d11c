"""Instrument drivers, one module per model: the module's name is the model's name.

A model's module declares ``DRIVER`` (its class, a subclass of
:class:`drivers.base.Instrument` with its constructor ``options``) and may declare
``ALIASES`` (older model names that apparatus files may still use).  :data:`MODELS` and
:func:`driver_class` are derived from the modules found in this package, so a new
model is one new module (and its emulator and tests) with no edit elsewhere.

Modules are imported on first use: a model whose module fails to import (a missing
optional dependency) is reported when it is asked for, and does not break the others.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

__all__ = ["MODELS", "aliases", "canonical_model", "driver_class"]

#: modules of this package that are not models
_SHARED = frozenset({"base", "errors", "transport", "testing"})

#: model names (module names), sorted
MODELS: tuple[str, ...] = tuple(
    sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _SHARED and not m.name.startswith("_"))
)


@cache
def _module(model: str):
    return importlib.import_module(f"{__name__}.{model}")


@cache
def aliases() -> dict[str, str]:
    """Older model name -> model name, from the modules' ``ALIASES``."""
    out = {}
    for model in MODELS:
        try:
            module = _module(model)
        except ImportError:  # reported when that model is asked for
            continue
        out.update({alias: model for alias in getattr(module, "ALIASES", ())})
    return out


def canonical_model(model: str) -> str | None:
    """The model name for ``model`` or one of its aliases (any case); None if unknown."""
    key = model.lower()
    if key in MODELS:
        return key
    return aliases().get(key)


def driver_class(model: str):
    """The driver class for ``model`` (or an alias); ValueError listing the known models otherwise."""
    name = canonical_model(model)
    if name is None:
        known = sorted({*MODELS, *aliases()})
        raise ValueError(f"unknown instrument model {model!r}: one of {', '.join(known)}")
    return _module(name).DRIVER
