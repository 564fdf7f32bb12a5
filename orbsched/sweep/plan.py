"""Batch sweeps: one base scenario, axes over any field path, seeded replications.

A sweep file (YAML)::

    name: battery-vs-policy
    base: demo.yaml                 # relative to this file; or an inline `base_scenario:` mapping
    set:                            # fixed overrides of every run
      duration_h: 2
    grid:                           # the product of these lists
      policy: [stay, greedy-sunlit, lookahead]
      hardware.battery.capacity_wh: [2000, 4000]
    zip:                            # each mapping: equal-length lists taken together,
      - workload.n_jobs: [100, 200] #   then crossed with the grid
        workload.rate_per_h: [30, 60]
    random:                         # n points drawn from seeded distributions, crossed too
      n: 4
      seed: 7
      fields:
        hardware.solar.area_m2: {uniform: [12, 20]}
        network.max_range_km: {choice: [3000, 5000]}
        # also {loguniform: [lo, hi]} and {int: [lo, hi]} (both ends included)
    replications: 2                 # seeds base_seed + 0, 1 (base_seed = the scenario's seed)
    # seeds: [1, 5, 9]              # or the seeds themselves

Field paths are those of ``--set`` (``constellations[0].planes``).  Every value becomes an
override string ``path=value`` (the value written as YAML), so a run can be repeated alone
with ``orbsched run BASE --set ... --seed N``.  A run's id is the first 12 hex digits of the
SHA-256 of its overrides and seed: it depends only on the sweep file, never on the order or
the machine that runs it.  Each random field draws from its own generator seeded by
``(random.seed, crc32(path))``, so adding a field does not change the others' values.

Paths are relative to the file that names them: those in the base scenario (element files,
traces, ``isl_file``, a ``file.py:Class`` policy) to the base scenario's folder, those in the
sweep file (``set:``, ``grid:``, ``zip:``, ``random:`` and an inline ``base_scenario:``) to the
sweep file's folder.  The base's paths are made absolute first (:attr:`Sweep.base_resolved`),
so a relative path left after the overrides came from the sweep file and resolves from
:attr:`Sweep.base_dir`, the sweep file's folder.  A run's id and ``run.json`` keep the
overrides as written.

The sweep is checked before anything runs (and by ``--dry-run``): unknown keys of the sweep
file (with the line), bad field paths, every expanded scenario (validated like
``orbsched validate``: element files, ``isl_file`` and trace files must exist) and every
run's policy, built once per distinct policy section as the run will build it: a registered
name with its options, or a user class whose file (or module) imports, whose class exists and
is a Policy, and whose constructor takes the options.  A failure names the sweep file and the
line that set the value (or the base scenario's line).

``orbsched sweep`` / ``run_sweep`` (:mod:`orbsched.sweep.execute`) run it; :func:`collect` builds
``sweep.parquet`` from the run folders.  ``orbsched compare`` is :mod:`orbsched.analysis.compare`.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import itertools
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..policies import load_policy
from ..scenario.errors import PolicyError, RegistryError, ScenarioError
from ..scenario.schema import (
    _resolve_paths,
    _yaml_lines,
    apply_overrides,
    scenario_from_dict,
    yaml_value,
)
from ..scenario.strict_yaml import load_yaml, read_text

__all__ = ["Sweep", "SweepRun", "load_sweep"]

_PATH = re.compile(r"^[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*$")
ID_LEN = 12


# ------------------------------------------------------------------------------- the schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(path):
    if not _PATH.match(path):
        raise ValueError(f"{path!r} is not a field path like hardware.battery.capacity_wh or "
                         f"constellations[0].planes")
    if path == "seed":
        raise ValueError("'seed' cannot be swept as a field: use replications: or seeds:")
    return path


#: A field path as a mapping key (checked with the key's own line in error messages).
FieldPath = Annotated[str, AfterValidator(_check_path)]


class Distribution(_Strict):
    """One random field: exactly one of ``uniform``, ``loguniform``, ``int``, ``choice``."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = Field(None, alias="int")
    choice: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("uniform", "loguniform", "integer", "choice")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of uniform, loguniform, int, choice")
        lo_hi = self.uniform or self.loguniform or self.integer
        if lo_hi is not None:
            lo, hi = lo_hi
            if hi < lo or (hi == lo and self.integer is None):
                raise ValueError(f"the range [{lo}, {hi}] is empty: expected lo < hi")
            if self.loguniform is not None and lo <= 0:
                raise ValueError(f"loguniform needs lo > 0, got {lo}")
        return self

    def draw(self, rng, n):
        import numpy as np

        if self.uniform is not None:
            return [float(x) for x in rng.uniform(*self.uniform, size=n)]
        if self.loguniform is not None:
            lo, hi = np.log(self.loguniform)
            return [float(x) for x in np.exp(rng.uniform(lo, hi, size=n))]
        if self.integer is not None:
            return [int(x) for x in rng.integers(self.integer[0], self.integer[1], size=n,
                                                 endpoint=True)]
        return [copy.deepcopy(self.choice[int(i)]) for i in rng.integers(0, len(self.choice),
                                                                          size=n)]


