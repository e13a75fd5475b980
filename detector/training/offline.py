"""Keep ultralytics off the network: no hub events, no font or weight downloads.

Training needs nothing remote, but ultralytics fetches ``Arial.ttf`` when it checks a dataset
and for plots, pings the hub, and would download ``yolo11n.pt`` for the AMP check on GPU. We set
``YOLO_OFFLINE``, disable AMP and plots, and point the font lookup at a font that is on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib


def local_font(_: str = "Arial.ttf") -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def offline_ultralytics() -> Any:
    """Import ultralytics with every download path closed; returns the ``YOLO`` class."""
    os.environ["YOLO_OFFLINE"] = "1"  # read by ultralytics.utils.is_online()
    import ultralytics.data.utils as data_utils
    import ultralytics.utils as ul_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting
    from ultralytics import YOLO

    ul_utils.ONLINE = False
    checks.check_font = local_font
    data_utils.check_font = local_font
    plotting.check_font = local_font
    return YOLO
