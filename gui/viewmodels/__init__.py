"""The GUI's Qt-free view-models: plain Python and numpy, fed by events and by the file
follower alike, tested with plain pytest.  Nothing here may import PySide6 or pyqtgraph
(import-linter checks it in CI): views draw what these hold, and hold no logic.

Every model has a ``version`` that counts up on each change; a view redraws only when
it differs from the one it last drew.

* :mod:`.records`: PointRecord / LogRecord, from events and from run-file rows
* :mod:`.dcs_plot`: DcsPlotModel (per-energy DCS curves with flags, overlay or average)
* :mod:`.strip_chart`: RingBuffer, downsample_minmax, StripChartModel
* :mod:`.health`: HealthModel (connection lights)
* :mod:`.run_control`: RunControlModel (buttons, progress, ETA, interlocks)
* :mod:`.panel`: PanelModel (apparatus status, monitors, count-rate meter)
* :mod:`.log`: LogModel (bounded log panel)
* :mod:`.run_view`: RunViewModel (owns them all; live events and file updates share one path)
"""

from .dcs_plot import MODES, Curve, DcsPlotModel, RateCurve
from .health import HealthModel
from .log import LogModel
from .panel import Meter, PanelModel
from .records import LogRecord, PointRecord, log_record, log_records, point_record, point_records
from .run_control import RunControlModel, format_duration
from .run_view import RunViewModel
from .strip_chart import RingBuffer, StripChartModel, downsample_minmax
from .timebase import TimeBase

__all__ = [
    "MODES", "Curve", "DcsPlotModel", "RateCurve", "HealthModel", "LogModel", "Meter", "PanelModel",
    "LogRecord", "PointRecord", "log_record", "log_records", "point_record", "point_records",
    "RunControlModel", "format_duration", "RunViewModel", "RingBuffer", "StripChartModel",
    "downsample_minmax", "TimeBase",
]
