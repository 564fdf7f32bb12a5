"""The one number check of orbsched: finite, in range, and not a boolean.

:func:`number_problem` says what is wrong with a value meant as a number (or None); models,
specs and policies call :func:`check_number` (raises ``error``, :class:`SubsystemError` by
default, naming the owner and field); the data-file readers :func:`parse_number` (a text field
of a file: raises :class:`DataFileError` naming the file, line and column).  The scenario's
pydantic sections apply the same rule through
:class:`orbsched.scenario.schema_base.StrictModel`.  A NaN compares false, so without this it
passes every ``x > 0`` check and silently turns physics off; a boolean is an int to Python.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import DataFileError, OrbschedError, SubsystemError

__all__ = ["check_number", "number_problem", "parse_number"]


def _range_text(lo, hi, lo_open, hi_open=False):
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    return f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"


def number_problem(value: object, lo: float | None = None, hi: float | None = None,
                   lo_open: bool = False, integer: bool = False, *, hi_open: bool = False,
                   allow_inf: bool = False) -> str | None:
    """None when ``value`` is a number (not a boolean), finite unless ``allow_inf``, in
    [lo, hi] (``lo_open`` / ``hi_open``: open at that end), and whole with ``integer``; else
    what was expected, e.g. ``"expected a finite number in [0, inf], got nan"``."""
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, float, np.integer, np.floating)):
        return f"expected a number, got {value!r}"
    v = float(value)
    bad = math.isnan(v) or (math.isinf(v) and not allow_inf)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or (v >= hi if hi_open else v > hi)
    if not bad and integer and v != int(v):
        return f"expected a whole number, got {value!r}"
    if bad:
        what = "a number" if allow_inf else "a finite number"
        if lo is None and hi is None:
            return f"expected {what}, got {value!r}"
        return f"expected {what} in {_range_text(lo, hi, lo_open, hi_open)}, got {value!r}"
    return None


def check_number(owner: str, name: str, value: object, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, allow_none: bool = False,
                 integer: bool = False, *, hi_open: bool = False, allow_inf: bool = False,
                 error: type[OrbschedError] = SubsystemError) -> None:
    """Raise ``error`` unless ``value`` passes :func:`number_problem` (``allow_none``: None
    passes too)."""
    if type(value) is float and value == value and lo is not None and hi is None \
            and not lo_open and not integer and lo <= value < math.inf:
        return  # the common case, fast (engine hot paths)
    if value is None and allow_none:
        return
    problem = number_problem(value, lo, hi, lo_open, integer, hi_open=hi_open,
                             allow_inf=allow_inf)
    if problem is not None:
        raise error(f"{owner}.{name}: {problem}")


def parse_number(text: object, path: object, line: int | None, column: str,
                 lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> float:
    """The number in a data file's field ``text`` (a string or a number), finite and in
    range, else :class:`DataFileError` naming ``path``, ``line`` and ``column``."""
    value: object
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
    assert isinstance(value, (int, float, np.integer, np.floating))    # number_problem checked
    return float(value)
