"""The contact plan's tables as time-ordered link events, validated, for
:meth:`orbsched.network.laser.LaserNetwork.replay`.

Each failure is one :class:`~orbsched.scenario.errors.NetworkError` naming the table, column
and row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..scenario.errors import NetworkError

__all__ = ["ISL_COLUMNS", "GROUND_COLUMNS", "RANGE_COLUMNS", "RATE_COLUMNS", "check_table",
           "rate_events", "window_events", "link_events"]

#: Required columns of the contact-plan window tables (``range_km`` and ``rate_gbps`` optional).
ISL_COLUMNS = ("sat_a", "sat_b", "start_s", "end_s")
GROUND_COLUMNS = ("station", "sat", "start_s", "end_s")
#: Range at link start, first found wins (``range_start_km`` is the contact plan's name).
RANGE_COLUMNS = ("range_km", "range_start_km")
#: Required columns of a rate-change table (``range_km`` optional): see
#: :func:`orbsched.geometry.contacts.compute_contact_plan` (``plan.isl_rate_changes``).
RATE_COLUMNS = ("t_s", "sat_a", "sat_b", "rate_gbps")


def check_table(table, cols, what, optional):
    """Raise NetworkError unless ``table`` is a DataFrame with the columns ``cols``."""
    if not isinstance(table, pd.DataFrame):
        raise NetworkError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise NetworkError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}, "
                           f"expected {list(cols)} (+ optional {optional})")


def rate_events(rate_changes, n_sats: int):
    """Validated arrays (t, a, b, rate, range) of a rate-change table, or None."""
    if rate_changes is None or len(rate_changes) == 0:
        return None
    what = "rate_changes"
    check_table(rate_changes, RATE_COLUMNS, what, "range_km")
    t = rate_changes["t_s"].to_numpy(dtype=float)
    rate = rate_changes["rate_gbps"].to_numpy(dtype=float)
    bad = ~(np.isfinite(t) & np.isfinite(rate) & (rate > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NetworkError(f"{what} row {rate_changes.index[i]!r}: need a finite t_s and a "
                           f"finite rate_gbps > 0, got t_s={t[i]}, rate_gbps={rate[i]}")
    ab = []
    for col in ("sat_a", "sat_b"):
        arr = rate_changes[col].to_numpy()
        if not np.issubdtype(arr.dtype, np.integer) or (
                arr.min() < 0 or arr.max() >= n_sats):
            raise NetworkError(f"{what}.{col} must hold satellite indices "
                               f"0..{n_sats - 1}; got dtype {arr.dtype}, range "
                               f"{arr.min()}..{arr.max()}")
        ab.append(arr.astype(np.int64))
    rng = (rate_changes["range_km"].to_numpy(dtype=float) if "range_km" in
           rate_changes.columns else np.full(len(t), np.nan))
    return t, ab[0], ab[1], rate, rng

def window_events(isl_windows, ground_windows, *, n_sats: int, stations, station_node: dict,
                  acquisition_s: float, now: float):
    """Merge both window tables into time-ordered (t, kind, a, b, rate, range, start)."""
    parts = []
    for table, cols, what in ((isl_windows, ISL_COLUMNS, "isl_windows"),
                              (ground_windows, GROUND_COLUMNS, "ground_windows")):
        if table is None or len(table) == 0:
            continue
        check_table(table, cols, what, "range_km, rate_gbps")
        start = table["start_s"].to_numpy(dtype=float)
        end = table["end_s"].to_numpy(dtype=float)
        bad = ~(np.isfinite(start) & np.isfinite(end) & (end >= start))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise NetworkError(f"{what} row {table.index[i]!r}: need finite start_s <= end_s, "
                               f"got start_s={start[i]}, end_s={end[i]}")
        if what == "isl_windows":
            a = table["sat_a"].to_numpy()
            b = table["sat_b"].to_numpy()
            for arr, col in ((a, "sat_a"), (b, "sat_b")):
                if not np.issubdtype(arr.dtype, np.integer) or len(arr) and (
                        arr.min() < 0 or arr.max() >= n_sats):
                    raise NetworkError(f"{what}.{col} must hold satellite indices "
                                       f"0..{n_sats - 1}; got dtype {arr.dtype}, range "
                                       f"{arr.min()}..{arr.max()}")
            if (a == b).any():
                raise NetworkError(f"{what}: sat_a == sat_b in row "
                                   f"{table.index[int(np.flatnonzero(a == b)[0])]!r}")
        else:
            st = table["station"].to_numpy()
            if np.issubdtype(st.dtype, np.integer):
                if len(st) and (st.min() < 0 or st.max() >= len(stations)):
                    raise NetworkError(f"{what}.station: integer station indices must be "
                                       f"0..{len(stations) - 1}")
                a = st.astype(np.int64) + n_sats
            else:
                unknown = sorted(set(map(str, st)) - set(stations))
                if unknown:
                    raise NetworkError(f"{what}.station: unknown station(s) {unknown[:5]}; "
                                       f"known: {stations}")
                a = np.array([station_node[str(s)] for s in st], dtype=np.int64)
            b = table["sat"].to_numpy()
            if not np.issubdtype(b.dtype, np.integer) or len(b) and (
                    b.min() < 0 or b.max() >= n_sats):
                raise NetworkError(f"{what}.sat must hold satellite indices "
                                   f"0..{n_sats - 1}")
        n = len(table)
        rate = (table["rate_gbps"].to_numpy(dtype=float) if "rate_gbps" in table.columns
                else np.full(n, np.nan))
        if (rate <= 0).any():
            raise NetworkError(f"{what}.rate_gbps must be > 0 (NaN = default)")
        rcol = next((c for c in RANGE_COLUMNS if c in table.columns), None)
        rng = (table[rcol].to_numpy(dtype=float) if rcol else np.full(n, np.nan))
        acq_from = start
        if "start_clipped" in table.columns:   # under way before the plan began: acquired
            clipped = table["start_clipped"].to_numpy(dtype=bool)
            acq_from = np.where(clipped, start - acquisition_s, start)
        parts.append((np.asarray(a, np.int64), np.asarray(b, np.int64), start, end,
                      rate, rng, acq_from))
    if not parts:
        return None
    a, b, start, end, rate, rng, acq_from = (np.concatenate(x) for x in zip(*parts))
    keep = (end > start) & (end > now)   # zero-length and past windows carry no link
    a, b, start, end, rate, rng, acq_from = (x[keep] for x in (a, b, start, end, rate, rng,
                                                               acq_from))
    n = len(a)
    t = np.concatenate([np.maximum(start, now), end])
    kind = np.concatenate([np.zeros(n, np.int8), np.full(n, 2, np.int8)])  # up before down
    idx = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((kind, t))
    return t[order], kind[order], idx[order], a, b, rate, rng, acq_from


def link_events(isl_windows, ground_windows, rate_changes, *, n_sats: int, stations,
                station_node: dict, acquisition_s: float, now: float):
    """Window openings (kind 0), rate changes (1) and closings (2) in time order, as Python
    lists for the replay loop: ``(starts, ends, t, kind, idx, windows, rates)`` where
    ``starts[g]:ends[g]`` are the events of the g-th distinct instant, ``idx`` indexes
    ``windows = (a, b, rate, range, acquired_from)`` (kinds 0 and 2) or ``rates = (a, b, rate,
    range)`` (kind 1); None when there is nothing to replay.  At one instant openings come
    first, then rate changes (in table order), then closings."""
    ev = window_events(isl_windows, ground_windows, n_sats=n_sats, stations=stations,
                       station_node=station_node, acquisition_s=acquisition_s, now=now)
    rc = rate_events(rate_changes, n_sats)
    if ev is None and rc is None:
        return None
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    t_w, kind_w, idx_w, a, b, rate, rng, start = ev if ev is not None else (
        empty_f, np.zeros(0, np.int8), empty_i, empty_i, empty_i, empty_f, empty_f, empty_f)
    r_t, r_a, r_b, r_rate, r_rng = rc if rc is not None else (
        empty_f, empty_i, empty_i, empty_f, empty_f)
    t = np.concatenate([t_w, np.maximum(r_t, now)])
    kind = np.concatenate([kind_w, np.ones(len(r_t), np.int8)])  # up, rate, down
    idx = np.concatenate([idx_w, np.arange(len(r_t))])
    order = np.lexsort((kind, t))  # stable: rate rows keep their table order
    t, kind, idx = t[order], kind[order], idx[order]
    bounds = np.flatnonzero(np.diff(t)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = np.concatenate([bounds, [len(t)]]).tolist()
    t_l, kind_l, idx_l = t.tolist(), kind.tolist(), idx.tolist()
    a_l, b_l, rate_l, rng_l, start_l = a.tolist(), b.tolist(), rate.tolist(), rng.tolist(), \
        start.tolist()
    ra_l, rb_l, rr_l, rg_l = r_a.tolist(), r_b.tolist(), r_rate.tolist(), r_rng.tolist()
    return (starts, ends, t_l, kind_l, idx_l, (a_l, b_l, rate_l, rng_l, start_l),
            (ra_l, rb_l, rr_l, rg_l))
