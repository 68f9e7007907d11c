"""Procedures: *what* a run measures, one module each, run by :mod:`acquisition.runner`.

A procedure lists its points, says what goes into the run-start record, prepares the
apparatus and measures one point at a time through the runner's services (retries,
counting under the interlocks, monitors, messages).  A new kind of run (argon
effective volume, relative flow, lens tuning) is a new module here and an entry in
:data:`PROCEDURES`, plus its point result type in
:data:`acquisition.reduction.RESULT_TYPES`; the runner does not change.

* :mod:`.dcs`: the relative-DCS angular scan of a plan (:class:`~.dcs.DcsScan`).
"""

from __future__ import annotations

from .dcs import DcsScan

#: run kind -> procedure class
PROCEDURES = {DcsScan.kind: DcsScan}

__all__ = ["PROCEDURES", "DcsScan"]
