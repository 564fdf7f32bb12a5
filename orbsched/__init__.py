"""orbsched: a discrete-event simulator of constellations of AI-compute satellites.

Public API (small on purpose):

* :func:`load_scenario` - read and strictly validate a scenario YAML file
* :func:`compute_geometry` - fleet, eclipse intervals and sunlight statistics
* :func:`paths` - routes and round-trip times between node pairs over time
  (:mod:`orbsched.network.paths`; the ``orbsched paths`` command)
* :data:`accelerated` - true when the compiled Cython kernels run (``ORBSCHED_PURE=1`` forces the
  numpy twins); ``accelerated["shadow_functions"]`` and ``repr(accelerated)`` per kernel
* :class:`OrbschedError` - root of every error orbsched raises for bad input
"""
from ._kernels import STATUS as accelerated
from ._version import __version__
from .geometry.stage import compute_geometry
from .network.paths import paths
from .scenario.errors import (
           DataFileError,
           OrbschedError,
           PropagationError,
           ScenarioError,
)
from .scenario.schema import load_scenario, scenario_from_dict

__all__ = ["__version__", "accelerated", "load_scenario", "scenario_from_dict",
           "compute_geometry", "paths", "OrbschedError", "ScenarioError", "DataFileError",
           "PropagationError"]
