"""The replay (orbsched view): its positions against skyfield, its data against the results
folder and the geometry, the file's self-containment, the command, and the page itself in a
headless Chromium with the network blocked (skipped when no Chromium is installed)."""
import base64
import json
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from browser import Browser, chromium_path
from conftest import REPO

from orbsched.analysis import viewer, viewer_data
from orbsched.geometry import positions
from orbsched.geometry.stage import compute_geometry
from orbsched.run import simulate
from orbsched.scenario.errors import OrbschedError
from orbsched.scenario.schema import load_scenario

DTYPES = {"t": "<f8", "sun": "<f4", "pos": "<i2", "state": "u1", "load": "u1", "links": "<i4",
          "link_t": "<f4", "mig": "<i4", "mig_t": "<f8", "route": "<i4", "route_off": "<i4",
          "marks": "<i4", "mark_t": "<f8", "jev": "<i4", "jev_t": "<f8", "jobs": "<i4",
          "job_t": "<f8", "queue": "<i4"}


def _arr(data, key):
    return np.frombuffer(base64.b64decode(data[key]), dtype=DTYPES[key])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The demo over 2 h with link events and a positions table every 60 s."""
    sc = load_scenario(REPO / "configs" / "demo.yaml",
                       ["duration_h=2", "workload.n_jobs=80", "record.link_events=true",
                        "record.positions_s=60"])
    out = tmp_path_factory.mktemp("viewer-run")
    simulate(sc).write(out)
    return out


@pytest.fixture(scope="module")
def data(run_dir):
    return viewer_data.replay_data(run_dir)


@pytest.fixture(scope="module")
def html_file(run_dir, tmp_path_factory):
    return viewer.write_viewer(run_dir, tmp_path_factory.mktemp("viewer-html") / "replay.html")


# ----------------------------------------------------------------------------- positions
def test_positions_match_skyfield_and_the_snapshot(run_dir):
    """Sub-satellite points against skyfield's ITRS frame (independent rotation code) within
    1e-4 deg (11 m), the subsolar point against skyfield's apparent Sun within 0.02 deg
    (aberration and light time, ~0.006 deg, are the difference), and both against the
    engine's snapshot.json (the same instant, rounded there to 1e-4 deg)."""
    from skyfield.api import EarthSatellite
    from skyfield.framelib import itrs

    from orbsched.geometry import astro

    sc = load_scenario(run_dir / "scenario.yaml")
    geo = compute_geometry(sc)
    fleet = geo.constellation
    t = np.array([0.0, 1234.5, 3600.0, 7200.0])
    lat, lon = positions.subpoints(fleet, t, sc.geometry.frame_node_s)
    ts = astro.timescale()
    times = fleet.timebase.times(t)
    for i in (0, 17, 95):
        x = EarthSatellite.from_satrec(fleet.sets[0].satrecs[i], ts).at(times).frame_xyz(itrs).km
        ref_lat = np.degrees(np.arctan2(x[2], np.hypot(x[0], x[1])))
        ref_lon = np.degrees(np.arctan2(x[1], x[0]))
        assert np.abs(lat[i] - ref_lat).max() < 1e-4
        assert np.abs((lon[i] - ref_lon + 180) % 360 - 180).max() < 1e-4
    eph = astro.ephemeris()
    x = eph["earth"].at(times).observe(eph["sun"]).apparent().frame_xyz(itrs).km
    s_lat, s_lon = positions.subsolar_points(fleet.timebase, t)
    assert np.abs(s_lat - np.degrees(np.arctan2(x[2], np.hypot(x[0], x[1])))).max() < 0.02
    assert np.abs((s_lon - np.degrees(np.arctan2(x[1], x[0])) + 180) % 360 - 180).max() < 0.02

    snap = json.loads((run_dir / "snapshot.json").read_text())
    la, lo = positions.subpoints(fleet, [snap["t_s"]], sc.geometry.frame_node_s)
    assert np.abs(la[:, 0] - snap["sats"]["lat_deg"]).max() <= 6e-5
    assert np.abs((lo[:, 0] - snap["sats"]["lon_deg"] + 180) % 360 - 180).max() <= 6e-5
    sl, so = positions.subsolar_points(fleet.timebase, [snap["t_s"]])
    assert abs(sl[0] - snap["subsolar_lat_deg"]) < 1e-6
    assert abs(so[0] - snap["subsolar_lon_deg"]) < 1e-6


