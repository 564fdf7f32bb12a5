"""Sweeps: a grid or random sample of scenarios and seeds, planned, executed on local
processes or a Dask cluster, resumed after an interruption."""
