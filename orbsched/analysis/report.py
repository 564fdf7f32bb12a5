"""One self-contained HTML page for a results folder or a sweep folder.

``write_report(DIR)`` writes ``DIR/report.html`` (or ``out_html``): a single file that opens
offline in any browser.  Every figure is embedded as a base64 PNG ``data:`` URI, the style
sheet and the one small script are inline, and nothing refers to a remote resource (no CDN, no
web fonts), so the page can be mailed or archived alone.

A results folder (``summary.json``, written by ``orbsched run``) gives: the key metrics, the
figures of :func:`orbsched.analysis.figures.draw_run` (taken from ``plots/`` when present, else
drawn into a temporary folder: the results folder is not modified), the orbit-vs-ground
economics of :func:`orbsched.analysis.economics.compare_run` with its launch-price figure, the
whole summary as a flat table, the scenario YAML and the package versions; and a link to the
replay of the run (:mod:`orbsched.analysis.viewer`), written beside the report as
``<report name>-replay.html`` (a separate self-contained file: at Starlink scale it is tens of
MB, too much to inline).

A sweep folder (any folder with ``runs/*/summary.json``) gives: one table row per run with its
key metrics, the runs that have no summary yet (incomplete or failed), ``sweep.parquet`` as a
table when present, the comparison figures of
:func:`orbsched.analysis.figures.draw_comparison` (from ``figures/`` when present, else drawn
into a temporary folder) and the figures in ``compare/`` when present.

The page carries a tiny inline script that, once loaded, writes the number of images that
decoded (``naturalWidth > 0``) into ``<body data-images-ok>``: a headless browser's
``--dump-dom`` then tells whether every figure rendered (``tests/test_report.py``).
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import math
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..files import atomic_write_text
from ..scenario.errors import DataFileError, OrbschedError
from .economics import (
    _run_inputs,
    compare_run,
    plot_launch_price_sweep,
)
from .figures import draw_comparison, draw_run
from .figures_io import find_runs
from .viewer import write_viewer

__all__ = ["flatten", "main_report", "write_report"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Figures of a run in the order they appear (others in plots/ follow, by name).
RUN_FIGURES = ("phase_folded", "world_map", "utilisation_vs_eclipse", "utilisation_by_state",
               "battery", "job_timeline", "migrations", "gpu_hours", "eclipse_seasons")
#: Comparison figures of a sweep in the order they appear.
SWEEP_FIGURES = ("phase_folded", "policies_side_by_side", "compare_utilisation_over_time",
                 "compare_utilisation_by_state", "eclipse_seasons", "world_map")
#: Captions of the figures that need more than their name.
CAPTIONS = {
    "phase_folded": "Phase-folded: GPU utilisation, work kept running, power, state of charge "
                    "and temperature against the time since each satellite's shadow entry, "
                    "averaged over satellites and orbits in the steady state (penumbra and "
                    "umbra shaded; 95 % intervals)",
    "world_map": "World map at the snapshot instant: the shadow cut at the satellites' shell, "
                 "laser links as great-circle arcs, busy satellites filled (idle ones as rings)",
    "policies_side_by_side": "Policies side by side in the steady state: utilisation by "
                             "illumination, lost work by cause, utilisation over time (mean "
                             "over seeds, 95 % t intervals)",
    "eclipse_seasons": "Eclipse seasons: eclipse per orbit and fleet in shadow over a year "
                       "from geometry, with the runs' own days",
}
ECONOMICS_FIGURE = "economics_launch_price"
#: Rows of sweep.parquet shown at most.
MAX_SWEEP_ROWS = 500
#: Key metrics: (label, dotted summary path).
KEY_METRICS = (
    ("scenario", "scenario"), ("policy", "policy"), ("seed", "seed"),
    ("satellites", "n_sats"), ("GPUs", "gpus_total"), ("duration (h)", "duration_h"),
    ("utilisation", "utilisation"), ("utilisation sunlit", "utilisation_sunlit"),
    ("utilisation umbra", "utilisation_umbra"), ("fleet in eclipse", "eclipse_fraction"),
    ("jobs arrived", "jobs.arrived"), ("jobs completed", "jobs.completed"),
    ("completed GPU-h/day", "completed_gpu_h_per_day"),
    ("JCT mean (s)", "job_completion_s.mean"), ("JCT p99 (s)", "job_completion_s.p99"),
    ("migrations", "migrations.started"), ("migrations failed", "migrations.failed"),
    ("brownout jobs", "brownout_jobs"), ("work lost (GPU-h)", "work_lost_gpu_h.brownout"),
    ("energy harvested (kWh)", "energy_kwh.harvested"),
    ("energy unserved (kWh)", "energy_kwh.unserved"), ("min SoC", "battery.min_soc"),
    ("max temperature (K)", "temperature_max_k"),
)
SWEEP_METRICS = ("scenario", "policy", "seed", "n_sats", "utilisation", "eclipse_fraction",
                 "jobs.completed", "jobs.arrived", "completed_gpu_h_per_day",
                 "job_completion_s.mean", "migrations.started", "migrations.failed",
                 "brownout_jobs", "work_lost_gpu_h.brownout", "energy_kwh.unserved")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1150px; padding: 1em 2em 3em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.note { color: #8a5a00; } .wide { overflow-x: auto; }
nav a { margin-right: 1em; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute("data-images-ok", String(ok));
  document.body.setAttribute("data-images-total", String(imgs.length));
});
"""


