"""orbsched: a discrete-event simulator of constellations of AI-compute satellites.

Public API (small on purpose):

* :func:`load_scenario` - read and strictly validate a scenario YAML file
* :func:`compute_geometry` - fleet, eclipse intervals and sunlight statistics
* :func:`paths` - routes and round-trip times between node pairs over time
  (:mod:`orbsched.pathseries`; the ``orbsched paths`` command)
* :data:`accelerated` - True when the compiled Cython kernels run (``ORBSCHED_PURE=1`` forces the
  numpy twins)
* :class:`OrbschedError` - root of every error orbsched raises for bad input
"""
from ._version import __version__
from ._kernels import ACCELERATED as accelerated
from .errors import OrbschedError, ScenarioError, DataFileError, PropagationError
from .config import load_scenario, scenario_from_dict
from .geometry import compute_geometry
from .pathseries import paths

__all__ = ["__version__", "accelerated", "load_scenario", "scenario_from_dict",
           "compute_geometry", "paths", "OrbschedError", "ScenarioError", "DataFileError",
           "PropagationError"]
