"""Faults: radiation upsets, permanent failures and a fault script, drawn before the run.

Radiation
    Each GPU sees four independent upset processes - silent data corruption (SDC), HBM
    uncorrectable error, chip crash, host reboot - each a Poisson process *in accumulated dose*
    with one event per ``rad_per_*`` rad (the proton-test figures of ../shared/CONTEXT.md).  The
    dose rate of a satellite is piecewise constant: ``M x r`` inside the South Atlantic Anomaly
    and ``r`` outside, with ``r`` chosen so that the satellite's mean over the run is
    ``dose_rad_per_year``: ``r = d / (1 + (M - 1) f)``, ``f`` its fraction of time inside.  The
    SAA entry and exit times come from the geometry (:mod:`orbsched.geometry.regions`), so they
    are exact rate changes, not samples.  Event times are drawn exactly: uniform positions in
    cumulative dose, mapped back to time through the piecewise-linear dose clock.  The GPU hit is
    uniform over the satellite's GPUs.

Permanent failures
    Each GPU fails after an exponential time with rate ``gpu_annual_failure_rate x
    space_multiplier`` per year; each satellite and each laser terminal likewise with their
    rates.  The script adds explicit faults.

SIMPLIFICATIONS: dose is the only driver (no dependence on solar activity, altitude or
shielding beyond the one rate); the four upset kinds are independent; a GPU hit is uniform over
the satellite's GPUs, busy or not.
"""
from __future__ import annotations

import numpy as np

from ..scenario.constants import YEAR_S

__all__ = ["FAULT_KINDS", "draw_faults"]

#: fault kinds (index = code in the arrays)
FAULT_KINDS = ("sdc", "hbm_ue", "crash", "host_reboot", "gpu_fail", "satellite_fail",
               "terminal_fail", "link_down", "link_up")


def _dose_clock(span_s, starts, ends, r_out, r_in):
    """Breakpoints (t, cumulative dose) of a piecewise-constant dose rate."""
    t = [0.0]
    d = [0.0]
    cur = 0.0
    for a, b in zip(starts, ends):
        a, b = max(a, 0.0), min(b, span_s)
        if b <= a:
            continue
        d.append(d[-1] + (a - cur) * r_out)
        t.append(a)
        d.append(d[-1] + (b - a) * r_in)
        t.append(b)
        cur = b
    d.append(d[-1] + (span_s - cur) * r_out)
    t.append(span_s)
    return np.asarray(t), np.asarray(d)


def draw_faults(n_sats, gpus, span_s, faults, saa_intervals, rng):
    """All random faults of a run: arrays ``t_s, sat, kind, gpu`` (time-ordered; ``gpu`` is
    the GPU index hit, or -1), plus per-satellite SAA fractions (for the record)."""
    ts, ss, ks, gs = [], [], [], []
    rad = faults.radiation
    frac = np.zeros(n_sats)
    if rad.enabled and rad.dose_rad_per_year > 0 and gpus > 0:
        d_avg = rad.dose_rad_per_year / YEAR_S                  # rad per second
        m = rad.saa.multiplier if rad.saa is not None else 1.0
        per_kind = (rad.rad_per_sdc, rad.rad_per_hbm_ue, rad.rad_per_crash,
                    rad.rad_per_host_reboot)
        if saa_intervals is not None and len(saa_intervals):
            order = np.lexsort((saa_intervals.start_s, saa_intervals.sat))
            sat_sorted = saa_intervals.sat[order]
            st, en = saa_intervals.start_s[order], saa_intervals.end_s[order]
            bounds = np.searchsorted(sat_sorted, np.arange(n_sats + 1))
        else:
            st = en = np.zeros(0)
            bounds = np.zeros(n_sats + 1, int)
        for i in range(n_sats):
            a, b = st[bounds[i]:bounds[i + 1]], en[bounds[i]:bounds[i + 1]]
            f = float(np.sum(np.minimum(b, span_s) - np.maximum(a, 0.0))) / span_s
            frac[i] = f
            r_out = d_avg / (1.0 + (m - 1.0) * f)
            t_b, d_b = _dose_clock(span_s, a, b, r_out, m * r_out)
            total = d_b[-1]
            for k, rad_per in enumerate(per_kind):
                n = rng.poisson(gpus * total / rad_per)
                if n == 0:
                    continue
                dose = np.sort(rng.uniform(0.0, total, n))
                ts.append(np.interp(dose, d_b, t_b))
                ss.append(np.full(n, i))
                ks.append(np.full(n, k))
                gs.append(rng.integers(0, gpus, n))
    mult = faults.space_multiplier

    def permanent(rate_per_year, count_per_sat, kind):
        rate = rate_per_year * mult / YEAR_S
        if rate <= 0 or count_per_sat <= 0:
            return
        life = rng.exponential(1.0 / rate, size=(n_sats, count_per_sat))
        s_idx, u_idx = np.nonzero(life < span_s)
        ts.append(life[s_idx, u_idx])
        ss.append(s_idx)
        ks.append(np.full(len(s_idx), kind))
        gs.append(u_idx if kind == 4 else np.full(len(s_idx), -1))

    permanent(faults.gpu_annual_failure_rate, gpus, 4)
    permanent(faults.satellite_annual_failure_rate, 1, 5)
    permanent(faults.terminal_annual_failure_rate, faults.terminals_per_sat, 6)
    if not ts:
        z = np.zeros(0)
        return z, z.astype(np.int64), z.astype(np.int8), z.astype(np.int64), frac
    t = np.concatenate(ts)
    sat = np.concatenate(ss).astype(np.int64)
    kind = np.concatenate(ks).astype(np.int8)
    gpu = np.concatenate(gs).astype(np.int64)
    order = np.lexsort((gpu, kind, sat, t))
    return t[order], sat[order], kind[order], gpu[order], frac
