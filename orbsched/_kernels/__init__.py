"""Kernel selection: the compiled Cython kernels, or their numpy twins.

This is the one place that decides, kernel by kernel: a kernel runs compiled when its extension
module was built and imports and ``ORBSCHED_PURE`` is not set to a true value (``1``, ``true``,
``yes``), else its twin (the same results: the tests hold them bit-identical).  ``KERNELS``
says which runs for each kernel; ``ACCELERATED`` is True when every kernel runs compiled;
``orbsched.accelerated`` is :data:`STATUS`, a :class:`KernelStatus` that is true or false as
``ACCELERATED`` and tells each kernel's mode (``orbsched.accelerated["shadow_functions"]``).

When an extension module is missing and the twins were not asked for, importing orbsched
warns (:class:`~orbsched.scenario.errors.OrbschedWarning`) naming the modules and the folder
they were looked for in: Python started in a source tree that was never built (``pip install
.`` builds the installed copy, but ``import orbsched`` from the repository's root finds the
tree first) runs about 2x slower with no other sign.  The twins live in
:mod:`orbsched._kernels.reference` with the same names and signatures; every module takes its
kernels from here.

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

import importlib
import os
import warnings
from pathlib import Path

from ..scenario.errors import OrbschedWarning
from . import reference, reference_fleet
from .reference_fleet import relax_rk4_k  # noqa: F401 - not switched: numpy in both modes

__all__ = ["ACCELERATED", "KERNELS", "KERNEL_NAMES", "KernelStatus", "STATUS",
           "WHY_NOT_ACCELERATED", "compiled_kernels"]

KERNEL_NAMES = ("shadow_functions", "isl_candidates", "isl_nearest", "isl_pairs_visible",
                "ground_elevation", "nearest_hosts", "shortest_path", "slot_lengths",
                "time_between_k", "temperature_after_k")
#: The compiled extension modules and the kernels each provides.
MODULES = {"shadow": ("shadow_functions",),
           "visibility": ("isl_candidates",),
           "visibility_near": ("isl_nearest", "isl_pairs_visible", "ground_elevation"),
           "graph": ("nearest_hosts", "shortest_path", "slot_lengths"),
           "thermal": ("time_between_k", "temperature_after_k"),
           "fleet": ("FleetKernel",),
           "fleet_search": ("HostSearch",)}


def _pure_requested():
    return os.environ.get("ORBSCHED_PURE", "").strip().lower() in ("1", "true", "yes", "on")


def _load_modules():
    """``({kernel: compiled function or class}, {module: why it did not import})``."""
    found, missing = {}, {}
    for module, names in MODULES.items():
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ImportError as exc:
            missing[module] = str(exc)
            continue
        found.update({n: getattr(mod, n) for n in names})
    return found, missing


def _load_compiled():
    found, missing = _load_modules()
    if missing:
        return None, f"compiled kernels not importable ({'; '.join(missing.values())})"
    return found, None


class KernelStatus:
    """Which kernels run compiled: true when all do (``bool(orbsched.accelerated)``),
    ``status[name]`` for one kernel, ``status.kernels`` ({name: "compiled" or "twin"}),
    ``status.why`` (why some run as twins; "" when none do).  Printed, it is ``True`` or
    ``False``; its ``repr`` lists the kernels by mode."""

    def __init__(self, kernels: dict, why: str):
        self.kernels = dict(kernels)
        self.why = why

    def __bool__(self) -> bool:
        return all(v == "compiled" for v in self.kernels.values())

    def __getitem__(self, name: str) -> bool:
        return self.kernels[name] == "compiled"

    def __iter__(self):
        return iter(self.kernels)

    def __len__(self) -> int:
        return len(self.kernels)

    def __eq__(self, other) -> bool:
        if isinstance(other, KernelStatus):
            return self.kernels == other.kernels
        if isinstance(other, bool):
            return bool(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bool(self))

    def __str__(self) -> str:
        return str(bool(self))

    def __repr__(self) -> str:
        by = {m: [k for k, v in self.kernels.items() if v == m] for m in ("compiled", "twin")}
        return (f"<orbsched kernels: {bool(self)}; compiled: {', '.join(by['compiled']) or 'none'}"
                f"; twins: {', '.join(by['twin']) or 'none'}"
                + (f" ({self.why})" if self.why else "") + ">")


WHY_NOT_ACCELERATED: str | None
if _pure_requested():
    _found, _missing = {}, {}
    WHY_NOT_ACCELERATED = "ORBSCHED_PURE is set"
else:
    _found, _missing = _load_modules()
    WHY_NOT_ACCELERATED = (f"compiled kernels not importable "
                           f"({'; '.join(_missing.values())})") if _missing else None
    if _missing:
        warnings.warn(OrbschedWarning(
            f"compiled kernels not found for {', '.join(sorted(_missing))} in "
            f"{Path(__file__).parent}: running their numpy twins (same results, about 2x "
            f"slower). A source tree that was never built? Build it in place (pip install -e "
            f".), or start Python outside the repository to use the installed copy; "
            f"ORBSCHED_PURE=1 selects the twins on purpose"), stacklevel=2)

_ALL = KERNEL_NAMES + ("FleetKernel", "HostSearch")
#: Each kernel's mode: "compiled" or "twin".
KERNELS = {n: "compiled" if n in _found else "twin" for n in _ALL}
STATUS = KernelStatus(KERNELS, WHY_NOT_ACCELERATED or "")
ACCELERATED = bool(STATUS)

_chosen = {n: _found.get(n, getattr(reference, n)) for n in KERNEL_NAMES}
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
#: The compiled fleet kernel class, or None when its twin is selected (see above).
FleetKernel = _found.get("FleetKernel")
HostSearch = _found.get("HostSearch", reference_fleet.HostSearch)


def compiled_kernels():
    """The compiled kernels by name (for tests and benchmarks), or ``None`` if not built."""
    return _load_compiled()[0]
