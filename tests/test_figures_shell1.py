"""Issue 22, acceptance, on starlink-shell1 (6 h, steady state after 2 h):

* the phase-folded figure: its per-phase-bin means against a direct computation from
  timeseries.parquet and events.parquet written here (independent of
  orbsched.analysis.figures_phase), and the story it tells: ``stay`` loses its work inside the
  umbra band while ``greedy-sunlit`` keeps it running;
* the world map: every satellite drawn as sunlit lies outside the drawn shadow edge at its
  shell (and every one in umbra inside the drawn umbra edge), with the angles recomputed here
  from the drawn points; no link segment spans more than 180 deg of longitude, and every link
  is drawn along the great circle between its two satellites.

Sampling: the runs record every 60 s (``record.sample_s=60``, not the config's 300 s) so that
the ~34-min umbra spans 34 phase bins; the figure's own default bin is the sample period, and
each interval-mean sample sits at its interval's midpoint (the module docstring says what this
smoothing does)."""
import math

import numpy as np
import pandas as pd
import pytest

from orbsched.analysis.figures_io import RunFolder, group_runs, save_figure
from orbsched.analysis.figures_map import fig_world_map, map_layers, shadow_edge_theta
from orbsched.analysis.figures_phase import fig_phase, phase_table

WARMUP_H = 2.0
BIN_S = 60.0


@pytest.fixture(scope="module")
def shell_runs(tmp_path_factory):
    from conftest import REPO

    from orbsched.run import simulate
    from orbsched.scenario.schema import load_scenario

    root = tmp_path_factory.mktemp("shell1")
    out = {}
    for policy in ("stay", "greedy-sunlit"):
        sc = load_scenario(REPO / "configs" / "starlink-shell1.yaml",
                           ["duration_h=6", f"policy={policy}", "record.sample_s=60",
                            "record.per_satellite=true"])
        simulate(sc).write(root / policy)
        out[policy] = root / policy
    return out


@pytest.fixture(scope="module")
def table(shell_runs):
    groups = group_runs([RunFolder(shell_runs[p]) for p in ("stay", "greedy-sunlit")])
    tab, info = phase_table(groups, warmup_h=WARMUP_H, bin_s=BIN_S)
    return tab, info


# ----------------------------------------------------------------------------- direct computation
def _entries(events):
    e = events[events["kind"].astype(str) == "eclipse_entry"]
    return {int(s): np.sort(g["t_s"].to_numpy(float)) for s, g in e.groupby("sat")}


def direct_fold(folder, column, interval, t0_s, bin_s, n_bins):
    """Mean of ``column`` per phase bin, straight from the two Parquet files: a sample's phase
    is the time since its satellite's last eclipse_entry, at the middle of its interval
    (interval means) or at its time (instant values); samples of the window only."""
    ts = pd.read_parquet(folder / "timeseries.parquet")
    ev = pd.read_parquet(folder / "events.parquet")
    fleet_t = np.sort(ts.loc[ts["sat"] == -1, "t_s"].to_numpy(float))
    prev_of = dict(zip(fleet_t, np.concatenate([[0.0], fleet_t[:-1]])))
    entries = _entries(ev)
    sums, counts = np.zeros(n_bins), np.zeros(n_bins, int)
    for sat, g in ts[ts["sat"] >= 0].groupby("sat"):
        if sat not in entries:
            continue
        t = g["t_s"].to_numpy(float)
        prev = np.array([prev_of[x] for x in t])
        at = 0.5 * (t + prev) if interval else t
        start = prev if interval else t
        k = np.searchsorted(entries[sat], at, side="right") - 1
        v = g[column].to_numpy(float)
        ok = (k >= 0) & (start >= t0_s) & np.isfinite(v)
        b = np.floor((at[ok] - entries[sat][k[ok]]) / bin_s).astype(int)
        inside = b < n_bins
        np.add.at(sums, b[inside], v[ok][inside])
        np.add.at(counts, b[inside], 1)
    with np.errstate(invalid="ignore"):
        return sums / counts, counts


