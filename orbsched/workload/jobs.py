"""Training workloads: the job record, a columnar container, and a synthetic generator.

Job record
    :class:`TrainingJob` is what the engine consumes: GPUs needed (placed together), total work
    in GPU-hours at nominal speed, checkpoint size and timing, an elastic minimum size and a
    radiation-protection mode.  ``work_gpu_h = gpus * runtime_s / 3600``: a job that ran for
    ``runtime_s`` on ``gpus`` GPUs in its source cluster needs the same GPU-time here.

Container
    :class:`Workload` holds the jobs as one pandas DataFrame, one column per field, sorted by
    arrival, so a million jobs cost tens of MB, not a million Python objects.  ``jobs()``
    yields :class:`TrainingJob` records one at a time.  ``skipped`` counts bad rows a trace
    reader dropped (by reason), ``filtered`` counts rows removed on purpose (window, status,
    size filters, sampling...).  Trace readers live in :mod:`orbsched.workload.traces`.

Synthetic generator (:func:`synthetic_training`, defaults in :class:`SyntheticParams`)
    * Arrivals: Poisson, optionally modulated by a daily cycle
      ``rate(t) = rate_per_h * (1 + A cos(2 pi (hour(t) - peak_hour) / 24))``, sampled exactly
      by thinning (Lewis & Shedler 1979): candidates from a homogeneous process at the peak
      rate ``rate_per_h (1 + A)``, each kept with probability ``rate(t) / peak rate``.  The
      daily mean of ``rate(t)`` is ``rate_per_h``.
    * Size: GPUs from {1, 2, 4, ..., 128} with P(2^k) proportional to (2^k)^-alpha, a truncated
      power law (heavy-tailed, most jobs small).  ``alpha`` = :data:`PHILLY_GPU_ALPHA` =
      1.5800501588 is the root of  mean(alpha) = 1.93, the Philly mean (Jeon et al., "Analysis
      of Large-Scale Multi-Tenant GPU Clusters for DNN Training Workloads", USENIX ATC 2019;
      ../shared/CONTEXT.md), with the Philly maximum of 128 as the top size.  Resulting
      probabilities: 1: 0.6656, 2: 0.2226, 4: 0.0745, 8: 0.0249, 16: 0.00833, 32: 0.00279,
      64: 0.00093, 128: 0.00031.  Only the mean and the support are fitted; the flattened
      82,247-job Philly CSV in ../shared/data has 93 % single-GPU jobs and mean 1.30 (it is a
      subset), so the default is the heavier of the two published pictures.
    * Runtime: lognormal with median 874 s and mean 18,006 s (Philly, CONTEXT.md).  For a
      lognormal, median = exp(mu) and mean = exp(mu + sigma^2 / 2), so
      ``mu = ln 874 = 6.7731`` and ``sigma = sqrt(2 ln(18006 / 874)) = 2.4598``.  The tail is
      very heavy (coefficient of variation ~20): a sample mean converges slowly, and the
      largest of 10^6 draws is years long.  ``runtime_cap_s`` truncates runtimes (the median is
      kept while the cap exceeds it; the mean falls to :func:`lognormal_capped_mean_s`).
    * Checkpoints: see :class:`JobParams` (shared with the trace readers).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import atomic_write
from ..scenario.errors import DataFileError, WorkloadError
from ..scenario.workload_specs import (
    BYTES_PER_PARAM_ADAM,
    GRADIENT_BYTES_PER_PARAM,
    PROTECTIONS,
    STEP_S,
    JobParams,
    SyntheticParams,
)
from ..scenario.workload_specs import workload_number as _number

__all__ = [
    "TrainingJob",
    "Workload",
    "assign_job_attributes",
    "synthetic_training",
]

_S_PER_H = 3600.0


# =============================================================================== job record
@dataclass(frozen=True)
class TrainingJob:
    """One training job as the engine sees it (all times in seconds, sizes in GB).

    ``arrival_s`` is counted from the run's start; ``work_gpu_h`` is the total work at nominal
    GPU speed (on ``gpus`` GPUs it takes ``work_gpu_h / gpus`` hours); ``min_gpus`` is the
    elastic minimum (``None`` -> ``gpus``: a rigid job).
    """

    job_id: int
    name: str
    arrival_s: float
    gpus: int
    work_gpu_h: float
    checkpoint_gb: float
    checkpoint_interval_s: float
    checkpoint_s: float
    restore_s: float
    min_gpus: int | None = None
    protection: str = "none"
    source: str = "synthetic"
    step_s: float = STEP_S
    gradient_gb: float | None = None
    min_link_gbps: float = 0.0
    max_link_latency_s: float = math.inf

    def __post_init__(self):
        if self.min_gpus is None:
            object.__setattr__(self, "min_gpus", self.gpus)
        if self.gradient_gb is None:
            object.__setattr__(self, "gradient_gb", default_gradient_gb(self.checkpoint_gb))
        owner = f"TrainingJob {self.job_id!r}"
        for name in ("job_id", "gpus", "min_gpus"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise WorkloadError(f"{owner}: field '{name}' must be an integer, got {v!r}")
        if not isinstance(self.name, str):
            raise WorkloadError(f"{owner}: field 'name' must be a string, got {self.name!r}")
        _number(owner, "gpus", self.gpus, lo=1)
        _number(owner, "min_gpus", self.min_gpus, lo=1, hi=self.gpus)
        _number(owner, "arrival_s", self.arrival_s, lo=0)
        _number(owner, "work_gpu_h", self.work_gpu_h, lo=0, lo_open=True)
        _number(owner, "checkpoint_gb", self.checkpoint_gb, lo=0)
        _number(owner, "checkpoint_interval_s", self.checkpoint_interval_s, lo=0, lo_open=True,
               allow_inf=True)
        _number(owner, "checkpoint_s", self.checkpoint_s, lo=0)
        _number(owner, "restore_s", self.restore_s, lo=0)
        _number(owner, "step_s", self.step_s, lo=0, lo_open=True)
        _number(owner, "gradient_gb", self.gradient_gb, lo=0)
        _number(owner, "min_link_gbps", self.min_link_gbps, lo=0)
        _number(owner, "max_link_latency_s", self.max_link_latency_s, lo=0, lo_open=True,
               allow_inf=True)
        if self.protection not in PROTECTIONS:
            raise WorkloadError(f"{owner}: field 'protection' must be one of {PROTECTIONS}, "
                                f"got {self.protection!r}")
        if not isinstance(self.source, str) or not self.source:
            raise WorkloadError(f"{owner}: field 'source' must be a non-empty string, "
                                f"got {self.source!r}")

    @property
    def runtime_s(self) -> float:
        """Run time at nominal speed on ``gpus`` GPUs, without checkpoint overhead."""
        return self.work_gpu_h * _S_PER_H / self.gpus


FIELDS = tuple(f.name for f in fields(TrainingJob))
_DTYPES = {
    "job_id": "int64", "name": "str", "arrival_s": "float64", "gpus": "int64",
    "work_gpu_h": "float64", "checkpoint_gb": "float64", "checkpoint_interval_s": "float64",
    "checkpoint_s": "float64", "restore_s": "float64", "min_gpus": "int64",
    "protection": "category", "source": "category", "step_s": "float64",
    "gradient_gb": "float64", "min_link_gbps": "float64", "max_link_latency_s": "float64",
}
#: Columns a workload frame may omit (older files, hand-made frames): filled with these
#: defaults (``gradient_gb``: from the checkpoint size, :func:`default_gradient_gb`).
OPTIONAL_FIELDS = {"step_s": STEP_S, "gradient_gb": math.nan, "min_link_gbps": 0.0,
                   "max_link_latency_s": math.inf}


def default_gradient_gb(checkpoint_gb, bytes_per_param=BYTES_PER_PARAM_ADAM):
    """Gradient bytes per step (GB) of a model whose checkpoint is ``checkpoint_gb``:
    its parameter count (checkpoint / ``bytes_per_param``) times
    :data:`GRADIENT_BYTES_PER_PARAM`."""
    return checkpoint_gb * GRADIENT_BYTES_PER_PARAM / bytes_per_param


# =============================================================================== container
class Workload:
    """Training jobs in one DataFrame (one column per :class:`TrainingJob` field), by arrival.

    ``skipped`` maps a reason (``non_numeric``, ``missing_value``...) to the number of bad rows
    a reader skipped; ``filtered`` maps a reason (``window``, ``status``, ``no_gpus``...) to the
    number of rows removed on purpose.  The frame is validated on construction.
    """

    def __init__(self, frame: pd.DataFrame, *, skipped=None, filtered=None):
        absent = [c for c in OPTIONAL_FIELDS if c not in frame.columns]
        if absent:
            frame = frame.assign(**{c: OPTIONAL_FIELDS[c] for c in absent})
        missing = [c for c in FIELDS if c not in frame.columns]
        if missing:
            raise WorkloadError(f"workload frame lacks column(s) {missing}; "
                                f"expected {list(FIELDS)}")
        extra = [c for c in frame.columns if c not in FIELDS]
        if extra:
            raise WorkloadError(f"workload frame has unknown column(s) {extra}; "
                                f"expected {list(FIELDS)}")
        df = frame.loc[:, list(FIELDS)].reset_index(drop=True)
        if df["min_gpus"].isna().any():  # None -> rigid
            df["min_gpus"] = df["min_gpus"].fillna(df["gpus"])
        grad = pd.to_numeric(df["gradient_gb"], errors="coerce")
        if grad.isna().any():            # None -> from the checkpoint size
            df["gradient_gb"] = grad.fillna(default_gradient_gb(
                pd.to_numeric(df["checkpoint_gb"], errors="coerce")))
        df = _coerce(df)
        _validate(df)
        if len(df) > 1 and not df["arrival_s"].is_monotonic_increasing:
            df = df.sort_values(["arrival_s", "job_id"], kind="stable").reset_index(drop=True)
        self._df = df
        self.skipped = {k: int(v) for k, v in (skipped or {}).items() if v}
        self.filtered = {k: int(v) for k, v in (filtered or {}).items() if v}

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_jobs(cls, jobs: Iterable[TrainingJob]) -> Workload:
        rows = [tuple(getattr(j, f) for f in FIELDS) for j in jobs]
        return cls(pd.DataFrame.from_records(rows, columns=list(FIELDS)))

    @classmethod
    def empty(cls) -> Workload:
        return cls(pd.DataFrame({c: pd.Series([], dtype=_DTYPES[c]) for c in FIELDS}))

    # --- access -------------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """The jobs as a DataFrame (a copy-on-write view: changing it leaves the workload as
        it was)."""
        return self._df.copy(deep=False)

    def __len__(self):
        return len(self._df)

    @property
    def total_gpu_h(self) -> float:
        return float(self._df["work_gpu_h"].sum())

    def jobs(self) -> Iterator[TrainingJob]:
        """Yield the jobs in arrival order (the frame is validated, so records are built
        without re-checking each one)."""
        cols = [self._df[c].astype(object).tolist() if _DTYPES[c] in ("str", "category")
                else self._df[c].to_numpy().tolist() for c in FIELDS]  # -> Python int/float
        new, setattr_ = object.__new__, object.__setattr__
        for row in zip(*cols):
            job = new(TrainingJob)
            setattr_(job, "__dict__", dict(zip(FIELDS, row)))
            yield job

    def __repr__(self):
        return (f"Workload({len(self)} jobs, {self.total_gpu_h:.6g} GPU-h, "
                f"skipped={self.skipped}, filtered={self.filtered})")

    def __eq__(self, other):
        if not isinstance(other, Workload):
            return NotImplemented
        return (self.skipped == other.skipped and self.filtered == other.filtered
                and self._df.equals(other._df))

    # no __hash__: defining __eq__ leaves it None, so a Workload (mutable) is unhashable

    # --- files --------------------------------------------------------------------------
    def to_parquet(self, path) -> Path:
        """Write atomically (temporary file in the target folder, then rename); ``skipped`` and
        ``filtered`` travel in the file's key-value metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self._df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"orbsched.workload.jobs"] = json.dumps(
            {"format": 1, "skipped": self.skipped, "filtered": self.filtered}).encode()
        table = table.replace_schema_metadata(meta)
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def from_parquet(cls, path) -> Workload:
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise DataFileError(path, None, "no such file")
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataFileError(path, None, f"not a readable parquet file ({exc})") from None
        missing = [c for c in FIELDS if c not in table.column_names]
        if missing:
            raise DataFileError(path, None, f"missing column(s) {missing} of a workload")
        info = json.loads((table.schema.metadata or {}).get(b"orbsched.workload.jobs", b"{}"))
        try:
            return cls(table.select(list(FIELDS)).to_pandas(), skipped=info.get("skipped"),
                       filtered=info.get("filtered"))
        except WorkloadError as exc:
            raise DataFileError(path, None, str(exc)) from None