def test_positions_table_is_the_recomputed_geometry(run_dir):
    sc = load_scenario(run_dir / "scenario.yaml")
    fleet = compute_geometry(sc).constellation
    table = pd.read_parquet(run_dir / "positions.parquet")
    t = positions.frame_times(sc.duration_s, 60.0)
    assert len(t) == 121 and t[-1] == 7200.0
    assert list(table.columns) == list(positions.POSITION_COLUMNS)
    assert len(table) == len(t) * len(fleet)
    assert table["lat_deg"].dtype == np.float32
    lat, lon = positions.subpoints(fleet, t, sc.geometry.frame_node_s)
    assert np.array_equal(table["t_s"].to_numpy(), np.repeat(t, len(fleet)))
    assert np.abs(table["lat_deg"].to_numpy() - lat.T.ravel()).max() < 1e-5
    assert np.abs(table["lon_deg"].to_numpy() - lon.T.ravel()).max() < 2e-5
    # the replay reads the table, and without it recomputes the same points
    bare = run_dir.parent / "viewer-bare"
    shutil.copytree(run_dir, bare, ignore=shutil.ignore_patterns("positions.parquet"))
    a = viewer_data.replay_data(run_dir)
    b = viewer_data.replay_data(bare)
    assert a["meta"]["positions"] == "positions.parquet"
    assert b["meta"]["positions"] == "recomputed from scenario.yaml"
    assert np.abs(_arr(a, "pos").astype(int) - _arr(b, "pos")).max() <= 1
    # frames the table does not hold (30 s) are recomputed, not invented
    c = viewer_data.replay_data(run_dir, frame_s=30.0)
    assert c["meta"]["positions"] == "recomputed from scenario.yaml"
    assert c["meta"]["n_frames"] == 241


def test_frame_period_choice():
    assert viewer_data.choose_frame_s(86400.0, 1584) == 60.0          # 1,441 frames
    week = viewer_data.choose_frame_s(7 * 86400.0, 1584)
    assert week % 60.0 == 0 and week > 60.0
    assert len(positions.frame_times(7 * 86400.0, week)) * 1584 <= viewer_data.MAX_SAT_FRAMES
    assert len(positions.frame_times(7 * 86400.0, week - 60.0)) * 1584 > \
        viewer_data.MAX_SAT_FRAMES
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(OrbschedError, match="frame period"):
            positions.frame_times(3600.0, bad)


# ----------------------------------------------------------------------------- the data
def test_illumination_matches_the_geometry_and_the_engine(run_dir, data):
    """States at each frame from the events equal the geometry's shadow intervals (computed
    again here) away from the edges, and the engine's snapshot states at its instant."""
    sc = load_scenario(run_dir / "scenario.yaml")
    geo = compute_geometry(sc)
    n, t = data["meta"]["n_sats"], _arr(data, "t")
    state = _arr(data, "state").reshape(len(t), n)
    expect = np.zeros((len(t), n), np.uint8)
    near_edge = np.zeros((len(t), n), bool)
    for iv, code in ((geo.eclipse, 1), (geo.umbra, 2)):
        for s, a, b in zip(iv.sat, iv.start_s, iv.end_s):
            inside = (t >= a) & (t < b)
            expect[inside, s] = np.maximum(expect[inside, s], code)
            near_edge[:, s] |= (np.abs(t - a) < 1e-6) | (np.abs(t - b) < 1e-6)
    assert (state[~near_edge] == expect[~near_edge]).all()
    assert 0 < (state == 2).mean() < 0.6 and (state == 0).any()
    snap = json.loads((run_dir / "snapshot.json").read_text())
    names = ["sunlit", "penumbra", "umbra"]
    at = viewer_data.illumination_states(pd.read_parquet(run_dir / "events.parquet"), n,
                                         [snap["t_s"]])[0]
    assert [names[k] for k in at] == snap["sats"]["state"]


