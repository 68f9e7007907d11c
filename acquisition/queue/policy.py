"""The unattended policy of a queue, and the safe states it may put the apparatus in.

Per queue (stored in the queue's database, set by ``xbeam queue config`` or a queue
TOML file), with a per-item override of the three fault settings:

``pause_timeout_s``
    A run paused on a device fault that outlived its retries waits this long (clock
    time) for someone to resume it; then the policy acts.  ``none``: wait for ever.
``suspend_limit_s``
    An interlock suspension that has not recovered after this long: the policy acts.
``on_fault``
    What the policy does after putting the apparatus in ``fault_state``, recording the
    reason and notifying: ``skip`` (go on with the next item) or ``stop`` (the queue).
``fault_state``, ``end_state``
    The safe state after a policy action or an unrecoverable error, and at the end of
    the queue: ``safe`` (channeltron off, gas closed, filament hot), ``standby`` (also
    every electrode to standby) or ``shutdown`` (also the filament ramped down).
``notify``, ``notify_timeout_s``
    The notification hook (:mod:`.notify`): a shell command, and how long it may take.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from acquisition.apparatus import SAFE, SHUTDOWN, EndState

from .errors import QueueError

__all__ = ["FAULT_ACTIONS", "ITEM_OVERRIDES", "SAFE_STATES", "QueuePolicy", "parse_policy_file", "safe_state"]

FAULT_ACTIONS = ("skip", "stop")

#: name -> what the apparatus is left in (the order of the steps: Apparatus.apply_end_state)
SAFE_STATES: dict[str, EndState] = {
    "safe": SAFE,
    "standby": EndState(electrodes_standby=True),
    "shutdown": SHUTDOWN,
}

SAFE_STATE_TEXT = {
    "safe": "channeltron HV off, gas closed (filament left hot)",
    "standby": "channeltron HV off, electrodes to standby, gas closed (filament left hot)",
    "shutdown": "channeltron HV off, electrodes to standby, gas closed, filament ramped down",
}

#: the settings an item may override
ITEM_OVERRIDES = ("pause_timeout_s", "suspend_limit_s", "on_fault")


def safe_state(name: str) -> EndState:
    return SAFE_STATES[name]


@dataclass(frozen=True)
class QueuePolicy:
    pause_timeout_s: float | None = 1800.0
    suspend_limit_s: float | None = 3600.0
    on_fault: str = "skip"
    fault_state: str = "shutdown"
    end_state: str = "shutdown"
    notify: str = ""
    notify_timeout_s: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueuePolicy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def for_item(self, overrides: dict[str, Any]) -> QueuePolicy:
        """This policy with an item's overrides applied."""
        return replace(self, **{k: v for k, v in overrides.items() if k in ITEM_OVERRIDES})

    def with_values(self, source: str, values: dict[str, Any]) -> QueuePolicy:
        """A copy with ``values`` (already typed) checked; :class:`QueueError` names the
        first bad one."""
        checked = {}
        for key, value in values.items():
            checked[key] = check_setting(source, key, value)
        return replace(self, **checked)


def check_setting(source: str, key: str, value: Any) -> Any:
    """One setting, checked: its typed value, or :class:`QueueError` naming ``source``,
    the key, the value and what is allowed."""
    if key in ("pause_timeout_s", "suspend_limit_s"):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        number = _number(value)
        if number is None or not (math.isfinite(number) and number > 0):
            raise QueueError(f"{source}: {key} = {value!r}: must be a number of seconds > 0, or none (wait for ever)")
        return number
    if key == "notify_timeout_s":
        number = _number(value)
        if number is None or not (math.isfinite(number) and number > 0):
            raise QueueError(f"{source}: {key} = {value!r}: must be a number of seconds > 0")
        return number
    if key == "on_fault":
        if value not in FAULT_ACTIONS:
            raise QueueError(f"{source}: {key} = {value!r}: must be one of {', '.join(FAULT_ACTIONS)}")
        return value
    if key in ("fault_state", "end_state"):
        if value not in SAFE_STATES:
            raise QueueError(f"{source}: {key} = {value!r}: must be one of {', '.join(SAFE_STATES)}")
        return value
    if key == "notify":
        if not isinstance(value, str):
            raise QueueError(f"{source}: {key} = {value!r}: must be a string (a shell command; empty: none)")
        return value
    allowed = ", ".join(f.name for f in fields(QueuePolicy))
    raise QueueError(f"{source}: {key}: unknown setting; allowed: {allowed}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_policy_file(path, base: QueuePolicy | None = None) -> QueuePolicy:
    """A queue TOML file (``[policy]`` with the settings above; ``none`` as the string
    "none" for no limit): the policy, or :class:`QueueError` for the first problem."""
    import tomllib

    from acquisition.tomlcheck import ConfigError, read_source

    try:
        path, text = read_source(path)
    except ConfigError as exc:
        raise QueueError(str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QueueError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"policy"})
    if unknown:
        raise QueueError(f"{path}: {unknown[0]}: unknown section; allowed: policy")
    table = data.get("policy", {})
    if not isinstance(table, dict):
        raise QueueError(f"{path}: policy = {table!r}: must be a table")
    return (base or QueuePolicy()).with_values(f"{path}: policy", table)