def _coerce(df):
    out = {}
    for c in FIELDS:
        s = df[c]
        want = _DTYPES[c]
        if want in ("int64", "float64") and s.dtype == want:
            out[c] = s  # already right (validated for range below)
            continue
        if want == "int64":
            v = pd.to_numeric(s, errors="coerce")
            bad = v.isna() | (v != np.round(v))
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise WorkloadError(f"job at row {i}: field '{c}' must be an integer, "
                                    f"got {s.iloc[i]!r}")
            out[c] = v.astype("int64")
        elif want == "float64":
            v = pd.to_numeric(s, errors="coerce")
            bad = v.isna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise WorkloadError(f"job at row {i}: field '{c}' must be a number, "
                                    f"got {s.iloc[i]!r}")
            out[c] = v.astype("float64")
        else:
            bad = s.isna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise WorkloadError(f"job at row {i}: field '{c}' is missing")
            if want == "category":
                if not isinstance(s.dtype, pd.CategoricalDtype):
                    s = s.astype("category")
                cats = s.cat.categories
                if not all(isinstance(x, str) for x in cats):
                    s = s.astype("str").astype("category")
                out[c] = s.cat.remove_unused_categories()
            else:
                out[c] = s if s.dtype == "str" else s.astype("str")
    return pd.DataFrame(out, copy=False)


