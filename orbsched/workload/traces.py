"""Readers of public GPU-cluster traces into :class:`~orbsched.workload.jobs.Workload` objects.

Every reader streams its file(s): CSVs are read in chunks of ``chunksize`` rows (pandas, all
fields as text), each chunk is parsed, checked and filtered, and only the compact columns of the
kept jobs (a few numbers each) are accumulated; the Philly JSON log is decoded one job object at
a time.  A million-row trace is therefore never held in memory as raw rows, let alone twice.

Common options (:class:`TraceOptions`, or keyword overrides on every reader)
    * Window ``start`` / ``end``: keep jobs submitted in [start, end) of the *trace clock*:
      seconds for traces with numeric times (PAI, openb, numeric mapped CSVs), seconds since
      1970-01-01 UTC or a date-time string for traces with date-times (Philly, Helios).  Jobs
      keep their full duration even if they run past ``end``.
    * Arrivals are re-based so the first kept job arrives at 0 s, then scaled:
      ``arrival_s = (submit - first_submit) * time_scale * arrival_scale``;
      ``runtime_s = duration * time_scale``.  ``arrival_scale < 1`` packs the same jobs into a
      shorter span (higher load); ``time_scale`` replays the whole trace faster or slower.
    * ``gpu_scale``: GPUs become ``ceil(gpus * gpu_scale)``; work follows
      (``work_gpu_h = gpus * runtime_s / 3600`` after scaling).
    * Filters, applied in this order and counted in ``Workload.filtered`` by reason: ``window``,
      ``status`` (``statuses``, case-insensitive; only for traces with a status), ``job_type``
      (mapped CSVs), ``never_started``, ``no_gpus`` (CPU-only jobs), ``fractional_gpus`` (when
      ``fractional_gpus="drop"``), ``min_gpus`` / ``max_gpus`` (on the scaled size),
      ``unfinished`` (when ``unfinished="drop"``), ``zero_duration``, and
      last ``sampled_out`` (``sample_n``: a uniform sample without replacement, drawn from
      ``rng``, keeping arrival order).  ``blank_line`` counts empty CSV rows, ignored.
    * Fractional GPUs (GPU sharing in PAI and openb): ``fractional_gpus="whole"`` (default)
      gives such a job whole GPUs, ``ceil`` of its share, because the engine places whole GPUs;
      its work is then ``gpus * duration`` - the GPU time it held, not the share it used.
      ``"drop"`` removes such jobs.
    * Unfinished jobs (started, no end: still running when the trace was cut):
      ``unfinished="clip"`` (default) ends them at the trace end - ``trace_end`` if given, else
      the latest submit/start/end time in the file - so their duration is a lower bound;
      ``"drop"`` removes them.  Jobs that never started are always removed.
    * Bad rows (missing value in a needed column, non-numeric or non-finite number, negative
      GPUs, negative duration, unparseable time, wrong number of fields):
      ``on_bad_rows="error"`` (default) raises :class:`~orbsched.scenario.errors.DataFileError` naming
      the file, the line (1-based, header = line 1; assumes one record per line, true of every
      supported trace) and the column; ``"skip"`` drops them and counts them in
      ``Workload.skipped`` by reason.  A missing *column* or a damaged JSON document is always
      an error.
    * Checkpoint sizes and timing come from :class:`~orbsched.workload.jobs.JobParams` (``job``
      option; the same model-size rule as the synthetic generator) unless the trace gives a
      size (mapped CSVs with a ``checkpoint_gb`` column).  The draws use ``rng``; with
      ``rng=None`` a reader uses seed 0, so the same file and options give the same workload.
"""
from __future__ import annotations

import csv
import json
import math
import re
import warnings
from collections import Counter
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ..scenario.errors import DataFileError, WorkloadError
from ..scenario.workload_specs import ColumnMap, TraceOptions
from .jobs import Workload, assign_job_attributes

__all__ = [
    "ColumnMap",
    "TraceOptions",
    "read_alibaba_openb",
    "read_alibaba_pai",
    "read_csv_mapped",
    "read_helios",
    "read_philly_csv",
    "read_philly_json",
]

_EPOCH = pd.Timestamp(0, tz="UTC")
PAI_JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
PAI_TASK_COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time",
                    "plan_cpu", "plan_mem", "plan_gpu", "gpu_type")