class RandomAxes(_Strict):
    n: int = Field(ge=1, description="number of random points")
    seed: int = Field(0, ge=0)
    fields: dict[FieldPath, Distribution] = Field(min_length=1)


class SweepSpec(_Strict):
    name: str | None = Field(None, min_length=1)
    base: str | None = Field(None, min_length=1, description="relative to the sweep file")
    base_scenario: dict[str, Any] | None = None
    set: dict[FieldPath, Any] = Field(default_factory=dict)
    grid: dict[FieldPath, list[Any]] = Field(default_factory=dict)
    zip: list[dict[FieldPath, list[Any]]] = Field(default_factory=list)
    random: RandomAxes | None = None
    replications: int | None = Field(None, ge=1)
    seeds: list[int] | None = Field(None, min_length=1)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v):
        for p, values in v.items():
            if not values:
                raise ValueError(f"grid '{p}': empty list")
            dup = [x for i, x in enumerate(values) if x in values[:i]]
            if dup:
                raise ValueError(f"grid '{p}': repeated value {dup[0]!r}")
        return v

    @field_validator("zip")
    @classmethod
    def _zip(cls, v):
        for i, group in enumerate(v):
            if not group:
                raise ValueError(f"zip[{i}]: empty mapping")
            lengths = {p: len(x) for p, x in group.items()}
            if len(set(lengths.values())) != 1 or 0 in lengths.values():
                raise ValueError(f"zip[{i}]: the lists must be non-empty and of equal length, "
                                 f"got " + ", ".join(f"{p}: {n}" for p, n in lengths.items()))
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if v is not None and (len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("seeds must be distinct non-negative integers")
        return v

    @model_validator(mode="after")
    def _cross(self):
        if (self.base is None) == (self.base_scenario is None):
            raise ValueError("give exactly one of base: (a scenario file) or base_scenario: "
                             "(an inline scenario mapping)")
        if self.seeds is not None and self.replications not in (None, len(self.seeds)):
            raise ValueError(f"replications ({self.replications}) and seeds "
                             f"({len(self.seeds)} given) disagree; give one of them")
        seen = dict.fromkeys(self.set, "set")
        axes = [("grid", list(self.grid))] + [(f"zip[{i}]", list(g))
                                              for i, g in enumerate(self.zip)]
        if self.random is not None:
            axes.append(("random", list(self.random.fields)))
        for where, paths in axes:
            for p in paths:
                if p in seen:
                    raise ValueError(f"field '{p}' is given twice: in {seen[p]} and in {where}")
                seen[p] = where
        return self


def _loc_text(loc):
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "." in part or "[" in part:
            out += f"['{part}']"
        else:
            out += f".{part}" if out else part
    return out


def _model_for(loc):
    """The sweep-file model that holds the key at the end of ``loc`` (for unknown keys)."""
    if len(loc) == 1:
        return SweepSpec
    if loc[0] == "random" and len(loc) == 2:
        return RandomAxes
    if loc[0] == "random" and len(loc) == 4:
        return Distribution
    return None


def _format_errors(exc, source, lines):
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _model_for(loc)
            valid = sorted(f.alias or k for k, f in model.model_fields.items()) if model else []
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            msg = f"unknown key '{loc[-1]}'" + (f"; did you mean '{near[0]}'?" if near else "")
            if valid:
                msg += f" (valid keys: {', '.join(valid)})"
        elif err["type"] != "missing" and not isinstance(err.get("input"), (dict, list)):
            msg += f" (got {err.get('input')!r})"
        where = f"line {line}, " if line else ""
        problems.append(f"  {where}{_loc_text(loc) or '(top level)'}: {msg}")
    n = len(problems)
    return f"{source}: {n} problem{'s' if n > 1 else ''} in the sweep file\n" + "\n".join(problems)


# ------------------------------------------------------------------------------ expansion
def run_id(overrides, seed):
    text = json.dumps({"overrides": list(overrides), "seed": int(seed)}, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LEN]


@dataclass
class SweepRun:
    """One run of a sweep: its id, position, seed, swept values and full override list."""

    id: str
    index: int
    seed: int
    params: dict
    overrides: list
    geometry: str | None = None          # contact-plan key (set by the executor)
    scenario: Any = field(default=None, repr=False, compare=False)

    def record(self):
        return {"id": self.id, "index": self.index, "seed": self.seed,
                "geometry": self.geometry, "params": self.params,
                "overrides": list(self.overrides)}


@dataclass
class Sweep:
    name: str
    path: Path
    source: str                      # where the base scenario came from
    base_raw: dict                   # the base scenario as read (before any override)
    base_dir: Path                   # relative paths of the sweep file's values resolve here
    base_sha256: str
    parameters: list                 # swept field paths, in column order
    fixed: list                      # overrides from `set:`
    seeds: list
    runs: list
    shape: str = ""                  # e.g. "3 grid x 2 zip x 2 seeds"
    line_map: dict = field(default_factory=dict, repr=False)
    #: the base scenario with its own relative paths made absolute (from its folder)
    base_resolved: dict = field(default_factory=dict, repr=False)
    base_lines: dict = field(default_factory=dict, repr=False)
    spec: Any = field(default=None, repr=False)

    def raw_scenario(self, run):
        """The run's raw scenario: the base (paths absolute) with the run's overrides; a path
        still relative came from the sweep file and resolves from :attr:`base_dir`."""
        return apply_overrides(copy.deepcopy(self.base_resolved), run.overrides)

    def with_seeds(self, seeds) -> Sweep:
        """The same sweep with other seeds (``--until-ci`` adds seeds): every run of the
        sweep's axes for each seed, ids as :func:`run_id` gives them, so runs already done
        are reused."""
        seeds = list(dict.fromkeys(int(s) for s in seeds))
        combos = list(dict.fromkeys(tuple(r.overrides) for r in self.runs))
        params = {tuple(r.overrides): r.params for r in self.runs}
        runs: list[SweepRun] = []
        for overrides in combos:
            for seed in seeds:
                runs.append(SweepRun(run_id(overrides, seed), len(runs), seed,
                                     dict(params[overrides]), list(overrides)))
        known = {(tuple(r.overrides)): r.scenario for r in self.runs}
        for r in runs:
            r.scenario = known[tuple(r.overrides)]
        shape = re.sub(r"\d+ seeds?$", f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}",
                       self.shape)
        return dataclasses.replace(self, seeds=seeds, runs=runs, shape=shape)


