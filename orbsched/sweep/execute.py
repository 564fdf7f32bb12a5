"""Running a sweep: the geometry caches first, then the runs, on local processes or Dask.

Folder ``OUT``::

    sweep.yaml            the sweep as expanded (runs, their overrides, seeds, geometries)
    sweep.parquet         one row per run (:func:`orbsched.sweep.collect`), written at the end
    cache/                contact plans, shadow and SAA intervals shared by the runs
                          (:mod:`orbsched.geometry.cache`; ``--cache-dir`` to put it elsewhere)
    runs/<id>/run.json    the run's id, position, seed, swept values and overrides
    runs/<id>/...         its results folder (summary.json last = complete) or error.txt

Geometry: runs are grouped by the contact-plan cache key itself (:func:`orbsched.geometry.contacts.
plan_key` of :func:`~orbsched.geometry.contacts.plan_inputs` on the built fleet), computed once per
distinct set of geometry fields (constellations, span, grid, geometry and network options,
stations), so the grouping is exactly the cache's.  Before any run starts, one task per cache
entry that the runs to do need and the cache lacks fills it: each distinct contact plan, each
distinct set of shadow intervals (:func:`orbsched.geometry.stage.geometry_inputs`: the plan's span
and ``geometry.refine_tol_s``) and each distinct set of SAA intervals (the span and the SAA
region), the longest kind first, in parallel on the workers; every run then loads all three
(runs with ``network.cache: false`` compute their own, and need no task).  A task that fails
is reported and its runs compute the entry themselves.

Order: runs are submitted longest-expected-first (simulated hours x satellites x jobs; ties in
sweep order), so that a long run does not start last and finish alone while the other workers
idle.  With runs that differ only by seed the estimates tie and the order is the sweep's.

Workers and deaths: local runs go to a :class:`~concurrent.futures.ProcessPoolExecutor`
(``spawn``: the parent holds numpy/BLAS threads, so no ``fork``), at most ``workers`` in
flight; on Linux the workers die with the sweep process (``PR_SET_PDEATHSIG``).  The workers
are started, once per sweep, as soon as the runs to do are known: they import orbsched while
the parent groups the geometries, then compute the plans and run the runs; a worker whose
runs are over skips the interpreter's teardown (``os._exit`` after flushing).  A dead worker
breaks the whole pool (``BrokenProcessPool`` for every run in flight): the pool is rebuilt,
and when several runs were in flight they are re-run one at a time, so a death is only ever
counted against the run that was alone in the pool (a run in flight beside another may not
even have started).  Workers that die as they start (a script
without ``if __name__ == '__main__':``) stop the sweep with an error.  On Dask a death shows as
``KilledWorker`` for that task (``--dask local`` sets the scheduler's ``allowed-failures`` to 0
so each death is reported at once; a remote scheduler applies its own first).  A run whose
worker died more than ``retries`` times is recorded failed.  A run that raises writes
``error.txt`` (what went wrong on one line, then the traceback; partial results marked
incomplete when its engine had started) and the sweep goes on; a run that cannot even write
that (a full disk) is reported, stays pending, and runs again when the sweep is resumed.

Determinism: a run's inputs (base scenario, overrides, seed, contact plan) come from the sweep
file alone; each worker builds its scenario and simulates it from them, so neither the
executor, the number of workers nor the order of completion changes any result.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import traceback
from pathlib import Path

import yaml

from ..analysis.compare import collect
from ..files import atomic_write, atomic_write_text, write_json
from ..geometry.cache import KINDS, inputs_key, is_cached
from ..geometry.constellation import build_constellation
from ..geometry.contacts import compute_contact_plan, plan_inputs, plan_key
from ..geometry.ephemeris import compute_ephemeris, ephemeris_inputs
from ..geometry.regions import (
    cached_region_intervals,
    region_cache_inputs,
    region_shape,
    saa_region,
)
from ..geometry.stage import compute_geometry, geometry_inputs
from ..results.folder import RUN_FILE, run_status
from ..run import simulate
from ..scenario.errors import ScenarioError, describe
from ..scenario.schema import apply_overrides, scenario_from_dict
from .plan import Sweep, load_sweep
from .pools import DaskPool, LocalPool

__all__ = ["DaskPool", "LocalPool", "execute_run", "expected_cost", "geometry_groups",
           "missing_cache_entries", "precompute_plan", "run_status", "run_sweep"]

_GEOMETRY_FIELDS = {"constellations", "start_utc", "duration_h", "step_s", "geometry",
                    "network", "ground_stations"}
#: Precompute tasks by cache kind: their ids' prefix and their name in warnings.
_TASK_PREFIX = {"contacts": "plan", "geometry": "shadow", "regions": "saa",
                "ephemeris": "ephemeris"}
_TASK_NAME = {"contacts": "contact plan", "geometry": "shadow intervals",
              "regions": "SAA intervals", "ephemeris": "grid ephemeris"}


# ------------------------------------------------------------------------- worker tasks
def _scenario(task):
    import copy

    data = apply_overrides(copy.deepcopy(task["base_raw"]), task["overrides"])
    return scenario_from_dict(data, task["source"], task["base_dir"])


def execute_run(task):
    """Run one sweep run into ``task['run_dir']`` (in a worker process).  A failure writes
    ``error.txt`` (one line saying what went wrong, then the traceback) and, when the engine
    had started, the partial results marked incomplete; a failure to write those (a full
    disk) is reported in the returned error instead of raising."""

    folder = Path(task["run_dir"])
    if (folder / "summary.json").is_file():
        return {"status": "done", "skipped": True}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "error.txt").unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        res = simulate(_scenario(task), seed=task["seed"], cache_dir=task["cache_dir"],
                       base_dir=task["base_dir"], source=task["source"])
        res.write(folder, carry=(RUN_FILE,))
    except Exception as exc:
        tb = traceback.format_exc()
        line = describe(exc)
        partial = getattr(exc, "partial_result", None)
        if partial is not None:
            try:
                partial.write(folder, carry=(RUN_FILE,))
            except Exception as werr:
                line += f" (partial results not written: {describe(werr)})"
        try:
            atomic_write_text(folder / "error.txt", f"run {task['id']} failed "
                              f"({', '.join(task['overrides'])}; seed {task['seed']}): "
                              f"{line}\n\n{tb}")
        except OSError as werr:
            return {"status": "failed", "traceback": tb,
                    "error": f"{line} (error.txt not written: {describe(werr)})"}
        return {"status": "failed", "error": line}
    return {"status": "done", "wall_s": time.perf_counter() - t0}


def precompute_plan(task):
    """Fill one entry of the shared cache (in a worker process): ``task['kind']`` is
    ``contacts`` (the contact plan; the default), ``geometry`` (the shadow intervals),
    ``regions`` (the SAA intervals) or ``ephemeris`` (the grid ephemeris) of the task's
    scenario."""

    kind = task.get("kind", "contacts")
    t0 = time.perf_counter()
    try:
        if kind == "geometry":
            cached = compute_geometry(_scenario(task), cache=True,
                                      cache_dir=task["cache_dir"]).from_cache
        else:
            fleet, resolved = build_constellation(_scenario(task))
            if kind == "contacts":
                cached = compute_contact_plan(fleet, resolved,
                                              cache_dir=task["cache_dir"]).from_cache
            elif kind == "ephemeris":
                cached = compute_ephemeris(fleet, resolved, task["cache_dir"]).from_cache
            else:
                cached = cached_region_intervals(fleet, resolved, resolved.faults.radiation.saa,
                                                 task["cache_dir"])[1]
    except Exception:
        return {"status": "failed", "error": traceback.format_exc().strip().splitlines()[-1]}
    return {"status": "done", "wall_s": time.perf_counter() - t0, "cached": cached}


# ------------------------------------------------------------------------------ the sweep
def geometry_groups(sweep, sizes=None, keys=None):
    """Set ``run.geometry`` (the contact-plan cache key) on every run; return
    ``{key: [runs]}`` in sweep order.  ``sizes``, a dict, receives ``{key: satellites}``;
    ``keys``, a dict, receives ``{run.id: {"contacts": key, "geometry": key, "regions": key}}``,
    the cache keys of each run's contact plan, shadow intervals and SAA intervals (``regions``
    None when the run has no SAA).  The fleet is built once per distinct set of geometry
    fields."""

    by_fields = {}
    for run in sweep.runs:
        fields = json.dumps(run.scenario.model_dump(mode="json", include=_GEOMETRY_FIELDS),
                            sort_keys=True)
        by_fields.setdefault(fields, []).append(run)
    for runs in by_fields.values():
        fleet, resolved = build_constellation(runs[0].scenario)
        key = plan_key(plan_inputs(fleet, resolved))
        if sizes is not None:
            sizes[key] = len(fleet)
        shadow_key = inputs_key(geometry_inputs(fleet, resolved)) if keys is not None else None
        eph_key = inputs_key(ephemeris_inputs(fleet, resolved)) if keys is not None else None
        saa_keys = {None: None}
        for run in runs:
            run.geometry = key
            if keys is None:
                continue
            saa = saa_region(run.scenario)
            shape = None if saa is None else json.dumps(region_shape(saa), sort_keys=True)
            if shape not in saa_keys:
                saa_keys[shape] = inputs_key(region_cache_inputs(fleet, resolved, saa))
            keys[run.id] = {"contacts": key, "geometry": shadow_key, "regions": saa_keys[shape],
                            "ephemeris": eph_key}
    groups = {}
    for run in sweep.runs:
        groups.setdefault(run.geometry, []).append(run)
    return groups


def missing_cache_entries(runs, keys, cache_dir):
    """``[(kind, key, run)]``: the cache entries the ``runs`` need (:func:`geometry_groups`'s
    ``keys``) that ``cache_dir`` lacks, each once with the first run that needs it, contact
    plans first, then shadow intervals, then SAA intervals.  Runs with ``network.cache:
    false`` need none."""

    found = {kind: {} for kind in KINDS}
    for run in runs:
        if not run.scenario.network.cache:
            continue
        for kind, key in keys[run.id].items():
            if key is not None and key not in found[kind]:
                found[kind][key] = run
    return [(kind, key, run) for kind in KINDS for key, run in found[kind].items()
            if not is_cached(cache_dir, kind, key)]


def expected_cost(run, satellites=1):
    """A run's relative cost, to start the longest first: simulated hours x satellites x
    (1 + jobs), jobs being ``workload.n_jobs`` or the arrival rate times the span (0 for a
    trace or no workload).  Only the order matters; seeds and policies are not told apart."""
    sc = run.scenario
    wl = getattr(sc, "workload", None)
    jobs = getattr(wl, "n_jobs", None)
    if jobs is None:
        rate = getattr(wl, "rate_per_h", None) or \
            getattr(getattr(wl, "params", None), "rate_per_h", None)
        jobs = rate * sc.duration_h if isinstance(rate, (int, float)) else 0
    return float(sc.duration_h) * max(int(satellites), 1) * (1.0 + jobs)


def _task(sweep, run, out, cache):
    return {"id": run.id, "index": run.index, "seed": run.seed, "base_raw": sweep.base_resolved,
            "overrides": list(run.overrides), "base_dir": str(sweep.base_dir),
            "source": f"{sweep.source} + run {run.id}", "run_dir": str(out / "runs" / run.id),
            "cache_dir": str(cache)}


def _check_listing(sweep, out):
    listing = out / "sweep.yaml"
    if listing.is_file():
        old = yaml.safe_load(listing.read_text(encoding="utf-8")) or {}
        if old.get("base_sha256") not in (None, sweep.base_sha256):
            raise ScenarioError(f"{out} holds a sweep of a different base scenario "
                                f"({old.get('base')}); use another --out or remove it")


def _write_listing(sweep, out, cache):
    listing = out / "sweep.yaml"
    doc = {"name": sweep.name, "sweep_file": str(sweep.path.resolve()), "base": sweep.source,
           "base_sha256": sweep.base_sha256, "cache_dir": str(cache),
           "parameters": sweep.parameters, "fixed": sweep.fixed, "seeds": sweep.seeds,
           "n_runs": len(sweep.runs), "runs": [r.record() for r in sweep.runs]}
    atomic_write_text(listing, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    for run in sweep.runs:
        path = out / "runs" / run.id / RUN_FILE
        rec = run.record()
        try:
            if json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(
                    rec, default=str)):
                continue
        except (OSError, ValueError):
            pass
        write_json(path, rec)


def run_sweep(sweep, out_dir, *, workers=None, dask=None, retries=2, cache_dir=None,
              dry_run=False, progress=False, log=None, on_result=None):
    """Expand and run a sweep (a path or a :class:`~orbsched.sweep.plan.Sweep`) into ``out_dir``.

    ``dask``: None (local processes), ``"local"`` or a scheduler address.  ``on_result(run,
    result)`` is called in the parent after each run finishes.  Returns a dict with counts
    (``runs``, ``done``, ``failed``, ``skipped``, ``geometries``...) and ``frame`` (the
    content of ``sweep.parquet``; None with ``dry_run``).
    """

    log = log or (lambda *a, **k: None)
    if retries < 0:
        raise ScenarioError(f"--retries must be >= 0, got {retries}")
    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers must be >= 1, got {workers}")
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    out = Path(out_dir).resolve()
    cache = Path(cache_dir).resolve() if cache_dir else out / "cache"
    n = len(sweep.runs)
    outcome = {"runs": n, "geometries": 0, "done": 0, "failed": 0, "skipped": 0,
               "plans_computed": 0, "intervals_computed": 0, "frame": None, "out": out}
    todo = []
    if not dry_run:
        _check_listing(sweep, out)
        todo = [r for r in sweep.runs if run_status(out / "runs" / r.id) != "done"]
    workers = workers or os.cpu_count() or 1
    pool = contextlib.nullcontext()
    if todo:
        pool = DaskPool(dask, workers) if dask else LocalPool(min(workers, len(todo)))
    with pool:
        if isinstance(pool, LocalPool):
            pool.start()          # the workers import orbsched while the parent goes on here
        sizes, keys = {}, {}
        groups = geometry_groups(sweep, sizes, keys)
        outcome["geometries"] = len(groups)
        log(f"sweep {sweep.name}: {n} run{'s' if n > 1 else ''} ({sweep.shape}), "
            f"{len(groups)} distinct geometr{'y' if len(groups) == 1 else 'ies'} "
            f"(contact-plan cache keys)")
        if dry_run:
            for run in sweep.runs[:20]:
                log(f"  {run.index:4d}  {run.id}  seed {run.seed}  geometry {run.geometry[:8]}  "
                    + ", ".join(f"{k}={v}" for k, v in run.params.items()))
            if n > 20:
                log(f"  ... and {n - 20} more")
            return outcome
        _write_listing(sweep, out, cache)
        outcome["skipped"] = n - len(todo)
        if outcome["skipped"]:
            log(f"  {outcome['skipped']} already complete, {len(todo)} to run")
        todo_ids = {r.id for r in todo}
        entries = missing_cache_entries([r for r in sweep.runs if r.id in todo_ids], keys,
                                        cache)
        n_plans = sum(kind == "contacts" for kind, _, _ in entries)
        if n_plans:
            log(f"  contact plans: computing {n_plans} into {cache}")
        if len(entries) > n_plans:
            log(f"  shadow and SAA intervals, grid ephemerides: computing "
                f"{len(entries) - n_plans} into {cache}")
        if entries:
            tasks = [dict(_task(sweep, run, out, cache), id=f"{_TASK_PREFIX[kind]}-{k[:12]}",
                          index=i, kind=kind) for i, (kind, k, run) in enumerate(entries)]
            for task, res in pool.run(precompute_plan, tasks, retries):
                if res["status"] != "done":
                    log(f"  warning: {_TASK_NAME[task['kind']]} {task['id']} failed "
                        f"({res['error']}); its runs will compute it themselves")
                elif task["kind"] == "contacts":
                    outcome["plans_computed"] += 1
                else:
                    outcome["intervals_computed"] += 1
        if todo:
            todo.sort(key=lambda r: (-expected_cost(r, sizes.get(r.geometry, 1)), r.index))
            _execute(pool, sweep, todo, out, cache, retries, progress, on_result)
    frame = collect(out)
    atomic_write(out / "sweep.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    outcome["frame"] = frame
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    outcome["done"], outcome["failed"] = counts.get("done", 0), counts.get("failed", 0)
    log(f"  {outcome['done']} done, {outcome['failed']} failed"
        + (f" (see runs/<id>/error.txt: {', '.join(frame[frame.status == 'failed'].run_id)})"
           if outcome["failed"] else "") + f"; wrote {out / 'sweep.parquet'}")
    return outcome


def _execute(pool, sweep, todo, out, cache, retries, progress, on_result):
    """Run ``todo`` (submitted in that order) and handle each result as it comes."""
    from tqdm.auto import tqdm

    by_id = {r.id: r for r in todo}
    bar = tqdm(total=len(todo), unit="run", desc=sweep.name, disable=not progress,
               dynamic_ncols=True)
    tasks = [dict(_task(sweep, r, out, cache), rank=i) for i, r in enumerate(todo)]
    failed = 0
    try:
        for task, res in pool.run(execute_run, tasks, retries):
            if res["status"] != "done":
                failed += 1
                err = Path(task["run_dir"]) / "error.txt"
                if not err.is_file():      # the worker could not write it (died, full disk)
                    try:
                        atomic_write_text(err, f"run {task['id']} failed "
                                          f"({', '.join(task['overrides'])}; seed "
                                          f"{task['seed']}):\n"
                                          f"{res.get('traceback') or res['error']}\n")
                    except OSError as exc:
                        bar.write(f"orbsched: warning: run {task['id']} failed "
                                  f"({res['error']}) and its error.txt cannot be written "
                                  f"({describe(exc)}); the sweep will run it again when "
                                  f"resumed")
                bar.set_postfix(failed=failed)
            bar.update(1)
            if on_result is not None:
                on_result(by_id[task["id"]], res)
    finally:
        bar.close()