def direct_kept(folder, t0_s, bin_s, n_bins, t_end_s):
    """Work kept running per phase bin by replaying each job's events: the GPUs of the jobs
    running on a satellite just before its eclipse_entry that are running at the bin's centre,
    over those whose job has not ended."""
    ev = pd.read_parquet(folder / "events.parquet")
    ev = ev.assign(kind=ev["kind"].astype(str))
    gpus = pd.read_parquet(folder / "jobs.parquet").set_index("job_id")["gpus"].to_dict()
    kinds = {"job_start", "job_pause", "migration_start", "migration_end", "migration_failed",
             "job_end"}
    jev = ev[ev["kind"].isin(kinds) & (ev["job_id"] >= 0)]
    entries = _entries(ev)
    centres = (np.arange(n_bins) + 0.5) * bin_s
    run_num, alive_num = np.zeros(n_bins), np.zeros(n_bins)
    for job, g in jev.groupby("job_id", sort=False):
        t = g["t_s"].to_numpy(float)
        kind = g["kind"].to_numpy()
        host = np.where(kind == "migration_end", g["peer"], g["sat"]).astype(int)
        state = np.where(np.isin(kind, ("job_start", "migration_end")), "run",
                         np.where(kind == "job_end", "end", "stop"))
        for i in np.flatnonzero(state == "run"):
            t_to = t[i + 1] if i + 1 < len(t) else math.inf
            e = entries.get(int(host[i]), np.zeros(0))
            for te in e[(e > t[i]) & (e <= t_to) & (e >= t0_s)]:
                q = te + centres
                j = np.searchsorted(t, q, side="right") - 1
                st = state[j]
                alive = (q <= t_end_s) & (st != "end")
                w = gpus[job]
                run_num += w * (alive & (st == "run"))
                alive_num += w * alive
    with np.errstate(invalid="ignore"):
        return run_num / alive_num


def _series(tab, label, quantity):
    d = tab[(tab["label"] == label) & (tab["quantity"] == quantity)]
    return d["mean"].to_numpy(float), d["n_samples"].to_numpy(int)


@pytest.mark.parametrize("policy", ["stay", "greedy-sunlit"])
@pytest.mark.parametrize("quantity,column,interval", [("util", "util", True),
                                                      ("used_kw", "used_w", True),
                                                      ("soc", "soc", False)])
