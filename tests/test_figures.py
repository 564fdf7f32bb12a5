"""The paper figures (issue 22): the map's shadow geometry against closed forms and the
illumination model, eclipse seasons of the dawn-dusk orbit against the closed-form eclipse
fraction, the steady-state numbers against direct computations, run grouping and intervals,
and every figure drawn from a sweep folder of 2 policies x 3 seeds (with PNG, PDF and CSV)."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orbsched.analysis import economics, viewer_data
from orbsched.analysis.figures_io import (
    RunFolder,
    find_runs,
    group_runs,
    read_summary,
    steady_start_s,
    t_interval,
)
from orbsched.analysis.figures_map import (
    great_circle,
    link_arcs,
    map_layers,
    shadow_edge_theta,
    shells,
    theta_psi,
    unit_vectors,
)
from orbsched.analysis.figures_seasons import closed_form_eclipse_fraction, eclipse_season
from orbsched.scenario.constants import (
    AU_KM,
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_POLAR_RADIUS_KM,
    SUN_RADIUS_KM,
)
from orbsched.scenario.errors import DataFileError, OrbschedError

R_EQ, R_POL = EARTH_EQUATORIAL_RADIUS_KM, EARTH_POLAR_RADIUS_KM


# ----------------------------------------------------------------------------- map geometry
@pytest.mark.parametrize("alt_km", [350.0, 550.0, 1200.0])
def test_shadow_edge_on_a_sphere_is_the_cone(alt_km):
    """Sphere, Sun far away: the penumbra starts at asin(R / r) + a from the antisolar point
    and the umbra at asin(R / r) - a, a = the Sun's angular radius (closed form of the two
    cones tangent to the Earth and the Sun)."""
    r = R_EQ + alt_km
    d = 1e12                                   # the Sun's direction is the same from everywhere
    a = math.degrees(math.asin(SUN_RADIUS_KM / d))
    psi = np.linspace(0, 360, 37)
    for slat, slon in ((23.44, 10.0), (-7.0, -170.0), (0.0, 179.5)):
        pen = shadow_edge_theta(psi, r, slat, slon, "penumbra", d, "sphere")
        umb = shadow_edge_theta(psi, r, slat, slon, "umbra", d, "sphere")
        base = math.degrees(math.asin(R_EQ / r))
        np.testing.assert_allclose(pen, base + a, atol=1e-6)
        np.testing.assert_allclose(umb, base - a, atol=1e-6)
    # at 1 au the Sun is 0.27 deg in radius: the penumbra band is ~0.53 deg of arc wide
    pen = shadow_edge_theta(psi, r, 10.0, 20.0, "penumbra", AU_KM, "sphere")
    umb = shadow_edge_theta(psi, r, 10.0, 20.0, "umbra", AU_KM, "sphere")
    assert np.all(np.abs(pen - umb - 2 * math.degrees(SUN_RADIUS_KM / AU_KM)) < 0.01)


def test_shadow_edge_on_wgs84_agrees_with_the_illumination_model():
    """Just inside the drawn edge the illumination model (orbsched.geometry.illumination: disk
    overlap, another code path than the kernel's shadow functions) sees the Sun partly covered, just
    outside fully visible; the umbra edge likewise sees no Sun inside."""
    from orbsched.geometry.illumination import illumination_fraction

    slat, slon, r = 23.44, -45.0, R_EQ + 550.0
    a, _, _ = (np.array(v) for v in _frame(slat, slon))
    psi = np.linspace(0, 360, 73)
    sun = (-a * AU_KM)[None, :]
    pole = np.array([[0.0, 0.0, 1.0]])
    for edge, inside_ok in (("penumbra", lambda f: f < 1.0), ("umbra", lambda f: f == 0.0)):
        th = shadow_edge_theta(psi, r, slat, slon, edge, AU_KM, "wgs84")
        for eps, want in ((-5e-4, True), (5e-4, False)):          # 55 m either side
            pts = _points(slat, slon, th + eps, psi) * r
            f = illumination_fraction(pts[:, None, :], sun, pole, "wgs84")[:, 0]
            assert np.all(inside_ok(f) == want), (edge, eps)
    # the ellipsoid's flattening moves the edge: the shadow is narrower over the poles
    th = shadow_edge_theta(psi, r, slat, slon, "penumbra", AU_KM, "wgs84")
    sph = shadow_edge_theta(psi, r, slat, slon, "penumbra", AU_KM, "sphere")
    assert 0.05 < (sph - th).max() < 0.5 and (sph - th).min() > -1e-9


def _frame(slat, slon):
    from orbsched.analysis.figures_map import antisolar_frame
    return antisolar_frame(slat, slon)


def _points(slat, slon, theta_deg, psi_deg):
    a, e1, e2 = _frame(slat, slon)
    th, ps = np.radians(theta_deg)[:, None], np.radians(psi_deg)[:, None]
    return np.cos(th) * a + np.sin(th) * (np.cos(ps) * e1 + np.sin(ps) * e2)


def test_theta_psi_inverts_the_frame():
    th, ps = np.array([0.5, 30.0, 67.0, 120.0]), np.array([10.0, 100.0, 200.0, 350.0])
    v = _points(-20.0, 75.0, th, ps)
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    t2, p2 = theta_psi(lat, lon, -20.0, 75.0)
    np.testing.assert_allclose(t2, th, atol=1e-9)
    np.testing.assert_allclose(p2, ps, atol=1e-9)


def test_great_circle_and_antimeridian_split():
    lat, lon = great_circle(10.0, 170.0, -5.0, -160.0)
    assert lat[0] == pytest.approx(10.0) and lon[-1] == pytest.approx(-160.0)
    assert np.degrees(np.arccos(np.clip(np.sum(unit_vectors(lat[:-1], lon[:-1])
                                               * unit_vectors(lat[1:], lon[1:]), axis=1),
                                        -1, 1))).max() <= 0.5 + 1e-9
    pieces = link_arcs(np.array([10.0, -5.0, 0.0, 1.0]), np.array([170.0, -160.0, 0.0, 2.0]),
                       [(0, 1), (2, 3)])
    crossing = [p for p in pieces if p[0] == 0]
    assert len(crossing) == 2 and len([p for p in pieces if p[0] == 1]) == 1
    (_, la1, lo1), (_, la2, lo2) = crossing
    assert lo1[-1] == 180.0 and lo2[0] == -180.0 and la1[-1] == la2[0]
    assert lo1.min() >= 170.0 - 1e-9 and lo2.max() <= -160.0 + 1e-9
    # the crossing point lies on the great circle
    n = np.cross(unit_vectors(10.0, 170.0), unit_vectors(-5.0, -160.0))
    assert abs(unit_vectors(la1[-1], 180.0) @ n) < 1e-12


def test_shells_split_on_gaps():
    assert shells([6928.0, 6930.0, 7528.0, 6940.0, 7500.0]).tolist() == [0, 0, 1, 0, 1]
    assert shells([]).size == 0


def test_map_layers_of_an_old_snapshot_without_radii():
    snap = {"subsolar_lat_deg": 0.0, "subsolar_lon_deg": 0.0,
            "sats": {"lat_deg": [0.0, 0.0], "lon_deg": [180.0, 0.0], "state": ["umbra",
                                                                               "sunlit"],
                     "busy_gpus": [1, 0]}, "links": [[0, 1]]}
    data = map_layers(snap)
    assert "penumbra_edge" not in set(data["layer"])          # no radius: no edge drawn
    data = map_layers(snap, fallback_radius_km=R_EQ + 550.0)
    assert {"penumbra_edge", "umbra_edge"} <= set(data["layer"])
    assert map_layers({}).empty


# ----------------------------------------------------------------------------- eclipse seasons
def test_closed_form_matches_context():
    # CONTEXT.md: 550 km, b = 0: f = 0.372, 35.6 min of a 95.6 min orbit
    assert float(closed_form_eclipse_fraction(550.0, 0.0)) == pytest.approx(0.372, abs=5e-4)
    b_star = math.degrees(math.asin(R_EQ / (R_EQ + 550.0)))
    assert float(closed_form_eclipse_fraction(550.0, b_star + 0.01)) == 0.0


@pytest.fixture(scope="module")
def dawn_dusk():
    from conftest import REPO

    from orbsched.scenario.schema import load_scenario

    sc = load_scenario(REPO / "configs" / "suncatcher-dawn-dusk.yaml")
    return eclipse_season(sc, days=365, day_step=1, max_sats=4)


def test_dawn_dusk_orbit_has_an_eclipse_season(dawn_dusk):
    """CONTEXT.md: a 650 km dawn-dusk orbit has an eclipse season of roughly 88 days with up
    to ~20 min of shadow per orbit; the configs/ comment: ~7 May - 4 Aug 2025."""
    s = dawn_dusk
    dark = s[s["sats_with_eclipse"] > 0]
    assert 80 <= len(dark) <= 100
    days = pd.to_datetime(dark["date"])
    assert (days.diff().dropna() == pd.Timedelta(days=1)).all()      # one season, no gaps
    assert pd.Timestamp("2025-05-01") <= days.min() <= pd.Timestamp("2025-05-15")
    assert pd.Timestamp("2025-07-28") <= days.max() <= pd.Timestamp("2025-08-10")
    assert 18.5 <= s["eclipse_min_per_orbit_max"].max() <= 21.0
    assert s.loc[s["eclipse_min_per_orbit_max"].idxmax(), "date"][:7] in ("2025-06", "2025-07")


def test_dawn_dusk_season_against_the_closed_form(dawn_dusk):
    """The measured shadow fraction (conical shadow, WGS84 Earth) lies, every day, between the
    cylindrical closed form with the polar radius (the smallest the Earth can look) and with
    the equatorial radius widened by the penumbra cone (r tan a, a = 0.2725 deg: the Sun's
    largest angular radius, at perihelion); 0.001 of an orbit (6 s) is left for the one-orbit
    sample's eccentricity and beta drift.  Mid-season (beta at least 3 deg below the critical
    angle) it is within 0.003 of an orbit (18 s) of the closed form itself: the penumbra adds
    time, the flattening (eclipses of a dawn-dusk orbit cross high latitudes) takes some."""
    s = dawn_dusk
    r = s["altitude_km"] + R_EQ
    f = s["shadow_fraction"].to_numpy()
    lo = closed_form_eclipse_fraction(r - R_POL, s["beta_deg"], R_POL)
    r_up = R_EQ + r * math.tan(math.radians(0.2725))
    hi = closed_form_eclipse_fraction(r - r_up, s["beta_deg"], r_up)
    assert (f >= lo - 1e-3).all() and (f <= hi + 1e-3).all()
    b_star = np.degrees(np.arcsin(R_EQ / r))
    mid = (s["beta_deg"] < b_star - 3.0).to_numpy()
    assert mid.sum() > 50
    cf = closed_form_eclipse_fraction(r - R_EQ, s["beta_deg"])
    assert np.abs(f[mid] - cf[mid]).max() < 3e-3


def test_season_arguments_are_checked():
    from conftest import REPO

    from orbsched.scenario.schema import load_scenario

    sc = load_scenario(REPO / "configs" / "demo.yaml")
    for kw in ({"days": 0}, {"day_step": 1.5}, {"max_sats": True}, {"step_s": 0.0},
               {"step_s": float("nan")}):
        with pytest.raises(OrbschedError):
            eclipse_season(sc, **kw)


# ----------------------------------------------------------------------------- helpers
def test_t_interval_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 7))
    x[2, 3] = np.nan
    mean, half = t_interval(x, axis=0)
    for j in range(7):
        col = x[:, j][np.isfinite(x[:, j])]
        lo, hi = stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=stats.sem(col))
        assert mean[j] == pytest.approx(col.mean(), rel=1e-12)
        assert half[j] == pytest.approx((hi - lo) / 2, rel=1e-10)
    m1, h1 = t_interval(np.array([[1.0, np.nan]]), axis=0)
    assert m1[0] == 1.0 and np.isnan(h1[0]) and np.isnan(m1[1])


def _fake_run(path, policy, seed, scenario="s", params=None):
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps({"policy": policy, "seed": seed,
                                                   "scenario": scenario, "duration_h": 3.0}))
    if params is not None:
        (path / "run.json").write_text(json.dumps({"index": seed, "params": params}))
    return path


def test_group_runs_and_find_runs(tmp_path):
    runs = [_fake_run(tmp_path / f"r{i}", p, s) for i, (p, s) in
            enumerate([("stay", 1), ("stay", 2), ("greedy-sunlit", 1), ("stay", 2)])]
    groups = group_runs([RunFolder(r) for r in runs])
    assert list(groups) == ["stay [r0]", "stay [r1]", "stay [r3]", "greedy-sunlit"]
    groups = group_runs([RunFolder(r) for r in runs[:3]])
    assert {k: len(v) for k, v in groups.items()} == {"stay": 2, "greedy-sunlit": 1}
    sweep = tmp_path / "sweep"
    for i, (p, b) in enumerate([("stay", 2000), ("stay", 4000)]):
        _fake_run(sweep / "runs" / f"x{i}", p, 1,
                  params={"policy": p, "hardware.battery.capacity_wh": b})
    (sweep / "runs" / "unfinished").mkdir()
    found = find_runs([sweep])
    assert [f.name for f in found] == ["x0", "x1"]
    assert list(group_runs([RunFolder(f) for f in found])) == ["stay, capacity_wh=2000",
                                                               "stay, capacity_wh=4000"]
    with pytest.raises(OrbschedError, match="neither a results folder"):
        find_runs([tmp_path / "nothing"])


def test_one_summary_reader_for_the_economics_and_the_replay(tmp_path):
    """figures_io.read_summary: a folder without summary.json, or with a broken one, is one
    line naming the folder or file, from the reader and from each module that uses it."""
    readers = (read_summary, economics.compare_run, viewer_data.replay_data)
    for read in readers:
        with pytest.raises(DataFileError, match=r"^.*: not a complete orbsched results folder "
                                                r"\(no summary.json\)$"):
            read(tmp_path)
    (tmp_path / "summary.json").write_text('{"policy": ', encoding="utf-8")
    for read in readers:
        with pytest.raises(DataFileError, match=r"summary.json, line 1: invalid JSON"):
            read(tmp_path)
    (tmp_path / "summary.json").write_text('{"n_sats": 3}', encoding="utf-8")
    assert read_summary(tmp_path) == {"n_sats": 3}


def test_warmup_is_checked(tmp_path):
    run = RunFolder(_fake_run(tmp_path / "r", "stay", 1))
    assert steady_start_s(run) == pytest.approx(3600.0)               # a third of 3 h
    assert steady_start_s(run, 0.5) == 1800.0
    for bad in (-1.0, float("nan"), 3.0, True):
        with pytest.raises(OrbschedError, match="warmup_h"):
            steady_start_s(run, bad)


# ----------------------------------------------------------------------------- a sweep folder
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """configs/demo.yaml as a sweep of 2 policies x 3 seeds, 3 simulated hours each."""
    from conftest import REPO

    from orbsched.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep2x3")
    spec = root / "sweep.yaml"
    spec.write_text(f"name: two-by-three\nbase: {REPO / 'configs' / 'demo.yaml'}\n"
                    "set:\n  duration_h: 3\n  workload.n_jobs: 150\n"
                    "grid:\n  policy: [stay, greedy-sunlit]\nreplications: 3\n")
    out = root / "out"
    res = run_sweep(spec, out, workers=1)
    assert res["done"] == 6
    return out


def test_figures_from_a_sweep_folder(sweep_dir, capsys):
    from orbsched.cli import main

    assert main(["plot", str(sweep_dir), "--warmup-h", "1"]) == 0
    out = sweep_dir / "figures"
    assert str(out) in capsys.readouterr().out
    for name in ("phase_folded", "policies_side_by_side", "compare_utilisation_by_state",
                 "compare_utilisation_over_time", "eclipse_seasons", "world_map"):
        for ext in ("png", "pdf", "csv"):
            p = out / f"{name}.{ext}"
            assert p.is_file() and p.stat().st_size > 500, p
    side = pd.read_csv(out / "policies_side_by_side.csv")
    steady = side[side["scope"] == "steady"]
    assert set(steady["label"]) == {"stay", "greedy-sunlit"}          # from the policy names
    assert (steady["n_runs"] == 3).all() and steady["window_start_h"].eq(1.0).all()
    util = steady[steady["metric"] == "util"]
    assert util["ci95_half"].notna().all() and (util["ci95_half"] > 0).all()
    phase = pd.read_csv(out / "phase_folded.csv")
    data = phase[phase["quantity"] == "util"]
    assert set(data["ci_over"]) == {"seeds"} and (data["n_runs"] == 3).all()
    seasons = pd.read_csv(out / "eclipse_seasons.csv")
    assert {"geometry", "stay", "greedy-sunlit"} <= set(seasons["source"])
    # the report of the sweep folder shows them (taken from figures/)
    from orbsched.analysis.report import write_report

    text = write_report(sweep_dir).read_text(encoding="utf-8")
    assert text.count("<img ") == 6 and "Drawn for this report" not in text
    for caption in ("Phase-folded", "Policies side by side", "World map", "Eclipse seasons"):
        assert caption in text


def test_seasons_command(tmp_path, capsys):
    from conftest import REPO

    from orbsched.cli import main

    assert main(["seasons", str(REPO / "configs" / "suncatcher-dawn-dusk.yaml"), "--out",
                 str(tmp_path), "--sats", "2", "--day-step", "7"]) == 0
    said = capsys.readouterr().out
    assert "53 days sampled: eclipses on" in said and "min per orbit" in said
    table = pd.read_csv(tmp_path / "eclipse_seasons.csv")
    assert len(table) == 53 and (table["source"] == "geometry").all()
    assert (tmp_path / "eclipse_seasons.png").is_file()
    assert main(["seasons", str(REPO / "configs" / "demo.yaml"), "--out", str(tmp_path),
                 "--days", "0"]) == 2


def test_steady_metrics_against_direct_computation(sweep_dir):
    from orbsched.analysis.figures_compare import steady_metrics

    folder = find_runs([sweep_dir])[0]
    run = RunFolder(folder)
    m = steady_metrics(run, warmup_h=1.0)
    ts = pd.read_parquet(folder / "timeseries.parquet")
    f = ts[ts["sat"] == -1].sort_values("t_s")
    t = f["t_s"].to_numpy()
    prev = np.concatenate([[0.0], t[:-1]])
    w = np.where(prev >= 3600.0, t - prev, 0.0)
    assert m["util"] == pytest.approx(np.sum(f["util"] * w) / w.sum(), rel=1e-12)
    share = sum(m[f"share_{s}"] for s in ("sunlit", "penumbra", "umbra"))
    assert share == pytest.approx(m["util"], rel=1e-9)
    assert sum(m[f"time_{s}"] for s in ("sunlit", "penumbra", "umbra")) == pytest.approx(1.0)
    for s in ("sunlit", "penumbra", "umbra"):
        assert m[f"util_while_{s}"] * m[f"time_{s}"] == pytest.approx(m[f"share_{s}"],
                                                                      rel=1e-9)
    # umbra time straight from the events
    ev = pd.read_parquet(folder / "events.parquet")
    ev = ev[ev["kind"].astype(str).isin(["umbra_entry", "umbra_exit"])]
    total = 0.0
    for _, g in ev.groupby("sat"):
        state, since = None, 0.0
        for tt, k in zip(g["t_s"], g["kind"].astype(str)):
            if k == "umbra_exit":
                total += max(0.0, min(tt, t[-1]) - max(since if state else 0.0, 3600.0))
                state = None
            else:
                state, since = "in", tt
        if state:
            total += max(0.0, t[-1] - max(since, 3600.0))
    n = json.loads((folder / "summary.json").read_text())["n_sats"]
    assert m["time_umbra"] == pytest.approx(total / (n * (t[-1] - 3600.0)), rel=1e-9)
    assert 0.25 < m["time_umbra"] + m["time_penumbra"] < 0.4
    brown = ev = pd.read_parquet(folder / "events.parquet")
    brown = ev[(ev["kind"].astype(str) == "brownout") & (ev["t_s"] >= 3600.0)]
    assert m["lost_brownout_gpu_h_per_day"] == pytest.approx(
        brown["value"].sum() * 86400.0 / (t[-1] - 3600.0), rel=1e-9, abs=1e-12)


def test_plot_command_on_one_run_and_on_several(sweep_dir, tmp_path):
    from orbsched.cli import main

    runs = find_runs([sweep_dir])
    assert main(["plot", str(runs[0]), "--out", str(tmp_path / "one"), "--formats", "png",
                 "--no-seasons"]) == 0
    names = {p.name for p in (tmp_path / "one").iterdir()}
    assert {"phase_folded.png", "phase_folded.csv", "world_map.png", "world_map.csv",
            "battery.csv"} <= names and "eclipse_seasons.png" not in names
    assert main(["plot", str(runs[0]), str(runs[3]), "--out", str(tmp_path / "two"),
                 "--formats", "svg", "--no-seasons"]) == 0
    assert (tmp_path / "two" / "policies_side_by_side.svg").is_file()
    # only the comparison (issue 17: it redrew every run's own figures too)
    assert not (runs[0] / "plots").exists() and not (runs[3] / "plots").exists()
    assert {p.suffix for p in (tmp_path / "two").iterdir()} == {".svg", ".csv"}
    assert main(["plot", str(runs[0]), "--formats", "jpg"]) == 2
