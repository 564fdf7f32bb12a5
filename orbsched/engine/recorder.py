"""What a run records: events, periodic samples, a map snapshot, and the final job table.

Columns and meanings are documented in :mod:`orbsched.results.folder` (the files they become).
Utilisation is accumulated exactly by the fleet (:class:`orbsched.engine.fleet.Fleet`):
before any satellite's GPU count or illumination state changes, the GPU-seconds since its last
change are added to the bucket of its state (``Fleet.touch``).  Samples take differences of
these running totals and of the power buses' running energy totals, so every sampled mean is
the exact mean over its interval.  Temperatures at sample instants come from
``Fleet.temperatures_at`` (the nodes stay exact).

Memory is kept small per simulated hour (10,000 satellites over 7 days must fit in 8 GB):

* samples are stored columnar: per sample one fleet row and one float64 block of the
  satellites' distinct values (``_BLOCK_ROWS``: ``t_s`` and ``sat`` are implied, ``soc_min`` and
  ``temperature_max_k`` of a satellite equal its ``soc`` and ``temperature_k``), 80 bytes per
  satellite per sample.  Past ``Recorder.spill_bytes`` the blocks are appended, raw, to a
  temporary file (in ``Recorder.spill_dir``, default the system's temporary folder), deleted
  with the recorder;
* ``timeseries.parquet`` is streamed from them by :meth:`Recorder.write_timeseries` in row
  groups of pyarrow's default size, so the file is byte-identical to ``to_parquet`` of the whole
  table without ever holding it; the summary reads only the fleet rows (:meth:`fleet_frame`);
* events are typed arrays, one per column (38 bytes per event), the kind and the detail as
  codes into tables of the distinct values.
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import weakref
from array import array
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .jobs import Phase, Status
from .timeline import ILLUM_KIND_NAMES, K_STEP, STATE_NAMES

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

# a satellite's values per sample, in the order of the rows of a sample block
_BLOCK_ROWS = ("util", "util_sunlit", "util_penumbra", "util_umbra", "eclipse_frac",
               "harvested_w", "used_w", "curtailed_w", "soc", "temperature_k")
_BLOCK_OF = dict({c: i for i, c in enumerate(_BLOCK_ROWS)}, soc_min=8, temperature_max_k=9)
# rows per Parquet row group: pyarrow's default (parquet-cpp's max_row_group_length), so that a
# table streamed in groups of this size gives the bytes DataFrame.to_parquet gives for it whole
# (tests/test_recorder.py checks both)
ROW_GROUP_ROWS = 1024 * 1024


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class Recorder:
    """Events, samples, the snapshot and the job table of one run (module docstring)."""

    spill_bytes = 256 * 2**20   # per-satellite sample blocks held in memory before spilling
    spill_dir = None            # folder of the spill file; None: tempfile's default (TMPDIR)

    def __init__(self, engine) -> None:
        self.engine = engine
        n = engine.n_sats
        self.n = n
        rec = engine.scenario.record
        self.sample_s = float(rec.sample_s)
        self.per_satellite = bool(rec.per_satellite)
        self.snapshot_s = rec.snapshot_s
        # events: one typed array per column; kind and detail are codes into tables
        self._ev_t, self._ev_value = array("d"), array("d")
        self._ev_sat, self._ev_peer, self._ev_job = array("i"), array("i"), array("q")
        self._ev_kind, self._ev_detail = array("H"), array("I")
        self._kinds: dict[str, int] = {}  # kind -> code (insertion order = code)
        self._details = {"": 0}           # detail -> code
        # samples: a fleet row each (SAMPLE_COLUMNS order) and, per satellite, a block of
        # _BLOCK_ROWS x n float64 values; the oldest blocks may be in the spill file
        self._fleet: list[tuple[float, ...]] = []
        self._blocks: list[np.ndarray] = []
        self._n_spilled = 0
        self._spill_path = None
        self._prev_t = 0.0
        self._prev_busy = np.zeros((3, n))
        self._prev_dark = np.zeros(n)
        self._prev_energy = np.zeros((3, n))
        self.snapshot: dict[str, Any] | None = None
        self.totals: dict[str, Any] = {}
        self.capacity_changes: list[tuple[float, int, int]] = []   # (t_s, sat, delta GPUs)
        self._frames = None          # the tables, built once after the run has finished

    # ---------------------------------------------------------------------------- updates
    def capacity_change(self, sat: int, delta: int, t: float) -> None:
        self.capacity_changes.append((t, sat, delta))

    def event(self, t: float, kind: str, *, sat: int = -1, job: int = -1, peer: int = -1,
              value: float = math.nan, detail: str = "") -> None:
        k = self._kinds.get(kind)
        if k is None:
            k = self._kinds[kind] = len(self._kinds)
        d = self._details.get(detail)
        if d is None:
            d = self._details[detail] = len(self._details)
        try:
            self._ev_t.append(t)
            self._ev_sat.append(sat)
            self._ev_job.append(job)
            self._ev_peer.append(peer)
            self._ev_value.append(value)
        except (TypeError, OverflowError):   # not a plain number: convert as the table will
            self._event_converted(t, sat, job, peer, value)
        self._ev_kind.append(k)
        self._ev_detail.append(d)

    def _event_converted(self, t, sat, job, peer, value):
        cols = (self._ev_t, self._ev_sat, self._ev_job, self._ev_peer, self._ev_value)
        n = len(self._ev_kind)
        try:
            for a in cols:
                del a[n:]                        # what the plain appends got in
            for a, v in zip(cols, (float(t), int(sat), int(job), int(peer),
                                   math.nan if value is None else float(value))):
                a.append(v)
        except BaseException:                    # columns stay aligned; the event is refused
            for a in cols:
                del a[n:]
            raise

    @property
    def events(self):
        """The events recorded through :meth:`event`, as ``EVENT_COLUMNS`` tuples (built on
        demand; the illumination, SAA and link events are added by :meth:`events_frame`)."""
        kinds, details = list(self._kinds), list(self._details)
        return [(t, kinds[k], s, j, p, v, details[d]) for t, k, s, j, p, v, d in
                zip(self._ev_t, self._ev_kind, self._ev_sat, self._ev_job, self._ev_peer,
                    self._ev_value, self._ev_detail)]

    # ---------------------------------------------------------------------------- samples
    def _totals(self, t):
        """Running totals at t: GPU-s held by state (3, n), s in eclipse (n,) and the buses'
        energy (3, n W s: harvested, used, curtailed).  Every satellite is touched and every
        bus advanced to t: that is part of the run (later integrals start from there), not
        only a read."""
        fl = self.engine.fleet
        fl.touch_all(t)
        fl.advance_buses(t)
        energy = fl.energy_ws[[0, 2, 7]]          # harvested, used (served), curtailed: copies
        return np.array(fl.busy_gpu_s), np.array(fl.dark_s), energy

    def sample(self, t: float) -> None:
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
        soc = eng.fleet.socs()
        temp = eng.fleet.temperatures_at(t)
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
        self._fleet.append(tuple(fleet[c] for c in SAMPLE_COLUMNS))
        if self.per_satellite and n:
            block = np.empty((len(_BLOCK_ROWS), n))
            block[0] = util
            block[1:4] = d_busy
            block[4] = d_dark
            block[5:8] = power
            block[8] = soc
            block[9] = temp
            self._blocks.append(block)
            if len(self._blocks) * block.nbytes > self.spill_bytes:
                self._spill()

    def _spill(self):
        """Append the blocks held in memory to the spill file (raw float64, sample order)."""
        if self._spill_path is None:
            fd, path = tempfile.mkstemp(prefix="orbsched-samples-", suffix=".f8",
                                        dir=self.spill_dir)
            os.close(fd)
            self._spill_path = path
            weakref.finalize(self, _unlink, path)      # deleted with the recorder
        with open(self._spill_path, "ab") as fh:
            for b in self._blocks:
                b.tofile(fh)
        self._n_spilled += len(self._blocks)
        self._blocks = []

    def _iter_blocks(self):
        shape = (len(_BLOCK_ROWS), self.n)
        if self._n_spilled:
            with open(self._spill_path, "rb") as fh:
                for _ in range(self._n_spilled):
                    yield np.fromfile(fh, dtype=np.float64, count=shape[0] * shape[1]
                                      ).reshape(shape)
        yield from self._blocks

    def _sample_rows(self):
        """Each sample's rows in file order: (SAMPLE_COLUMNS x rows float64, sat int32)."""
        per = self.per_satellite and self.n > 0
        sat = np.arange(-1, self.n if per else 0, dtype=np.int32)
        blocks = self._iter_blocks() if per else None
        for row in self._fleet:
            out = np.empty((len(SAMPLE_COLUMNS), len(sat)))
            out[:, 0] = row
            if per:
                b = next(blocks)
                out[0, 1:] = row[0]
                for j, c in enumerate(SAMPLE_COLUMNS[2:], start=2):
                    out[j, 1:] = b[_BLOCK_OF[c]]
            yield out, sat

    def take_snapshot(self) -> None:
        eng = self.engine
        t = eng.env.now
        links = [(a, b) for (a, b), d in eng.net._edges.items()
                 if a < eng.n_sats and b < eng.n_sats and d["usable"]]
        fl = eng.fleet
        self.snapshot = dict(t_s=float(t),
                             state=[STATE_NAMES[s] for s in fl.state.tolist()],
                             busy_gpus=fl.held.tolist(),
                             links=[[int(a), int(b)] for a, b in links])

    def finish(self, t: float) -> None:
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

    def fleet_frame(self):
        """The fleet rows (``sat == -1``) of the time series."""
        df = pd.DataFrame(np.array(self._fleet, dtype=float).reshape(-1, len(SAMPLE_COLUMNS)),
                          columns=list(SAMPLE_COLUMNS))
        df["sat"] = df["sat"].astype(np.int32)
        return df

    def _timeseries_frame(self):
        """The whole time series in memory (10,000 satellites sampled every 300 s for 7 days:
        20 M rows, 2.2 GB; the results folder streams it with :meth:`write_timeseries`)."""
        if not self._fleet:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in SAMPLE_COLUMNS})
        parts = list(self._sample_rows())
        rows = np.concatenate([p[0] for p in parts], axis=1)
        sat = np.concatenate([p[1] for p in parts])
        del parts
        return pd.DataFrame({c: sat if c == "sat" else rows[j]
                             for j, c in enumerate(SAMPLE_COLUMNS)})

    def write_timeseries(self, path):
        """Write ``timeseries.parquet`` to ``path``, one row group of ``ROW_GROUP_ROWS`` rows at
        a time: the bytes of ``timeseries_frame().to_parquet(path, index=False)``, in bounded
        memory."""
        if not self._fleet:
            self._timeseries_frame().to_parquet(path, index=False)
            return path
        empty = pd.DataFrame({c: np.empty(0, np.int32 if c == "sat" else np.float64)
                              for c in SAMPLE_COLUMNS})
        schema = pa.Schema.from_pandas(empty, preserve_index=False)
        rg = ROW_GROUP_ROWS
        per = self.per_satellite and self.n > 0
        i_sat = SAMPLE_COLUMNS.index("sat")
        size = min(rg, len(self._fleet) * (self.n + 1 if per else 1))
        buf = np.empty((len(SAMPLE_COLUMNS), size))
        sat_buf = np.empty(size, np.int32)

        def flush(w, k):
            # from_pandas: NaN becomes null, as DataFrame.to_parquet writes it
            arrays = [pa.array(sat_buf[:k]) if j == i_sat else
                      pa.array(buf[j, :k], from_pandas=True) for j in range(len(SAMPLE_COLUMNS))]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema))

        pos = 0
        with pq.ParquetWriter(path, schema, compression="snappy") as w:
            for rows, sat in self._sample_rows():
                m, i = len(sat), 0
                while i < m:
                    k = min(rg - pos, m - i)
                    buf[:, pos:pos + k] = rows[:, i:i + k]
                    sat_buf[pos:pos + k] = sat[i:i + k]
                    pos += k
                    i += k
                    if pos == rg:
                        flush(w, rg)
                        pos = 0
            if pos:
                flush(w, pos)
        return path

    def _events_frame(self):
        """All events, sorted by time (stable): the illumination edges (from the geometry's
        arrays), the recorded events, SAA entries and exits, link up/down, in that order at
        equal times.  Built from code arrays: no Python object per row."""
        eng = self.engine
        kinds, details = list(ILLUM_KIND_NAMES), [""]      # code -> kind, code -> detail
        cols = {c: [] for c in EVENT_COLUMNS}
        dtypes = dict(t_s=np.float64, kind=np.intp, sat=np.int32, job_id=np.int64,
                      peer=np.int32, value=np.float64, detail=np.intp)

        def part(n, **values):                  # arrays of n values, or one value for all
            for c, x in values.items():
                cols[c].append(np.asarray(x, dtype=dtypes[c]) if np.ndim(x)
                               else np.full(n, x, dtype=dtypes[c]))

        tl = eng.timeline
        keep = (np.arange(len(tl.t)) < tl.applied) & (tl.kind != K_STEP)
        part(int(keep.sum()), t_s=tl.t[keep], kind=tl.kind[keep], sat=tl.sat[keep],
             job_id=-1, peer=-1, value=tl.soc[keep], detail=0)
        k0, d0 = len(kinds), len(details)
        kinds += list(self._kinds)
        details += list(self._details)
        part(len(self._ev_t), t_s=np.frombuffer(self._ev_t, np.float64),
             kind=np.frombuffer(self._ev_kind, np.uint16).astype(np.intp) + k0,
             sat=np.frombuffer(self._ev_sat, np.int32), job_id=np.frombuffer(self._ev_job,
                                                                            np.int64),
             peer=np.frombuffer(self._ev_peer, np.int32),
             value=np.frombuffer(self._ev_value, np.float64),
             detail=np.frombuffer(self._ev_detail, np.uint32).astype(np.intp) + d0)
        saa = eng.faults.saa
        if saa is not None and len(saa):
            starts, ends = ~saa.start_clipped, ~saa.end_clipped
            n_in, n_out = int(starts.sum()), int(ends.sum())
            kinds += ["saa_entry", "saa_exit"]
            part(n_in + n_out, t_s=np.concatenate([saa.start_s[starts], saa.end_s[ends]]),
                 kind=np.repeat([len(kinds) - 2, len(kinds) - 1], [n_in, n_out]),
                 sat=np.concatenate([saa.sat[starts], saa.sat[ends]]), job_id=-1, peer=-1,
                 value=math.nan, detail=0)
        net = [r for r in eng.net.log if r["kind"] in ("link_up", "link_down")]
        if net:
            def codes(key, table):
                at = {}
                for r in net:
                    if r[key] not in at:
                        at[r[key]] = len(table)
                        table.append(r[key])
                return [at[r[key]] for r in net]
            part(len(net), t_s=[r["t_s"] for r in net], kind=codes("kind", kinds),
                 sat=[r["a"] for r in net], job_id=-1, peer=[r["b"] for r in net],
                 value=math.nan, detail=codes("detail", details))
        t = np.concatenate(cols.pop("t_s"))
        if not len(t):
            df = pd.DataFrame({c: [] for c in EVENT_COLUMNS})
            df = df.astype({"t_s": float, "sat": np.int32, "job_id": np.int64,
                            "peer": np.int32, "value": float, "kind": str, "detail": str})
            df["kind"] = df["kind"].astype("category")
            return df
        order = np.argsort(t, kind="stable")         # as DataFrame.sort_values(kind="stable")
        out = {"t_s": t[order]}
        del t
        for c in EVENT_COLUMNS[1:]:
            out[c] = np.concatenate(cols.pop(c))[order]
        # kind: categorical of the kinds present, sorted (as .astype("category") makes it);
        # detail: strings (as .astype(str) makes them)
        for c, table in (("kind", kinds), ("detail", details)):
            names = [str(x) for x in table]
            used = np.flatnonzero(np.bincount(out[c], minlength=len(table)))
            cats = sorted({names[i] for i in used})
            at = {x: i for i, x in enumerate(cats)}
            remap = np.array([at.get(x, -1) for x in names], dtype=np.intp)
            out[c] = pd.Categorical.from_codes(
                remap[out[c]], dtype=pd.CategoricalDtype(pd.Index(cats, dtype="str")))
        out["detail"] = pd.Series(out["detail"]).astype(str)
        return pd.DataFrame(out, copy=False)

    def _jobs_frame(self):
        eng = self.engine
        t = eng.duration_s
        rows = []
        for job in sorted(eng.jobs.values(), key=lambda j: j.job_id):
            if job.status is Status.PENDING:
                continue  # arrives after the end of the run
            spec, gs = job.spec, job.gs
            done = spec.work_gpu_h if job.status is Status.COMPLETED else (
                job.run.progress_at(t) if job.phase is Phase.RUNNING else
                max(job.run.saved_gpu_h, job.pending_gpu_h if job.phase is Phase.CHECKPOINTING
                    else 0.0))
            lb = job.lost_by
            held_h = job.held_slot_s / 3600.0
            r = job.run
            comp, comm, steps = r.compute_s, r.comm_s, r.steps
            if r.running and r.step_wall_s > 0.0:   # the group session under way
                dt = r._compute_time(t) - r._compute_time(r.anchor_t)
                comp += dt * (1.0 - r.comm_frac)
                comm += dt * r.comm_frac
                steps += dt / r.step_wall_s
            if job.spans and steps > 0.0:
                step = (comp / steps, comm / steps, comp / (comp + comm))
            elif job.spans:
                step = (math.nan, math.nan, math.nan)
            else:                              # one satellite: no laser-link collective
                step = (spec.step_s, 0.0, 1.0)
            pb = gs.pauses_by
            rows.append((job.job_id, spec.name, job.gpus, spec.work_gpu_h, spec.arrival_s,
                         job.first_start_s, job.end_s, job.status.value, job.reason,
                         job.end_s - spec.arrival_s, job.first_start_s - spec.arrival_s,
                         job.migrations, job.migration_failures, job.bytes_moved_gb,
                         job.downtime_s, done, job.work_lost_gpu_h, job.brownouts, job.sat,
                         spec.protection, job.slots, job.corrupted_results, job.detected,
                         job.masked, lb.get("brownout", 0.0), lb.get("radiation", 0.0),
                         lb.get("failure", 0.0), job.eclipse_wait_gpu_h, held_h,
                         held_h * (job.factor - 1) / job.factor, job.run.produced_gpu_h
                         + (job.run.progress_at(t) - job.run._session_from
                            if job.run.running else 0.0), gs.max_members) + step
                        + (gs.reshapes, pb.get("policy", 0), pb.get("brownout", 0),
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
