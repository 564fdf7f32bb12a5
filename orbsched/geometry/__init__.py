"""The geometry stage: constellations, ephemerides, sunlight and shadow, visibility, contact
plans and their on-disk cache.

Vectorised and compiled (``orbsched._kernels``), computed once per span, and consumed by the
engine as timed events; no SimPy here.  Imports only :mod:`orbsched.scenario`, the kernels and
the atomic file helpers (:mod:`orbsched.files`).
"""