# ----------------------------------------------------------------------------- helpers
def flatten(d, prefix=""):
    """A nested dict as ``{"a.b.c": value}`` (lists stay values)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt(value) -> str:
    """A value as shown in the tables: ``n/a`` for None/NaN, integers as they are, floats to
    six significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return format(value, ".6g")
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.integer):
            return str(int(value))
        if isinstance(value, np.floating):
            return fmt(float(value))
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _is_num(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) or \
        type(value).__module__ == "numpy"


def _table(header, rows, numeric=None):
    """An HTML table; ``numeric`` a set of column indices to right-align (default: cells that
    hold numbers)."""
    e = html.escape
    out = ["<table>", "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            num = (i in numeric) if numeric is not None else _is_num(v)
            cells.append(f'<td class="num">{e(fmt(v))}</td>' if num else f"<td>{e(fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _caption(path):
    stem = Path(path).stem
    return CAPTIONS.get(stem, stem.replace("_", " "))


def _figure(path, caption):
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return f'<p class="note">{html.escape(Path(path).name)}: not a PNG file, skipped</p>'
    return (f'<figure><img src="{_png_uri(data)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _ordered_pngs(folder, first=()):
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pngs = {p.stem: p for p in folder.glob("*.png")}
    order = [pngs.pop(n) for n in first if n in pngs]
    return order + [pngs[n] for n in sorted(pngs)]


def _get(flat, path):
    return flat.get(path)


def _page(title, subtitle, sections):
    e = html.escape
    nav = " ".join(f'<a href="#{sid}">{e(name)}</a>' for sid, name, _ in sections)
    body = "\n".join(f'<section id="{sid}"><h2>{e(name)}</h2>\n{content}\n</section>'
                     for sid, name, content in sections)

    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{e(title)}</h1>\n<p class=\"sub\">{e(subtitle)}</p>\n<nav>{nav}</nav>\n"
            f"{body}\n<p class=\"sub\">Written by orbsched {e(__version__)}; self-contained: "
            f"figures are embedded, nothing is fetched.</p>\n"
            f"<script>{_SCRIPT}</script>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- a run
def _economics_section(folder, tmp):
    try:
        frame = compare_run(folder)
    except OrbschedError as exc:
        return f'<p class="note">Economics unavailable: {html.escape(str(exc))}</p>'
    rows = [(r["label"], r["orbit"], r["ground"], r["unit"]) for _, r in frame.iterrows()]
    o = frame.attrs["orbit"]
    g = frame.attrs["ground"]
    parts = [
        ("<p>Cost per useful GPU-hour of this run's satellites in orbit against a ground data "
         "centre serving the same demand (<code>orbsched.analysis.economics</code>; "
         "every figure is a parameter, see <code>orbsched economics --help</code>).</p>"),
        _table(("item", "orbit", "ground", "unit"), rows, numeric={1, 2}),
        "<p>Parameters:</p>",
        _table(("parameter", "orbit"), sorted(o.items())),
        _table(("parameter", "ground"), sorted(g.items())),
    ]
    png = Path(folder) / "plots" / f"{ECONOMICS_FIGURE}.png"
    if not png.is_file():
        _, sat = _run_inputs(folder)
        u = float(frame.loc["utilisation", "orbit"])
        _, paths = plot_launch_price_sweep(hardware=sat, utilisation=sorted({round(u, 3), 1.0}),
                                           out_dir=tmp, name=ECONOMICS_FIGURE,
                                           formats=("png",))
        png = paths[0]
    parts.append(_figure(png, "Cost per useful GPU-hour against the launch price"))
    return "\n".join(parts)


def _presets_section(summary):
    """The preset jobs' energy beside the published totals and the ground (summary
    ``presets``), or '' when the run has none."""
    rows = []
    for p in summary.get("presets") or []:
        rows.append((p["preset"], p["job_id"], p["members_max"], p["scaling_efficiency"],
                     p["projected_hours"], p["published_hours"], p["orbit_gpu_kwh"],
                     p["orbit_from_array_kwh"], p["orbit_from_battery_kwh"],
                     p["published_kwh"], p["ground_kwh_pue_low"], p["ground_kwh_pue_high"]))
    if not rows:
        return ""
    head = ("preset", "job", "satellites", "scaling efficiency", "projected h", "published h",
            "orbit GPU kWh", "from arrays kWh", "from batteries kWh", "published kWh",
            "ground kWh (PUE 1.3)", "ground kWh (PUE 1.4)")
    note = ("<p class=\"sub\">The run's GPU energy per GPU-hour of the job's work, scaled to "
            "the whole published training; the published totals include each facility's "
            "overhead, the orbit's figure is the accelerators' board power "
            "(orbsched/presets.py).</p>")
    return note + _table(head, rows)


def _replay_section(folder, out):
    """Write the replay of ``folder`` beside the report (``<report>-replay.html``) and return
    the section that links to it (a note when it cannot be built)."""
    target = out.with_name(f"{out.stem}-replay.html")
    try:
        path = write_viewer(folder, target)
    except OrbschedError as exc:
        return f'<p class="note">Replay unavailable: {html.escape(str(exc))}</p>'
    size = path.stat().st_size / 2**20
    return (f'<p><a href="{html.escape(path.name)}">Open the replay ({html.escape(path.name)}'
            f", {size:,.1f} MiB)</a>: the constellation over the run, the terminator, links, "
            f"migrations and faults, with linked panels; one self-contained file beside this "
            f"report (<code>orbsched view</code>).</p>")


def _run_report(folder, replay=None):
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    flat = flatten({k: v for k, v in summary.items() if k != "versions"})
    with tempfile.TemporaryDirectory(prefix="orbsched-report-") as tmp:
        pngs = _ordered_pngs(folder / "plots", RUN_FIGURES)
        pngs = [p for p in pngs if p.stem != ECONOMICS_FIGURE]
        drawn = ""
        if not pngs:
            draw_run(folder, out_dir=tmp, formats=("png",))
            pngs = _ordered_pngs(tmp, RUN_FIGURES)
            drawn = "<p class=\"sub\">Drawn for this report (the folder has no plots/).</p>"
        figures = drawn + "\n".join(_figure(p, _caption(p)) for p in pngs)
        economics = _economics_section(folder, Path(tmp) / "economics")

    key = _table(("metric", "value"), [(label, flat.get(path)) for label, path in KEY_METRICS])
    full = _table(("field", "value"), sorted(flat.items()))
    scen = folder / "scenario.yaml"
    scenario = (f"<pre>{html.escape(scen.read_text())}</pre>" if scen.is_file()
                else '<p class="note">no scenario.yaml in the folder</p>')
    prov = [("folder", str(folder.resolve()))]
    prov += sorted(flatten(summary.get("versions") or {}, "versions.").items())
    man = folder / "manifest.json"
    if man.is_file():
        try:
            m = json.loads(man.read_text())
            prov += sorted(flatten(m.get("timings_s") or {}, "timings_s.").items())
        except json.JSONDecodeError:
            pass
    title = f"orbsched run: {summary.get('scenario')} - policy {summary.get('policy')}"
    subtitle = (f"seed {summary.get('seed')}, {summary.get('n_sats')} satellites x "
                f"{summary.get('gpus_per_sat')} GPUs, {fmt(summary.get('duration_h'))} h from "
                f"{summary.get('start_utc', '?')}")
    presets = _presets_section(summary)
    sections = [("key", "Key metrics", key)]
    if replay:
        sections.append(("replay", "Replay", replay))
    sections += [("figures", "Figures", figures), ("economics", "Economics", economics)]
    if presets:
        sections.append(("presets", "Headline training runs: energy", presets))
    sections += [("summary", "Summary (summary.json)", full),
                ("scenario", "Scenario (scenario.yaml)", scenario),
                ("provenance", "Provenance", _table(("field", "value"), prov))]
    return _page(title, subtitle, sections), len(pngs) + 1


# ----------------------------------------------------------------------------- a sweep
def _sweep_report(folder, summaries):
    folder = Path(folder)
    rows, names = [], []
    for path in summaries:
        try:
            flat = flatten(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise DataFileError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
        rows.append([path.parent.name] + [flat.get(m) for m in SWEEP_METRICS])
        names.append(path.parent.name)
    runs_table = _table(("run",) + SWEEP_METRICS, rows)
    incomplete = sorted(p.name for p in (folder / "runs").iterdir()
                        if p.is_dir() and not (p / "summary.json").is_file())
    if incomplete:
        runs_table += ("<p class=\"note\">Runs without summary.json (incomplete or failed): "
                       f"{html.escape(', '.join(incomplete))}</p>")
    sections = [("runs", f"Runs ({len(rows)})", f'<div class="wide">{runs_table}</div>')]
    table = folder / "sweep.parquet"
    if table.is_file():
        import pandas as pd

        frame = pd.read_parquet(table)
        shown = frame.head(MAX_SWEEP_ROWS)
        note = (f"<p class=\"sub\">First {MAX_SWEEP_ROWS} of {len(frame)} rows.</p>"
                if len(frame) > MAX_SWEEP_ROWS else "")
        body = _table(list(shown.columns), shown.itertuples(index=False, name=None))
        sections.append(("table", "sweep.parquet", note + f'<div class="wide">{body}</div>'))
    with tempfile.TemporaryDirectory(prefix="orbsched-report-") as tmp:
        pngs = _ordered_pngs(folder / "figures", SWEEP_FIGURES)
        drawn = ""
        if not pngs:
            draw_comparison(find_runs([folder]), tmp, formats=("png",))
            pngs = _ordered_pngs(tmp, SWEEP_FIGURES)
            drawn = ("<p class=\"sub\">Drawn for this report (the folder has no figures/: "
                     "<code>orbsched plot SWEEP_DIR</code> writes them with PDFs and CSVs)."
                     "</p>")
        sections.append(("figures", "Figures", drawn + "\n".join(_figure(p, _caption(p))
                                                                for p in pngs)))
    n_figs = len(pngs)
    pngs = _ordered_pngs(folder / "compare")
    if pngs:
        sections.append(("compare", "Comparison figures (compare/)",
                         "\n".join(_figure(p, _caption(p)) for p in pngs)))
    for name in ("sweep.yaml", "sweep.yml"):
        if (folder / name).is_file():
            sections.append(("sweepfile", name,
                             f"<pre>{html.escape((folder / name).read_text())}</pre>"))
            break
    title = f"orbsched sweep: {folder.resolve().name}"
    return (_page(title, f"{len(rows)} completed runs in {folder.resolve()}", sections),
            n_figs + len(pngs))


# ----------------------------------------------------------------------------- public API
def write_report(path_in: str | Path, out_html: str | Path | None = None,
                 replay: bool = True) -> Path:
    """Write the HTML report of a results folder or a sweep folder (module docstring) to
    ``out_html`` (default ``path_in/report.html``) and return its path.  For a results folder
    and ``replay`` true, the replay (:mod:`orbsched.analysis.viewer`) is written beside the
    report as ``<report name>-replay.html`` and linked from it."""
    folder = Path(path_in)
    if not folder.is_dir():
        raise DataFileError(folder, None, "not a folder (expected a results or sweep folder)")
    out = Path(out_html) if out_html is not None else folder / "report.html"
    if (folder / "summary.json").is_file():
        text, _ = _run_report(folder, _replay_section(folder, out) if replay else None)
    else:
        summaries = sorted(folder.glob("runs/*/summary.json"))
        if not summaries:
            raise DataFileError(folder, None, "neither a results folder (summary.json) nor a "
                                              "sweep folder (runs/*/summary.json)")
        text, _ = _sweep_report(folder, summaries)
    atomic_write_text(out, text)
    return out


def build_parser():
    p = argparse.ArgumentParser(prog="orbsched report",
                                description="Write one self-contained HTML page for a results "
                                            "folder or a sweep folder.")
    p.add_argument("folder", help="results folder (orbsched run) or sweep folder (runs/*/)")
    p.add_argument("--out", help="HTML file to write (default FOLDER/report.html)")
    p.add_argument("--no-replay", action="store_true",
                   help="do not write the replay (REPORT-replay.html) beside a run's report")
    return p


def main_report(argv=None) -> int:
    """``orbsched report DIR [--out FILE]``."""
    args = build_parser().parse_args(argv)
    try:
        out = write_report(args.folder, args.out, replay=not args.no_replay)
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    text = out.read_text(encoding="utf-8")
    print(f"orbsched report: wrote {out} ({text.count('<img ')} figures, "
          f"{len(text.encode('utf-8')) / 1024:,.0f} KiB, self-contained)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_report())
