"""The on-disk cache of a constellation's geometry: contact plans, shadow and SAA intervals.

What is cached, and where (``<root>`` is :func:`cache_root`: ``cache_dir``, else
``$ORBSCHED_CACHE``, else ``~/.cache/orbsched``):

* ``<root>/contacts/<key[:32]>/``: the contact plan (:mod:`orbsched.contacts`, Parquet tables);
* ``<root>/geometry/<key[:32]>/``: the shadow intervals (eclipse, umbra, penumbra, point Sun)
  of :func:`orbsched.geometry.compute_geometry` (``intervals.npz``);
* ``<root>/regions/<key[:32]>/``: the intervals a fleet spends inside a region (the South
  Atlantic Anomaly) of :func:`orbsched.regions.cached_region_intervals` (``intervals.npz``);
* ``<root>/ephemeris/<key[:32]>/``: positions and velocities on the grid for the links'
  lengths (:mod:`orbsched.ephemeris`: ``r.npy``, ``v.npy``, float32, with a SHA-256 of their
  bytes in ``meta.json``).

The key is the SHA-256 of the canonical JSON of everything that determines the product and
nothing else (:func:`inputs_key`); each product builds its inputs from :func:`span_inputs`
(package versions, constellations with element-set files by the SHA-256 of their bytes,
satellite names, start, span, grid step, frame-node spacing) plus its own fields.
``geometry.chunk_mb`` (memory per chunk) is left out, although it is not quite speed only:
where the chunks end decides where interpolation nodes fall, which moves interval edges by up
to ~1e-7 s (measured, 256 vs 8 MB), far inside the 0.01 s edge tolerance; so an entry made
under another ``chunk_mb`` is reused, and a run may differ from a fresh computation in those
digits (the contact plan's cache has always behaved so).  Every folder has a ``meta.json``
with the key and those inputs.

Writes are atomic: the files go to a temporary folder beside the entry, renamed into place
with ``os.replace`` (a race with another process writing the same entry is harmless: one of
them wins, both hold the same content).  Reads never fail: a folder that is missing, a file
that is unreadable, truncated or of another key, or arrays of the wrong type or shape are a
miss, and the caller computes the product again.

Switch: ``network.cache`` of the scenario (default true); when it is false nothing is read or
written.  Intervals are stored losslessly (``.npz`` of the float64/int64/bool arrays), so a
loaded product is bit-identical to the computed one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import OrbschedError, ScenarioError

#: The cached products, each in its own sub-folder of the cache root.
KINDS = ("contacts", "geometry", "regions", "ephemeris")
_INTERVAL_FIELDS = {"sat": np.int64, "start_s": np.float64, "end_s": np.float64,
                    "start_clipped": np.bool_, "end_clipped": np.bool_}


class CacheError(OrbschedError, RuntimeError):
    """A cache folder cannot be used."""


def file_sha256(path):
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root(cache_dir=None):
    """``cache_dir``, else ``$ORBSCHED_CACHE``, else ``~/.cache/orbsched``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("ORBSCHED_CACHE", "").strip()
    return Path(env) if env else Path.home() / ".cache" / "orbsched"


def entry_folder(root, kind, key):
    """``root/kind/key[:32]``: the folder of one cached product."""
    return Path(root) / kind / key[:32]


def inputs_key(inputs):
    """SHA-256 (hex) of the canonical JSON of ``inputs`` (sorted keys, no spaces)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def constellation_inputs(scenario, what="contact-plan"):
    """The scenario's constellations as JSON-able dicts; an element-set file enters by the
    SHA-256 of its bytes instead of its path (``what`` names the cache in the error)."""
    cons = []
    for c in scenario.constellations:
        d = c.model_dump(mode="json")
        if "path" in d:
            d.pop("path")
            try:
                d["file_sha256"] = file_sha256(c.path)
            except OSError as exc:
                raise ScenarioError(f"cannot read {c.path} to key the {what} cache "
                                    f"({exc.strerror})") from None
        cons.append(d)
    return cons


def span_inputs(fleet, scenario, what="contact-plan"):
    """What every geometry product depends on: the versions of orbsched, sgp4 and skyfield,
    the constellations, the satellites' names (the fleet after exclusions), the resolved start,
    the span, the grid step and the spacing of exact frame rotations."""
    from importlib.metadata import version

    return {
        "orbsched": __version__, "sgp4": version("sgp4"), "skyfield": version("skyfield"),
        "constellations": constellation_inputs(scenario, what),
        "sat_names": list(fleet.names),
        "start_utc": fleet.timebase.start_utc.isoformat(),
        "duration_s": float(scenario.duration_s), "step_s": float(scenario.step_s),
        "frame_node_s": float(scenario.geometry.frame_node_s),
    }


def read_meta(folder, key):
    """``meta.json`` of ``folder`` as a dict when it holds ``key``, else None (a miss)."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("key") == key else None


def is_cached(root, kind, key):
    """True when the cache under ``root`` has an entry of ``kind`` for ``key`` (by its
    ``meta.json``; the data files are checked when they are loaded)."""
    return read_meta(entry_folder(root, kind, key), key) is not None


def save_entry(folder, key, inputs, write_files, what="contact-plan", **meta):
    """Write one cache entry atomically: ``write_files(tmp_folder)`` writes the data files,
    then ``meta.json`` (``key``, ``inputs`` and ``meta``) is added and the folder renamed
    into place.  Raises :class:`CacheError` when the cache folder cannot be created; any
    other failure to write (another process won the race, a full disk) leaves the cache as
    it was."""
    folder = Path(folder)
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
    except OSError as exc:
        raise CacheError(f"cannot create the {what} cache in {parent} ({exc.strerror}); "
                         f"set ORBSCHED_CACHE or network.cache: false") from None
    try:
        write_files(tmp)
        (tmp / "meta.json").write_text(json.dumps({"key": key, "inputs": inputs, **meta},
                                                  indent=1, default=str), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process won the race: fine


# ------------------------------------------------------------------------------ intervals
def save_intervals(folder, key, inputs, intervals, what):
    """Cache a dict ``{name: Intervals}`` in ``folder`` (``intervals.npz``, uncompressed:
    the arrays' bytes as they are, with the key among them)."""
    arrays = {"key": np.array(key)}
    for name, iv in intervals.items():
        for f in _INTERVAL_FIELDS:
            arrays[f"{name}.{f}"] = np.asarray(getattr(iv, f))

    def write(tmp):
        with open(tmp / "intervals.npz", "wb") as fh:
            np.savez(fh, **arrays)

    save_entry(folder, key, inputs, write, what, intervals=sorted(intervals))


def load_intervals(folder, key, names, n_sats):
    """The dict ``{name: Intervals}`` cached in ``folder`` for ``key``, or None (a miss) when
    anything is missing, unreadable, of another key or not shaped as intervals of ``n_sats``
    satellites."""
    from .illumination import Intervals

    if read_meta(folder, key) is None:
        return None
    out = {}
    try:
        with np.load(Path(folder) / "intervals.npz", allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            for name in names:
                cols = {f: z[f"{name}.{f}"] for f in _INTERVAL_FIELDS}
                if not _valid_intervals(cols, n_sats):
                    return None
                out[name] = Intervals(**cols)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return out


def _valid_intervals(cols, n_sats):
    shape = cols["sat"].shape
    if len(shape) != 1 or any(a.dtype != _INTERVAL_FIELDS[f] or a.shape != shape
                              for f, a in cols.items()):
        return False
    sat = cols["sat"]
    return not len(sat) or (int(sat.min()) >= 0 and int(sat.max()) < n_sats)
