"""The bottom layer: what every other layer uses and nothing of the project's own.

* :mod:`foundation.clock`: the one clock every wait goes through (real, scaled, virtual).
* :mod:`foundation.dcs_table`: DCS tables (CSV) and the reference tables xbeam ships
  (``foundation/data``: the isoflurane Table 1 and the computed argon DCS).

Drivers, simulators, acquisition, analysis and the GUI import from here; this package
imports only the standard library and numpy (import-linter checks it in CI).  It is its
own package rather than a corner of ``acquisition`` so that drivers and simulators,
which must never import acquisition, have somewhere to get a clock from.
"""
