# FleetKernel, for fleet_search.pyx (HostSearch reads the fleet's State, held by FleetBase).
from .fleet_base cimport FleetBase


cdef class FleetKernel(FleetBase):
    pass
