"""The HTML report: one self-contained page that opens offline.

Always: the page is parsed with the standard library's ``html.parser``; every ``<img>`` is a
base64 PNG ``data:`` URI that decodes to a valid PNG, nothing refers to ``http://`` or
``https://``, and the summary values and the scenario appear.  When a headless Chromium is
installed (Debian's ``chromium`` package), the page is also loaded in it: the inline script of
the report writes the number of images that decoded into ``<body data-images-ok>``, read back
with ``--dump-dom``; a screenshot must be non-trivial.
"""
import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from orbsched.analysis import report
from orbsched.scenario.errors import DataFileError


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.urls, self.tags, self.pre, self.body = [], [], [], [], {}
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "body":
            self.body = a
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")
        for key in ("src", "href", "action", "data", "poster"):
            if a.get(key):
                self.urls.append(a[key])

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre[-1] += data


def _parse(path):
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _check_png_uri(src):
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == report.PNG_SIGNATURE
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.verify()                                 # structure and CRCs
    img = Image.open(io.BytesIO(data))
    img.load()                                   # and the pixels decode
    assert img.size[0] > 100 and img.size[1] > 100


def _check_offline(page, text):
    assert not [u for u in page.urls if u.lower().startswith(("http://", "https://", "//"))]
    assert "<link" not in text.lower()                          # no external style sheets
    assert not re.search(r"url\(|@import|<script[^>]+src=", text, re.IGNORECASE)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from conftest import REPO

    from orbsched.run import simulate
    from orbsched.scenario.schema import load_scenario

    sc = load_scenario(REPO / "configs" / "demo.yaml", ["duration_h=2", "workload.n_jobs=60"])
    out = tmp_path_factory.mktemp("report-run")
    simulate(sc).write(out)
    return out


N_RUN_FIGURES = 10     # six of plots.plot_run, phase-folded, world map, seasons, economics


def test_run_report_is_self_contained(run_dir, tmp_path):
    from orbsched.analysis.figures import draw_run

    draw_run(run_dir, formats=("png",))
    out = report.write_report(run_dir, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    page = _parse(out)
    assert len(page.imgs) == N_RUN_FIGURES
    assert "Phase-folded" in text and "shadow cut at the satellites" in text
    for src in page.imgs:
        _check_png_uri(src)
    _check_offline(page, text)

    s = json.loads((run_dir / "summary.json").read_text())
    for value in (s["scenario"], s["policy"], report.fmt(s["utilisation"]),
                  report.fmt(s["completed_gpu_h_per_day"]), report.fmt(s["eclipse_fraction"]),
                  f">{s['jobs']['arrived']}<", f">{s['migrations']['started']}<",
                  report.fmt(s["energy_kwh"]["harvested"]), "jobs.completed",
                  "energy_kwh.balance_residual", s["versions"]["numpy"]):
        assert str(value) in text, value
    scenario_pre = [p for p in page.pre if "constellations:" in p]
    assert scenario_pre and "walker" in scenario_pre[0]
    assert "total per useful GPU-hour" in text and "launch_usd_per_kg" in text


def test_run_report_draws_missing_plots_without_touching_the_folder(run_dir, tmp_path):
    import shutil as sh

    bare = tmp_path / "bare"
    sh.copytree(run_dir, bare, ignore=sh.ignore_patterns("plots", "report.html"))
    before = sorted(p.name for p in bare.iterdir())
    out = report.write_report(bare)
    assert out == bare / "report.html"
    # the report and the replay it links to, nothing else
    assert sorted(p.name for p in bare.iterdir()) == sorted(before + ["report.html",
                                                                      "report-replay.html"])
    assert 'href="report-replay.html"' in out.read_text(encoding="utf-8")
    out = report.write_report(bare, bare / "again.html", replay=False)
    assert "replay" not in out.read_text(encoding="utf-8").lower()
    assert not (bare / "again-replay.html").exists()
    page = _parse(out)
    assert len(page.imgs) == N_RUN_FIGURES
    for src in page.imgs:
        _check_png_uri(src)


def test_sweep_report_lists_runs_and_embeds_compare_figures(run_dir, tmp_path):
    import shutil as sh

    import pandas as pd

    from orbsched.analysis.plots import plot_compare

    sweep = tmp_path / "sweep"
    for name, policy in (("0000-greedy", "greedy-sunlit"), ("0001-stay", "stay")):
        d = sweep / "runs" / name
        sh.copytree(run_dir, d, ignore=sh.ignore_patterns("plots", "report.html"))
        s = json.loads((d / "summary.json").read_text())
        s["policy"] = policy
        (d / "summary.json").write_text(json.dumps(s))
    (sweep / "runs" / "0002-crashed").mkdir()
    pd.DataFrame({"run": ["0000-greedy", "0001-stay"], "policy": ["greedy-sunlit", "stay"],
                  "utilisation": [0.25, 0.125]}).to_parquet(sweep / "sweep.parquet")
    plot_compare(sorted((sweep / "runs").glob("000[01]*")), sweep / "compare", formats=("png",))

    out = report.write_report(sweep)
    text = out.read_text(encoding="utf-8")
    page = _parse(out)
    assert "Runs (2)" in text and "0000-greedy" in text and "0001-stay" in text
    assert "0002-crashed" in text                # listed as incomplete
    assert "sweep.parquet" in text and ">0.125<" in text
    # drawn for the report (no figures/): phase-folded, side by side, two compare_*,
    # seasons, world map; and the two of compare/
    assert len(page.imgs) == 6 + 2
    assert "Policies side by side" in text and "Drawn for this report" in text
    for src in page.imgs:
        _check_png_uri(src)
    _check_offline(page, text)


def test_report_errors_and_command(tmp_path, run_dir, capsys):
    with pytest.raises(DataFileError, match="neither a results folder"):
        report.write_report(tmp_path)
    with pytest.raises(DataFileError, match="not a folder"):
        report.write_report(tmp_path / "missing")
    assert report.main_report([str(tmp_path)]) == 2
    assert report.main_report([str(run_dir), "--out", str(tmp_path / "x.html")]) == 0
    assert "self-contained" in capsys.readouterr().out
    assert (tmp_path / "x.html").is_file()


# ----------------------------------------------------------------------------- a real browser
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _browser(exe, tmp_path, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          check=False)


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("no headless Chromium installed (Debian: apt-get install chromium)")
    out = report.write_report(run_dir, tmp_path / "report.html")
    n_img = len(_parse(out).imgs)
    assert n_img >= 7

    dom = _browser(exe, tmp_path, "--virtual-time-budget=10000", "--dump-dom", out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    ok = re.search(r'data-images-ok="(\d+)"', body.group(0))
    assert ok, f"the report's load script did not run: {body.group(0)}"
    assert int(ok.group(1)) == n_img

    # the check can fail: one corrupted image is not counted
    bad = tmp_path / "bad.html"
    bad.write_text(out.read_text(encoding="utf-8").replace("base64,iVBOR", "base64,AAAA", 1),
                   encoding="utf-8")
    dom = _browser(exe, tmp_path, "--virtual-time-budget=10000", "--dump-dom", bad.as_uri())
    assert int(re.search(r'data-images-ok="(\d+)"', dom.stdout).group(1)) == n_img - 1

    shot = tmp_path / "shot.png"
    res = _browser(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,3000",
                   out.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (1200, 3000)
    lo, hi = img.getextrema()
    assert hi - lo > 100                          # not a blank page