def _read_yaml(path, what):
    """``(text, data)`` of a sweep or base scenario file, read strictly and within bounds
    (:mod:`orbsched.strict_yaml`: duplicate keys, anchor bombs, binary files refused)."""
    text = read_text(path, what)
    return text, load_yaml(text, str(path))[0]


def _axes(spec):
    """(parameters, list of axes); an axis is a list of {path: value} options."""
    axes, params = [], []
    for p, values in spec.grid.items():
        axes.append([{p: v} for v in values])
        params.append(p)
    for group in spec.zip:
        n = len(next(iter(group.values())))
        axes.append([{p: vs[i] for p, vs in group.items()} for i in range(n)])
        params += list(group)
    if spec.random is not None:
        import numpy as np

        r = spec.random
        draws = {p: d.draw(np.random.default_rng([r.seed, zlib.crc32(p.encode())]), r.n)
                 for p, d in r.fields.items()}
        points = {}                         # a point drawn twice (int, choice) runs once
        for i in range(r.n):
            point = {p: draws[p][i] for p in r.fields}
            points.setdefault(yaml_value(point), point)
        axes.append(list(points.values()))
        params += list(r.fields)
    return params, axes


def _hint(sweep_lines, overrides, message):
    """Which sweep-file fields a scenario error is about (by the field paths it names)."""
    hits = []
    for item in overrides:
        path = item.split("=", 1)[0]
        parts = re.split(r"\.(?![^\[]*\])", path)
        prefixes = {".".join(parts[:k]) for k in range(min(2, len(parts)), len(parts) + 1)}
        if any(re.search(rf"(^|\s){re.escape(p)}(:|\.|\[|\s)", message, re.M) for p in prefixes):
            where = next((f", line {n}" for k, n in sweep_lines.items()
                          if len(k) >= 2 and k[-1] == path), "")
            hits.append(f"'{path}'{where}")
    return f"\n  (set by the sweep file: {', '.join(hits)})" if hits else ""


