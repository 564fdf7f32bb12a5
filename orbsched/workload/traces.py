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
      ``on_bad_rows="error"`` (default) raises :class:`~orbsched.scenario.errors.DataFileError`
      naming the file, the line (1-based, header = line 1; assumes one record per line, true of
      every supported trace) and the column; ``"skip"`` drops them and counts them in
      ``Workload.skipped`` by reason.  A missing *column* or a damaged JSON document is always
      an error.
    * Checkpoint sizes and timing come from :class:`~orbsched.workload.jobs.JobParams` (``job``
      option; the same model-size rule as the synthetic generator) unless the trace gives a
      size (mapped CSVs with a ``checkpoint_gb`` column).  The draws use ``rng``; with
      ``rng=None`` a reader uses seed 0, so the same file and options give the same workload.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..scenario.errors import DataFileError, WorkloadError
from ..scenario.workload_specs import ColumnMap, TraceOptions
from .jobs import Workload
from .trace_rows import (
    ARRAYS,
    Collector,
    TraceRows,
    blank,
    csv_chunks,
    run_csv,
    trace_options,
    trace_rng,
)

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

PAI_JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
PAI_TASK_COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time",
                    "plan_cpu", "plan_mem", "plan_gpu", "gpu_type")


# =================================================================================== readers
def read_philly_csv(path, options: TraceOptions | None = None, *, rng=None,
                    **overrides) -> Workload:
    """The flattened Philly CSV ``timestamp, duration, num_gpus, gpu_time, cluster`` (one row per
    job; timestamp = submission date-time, duration in seconds).  Names are
    ``<cluster>:<line>``.  No status column."""
    opts = trace_options(options, overrides)

    def parse(r, lines):
        submit = r.time("timestamp", "datetime")
        dur = r.number("duration", nonneg=True, neg_reason="negative_duration")
        gpus = r.number("num_gpus", nonneg=True)
        names = (pd.Series(r.text("cluster")) + ":" + pd.Series(lines).astype("str")).array
        return dict(name=names, submit_t=submit, start_t=submit, duration_s=dur, gpus_raw=gpus)

    return run_csv(path, opts, rng, source="philly", clock="datetime", has_status=False,
                    wanted=("timestamp", "duration", "num_gpus", "cluster"),
                    required=("timestamp", "duration", "num_gpus"), parse=parse)


def read_alibaba_openb(path, options: TraceOptions | None = None, *, rng=None,
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
    opts = trace_options(options, overrides)

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

    return run_csv(path, opts, rng, source="alibaba-openb-2023", clock="seconds", has_status=True,
                    wanted=("name", "num_gpu", "gpu_milli", "pod_phase", "creation_time",
                            "deletion_time", "scheduled_time"),
                    required=("name", "num_gpu", "gpu_milli", "creation_time", "deletion_time"),
                    parse=parse)


def read_helios(path, options: TraceOptions | None = None, *, rng=None,
                **overrides) -> Workload:
    """SenseTime Helios ``cluster_log.csv``: ``job_id, user, gpu_num, cpu_num, node_num, state,
    submit_time, start_time, end_time, duration, queue`` (date-times; duration in seconds).
    Duration: the ``duration`` column, else ``end_time - start_time``; no start = never started,
    a start without end = unfinished.  Status: ``state``."""
    opts = trace_options(options, overrides)

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

    return run_csv(path, opts, rng, source="helios", clock="datetime", has_status=True,
                    wanted=("job_id", "gpu_num", "state", "submit_time", "start_time",
                            "end_time", "duration"),
                    required=("job_id", "gpu_num", "state", "submit_time", "start_time",
                              "end_time", "duration"), parse=parse)


def read_alibaba_pai(job_path, task_path, options: TraceOptions | None = None, *, rng=None,
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
    opts = trace_options(options, overrides)
    col = Collector(opts, "seconds", "alibaba-pai-2020", has_status=True)
    parts = []
    for chunk, lines in csv_chunks(task_path, opts, col.skipped, wanted=PAI_TASK_COLUMNS,
                                    required=(), names=PAI_TASK_COLUMNS):
        chunk, lines = blank(chunk, lines, col.filtered)
        r = TraceRows(Path(task_path), chunk, lines, opts, col.skipped)
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

    for chunk, lines in csv_chunks(job_path, opts, col.skipped, wanted=PAI_JOB_COLUMNS,
                                    required=(), names=PAI_JOB_COLUMNS):
        chunk, lines = blank(chunk, lines, col.filtered)
        r = TraceRows(Path(job_path), chunk, lines, opts, col.skipped)
        parsed = parse(r, lines)
        keep = r.finish()
        col.see(parsed["submit_t"][keep], parsed.pop("job_end_t")[keep])
        no_task = np.isnan(parsed["gpus_raw"]) & keep
        if no_task.any():
            col.filtered["no_tasks"] += int(no_task.sum())
            keep &= ~no_task
        col.add(**{k: (v[keep] if isinstance(v, ARRAYS) else v) for k, v in parsed.items()})
    return col.finish(trace_rng(rng))


def read_csv_mapped(path, column_map, options: TraceOptions | None = None, *, rng=None,
                    source: str | None = None, **overrides) -> Workload:
    """Any CSV, columns named by ``column_map`` (a :class:`ColumnMap` or a dict of its
    fields).  Names default to ``<line>``; the source defaults to the file's stem."""
    if isinstance(column_map, dict):
        try:
            column_map = ColumnMap(**column_map)
        except TypeError as exc:
            raise WorkloadError(f"bad column map {column_map!r}: {exc}") from None
    if not isinstance(column_map, ColumnMap):
        raise WorkloadError(f"column_map must be a ColumnMap or a dict, got {column_map!r}")
    m, opts = column_map, trace_options(options, overrides)
    path = Path(path)
    clock = m.time_format
    if clock == "auto":
        clock = "seconds"
        for chunk, _ in csv_chunks(path, replace(opts, chunksize=1000), Counter(),
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

    return run_csv(path, opts, rng, source=source or path.stem, clock=clock,
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


def read_philly_json(path, options: TraceOptions | None = None, *, rng=None,
                     **overrides) -> Workload:
    """The original Philly ``cluster_job_log``: a JSON array of jobs ``{jobid, submitted_time,
    attempts: [{start_time, end_time, detail: [{ip, gpus: [...]}]}], status, ...}`` with times
    ``YYYY-MM-DD HH:MM:SS`` (taken as UTC).  Duration and GPUs come from the *last* attempt
    (the run that decided the job's fate; earlier attempts' GPU time is not counted); no
    attempts or no start = never started; a start without end = unfinished.  Errors give the
    line where the job's object starts and the key at fault."""
    opts = trace_options(options, overrides)
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    col = Collector(opts, "datetime", "philly", has_status=True)
    batch: list[tuple] = []

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
    return col.finish(trace_rng(rng))
