"""The machinery the trace readers of :mod:`orbsched.workload.traces` share: options and
seeds, trace clocks, streaming a CSV in chunks with the line of every row, per-row checks that
drop and count bad rows by reason (:class:`TraceRows`), and the collector that turns accepted
rows into a :class:`~orbsched.workload.jobs.Workload` (:class:`Collector`)."""
from __future__ import annotations

import csv
import math
import re
import warnings
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..scenario.errors import DataFileError, WorkloadError
from ..scenario.workload_specs import TraceOptions
from .jobs import Workload, assign_job_attributes

_EPOCH = pd.Timestamp(0, tz="UTC")

def trace_options(options, overrides) -> TraceOptions:
    opts = options if options is not None else TraceOptions()
    if not isinstance(opts, TraceOptions):
        raise WorkloadError(f"options must be a TraceOptions, got {type(opts).__name__}")
    valid = {f.name for f in fields(TraceOptions)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise WorkloadError(f"unknown trace option(s) {unknown}; valid: {sorted(valid)}")
    return replace(opts, **overrides) if overrides else opts


def trace_rng(rng):
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


def csv_chunks(path, opts, skipped, *, wanted, required, names=None):
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


class TraceRows:
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


ARRAYS = (np.ndarray, pd.api.extensions.ExtensionArray)


def _text(values):
    """A compact string array (names and statuses stay Arrow-backed, not Python objects)."""
    if isinstance(values, pd.api.extensions.ExtensionArray) and values.dtype == "str":
        return values
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _concat(parts):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pd.concat([pd.Series(p) for p in parts], ignore_index=True).array


def blank(chunk, lines, filtered):
    """Drop rows whose fields are all empty (blank lines)."""
    blank = chunk.isna().all(axis=1).to_numpy()
    if blank.any():
        filtered["blank_line"] += int(blank.sum())
        return chunk[~blank], lines[~blank]
    return chunk, lines


# ============================================================================== collector
class Collector:
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
        self.skipped: Counter[str] = Counter()
        self.filtered: Counter[str] = Counter()
        self.parts: list = []
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


def run_csv(path, opts, rng, *, source, clock, has_status, wanted, required, parse,
             names=None, collector=None):
    col = collector or Collector(opts, clock, source, has_status)
    for chunk, lines in csv_chunks(path, opts, col.skipped, wanted=wanted, required=required,
                                    names=names):
        chunk, lines = blank(chunk, lines, col.filtered)
        rows = TraceRows(Path(path), chunk, lines, opts, col.skipped)
        parsed = parse(rows, lines)
        keep = rows.finish()
        args = {k: (v[keep] if isinstance(v, ARRAYS) else v) for k, v in parsed.items()}
        col.add(**args)
    return col.finish(trace_rng(rng))