def _value_line(sweep, path, value):
    """``"SWEEP, line N"`` (or the base scenario's line) where ``path`` got ``value``."""
    spec, lines = sweep.spec, sweep.line_map
    key = None
    if spec is not None:
        if path in spec.set:
            key = ("set", path)
        elif path in spec.grid:
            vals = spec.grid[path]
            key = ("grid", path, vals.index(value)) if value in vals else ("grid", path)
        else:
            for k, group in enumerate(spec.zip):
                if path in group:
                    vals = group[path]
                    key = ("zip", k, path, vals.index(value)) if value in vals else \
                        ("zip", k, path)
            if key is None and spec.random is not None and path in spec.random.fields:
                key = ("random", "fields", path)
    if key is not None:
        line = lines.get(key) or lines.get(key[:-1])
        return f"{sweep.path}" + (f", line {line}" if line else "")
    for k in (("policy", "name"), ("policy",)):
        if k in sweep.base_lines:
            return f"{sweep.source}, line {sweep.base_lines[k]}"
    return sweep.source


def _check_policies(sweep):
    """Every distinct policy of the runs is built once before any run (a registered name, or
    a user class: its file or module imports, the class exists and is a Policy, its
    constructor takes the options), as every run will build it.  The error names the sweep
    file and the line that set the policy (or the base scenario's line)."""
    seen = set()
    for run in sweep.runs:
        spec = run.scenario.policy
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            load_policy(spec, sweep.base_dir)
        except (RegistryError, PolicyError) as exc:
            set_here = [o.split("=", 1)[0] for o in run.overrides
                        if o.split("=", 1)[0] == "policy" or o.startswith("policy.")]
            about_options = "option" in str(exc)
            set_here.sort(key=lambda p: (p.startswith("policy.options") != about_options))
            path = set_here[0] if set_here else ""
            where = _value_line(sweep, path, run.params.get(path))
            raise ScenarioError(f"{where}: run {run.index} ({run.id}: "
                                f"{', '.join(run.overrides) or 'no overrides'}; seed "
                                f"{run.seed}): {exc}") from None


def _absolute_paths(raw, base_dir):
    """``raw`` with its relative file paths made absolute from ``base_dir`` (element files,
    traces, ``isl_file``, a ``file.py:Class`` policy), as ``scenario_from_dict`` does."""
    return _resolve_paths(copy.deepcopy(raw), Path(base_dir))


