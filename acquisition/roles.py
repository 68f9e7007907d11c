"""The roles of the apparatus: what :class:`~acquisition.apparatus.Apparatus` needs of
the instrument that fills each one, as a typing Protocol.

An apparatus file names its instruments by role (``[instruments.gauges]``, ...; any
other name is a high-voltage module).  A model may fill a role when its driver class
has every member of the role's protocol: the role-to-model table is derived from the
drivers, not written down, so a new gauge controller is a new driver module and nothing
else.  One role may be filled by several models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from drivers import MODELS, driver_class

__all__ = [
    "HV_MODULE",
    "OPTIONAL_ROLES",
    "ROLES",
    "Counter",
    "FilamentSupply",
    "GaugeController",
    "Goniometer",
    "HVModule",
    "Picoammeter",
    "ValveRelays",
    "models_for",
    "satisfies",
]


class _Instrument(Protocol):
    """What every role needs: identity for the connection check and the snapshot, the
    remembered state asked again at each run, and closing."""

    def identity(self) -> str: ...
    def snapshot(self) -> dict[str, Any]: ...
    def refresh_state(self) -> None: ...
    def close(self) -> None: ...


class GaugeController(_Instrument, Protocol):
    """The dual gauge controller: chamber gauge and needle-line manometer."""

    def pressures(self) -> tuple[Any, Any]: ...
    def pressure(self, channel: int) -> Any: ...


class FilamentSupply(_Instrument, Protocol):
    """The filament current supply."""

    voltage: float
    current: float  #: the setpoint
    output: bool
    measured_current: float
    measured_voltage: float

    def ramp_current_to(self, target_A: float, *, step_A: float, step_delay_s: float) -> float: ...


class Goniometer(_Instrument, Protocol):
    """The analyzer turntable."""

    position_deg: float

    def state(self) -> Any: ...
    def home(self) -> None: ...
    def move_to(self, angle_deg: float) -> float: ...
    def stop(self) -> None: ...


class Counter(_Instrument, Protocol):
    """The channeltron pulse counter."""

    def count_subgates(self, subgate_s: float, n: int, check: Callable[[list[int]], bool] | None = None) -> Any: ...


class Picoammeter(_Instrument, Protocol):
    """The Faraday-cup picoammeter."""

    def configure_for_beam(self) -> None: ...
    def read_current(self) -> float: ...


class ValveRelays(_Instrument, Protocol):
    """The relay module switching needle / side leak."""

    def relay_on(self, relay: int) -> None: ...
    def relay_off(self, relay: int) -> None: ...
    def states(self) -> list[bool]: ...


class HVModule(_Instrument, Protocol):
    """A high-voltage module carrying electrodes (any instrument name that is not a role)."""

    def ramp_to(self, targets: Mapping[str, float]) -> None: ...
    def emergency_off(self, electrode: str) -> None: ...
    def channel_status(self, electrode: str) -> Any: ...
    def clear_emergency(self, electrode: str) -> None: ...
    def voltage_setpoint(self, electrode: str) -> float: ...
    def measured_voltage(self, electrode: str) -> float: ...


#: role (instrument name in an apparatus file) -> what it must do
ROLES: dict[str, type] = {
    "gauges": GaugeController,
    "filament": FilamentSupply,
    "goniometer": Goniometer,
    "counter": Counter,
    "picoammeter": Picoammeter,
    "valves": ValveRelays,
}
#: roles an apparatus may fill: a second gauge controller for the manometer of the
#: reference gas line (the relative flow method; a TPG 362 has two channels)
OPTIONAL_ROLES: dict[str, type] = {
    "line_gauges": GaugeController,
}
#: the protocol of every instrument that is not one of the roles
HV_MODULE = HVModule


def _members(protocol: type) -> set[str]:
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass is Protocol or not getattr(klass, "_is_protocol", False):
            continue
        names |= {n for n in vars(klass) if not n.startswith("_")}
        names |= set(getattr(klass, "__annotations__", {}))
    return names


def satisfies(cls: type, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``cls`` lacks (empty: it can fill the role)."""
    return sorted(name for name in _members(protocol) if not hasattr(cls, name))


def models_for(protocol: type) -> list[str]:
    """Every model whose driver can fill a role with this protocol."""
    out = []
    for model in MODELS:
        try:
            cls = driver_class(model)
        except ImportError:
            continue
        if not satisfies(cls, protocol):
            out.append(model)
    return out


def role_what(protocol: type) -> str:
    """The protocol's one-line description, for messages."""
    return (protocol.__doc__ or protocol.__name__).strip().splitlines()[0].rstrip(".")
