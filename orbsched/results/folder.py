"""The results folder of a run, its summary, and reading it back.

Files (every one written atomically: a temporary file renamed into place):

``scenario.yaml``
    The scenario as resolved (defaults filled in, ``start_utc: epoch`` resolved).
``timeseries.parquet``
    One row per sample time (every ``record.sample_s``; the last sample ends at the end of the
    run) for the fleet (``sat == -1``) and, with ``record.per_satellite``, for each satellite.
    ``util`` is the mean fraction of GPUs held by jobs over the interval ending at ``t_s``,
    split into ``util_sunlit``, ``util_penumbra`` and ``util_umbra`` by the satellite's
    illumination at the time (they sum to ``util``); ``eclipse_frac`` the fraction of the
    interval in eclipse; ``harvested_w``, ``used_w``, ``curtailed_w`` mean powers over the
    interval (fleet: sums); ``soc`` and ``temperature_k`` values at ``t_s`` (fleet: means;
    ``soc_min`` and ``temperature_max_k`` the extremes).
``jobs.parquet``
    One row per job that arrived: arrival, first start, end, status (completed | failed |
    queued | running | migrating), reason for a failure, completion time (end - arrival),
    queueing delay (first start - arrival), migrations, failed migrations, GB moved, downtime
    (s with the job stopped by migrations), work done and work lost (GPU-h), brownouts, and
    its last satellite.
``events.parquet``
    ``t_s, kind, sat, job_id, peer, value, detail``: eclipse edges (``value`` = state of
    charge), battery floor/full, brownouts (``value`` = GPU-h lost), throttling (``value`` =
    speed), job arrival/start/pause/end, migration start/end/failed (``sat`` source, ``peer``
    destination, ``value`` = downtime), and link up/down with ``record.link_events``.
``requests.parquet``
    With inference services: one row per request (``t_s, service, region, sat, propagation_s,
    wait_s, service_s, status, latency_s``); ``summary.json`` has the latency distribution and
    the objective attainment per service and region under ``inference``.
``positions.parquet``
    With ``record.positions_s``: every satellite's sub-satellite point every ``positions_s``
    (``t_s, sat, lat_deg, lon_deg``; :mod:`orbsched.geometry.positions`), for ``orbsched view``.
``snapshot.json``
    The world-map instant: sub-satellite points (geocentric ``lat_deg``, ``lon_deg`` and
    ``radius_km``), the subsolar point and ``sun_distance_km``, states, busy GPUs, links.
``manifest.json``
    Wall-clock timings, engine counters and package versions: the only file that differs
    between two runs of the same scenario and seed.
``summary.json``
    Fleet metrics (see :func:`summarize`).  Written last: a folder without it is incomplete.
``excluded.csv``, ``stale_elements.csv``
    Only when the fleet has such satellites: those SGP4 could not propagate over the span
    (left out of the run) and element sets far from the span (:func:`fleet_notes`).
``incomplete.json``
    Instead of ``summary.json`` when the engine stopped on an error: the error, the simulated
    instant, and which tables (up to that instant) could be written.

The folder is written in a private temporary folder and swapped in whole
(:mod:`orbsched.results.writing`): it holds one run's files and nothing else.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..files import atomic_write, atomic_write_text, versions, write_json
from ..geometry.positions import positions_frame, write_positions
from ..scenario.errors import DataFileError
from ..workload.presets import energy_comparison
from .writing import replace_folder

__all__ = ["RESULT_FILES", "load_results", "summarize", "summary_text", "write_results"]

RESULT_FILES = ("scenario.yaml", "timeseries.parquet", "jobs.parquet", "events.parquet",
                "snapshot.json", "manifest.json", "summary.json")
_KWH = 3.6e6


def _q(x, q):
    return float(np.quantile(x, q)) if len(x) else math.nan


def _r(x, nd=6):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def summarize(result) -> dict:
    """Fleet metrics of a finished run (the content of ``summary.json``)."""
    eng = result.engine
    sc = result.scenario
    rec = eng.rec
    jobs = rec.jobs_frame()
    events = rec.events_frame()
    n, g = eng.n_sats, eng.hw.gpus
    span = eng.duration_s
    cap = max(n * g, 1) * span
    busy = rec.totals["busy_gpu_s"]
    status = jobs["status"].value_counts().to_dict() if len(jobs) else {}
    done = jobs[jobs["status"] == "completed"]
    started = jobs[jobs["first_start_s"].notna()]
    led = [eng.fleet.ledger(i) for i in range(n)]
    tot = {k: sum(getattr(x, k) for x in led) / 1000.0 for k in
           ("harvested_wh", "demanded_wh", "used_wh", "unserved_wh", "curtailed_wh",
            "losses_wh", "charged_wh", "discharged_wh")}
    stored_change = sum(x.stored_change_wh for x in led) / 1000.0
    residual = tot["harvested_wh"] - (tot["used_wh"] + tot["curtailed_wh"] + stored_change
                                      + tot["losses_wh"])
    kinds = events["kind"].astype(str) if len(events) else events["kind"]
    exits = events[kinds == "eclipse_exit"]["value"].to_numpy() if len(events) else np.zeros(0)
    mig = events[kinds == "migration_end"] if len(events) else events
    floor_soc = 1.0 - eng.hw.battery.max_depth_of_discharge
    temps = eng.fleet.temperature_k[eng.fleet.has_thermal].tolist()
    fleet = rec.fleet_frame()          # not the whole time series: it may not fit in memory
    return {
        "scenario": sc.name,
        "policy": eng.policy_name,
        "seed": sc.seed,
        "start_utc": result.geometry.constellation.timebase.iso_utc(0.0)[0],
        "duration_h": sc.duration_h,
        "n_sats": n,
        "gpus_per_sat": g,
        "gpus_total": n * g,
        "utilisation": _r(busy.sum() / cap),
        "utilisation_sunlit": _r(busy[0] / cap),
        "utilisation_penumbra": _r(busy[1] / cap),
        "utilisation_umbra": _r(busy[2] / cap),
        "eclipse_fraction": _r(rec.totals["dark_s"] / max(n, 1) / span),
        "jobs": {
            "arrived": int(len(jobs)),
            "completed": int(status.get("completed", 0)),
            "failed": int(status.get("failed", 0)),
            "running": int(status.get("running", 0)),
            "queued": int(status.get("queued", 0)),
            "migrating": int(status.get("migrating", 0)),
            "not_arrived": eng.jobs.not_arrived(),
        },
        "completed_gpu_h": _r(done["work_gpu_h"].sum()),
        "completed_gpu_h_per_day": _r(done["work_gpu_h"].sum() * 86400.0 / span),
        "work_done_gpu_h": _r(jobs["work_done_gpu_h"].sum()),
        "work_lost_gpu_h": {"total": _r(jobs["work_lost_gpu_h"].sum()),
                            **{c: _r(jobs[f"lost_{c}_gpu_h"].sum())
                               for c in ("brownout", "radiation", "failure")}},
        "job_completion_s": {"mean": _r(done["completion_s"].mean()),
                             "p50": _r(_q(done["completion_s"], 0.5)),
                             "p99": _r(_q(done["completion_s"], 0.99))},
        "queueing_delay_s": {"mean": _r(started["queue_delay_s"].mean()),
                             "p50": _r(_q(started["queue_delay_s"], 0.5)),
                             "p99": _r(_q(started["queue_delay_s"], 0.99))},
        "migrations": {"started": int(jobs["migrations"].sum()),
                       "completed": int(len(mig)),
                       "failed": int(jobs["migration_failures"].sum()),
                       "moved_gb": _r(jobs["bytes_moved_gb"].sum()),
                       "downtime_h": _r(jobs["downtime_s"].sum() / 3600.0)},
        "brownout_jobs": int(jobs["brownouts"].sum()),
        "energy_kwh": {"harvested": _r(tot["harvested_wh"]), "used": _r(tot["used_wh"]),
                       "curtailed": _r(tot["curtailed_wh"]), "stored_change": _r(stored_change),
                       "losses": _r(tot["losses_wh"]), "demanded": _r(tot["demanded_wh"]),
                       "unserved": _r(tot["unserved_wh"]),
                       "balance_residual": float(residual)},
        "battery": {"floor_soc": _r(floor_soc),
                    "min_soc": _r(fleet["soc_min"].min() if len(fleet) else math.nan),
                    "mean_dod_per_eclipse": _r(np.mean(1.0 - exits) if len(exits) else math.nan),
                    "max_dod_per_eclipse": _r(np.max(1.0 - exits) if len(exits) else math.nan)},
        "throttle_events": int(eng.stats["throttles"]),
        "temperature_max_k": _r(max(temps) if temps else math.nan),
        "gpu_hours": gpu_hours(eng, jobs),
        "faults": eng.faults.fault_summary(),
        "corrupted_results": int(jobs["corrupted_result"].sum()) if len(jobs) else 0,
        "engine_events": int(eng.stats["events"]),
        "inference": eng.inference.summary() if eng.inference is not None else {},
        "hybrid": hybrid_summary(eng, jobs, tot),
        "presets": preset_summary(eng, sc, jobs, tot),
        "versions": dict(versions()),
    }


def hybrid_summary(eng, jobs, bus_kwh) -> dict:
    """Orbit against ground data centres (empty without data centres): completed jobs,
    GPU-hours and completion times by the side a job finished on; energy (orbit: what the
    buses used, from the array and the batteries; ground: GPU energy x PUE) and electricity
    cost and carbon of the ground (in orbit the marginal energy is solar: see
    ``orbsched economics`` for the launched-power price).  ``bus_kwh``: the fleet's bus
    totals in kWh under their ledger names (``used_wh``, ``discharged_wh``, ``harvested_wh``)."""
    if not eng.datacentres:
        return {}
    done = jobs[jobs["status"] == "completed"]
    on_ground = done["sat"] >= eng.n_sats

    def side(d):
        return {"jobs_completed": int(len(d)), "completed_gpu_h": _r(d["work_gpu_h"].sum()),
                "completion_s_mean": _r(d["completion_s"].mean() if len(d) else math.nan),
                "completion_s_p50": _r(_q(d["completion_s"], 0.5))}
    dcs = [eng.grounds[h - eng.n_sats].summary() for h in eng.datacentres]
    ground = side(done[on_ground])
    ground.update({
        "busy_gpu_h": _r(sum(d["busy_gpu_h"] for d in dcs)),
        "gpu_energy_kwh": _r(sum(d["busy_energy_kwh"] for d in dcs)),
        "facility_energy_kwh": _r(sum(d["facility_energy_kwh"] for d in dcs)),
        "busy_facility_kwh": _r(sum(d["busy_facility_kwh"] for d in dcs)),
        "cost_usd": _r(sum(d["cost_usd"] for d in dcs)),
        "busy_cost_usd": _r(sum(d["busy_cost_usd"] for d in dcs)),
        "carbon_kg": (_r(sum(d["carbon_kg"] for d in dcs))
                      if all(d["carbon_kg"] is not None for d in dcs) else None),
    })
    orbit = side(done[~on_ground])
    orbit.update({
        "busy_gpu_h": _r(float(eng.rec.totals["busy_gpu_s"].sum()) / 3600.0),
        "energy_used_kwh": _r(bus_kwh["used_wh"]),
        "from_battery_kwh": _r(bus_kwh["discharged_wh"]),
        "harvested_kwh": _r(bus_kwh["harvested_wh"]),
    })
    for d in dcs:
        for k, v in list(d.items()):
            if isinstance(v, float):
                d[k] = _r(v)
    return {"orbit": orbit, "ground": ground, "datacentres": dcs}


def preset_summary(eng, sc, jobs, bus_kwh) -> list:
    """For a preset workload (BLOOM, GPT-3, Meena shapes): each job's energy scaled to the
    whole published training, beside the published total and the ground at PUE 1.3-1.4
    (:func:`orbsched.workload.presets.energy_comparison`).  APPROXIMATIONS: the job's GPU energy
    is its held GPU time x ``hardware.gpu_active_w`` (throttling and idle reservations ignored);
    the batteries' share is the fleet's busy GPU time in umbra plus half that in penumbra (exact
    for one job when arrays cover the load in sunlight, as sized by default)."""
    if getattr(sc.workload, "type", None) != "preset":
        return []

    busy = eng.rec.totals["busy_gpu_s"]           # GPU-s held by state: sunlit, penumbra, umbra
    share = float((busy[2] + 0.5 * busy[1]) / busy.sum()) if busy.sum() > 0 else 0.0
    out = []
    for row in jobs.itertuples(index=False):
        if not row.work_done_gpu_h > 0:
            continue
        end = row.end_s if row.status == "completed" else eng.duration_s
        kwh = row.held_gpu_h * eng.hw.gpu_active_w / 1000.0
        c = energy_comparison(sc.workload.name, work_done_gpu_h=row.work_done_gpu_h,
                              gpu_energy_kwh=kwh, from_array_kwh=kwh * (1.0 - share),
                              from_battery_kwh=kwh * share,
                              elapsed_h=(end - row.first_start_s) / 3600.0)
        c.update(job_id=int(row.job_id), members_max=int(row.members_max),
                 scaling_efficiency=_r(row.scaling_efficiency),
                 step_compute_s=_r(row.step_compute_s), step_comm_s=_r(row.step_comm_s),
                 work_done_gpu_h=_r(row.work_done_gpu_h), status=row.status)
        out.append({k: (_r(v) if isinstance(v, float) else v) for k, v in c.items()})
    return out


def gpu_hours(eng, jobs) -> dict:
    """Where the fleet's GPU-hours went.

    ``capacity`` (working GPUs x time) = ``idle`` + ``held``; ``held`` = GPU time held by jobs
    + inference replicas.  Job time = ``useful`` (progress kept: completed work, progress of
    running jobs, checkpoints of waiting ones) + ``lost`` by cause + ``redundant`` (the extra
    copies of duplex / TMR jobs) + ``overhead`` (checkpoint writing, restores, migration
    transfers and reservations, throttling).  Work is converted to GPU time at the hardware's
    ``gpu_speed``.  ``eclipse_wait`` (GPU-h of jobs waiting on their satellite for power after
    a brownout) and ``migration_downtime`` are reported beside the balance, not in it.
    """
    tot = eng.rec.totals
    speed = eng.hw.gpu_speed
    # ground data centres count in the balance beside the satellites
    ground_cap = sum(g.gpus for g in eng.grounds) * eng.duration_s / 3600.0
    held = (float(tot["busy_gpu_s"].sum()) + sum(g.busy_gpu_s for g in eng.grounds)) / 3600.0
    job_held = float(jobs["held_gpu_h"].sum()) if len(jobs) else 0.0
    useful = float(jobs["work_done_gpu_h"].sum()) / speed if len(jobs) else 0.0
    lost = {c: float(jobs[f"lost_{c}_gpu_h"].sum()) / speed if len(jobs) else 0.0
            for c in ("brownout", "radiation", "failure")}
    redundant = float(jobs["redundant_gpu_h"].sum()) if len(jobs) else 0.0
    overhead = job_held - useful - sum(lost.values()) - redundant
    return {
        "capacity": _r(tot["capacity_gpu_s"] / 3600.0 + ground_cap),
        "held": _r(held), "idle": _r(tot["capacity_gpu_s"] / 3600.0 + ground_cap - held),
        "jobs": _r(job_held), "replicas": _r(held - job_held),
        "useful": _r(useful), "lost": {k: _r(v) for k, v in lost.items()},
        "redundant": _r(redundant), "overhead": _r(overhead),
        "eclipse_wait": _r(jobs["eclipse_wait_gpu_h"].sum() if len(jobs) else 0.0),
        "migration_downtime": _r((jobs["downtime_s"] * jobs["slots"]).sum() / 3600.0
                                 if len(jobs) else 0.0),
    }


def summary_text(s: dict) -> str:
    """One screen of the summary, for the end of ``orbsched run``."""
    j, m, e, b, g = s["jobs"], s["migrations"], s["energy_kwh"], s["battery"], s["gpu_hours"]

    def f(x, fmt):
        return "n/a" if x is None else format(x, fmt)
    lines = [
        f"orbsched run: {s['scenario']}  policy {s['policy']}  seed {s['seed']}",
        f"  fleet        {s['n_sats']} satellites x {s['gpus_per_sat']} GPUs, "
        f"{s['duration_h']:g} h from {s['start_utc']}",
        f"  utilisation  {f(s['utilisation'], '.3f')} (sunlit {f(s['utilisation_sunlit'], '.3f')}"
        f", penumbra {f(s['utilisation_penumbra'], '.3f')}, umbra "
        f"{f(s['utilisation_umbra'], '.3f')}); fleet in eclipse "
        f"{f(s['eclipse_fraction'], '.3f')}",
        f"  jobs         {j['arrived']} arrived: {j['completed']} completed, {j['running']} "
        f"running, {j['queued']} queued, {j['migrating']} migrating, {j['failed']} failed",
        f"  throughput   {f(s['completed_gpu_h_per_day'], ',.1f')} completed GPU-h/day; "
        f"JCT mean {f(s['job_completion_s']['mean'], ',.0f')} s, p99 "
        f"{f(s['job_completion_s']['p99'], ',.0f')} s",
        f"  migrations   {m['started']} ({m['failed']} failed), {f(m['moved_gb'], ',.1f')} GB, "
        f"downtime {f(m['downtime_h'], ',.2f')} h",
        f"  brownouts    {s['brownout_jobs']} jobs shed, "
        f"{f(s['work_lost_gpu_h']['brownout'], ',.2f')} GPU-h lost",
        f"  energy       harvested {f(e['harvested'], ',.1f')} kWh, used {f(e['used'], ',.1f')}, "
        f"curtailed {f(e['curtailed'], ',.1f')}, unserved {f(e['unserved'], ',.3f')}",
        f"  battery      min SoC {f(b['min_soc'], '.3f')} (floor {f(b['floor_soc'], '.2f')}), "
        f"mean DoD per eclipse {f(b['mean_dod_per_eclipse'], '.3f')}",
        f"  thermal      max {f(s['temperature_max_k'], '.1f')} K, "
        f"{s['throttle_events']} throttle changes",
        f"  faults       {s['faults']['sdc']} SDC ({s['faults']['sdc_silent']} silent, "
        f"{s['faults']['sdc_detected']} detected, {s['faults']['sdc_masked']} masked), "
        f"{s['faults']['hbm_ue'] + s['faults']['crash']} crashes/UEs, "
        f"{s['faults']['host_reboot']} reboots, {s['faults']['gpu_fail']} GPU and "
        f"{s['faults']['satellite_fail']} satellite failures; {s['corrupted_results']} "
        f"corrupted results",
        f"  GPU-hours    useful {f(g['useful'], ',.1f')}, lost "
        + ", ".join(f"{k} {f(v, ',.2f')}" for k, v in g['lost'].items())
        + f", redundant {f(g['redundant'], ',.1f')}, overhead {f(g['overhead'], ',.1f')}, "
        f"idle {f(g['idle'], ',.1f')} of {f(g['capacity'], ',.1f')}",
    ]
    for p in s.get("presets") or []:
        lines.append(
            f"  preset       {p['preset']} job {p['job_id']}: {p['members_max']} satellites, "
            f"scaling efficiency {f(p['scaling_efficiency'], '.3f')} (step "
            f"{f(p['step_compute_s'], ',.1f')} s + {f(p['step_comm_s'], ',.1f')} s comm); whole "
            f"training projected {f(p['projected_hours'], ',.0f')} h (published "
            f"{f(p['published_hours'], ',.0f')} h), GPU energy "
            f"{f(p['orbit_gpu_kwh'] / 1e3, ',.0f')} MWh "
            f"({f(p['orbit_from_battery_kwh'] / 1e3, ',.0f')} from batteries) vs published "
            f"{f(p['published_kwh'] / 1e3, ',.0f')} MWh, ground "
            f"{f(p['ground_kwh_pue_low'] / 1e3, ',.0f')}-"
            f"{f(p['ground_kwh_pue_high'] / 1e3, ',.0f')} MWh at PUE 1.3-1.4")
    h = s.get("hybrid") or {}
    if h:
        gr, orb = h["ground"], h["orbit"]
        co2 = f", {f(gr['carbon_kg'], ',.1f')} kg CO2" if gr.get("carbon_kg") is not None else ""
        lines.append(
            f"  ground       {len(h['datacentres'])} data centres: {gr['jobs_completed']} jobs "
            f"done ({orb['jobs_completed']} in orbit), {f(gr['busy_gpu_h'], ',.1f')} busy GPU-h, "
            f"{f(gr['facility_energy_kwh'], ',.1f')} kWh at the meter, "
            f"${f(gr['cost_usd'], ',.2f')}{co2}")
    return "\n".join(lines)


#: The record of a sweep's run in its folder (its id, overrides and seed).
RUN_FILE = "run.json"


def run_status(folder):
    """done (summary.json, written last), failed (error.txt) or pending."""
    folder = Path(folder)
    if (folder / "summary.json").is_file():
        return "done"
    return "failed" if (folder / "error.txt").is_file() else "pending"


def fleet_notes(fleet, max_age_days=None) -> list:
    """Lines for the one-screen summary about satellites SGP4 could not propagate (excluded
    from the run) and element sets far from the span; empty when there are none."""
    lines = []
    if fleet.excluded:
        names = ", ".join(n for n, _, _ in fleet.excluded[:3])
        more = f" and {len(fleet.excluded) - 3} more" if len(fleet.excluded) > 3 else ""
        lines.append(f"  excluded     {len(fleet.excluded)} satellite"
                     f"{'s' if len(fleet.excluded) > 1 else ''} SGP4 could not propagate over "
                     f"the span ({names}{more}): excluded.csv")
    if fleet.stale:
        names = ", ".join(f"{n} {a:g} d" for n, _, a in fleet.stale[:3])
        more = f" and {len(fleet.stale) - 3} more" if len(fleet.stale) > 3 else ""
        limit = f" more than {max_age_days:g} d" if max_age_days is not None else ""
        lines.append(f"  stale        {len(fleet.stale)} element set"
                     f"{'s' if len(fleet.stale) > 1 else ''}{limit} from the span ({names}"
                     f"{more}; SGP4 errors grow by km per day): stale_elements.csv")
    return lines


def _fleet_files(result, out):
    """``excluded.csv`` and ``stale_elements.csv`` when the fleet has such satellites."""
    import pandas as pd

    fleet = result.geometry.constellation
    written = []
    if fleet.excluded:
        written.append(atomic_write(out / "excluded.csv", lambda tmp: pd.DataFrame(
            fleet.excluded, columns=["name", "source", "reason"]).to_csv(tmp, index=False)))
    if fleet.stale:
        written.append(atomic_write(out / "stale_elements.csv", lambda tmp: pd.DataFrame(
            fleet.stale, columns=["name", "source", "epoch_age_days"]).to_csv(tmp,
                                                                              index=False)))
    return written


def _write_files(result, out):
    """Every file of a finished run into ``out`` (summary.json last); the written paths."""
    rec = result.engine.rec
    written = [atomic_write_text(out / "scenario.yaml", result.scenario.to_yaml()),
               # streamed in row groups (bounded memory); the bytes of to_parquet of the table
               atomic_write(out / "timeseries.parquet", rec.write_timeseries)]
    for name, frame in (("jobs.parquet", rec.jobs_frame()),
                        ("events.parquet", rec.events_frame())):
        written.append(atomic_write(out / name, lambda tmp, f=frame: f.to_parquet(tmp,
                                                                                index=False)))
    if result.engine.inference is not None and result.scenario.inference.record_requests:
        req = result.engine.inference.requests_frame()
        written.append(atomic_write(out / "requests.parquet",
                                    lambda tmp: req.to_parquet(tmp, index=False)))
    written += _fleet_files(result, out)
    written.append(write_json(out / "snapshot.json", result.snapshot))
    pos_s = result.scenario.record.positions_s
    if pos_s is not None:
        geo = result.geometry
        pos = positions_frame(geo.constellation, result.scenario.duration_s, pos_s,
                              result.scenario.geometry.frame_node_s)
        written.append(atomic_write(out / "positions.parquet",
                                    lambda tmp: write_positions(tmp, pos)))
    written.append(write_json(out / "manifest.json", _manifest(result, written,
                                                               "summary.json")))
    written.append(write_json(out / "summary.json", result.summary()
                              if hasattr(result, "summary") else summarize(result)))
    return written


def _manifest(result, written, last):
    eng = result.engine
    fleet = result.geometry.constellation
    return {
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
        "engine": {k: (round(v, 3) if isinstance(v, float) else v)
                   for k, v in eng.stats.items()},
        "network": dict(eng.net.stats),
        "fleet": {"satellites": len(fleet), "excluded": len(fleet.excluded),
                  "stale_element_sets": len(fleet.stale)},
        "versions": versions(),
        "files": [p.name for p in written] + [last]}


def _write_partial(result, out):
    """What an interrupted run had computed, marked incomplete: the tables up to the instant
    the engine stopped (each written if it can be built from the engine's state), and
    ``incomplete.json`` (the error, that instant) instead of ``summary.json``."""
    eng = result.engine
    t = float(eng.env.now)
    written, problems = [], []
    try:
        eng.finish_at(t)
    except Exception as exc:                  # the state the error left cannot be closed
        problems.append(f"closing the engine's state at t = {t:.3f} s: "
                        f"{type(exc).__name__}: {exc}")
    else:
        steps = [("scenario.yaml", lambda: atomic_write_text(out / "scenario.yaml",
                                                             result.scenario.to_yaml())),
                 ("timeseries.parquet", lambda: atomic_write(out / "timeseries.parquet",
                                                             eng.rec.write_timeseries)),
                 ("jobs.parquet", lambda: atomic_write(
                     out / "jobs.parquet",
                     lambda tmp: eng.rec.jobs_frame().to_parquet(tmp, index=False))),
                 ("events.parquet", lambda: atomic_write(
                     out / "events.parquet",
                     lambda tmp: eng.rec.events_frame().to_parquet(tmp, index=False)))]
        for name, step in steps:
            try:
                written.append(step())
            except OSError:
                raise
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
    written += _fleet_files(result, out)
    written.append(write_json(out / "manifest.json", _manifest(result, written,
                                                               "incomplete.json")))
    written.append(write_json(out / "incomplete.json", {
        "complete": False, "error": result.incomplete, "stopped_at_s": t,
        "duration_s": eng.duration_s, "files": [p.name for p in written],
        "not_written": problems}))
    return written


def write_results(result, out_dir, *, carry=(), after=None):
    """Write the results folder (module docstring) through a private temporary folder
    swapped into place (:func:`orbsched.results.writing.replace_folder`: the folder holds this
    run's files and nothing else).  ``after(folder)`` runs in the temporary folder once the
    files are written (``--plot`` draws there); ``carry`` names files kept from the folder
    being replaced.  A result with ``incomplete`` set (the engine stopped on an error) gets
    its partial tables and ``incomplete.json`` instead of ``summary.json``.  Returns the
    written paths (in ``out_dir``)."""
    out = Path(out_dir)
    names = []

    def fill(tmp):
        written = (_write_partial(result, tmp) if getattr(result, "incomplete", None)
                   else _write_files(result, tmp))
        names.extend(p.name for p in written)
        if after is not None:
            after(tmp)

    replace_folder(out, fill, carry=carry)
    return [out / name for name in names]


def load_results(folder) -> dict:
    """Read a results folder back: ``summary`` (dict), ``timeseries``, ``jobs``, ``events``
    (DataFrames) and ``snapshot`` (dict).  Raises DataFileError if it is incomplete."""
    import pandas as pd

    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        note = folder / "incomplete.json"
        if note.is_file():
            try:
                info = json.loads(note.read_text(encoding="utf-8"))
                why = f"stopped at t = {float(info['stopped_at_s']):.3f} s: {info['error']}"
            except (OSError, ValueError, KeyError, TypeError):
                why = "see incomplete.json"
            raise DataFileError(folder, None, f"incomplete results (no summary.json): the run "
                                              f"{why}")
        raise DataFileError(folder, None, "not a complete orbsched results folder (no "
                                          "summary.json: the run did not finish writing)")
    out = {"summary": json.loads((folder / "summary.json").read_text())}
    for name in ("timeseries", "jobs", "events"):
        out[name] = pd.read_parquet(folder / f"{name}.parquet")
    snap = folder / "snapshot.json"
    out["snapshot"] = json.loads(snap.read_text()) if snap.is_file() else {}
    return out
