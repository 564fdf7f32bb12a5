"""What the power bus and the thermal node share: a clock integrated forward in time.

:class:`Clocked` holds the time up to which a model's state is integrated (``_t``, read as
:attr:`~Clocked.t_s`) and checks a time asked of it: a finite number of seconds (not a
boolean), not before the clock, with the model's own messages (``_OWNER``: ``PowerBus``,
``ThermalNode``), the messages the compiled fleet gives too
(:func:`orbsched._kernels.fleet_support.check_time`).
"""
from __future__ import annotations

import math

import numpy as np

from .._kernels.fleet_support import check_time

__all__ = ["Clocked"]

_INF = math.inf
_F64 = np.float64


class Clocked:
    """Base of the models integrated in time (module docstring)."""

    __slots__ = ("_t",)
    _OWNER = ""
    _t: float

    @property
    def t_s(self) -> float:
        """Time up to which the state is integrated (s)."""
        return self._t

    def _check_time(self, t_s) -> None:
        tt = type(t_s)
        if (tt is float or tt is _F64) and self._t <= t_s < _INF:
            return  # the common case, fast
        check_time(self._OWNER, t_s, self._t)
