"""A very large run partitioned by shell (and groups of planes) over Dask workers.

:func:`plan_partitions` cuts a scenario into independent sub-scenarios, each run by
:func:`orbsched.run.simulate` as any scenario is (so partitioning works with whichever engine
``simulate`` drives), and :func:`merge_summaries` folds their ``summary.json`` into one.

How the fleet is cut
    Each constellation entry is one partition; a Walker shell of more than ``max_sats``
    satellites is cut into groups of consecutive planes (``plane_range``, the Walker pattern of
    the whole shell kept), as even as whole planes allow.  Partition ``k``'s satellites are
    satellites ``first_sat .. first_sat + n_sats - 1`` of the whole fleet, in fleet order.

What crosses partitions: nothing, during the run.  What that approximates
    * **Laser links between partitions do not exist**: none between shells (the filing's
      shells are not linked to each other in orbsched either: ``+grid`` never joins two
      shells), and, where a shell is cut into plane groups, the cross-plane links between
      the last plane of one group and the first of the next (and the seam of a delta shell)
      are lost: 1 / planes-in-group of a satellite's cross-plane links.  Jobs, migrations and
      routes stay inside a partition.
    * **Ground stations are shared through the merge**: every partition sees every ground
      station, as if it had them to itself; where stations have a finite capacity, the
      merged run over-counts it (up to once per partition).  Ground datacentres and
      inference services, whose demand or capacity would have to be divided, are refused
      (:class:`PartitionError`).
    * **Workload split proportionally to GPUs**: partition ``k`` holds a share
      ``g_k = n_sats_k / N`` of the fleet's GPUs (every satellite carries ``hardware.gpus``);
      its synthetic workload arrives at ``g_k`` times the rate, and ``n_jobs`` is split by
      largest remainders (the shares sum to ``n_jobs`` exactly).  The jobs are different draws
      from the whole run's (each partition has its own seed), with the same distribution and
      the same offered load per GPU; a job never spans partitions.  Trace workloads are refused.
    * **Seeds**: partition ``k`` of several runs with
      ``SeedSequence([seed, k]).generate_state(1)[0]``: independent, reproducible streams; a
      scenario that is one partition keeps its seed (the partitioned run is then the run).

The merge (:func:`merge_summaries`)
    Counts, energies, GPU-hours, migrations, faults and jobs are summed; utilisations are
    averaged weighted by GPUs, eclipse and SAA fractions by satellites, the mean depth of
    discharge by eclipses (approximated by satellites); extremes take the extreme
    (``min_soc``, ``max_dod_per_eclipse``, ``temperature_max_k``); the job-completion and
    queueing percentiles are recomputed exactly from the partitions' ``jobs.parquet`` when
    given (:func:`job_percentiles`), else marked approximate (weighted by jobs).
"""
from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..run import simulate
from ..scenario.errors import OrbschedError
from ..scenario.sections import NoWorkload, SyntheticWorkload

__all__ = ["Partition", "PartitionError", "plan_partitions", "run_partition",
           "run_partitioned", "merge_summaries", "job_percentiles"]


def _q(x, q):                   # as orbsched.results.folder computes a summary's quantiles
    return float(np.quantile(x, q)) if len(x) else math.nan


def _r(x, nd=6):                # and rounds its values
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


class PartitionError(OrbschedError):
    """The scenario cannot be partitioned as asked."""


@dataclass(frozen=True)
class Partition:
    """One independent piece of a partitioned run (module docstring)."""

    index: int
    name: str
    entry: int                   # constellations[entry] of the whole scenario
    plane_range: tuple | None    # the planes of a cut Walker shell, else None
    first_sat: int               # fleet index (whole fleet) of its first satellite
    n_sats: int
    gpu_share: float             # its GPUs over the fleet's
    scenario: object             # the sub-scenario simulate() runs


def _entry_size(c) -> int:
    if c.type == "walker":
        return c.n_sats
    if c.type in ("sso", "formation"):
        return c.sats
    raise PartitionError(f"constellation {c.name or c.type} ({c.type}): partitions need "
                         f"synthetic fleets (walker, sso, formation); an element-set file's "
                         f"size is known only once read")


