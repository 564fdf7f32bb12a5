"""The one number check (errors name the owner and field, and say what was expected).

NaN compares false, so a NaN passes every ``x > 0`` test and silently turns physics off; a
boolean is an int to Python.  Every model, spec and reader checks its numbers here.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import OrbschedError, SubsystemError


def check_number(owner: str, name: str, value: object, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, allow_none: bool = False, *,
                 hi_open: bool = False, allow_inf: bool = False,
                 error: type[OrbschedError] = SubsystemError) -> None:
    """Raise ``error`` unless ``value`` is a number (not a boolean) in [lo, hi] (``lo_open``,
    ``hi_open``: open at that end), finite unless ``allow_inf``; None passes when
    ``allow_none``."""
    if type(value) is float and value == value and lo is not None and hi is None \
            and not lo_open and lo <= value < math.inf:
        return  # the common case, fast (engine hot paths)
    if value is None and allow_none:
        return
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{owner}.{name}: expected a number, got {value!r}")
    v = float(value)
    bad = math.isnan(v) or (math.isinf(v) and not allow_inf)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or (v >= hi if hi_open else v > hi)
    if bad:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        what = "a number" if allow_inf else "a finite number"
        rng = f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"
        raise error(f"{owner}.{name}: expected {what} in {rng}, got {value!r}")