def test_phase_bins_match_a_direct_computation(shell_runs, table, policy, quantity, column,
                                               interval):
    tab, info = table
    mean, n = _series(tab, policy, quantity)
    want, count = direct_fold(shell_runs[policy], column, interval, WARMUP_H * 3600.0, BIN_S,
                              len(mean))
    if quantity == "used_kw":
        want = want / 1000.0
    assert len(mean) == math.ceil(info["period_s"] / BIN_S) >= 90      # a 95.6-min orbit
    np.testing.assert_array_equal(n, count)
    np.testing.assert_allclose(mean, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("policy", ["stay", "greedy-sunlit"])
def test_work_kept_running_matches_a_replay_of_the_job_events(shell_runs, table, policy):
    tab, _ = table
    mean, _ = _series(tab, policy, "kept")
    want = direct_kept(shell_runs[policy], WARMUP_H * 3600.0, BIN_S, len(mean), 6 * 3600.0)
    np.testing.assert_allclose(mean, want, rtol=1e-12, atol=1e-15)


def _bands(tab, label):
    b = tab[(tab["label"] == label) & (tab["quantity"] == "band")].set_index("band")
    return b["phase_lo_s"], b["phase_hi_s"]


def test_stay_loses_work_in_the_umbra_and_greedy_sunlit_keeps_it(table):
    """The criterion, over the phase bins wholly inside the (median) umbra band:

    * stay: work kept running falls below 0.5 and the satellites' GPU utilisation below a
      tenth of its sunlit level (bins from 10 min after the eclipse exit to the end);
    * greedy-sunlit: work kept running stays at or above 0.95 in every umbra bin and varies by
      at most 0.05 over the whole orbit (flat), while its satellites' own utilisation falls to
      under 0.05 in the umbra: it keeps the work by moving it off the shadowed satellites.
    """
    tab, _ = table
    lo, hi = _bands(tab, "stay")
    u0, u1 = lo["umbra"], hi["umbra"]
    assert 30 * 60 < u1 - u0 < 38 * 60                 # CONTEXT.md: 35.6 min at 550 km, b=0
    assert hi["penumbra_in"] - lo["penumbra_in"] < 30  # ~10 s of penumbra
    d = tab[(tab["label"] == "stay") & (tab["quantity"] == "util")]
    edges = d["phase_lo_s"].to_numpy(float)
    in_umbra = (edges >= u0) & (edges + BIN_S <= u1)
    sunlit = edges >= hi["penumbra_out"] + 600.0
    assert in_umbra.sum() >= 30

    kept_stay, _ = _series(tab, "stay", "kept")
    util_stay, _ = _series(tab, "stay", "util")
    assert kept_stay[sunlit].min() > 0.85
    assert kept_stay[in_umbra].min() < 0.5
    assert util_stay[in_umbra].min() < 0.1 * util_stay[sunlit].mean()

    kept_greedy, _ = _series(tab, "greedy-sunlit", "kept")
    util_greedy, _ = _series(tab, "greedy-sunlit", "util")
    assert kept_greedy[in_umbra].min() >= 0.95
    assert np.nanmax(kept_greedy) - np.nanmin(kept_greedy) <= 0.05
    assert util_greedy[in_umbra].max() < 0.05


def test_phase_figure_is_written_with_its_data(shell_runs, table, tmp_path):
    groups = group_runs([RunFolder(shell_runs[p]) for p in ("stay", "greedy-sunlit")])
    fig, tab = fig_phase(groups, warmup_h=WARMUP_H, bin_s=BIN_S)
    paths = save_figure(fig, tab, tmp_path, "phase_folded")
    assert sorted(p.suffix for p in paths) == [".csv", ".pdf", ".png"]
    back = pd.read_csv(tmp_path / "phase_folded.csv")
    cols = ["phase_lo_s", "phase_hi_s", "mean", "ci95_half", "n_samples", "n_runs"]
    pd.testing.assert_frame_equal(back.loc[back["quantity"] == "util", cols]
                                  .reset_index(drop=True),
                                  table[0].loc[table[0]["quantity"] == "util", cols]
                                  .reset_index(drop=True), check_dtype=False, rtol=1e-12)
    assert set(back["label"]) == {"stay", "greedy-sunlit"}      # labels from policy names


# ----------------------------------------------------------------------------- the world map
def _unit(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _polar(points, snap):
    """Angle from the antisolar point and azimuth around it (deg), computed here."""
    anti = -_unit(snap["subsolar_lat_deg"], snap["subsolar_lon_deg"])
    e1 = np.array([0.0, 0.0, 1.0]) - anti[2] * anti
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(anti, e1)
    theta = np.degrees(np.arccos(np.clip(points @ anti, -1, 1)))
    psi = np.degrees(np.arctan2(points @ e2, points @ e1)) % 360.0
    return theta, psi


def _edge_at(edge_rows, psi, snap):
    """The drawn edge's angle from the antisolar point at azimuths ``psi`` (deg), by linear
    interpolation between the drawn points."""
    th, ps = _polar(_unit(edge_rows["lat_deg"].to_numpy(), edge_rows["lon_deg"].to_numpy()),
                    snap)
    order = np.argsort(ps)
    return np.interp(psi, ps[order], th[order], period=360.0)


@pytest.mark.parametrize("policy", ["stay", "greedy-sunlit"])
def test_map_draws_sunlit_satellites_outside_the_shadow_at_their_shell(shell_runs, policy):
    """Tolerance 1e-3 deg (110 m): snapshot.json rounds positions to 1e-4 deg and the engine
    places eclipse edges to 0.01 s (76 m of track); the drawn edges are 721 points 0.5 deg of
    azimuth apart, interpolated linearly here (the curve's sag between them is < 1e-4 deg)."""
    run = RunFolder(shell_runs[policy])
    snap = run.snapshot()
    data = map_layers(snap, "wgs84")
    sats = data[data["layer"] == "satellite"]
    assert len(sats) == 1584
    state = sats["state"].to_numpy()
    assert {"sunlit", "umbra"} <= set(state)
    assert (sats["shell"] == 0).all()                         # one shell
    theta, psi = _polar(_unit(sats["lat_deg"].to_numpy(), sats["lon_deg"].to_numpy()), snap)
    pen = _edge_at(data[data["layer"] == "penumbra_edge"], psi, snap)
    umb = _edge_at(data[data["layer"] == "umbra_edge"], psi, snap)
    tol = 1e-3
    sunlit, umbra = state == "sunlit", state == "umbra"
    assert (theta[sunlit] > pen[sunlit] - tol).all(), (theta - pen)[sunlit].min()
    assert (theta[umbra] < umb[umbra] + tol).all(), (theta - umb)[umbra].max()
    # at each satellite's own radius the engine's states and the map's geometry agree too
    # (the drawn edges are those of the shell's highest and lowest satellites)
    r = sats["radius_km"].to_numpy()
    own_pen, own_umb = (shadow_edge_theta(psi, r, snap["subsolar_lat_deg"],
                                          snap["subsolar_lon_deg"], edge,
                                          snap["sun_distance_km"])
                        for edge in ("penumbra", "umbra"))
    assert (theta[sunlit] > own_pen[sunlit] - tol).all()
    assert (theta[umbra] < own_umb[umbra] + tol).all()
    pen_sats = state == "penumbra"
    assert ((theta[pen_sats] > own_umb[pen_sats] - tol)
            & (theta[pen_sats] < own_pen[pen_sats] + tol)).all()
    # the edges are where the shadow is at 550 km, not at the ground: ~67 deg from the
    # antisolar point (asin(R / (R + h)) + the Sun's 0.27 deg), not the terminator's 90 deg
    assert pen.min() > 66.5 and pen.max() < 67.6
    assert r.max() - r.min() < 25.0
    # some satellites are sunlit above the night side at the ground: the old map's error
    assert (sunlit & (theta < 90.0)).sum() > 50


@pytest.mark.parametrize("policy", ["stay", "greedy-sunlit"])
def test_map_links_are_great_circle_arcs_split_at_the_antimeridian(shell_runs, policy):
    run = RunFolder(shell_runs[policy])
    snap = run.snapshot()
    data = map_layers(snap, "wgs84")
    links = data[data["layer"] == "link"]
    assert links["piece"].nunique() >= len(snap["links"])     # every link drawn (>= 1 piece)
    lat = np.asarray(snap["sats"]["lat_deg"])
    lon = np.asarray(snap["sats"]["lon_deg"])
    crossing = 0
    for (a, b), g in links.groupby(["sat", "peer"]):
        n = np.cross(_unit(lat[a], lon[a]), _unit(lat[b], lon[b]))
        n /= np.linalg.norm(n)
        pieces = list(g.groupby("piece"))
        crossing += len(pieces) > 1
        for _, p in pieces:
            lo = p["lon_deg"].to_numpy()
            assert lo.max() - lo.min() <= 180.0               # no segment spans > 180 deg
            assert np.abs(np.diff(lo)).max() < 20.0            # short steps, no wrap-around
            pts = _unit(p["lat_deg"].to_numpy(), lo)
            assert np.abs(pts @ n).max() < 1e-7                # on the great circle (1e-7 rad:
                                                               # the CSV's 1e-6 deg rounding)
    assert crossing > 0                                        # some cross the antimeridian


def test_map_figure_is_written_with_its_data(shell_runs, tmp_path):
    run = RunFolder(shell_runs["stay"])
    paths = save_figure(*fig_world_map(run), tmp_path, "world_map")
    assert sorted(p.suffix for p in paths) == [".csv", ".pdf", ".png"]
    back = pd.read_csv(tmp_path / "world_map.csv", dtype={"state": str})
    assert set(back["layer"]) == {"satellite", "penumbra_edge", "umbra_edge", "link",
                                  "ground_terminator", "subsolar"}