def _plane_groups(c, max_sats: int) -> list:
    """Plane ranges of at most ``max_sats`` satellites (whole planes, as even as possible)."""
    planes = list(c.flown_planes)
    per_group = max(1, max_sats // c.sats_per_plane)
    k = math.ceil(len(planes) / per_group)
    cuts = [planes[0] + (len(planes) * i) // k for i in range(k + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(k)]


def _split_count(total: int, shares: list[float]) -> list[int]:
    """``total`` split in proportion to ``shares`` by largest remainders (sums to total)."""
    raw = [total * s for s in shares]
    out = [int(math.floor(x)) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def partition_seed(seed: int, index: int) -> int:
    """The seed of partition ``index`` (module docstring)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def plan_partitions(scenario, max_sats: int | None = None) -> list[Partition]:
    """The partitions of ``scenario`` (module docstring): one per constellation entry,
    Walker shells above ``max_sats`` satellites cut into groups of planes."""
    if scenario.datacentres:
        raise PartitionError("datacentres: a ground datacentre's GPUs would be counted once "
                             "per partition; partitioned runs take orbital fleets only")
    if scenario.inference.services:
        raise PartitionError("inference.services: their requests would have to be divided "
                             "between partitions; not supported by partitioned runs")
    wl = scenario.workload
    if not isinstance(wl, (SyntheticWorkload, NoWorkload)):
        raise PartitionError(f"workload type {wl.type}: a partitioned run splits a synthetic "
                             f"workload by GPUs; a trace's jobs are not divided")
    if max_sats is not None and max_sats < 1:
        raise PartitionError(f"max_sats must be >= 1, got {max_sats}")
    pieces, first = [], 0
    for i, c in enumerate(scenario.constellations):
        size = _entry_size(c)
        if c.type == "walker" and max_sats is not None and size > max_sats:
            for rng in _plane_groups(c, max_sats):
                n = (rng[1] - rng[0]) * c.sats_per_plane
                pieces.append((i, rng, first, n))
                first += n
        else:
            pieces.append((i, None, first, size))
            first += size
    total = first
    shares = [p[3] / total for p in pieces]
    n_jobs = None
    if isinstance(wl, SyntheticWorkload) and wl.n_jobs is not None:
        n_jobs = _split_count(wl.n_jobs, shares)
    out = []
    for k, ((i, rng, first_sat, n), share) in enumerate(zip(pieces, shares)):
        c = scenario.constellations[i]
        name = f"{scenario.name}.p{k:03d}"
        entry = c.model_copy(update={"plane_range": rng}) if rng is not None else c
        update = {"name": name, "constellations": [entry],
                  "seed": scenario.seed if len(pieces) == 1
                  else partition_seed(scenario.seed, k)}
        if isinstance(wl, SyntheticWorkload):
            rate = wl.rate_per_h if wl.rate_per_h is not None else wl.params.rate_per_h
            update["workload"] = wl.model_copy(update={
                "rate_per_h": rate * share if len(pieces) > 1 else wl.rate_per_h,
                "n_jobs": None if n_jobs is None else n_jobs[k]})
        out.append(Partition(k, name, i, rng, first_sat, n, share,
                             scenario.model_copy(update=update)))
    return out


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 ** 2


def run_partition(part: Partition, out_dir=None, cache_dir=None) -> dict:
    """Run one partition (:func:`orbsched.run.simulate`; its results folder written to
    ``out_dir/<name>`` when given).  Returns ``{"index", "name", "n_sats", "summary",
    "wall_s", "timings_s", "peak_rss_gb", "pid", "folder"}`` (the peak RSS is the process's
    so far: on a worker that ran several partitions, the largest of them)."""
    t0 = time.perf_counter()
    res = simulate(part.scenario, cache_dir=cache_dir)
    summary = res.summary()
    folder: str | None = None
    if out_dir is not None:
        path = Path(out_dir) / part.name
        res.write(path)
        folder = str(path)
    return {"index": part.index, "name": part.name, "n_sats": part.n_sats,
            "summary": summary, "wall_s": time.perf_counter() - t0,
            "timings_s": dict(res.timings_s), "peak_rss_gb": _peak_rss_gb(),
            "pid": os.getpid(), "folder": folder}


def run_partitioned(scenario, client=None, *, out_dir=None, max_sats: int | None = None,
                    cache_dir=None) -> dict:
    """Plan, run (on the Dask ``client``'s workers, or one after another here) and merge.
    Returns ``{"summary": merged, "partitions": [run_partition records]}``."""
    parts = plan_partitions(scenario, max_sats)
    if client is None:
        records = [run_partition(p, out_dir, cache_dir) for p in parts]
    else:
        futures = [client.submit(run_partition, p, out_dir, cache_dir, pure=False,
                                 key=f"partition-{p.name}") for p in parts]
        records = client.gather(futures)
    folders = [r["folder"] for r in records] if out_dir is not None else None
    merged = merge_summaries([r["summary"] for r in records], folders, name=scenario.name,
                             seed=scenario.seed)
    return {"summary": merged, "partitions": records}


# ------------------------------------------------------------------------------ merge
#: Summary keys merged otherwise than by a sum: (how, weight).
_WEIGHTED = {"utilisation": "gpus_total", "utilisation_sunlit": "gpus_total",
             "utilisation_penumbra": "gpus_total", "utilisation_umbra": "gpus_total",
             "eclipse_fraction": "n_sats", "faults.mean_saa_fraction": "n_sats",
             "battery.mean_dod_per_eclipse": "n_sats"}
_MIN = ("battery.min_soc", "battery.floor_soc")
_MAX = ("battery.max_dod_per_eclipse", "temperature_max_k")
_SAME = ("policy", "start_utc", "duration_h", "gpus_per_sat", "presets")
_PCT = ("job_completion_s", "queueing_delay_s")


def job_percentiles(folders: list) -> dict:
    """Exact job-completion and queueing statistics over the jobs of every partition
    (their ``jobs.parquet``), as :func:`orbsched.results.folder.summarize` computes them."""
    import pandas as pd

    jobs = pd.concat([pd.read_parquet(Path(f) / "jobs.parquet",
                                      columns=["status", "completion_s", "first_start_s",
                                               "queue_delay_s"]) for f in folders],
                     ignore_index=True)
    done = jobs[jobs["status"] == "completed"]["completion_s"]
    started = jobs[jobs["first_start_s"].notna()]["queue_delay_s"]
    return {"job_completion_s": {"mean": _r(done.mean()), "p50": _r(_q(done, 0.5)),
                                 "p99": _r(_q(done, 0.99))},
            "queueing_delay_s": {"mean": _r(started.mean()), "p50": _r(_q(started, 0.5)),
                                 "p99": _r(_q(started, 0.99))}}


def _merge(values: list, path: str, weights: dict):
    v0 = values[0]
    if isinstance(v0, dict):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: _merge([v.get(k) for v in values], f"{path}.{k}".lstrip("."), weights)
                for k in keys}
    if any(v is None for v in values) or isinstance(v0, (str, list, bool)):
        return v0 if all(v == v0 for v in values) else values
    if path in _WEIGHTED:
        w = np.asarray(weights[_WEIGHTED[path]], float)
        return _r(float(np.dot(w, np.asarray(values, float)) / w.sum()))
    if path in _MIN:
        return min(values)
    if path in _MAX:
        return max(values)
    total = sum(values)
    return total if isinstance(v0, int) else _r(total)


def merge_summaries(summaries: list[dict], folders: list | None = None, *,
                    name: str | None = None, seed: int | None = None) -> dict:
    """One summary of a partitioned run (module docstring: how each key is merged)."""
    if not summaries:
        raise PartitionError("no partition summary to merge")
    if len(summaries) == 1 and folders is None:
        out = dict(summaries[0])
    else:
        for key in _SAME:
            vals = {repr(s.get(key)) for s in summaries}
            if len(vals) > 1:
                raise PartitionError(f"partitions disagree on {key}: {sorted(vals)}")
        weights = {k: [s[k] for s in summaries] for k in ("gpus_total", "n_sats")}
        rest = [{k: v for k, v in s.items() if k not in _PCT and k not in _SAME}
                for s in summaries]
        out = {k: summaries[0][k] for k in _SAME if k in summaries[0]}
        out.update(_merge(rest, "", weights))
        if folders is not None:
            out.update(job_percentiles(folders))
        else:                           # approximate: means and percentiles weighted by jobs
            w = np.asarray([s["jobs"]["completed"] for s in summaries], float)
            for key in _PCT:
                out[key] = {q: (_r(float(np.dot(w, [s[key][q] or 0.0 for s in summaries])
                                         / w.sum())) if w.sum() else None)
                            for q in ("mean", "p50", "p99")}
            out["percentiles_approximate"] = True
    out["scenario"] = name if name is not None else out.get("scenario")
    if seed is not None:
        out["seed"] = seed
    out["partitions"] = len(summaries)
    return out
