"""``orbsched sweep ... --until-ci METRIC=HALFWIDTH``: add seeds until the paired interval of a
metric is that narrow for every policy against the baseline, with a cap.

After each round (a :func:`~orbsched.sweep.execute.run_sweep` of the sweep with the seeds so
far: runs already done are reused, as when a sweep is resumed), the per-seed paired
differences against the baseline (:func:`orbsched.analysis.paired.paired_table`, steady
state with ``warmup_h``) give each policy's and cell's interval.  When the widest half-width
is above the target, the next round has as many seeds as the widest row needs by the t
formula with its measured spread (at least one more, at most ``max_seeds``): the next integers
after the largest seed so far.  The sweep stops when every half-width is at most the target,
or at the cap (and says which rows are still wider).
"""
from __future__ import annotations

import math

from ..analysis.compare import _load
from ..analysis.paired import _t_quantile, paired_table, steady_frame
from ..scenario.errors import ScenarioError
from .execute import run_sweep
from .plan import Sweep, load_sweep

__all__ = ["parse_target", "run_until_ci", "seeds_for_halfwidth"]

#: Default cap on the number of seeds.
MAX_SEEDS = 64


def parse_target(text: str) -> tuple[str, float]:
    """``"completed_gpu_h_per_day=20"`` -> ``("completed_gpu_h_per_day", 20.0)``."""
    metric, sep, value = str(text).rpartition("=")
    try:
        half = float(value)
    except ValueError:
        half = math.nan
    if not sep or not metric or not math.isfinite(half) or half <= 0:
        raise ScenarioError(f"--until-ci {text!r}: expected METRIC=HALFWIDTH with a positive "
                            f"half-width, e.g. completed_gpu_h_per_day=20")
    return metric, half


def seeds_for_halfwidth(n: int, halfwidth: float, target: float, level: float = 0.95,
                        cap: int = MAX_SEEDS) -> int:
    """Seeds at which a t interval of half-width ``halfwidth`` with ``n`` seeds would shrink
    to ``target``, the spread of the differences unchanged (``cap`` at most)."""
    if n < 2 or not math.isfinite(halfwidth):
        return min(max(n + 1, 2), cap)
    if halfwidth <= target:
        return n
    sd = halfwidth * math.sqrt(n) / _t_quantile(level, n - 1)
    m = n + 1
    while m < cap and _t_quantile(level, m - 1) * sd / math.sqrt(m) > target:
        m += 1
    return m


def run_until_ci(sweep, out_dir, target: str, *, baseline=None, warmup_h=None,
                 max_seeds=MAX_SEEDS, level=0.95, log=None, **run_kwargs) -> dict:
    """Run ``sweep`` (a path or a :class:`~orbsched.sweep.plan.Sweep`), adding seeds until the
    paired interval of ``target`` (``METRIC=HALFWIDTH``) is narrow enough (module docstring).
    ``baseline`` defaults to the first policy of the sweep.  Returns the last round's outcome
    with ``seeds``, ``table`` (the paired table) and ``met`` (True when the target holds)."""
    log = log or (lambda *a, **k: None)
    metric, half = parse_target(target)
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    policy_params = [p for p in sweep.parameters if p == "policy" or p.startswith("policy.")]
    if not policy_params:
        raise ScenarioError(f"{sweep.path}: --until-ci compares policies seed by seed: sweep "
                            f"a policy (grid: policy: [...])")
    if max_seeds < 2:
        raise ScenarioError(f"--max-seeds must be at least 2, got {max_seeds}")
    if baseline is None:
        baseline = str(sweep.runs[0].params[policy_params[0]])
    seeds = list(sweep.seeds)
    while True:
        current = sweep.with_seeds(seeds)
        outcome = run_sweep(current, out_dir, log=log, **run_kwargs)
        if run_kwargs.get("dry_run"):
            return dict(outcome, seeds=seeds, table=None, met=False)
        frame, params = _load(outcome["out"])
        frame = frame[frame["run_id"].isin({r.id for r in current.runs})]
        if warmup_h is not None:
            frame = steady_frame(frame, outcome["out"], warmup_h, [metric])
        elif metric not in frame:
            raise ScenarioError(f"--until-ci: no metric {metric!r} in the runs' summaries")
        table = paired_table(frame, params, baseline, [metric], level=level)
        widths = table["diff_halfwidth"].fillna(math.inf)
        worst = float(widths.max()) if len(widths) else math.inf
        log(f"  {len(seeds)} seeds: widest paired {level:.0%} half-width of {metric} "
            f"{worst:.4g} (target {half:g})")
        if worst <= half:
            return dict(outcome, seeds=seeds, table=table, met=True)
        if len(seeds) >= max_seeds:
            wide = table[widths > half]
            log(f"  stopped at the cap of {max_seeds} seeds; still wider than {half:g}: "
                + ", ".join(f"{p} (+/- {w:.4g})" for p, w in zip(wide["policy"],
                                                                  wide["diff_halfwidth"])))
            return dict(outcome, seeds=seeds, table=table, met=False)
        n_pairs = table["n_pairs"].min() if len(table) else len(seeds)
        want = max(seeds_for_halfwidth(int(n_pairs), w, half, level, max_seeds)
                   for w in widths)
        want = min(max(want, len(seeds) + 1), max_seeds)
        nxt = max(seeds) + 1
        while len(seeds) < want:
            if nxt not in seeds:
                seeds.append(nxt)
            nxt += 1
        log(f"  adding seeds up to {len(seeds)}")
