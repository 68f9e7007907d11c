"""Analysis of run files: run files -> reader -> analysis -> export, in one direction.

Analysis reads what acquisition stored (:mod:`acquisition.storage.reader`) and the pure
physics of a point (:mod:`acquisition.reduction`, :mod:`acquisition.counting`); it never
imports the engine, the apparatus, drivers or simulators (import-linter checks it), so
it runs on any machine with the files.

* :mod:`.export`: one CSV row per (energy, angle), sweeps combined.
"""