def _validate(df):
    """Columnar range checks; the first offending job is named."""
    if len(df) == 0:
        return
    a = {c: df[c].to_numpy() for c in FIELDS if _DTYPES[c] in ("int64", "float64")}
    checks = [
        ("gpus", a["gpus"] < 1, "must be >= 1"),
        ("min_gpus", (a["min_gpus"] < 1) | (a["min_gpus"] > a["gpus"]),
         "must be between 1 and gpus"),
        ("arrival_s", ~np.isfinite(a["arrival_s"]) | (a["arrival_s"] < 0),
         "must be finite and >= 0"),
        ("work_gpu_h", ~np.isfinite(a["work_gpu_h"]) | (a["work_gpu_h"] <= 0),
         "must be finite and > 0"),
        ("checkpoint_gb", ~np.isfinite(a["checkpoint_gb"]) | (a["checkpoint_gb"] < 0),
         "must be finite and >= 0"),
        ("checkpoint_interval_s", np.isnan(a["checkpoint_interval_s"])
         | (a["checkpoint_interval_s"] <= 0), "must be > 0 (inf = never)"),
        ("checkpoint_s", ~np.isfinite(a["checkpoint_s"]) | (a["checkpoint_s"] < 0),
         "must be finite and >= 0"),
        ("restore_s", ~np.isfinite(a["restore_s"]) | (a["restore_s"] < 0),
         "must be finite and >= 0"),
        ("step_s", ~np.isfinite(a["step_s"]) | (a["step_s"] <= 0), "must be finite and > 0"),
        ("gradient_gb", ~np.isfinite(a["gradient_gb"]) | (a["gradient_gb"] < 0),
         "must be finite and >= 0"),
        ("min_link_gbps", ~np.isfinite(a["min_link_gbps"]) | (a["min_link_gbps"] < 0),
         "must be finite and >= 0"),
        ("max_link_latency_s", np.isnan(a["max_link_latency_s"])
         | (a["max_link_latency_s"] <= 0), "must be > 0 (inf = no limit)"),
        ("protection", _cat_mask(df["protection"], lambda v: v not in PROTECTIONS),
         f"must be one of {PROTECTIONS}"),
        ("source", _cat_mask(df["source"], lambda v: v == ""), "must be a non-empty string"),
    ]
    for name, bad, what in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            extra = f" (gpus = {a['gpus'][i]})" if name == "min_gpus" else ""
            got = df[name].iloc[i]
            got = got.item() if isinstance(got, np.generic) else got
            raise WorkloadError(f"job {a['job_id'][i]} ({df['name'].iloc[i]!r}): field '{name}' "
                                f"{what}, got {got!r}{extra}")
    ids = a["job_id"]
    if not (np.diff(ids) > 0).all():
        srt = np.sort(ids)
        same = np.flatnonzero(np.diff(srt) == 0)
        if len(same):
            raise WorkloadError(f"job_id {srt[same[0]]} appears more than once; "
                                f"job ids must be unique")