def load_sweep(path) -> Sweep:
    """Read, validate and expand a sweep file; every run's scenario is validated."""
    path = Path(path)
    text, data = _read_yaml(path, "sweep file")
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a sweep file must be a YAML mapping, got "
                            f"{type(data).__name__}")
    lines = _yaml_lines(text)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, str(path), lines)) from None
    if spec.base is not None:
        base_path = Path(spec.base).expanduser()
        base_path = base_path if base_path.is_absolute() else path.parent / base_path
        base_text, base_raw = _read_yaml(base_path, "base scenario")
        base_raw = base_raw if base_raw is not None else {}
        base_lines = _yaml_lines(base_text)
        source, own_dir = str(base_path), base_path.parent.resolve()
    else:
        base_raw = copy.deepcopy(spec.base_scenario)
        base_lines = {k[1:]: v for k, v in lines.items() if k[:1] == ("base_scenario",)}
        source, own_dir = f"{path} (base_scenario)", path.parent.resolve()
    if not isinstance(base_raw, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    base_dir = path.parent.resolve()          # the sweep file's values resolve from here
    base_resolved = _absolute_paths(base_raw, own_dir)
    fixed = [f"{p}={yaml_value(v)}" for p, v in spec.set.items()]
    try:
        base = scenario_from_dict(apply_overrides(copy.deepcopy(base_resolved), fixed),
                                  f"{source} + set: of {path}", base_dir, base_lines)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: the base scenario is invalid\n{exc}"
                            + _hint(lines, fixed, str(exc))) from None
    seeds = list(spec.seeds) if spec.seeds is not None else \
        [base.seed + i for i in range(spec.replications or 1)]
    params, axes = _axes(spec)
    runs: list[SweepRun] = []
    by_id: dict[str, int] = {}
    for combo in itertools.product(*axes):
        values = {p: v for option in combo for p, v in option.items()}
        overrides = fixed + [f"{p}={yaml_value(values[p])}" for p in params]
        for seed in seeds:
            rid = run_id(overrides, seed)
            if rid in by_id:
                raise ScenarioError(f"{path}: runs {by_id[rid]} and {len(runs)} are identical "
                                    f"({', '.join(overrides)}; seed {seed})")
            by_id[rid] = len(runs)
            runs.append(SweepRun(rid, len(runs), seed, dict(values), list(overrides)))
    shape = " x ".join([f"{len(v)} {k}" for k, v in spec.grid.items()]
                       + [f"{len(next(iter(g.values())))} zipped" for g in spec.zip]
                       + ([f"{len(axes[-1])} random"
                           + (f" (distinct of {spec.random.n} drawn)"
                              if len(axes[-1]) < spec.random.n else "")]
                          if spec.random else [])
                       + [f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}"])
    base_json = json.dumps(base_raw, sort_keys=True, default=str)
    sweep = Sweep(spec.name or path.stem, path, source, base_raw, base_dir,
                  hashlib.sha256(base_json.encode()).hexdigest(), params, fixed, seeds, runs,
                  shape, lines, base_resolved, base_lines, spec)
    for run in runs:
        try:
            run.scenario = scenario_from_dict(sweep.raw_scenario(run),
                                              f"{source} + run {run.id} of {path}", base_dir,
                                              base_lines)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: run {run.index} ({run.id}: "
                                f"{', '.join(run.overrides) or 'no overrides'}; seed "
                                f"{run.seed}) is invalid\n{exc}"
                                + _hint(lines, run.overrides, str(exc))) from None
        wl = run.scenario.workload
        for key in ("path", "task_path"):
            file = getattr(wl, key, None) if wl.type == "trace" else None
            if file and not Path(file).is_file():
                by = [o.split("=", 1)[0] for o in run.overrides
                      if o.startswith(("workload=", f"workload.{key}="))]
                where = _value_line(sweep, by[-1], run.params.get(by[-1])) if by else \
                    f"{source}" + (f", line {base_lines[('workload', key)]}"
                                   if ("workload", key) in base_lines else "")
                raise ScenarioError(f"{where}: run {run.index} ({run.id}): workload.{key}: "
                                    f"trace file not found: {file}")
    _check_policies(sweep)
    return sweep
