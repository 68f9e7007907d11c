"""Checking TOML files into typed objects: the toolkit under every xbeam config file.

The apparatus file (:mod:`acquisition.config`) and plans (:mod:`acquisition.plans`)
are read with :class:`Reader` and :class:`Table`, whose getters validate as they read
and collect every problem of a file instead of stopping at the first: a
:class:`ConfigError` lists them all, one line each, naming the file, the key path
(``electrodes.cathode.max_V``), the bad value and what is allowed.  Unknown keys are
errors too (a typo must never be silently ignored), with a "did you mean".

The allowed keys of a section and the defaults of its optional keys come from the
frozen dataclass the section becomes (:func:`keys_of`, :func:`default_of`), so they are
written once, where the type is.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MISSING",
    "REQUIRED",
    "ConfigError",
    "ConfigIssue",
    "Reader",
    "Table",
    "default_of",
    "is_number",
    "key_path",
    "keys_of",
    "one_of",
    "plain_data",
    "read_source",
    "show",
    "suggestion",
]

# ====================================================================== errors


class _Missing:
    """Marker for "the key is absent" (distinct from any TOML value)."""

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self):
        return "MISSING"


MISSING: Any = _Missing()
#: default= marker for "this key must be present"
REQUIRED: Any = object()


def show(value: Any, limit: int = 70) -> str:
    """A short TOML-like rendering of a value for an error message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k} = {show(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show(v, limit) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where (key path), what was found (value) and what is allowed."""

    key: str
    value: Any
    allowed: str

    def line(self, source: str) -> str:
        if not self.key:  # the file as a whole (unreadable, not TOML)
            return f"{source}: {self.allowed}"
        if self.value is MISSING:
            return f"{source}: {self.key}: missing; {self.allowed}"
        return f"{source}: {self.key} = {show(self.value)}: {self.allowed}"


class ConfigError(ValueError):
    """Invalid configuration: every problem of one file, one per line.

    ``source`` is the file (or ``"<string>"``), ``issues`` the problems, each with
    ``key``, ``value`` and ``allowed``.
    """

    def __init__(self, source: str | Path, issues: Iterable[ConfigIssue]) -> None:
        self.source = str(source)
        self.issues = tuple(issues)
        super().__init__("\n".join(issue.line(self.source) for issue in self.issues))

    @classmethod
    def single(cls, source: str | Path, key: str, value: Any, allowed: str) -> ConfigError:
        return cls(source, [ConfigIssue(key, value, allowed)])

    def __reduce__(self):
        return (type(self), (self.source, self.issues))


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def one_of(candidates: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in candidates)


# ====================================================================== reading


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key_path(parent: str, key: str) -> str:
    """Dotted key path as TOML spells it (keys with dots or spaces quoted)."""
    part = key if _BARE_KEY.match(key) else json.dumps(key)
    return f"{parent}.{part}" if parent else part


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Reader:
    """Collects the problems of one file; see :class:`Table` for the typed getters."""

    def __init__(self, source: str | Path) -> None:
        self.source = str(source)
        self.issues: list[ConfigIssue] = []

    def error(self, key: str, value: Any, allowed: str) -> None:
        self.issues.append(ConfigIssue(key, value, allowed))

    def parse(self, text: str) -> Table | None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.error("", MISSING, f"not valid TOML: {exc}")
            return None
        return Table(self, data, "")

    def raise_if_errors(self) -> None:
        if self.issues:
            raise ConfigError(self.source, self.issues)


class Table:
    """A TOML table at ``path`` inside a file, with validating getters.

    Getters return ``None`` after recording an issue (or when an optional key is
    absent with ``default=None``), so that validation goes on and every problem of the
    file is reported at once.
    """

    def __init__(
        self, reader: Reader, data: Mapping[str, Any], path: str, allowed: Iterable[str] | None = None
    ) -> None:
        self.reader = reader
        self.data = data
        self.path = path
        if allowed is not None:
            self.reject_unknown(allowed)

    # -------------------------------------------------------------- structure
    def key(self, name: str) -> str:
        return key_path(self.path, name)

    def has(self, name: str) -> bool:
        return name in self.data

    def keys(self) -> list[str]:
        return list(self.data)

    def error(self, name: str, value: Any, allowed: str) -> None:
        self.reader.error(self.key(name), value, allowed)

    def reject_unknown(self, allowed: Iterable[str], what: str = "key") -> None:
        allowed = list(allowed)
        absent = [a for a in allowed if a not in self.data]
        for name, value in self.data.items():
            if name not in allowed:
                # a misspelt key usually stands for one that is absent: suggest those first
                hint = suggestion(name, absent) or suggestion(name, allowed)
                self.error(name, value, f"unknown {what}; {hint}allowed: {one_of(allowed) or 'none'}")

    def _get(self, name: str, default: Any, what: str) -> Any:
        if name in self.data:
            return self.data[name]
        if default is REQUIRED:
            self.error(name, MISSING, f"required ({what})")
        return MISSING

    def table(
        self, name: str, allowed: Iterable[str] | None = None, *, required: bool = True, what: str = "a table"
    ) -> Table | None:
        value = self.data.get(name, MISSING)
        if value is MISSING:
            if required:
                self.error(name, MISSING, f"required ({what})")
            return None
        if not isinstance(value, dict):
            self.error(name, value, f"must be a table ({what})")
            return None
        return Table(self.reader, value, self.key(name), allowed)

    def subtables(self, what: str) -> dict[str, Table]:
        """Every entry of this table, each of which must itself be a table."""
        out = {}
        for name, value in self.data.items():
            if isinstance(value, dict):
                out[name] = Table(self.reader, value, self.key(name))
            else:
                self.error(name, value, f"must be a table ({what})")
        return out

    # -------------------------------------------------------------- scalars
    def number(
        self,
        name: str,
        *,
        default: Any = REQUIRED,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        what: str = "",
    ) -> float | None:
        """A finite number (int or float) within the given bounds."""
        allowed = _bounds_text("a number", gt, ge, lt, le, what)
        value = self._get(name, default, allowed)
        if value is MISSING:
            return None if default is REQUIRED else default
        if not _number_ok(value, gt, ge, lt, le):
            self.error(name, value, f"must be {allowed}")
            return None
        return float(value)

    def integer(
        self,
        name: str,
        *,
        default: Any = REQUIRED,
        ge: int | None = None,
        lt: int | None = None,
        le: int | None = None,
        what: str = "",
    ) -> int | None:
        allowed = _bounds_text("an integer", None, ge, lt, le, what)
        value = self._get(name, default, allowed)
        if value is MISSING:
            return None if default is REQUIRED else default
        if not (isinstance(value, int) and not isinstance(value, bool)) or not _number_ok(value, None, ge, lt, le):
            self.error(name, value, f"must be {allowed}")
            return None
        return int(value)

    def string(
        self, name: str, *, default: Any = REQUIRED, choices: Sequence[str] | None = None, what: str = ""
    ) -> str | None:
        if choices is not None:
            allowed = f"one of {one_of(choices)}"
        else:
            allowed = "a non-empty string" + (f" ({what})" if what else "")
        value = self._get(name, default, allowed)
        if value is MISSING:
            return None if default is REQUIRED else default
        if not isinstance(value, str) or not value.strip():
            self.error(name, value, f"must be {allowed}")
            return None
        if choices is not None and value not in choices:
            self.error(name, value, f"{suggestion(value, choices)}must be {allowed}")
            return None
        return value

    def text(self, name: str, *, default: Any = REQUIRED) -> str | None:
        """Free text (may be empty)."""
        value = self._get(name, default, "a string")
        if value is MISSING:
            return None if default is REQUIRED else default
        if not isinstance(value, str):
            self.error(name, value, "must be a string")
            return None
        return value

    def boolean(self, name: str, *, default: Any = REQUIRED) -> bool | None:
        value = self._get(name, default, "true or false")
        if value is MISSING:
            return None if default is REQUIRED else default
        if not isinstance(value, bool):
            self.error(name, value, "must be true or false")
            return None
        return value

    # -------------------------------------------------------------- lists
    def number_list(
        self,
        name: str,
        *,
        default: Any = REQUIRED,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        increasing: bool = False,
        unique: bool = False,
        length: int | None = None,
        what: str = "",
    ) -> tuple[float, ...] | None:
        """A non-empty list of finite numbers; element problems are reported as ``key[i]``."""
        element = _bounds_text("a number", gt, ge, lt, le, "")
        allowed = f"a non-empty list of numbers, each {element}"
        if increasing:
            allowed += ", strictly increasing"
        elif unique:
            allowed += ", no duplicates"
        if length is not None:
            allowed += f", {length} entries"
        if what:
            allowed += f" ({what})"
        value = self._get(name, default, allowed)
        if value is MISSING:
            return None if default is REQUIRED else default
        if not isinstance(value, list) or not value:
            self.error(name, value, f"must be {allowed}")
            return None
        ok = True
        for i, item in enumerate(value):
            if not _number_ok(item, gt, ge, lt, le):
                self.reader.error(f"{self.key(name)}[{i}]", item, f"must be {element}")
                ok = False
        if not ok:
            return None
        numbers = tuple(float(v) for v in value)
        if length is not None and len(numbers) != length:
            self.error(
                name, value, f"must have {length} entries{(' (' + what + ')') if what else ''}, not {len(numbers)}"
            )
            return None
        if increasing:
            for i in range(1, len(numbers)):
                if numbers[i] <= numbers[i - 1]:
                    self.reader.error(
                        f"{self.key(name)}[{i}]",
                        value[i],
                        f"must be greater than the previous entry {show(value[i - 1])} (strictly increasing)",
                    )
                    ok = False
        elif unique:
            seen: dict[float, int] = {}
            for i, v in enumerate(numbers):
                if v in seen:
                    self.reader.error(
                        f"{self.key(name)}[{i}]", value[i], f"duplicate of entry [{seen[v]}]; no duplicates allowed"
                    )
                    ok = False
                seen.setdefault(v, i)
        return numbers if ok else None


def _number_ok(value: Any, gt, ge, lt, le) -> bool:
    if not is_number(value) or not math.isfinite(value):
        return False
    return (
        (gt is None or value > gt)
        and (ge is None or value >= ge)
        and (lt is None or value < lt)
        and (le is None or value <= le)
    )


def _bounds_text(kind: str, gt, ge, lt, le, what: str) -> str:
    parts = []
    if gt is not None:
        parts.append(f"> {show(gt)}")
    if ge is not None:
        parts.append(f">= {show(ge)}")
    if lt is not None:
        parts.append(f"< {show(lt)}")
    if le is not None:
        parts.append(f"<= {show(le)}")
    text = kind + (" " + " and ".join(parts) if parts else "")
    return text + (f" ({what})" if what else "")


def read_source(path: str | Path) -> tuple[Path, str]:
    """Read a config file, turning OS and encoding errors into :class:`ConfigError`."""
    path = Path(path)
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(path, "", MISSING, f"cannot read the file: {exc}") from exc


def plain_data(value: Any) -> Any:
    """Plain data (dict, list, str, int, float, bool, None) for a run file."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ====================================================================== schema from dataclasses


def keys_of(cls: type, *, exclude: Iterable[str] = ("name",)) -> tuple[str, ...]:
    """The TOML keys of a section that becomes ``cls``: its field names, less those that
    do not come from the file (``name`` is the table's own key)."""
    excluded = set(exclude)
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in excluded)


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of ``cls``, or :data:`REQUIRED` if it has none:
    what a getter's ``default=`` takes for that key."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return REQUIRED
    raise KeyError(f"{cls.__name__} has no field {name!r}")