def _cat_mask(series, is_bad):
    """Row mask of a categorical column whose category fails ``is_bad`` (checked once per
    category, not per row)."""
    bad_codes = [i for i, v in enumerate(series.cat.categories) if is_bad(v)]
    return np.isin(series.cat.codes.to_numpy(), bad_codes)


def assign_job_attributes(gpus, rng, params: JobParams, checkpoint_gb=None) -> dict:
    """Checkpoint size and timing, min_gpus and protection for jobs of the given sizes.

    ``checkpoint_gb`` (optional array, NaN = not given) overrides the size rule per job.
    Draws ``len(gpus)`` normal variates from ``rng`` unless ``params.checkpoint_gb`` is set.
    """
    g = np.asarray(gpus, dtype=np.int64)
    n = len(g)
    if params.checkpoint_gb is not None:
        size = np.full(n, float(params.checkpoint_gb))
    else:
        z = rng.standard_normal(n)
        n_params = params.params_median * np.exp(params.params_sigma * z)
        if params.params_gpu_exponent:
            n_params = n_params * g.astype(float) ** params.params_gpu_exponent
        size = n_params * params.bytes_per_param / 1e9
        if params.gpu_memory_gb is not None:
            size = np.minimum(size, g * params.gpu_memory_gb)
    if checkpoint_gb is not None:
        given = np.asarray(checkpoint_gb, float)
        size = np.where(np.isnan(given), size, given)
    ckpt_s = size / params.write_gb_s
    if params.young_mtbf_gpu_h is not None:
        mtbf_s = params.young_mtbf_gpu_h * _S_PER_H / np.maximum(g, 1)
        interval = np.maximum(np.sqrt(2.0 * ckpt_s * mtbf_s), ckpt_s)
        interval = np.where(interval > 0, interval, params.checkpoint_interval_s)
    else:
        interval = np.full(n, float(params.checkpoint_interval_s))
    min_g = np.maximum(1, np.ceil(params.min_gpus_fraction * g - 1e-9)).astype(np.int64)
    return {
        "checkpoint_gb": size,
        "checkpoint_interval_s": interval,
        "checkpoint_s": ckpt_s,
        "restore_s": size / params.read_gb_s,
        "min_gpus": np.minimum(min_g, g),
        "protection": pd.Categorical.from_codes(np.zeros(n, np.int8), [params.protection]),
        "step_s": np.full(n, float(params.step_s)),
        "gradient_gb": default_gradient_gb(size, params.bytes_per_param),
        "min_link_gbps": np.full(n, float(params.min_link_gbps)),
        "max_link_latency_s": np.full(n, float(params.max_link_latency_s)),
    }


