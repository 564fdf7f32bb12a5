"""The one number check of orbsched: finite, in range, and not a boolean.

:func:`number_problem` says what is wrong with a value meant as a number (or None); the
subsystem models call :func:`check_number` (raises :class:`SubsystemError` naming the owner and
field), the data-file readers :func:`parse_number` (a text field of a file: raises
:class:`DataFileError` naming the file, line and column).  The scenario's pydantic sections
apply the same rule through :class:`orbsched.schema_base.StrictModel`.  A NaN compares false,
so without this it passes every ``x > 0`` check and silently turns physics off.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import DataFileError, SubsystemError

__all__ = ["check_number", "number_problem", "parse_number"]


def _range_text(lo, hi, lo_open):
    left = "(" if lo_open else "["
    return f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"


def number_problem(value, lo=None, hi=None, lo_open=False, integer=False):
    """None when ``value`` is a finite number (not a boolean) in [lo, hi] (or (lo, hi]), and
    a whole one with ``integer``, else what was expected, e.g. ``"expected a finite number in
    [0, inf], got nan"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return f"expected a number, got {value!r}"
    v = float(value)
    bad = not math.isfinite(v)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or v > hi
    if not bad and integer and v != int(v):
        return f"expected a whole number, got {value!r}"
    if bad:
        if lo is None and hi is None:
            return f"expected a finite number, got {value!r}"
        return f"expected a finite number in {_range_text(lo, hi, lo_open)}, got {value!r}"
    return None


def check_number(owner, name, value, lo=None, hi=None, lo_open=False, allow_none=False,
                 integer=False):
    """Raise SubsystemError unless ``value`` is a finite number in [lo, hi] (or (lo, hi]),
    whole with ``integer``; ``allow_none`` lets None through."""
    if type(value) is float and value == value and lo is not None and hi is None \
            and not lo_open and not integer and lo <= value < math.inf:
        return  # the common case, fast (engine hot paths)
    if value is None and allow_none:
        return
    problem = number_problem(value, lo, hi, lo_open, integer)
    if problem is not None:
        raise SubsystemError(f"{owner}.{name}: {problem}")


def parse_number(text, path, line, column, lo=None, hi=None, lo_open=False):
    """The number in a data file's field ``text`` (a string or a number), finite and in
    range, else :class:`DataFileError` naming ``path``, ``line`` and ``column``."""
    if isinstance(text, str):
        try:
            value = float(text.strip())
        except ValueError:
            raise DataFileError(path, line, f"column {column}: expected a number, got "
                                            f"{text!r}") from None
    elif text is None:
        raise DataFileError(path, line, f"column {column}: missing value")
    else:
        value = text
    problem = number_problem(value, lo, hi, lo_open)
    if problem is not None:
        raise DataFileError(path, line, f"column {column}: {problem}")
    return float(value)
