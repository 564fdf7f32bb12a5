# The thermal integrals of thermal.pyx, shared with fleet.pyx (cimported; the definitions and
# their documentation are in thermal.pyx).  ``bad`` is set where the pure-Python twin must take
# over (an argument Python would reject, or Newton not settling: the twin's Brent fallback).
cdef double _time_between(double a, double b, double u, double beta, bint* bad) noexcept nogil
cdef double _temperature_after(double a, double dt, double u, double beta,
                               bint* bad) noexcept nogil
