"""``orbsched view RESULTS``: one self-contained HTML file that replays a run.

The page shows an equirectangular world map with the moving day/night terminator, the
satellites coloured by illumination and ringed by their load, the laser links, the ground
stations and data centres, migrations as dots moving along their routes, brownouts and faults
as marks; play/pause, a speed choice and a time slider; four linked panels (fleet utilisation
by illumination, state of charge, the queue, migrations) whose cursor follows the replay and
which seek when clicked; a click on a satellite shows its own time series and its jobs, a click
on a job its path through the fleet.  Mouse wheel zooms, dragging pans, a double click resets.
The data are described in :mod:`orbsched.analysis.viewer_data`.

Renderer: a small hand-written canvas renderer in plain JavaScript
(``orbsched/analysis/viewer_assets/viewer.js``, 29 KB), not Plotly.  Reasons, measured or checked:

* offline: plotly.js (7.1, as bundled by the ``plotly`` wheel) draws geo maps from topojson
  it fetches at run time from ``topojsonURL``, by default ``https://cdn.plot.ly/un/``; an
  offline page would have to ship and point to its own copy.  Here the land outline (Natural
  Earth 1:110m, public domain, 55 KB: ``viewer_assets/land_110m.json``, made by
  ``scripts/make_land_outline.py``) is inlined;
* size: plotly.min.js alone is 4.8 MB, and a Plotly animation carries its frames as JSON
  numbers (estimate: 1,584 x 1,441 x 3 values at 8-12 characters, 55-80 MB before links);
  here a frame costs 6 bytes per satellite in base64 typed arrays: Starlink shell 1 over
  24 h at 60 s is 27 MiB in all (measured; the demo 0.5 MiB);
* speed: a frame of Starlink shell 1 (1,584 markers, 3,168 links, load rings, the
  terminator) draws in ~19 ms in headless Chromium (measured), so playback interpolates
  between frames; we did not measure Plotly on the same load;
* no new dependency: nothing to install, no optional extra to report missing.

The file embeds the script, the style, the land outline and the data; it references no URL, so
it opens from a laptop on a plane.  ``tests/test_viewer.py`` loads it in headless Chromium with
the network blocked.
"""
from __future__ import annotations

import argparse
import html
import json
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from .._version import __version__
from ..files import atomic_write_text
from ..scenario.errors import OrbschedError
from .viewer_data import replay_data

