"""Workload specs: the options of the synthetic generator, of the trace readers and of the
per-job attributes neither gives (checkpoints, elasticity, protection), with the published
figures they default to.

Frozen dataclasses that the scenario's ``workload`` section validates, so each field is
defined and documented once; the generator and the readers that use them live in
:mod:`orbsched.workload`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
from pydantic import Field

from .checks import check_number
from .errors import WorkloadError

#: :func:`check_number` raising WorkloadError (the workload's fields, here and in the readers).
workload_number = functools.partial(check_number, error=WorkloadError)
_number = workload_number

__all__ = [
    "PROTECTIONS", "PHILLY_GPU_ALPHA", "ColumnMap", "JobParams", "SyntheticParams",
    "TraceOptions", "lognormal_capped_mean_s", "power_law_probs", "workload_number",
]

#: A float that may be infinite ("never" / "no limit"): the scenario schema refuses infinities
#: elsewhere (orbsched.scenario.schema_base); these fields' own checks allow them.
_MaybeInf = Annotated[float, Field(allow_inf_nan=True)]

#: Radiation-protection modes of a job (issue 6): none, duplex (2 copies compare, a corruption
#: rolls back to the last checkpoint), tmr (3 copies vote, a single corruption is masked).
PROTECTIONS = ("none", "duplex", "tmr")

# --- Published trace statistics (../shared/CONTEXT.md "Workloads") ---------------------------
#: Microsoft Philly 2017 (Jeon et al., USENIX ATC 2019): mean GPUs per job, largest job.
PHILLY_MEAN_GPUS = 1.93
PHILLY_MAX_GPUS = 128
#: Philly job runtime: median and mean, seconds.
PHILLY_MEDIAN_RUNTIME_S = 874.0
PHILLY_MEAN_RUNTIME_S = 18006.0
#: Exponent of the truncated power law P(s) ~ s^-alpha on s = 1, 2, 4, ..., 128 whose mean is
#: 1.93 (root found with scipy.optimize.brentq; reproduced by tests/test_workload.py).
PHILLY_GPU_ALPHA = 1.5800501588380105
#: Mean submission rate of ../shared/data/traces/philly_jobs.csv: 82,247 jobs between
#: 2017-09-04 10:30:41 and 2017-12-22 08:02:11 (2,613.5 h) = 31.47 jobs/h.
PHILLY_CSV_RATE_PER_H = 31.47
#: First harmonic of the hour-of-day submission counts of the same file: relative amplitude
#: 0.29, peak at 04:30 of the trace's clock (the trace does not state its time zone).  Not the
#: default (the daily cycle is off unless asked for); use these to switch it on Philly-like.
PHILLY_CSV_DAILY_AMPLITUDE = 0.29
PHILLY_CSV_DAILY_PEAK_HOUR = 4.5

# --- Checkpoint model defaults ----------------------------------------------------------------
#: Bytes of training state per parameter with Adam in mixed precision: fp16 weights (2) and
#: gradients (2), fp32 master weights (4) and two Adam moments (4 + 4) (Rajbhandari et al.,
#: "ZeRO", SC 2020; CONTEXT.md: "~16 bytes per parameter, a 7B model ~ 112 GB").
BYTES_PER_PARAM_ADAM = 16.0
#: Median model size, parameters.  ASSUMPTION: the 2017-2020 cluster traces are dominated by
#: CNN/RNN/Transformer-encoder jobs of tens to hundreds of millions of parameters (ResNet-50
#: 25.6 M, BERT-base 110 M, BERT-large 340 M); 1e8 puts the median checkpoint at 1.6 GB.
MODEL_PARAMS_MEDIAN = 1.0e8
#: Log-space spread of model sizes.  ASSUMPTION: sigma = 1.5 puts the central 90 % between
#: 8.5 M and 1.2 B parameters (exp(+-1.645 sigma) = x/11.8) - the range from small CNNs to
#: GPT-2-XL (1.5 B) - so the mean checkpoint is 1.6 GB * exp(1.125) = 4.9 GB before the
#: GPU-memory cap below (4.7 GB after it, with the default job sizes).
MODEL_PARAMS_SIGMA = 1.5
#: Memory per GPU, GB (NVIDIA H100 SXM5 80 GB HBM3 datasheet).  The training state of a job
#: must fit in its GPUs' memory, so checkpoint_gb <= gpus * 80 (a cap on the lognormal tail).
GPU_MEMORY_GB = 80.0
#: Checkpoint write / read rates, GB/s.  ASSUMPTION: one datacentre NVMe SSD per job (Samsung
#: PM9A3 datasheet: 4.1 GB/s sequential write, 6.9 GB/s read) at about half its rated speed for
#: serialisation and file-system overhead.
CHECKPOINT_WRITE_GB_S = 2.0
CHECKPOINT_READ_GB_S = 3.5
#: Checkpoint interval, s.  ASSUMPTION: every 30 min, a common fixed setting in practice;
#: results that depend on it should sweep it, or use Young's optimum (young_mtbf_gpu_h).
CHECKPOINT_INTERVAL_S = 1800.0
#: Bytes of gradient per parameter exchanged by data-parallel training each step: bf16/fp16
#: gradients (2 bytes; "ZeRO", SC 2020).  A job's ``gradient_gb`` defaults to its checkpoint's
#: parameter count times this (``checkpoint_gb * 2 / bytes_per_param``).
GRADIENT_BYTES_PER_PARAM = 2.0
#: Compute time of one training step at nominal speed on the job's full GPU count, s.
#: ASSUMPTION: 10 s, between the ~1 s steps of small models and the ~100 s of BLOOM-176B
#: (4.2 M tokens per step at ~36 k tokens/s); it only matters for jobs spread over several
#: satellites, whose step time adds the ring all-reduce over laser links.  Sweep it, or set
#: it per job (presets do).
STEP_S = 10.0


def power_law_probs(sizes, alpha):
    """Probabilities P(s) proportional to s^-alpha over the given sizes."""
    s = np.asarray(sizes, float)
    p = s ** (-float(alpha))
    return p / p.sum()


def lognormal_capped_mean_s(mu, sigma, cap_s=None):
    """Mean of min(X, cap) for X ~ lognormal(mu, sigma): the mean runtime once capped.

    E[min(X, c)] = exp(mu + sigma^2/2) Phi((ln c - mu - sigma^2) / sigma)
                   + c (1 - Phi((ln c - mu) / sigma)).
    """
    full = math.exp(mu + sigma * sigma / 2.0)
    if cap_s is None or math.isinf(cap_s):
        return full
    phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))  # noqa: E731
    lc = math.log(cap_s)
    return full * phi((lc - mu - sigma * sigma) / sigma) + cap_s * (1.0 - phi((lc - mu) / sigma))


@dataclass(frozen=True)
class JobParams:
    """Job attributes that neither a trace nor the size/runtime model gives: the checkpoint
    size rule and timing, elasticity and protection.  Shared by the generator and the trace
    readers.

    Checkpoint size: ``checkpoint_gb`` when given (all jobs the same); otherwise the model has
    ``P ~ lognormal(ln(params_median), params_sigma) * gpus ** params_gpu_exponent`` parameters
    and ``checkpoint_gb = P * bytes_per_param / 1e9``, capped at ``gpus * gpu_memory_gb`` (the
    training state must fit in the job's GPU memory).  A trace's own checkpoint column, when
    a reader has one, overrides both.  ``params_gpu_exponent = 0`` (default) draws the model size
    independently of the job size - ASSUMPTION: in the 2017-2020 traces multi-GPU jobs were
    data-parallel copies of a model that fits one GPU.
    Timing: ``checkpoint_s = checkpoint_gb / write_gb_s``, ``restore_s = checkpoint_gb /
    read_gb_s``; interval ``checkpoint_interval_s``, or when ``young_mtbf_gpu_h`` is set,
    Young's optimum ``sqrt(2 * checkpoint_s * MTBF_job)`` with ``MTBF_job = young_mtbf_gpu_h *
    3600 / gpus`` (J. W. Young, Comm. ACM 17(9), 1974), at least ``checkpoint_s``.
    Elasticity: ``min_gpus = max(1, ceil(min_gpus_fraction * gpus))`` (1.0 = rigid jobs).
    Jobs spread over several satellites (:mod:`orbsched.engine.groups`): ``step_s`` is the
    compute time of one step at nominal speed on all the job's GPUs; the gradient exchanged
    each step is ``checkpoint_gb * 2 / bytes_per_param`` GB (bf16 gradients); the laser links
    of its ring must give at least ``min_link_gbps`` and at most ``max_link_latency_s`` of
    light time per hop.
    """

    #: one checkpoint size for every job; default: the model-size rule below (a trace's own
    #: checkpoint column wins)
    checkpoint_gb: float | None = None
    #: median model size, parameters (ASSUMPTION: ResNet-50 to BERT-large scale)
    params_median: float = MODEL_PARAMS_MEDIAN
    #: log-space spread of model sizes (ASSUMPTION: central 90 % from 8.5 M to 1.2 B)
    params_sigma: float = MODEL_PARAMS_SIGMA
    #: model size x gpus^exponent; 0 = data-parallel copies of a one-GPU model
    params_gpu_exponent: float = 0.0
    #: training state per parameter with Adam in mixed precision (ZeRO, SC 2020)
    bytes_per_param: float = BYTES_PER_PARAM_ADAM
    #: checkpoint capped at gpus x this (H100 SXM5 80 GB); none = no cap
    gpu_memory_gb: float | None = GPU_MEMORY_GB
    #: checkpoint time = size / this rate (ASSUMPTION: half a PM9A3 NVMe SSD)
    write_gb_s: float = CHECKPOINT_WRITE_GB_S
    #: restore time = size / this rate (same)
    read_gb_s: float = CHECKPOINT_READ_GB_S
    #: computing time between checkpoints (ASSUMPTION: 30 min)
    checkpoint_interval_s: _MaybeInf = CHECKPOINT_INTERVAL_S
    #: if set, Young's interval sqrt(2 x checkpoint time x MTBF), MTBF = this x 3600 / gpus (Young
    #: 1974)
    young_mtbf_gpu_h: float | None = None
    #: elastic minimum max(1, ceil(f x gpus)); 1 = rigid jobs
    min_gpus_fraction: float = 1.0
    #: none, duplex (2 copies compare, roll back on a mismatch) or tmr (3 copies vote)
    protection: str = "none"
    #: compute time of one training step at nominal speed on all the job's GPUs (matters for jobs
    #: spanning satellites)
    step_s: float = STEP_S
    #: a group's ring hops must give at least this rate
    min_link_gbps: float = 0.0
    #: a group's ring hops may have at most this light time
    max_link_latency_s: _MaybeInf = math.inf

    def __post_init__(self):
        o = "JobParams"
        _number(o, "step_s", self.step_s, lo=0, lo_open=True)
        _number(o, "min_link_gbps", self.min_link_gbps, lo=0)
        _number(o, "max_link_latency_s", self.max_link_latency_s, lo=0, lo_open=True,
               allow_inf=True)
        _number(o, "checkpoint_gb", self.checkpoint_gb, lo=0, allow_none=True)
        _number(o, "params_median", self.params_median, lo=0, lo_open=True)
        _number(o, "params_sigma", self.params_sigma, lo=0)
        _number(o, "params_gpu_exponent", self.params_gpu_exponent, lo=0)
        _number(o, "bytes_per_param", self.bytes_per_param, lo=0, lo_open=True)
        _number(o, "gpu_memory_gb", self.gpu_memory_gb, lo=0, lo_open=True, allow_none=True)
        _number(o, "write_gb_s", self.write_gb_s, lo=0, lo_open=True)
        _number(o, "read_gb_s", self.read_gb_s, lo=0, lo_open=True)
        _number(o, "checkpoint_interval_s", self.checkpoint_interval_s, lo=0, lo_open=True,
               allow_inf=True)
        _number(o, "young_mtbf_gpu_h", self.young_mtbf_gpu_h, lo=0, lo_open=True, allow_none=True)
        _number(o, "min_gpus_fraction", self.min_gpus_fraction, lo=0, hi=1)
        if self.protection not in PROTECTIONS:
            raise WorkloadError(f"JobParams.protection must be one of {PROTECTIONS}, "
                                f"got {self.protection!r}")


# ============================================================================ synthetic jobs
@dataclass(frozen=True)
class SyntheticParams:
    """Defaults of :func:`synthetic_training`, each fitted to a published figure (module doc).

    ``gpu_probs`` (same length as ``gpu_sizes``, summing to 1) overrides the power law of
    exponent ``gpu_alpha``.  ``daily_amplitude`` A in [0, 1] (0 = no daily cycle; default),
    ``daily_peak_hour`` the hour of maximum rate and ``start_hour`` the hour of day at t = 0,
    both in the same clock.
    """

    rate_per_h: float = PHILLY_CSV_RATE_PER_H          # philly_jobs.csv mean rate
    daily_amplitude: float = 0.0                        # off; Philly CSV fit 0.29 (see above)
    #: hour of the peak arrival rate (Philly CSV fit: 04:30 of the trace's clock)
    daily_peak_hour: float = PHILLY_CSV_DAILY_PEAK_HOUR
    #: hour of day at t = 0, on the clock of daily_peak_hour
    start_hour: float = 0.0
    gpu_sizes: tuple = tuple(2 ** k for k in range(8))  # 1 .. 128, the Philly maximum
    gpu_alpha: float = PHILLY_GPU_ALPHA                 # mean 1.93 GPUs (Philly)
    #: explicit probabilities, one per gpu_sizes entry, summing to 1 (instead of the power law)
    gpu_probs: tuple | None = None
    runtime_median_s: float = PHILLY_MEDIAN_RUNTIME_S   # Philly median 874 s
    runtime_mean_s: float = PHILLY_MEAN_RUNTIME_S       # Philly mean 18,006 s
    runtime_cap_s: float | None = None               # no cap: keeps the fitted mean
    job: JobParams = field(default_factory=JobParams)

    def __post_init__(self):
        o = "SyntheticParams"
        _number(o, "rate_per_h", self.rate_per_h, lo=0, lo_open=True)
        _number(o, "daily_amplitude", self.daily_amplitude, lo=0, hi=1)
        _number(o, "daily_peak_hour", self.daily_peak_hour, lo=0, hi=24)
        _number(o, "start_hour", self.start_hour, lo=0, hi=24)
        sizes = tuple(self.gpu_sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                            for s in sizes):
            raise WorkloadError(f"{o}.gpu_sizes must be positive integers, got {self.gpu_sizes!r}")
        object.__setattr__(self, "gpu_sizes", sizes)
        _number(o, "gpu_alpha", self.gpu_alpha)
        if self.gpu_probs is not None:
            p = np.asarray(self.gpu_probs, float)
            if p.shape != (len(sizes),) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
                raise WorkloadError(f"{o}.gpu_probs must be {len(sizes)} non-negative numbers "
                                    f"summing to 1 (one per gpu_sizes entry), "
                                    f"got {self.gpu_probs!r}")
            object.__setattr__(self, "gpu_probs", tuple(float(x) for x in p))
        _number(o, "runtime_median_s", self.runtime_median_s, lo=0, lo_open=True)
        _number(o, "runtime_mean_s", self.runtime_mean_s, lo=0, lo_open=True)
        if self.runtime_mean_s < self.runtime_median_s:
            raise WorkloadError(f"{o}: a lognormal's mean is at least its median; got mean "
                                f"{self.runtime_mean_s} < median {self.runtime_median_s}")
        _number(o, "runtime_cap_s", self.runtime_cap_s, lo=0, lo_open=True, allow_none=True)
        if not isinstance(self.job, JobParams):
            raise WorkloadError(f"{o}.job must be a JobParams, got {type(self.job).__name__}")

    @property
    def runtime_mu(self) -> float:
        """ln(median) = 6.7731 for Philly."""
        return math.log(self.runtime_median_s)

    @property
    def runtime_sigma(self) -> float:
        """sqrt(2 ln(mean / median)) = 2.4598 for Philly."""
        return math.sqrt(2.0 * math.log(self.runtime_mean_s / self.runtime_median_s))

    @property
    def size_probs(self) -> np.ndarray:
        if self.gpu_probs is not None:
            return np.asarray(self.gpu_probs)
        return power_law_probs(self.gpu_sizes, self.gpu_alpha)

    @property
    def mean_gpus(self) -> float:
        return float(np.dot(self.size_probs, self.gpu_sizes))

    def rate_at_h(self, t_h):
        """Arrival rate (jobs/h) at ``t_h`` hours after the start."""
        hour = self.start_hour + np.asarray(t_h, float)
        return self.rate_per_h * (1.0 + self.daily_amplitude
                                  * np.cos(2.0 * np.pi * (hour - self.daily_peak_hour) / 24.0))


@dataclass(frozen=True)
class TraceOptions:
    """Options common to all trace readers (see the module docstring for their meaning)."""

    #: keep jobs submitted at or after this (seconds, or a date-time for traces with date-times)
    start: float | str | None = None
    #: keep jobs submitted before this
    end: float | str | None = None
    #: replay speed: runtimes and arrivals x time_scale
    time_scale: float = 1.0
    #: arrivals x this as well; < 1 packs the jobs closer (more load)
    arrival_scale: float = 1.0
    #: GPUs become ceil(gpus x gpu_scale); the work follows
    gpu_scale: float = 1.0
    #: keep jobs of at least this scaled size
    min_gpus: int | None = None
    #: keep jobs of at most this scaled size
    max_gpus: int | None = None
    #: keep jobs with these statuses (case-insensitive); default all
    statuses: tuple | None = None
    #: a uniform sample of this many jobs without replacement, arrival order kept
    sample_n: int | None = None
    #: error (names file, line and column) or skip (counted in Workload.skipped)
    on_bad_rows: str = "error"
    #: jobs still running at the trace end: clip (end them there) or drop
    unfinished: str = "clip"
    #: the end clip uses; default the latest time in the file
    trace_end: float | str | None = None
    #: shared GPUs: whole (ceil of the share) or drop
    fractional_gpus: str = "whole"
    #: CSV rows read at a time
    chunksize: int = 100_000
    job: JobParams = field(default_factory=JobParams)

    def __post_init__(self):
        for name in ("time_scale", "arrival_scale", "gpu_scale"):
            _number("TraceOptions", name, getattr(self, name), lo=0, lo_open=True)
        for name in ("min_gpus", "max_gpus", "sample_n", "chunksize"):
            v = getattr(self, name)
            _number("TraceOptions", name, v, lo=0, lo_open=True, allow_none=name != "chunksize")
            if v is not None and v != int(v):
                raise WorkloadError(f"TraceOptions.{name}: expected a whole number, got {v!r}")
        if self.min_gpus and self.max_gpus and self.min_gpus > self.max_gpus:
            raise WorkloadError(f"TraceOptions: min_gpus {self.min_gpus} > "
                                f"max_gpus {self.max_gpus}")
        for name, allowed in (("on_bad_rows", ("error", "skip")), ("unfinished", ("clip", "drop")),
                              ("fractional_gpus", ("whole", "drop"))):
            if getattr(self, name) not in allowed:
                raise WorkloadError(f"TraceOptions.{name} must be one of {allowed}, "
                                    f"got {getattr(self, name)!r}")
        if self.statuses is not None:
            st = (self.statuses,) if isinstance(self.statuses, str) else tuple(self.statuses)
            if not st or not all(isinstance(s, str) for s in st):
                raise WorkloadError(f"TraceOptions.statuses must be status names, "
                                    f"got {self.statuses!r}")
            object.__setattr__(self, "statuses", st)
        if not isinstance(self.job, JobParams):
            raise WorkloadError(f"TraceOptions.job must be a JobParams, "
                                f"got {type(self.job).__name__}")


# =========================================================================== mapped CSV
@dataclass(frozen=True)
class ColumnMap:
    """Which columns of an arbitrary CSV hold what.  ``submit`` and ``gpus`` are needed, and
    ``duration`` (seconds) or ``end`` (a time; duration = end - ``start``, or end - submit).
    Times are numbers (``time_format="seconds"``, times ``time_unit_s`` seconds per unit,
    which also scales ``duration``) or ISO-8601 date-times; ``"auto"`` decides from the first
    chunk's ``submit`` values.  ``job_type`` + ``job_types`` keep only rows of those types;
    ``names`` gives the column names of a file without a header row."""

    #: column of the submission time
    submit: str
    #: column of the GPU count
    gpus: str
    #: column of the duration, s (or give end)
    duration: str | None = None
    #: column of the end time (duration = end - start, or end - submit)
    end: str | None = None
    #: column of the start time
    start: str | None = None
    #: column of the job name
    name: str | None = None
    #: column of the job status (for options.statuses)
    status: str | None = None
    #: column of the checkpoint size, GB
    checkpoint_gb: str | None = None
    #: column of the job type (with job_types)
    job_type: str | None = None
    #: keep only rows of these types
    job_types: tuple | None = None
    #: auto (decided from the first chunk), seconds or datetime
    time_format: str = "auto"
    #: seconds per time unit of numeric times (also scales durations)
    time_unit_s: float = 1.0
    #: column names of a file without a header row
    names: tuple | None = None

    def __post_init__(self):
        if not self.submit or not self.gpus:
            raise WorkloadError("ColumnMap needs the 'submit' and 'gpus' columns")
        if not (self.duration or self.end):
            raise WorkloadError("ColumnMap needs a 'duration' or an 'end' column")
        if self.time_format not in ("auto", "seconds", "datetime"):
            raise WorkloadError(f"ColumnMap.time_format must be auto, seconds or datetime, "
                                f"got {self.time_format!r}")
        _number("ColumnMap", "time_unit_s", self.time_unit_s, lo=0, lo_open=True)
        if self.job_types is not None:
            if not self.job_type:
                raise WorkloadError("ColumnMap.job_types needs a 'job_type' column")
            jt = (self.job_types,) if isinstance(self.job_types, str) else tuple(self.job_types)
            object.__setattr__(self, "job_types", jt)
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))
            absent = [c for c in self.columns() if c not in self.names]
            if absent:
                raise WorkloadError(f"ColumnMap: column(s) {absent} are not in names {self.names}")

    def columns(self):
        return tuple(c for c in (self.submit, self.gpus, self.duration, self.end, self.start,
                                 self.name, self.status, self.checkpoint_gb, self.job_type) if c)
