"""The geometry stage: fleet -> eclipse intervals and sunlight statistics, and their files.

``compute_geometry(scenario)`` builds the fleet, finds every eclipse edge (see
:mod:`orbsched.geometry.illumination`) and returns a :class:`GeometryResult`;
``result.write(out_dir)`` writes ``eclipses.csv``, ``sunlight.csv``, ``excluded.csv`` (when
satellites were excluded), the resolved ``scenario.yaml`` and ``manifest.json`` (versions, timings,
warnings).

Cache: with ``compute_geometry(scenario, cache=True)`` (as :func:`orbsched.run.simulate`, the
sweep's precompute tasks and the engine benchmark call it) the shadow intervals (eclipse,
umbra, penumbra and point-Sun, bit for bit) are loaded from, or saved to,
``<cache root>/geometry/<key[:32]>/`` (:mod:`orbsched.geometry.cache`; root ``cache_dir``,
``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``), when ``network.cache`` is true (the switch of
every geometry cache; false: nothing is read or written).  The key (:func:`geometry_inputs`)
is what the intervals depend on: the span inputs shared with the contact plan (package
versions, constellations with element-set files by SHA-256, satellite names, start, span, grid
step, ``frame_node_s``), ``earth_shape``, ``earth_radius_km``, ``sun_direction``,
``refine_tol_s``, the numpy version and a format number; not ``eclipse_model`` (all four kinds are
computed either way), ``chunk_mb`` (memory) or ``max_epoch_age_days`` (a report).  The fleet itself
is always built (it is cheap, and its exclusions and stale element sets are reported).
``result.from_cache`` says which path ran.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_write_csv, atomic_write_text, versions, write_json
from . import cache as _cache
from . import illumination
from .constellation import build_constellation


@dataclass
class GeometryResult:
    scenario: object
    constellation: object
    eclipse: illumination.Intervals    # whole shadow passages (umbra + penumbra), conical
    umbra: illumination.Intervals
    penumbra: illumination.Intervals   # eclipse minus umbra
    point: illumination.Intervals      # point-Sun test (skyfield's is_sunlit)
    timings_s: dict = field(default_factory=dict)
    key: str = ""                      # the cache key ("" when the cache was not used)
    from_cache: bool = False           # the intervals were loaded from the cache

    @property
    def model(self):
        return self.scenario.geometry.eclipse_model

    def _iso(self, t_s):
        return self.constellation.timebase.iso_utc(t_s, places=3)

    def eclipses_table(self):
        """One row per shadow interval: umbra and penumbra (conical) or umbra (point Sun)."""
        import pandas as pd

        parts = [("umbra", self.umbra), ("penumbra", self.penumbra)] \
            if self.model == "conical" else [("umbra", self.point)]
        names = np.array(self.constellation.names, dtype=object)
        frames = []
        for kind, iv in parts:
            frames.append(pd.DataFrame({
                "sat_id": iv.sat, "name": names[iv.sat], "kind": kind,
                "start_utc": self._iso(iv.start_s), "end_utc": self._iso(iv.end_s),
                "duration_s": np.round(iv.duration_s, 3),
                "start_s": np.round(iv.start_s, 3), "end_s": np.round(iv.end_s, 3),
                "clipped": iv.start_clipped | iv.end_clipped}))
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["sat_id", "start_s", "kind"], kind="stable", ignore_index=True)

    def sunlight_table(self):
        """Per satellite: sunlit fraction, number of eclipses, longest eclipse.

        Conical model: sunlit fraction = 1 - (umbra + half the penumbra) / span; the half is
        exact when the Earth's limb crosses the Sun's disk at a constant rate, which holds to
        well under 1 % over the ~10 s of a LEO penumbra.  It fails for grazing passes within
        about 1 deg of the critical beta angle, where the penumbra lasts minutes: measured
        error up to 1.4 % of an orbit (400 km, 0.24 deg below the critical angle) on those
        few orbits at the edges of an eclipse season.
        """
        import pandas as pd

        n = len(self.constellation)
        span = self.scenario.duration_s
        passages = self.eclipse if self.model == "conical" else self.point
        count = np.bincount(passages.sat, minlength=n)
        longest = np.zeros(n)
        np.maximum.at(longest, passages.sat, passages.duration_s)
        umbra = np.bincount(self.umbra.sat, self.umbra.duration_s, minlength=n)
        pen = np.bincount(self.penumbra.sat, self.penumbra.duration_s, minlength=n)
        if self.model == "conical":
            dark = umbra + 0.5 * pen
        else:
            dark = np.bincount(self.point.sat, self.point.duration_s, minlength=n)
        return pd.DataFrame({
            "sat_id": np.arange(n), "name": self.constellation.names,
            "source": self.constellation.sources,
            "sunlit_fraction": np.round(1.0 - dark / span, 6), "eclipses": count,
            "longest_eclipse_s": np.round(longest, 3), "umbra_s": np.round(umbra, 3),
            "penumbra_s": np.round(pen, 3)})

    def summary(self):
        sun = self.sunlight_table()
        c = self.constellation
        days = self.scenario.duration_s / 86400.0
        return {
            "scenario": self.scenario.name, "satellites": len(c),
            "excluded": len(c.excluded), "stale_element_sets": len(c.stale),
            "start_utc": c.timebase.iso_utc([0.0], 0)[0],
            "duration_h": self.scenario.duration_h, "step_s": self.scenario.step_s,
            "earth_shape": self.scenario.geometry.earth_shape, "eclipse_model": self.model,
            "eclipses": int(sun.eclipses.sum()),
            "eclipses_per_sat_day": round(float(sun.eclipses.mean() / days), 3),
            "sunlit_fraction_mean": round(float(sun.sunlit_fraction.mean()), 5),
            "sunlit_fraction_min": round(float(sun.sunlit_fraction.min()), 5),
            "sunlit_fraction_max": round(float(sun.sunlit_fraction.max()), 5),
            "longest_eclipse_s": round(float(sun.longest_eclipse_s.max()), 3),
            "from_cache": self.from_cache,
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
        }

    def summary_text(self):
        s = self.summary()
        c = self.constellation
        lines = [
            f"orbsched geometry: {s['scenario']}",
            f"  fleet        {s['satellites']} satellites"
            + (f" ({s['excluded']} excluded: SGP4 failed)" if s["excluded"] else "")
            + (f", {s['stale_element_sets']} with element sets more than "
               f"{self.scenario.geometry.max_epoch_age_days:g} d from the span"
               if s["stale_element_sets"] else ""),
            f"  span         {s['start_utc']} + {s['duration_h']:g} h, grid {s['step_s']:g} s",
            f"  shadow       {s['eclipse_model']} Sun, {s['earth_shape']} Earth",
            f"  eclipses     {s['eclipses']} ({s['eclipses_per_sat_day']} per satellite-day), "
            f"longest {s['longest_eclipse_s'] / 60:.2f} min",
            f"  sunlit       mean {s['sunlit_fraction_mean']:.4f}, min "
            f"{s['sunlit_fraction_min']:.4f}, max {s['sunlit_fraction_max']:.4f}",
            "  time         " + ", ".join(f"{k} {v:.2f} s" for k, v in s["timings_s"].items())
            + (" (shadow intervals from the cache)" if self.from_cache else ""),
        ]
        for name, src, reason in c.excluded[:5]:
            lines.append(f"  excluded     {name} ({src}): {reason}")
        if len(c.excluded) > 5:
            lines.append(f"  excluded     ... and {len(c.excluded) - 5} more (excluded.csv)")
        return "\n".join(lines)

    def write(self, out_dir):
        import pandas as pd

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [atomic_write_csv(out / "eclipses.csv", self.eclipses_table()),
                   atomic_write_csv(out / "sunlight.csv", self.sunlight_table())]
        c = self.constellation
        if c.excluded:
            written.append(atomic_write_csv(out / "excluded.csv", pd.DataFrame(
                c.excluded, columns=["name", "source", "reason"])))
        if c.stale:
            written.append(atomic_write_csv(out / "stale_elements.csv", pd.DataFrame(
                c.stale, columns=["name", "source", "epoch_age_days"])))
        written.append(atomic_write_text(out / "scenario.yaml", self.scenario.to_yaml()))
        written.append(write_json(out / "manifest.json", {
            "summary": self.summary(), "versions": versions(),
            "files": [p.name for p in written]}))
        return written


GEOMETRY_FORMAT = 2     # bump when the cached intervals' meaning or arrays change
                        # (2: the sphere's radius and the Sun's direction are inputs)
_KINDS = ("eclipse", "umbra", "penumbra", "point")


def geometry_inputs(fleet, scenario):
    """Everything that determines the shadow intervals, as a JSON-able dict (the cache key's
    input; ``scenario`` is the resolved one returned with ``fleet`` by
    :func:`~orbsched.geometry.constellation.build_constellation`)."""
    from importlib.metadata import version

    opts = scenario.geometry
    return {"kind": "geometry", "format": GEOMETRY_FORMAT,
            **_cache.span_inputs(fleet, scenario, "geometry"), "numpy": version("numpy"),
            "earth_shape": opts.earth_shape, "refine_tol_s": float(opts.refine_tol_s),
            "earth_radius_km": opts.earth_radius_km, "sun_direction": opts.sun_direction}


def compute_geometry(scenario, progress=False, *, cache=False, cache_dir=None, fleet=None):
    """Run the geometry stage for a validated scenario (see the module docstring).

    ``cache=True`` uses the on-disk cache (under ``cache_dir``, ``$ORBSCHED_CACHE`` or
    ``~/.cache/orbsched``) when ``scenario.network.cache`` is true; the default computes
    (``orbsched geometry`` and the geometry benchmark measure the computation).  ``fleet``:
    the fleet :func:`~orbsched.geometry.constellation.build_constellation` built for ``scenario``
    (then ``scenario`` must be the resolved one it returned), instead of building it again.
    """
    t0 = time.perf_counter()
    if fleet is None:
        fleet, scenario = build_constellation(scenario)
    t1 = time.perf_counter()
    key, folder = "", None
    if cache and scenario.network.cache:
        inputs = geometry_inputs(fleet, scenario)
        key = _cache.inputs_key(inputs)
        folder = _cache.entry_folder(_cache.cache_root(cache_dir), "geometry", key)
        hit = _cache.load_intervals(folder, key, _KINDS, len(fleet), "geometry")
        if hit is not None:
            return GeometryResult(scenario, fleet, *(hit[k] for k in _KINDS),
                                  {"fleet": t1 - t0, "load": time.perf_counter() - t1},
                                  key, True)
    iv, timings = _compute_intervals(fleet, scenario, progress)
    timings = {"fleet": t1 - t0, **timings}
    if folder is not None:
        t2 = time.perf_counter()
        _cache.save_intervals(folder, key, inputs, iv, "geometry")
        timings["save"] = time.perf_counter() - t2
    return GeometryResult(scenario, fleet, *(iv[k] for k in _KINDS), timings, key, False)


def _compute_intervals(fleet, scenario, progress, chunk_steps=None):
    """The four kinds of shadow intervals (:data:`_KINDS`) and the time each step took.
    ``chunk_steps``: grid steps per time chunk (default: as many as ``geometry.chunk_mb``
    allows for this fleet; a satellite chunk of a bigger fleet passes the whole fleet's, so
    its intervals equal the whole computation's bit for bit)."""
    t1 = time.perf_counter()
    opts = scenario.geometry
    n_steps = int(np.ceil(scenario.duration_s / scenario.step_s))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="step", desc="geometry", leave=False)
    try:
        cross = illumination.find_shadow_crossings(
            lambda t: fleet.propagate(t, opts.frame_node_s), len(fleet), fleet.timebase,
            scenario.duration_s, scenario.step_s, opts.earth_shape, opts.refine_tol_s,
            chunk_steps or illumination.chunk_steps_for(len(fleet), opts.chunk_mb),
            opts.frame_node_s,
            progress=bar.update if bar else None, earth_radius_km=opts.earth_radius_km,
            sun_direction=opts.sun_direction)
    finally:
        if bar:
            bar.close()
    t2 = time.perf_counter()
    iv = {k: illumination.crossings_to_intervals(*cross[k], scenario.duration_s)
          for k in illumination.FUNCTIONS}
    iv["penumbra"] = illumination.subtract_intervals(iv["eclipse"], iv["umbra"])
    return iv, {"shadow": t2 - t1, "intervals": time.perf_counter() - t2}
