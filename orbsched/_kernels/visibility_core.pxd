# The pair tests the visibility kernels share (visibility.pyx, visibility_near.pyx): the
# arithmetic of orbsched._kernels.reference._pair_test, in its order (bit for bit).

cdef inline bint _clear(double ax, double ay, double az, double bx, double by, double bz,
                        double rg2) noexcept nogil:
    """The occlusion test of ``reference._pair_test`` (a = lower index), its arithmetic."""
    cdef double dx = bx - ax, dy = by - ay, dz = bz - az
    cdef double d2 = (dx * dx + dy * dy) + dz * dz
    cdef double s, u, cx, cy, cz, c2
    s = -((ax * dx + ay * dy) + az * dz)
    if s <= 0.0:
        return ((ax * ax + ay * ay) + az * az) >= rg2
    u = (bx * dx + by * dy) + bz * dz
    if u <= 0.0:
        return ((bx * bx + by * by) + bz * bz) >= rg2
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    c2 = (cx * cx + cy * cy) + cz * cz
    return c2 >= rg2 * d2


cdef inline bint _pair(double ax, double ay, double az, double bx, double by, double bz,
                       double r2max, double rg2, double* d2out) noexcept nogil:
    """Same test and the same arithmetic as ``reference._pair_test``."""
    cdef double dx = bx - ax, dy = by - ay, dz = bz - az
    cdef double d2 = (dx * dx + dy * dy) + dz * dz
    d2out[0] = d2
    if not (d2 <= r2max):
        return 0
    return _clear(ax, ay, az, bx, by, bz, rg2)
