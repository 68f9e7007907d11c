"""The absolute scale (issue 10): pure physics and analysis, no I/O of run files.

Each module has one job and cites the section of ``shared/PHYSICS.md`` it implements;
``docs/absolute.md`` says what each computes, the formulas and the pitfalls.

* :mod:`.linearity`: the detector's linearity check (beam-current steps, §2).
* :mod:`.rate_of_rise`: flow from the rate of pressure rise in a known volume (§3).
* :mod:`.mean_free_path`: equal-mean-free-path pressures (§3).
* :mod:`.rfm`: the relative flow method: one point, cycles, scaling a relative DCS (§3).
* :mod:`.volume`: effective-volume factors C(theta) against a reference argon DCS (§4).
* :mod:`.budget`: the uncertainty budget in quadrature, every term kept (§5).
* :mod:`.ics`: integral and momentum-transfer cross sections (§6).
* :mod:`.table1`: the study's Table 1 layout, its CSV/TXT writers and budget.csv.

Imports: numpy, scipy, ``foundation`` and the pure ``acquisition.counting``; never the
engine, the apparatus or drivers (import-linter).
"""
