"""Kernel selection: the compiled Cython kernels, or their numpy twins.

This is the one place that decides.  ``ACCELERATED`` is True when the compiled extensions were
built and imported and ``ORBSCHED_PURE`` is not set to a true value (``1``, ``true``, ``yes``);
``orbsched.accelerated`` re-exports it.  The twins live in :mod:`orbsched._kernels.reference`
with the same names and signatures; every module takes its kernels from here.

The fleet's kernels (``fleet.pyx``: ``FleetKernel``; ``fleet_search.pyx``: ``HostSearch``) are
selected here too.
Its twin drives the validated models (:class:`orbsched.models.power.PowerBus`,
:class:`orbsched.models.thermal.ThermalNode`), which sit in a layer above this package, so it
lives in :mod:`orbsched.engine.fleet_twin`: ``FleetKernel`` is None when the twins are
selected, and :mod:`orbsched.engine.fleet` then takes the twin.  ``HostSearch``'s twin is
:class:`orbsched._kernels.reference_fleet.HostSearch`.  :func:`relax_rk4_k` (the batch
temperature step) is the same function in both modes.
"""
from __future__ import annotations

import os

from . import reference, reference_fleet
from .reference_fleet import relax_rk4_k  # noqa: F401 - not switched: numpy in both modes

KERNEL_NAMES = ("shadow_functions", "isl_candidates", "isl_nearest", "isl_pairs_visible",
                "ground_elevation", "nearest_hosts", "shortest_path", "slot_lengths",
                "time_between_k", "temperature_after_k")


def _pure_requested():
    return os.environ.get("ORBSCHED_PURE", "").strip().lower() in ("1", "true", "yes", "on")


def _load_compiled():
    try:
        from . import fleet as _fleet
        from . import fleet_search as _fleet_search
        from . import graph as _graph
        from . import shadow as _shadow
        from . import thermal as _thermal
        from . import visibility as _visibility
    except ImportError as exc:
        return None, f"compiled kernels not importable ({exc})"
    return {"shadow_functions": _shadow.shadow_functions,
            "isl_candidates": _visibility.isl_candidates,
            "isl_nearest": _visibility.isl_nearest,
            "isl_pairs_visible": _visibility.isl_pairs_visible,
            "ground_elevation": _visibility.ground_elevation,
            "nearest_hosts": _graph.nearest_hosts,
            "shortest_path": _graph.shortest_path,
            "slot_lengths": _graph.slot_lengths,
            "time_between_k": _thermal.time_between_k,
            "temperature_after_k": _thermal.temperature_after_k,
            "FleetKernel": _fleet.FleetKernel,
            "HostSearch": _fleet_search.HostSearch}, None


_compiled, WHY_NOT_ACCELERATED = (None, "ORBSCHED_PURE is set") if _pure_requested() \
    else _load_compiled()
ACCELERATED = _compiled is not None

_chosen = _compiled if ACCELERATED else {n: getattr(reference, n) for n in KERNEL_NAMES}
shadow_functions = _chosen["shadow_functions"]
isl_candidates = _chosen["isl_candidates"]
isl_nearest = _chosen["isl_nearest"]
isl_pairs_visible = _chosen["isl_pairs_visible"]
ground_elevation = _chosen["ground_elevation"]
nearest_hosts = _chosen["nearest_hosts"]
shortest_path = _chosen["shortest_path"]
slot_lengths = _chosen["slot_lengths"]
time_between_k = _chosen["time_between_k"]
temperature_after_k = _chosen["temperature_after_k"]
#: The compiled fleet kernel class, or None when the twins are selected (see above).
FleetKernel = _compiled["FleetKernel"] if ACCELERATED else None
HostSearch = _compiled["HostSearch"] if ACCELERATED else reference_fleet.HostSearch


def compiled_kernels():
    """The compiled kernels by name (for tests and benchmarks), or ``None`` if not built."""
    return _load_compiled()[0]