def _as_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise WorkloadError(f"rng must be a numpy Generator or an integer seed, got {rng!r}")


def _arrivals_h(rng, p: SyntheticParams, rate, n_jobs, duration_h):
    """Exact (thinned) arrival times in hours."""
    peak = rate * (1.0 + p.daily_amplitude)
    scaled = replace(p, rate_per_h=rate) if rate != p.rate_per_h else p

    def keep(t):
        if p.daily_amplitude == 0.0:
            return t
        u = rng.random(len(t))
        return t[u * peak < scaled.rate_at_h(t)]

    if duration_h is not None:
        m = rng.poisson(peak * duration_h)
        t = np.sort(rng.random(m)) * duration_h
        return keep(t)
    out, t0, got = [], 0.0, 0
    while got < n_jobs:
        batch = int((n_jobs - got) * (1.0 + p.daily_amplitude) * 1.05) + 16
        t = t0 + np.cumsum(rng.exponential(1.0 / peak, batch))
        t0 = float(t[-1])
        t = keep(t)
        out.append(t)
        got += len(t)
    return np.concatenate(out)[:n_jobs]


def synthetic_training(n_jobs: int | None = None, *, rate_per_h: float | None = None,
                       duration_h: float | None = None, rng,
                       params: SyntheticParams | None = None) -> Workload:
    """Generate a synthetic training workload (model and defaults: module docstring).

    Give either ``n_jobs`` (exactly that many jobs, arriving at ``rate_per_h``) or
    ``duration_h`` (every arrival of the process in [0, duration_h) hours).  ``rate_per_h``
    overrides ``params.rate_per_h``.  ``rng``: a numpy Generator (or an int seed); the same
    generator state gives the same workload.  Arrival times are those of the process (the
    first job arrives after an exponential wait, not at 0).
    """
    p = params if params is not None else SyntheticParams()
    if not isinstance(p, SyntheticParams):
        raise WorkloadError(f"params must be a SyntheticParams, got {type(p).__name__}")
    rng = _as_rng(rng)
    if (n_jobs is None) == (duration_h is None):
        raise WorkloadError("give exactly one of n_jobs and duration_h")
    if n_jobs is not None and (isinstance(n_jobs, bool) or n_jobs < 0
                               or not isinstance(n_jobs, (int, np.integer))):
        raise WorkloadError(f"n_jobs must be a non-negative integer, got {n_jobs!r}")
    _number("synthetic_training", "duration_h", duration_h, lo=0, allow_none=True)
    rate = p.rate_per_h if rate_per_h is None else rate_per_h
    _number("synthetic_training", "rate_per_h", rate, lo=0, lo_open=True)
    if n_jobs == 0:
        return Workload.empty()

    t_h = _arrivals_h(rng, p, float(rate), n_jobs, duration_h)
    n = len(t_h)
    gpus = np.asarray(p.gpu_sizes, np.int64)[rng.choice(len(p.gpu_sizes), size=n, p=p.size_probs)]
    runtime_s = np.exp(p.runtime_mu + p.runtime_sigma * rng.standard_normal(n))
    if p.runtime_cap_s is not None:
        runtime_s = np.minimum(runtime_s, p.runtime_cap_s)
    attrs = assign_job_attributes(gpus, rng, p.job)
    ids = np.arange(n, dtype=np.int64)
    frame = pd.DataFrame({
        "job_id": ids,
        "name": "syn-" + pd.Series(ids).astype("str"),
        "arrival_s": t_h * _S_PER_H,
        "gpus": gpus,
        "work_gpu_h": gpus * runtime_s / _S_PER_H,
        **attrs,
        "source": pd.Categorical.from_codes(np.zeros(n, np.int8), ["synthetic"]),
    }, copy=False)
    return Workload(frame)
