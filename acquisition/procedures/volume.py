"""The effective-volume run: the DCS scan of the reference gas (argon) through the needle.

The viewed interaction volume grows at small angles (PHYSICS.md §4); the ratio of a
reference DCS to what is measured here *is* the per-angle correction, so this run
applies none: its relative DCS is the net rate per nA per mbar times sin(angle) only.
It is an ordinary run of a plan of ``kind = "volume"`` (same points, tune, interlocks,
background, resume and file layout as a DCS run); the gas goes through the line that
holds it (``[gas_lines.reference] gas = "argon"``).  ``xbeam absolute --volume`` turns
it into factors C(E, theta).
"""

from __future__ import annotations

from typing import ClassVar

from .dcs import DcsScan

__all__ = ["VolumeScan"]


class VolumeScan(DcsScan):
    kind: ClassVar[str] = "volume"
    applies_effective_volume: ClassVar[bool] = False
