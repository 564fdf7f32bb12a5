"""Sweeps: a grid or random sample of scenarios and seeds, planned, executed on local
processes or a Dask cluster, resumed after an interruption."""

from ..analysis.compare import collect
from .execute import run_sweep
from .plan import Sweep, load_sweep

__all__ = ["Sweep", "collect", "load_sweep", "run_sweep"]
