"""Link models that depend on geometry alone: the rate of a laser link as a function of its
length (used by the contact plan's rate-change table and by the network)."""
from __future__ import annotations

import numpy as np

from ..scenario.errors import NetworkError

__all__ = ["isl_rate_gbps"]


def isl_rate_gbps(isl_rate, range_km, bandwidth_gbps=None):
    """Rate of laser links ``range_km`` long under ``network.isl_rate`` (array or scalar).

    ``near_far``: ``max_gbps`` up to ``near_field_km``, then ``max_gbps (near_field_km / d)^2``:
    beyond the near field the received power, and so the rate, falls with the square of the
    distance (Suncatcher; ../shared/CONTEXT.md).  ``constant``: ``bandwidth_gbps`` everywhere.
    """
    d = np.asarray(range_km, dtype=float)
    if isl_rate.model == "constant":
        if bandwidth_gbps is None:
            raise NetworkError("the constant ISL rate model needs bandwidth_gbps")
        return np.full(d.shape, float(bandwidth_gbps)) if d.ndim else float(bandwidth_gbps)
    if isl_rate.model != "near_far":
        raise NetworkError(f"unknown ISL rate model {isl_rate.model!r}; expected constant or "
                           f"near_far")
    near = float(isl_rate.near_field_km)
    ratio = near / np.maximum(d, near)
    out = float(isl_rate.max_gbps) * ratio * ratio
    return out if d.ndim else float(out)
