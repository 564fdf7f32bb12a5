# FleetBase: the arrays and State of the compiled fleet (FleetKernel derives from it;
# fleet_search.pyx's HostSearch reads the State).
from .fleet_core cimport State


cdef class FleetBase:
    cdef State S
    cdef readonly Py_ssize_t n
    cdef readonly object gpus, held, drawing, replica, rebooting, free, failed, has_thermal
    cdef readonly object state, illum, speed, load_w, array_w, array_full_w, k_active_w
    cdef readonly object battery_start_s, stored_wh, t_bus_s, rate_w, capacity_wh, floor_wh
    cdef readonly object payload_floor_wh, max_discharge_w, temperature_k, t_node_s, heat_in_j
    cdef readonly object radiated_j, dark_s, last_touch_s, threshold_s, energy_ws, busy_gpu_s
    cdef object _arrays, _node_idx, _node_beta
    cdef double _t0

    cdef _bind(self, dict a, list kc)
    cdef Py_ssize_t _idx(self, object i) except -1
    cdef double _bus_time(self, object t, Py_ssize_t i) except? -1.0
    cdef double _node_time(self, object t, Py_ssize_t i) except? -1.0
    cdef double _temperature_now(self, Py_ssize_t j, object t) except? -1.0
    cdef double _query(self, object t, Py_ssize_t i) except? -1.0
    cdef int _node_to(self, Py_ssize_t i, double t_s) except -1
    cdef double _node_next_gil(self, Py_ssize_t i) except? -1.0
    cdef double _threshold(self, Py_ssize_t i) except? -1.0
    cdef double _query_all(self, object t) except? -1.0


cdef double _qtime(object t, str owner) except? -1.0