__all__ = ["main_view", "render_html", "write_viewer"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1400px; padding: 0.6em 1.2em 2em; color: #222; }
h1 { font-size: 1.25em; margin: 0.2em 0; } h3 { margin: 0.3em 0; font-size: 1em; }
.sub { color: #666; font-size: 0.85em; margin: 0.2em 0 0.5em; }
#bar { display: flex; gap: 0.8em; align-items: center; margin: 0.4em 0; flex-wrap: wrap; }
#bar button { min-width: 5em; padding: 0.25em 0.6em; }
#slider { flex: 1; min-width: 200px; }
#clock { font-variant-numeric: tabular-nums; font-size: 0.9em; min-width: 27em; }
#main { display: flex; gap: 1em; align-items: flex-start; }
#mapbox { flex: 3; min-width: 0; }
#map { display: block; border: 1px solid #ccc; cursor: crosshair; }
#info { flex: 1; min-width: 260px; max-height: 640px; overflow-y: auto; font-size: 0.85em; }
#panels { display: grid; grid-template-columns: 1fr 1fr; gap: 0.6em; margin-top: 0.6em; }
.panel { display: block; width: 100%; border: 1px solid #eee; cursor: pointer; }
.legend { font-size: 0.8em; color: #444; margin: 0.3em 0; }
.legend span { margin-right: 1.1em; white-space: nowrap; }
.dot { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 50%;
       vertical-align: -0.1em; margin-right: 0.25em; }
table { border-collapse: collapse; font-size: 0.95em; }
th, td { border: 1px solid #ddd; padding: 0.1em 0.4em; text-align: right; }
tr.job { cursor: pointer; } tr.job:hover td { background: #fbeaf3; }
.hint { color: #666; } .note { color: #8a5a00; }
"""

_BODY = """
<h1 id="title">orbsched replay</h1>
<p class="sub" id="sub"></p>
<div id="bar"><button id="play" type="button">Play</button>
<label>speed <select id="speed"></select></label>
<input id="slider" type="range" min="0" max="0" step="1" value="0" aria-label="time">
<span id="clock"></span></div>
<div class="legend">
<span><i class="dot" style="background:#f2a900"></i>sunlit</span>
<span><i class="dot" style="background:#8c8c8c"></i>penumbra</span>
<span><i class="dot" style="background:#1f3a93"></i>umbra</span>
<span>black ring: GPU load (full ring = all busy)</span>
<span style="color:#1e963c">&#9472; laser link</span>
<span style="color:#d62728">&#9472;&#9679; migration (route, moving checkpoint)</span>
<span>&#9660; brownout</span><span style="color:#7b2cbf">&#9670; battery floor</span>
<span>&#10005;/+ faults</span><span>&#9633; ground station</span>
<span style="color:#6a3d9a">&#9632; data centre</span>
<span style="color:#e67e00">&#9679; subsolar point</span></div>
<div id="main"><div id="mapbox"><canvas id="map"></canvas></div><div id="info"></div></div>
<div id="panels"><div><canvas id="p_util" class="panel"></canvas></div>
<div><canvas id="p_soc" class="panel"></canvas></div>
<div><canvas id="p_queue" class="panel"></canvas></div>
<div><canvas id="p_mig" class="panel"></canvas></div></div>
<p class="sub">Written by orbsched {version}; self-contained: nothing is fetched.  Wheel: zoom,
drag: pan, double click: whole map, space: play/pause, arrows: step.</p>
"""


def _asset(name: str) -> str:
    return (resources.files("orbsched.analysis").joinpath("viewer_assets").joinpath(name)
            .read_text("utf-8"))


def _script_json(obj) -> str:
    """JSON safe inside a <script> element (no '</' can close it)."""
    return json.dumps(obj, separators=(",", ":"), default=str).replace("</", "<\\/")


def render_html(data: dict) -> str:
    """The replay page of :func:`orbsched.analysis.viewer_data.replay_data`'s ``data``."""
    title = html.escape(f"orbsched replay: {data['meta']['title']}")
    land = _asset("land_110m.json").strip().replace("</", "<\\/")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + _BODY.replace("{version}", html.escape(__version__))
            + f'<script id="orbsched-data" type="application/json">{_script_json(data)}'
              f"</script>\n"
            + f'<script id="orbsched-land" type="application/json">'
              f"{land}</script>\n"
            + f"<script>\n{_asset('viewer.js')}</script>\n</body>\n</html>\n")


def write_viewer(results_dir: str | Path, out_html: str | Path | None = None,
                 frame_s: float | None = None) -> Path:
    """Write the replay of ``results_dir`` to ``out_html`` (default
    ``results_dir/replay.html``) and return its path."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise OrbschedError(f"{folder}: not a folder (expected a results folder written by "
                            f"orbsched run)")
    text = render_html(replay_data(folder, frame_s))
    out = Path(out_html) if out_html is not None else folder / "replay.html"
    atomic_write_text(out, text)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orbsched view",
                                description="Write one self-contained HTML file that replays "
                                            "a results folder (opens offline).")
    p.add_argument("results", help="results folder written by 'orbsched run'")
    p.add_argument("--out", help="HTML file to write (default RESULTS/replay.html)")
    p.add_argument("--frame-s", type=float, help="seconds between frames (default: 60 s, or "
                                                 "the positions table's period, lengthened "
                                                 "for very large runs)")
    return p


def main_view(argv: Sequence[str] | None = None) -> int:
    """``orbsched view RESULTS [--out FILE.html] [--frame-s S]``."""
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = write_viewer(args.results, args.out, args.frame_s)
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    size = out.stat().st_size
    print(f"orbsched view: wrote {out} ({size / 2**20:,.1f} MiB, self-contained) in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_view())