def test_replay_data_is_consistent_with_the_results(run_dir, data):
    n, t = data["meta"]["n_sats"], _arr(data, "t")
    events = pd.read_parquet(run_dir / "events.parquet")
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    kind = events["kind"].astype(str)
    # load: the per-satellite util of the sample interval holding each frame
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    per = ts[ts["sat"] >= 0].sort_values(["t_s", "sat"])
    st = np.unique(per["t_s"])
    util = per["util"].to_numpy().reshape(len(st), n)
    k = np.clip(np.searchsorted(st, t, "left"), 0, len(st) - 1)
    load = _arr(data, "load").reshape(len(t), n)
    assert np.abs(load / 250.0 - util[k]).max() <= 0.5 / 250 + 1e-12
    assert load.max() > 0
    # migrations: one per start, routes from source to destination over links up then
    mig, mig_t = _arr(data, "mig").reshape(-1, 4), _arr(data, "mig_t").reshape(-1, 2)
    starts = events[kind == "migration_start"]
    assert len(mig) == len(starts) > 0
    assert np.array_equal(mig[:, 0], starts["sat"]) and np.array_equal(mig[:, 1], starts["peer"])
    assert np.array_equal(mig_t[:, 0], starts["t_s"])
    assert (mig_t[:, 1] >= mig_t[:, 0]).all()
    assert (mig[:, 3] == 1).sum() == (kind == "migration_end").sum()
    links = _arr(data, "links").reshape(-1, 2)
    link_t = _arr(data, "link_t").reshape(-1, 2)
    route, off = _arr(data, "route"), _arr(data, "route_off")
    assert data["meta"]["routes_reconstructed"] == len(mig)
    for m in range(len(mig)):
        r = route[off[m]:off[m + 1]]
        assert r[0] == mig[m, 0] and r[-1] == mig[m, 1]
        tf = t[np.searchsorted(t, mig_t[m, 0], "right") - 1]
        up = {(int(a), int(b)) for (a, b), (t0, t1) in zip(links, link_t) if t0 <= tf < t1}
        for a, b in zip(r[:-1], r[1:]):
            assert (a, b) in up or (b, a) in up, (m, a, b)
    # link intervals: as many as link_up events between satellites (not ground links)
    ups = events[(kind == "link_up") & (events["sat"] < n) & (events["peer"] < n)]
    assert len(links) == len(ups) > 0
    assert (links < n).all()
    # links still up when the run ends are drawn at the last frame (not cut at the end)
    last = (link_t[:, 0] <= t[-1]) & (link_t[:, 1] > t[-1])
    assert last.sum() == (link_t[:, 1] == np.inf).sum() > 96
    # the queue replayed from the job events ends as the job table does
    q = _arr(data, "queue").reshape(len(t), 3)
    status = jobs["status"].value_counts()
    assert q[-1, 1] == status.get("running", 0)
    assert q[-1, 0] == status.get("queued", 0)
    assert q[-1, 2] == status.get("migrating", 0)
    assert q.max() > 0
    # stations and the note about where links came from
    assert [s["name"] for s in data["stations"]] == ["Awarua", "Bluffton", "Hartebeesthoek"]
    assert data["meta"]["links"].startswith("link events")


