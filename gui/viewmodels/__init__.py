"""The GUI's Qt-free view-models: plain Python and numpy, fed by events and by the file
follower alike, tested with plain pytest.  Nothing here may import PySide6 or pyqtgraph
(import-linter checks it in CI): views draw what these hold, and hold no logic.

Empty until the GUI issue builds the models (per-energy DCS arrays with flags, strip-chart
ring buffers, instrument health); the rule is in force now so that the first one obeys it.
"""
