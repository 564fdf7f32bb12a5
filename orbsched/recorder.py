"""What a run records: events, periodic samples, a map snapshot, and the final job table.

Columns and meanings are documented in :mod:`orbsched.results` (the files they become).
Utilisation is accumulated exactly: before any satellite's GPU count or illumination state
changes, the GPU-seconds since its last change are added to the bucket of its state
(``touch``).  Samples take differences of these running totals and of the power buses' running
energy totals, so every sampled mean is the exact mean over its interval.  Temperatures at
sample instants come from :func:`orbsched.thermal.temperatures_at_k` (the nodes stay exact).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .satellite import STATE_NAMES, SUNLIT
from .thermal import temperatures_at_k

__all__ = ["Recorder", "EVENT_COLUMNS", "SAMPLE_COLUMNS", "JOB_COLUMNS"]

EVENT_COLUMNS = ("t_s", "kind", "sat", "job_id", "peer", "value", "detail")
SAMPLE_COLUMNS = ("t_s", "sat", "util", "util_sunlit", "util_penumbra", "util_umbra",
                  "eclipse_frac", "harvested_w", "used_w", "curtailed_w", "soc", "soc_min",
                  "temperature_k", "temperature_max_k")
JOB_COLUMNS = ("job_id", "name", "gpus", "work_gpu_h", "arrival_s", "first_start_s", "end_s",
               "status", "reason", "completion_s", "queue_delay_s", "migrations",
               "migration_failures", "bytes_moved_gb", "downtime_s", "work_done_gpu_h",
               "work_lost_gpu_h", "brownouts", "sat", "protection", "slots",
               "corrupted_result", "corruptions_detected", "corruptions_masked",
               "lost_brownout_gpu_h", "lost_radiation_gpu_h", "lost_failure_gpu_h",
               "eclipse_wait_gpu_h", "held_gpu_h", "redundant_gpu_h", "produced_gpu_h",
               "members_max", "step_compute_s", "step_comm_s", "scaling_efficiency",
               "reshapes", "pauses_policy", "pauses_brownout", "pauses_radiation",
               "pauses_failure", "pauses_link_lost")


class Recorder:
    def __init__(self, engine):
        self.engine = engine
        n = engine.n_sats
        self.n = n
        rec = engine.scenario.record
        self.sample_s = float(rec.sample_s)
        self.per_satellite = bool(rec.per_satellite)
        self.snapshot_s = rec.snapshot_s
        self.last_t = [0.0] * n
        self.busy = [[0.0] * n for _ in STATE_NAMES]   # GPU-s held, by state
        self.dark = [0.0] * n                           # s in eclipse
        self.events = []
        self._cols = {c: [] for c in SAMPLE_COLUMNS}
        self._prev_t = 0.0
        self._prev_busy = np.zeros((3, n))
        self._prev_dark = np.zeros(n)
        self._prev_energy = np.zeros((3, n))
        self.snapshot = None
        self.totals = {}
        self.capacity_changes = []   # (t_s, sat, delta GPUs)
        self._frames = None          # the tables, built once after the run has finished

    # ---------------------------------------------------------------------------- updates
    def touch(self, i, held, state, t):
        dt = t - self.last_t[i]
        if dt > 0.0:
            if held:
                self.busy[state][i] += held * dt
            if state != SUNLIT:
                self.dark[i] += dt
            self.last_t[i] = t

    def capacity_change(self, sat, delta, t):
        self.capacity_changes.append((t, sat, delta))

    def event(self, t, kind, *, sat=-1, job=-1, peer=-1, value=math.nan, detail=""):
        self.events.append((t, kind, sat, job, peer, value, detail))

    # ---------------------------------------------------------------------------- samples
    def _totals(self, t):
        eng = self.engine
        for s in eng.sats:
            self.touch(s.idx, s.held, s.state, t)
        busy = np.array(self.busy)
        dark = np.array(self.dark)
        energy = np.empty((3, self.n))
        for s in eng.sats:
            s.bus.advance(t)
            acc = s.bus.totals_ws()
            energy[0, s.idx] = acc[0]   # harvested
            energy[1, s.idx] = acc[2]   # used (served)
            energy[2, s.idx] = acc[7]   # curtailed
        return busy, dark, energy

    def sample(self, t):
        dt = t - self._prev_t
        if dt <= 0.0:
            return
        eng = self.engine
        busy, dark, energy = self._totals(t)
        gpus = max(eng.hw.gpus, 1)
        d_busy = (busy - self._prev_busy) / (gpus * dt)             # (3, n)
        d_dark = (dark - self._prev_dark) / dt
        power = (energy - self._prev_energy) / dt                    # (3, n) mean W
        self._prev_t, self._prev_busy, self._prev_dark, self._prev_energy = t, busy, dark, energy
        soc = np.array([s.bus.state_of_charge for s in eng.sats])
        nodes = [s.thermal for s in eng.sats if s.thermal is not None]
        temp = temperatures_at_k(nodes, t) if nodes else np.full(self.n, np.nan)
        cols = self._cols
        util = d_busy.sum(axis=0)
        n = self.n
        # fleet row
        fleet = dict(t_s=t, sat=-1, util=util.mean() if n else 0.0,
                     util_sunlit=d_busy[0].mean() if n else 0.0,
                     util_penumbra=d_busy[1].mean() if n else 0.0,
                     util_umbra=d_busy[2].mean() if n else 0.0,
                     eclipse_frac=d_dark.mean() if n else 0.0,
                     harvested_w=power[0].sum(), used_w=power[1].sum(),
                     curtailed_w=power[2].sum(),
                     soc=soc.mean() if n else math.nan, soc_min=soc.min(initial=math.inf),
                     temperature_k=float(np.mean(temp)) if len(temp) else math.nan,
                     temperature_max_k=float(np.max(temp)) if len(temp) else math.nan)
        for c in SAMPLE_COLUMNS:
            cols[c].append(np.array([fleet[c]]))
        if self.per_satellite and n:
            per = dict(t_s=np.full(n, t), sat=np.arange(n), util=util,
                       util_sunlit=d_busy[0], util_penumbra=d_busy[1], util_umbra=d_busy[2],
                       eclipse_frac=d_dark, harvested_w=power[0], used_w=power[1],
                       curtailed_w=power[2], soc=soc, soc_min=soc, temperature_k=temp,
                       temperature_max_k=temp)
            for c in SAMPLE_COLUMNS:
                cols[c].append(np.asarray(per[c]))

    def take_snapshot(self):
        eng = self.engine
        t = eng.env.now
        links = [(a, b) for (a, b), d in eng.net._edges.items()
                 if a < eng.n_sats and b < eng.n_sats and d["usable"]]
        self.snapshot = dict(t_s=float(t),
                             state=[STATE_NAMES[s.state] for s in eng.sats],
                             busy_gpus=[int(s.held) for s in eng.sats],
                             links=[[int(a), int(b)] for a, b in links])

    def finish(self, t):
        if t - self._prev_t > 1e-9:
            self.sample(t)
        busy, dark, energy = self._totals(t)
        for job in self.engine.jobs.values():          # GPUs still held at the end
            for sat_i, since in list(job.holds.items()):
                job.held_slot_s += job.hold_slots.get(sat_i, job.slots) * (t - since)
                job.holds[sat_i] = t
        cap = self.n * self.engine.hw.gpus * t + sum(d * (t - tc)
                                                     for tc, _, d in self.capacity_changes)
        self.totals = dict(busy_gpu_s=busy.sum(axis=1), dark_s=dark.sum(), capacity_gpu_s=cap,
                           harvested_ws=energy[0].sum(), used_ws=energy[1].sum(),
                           curtailed_ws=energy[2].sum())

    # ----------------------------------------------------------------------------- tables
    def _cached(self, name, build):
        """Tables are final once the run has finished: build each once then."""
        if not self.totals:
            return build()
        if self._frames is None:
            self._frames = {}
        if name not in self._frames:
            self._frames[name] = build()
        return self._frames[name]

    def timeseries_frame(self):
        return self._cached("timeseries", self._timeseries_frame)

    def events_frame(self):
        return self._cached("events", self._events_frame)

    def jobs_frame(self):
        return self._cached("jobs", self._jobs_frame)

    def _timeseries_frame(self):
        cols = self._cols
        if not cols["t_s"]:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in SAMPLE_COLUMNS})
        df = pd.DataFrame({c: np.concatenate(cols[c]) for c in SAMPLE_COLUMNS})
        df["sat"] = df["sat"].astype(np.int32)
        return df

    def _events_frame(self):
        eng = self.engine
        rows = list(self.events)
        # illumination edges come from the geometry's arrays (no per-event Python tuples)
        from .engine import ILLUM_KIND_NAMES, K_STEP
        done = np.arange(len(eng.il_t)) < eng._il_k
        keep = done & (eng.il_kind != K_STEP)
        il = pd.DataFrame({
            "t_s": eng.il_t[keep],
            "kind": np.array(ILLUM_KIND_NAMES, dtype=object)[eng.il_kind[keep]],
            "sat": eng.il_sat[keep].astype(np.int32),
            "job_id": np.full(int(keep.sum()), -1, np.int64),
            "peer": np.full(int(keep.sum()), -1, np.int32),
            "value": eng.il_soc[keep],
            "detail": "",
        })
        ev = pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS)) if rows else \
            pd.DataFrame({c: [] for c in EVENT_COLUMNS})
        net_rows = [(r["t_s"], r["kind"], r["a"], -1, r["b"], math.nan, r["detail"])
                    for r in eng.net.log if r["kind"] in ("link_up", "link_down")]
        parts = [il, ev]
        saa = eng.saa
        if saa is not None and len(saa):
            n_s = len(saa)
            parts.append(pd.DataFrame({
                "t_s": np.concatenate([saa.start_s[~saa.start_clipped],
                                       saa.end_s[~saa.end_clipped]]),
                "kind": ["saa_entry"] * int((~saa.start_clipped).sum())
                + ["saa_exit"] * int((~saa.end_clipped).sum()),
                "sat": np.concatenate([saa.sat[~saa.start_clipped],
                                       saa.sat[~saa.end_clipped]]).astype(np.int32),
                "job_id": -1, "peer": -1, "value": math.nan, "detail": ""}))
            del n_s
        if net_rows:
            parts.append(pd.DataFrame.from_records(net_rows, columns=list(EVENT_COLUMNS)))
        df = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
            len(p) for p in parts) else ev
        df = df.astype({"t_s": float, "sat": np.int32, "job_id": np.int64, "peer": np.int32,
                        "value": float, "kind": str, "detail": str})
        df = df.sort_values("t_s", kind="stable", ignore_index=True)
        df["kind"] = df["kind"].astype("category")
        return df

    def _jobs_frame(self):
        eng = self.engine
        t = eng.duration_s
        rows = []
        for job in sorted(eng.jobs.values(), key=lambda j: j.job_id):
            if job.status == "pending":
                continue  # arrives after the end of the run
            done = job.work_gpu_h if job.status == "completed" else (
                job.run.progress_at(t) if job.phase == "running" else
                max(job.run.saved_gpu_h, job.pending_gpu_h if job.phase == "checkpointing"
                    else 0.0))
            lb = job.lost_by
            held_h = job.held_slot_s / 3600.0
            r = job.run
            comp, comm, steps = r.compute_s, r.comm_s, r.steps
            if r.running:                      # the step time of the session under way
                dt = r._compute_time(t) - r._compute_time(r.anchor_t)
                comp += dt * (1.0 - r.comm_frac)
                comm += dt * r.comm_frac
                steps += dt / r.step_wall_s if r.step_wall_s > 0.0 else 0.0
            if job.spans and steps > 0.0:
                step = (comp / steps, comm / steps, comp / (comp + comm))
            elif job.spans:
                step = (math.nan, math.nan, math.nan)
            else:                              # one satellite: no laser-link collective
                step = (job.step_s, 0.0, 1.0)
            pb = job.pauses_by
            rows.append((job.job_id, job.name, job.gpus, job.work_gpu_h, job.arrival_s,
                         job.first_start_s, job.end_s, job.status, job.reason,
                         job.end_s - job.arrival_s, job.first_start_s - job.arrival_s,
                         job.migrations, job.migration_failures, job.bytes_moved_gb,
                         job.downtime_s, done, job.work_lost_gpu_h, job.brownouts, job.sat,
                         job.protection, job.slots, job.corrupted_results, job.detected,
                         job.masked, lb.get("brownout", 0.0), lb.get("radiation", 0.0),
                         lb.get("failure", 0.0), job.eclipse_wait_gpu_h, held_h,
                         held_h * (job.factor - 1) / job.factor, job.run.produced_gpu_h
                         + (job.run.progress_at(t) - job.run._session_from
                            if job.run.running else 0.0), job.max_members) + step
                        + (job.reshapes, pb.get("policy", 0), pb.get("brownout", 0),
                           pb.get("radiation", 0), pb.get("failure", 0),
                           pb.get("link_lost", 0)))
        df = pd.DataFrame.from_records(rows, columns=list(JOB_COLUMNS))
        return df.astype({"job_id": np.int64, "gpus": np.int64, "migrations": np.int64,
                          "migration_failures": np.int64, "brownouts": np.int64,
                          "sat": np.int64, "name": str, "status": str, "reason": str,
                          "protection": str, "slots": np.int64, "corrupted_result": np.int64,
                          "corruptions_detected": np.int64, "corruptions_masked": np.int64,
                          "members_max": np.int64, "reshapes": np.int64,
                          "pauses_policy": np.int64, "pauses_brownout": np.int64,
                          "pauses_radiation": np.int64, "pauses_failure": np.int64,
                          "pauses_link_lost": np.int64})