def test_links_fall_back_to_the_contact_plan(run_dir, tmp_path):
    """Without link events the replay draws the contact plan's ISL windows, and says so."""
    import yaml

    bare = tmp_path / "no-link-events"
    shutil.copytree(run_dir, bare)
    doc = yaml.safe_load((bare / "scenario.yaml").read_text())
    doc["record"]["link_events"] = False
    (bare / "scenario.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    d = viewer_data.replay_data(bare)
    assert d["meta"]["links"].startswith("contact-plan windows")
    links = _arr(d, "links").reshape(-1, 2)
    assert len(links) >= 96 * 2 * 0.9            # +grid: about 2 links per satellite


# ----------------------------------------------------------------------------- the file
class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        for k, v in attrs:
            if k in ("src", "href", "action", "data", "poster") and v:
                self.urls.append(v)


def test_file_is_self_contained(html_file, data):
    text = html_file.read_text(encoding="utf-8")
    p = _Tags()
    p.feed(text)
    assert not p.urls                                   # no src/href at all
    assert not [t for t, a in p.tags if t == "link"]
    assert not [a for t, a in p.tags if t == "script" and "src" in a]
    assert not re.search(r"https?://|url\(|@import|//cdn", text, re.IGNORECASE)
    blob = re.search(r'<script id="orbsched-data" type="application/json">(.*?)</script>',
                     text, re.S).group(1)
    assert json.loads(blob)["meta"] == json.loads(json.dumps(data["meta"]))
    assert html_file.stat().st_size < 5 * 2**20


def test_view_command(run_dir, tmp_path, capsys):
    out = tmp_path / "v.html"
    assert viewer.main_view([str(run_dir), "--out", str(out), "--frame-s", "120"]) == 0
    assert "self-contained" in capsys.readouterr().out
    assert '"n_frames":61' in out.read_text(encoding="utf-8")
    assert viewer.main_view([str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "half").mkdir()
    assert viewer.main_view([str(tmp_path / "half")]) == 2
    assert "summary.json" in capsys.readouterr().err
    assert viewer.main_view([str(run_dir), "--out", str(out), "--frame-s", "0"]) == 2
    assert "frame period" in capsys.readouterr().err
    from orbsched.cli import main

    assert main(["view", str(run_dir), "--out", str(tmp_path / "w.html")]) == 0
    assert (tmp_path / "w.html").is_file()


def test_missing_element_files_name_the_fix(tmp_path):
    """A TLE scenario whose file is gone and no positions table: one line that says how to
    record positions."""
    tle = tmp_path / "one.tle"
    tle.write_text("ISS (ZARYA)\n"        # tests/test_orbits.py's ISS element set
                   "1 25544U 98067A   18184.80969102  .00001614  00000-0  31745-4 0  9993\n"
                   "2 25544  51.6414 295.8524 0003435 262.6267 204.2868 15.54005638121106\n")
    sc = load_scenario(REPO / "configs" / "demo.yaml",
                       ["duration_h=0.5", "workload.n_jobs=3", "network.topology=nearest-k",
                        "ground_stations=[]"])
    doc = sc.model_dump(mode="json", exclude_none=True)
    doc["constellations"] = [{"type": "tle", "path": str(tle)}]
    doc["start_utc"] = "2018-07-03T06:00:00Z"
    import yaml

    from orbsched.scenario.schema import scenario_from_dict

    sc = scenario_from_dict(doc, "x", tmp_path)
    out = tmp_path / "run"
    simulate(sc).write(out)
    moved = tmp_path / "moved.tle"
    tle.rename(moved)
    with pytest.raises(OrbschedError, match="record.positions_s=60"):
        viewer_data.replay_data(out)
    # with a positions table the folder replays alone: satellites numbered, no contact plan
    doc["record"]["positions_s"] = 120.0
    doc["constellations"][0]["path"] = str(moved)
    out2 = tmp_path / "run2"
    simulate(scenario_from_dict(doc, "x", tmp_path)).write(out2)
    moved.unlink()
    d = viewer_data.replay_data(out2)
    assert d["meta"]["positions"] == "positions.parquet" and d["meta"]["frame_s"] == 120.0
    assert d["names"] == ["sat 0"] and "could not be rebuilt" in d["meta"]["notes"][0]
    assert d["meta"]["links"].startswith("none")
    assert viewer.write_viewer(out2).is_file()
    with pytest.raises(OrbschedError, match="multiple of record.positions_s"):
        viewer_data.replay_data(out2, frame_s=60.0)
    assert yaml.safe_load((out / "scenario.yaml").read_text())["constellations"][0]["path"]


# ----------------------------------------------------------------------------- in a browser
@pytest.fixture
def browser(tmp_path):
    if chromium_path() is None:
        pytest.skip("no headless Chromium installed (Debian: apt-get install chromium); "
                    "the replay's page is not exercised")
    b = Browser(tmp_path)
    yield b
    b.close()


def _brightness(img, x, y):
    r, g, b = img.getpixel((int(round(x)), int(round(y))))[:3]
    return (r + g + b) / 3.0


def test_replay_in_headless_chromium(browser, html_file, run_dir, data, tmp_path):
    """Offline, without console errors: the satellites drawn at the snapshot frame are the
    fleet, by the engine's states; dragging the slider moves the terminator (night pixels
    turn to day where the Sun rose, computed here); the screenshot is a drawn map; clicking
    a satellite lists its jobs and clicking a job draws its path."""
    import io

    from PIL import Image

    b = browser
    b.navigate(html_file.as_uri())
    assert b.eval("document.body.getAttribute('data-ready')") == "1", b.errors()
    n, nf = data["meta"]["n_sats"], data["meta"]["n_frames"]
    assert b.eval("window.orbview.n_sats") == n and b.eval("window.orbview.n_frames") == nf

    # the markers at a given frame: the engine's snapshot instant (3600 s, frame 60)
    snap = json.loads((run_dir / "snapshot.json").read_text())
    f_snap = int(np.flatnonzero(_arr(data, "t") == snap["t_s"])[0])
    stats = b.eval(f"window.orbview.setFrame({f_snap})")
    assert stats["sats"] == n
    assert stats["by_state"] == [snap["sats"]["state"].count(s)
                                 for s in ("sunlit", "penumbra", "umbra")]
    assert stats["links"] == len(snap["links"])

    # the slider, dragged with the mouse from frame 0 to about 70 %
    b.eval("window.orbview.setFrame(0)")
    rect = b.eval("(function(){var r=document.getElementById('slider').getBoundingClientRect();"
                  "return [r.left, r.top, r.width, r.height];})()")
    m = b.eval("(function(){var r=document.getElementById('map').getBoundingClientRect();"
               "return [r.left, r.top, r.width, r.height];})()")
    before = Image.open(io.BytesIO(b.screenshot())).convert("RGB")
    s0 = b.eval("window.orbview.stats.subsolar")
    y = rect[1] + rect[3] / 2
    b.mouse("mouseMoved", rect[0] + 8, y, 0)
    b.mouse("mousePressed", rect[0] + 8, y)
    for frac in (0.2, 0.45, 0.7):
        b.mouse("mouseMoved", rect[0] + 8 + frac * (rect[2] - 16), y)
    b.mouse("mouseReleased", rect[0] + 8 + 0.7 * (rect[2] - 16), y)
    f1 = b.eval("window.orbview.frame()")
    assert 0.6 * (nf - 1) < f1 < 0.8 * (nf - 1)
    s1 = b.eval("window.orbview.stats.subsolar")
    assert abs((s1[1] - s0[1] + 180) % 360 - 180) > 15            # the Sun moved west
    after = Image.open(io.BytesIO(b.screenshot())).convert("RGB")
    # probes: night before and day after (solar zenith > 95.7 deg, then < 84.3 deg)
    rng = np.random.default_rng(0)
    lat_p, lon_p = rng.uniform(-60, 60, 4000), rng.uniform(-180, 180, 4000)

    def cos_zen(sun):
        la, lo = np.radians(lat_p), np.radians(lon_p)
        sl, so = np.radians(sun[0]), np.radians(sun[1])
        return np.sin(la) * np.sin(sl) + np.cos(la) * np.cos(sl) * np.cos(lo - so)
    flip = np.flatnonzero((cos_zen(s0) < -0.1) & (cos_zen(s1) > 0.1))[:60]
    assert len(flip) >= 30
    dark = bright = 0
    for i in flip:
        x, yy = b.eval(f"window.orbview.project({lon_p[i]}, {lat_p[i]})")
        px, py = m[0] + x, m[1] + yy
        dark += _brightness(before, px, py) < 200
        bright += _brightness(after, px, py) > 205
    assert dark >= 0.8 * len(flip) and bright >= 0.8 * len(flip), (dark, bright, len(flip))

    # the screenshot has the map drawn: land, sea, night, satellite colours, many colours
    crop = after.crop((int(m[0]), int(m[1]), int(m[0] + m[2]), int(m[1] + m[3])))
    px = np.asarray(crop).reshape(-1, 3).astype(int)

    def share(rgb, tol=12):
        return float((np.abs(px - rgb).max(axis=1) <= tol).mean())
    assert share((0xdf, 0xe6, 0xd3)) > 0.05                       # land by day
    assert share((0xf4, 0xf8, 0xfb)) > 0.10                       # sea by day
    assert share((0xf2, 0xa9, 0x00), 30) > 0.001                  # sunlit satellites
    assert len(np.unique(px[::7], axis=0)) > 200
    crop.save(tmp_path / "map.png")

    # a click on a satellite lists its jobs; a click on a job draws its path
    assert b.eval(f"window.orbview.setFrame({nf - 1})")["links"] > 96
    busy = np.flatnonzero(_arr(data, "load").reshape(nf, n)[-1] > 0)
    sat = int(busy[0])
    x, yy = b.eval(f"(function(){{var la={_arr(data, 'pos')[2 * ((nf - 1) * n + sat)] / 100},"
                   f"lo={_arr(data, 'pos')[2 * ((nf - 1) * n + sat) + 1] / 100};"
                   f"return window.orbview.project(lo, la);}})()")
    b.click(m[0] + x, m[1] + yy)
    info = b.eval("document.getElementById('info').textContent")
    assert data["names"][sat] in info and "jobs ran here" in info
    row = b.eval("(function(){var r=document.querySelector('#info tr.job');"
                 "if(!r){return null;} var q=r.getBoundingClientRect();"
                 "return [q.left+q.width/2, q.top+q.height/2, Number(r.dataset.job)];})()")
    assert row is not None
    b.click(row[0], row[1])
    assert f"Job {row[2]}" in b.eval("document.getElementById('jobinfo').textContent")
    assert b.eval("window.orbview.stats.job_path") >= 1

    # play advances the replay
    b.eval("window.orbview.setFrame(0)")
    b.eval("document.getElementById('play').click()")
    b.eval("new Promise(function(r){setTimeout(r, 1200);})")
    assert b.eval("window.orbview.frame()") > 1
    b.eval("document.getElementById('play').click()")

    assert b.errors() == []
    assert [u for u in b.requests() if not u.startswith(("file:", "data:"))] == []


def test_the_browser_check_can_fail(browser, html_file, tmp_path):
    """The same checks see a page that reaches for the network and one that throws."""
    bad = tmp_path / "bad.html"
    bad.write_text(html_file.read_text(encoding="utf-8").replace(
        "<script>\n", "<script>\nfetch('https://example.invalid/x');\n"
                      "setTimeout(function(){ null.boom(); }, 0);\n", 1), encoding="utf-8")
    browser.navigate(bad.as_uri())
    browser.eval("new Promise(function(r){setTimeout(r, 500);})")
    assert [u for u in browser.requests() if u.startswith("https://")]
    errors = browser.errors()
    assert any("boom" in (e or "") for e in errors), errors
    assert any("ERR_" in (e or "") for e in errors), errors
