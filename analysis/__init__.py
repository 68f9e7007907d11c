"""Analysis of run files: run files -> reader -> analysis -> export, in one direction.

Analysis reads what acquisition stored (:mod:`acquisition.storage.reader`) and the pure
physics of a point (:mod:`acquisition.reduction`, :mod:`acquisition.counting`); it never
imports the engine, the apparatus, drivers or simulators (import-linter checks it), so
it runs on any machine with the files.

* :mod:`.reduce`: a DCS run reduced again from its stored gates, through the same
  ``acquisition.reduction.DcsReducer`` the run used live (same numbers; or another
  detector model or effective-volume table).
* :mod:`.export`: one CSV row per (energy, angle), sweeps combined.
"""
