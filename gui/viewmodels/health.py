"""The instrument panel's connection lights: one state per instrument, from the
``InstrumentHealth`` events and nothing else (the runner and the session publish them
when an instrument starts retrying, fails beyond its retries, or answers again).

Why a model: the lights must say since when an instrument is in trouble and why, and
keep the apparatus file's order so that the panel does not reshuffle as events come.
"""

from __future__ import annotations

from collections.abc import Iterable

from acquisition.events import InstrumentHealth

__all__ = ["HealthModel", "STATES"]

#: from best to worst; "unknown": nothing heard of the instrument yet
STATES = ("ok", "unknown", "retrying", "fault")
_RANK = {s: i for i, s in enumerate(STATES)}


class HealthModel:
    def __init__(self, instruments: Iterable[str] = ()) -> None:
        # name -> (state, reason, since_t); dicts keep insertion order: config order first
        self._states: dict[str, tuple[str, str, float | None]] = {
            name: ("unknown", "", None) for name in instruments
        }
        self.version = 0

    def set_instruments(self, instruments: Iterable[str]) -> None:
        """Add instruments in config order (added: a RunStart's apparatus names them)."""
        changed = False
        for name in instruments:
            if name not in self._states:
                self._states[name] = ("unknown", "", None)
                changed = True
        if changed:
            self.version += 1

    def on_health(self, event: InstrumentHealth) -> None:
        state = event.state if event.state in _RANK else "fault"  # an unknown word is not good news
        old = self._states.get(event.instrument)
        # "since" is when this state began: repeated reports of the same trouble keep it
        since = old[2] if old is not None and old[0] == state else event.t
        new = (state, event.reason, since)
        if new != old:
            self._states[event.instrument] = new
            self.version += 1

    def state(self, name: str) -> tuple[str, str, float | None]:
        """(state, reason, since_t); ("unknown", "", None) for an instrument never heard of."""
        return self._states.get(name, ("unknown", "", None))

    def items(self) -> list[tuple[str, str, str]]:
        """(name, state, reason) in config order, then in order of first mention."""
        return [(name, state, reason) for name, (state, reason, _) in self._states.items()]

    def worst(self) -> str:
        """The worst state of any instrument ("unknown" when none is known at all)."""
        if not self._states:
            return "unknown"
        return max((s for s, _, _ in self._states.values()), key=_RANK.__getitem__)
