"""Small argument checks shared by the subsystem models (errors name the owner and field)."""
from __future__ import annotations

import math

import numpy as np

from .errors import SubsystemError


def check_number(owner, name, value, lo=None, hi=None, lo_open=False, allow_none=False):
    """Raise SubsystemError unless ``value`` is a finite number in [lo, hi] (or (lo, hi])."""
    if type(value) is float and value == value and lo is not None and hi is None \
            and not lo_open and lo <= value < math.inf:
        return  # the common case, fast (engine hot paths)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SubsystemError(f"{owner}.{name}: expected a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or v > hi
    if bad:
        left = "(" if lo_open else "["
        rng = f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise SubsystemError(f"{owner}.{name}: expected a finite number in {rng}, got {value!r}")
