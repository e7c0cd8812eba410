"""The toy task's preprocessing for its ONNX export (numpy and pandas only).

Copied into every export of a toy model, where the loader
(``fg_automl_onnx.py``) calls :func:`preprocess`; nothing here may import
torch or finegrain-automl.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def preprocess(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The network's input ``x``: the trained-on columns as float32 ``[n, k]``."""
    missing = [column for column in spec["columns"] if column not in frame.columns]
    if missing:
        raise ValueError(f"Column {missing[0]!r} is missing from the rows to predict. Add it.")
    return {"x": frame[spec["columns"]].to_numpy(np.float32)}
