"""Procedures: *what* a run measures, one module each, run by :mod:`acquisition.runner`.

A procedure lists its points, says what goes into the run-start record, prepares the
apparatus and measures one point at a time through the runner's services (retries,
counting under the interlocks, monitors, messages).  A new kind of run (argon
effective volume, relative flow, lens tuning) is a new module here and an entry in
:data:`PROCEDURES`, plus its point result type in
:data:`acquisition.reduction.RESULT_TYPES`; the runner does not change.

* :mod:`.dcs`: the relative-DCS angular scan of a plan (:class:`~.dcs.DcsScan`).
* :mod:`.volume`: the argon effective-volume run (:class:`~.volume.VolumeScan`).
* :mod:`.rfm`: the relative flow method (:class:`~.rfm.RfmScan`).
"""

from __future__ import annotations

from .dcs import DcsScan
from .rfm import RfmScan
from .volume import VolumeScan

#: run kind -> procedure class
PROCEDURES = {cls.kind: cls for cls in (DcsScan, VolumeScan, RfmScan)}


def procedure_for(plan, config, *, operator=None):
    """The procedure that runs ``plan`` (its ``kind``) on the apparatus ``config``;
    ``operator`` sets what xbeam cannot (the leak valves of an RFM run)."""
    cls = PROCEDURES[plan.kind]
    return cls(plan, config, operator) if cls is RfmScan else cls(plan, config)


__all__ = ["PROCEDURES", "DcsScan", "RfmScan", "VolumeScan", "procedure_for"]
