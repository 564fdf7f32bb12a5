"""The on-disk cache of a constellation's geometry: contact plans, shadow and SAA intervals.

What is cached, and where (``<root>`` is :func:`cache_root`: ``cache_dir``, else
``$ORBSCHED_CACHE``, else ``~/.cache/orbsched``):

* ``<root>/contacts/<key[:32]>/``: the contact plan (:mod:`orbsched.geometry.contacts`, Parquet
  tables);
* ``<root>/geometry/<key[:32]>/``: the shadow intervals (eclipse, umbra, penumbra, point Sun)
  of :func:`orbsched.geometry.stage.compute_geometry` (``intervals.npz``);
* ``<root>/regions/<key[:32]>/``: the intervals a fleet spends inside a region (the South Atlantic
  Anomaly) of :func:`orbsched.geometry.regions.cached_region_intervals` (``intervals.npz``);
* ``<root>/ephemeris/<key[:32]>/``: positions and velocities on the grid for the links'
  lengths (:mod:`orbsched.geometry.ephemeris`: ``r.npy``, ``v.npy``, float32).

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
(a race with another process writing the same entry is harmless: one of them wins, both hold
the same content).

Entries verify themselves: the last file written into an entry is ``SHA256SUMS``, the SHA-256
of every other file (``meta.json`` included), one ``<hex>  <name>`` line each.  Loading an
entry checks it first (:func:`open_entry`): a missing or malformed ``SHA256SUMS``, a file
missing, added or whose bytes differ (one flipped byte is enough) makes the entry *bad*: it is
reported once (a :class:`~orbsched.scenario.errors.CacheWarning`, printed by the command line as
``orbsched: warning: ...``), moved aside and removed, and the caller computes the product
again and saves a good entry, so the run's results equal those of a run with a clean cache.
A verified entry whose files still cannot be read as the product (written by an incompatible
version) is discarded the same way.  A folder of another key (a 128-bit prefix collision) is
a plain miss.  Verifying costs one SHA-256 pass over the entry's bytes per load (~0.2 s per
100 MB).

Switch: ``network.cache`` of the scenario (default true); when it is false nothing is read or
written.  Intervals are stored losslessly (``.npz`` of the float64/int64/bool arrays), so a
loaded product is bit-identical to the computed one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__
from ..files import umask
from ..scenario.errors import CacheWarning, OrbschedError, ScenarioError
from .illumination import Intervals

#: The cached products, each in its own sub-folder of the cache root.
KINDS = ("contacts", "geometry", "regions", "ephemeris")
#: Format of an entry folder, in every key: 2 = entries end with SHA256SUMS (entries written
#: before have other keys, so an upgrade computes them again instead of reporting them bad).
ENTRY_FORMAT = 2
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
        if d.get("plane_range", 0) is None:     # unset: the keys of entries made before it
            d.pop("plane_range")
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
    """What every geometry product depends on: the entry format, the versions of orbsched,
    sgp4 and skyfield, the constellations, the satellites' names (the fleet after exclusions),
    the resolved start, the span, the grid step and the spacing of exact frame rotations."""
    from importlib.metadata import version

    return {
        "entry_format": ENTRY_FORMAT,
        "orbsched": __version__, "sgp4": version("sgp4"), "skyfield": version("skyfield"),
        "constellations": constellation_inputs(scenario, what),
        "sat_names": list(fleet.names),
        "start_utc": fleet.timebase.start_utc.isoformat(),
        "duration_s": float(scenario.duration_s), "step_s": float(scenario.step_s),
        "frame_node_s": float(scenario.geometry.frame_node_s),
    }


SUMS = "SHA256SUMS"
_SUM_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9._-]+)")


def _write_sums(folder):
    """Write ``SHA256SUMS`` (every other file of ``folder``), last."""
    names = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.name != SUMS)
    text = "".join(f"{file_sha256(Path(folder) / n)}  {n}\n" for n in names)
    with open(Path(folder) / SUMS, "w", encoding="ascii", newline="\n") as fh:
        fh.write(text)


def verify_entry(folder):
    """None when every file of the cache entry ``folder`` matches its ``SHA256SUMS``, else
    what is wrong (see the module docstring)."""
    folder = Path(folder)
    try:
        raw = (folder / SUMS).read_bytes()
    except FileNotFoundError:
        return f"no {SUMS} (the entry was not finished, or predates checksums)"
    except OSError as exc:
        return f"{SUMS} unreadable ({exc.strerror})"
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return f"{SUMS} is not a checksum list"
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 2:
        return f"{SUMS} is not a checksum list"
    want = {}
    for line in lines[:-1]:
        m = _SUM_LINE.fullmatch(line)
        if m is None or m.group(2) in want or m.group(2) == SUMS:
            return f"{SUMS} is not a checksum list (line {line[:40]!r})"
        want[m.group(2)] = m.group(1)
    try:
        have = {p.name for p in folder.iterdir() if p.name != SUMS}
    except OSError as exc:
        return f"cannot list the entry ({exc.strerror})"
    if have != set(want):
        diff = sorted(set(want) ^ have)
        return f"files {', '.join(diff)} missing or not listed in {SUMS}"
    for name, digest in want.items():
        try:
            if file_sha256(folder / name) != digest:
                return f"{name} does not match its checksum"
        except OSError as exc:
            return f"{name} unreadable ({exc.strerror})"
    return None


def discard_entry(folder, what, reason):
    """Report a bad cache entry once (:class:`CacheWarning`) and remove it (moved aside
    first, so another process sees the whole entry or none)."""
    folder = Path(folder)
    warnings.warn(f"{what} cache entry {folder} is bad ({reason}): removed, computing it "
                  f"again", CacheWarning, stacklevel=3)
    try:
        trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.bad-", dir=folder.parent))
        os.rename(folder, trash / "entry")
    except OSError:
        trash = folder                      # already gone, or cannot be moved: remove in place
    shutil.rmtree(trash, ignore_errors=True)


def open_entry(folder, key, what="contact-plan"):
    """``meta.json`` of the cache entry ``folder`` as a dict when the entry exists, verifies
    (:func:`verify_entry`) and holds ``key``; else None (a miss).  A bad entry is discarded
    (:func:`discard_entry`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    reason = verify_entry(folder)
    if reason is not None and folder.is_dir():
        reason = verify_entry(folder)   # another process may have replaced it meanwhile
    if reason is not None:
        if folder.is_dir():
            discard_entry(folder, what, reason)
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        discard_entry(folder, what, f"meta.json unreadable: {exc}")
        return None
    return meta if isinstance(meta, dict) and meta.get("key") == key else None


def read_meta(folder, key):
    """``meta.json`` of ``folder`` as a dict when it holds ``key`` (not verified: see
    :func:`open_entry`), else None."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("key") == key else None


def is_cached(root, kind, key):
    """True when the cache under ``root`` has a verified entry of ``kind`` for ``key`` (a
    bad one is discarded)."""
    return open_entry(entry_folder(root, kind, key), key, kind) is not None


def save_entry(folder, key, inputs, write_files, what="contact-plan", **meta):
    """Write one cache entry atomically: ``write_files(tmp_folder)`` writes the data files,
    then ``meta.json`` (``key``, ``inputs`` and ``meta``) and, last, ``SHA256SUMS`` are added
    and the folder renamed into place (an entry already there that verifies is kept: another
    process won the race).  Raises :class:`CacheError` when the cache folder cannot be
    created; any other failure to write (a full disk) leaves the cache as it was."""
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
        _write_sums(tmp)
        os.chmod(tmp, 0o777 & ~umask())
        for _ in range(3):
            try:
                os.rename(tmp, folder)
                return
            except OSError:
                if not folder.is_dir() or verify_entry(folder) is None:
                    break                   # another process won with a good entry
                aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=parent))
                with contextlib.suppress(OSError):
                    os.rename(folder, aside / "entry")
                shutil.rmtree(aside, ignore_errors=True)
    except OSError:
        pass                                # a full disk: the cache stays as it was
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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


def load_intervals(folder, key, names, n_sats, what="interval"):
    """The dict ``{name: Intervals}`` cached in ``folder`` for ``key``, or None (a miss:
    no entry, another key, or a bad entry, discarded) (``what`` names the cache in a
    report)."""

    if open_entry(folder, key, what) is None:
        return None
    out = {}
    try:
        with np.load(Path(folder) / "intervals.npz", allow_pickle=False) as z:
            if str(z["key"]) != key:
                raise ValueError("the arrays are of another key")
            for name in names:
                cols = {f: z[f"{name}.{f}"] for f in _INTERVAL_FIELDS}
                if not _valid_intervals(cols, n_sats):
                    raise ValueError(f"{name}: not intervals of {n_sats} satellites")
                out[name] = Intervals(**cols)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        discard_entry(folder, what, f"verified, but intervals.npz unreadable: {exc}")
        return None
    return out


def _valid_intervals(cols, n_sats):
    shape = cols["sat"].shape
    if len(shape) != 1 or any(a.dtype != _INTERVAL_FIELDS[f] or a.shape != shape
                              for f, a in cols.items()):
        return False
    sat = cols["sat"]
    return not len(sat) or (int(sat.min()) >= 0 and int(sat.max()) < n_sats)