def _options(options, overrides) -> TraceOptions:
    opts = options if options is not None else TraceOptions()
    if not isinstance(opts, TraceOptions):
        raise WorkloadError(f"options must be a TraceOptions, got {type(opts).__name__}")
    valid = {f.name for f in fields(TraceOptions)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise WorkloadError(f"unknown trace option(s) {unknown}; valid: {sorted(valid)}")
    return replace(opts, **overrides) if overrides else opts


def _rng(rng):
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise WorkloadError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


def _clock_s(value, clock, name):
    """A window bound or trace end in trace-clock seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    if clock == "seconds":
        raise WorkloadError(f"{name} must be a number of seconds for this trace (its times are "
                            f"seconds), got {value!r}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise WorkloadError(f"{name}: cannot parse {value!r} as a date-time") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return (ts - _EPOCH).total_seconds()


# ============================================================================ CSV streaming
_SKIPPING = re.compile(r"Skipping line (\d+): (.*)")
_EXPECTED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _csv_chunks(path, opts, skipped, *, wanted, required, names=None):
    """Yield ``(chunk, lines)``: text DataFrames and the file line of each row."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    if names is None:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            header = [h.strip() for h in next(csv.reader([fh.readline()]), [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataFileError(path, 1, f"missing column(s) {missing}; the header has {header}")
        # no usecols: pandas would then accept rows with extra fields silently
        kw = dict(header=0)
        line = 2
    else:
        kw = dict(header=None, names=list(names))
        line = 1
    try:
        reader = pd.read_csv(path, dtype=str, chunksize=opts.chunksize, skip_blank_lines=False,
                             keep_default_na=False, na_values=[""], skipinitialspace=True,
                             index_col=False,
                             on_bad_lines="error" if opts.on_bad_rows == "error" else "warn", **kw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFileError(path, None, f"cannot read as CSV ({exc})") from None
    pending = set()
    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
                except pd.errors.ParserError as exc:
                    m = _EXPECTED.search(str(exc))
                    if m:
                        msg = f"expected {m.group(1)} fields, saw {m.group(3)}"
                        raise DataFileError(path, int(m.group(2)), msg) from None
                    raise DataFileError(path, None, f"cannot parse CSV ({exc})") from None
                except UnicodeDecodeError as exc:
                    raise DataFileError(path, None, f"not UTF-8 text ({exc})") from None
            for w in caught:
                m = _SKIPPING.search(str(w.message))
                if m:
                    pending.add(int(m.group(1)))
                    skipped["wrong_field_count"] += 1
                else:
                    warnings.warn(w.message, w.category, stacklevel=2)
            chunk = chunk[[c for c in chunk.columns if c in wanted]]
            n = len(chunk)
            if pending:
                ahead = sorted(p for p in pending if p >= line)
                cand = np.arange(line, line + n + len(ahead), dtype=np.int64)
                lines = cand[~np.isin(cand, ahead)][:n]
                pending = {p for p in pending if n and p > lines[-1]}
            else:
                lines = np.arange(line, line + n, dtype=np.int64)
            if n:
                line = int(lines[-1]) + 1
                while line in pending:
                    pending.discard(line)
                    line += 1
            yield chunk, lines


class _Rows:
    """Parses the columns of one chunk and collects bad rows (first one by line, or counts)."""

    def __init__(self, path, chunk, lines, opts, skipped):
        self.path, self.chunk, self.lines = path, chunk, lines
        self.error = opts.on_bad_rows == "error"
        self.skipped = skipped
        self.bad = np.zeros(len(chunk), bool)
        self.first = None

    def col(self, name):
        if name in self.chunk.columns:
            return self.chunk[name]
        return pd.Series(np.full(len(self.chunk), np.nan, dtype=object), index=self.chunk.index)

    def flag(self, mask, reason, column, describe):
        mask = np.asarray(mask, bool) & ~self.bad
        if not mask.any():
            return
        if self.error:
            i = int(np.flatnonzero(mask)[0])
            if self.first is None or self.lines[i] < self.first[0]:
                self.first = (int(self.lines[i]), f"column '{column}': {describe(i)}")
        else:
            self.skipped[reason] += int(mask.sum())
        self.bad |= mask

    def number(self, column, *, required=True, nonneg=False, neg_reason="negative_value"):
        s = self.col(column)
        missing = s.isna().to_numpy()
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if required:
            self.flag(missing, "missing_value", column, lambda i: "missing value")
        self.flag(~missing & ~np.isfinite(vals), "non_numeric", column,
                  lambda i: f"not a finite number: {s.iloc[i]!r}")
        if nonneg:
            what = "duration" if neg_reason == "negative_duration" else "value"
            self.flag(np.nan_to_num(vals) < 0, neg_reason, column,
                      lambda i: f"negative {what} {vals[i]:g}")
        return vals

    def time(self, column, clock, *, required=True, unit_s=1.0):
        if clock == "seconds":
            return self.number(column, required=required) * unit_s
        s = self.col(column)
        missing = s.isna().to_numpy()
        if required:
            self.flag(missing, "missing_value", column, lambda i: "missing value")
        dt = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
        secs = (dt - _EPOCH).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
        self.flag(~missing & np.isnan(secs), "bad_time", column,
                  lambda i: f"not a date-time: {s.iloc[i]!r}")
        return secs

    def text(self, column):
        """Text column as a compact (Arrow-backed) string array; missing -> ""."""
        return self.col(column).fillna("").astype("str").array

    def duration_check(self, duration_s, column):
        self.flag(np.nan_to_num(duration_s) < 0, "negative_duration", column,
                  lambda i: f"negative duration {duration_s[i]:g} s")

    def finish(self):
        if self.first is not None:
            raise DataFileError(self.path, *self.first)
        return ~self.bad


_ARRAYS = (np.ndarray, pd.api.extensions.ExtensionArray)


def _text(values):
    """A compact string array (names and statuses stay Arrow-backed, not Python objects)."""
    if isinstance(values, pd.api.extensions.ExtensionArray) and values.dtype == "str":
        return values
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _concat(parts):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pd.concat([pd.Series(p) for p in parts], ignore_index=True).array


def _blank(chunk, lines, filtered):
    """Drop rows whose fields are all empty (blank lines)."""
    blank = chunk.isna().all(axis=1).to_numpy()
    if blank.any():
        filtered["blank_line"] += int(blank.sum())
        return chunk[~blank], lines[~blank]
    return chunk, lines


# ============================================================================== collector
class _Collector:
    """Filters parsed rows chunk by chunk and builds the Workload at the end."""

    def __init__(self, opts: TraceOptions, clock, source, has_status):
        self.o, self.source = opts, source
        self.start = _clock_s(opts.start, clock, "start")
        self.end = _clock_s(opts.end, clock, "end")
        self.trace_end = _clock_s(opts.trace_end, clock, "trace_end")
        if opts.statuses is not None and not has_status:
            raise WorkloadError(f"the {source} trace has no job status; remove the "
                                f"'statuses' filter")
        self.statuses = None if opts.statuses is None else {s.lower() for s in opts.statuses}
        self.skipped, self.filtered = Counter(), Counter()
        self.parts = []
        self.latest_t = -math.inf

    def see(self, *arrays):
        """Note times seen in the file (the default trace end is the latest of them)."""
        for arr in arrays:
            arr = np.asarray(arr, float)
            if np.isfinite(arr).any():
                self.latest_t = max(self.latest_t, float(np.nanmax(arr[np.isfinite(arr)])))

    def _drop(self, keep, mask, reason):
        hit = keep & mask
        if hit.any():
            self.filtered[reason] += int(hit.sum())
        return keep & ~mask

    def add(self, name, submit_t, start_t, duration_s, gpus_raw, *, fractional=None,
            status=None, job_type=None, job_types=None, checkpoint_gb=None):
        """Rows already free of bad values.  ``start_t`` NaN = never started; ``duration_s``
        NaN = no end yet (unfinished)."""
        submit_t = np.asarray(submit_t, float)
        n = len(submit_t)
        if n == 0:
            return
        start_t, duration_s = np.asarray(start_t, float), np.asarray(duration_s, float)
        self.see(submit_t, start_t, start_t + duration_s)
        gpus_raw = np.asarray(gpus_raw, float)
        if fractional is None:
            fractional = np.abs(gpus_raw - np.round(gpus_raw)) > 1e-9
        o, keep = self.o, np.ones(n, bool)
        if self.start is not None:
            keep = self._drop(keep, submit_t < self.start, "window")
        if self.end is not None:
            keep = self._drop(keep, submit_t >= self.end, "window")
        if self.statuses is not None:
            st = pd.Series(_text(status)).str.lower()
            keep = self._drop(keep, ~st.isin(self.statuses).to_numpy(), "status")
        if job_types is not None:
            keep = self._drop(keep, ~pd.Series(_text(job_type)).isin(job_types).to_numpy(),
                              "job_type")
        unfinished = np.isnan(duration_s)
        keep = self._drop(keep, unfinished & np.isnan(start_t), "never_started")
        keep = self._drop(keep, ~(gpus_raw > 0), "no_gpus")
        if o.fractional_gpus == "drop":
            keep = self._drop(keep, fractional, "fractional_gpus")
        gpus = np.ceil(np.where(keep, gpus_raw, 1.0) * o.gpu_scale - 1e-9)
        if o.min_gpus is not None:
            keep = self._drop(keep, gpus < o.min_gpus, "min_gpus")
        if o.max_gpus is not None:
            keep = self._drop(keep, gpus > o.max_gpus, "max_gpus")
        if o.unfinished == "drop":
            keep = self._drop(keep, unfinished, "unfinished")
        keep = self._drop(keep, duration_s == 0, "zero_duration")
        if not keep.any():
            return
        ck = None if checkpoint_gb is None else np.asarray(checkpoint_gb, float)[keep]
        self.parts.append({
            "name": _text(name)[keep], "submit_t": submit_t[keep],
            "start_t": start_t[keep], "duration_s": duration_s[keep],
            "gpus": gpus[keep].astype(np.int64),
            "checkpoint_gb": ck if ck is not None else np.full(int(keep.sum()), np.nan)})

    def finish(self, rng) -> Workload:
        o = self.o
        if not self.parts:
            wl = Workload.empty()
            wl.skipped, wl.filtered = dict(self.skipped), dict(self.filtered)
            return wl
        cols = {}
        for k in list(self.parts[0]):  # one column at a time, freeing the chunks as we go
            cols[k] = _concat([p.pop(k) for p in self.parts])
        self.parts = []
        dur = cols["duration_s"]
        open_ = np.isnan(dur)
        if open_.any():  # unfinished="clip": end at the trace end
            end = self.trace_end if self.trace_end is not None else self.latest_t
            dur[open_] = np.maximum(end - cols["start_t"][open_], 0.0)
            zero = open_ & (dur == 0)
            if zero.any():
                self.filtered["zero_duration"] += int(zero.sum())
                cols = {k: v[~zero] for k, v in cols.items()}  # masks work on both kinds
        n = len(cols["submit_t"])
        if o.sample_n is not None and n > o.sample_n:
            pick = np.sort(rng.choice(n, size=o.sample_n, replace=False))
            self.filtered["sampled_out"] += n - o.sample_n
            cols = {k: v.take(pick) for k, v in cols.items()}
            n = o.sample_n
        order = np.argsort(cols["submit_t"], kind="stable")
        for k in list(cols):
            cols[k] = cols[k].take(order)
        del order
        t = cols.pop("submit_t")
        arrival_s = (t - t[0]) * o.time_scale * o.arrival_scale
        del t
        gpus = cols.pop("gpus")
        work_gpu_h = gpus * cols.pop("duration_s") * (o.time_scale / 3600.0)
        attrs = assign_job_attributes(gpus, rng, o.job, checkpoint_gb=cols.pop("checkpoint_gb"))
        frame = pd.DataFrame({
            "job_id": np.arange(n, dtype=np.int64),
            "name": cols.pop("name"),
            "arrival_s": arrival_s, "gpus": gpus, "work_gpu_h": work_gpu_h,
            **attrs,
            "source": pd.Categorical.from_codes(np.zeros(n, np.int8), [self.source]),
        }, copy=False)
        del cols, attrs, arrival_s, gpus, work_gpu_h
        return Workload(frame, skipped=self.skipped, filtered=self.filtered)


def _run_csv(path, opts, rng, *, source, clock, has_status, wanted, required, parse,
             names=None, collector=None):
    col = collector or _Collector(opts, clock, source, has_status)
    for chunk, lines in _csv_chunks(path, opts, col.skipped, wanted=wanted, required=required,
                                    names=names):
        chunk, lines = _blank(chunk, lines, col.filtered)
        rows = _Rows(Path(path), chunk, lines, opts, col.skipped)
        parsed = parse(rows, lines)
        keep = rows.finish()
        args = {k: (v[keep] if isinstance(v, _ARRAYS) else v) for k, v in parsed.items()}
        col.add(**args)
    return col.finish(_rng(rng))


# =================================================================================== readers
def read_philly_csv(path, options: Optional[TraceOptions] = None, *, rng=None,
                    **overrides) -> Workload:
    """The flattened Philly CSV ``timestamp, duration, num_gpus, gpu_time, cluster`` (one row per
    job; timestamp = submission date-time, duration in seconds).  Names are
    ``<cluster>:<line>``.  No status column."""
    opts = _options(options, overrides)

    def parse(r, lines):
        submit = r.time("timestamp", "datetime")
        dur = r.number("duration", nonneg=True, neg_reason="negative_duration")
        gpus = r.number("num_gpus", nonneg=True)
        names = (pd.Series(r.text("cluster")) + ":" + pd.Series(lines).astype("str")).array
        return dict(name=names, submit_t=submit, start_t=submit, duration_s=dur, gpus_raw=gpus)

    return _run_csv(path, opts, rng, source="philly", clock="datetime", has_status=False,
                    wanted=("timestamp", "duration", "num_gpus", "cluster"),
                    required=("timestamp", "duration", "num_gpus"), parse=parse)


def read_alibaba_openb(path, options: Optional[TraceOptions] = None, *, rng=None,
                       **overrides) -> Workload:
    """Alibaba GPU trace 2023 ("openb") pod list: ``name, cpu_milli, memory_mib, num_gpu,
    gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time`` (times
    in seconds from the trace start).

    GPUs: ``num_gpu`` whole GPUs; ``gpu_milli`` is the share of each GPU the pod asks for
    (1000 = all of it), so a pod with ``gpu_milli < 1000`` shares its GPU and is *fractional*
    (placed on one whole GPU by default, see ``fractional_gpus``).  Pods with ``num_gpu = 0``
    or ``gpu_milli = 0`` are CPU-only (``no_gpus``).  Start: ``scheduled_time``, or
    ``creation_time`` when the pod was never scheduled (Pending pods: their duration is the time
    they asked for GPUs).  Duration: ``deletion_time - start``; an empty ``deletion_time`` means
    still running at the trace end (``unfinished``).  Status: ``pod_phase``.
    """
    opts = _options(options, overrides)

    def parse(r, lines):
        num = r.number("num_gpu", nonneg=True)
        milli = r.number("gpu_milli", nonneg=True)
        created = r.time("creation_time", "seconds")
        sched = r.time("scheduled_time", "seconds", required=False)
        deleted = r.time("deletion_time", "seconds", required=False)
        start = np.where(np.isnan(sched), created, sched)
        dur = deleted - start
        r.duration_check(dur, "deletion_time")
        gpus = np.where(milli > 0, num, 0.0)
        return dict(name=r.text("name"), submit_t=created, start_t=start, duration_s=dur,
                    gpus_raw=gpus, fractional=(milli < 1000) & (gpus > 0),
                    status=r.text("pod_phase"))

    return _run_csv(path, opts, rng, source="alibaba-openb-2023", clock="seconds", has_status=True,
                    wanted=("name", "num_gpu", "gpu_milli", "pod_phase", "creation_time",
                            "deletion_time", "scheduled_time"),
                    required=("name", "num_gpu", "gpu_milli", "creation_time", "deletion_time"),
                    parse=parse)


def read_helios(path, options: Optional[TraceOptions] = None, *, rng=None,
                **overrides) -> Workload:
    """SenseTime Helios ``cluster_log.csv``: ``job_id, user, gpu_num, cpu_num, node_num, state,
    submit_time, start_time, end_time, duration, queue`` (date-times; duration in seconds).
    Duration: the ``duration`` column, else ``end_time - start_time``; no start = never started,
    a start without end = unfinished.  Status: ``state``."""
    opts = _options(options, overrides)

    def parse(r, lines):
        submit = r.time("submit_time", "datetime")
        start = r.time("start_time", "datetime", required=False)
        end = r.time("end_time", "datetime", required=False)
        dur = r.number("duration", required=False, nonneg=True, neg_reason="negative_duration")
        alt = end - start
        r.duration_check(np.where(np.isnan(dur), alt, 0.0), "end_time")
        dur = np.where(np.isnan(dur), alt, dur)
        start = np.where(np.isnan(start) & ~np.isnan(dur), submit, start)
        return dict(name=r.text("job_id"), submit_t=submit, start_t=start, duration_s=dur,
                    gpus_raw=r.number("gpu_num", nonneg=True), status=r.text("state"))

    return _run_csv(path, opts, rng, source="helios", clock="datetime", has_status=True,
                    wanted=("job_id", "gpu_num", "state", "submit_time", "start_time",
                            "end_time", "duration"),
                    required=("job_id", "gpu_num", "state", "submit_time", "start_time",
                              "end_time", "duration"), parse=parse)


def read_alibaba_pai(job_path, task_path, options: Optional[TraceOptions] = None, *, rng=None,
                     **overrides) -> Workload:
    """Alibaba PAI 2020: ``pai_job_table`` + ``pai_task_table`` CSVs *without* header rows
    (columns :data:`PAI_JOB_COLUMNS` and :data:`PAI_TASK_COLUMNS`).

    Per job: GPUs = sum over its tasks of ``inst_num * plan_gpu / 100`` (``plan_gpu`` is a
    percentage of one GPU; empty = CPU task), rounded up to whole GPUs (``fractional_gpus``);
    submission = the job's ``start_time`` (the PAI README: "timestamp of job submission
    time"); run start = its earliest task ``start_time`` (the gap is queueing, so it is not
    work); end = its latest task ``end_time``, or the job's ``end_time`` when no task gives one;
    a task that started but has no end makes the job unfinished; a job with no task start
    never launched (``never_started``), one with no task row at all is ``no_tasks``.
    Status: the job's ``status``.
    The task table is streamed first and reduced to one row per job (a few numbers).
    """
    opts = _options(options, overrides)
    col = _Collector(opts, "seconds", "alibaba-pai-2020", has_status=True)
    parts = []
    for chunk, lines in _csv_chunks(task_path, opts, col.skipped, wanted=PAI_TASK_COLUMNS,
                                    required=(), names=PAI_TASK_COLUMNS):
        chunk, lines = _blank(chunk, lines, col.filtered)
        r = _Rows(Path(task_path), chunk, lines, opts, col.skipped)
        name = r.col("job_name")
        r.flag(name.isna().to_numpy(), "missing_value", "job_name", lambda i: "missing value")
        inst = r.number("inst_num", nonneg=True)
        plan = np.nan_to_num(r.number("plan_gpu", required=False, nonneg=True))
        t0 = r.time("start_time", "seconds", required=False)
        t1 = r.time("end_time", "seconds", required=False)
        r.duration_check(t1 - t0, "end_time")
        keep = r.finish()
        col.see(t0[keep], t1[keep])
        part = pd.DataFrame({"job_name": name.to_numpy(dtype=object)[keep],
                             "gpu": (inst * plan / 100.0)[keep], "t0": t0[keep], "t1": t1[keep],
                             "open": (~np.isnan(t0) & np.isnan(t1))[keep].astype(np.int64)})
        parts.append(part.groupby("job_name", sort=False).agg(
            gpu=("gpu", "sum"), t0=("t0", "min"), t1=("t1", "max"), open=("open", "sum")))
    tasks = (pd.concat(parts).groupby(level=0, sort=False).agg(
        {"gpu": "sum", "t0": "min", "t1": "max", "open": "sum"}) if parts
        else pd.DataFrame(columns=["gpu", "t0", "t1", "open"], dtype=float))
    del parts

    def parse(r, lines):
        name = r.col("job_name")
        r.flag(name.isna().to_numpy(), "missing_value", "job_name", lambda i: "missing value")
        submit = r.time("start_time", "seconds")
        job_end = r.time("end_time", "seconds", required=False)
        t = tasks.reindex(name.to_numpy(dtype=object))
        has_task = t["gpu"].notna().to_numpy()
        t0, t1 = t["t0"].to_numpy(float), t["t1"].to_numpy(float)
        start = t0  # no task start: never launched
        end = np.where(np.isnan(t1), job_end, t1)
        end = np.where(t["open"].to_numpy(float) > 0, np.nan, end)
        dur = end - start
        r.duration_check(dur, "end_time")
        gpus = np.where(has_task, t["gpu"].to_numpy(float), np.nan)
        return dict(name=r.text("job_name"), submit_t=submit, start_t=start,
                    duration_s=dur, gpus_raw=gpus, status=r.text("status"), job_end_t=job_end)

    for chunk, lines in _csv_chunks(job_path, opts, col.skipped, wanted=PAI_JOB_COLUMNS,
                                    required=(), names=PAI_JOB_COLUMNS):
        chunk, lines = _blank(chunk, lines, col.filtered)
        r = _Rows(Path(job_path), chunk, lines, opts, col.skipped)
        parsed = parse(r, lines)
        keep = r.finish()
        col.see(parsed["submit_t"][keep], parsed.pop("job_end_t")[keep])
        no_task = np.isnan(parsed["gpus_raw"]) & keep
        if no_task.any():
            col.filtered["no_tasks"] += int(no_task.sum())
            keep &= ~no_task
        col.add(**{k: (v[keep] if isinstance(v, _ARRAYS) else v) for k, v in parsed.items()})
    return col.finish(_rng(rng))


def read_csv_mapped(path, column_map, options: Optional[TraceOptions] = None, *, rng=None,
                    source: Optional[str] = None, **overrides) -> Workload:
    """Any CSV, columns named by ``column_map`` (a :class:`ColumnMap` or a dict of its
    fields).  Names default to ``<line>``; the source defaults to the file's stem."""
    if isinstance(column_map, dict):
        try:
            column_map = ColumnMap(**column_map)
        except TypeError as exc:
            raise WorkloadError(f"bad column map {column_map!r}: {exc}") from None
    if not isinstance(column_map, ColumnMap):
        raise WorkloadError(f"column_map must be a ColumnMap or a dict, got {column_map!r}")
    m, opts = column_map, _options(options, overrides)
    path = Path(path)
    clock = m.time_format
    if clock == "auto":
        clock = "seconds"
        for chunk, _ in _csv_chunks(path, replace(opts, chunksize=1000), Counter(),
                                    wanted=m.columns(), required=m.columns(), names=m.names):
            vals = chunk[m.submit].dropna()
            if len(vals) and pd.to_numeric(vals, errors="coerce").isna().all():
                clock = "datetime"
            break
    unit = m.time_unit_s

    def parse(r, lines):
        submit = r.time(m.submit, clock, unit_s=unit)
        start = r.time(m.start, clock, unit_s=unit) if m.start else submit
        if m.duration:
            dur = r.number(m.duration, nonneg=True, neg_reason="negative_duration") * unit
        else:
            end = r.time(m.end, clock, required=False, unit_s=unit)
            dur = end - start
            r.duration_check(dur, m.end)
        out = dict(name=(r.text(m.name) if m.name else pd.Series(lines).astype("str").array),
                   submit_t=submit, start_t=start, duration_s=dur,
                   gpus_raw=r.number(m.gpus, nonneg=True))
        if m.status:
            out["status"] = r.text(m.status)
        if m.checkpoint_gb:
            out["checkpoint_gb"] = r.number(m.checkpoint_gb, required=False, nonneg=True)
        if m.job_types is not None:
            out["job_type"] = r.text(m.job_type)
            out["job_types"] = m.job_types
        return out

    return _run_csv(path, opts, rng, source=source or path.stem, clock=clock,
                    has_status=bool(m.status), wanted=m.columns(), required=m.columns(),
                    parse=parse, names=m.names)


# ============================================================================ Philly JSON
_WS = re.compile(r"[ \t\n\r]*")


def _iter_json_array(path, block_chars=1 << 20):
    """Yield ``(index, line, value)`` for each element of a top-level JSON array, reading the
    file in blocks (the line is where the element starts)."""
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8") as fh:
        buf, pos, line, eof = "", 0, 1, False

        def more():
            nonlocal buf, pos, eof
            block = fh.read(block_chars)
            if not block:
                eof = True
                return False
            buf = buf[pos:] + block
            pos = 0
            return True

        def skip_ws():
            nonlocal pos, line
            while True:
                end = _WS.match(buf, pos).end()
                line += buf.count("\n", pos, end)
                pos = end
                if pos < len(buf) or not more():
                    return

        skip_ws()
        if pos >= len(buf) or buf[pos] != "[":
            raise DataFileError(path, line, "expected a JSON array of jobs ('[')")
        pos += 1
        k = 0
        while True:
            skip_ws()
            if pos >= len(buf):
                raise DataFileError(path, line, "unexpected end of file inside the job array")
            if buf[pos] == "]":
                return
            if k:
                if buf[pos] != ",":
                    raise DataFileError(path, line, f"expected ',' or ']' after job {k - 1}, "
                                        f"found {buf[pos]!r}")
                pos += 1
                skip_ws()
            while True:
                try:
                    value, end = dec.raw_decode(buf, pos)
                    if end < len(buf) or eof:
                        break
                except json.JSONDecodeError as exc:
                    if eof:
                        raise DataFileError(path, line + buf.count("\n", pos, exc.pos),
                                            f"invalid JSON ({exc.msg})") from None
                if not more():
                    continue
            yield k, line, value
            line += buf.count("\n", pos, end)
            pos = end
            k += 1


class _BadJob(Exception):
    def __init__(self, reason, key, message):
        super().__init__(message)
        self.reason, self.key = reason, key


def _philly_time(obj, key, where, required=True):
    v = obj.get(key) if isinstance(obj, dict) else None
    if v is None or v == "None":
        if required:
            raise _BadJob("missing_value", where, "missing value")
        return math.nan
    try:
        dt = datetime.fromisoformat(str(v).strip())
    except ValueError:
        raise _BadJob("bad_time", where, f"not a date-time: {v!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _philly_job(obj):
    """(name, submit_t, start_t, duration_s, gpus, status) of one cluster_job_log entry."""
    if not isinstance(obj, dict):
        raise _BadJob("bad_value", "<job>",
                      f"a job must be a JSON object, got {type(obj).__name__}")
    name = obj.get("jobid")
    if name is None:
        raise _BadJob("missing_value", "jobid", "missing value")
    submit = _philly_time(obj, "submitted_time", "submitted_time")
    attempts = obj.get("attempts")
    if attempts is None:
        raise _BadJob("missing_value", "attempts", "missing value")
    if not isinstance(attempts, list):
        raise _BadJob("bad_value", "attempts", f"must be a list, got {attempts!r}")
    status = str(obj.get("status") or "")
    if not attempts:
        return str(name), submit, math.nan, math.nan, 0.0, status
    last = attempts[-1]
    start = _philly_time(last, "start_time", "attempts[-1].start_time", required=False)
    end = _philly_time(last, "end_time", "attempts[-1].end_time", required=False)
    if math.isnan(start):
        end = math.nan
    detail = last.get("detail") if isinstance(last, dict) else None
    if detail is None:
        detail = []
    if not isinstance(detail, list) or not all(
            isinstance(d, dict) and isinstance(d.get("gpus", []), list) for d in detail):
        raise _BadJob("bad_value", "attempts[-1].detail",
                      "must be a list of {ip, gpus: [...]} objects")
    gpus = float(sum(len(d.get("gpus", [])) for d in detail))
    dur = end - start
    if dur < 0:
        raise _BadJob("negative_duration", "attempts[-1].end_time",
                      f"negative duration {dur:g} s (end before start)")
    return str(name), submit, start, dur, gpus, status


def read_philly_json(path, options: Optional[TraceOptions] = None, *, rng=None,
                     **overrides) -> Workload:
    """The original Philly ``cluster_job_log``: a JSON array of jobs ``{jobid, submitted_time,
    attempts: [{start_time, end_time, detail: [{ip, gpus: [...]}]}], status, ...}`` with times
    ``YYYY-MM-DD HH:MM:SS`` (taken as UTC).  Duration and GPUs come from the *last* attempt
    (the run that decided the job's fate; earlier attempts' GPU time is not counted); no
    attempts or no start = never started; a start without end = unfinished.  Errors give the
    line where the job's object starts and the key at fault."""
    opts = _options(options, overrides)
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    col = _Collector(opts, "datetime", "philly", has_status=True)
    batch = []

    def flush():
        if batch:
            names, submit, start, dur, gpus, status = (list(x) for x in zip(*batch, strict=True))
            col.add(pd.array(names, dtype="str"), submit, start, dur, gpus,
                    status=pd.array(status, dtype="str"))
            batch.clear()

    try:
        for k, line, obj in _iter_json_array(path):
            try:
                batch.append(_philly_job(obj))
            except _BadJob as bad:
                if opts.on_bad_rows == "error":
                    jid = obj.get("jobid") if isinstance(obj, dict) else None
                    raise DataFileError(path, line, f"job {k} (jobid {jid!r}): key '{bad.key}': "
                                        f"{bad}") from None
                col.skipped[bad.reason] += 1
            if len(batch) >= opts.chunksize:
                flush()
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not UTF-8 text ({exc})") from None
    flush()
    return col.finish(_rng(rng))
