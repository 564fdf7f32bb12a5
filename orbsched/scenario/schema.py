"""Scenario schema, YAML loading and strict validation.

A scenario is one YAML file.  It is loaded and validated once (unknown keys are errors with a
suggestion, values are range-checked, combinations cross-checked) and then passed around as a
frozen :class:`Scenario`.  Errors name the file, the line and the field path and say what was
expected.  ``--set path.to.field=value`` overrides are applied to the raw YAML before
validation, so they are checked exactly like the file.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .constants import (
    EPHEMERIS_FIRST_UTC,
    EPHEMERIS_LAST_UTC,
    OPTICAL_NEAR_FIELD_KM,
    SUNCATCHER_LINK_GBPS,
)
from .constellations import (  # noqa: F401  (the constellation models, exported from here)
    CONSTELLATION_TAGS,
    Constellation,
    EphemerisFile,
    FormationCluster,
    OmmFile,
    SsoPlane,
    TleFile,
    WalkerShell,
)
from .errors import ScenarioError
from .learning import LearningOptions
from .schema_base import StrictModel
from .sections import (
    WORKLOAD_TAGS,
    Datacentre,
    EngineOptions,
    Faults,
    Hardware,
    InferenceOptions,
    NoWorkload,
    PolicySpec,
    RecordOptions,
    Workload,
)
from .strict_yaml import load_yaml, parse_value, read_text
from .utc import parse_utc


class _Strict(StrictModel):
    """Frozen, unknown keys rejected; NaN, infinities and booleans refused for numbers."""


# ---------------------------------------------------------------------------------- geometry
class GeometryOptions(_Strict):
    earth_shape: Literal["wgs84", "sphere"] = Field(
        "wgs84", description="Earth's shape for occultation; skyfield's is_sunlit uses a sphere")
    eclipse_model: Literal["conical", "point"] = Field(
        "conical", description="conical = Sun's disk (umbra + penumbra); point = is_sunlit test")
    refine_tol_s: float = Field(0.01, gt=0, le=1.0, description="eclipse edge tolerance, s")
    chunk_mb: float = Field(256, ge=8, description="memory budget of one propagation chunk")
    frame_node_s: float = Field(3600, gt=0, le=86400,
                                description="spacing of exact TEME->GCRS rotations, s")
    max_epoch_age_days: float = Field(
        7, gt=0, description="warn when a run starts this far from an element set's epoch")
    earth_radius_km: float | None = Field(
        None, ge=1000, le=10000, description="earth_shape sphere only: the shadow-casting "
                                             "sphere's radius (default 6378.137 km)")
    sun_direction: Literal["geometric", "apparent"] = Field(
        "geometric", description="apparent: the Sun's direction with light time and annual "
                                 "aberration (as GMAT); geometric: as skyfield's is_sunlit")

    @model_validator(mode="after")
    def _radius(self):
        if self.earth_radius_km is not None and self.earth_shape != "sphere":
            raise ValueError("earth_radius_km applies to earth_shape: sphere only (the wgs84 "
                             "ellipsoid has its own radii)")
        return self


# ------------------------------------------------------------------------- ground and network
class GroundStation(_Strict):
    """A ground station (WGS84 geodetic site)."""

    #: station name (links, data centres and orbsched paths name it)
    name: str = Field(min_length=1)
    #: geodetic latitude (WGS84)
    lat_deg: float = Field(ge=-90, le=90)
    #: longitude, east positive
    lon_deg: float = Field(ge=-180, le=360)
    elevation_m: float = Field(0.0, ge=-500, le=100000,
                               description="height above the WGS84 ellipsoid (up to 100 km: "
                                           "high-altitude platforms)")
    min_elevation_deg: float | None = Field(
        None, ge=-90, lt=90, description="mask angle; default network.ground_min_elevation_deg; "
                                         "-90: no mask")
    max_range_km: float | None = Field(
        None, gt=0, description="slant-range limit; default network.ground_max_range_km")


class IslRate(_Strict):
    """Rate of a laser link as a function of its length.

    ``constant``: every ISL carries ``network.bandwidth_gbps``.  ``near_far``: ``max_gbps`` up
    to ``near_field_km``, then ``max_gbps (near_field_km / d)^2`` (received power falls with
    the square of the distance in the far field); the contact plan follows each link's
    distance and records a rate change whenever the rate moved by more than ``rate_tol``.
    """

    #: constant: every laser link carries network.bandwidth_gbps; near_far: the rate falls with
    #: the square of the distance beyond near_field_km
    model: Literal["constant", "near_far"] = "constant"
    max_gbps: float = Field(SUNCATCHER_LINK_GBPS, gt=0,
                            description="near_far: rate in the near field (Suncatcher 9.6 Tbps)")
    near_field_km: float = Field(OPTICAL_NEAR_FIELD_KM, gt=0,
                                 description="near_far: full rate up to this range (~5 km)")
    rate_tol: float = Field(0.05, gt=0, lt=1, description="near_far: relative rate change "
                                                          "that makes a new rate-table entry")

    @model_validator(mode="after")
    def _only_near_far(self):
        # non-default values only: a dumped scenario (defaults written out) must load again
        extra = [k for k in ("max_gbps", "near_field_km", "rate_tol")
                 if getattr(self, k) != type(self).model_fields[k].default]
        if self.model == "constant" and extra:
            raise ValueError(f"{', '.join(extra)} appl{'ies' if len(extra) == 1 else 'y'} to "
                             f"model near_far only; the constant model uses "
                             f"network.bandwidth_gbps")
        return self


class NetworkOptions(_Strict):
    """Inter-satellite laser links and ground links."""

    topology: Literal["nearest-k", "+grid", "all-visible", "file", "none"] = Field(
        "nearest-k", description="+grid (Walker layout or planes inferred from the elements), "
                                 "nearest-k, all-visible, file (isl_file) or none")
    isl_file: str | None = Field(None, description="topology file: CSV sat_a,sat_b[,rate_gbps]"
                                                      " (fleet indices or names)")
    terminals: int = Field(4, ge=1, le=64, description="laser terminals per satellite (nearest-k)")
    grid_shift: int = Field(0, ge=0, description="+grid: cross-plane neighbour index shift")
    max_range_km: float = Field(5000.0, gt=0, description="maximum ISL range (Starlink ~5,400)")
    grazing_altitude_km: float = Field(80.0, ge=0, le=1000,
                                       description="line of sight stays this far above R_eq")
    acquisition_s: float = Field(10.0, ge=0, description="a new link carries traffic after this")
    bandwidth_gbps: float = Field(100.0, gt=0, description="per ISL (Starlink ~100 Gbps)")
    isl_rate: IslRate = Field(IslRate(), description="ISL rate model: constant bandwidth_gbps "
                                                     "or near_far (falls with distance)")
    ground_bandwidth_gbps: float = Field(20.0, gt=0, description="per ground link")
    ground_horizon: Literal["geodetic", "spherical"] = Field(
        "geodetic", description="local horizon: ellipsoid normal or radial")
    ground_min_elevation_deg: float = Field(10.0, ge=-90, lt=90,
                                            description="default mask angle of the stations")
    ground_max_range_km: float | None = Field(
        None, gt=0, description="default slant-range limit of the stations (none: no limit)")
    range_update_s: float = Field(10.0, gt=0, le=3600, description="routing weights follow "
                                  "the links' lengths, refreshed this often")
    cache: bool = Field(True, description="cache the contact plan, shadow and SAA intervals "
                                          "on disk")

    @model_validator(mode="after")
    def _isl_file(self):
        if (self.topology == "file") != (self.isl_file is not None):
            raise ValueError("topology: file needs isl_file (a CSV of sat_a,sat_b), and "
                             "isl_file needs topology: file")
        return self

    @model_validator(mode="after")
    def _one_isl_rate(self):
        if self.isl_rate.model != "constant" and \
                self.bandwidth_gbps != type(self).model_fields["bandwidth_gbps"].default:
            raise ValueError(f"bandwidth_gbps is not used with isl_rate.model "
                             f"{self.isl_rate.model}: set isl_rate.max_gbps instead")
        return self


# ---------------------------------------------------------------------------------- scenario
class Scenario(_Strict):
    #: label used in outputs and the default results folder results/<name>
    name: str = Field("scenario", min_length=1)
    start_utc: Literal["epoch"] | datetime = Field(
        description="ISO-8601 UTC, or 'epoch' for the median epoch of the element sets")
    duration_h: float = Field(gt=0, le=24 * 3660, description="simulated span, hours")
    step_s: float = Field(60, gt=0, le=600, description="geometry grid step, s")
    constellations: list[Constellation] = Field(min_length=1)
    geometry: GeometryOptions = GeometryOptions()
    ground_stations: list[GroundStation] = Field(default_factory=list)
    datacentres: list[Datacentre] = Field(default_factory=list)
    network: NetworkOptions = NetworkOptions()
    seed: int = Field(0, ge=0, description="seed of every random draw of the run")
    hardware: Hardware = Hardware()
    workload: Workload = NoWorkload(type="none")
    inference: InferenceOptions = InferenceOptions()
    faults: Faults = Faults()
    policy: PolicySpec = PolicySpec()
    engine: EngineOptions = EngineOptions()
    record: RecordOptions = RecordOptions()
    learning: LearningOptions | None = None

    @field_validator("start_utc", mode="before")
    @classmethod
    def _start(cls, v):
        if isinstance(v, str) and v.strip().lower() == "epoch":
            return "epoch"
        start = parse_utc(v, "start_utc")
        check_span_dates(start, 0.0, "start_utc")
        return start

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        # the default results folder is results/<name>: a name must not leave it
        bad = sorted({c for c in v if c in '/\\' or ord(c) < 32 or ord(c) == 127})
        if bad or v.startswith(".") or ".." in v:
            raise ValueError("a scenario name is a name, not a path: no '/', '\\', control "
                             "characters, '..' or leading '.'")
        return v

    @model_validator(mode="after")
    def _cross(self):
        if self.start_utc != "epoch":
            check_span_dates(self.start_utc, self.duration_s, "duration_h")
        if self.step_s >= self.duration_h * 3600:
            raise ValueError(f"step_s ({self.step_s}) must be shorter than the span "
                             f"(duration_h = {self.duration_h} h)")
        if self.start_utc == "epoch" and not any(
                c.type in ("tle", "omm") for c in self.constellations):
            raise ValueError("start_utc: 'epoch' needs at least one tle or omm constellation")
        for what, items in (("constellation", self.constellations),
                            ("ground station", self.ground_stations),
                            ("datacentre", self.datacentres)):
            names = [c.name for c in items if c.name]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what} names must be unique, repeated: {', '.join(dup)}")
        stations = [g.name for g in self.ground_stations]
        for k, dc in enumerate(self.datacentres):
            if dc.station not in stations:
                import difflib
                near = difflib.get_close_matches(dc.station, stations, n=1)
                raise ValueError(f"datacentres[{k}].station: no ground station {dc.station!r}"
                                 + (f"; did you mean {near[0]!r}?" if near else "")
                                 + f" (ground_stations: {', '.join(stations) or 'none'})")
        used = [dc.station for dc in self.datacentres]
        dup = sorted({n for n in used if used.count(n) > 1})
        if dup:
            raise ValueError(f"datacentres: one per ground station, {', '.join(dup)} has more")
        if self.network.topology == "+grid" and any(
                c.type == "formation" for c in self.constellations):
            raise ValueError("network.topology '+grid' needs orbital planes; a formation "
                             "cluster has one orbit: use nearest-k")
        return self

    @property
    def duration_s(self):
        return self.duration_h * 3600.0

    def to_yaml(self):
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def check_span_dates(start, duration_s, field="start_utc"):
    """Raise ValueError unless [start, start + duration_s] lies inside the dates the Sun's
    ephemeris covers (:data:`orbsched.scenario.constants.EPHEMERIS_FIRST_UTC` .. ``_LAST_UTC``)."""
    first, last = parse_utc(EPHEMERIS_FIRST_UTC), parse_utc(EPHEMERIS_LAST_UTC)
    end = start + timedelta(seconds=duration_s)
    if start < first or end > last:
        prefix = f"{field}: " if field != "start_utc" else ""
        raise ValueError(f"{prefix}the run spans {start:%Y-%m-%d} .. {end:%Y-%m-%d}, outside "
                         f"the dates of the Sun's ephemeris (DE421: {first:%Y-%m-%d} .. "
                         f"{last:%Y-%m-%d})")


# ------------------------------------------------------------------------------------ loading
def _loc_str(loc):
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(loc):
    """Drop the discriminator tags pydantic inserts for tagged unions, and validator labels."""
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in CONSTELLATION_TAGS or p in WORKLOAD_TAGS or "[" in p or p.startswith("function-"))))


def _field_names(cls):
    """Valid keys of a pydantic model or a dataclass used as a scenario section."""
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return dict(cls.model_fields)
    if dataclasses.is_dataclass(cls):
        return {f.name: f for f in dataclasses.fields(cls)}
    return None


def _field_type(cls, name):
    if issubclass(cls, BaseModel):
        ann = cls.model_fields[name].annotation
    else:
        ann = {f.name: f.type for f in dataclasses.fields(cls)}[name]
        ann = typing.get_type_hints(cls).get(name, ann)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) is Union and len(args) == 1:
        ann = args[0]  # Optional[X]
    return ann if _field_names(ann) is not None else None


def _model_at(loc):
    """The model class (or dataclass) that holds the last element of ``loc``."""
    cur = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and cur is None:
            cur = CONSTELLATION_TAGS.get(part) or WORKLOAD_TAGS.get(part)
            if cur is not None:
                continue
        if cur is None or part not in (_field_names(cur) or {}):
            return None
        if part in ("constellations", "workload"):
            cur = None  # resolved by the tag that follows
        else:
            cur = _field_type(cur, part)
            if cur is None:
                return None
    return cur


def _yaml_lines(text):
    """Map field paths (tuples) to 1-based line numbers of the YAML text (empty when the
    text does not load: :func:`orbsched.strict_yaml.load_yaml` reports why)."""
    try:
        return load_yaml(text, "<text>")[1]
    except ScenarioError:
        return {}


def _format_errors(exc, source, line_map):
    """One line for one problem (``source, line N, field: what was expected``); several
    problems: a first line naming each field, then one line per problem.  A field set by
    ``--set`` (``line_map`` value ``"--set"``) is named as such instead of a line."""
    problems = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        loc = _clean_loc(raw_loc)
        msg = err["msg"]
        named = re.match(r"(?:Value error, )?([A-Za-z_][\w.\[\]]*): ", msg) if not loc else None
        if named:                    # a cross-field check that names its field: use it
            loc = tuple(_parse_path(named.group(1)))
            msg = msg[named.end():]
        field = _loc_str(loc) or "(top level)"
        line = None
        for n in range(len(loc), 0, -1):     # the document's own line (1) would say nothing
            if loc[:n] in line_map:
                line = line_map[loc[:n]]
                break
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            model = _model_at(raw_loc)
            valid = sorted(_field_names(model)) if model else []
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            msg = f"unknown key '{loc[-1]}'" + (f"; did you mean '{near[0]}'?" if near else "")
            if valid:
                msg += f" (valid keys: {', '.join(valid)})"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            what, tags = ("workload", WORKLOAD_TAGS) if loc[:1] == ("workload",) \
                else ("constellation", CONSTELLATION_TAGS)
            got = (err.get("input") or {}).get("type") if isinstance(err.get("input"), dict) \
                else None
            msg = (f"unknown {what} type {got!r}" if err["type"] == "union_tag_invalid"
                   else "missing 'type'") + f"; expected one of {', '.join(sorted(tags))}"
        else:
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            if loc and msg.startswith(f"{loc[-1]}: "):
                msg = msg[len(f"{loc[-1]}: "):]
            got = err.get("input")
            if err["type"] != "missing" and "input" in err and not isinstance(got, dict) \
                    and not isinstance(got, datetime) and f"got {got!r}" not in msg:
                msg += f" (got {got!r})"
        where = "--set " if line == "--set" else (f"line {line}, " if line else "")
        problems.append((f"{where}{field}", msg))
    if len(problems) == 1:
        return f"{source}, {problems[0][0]}: {problems[0][1]}"
    return (f"{source}: {len(problems)} problems in the scenario ("
            + "; ".join(p[0] for p in problems) + ")\n"
            + "\n".join(f"  {where}: {msg}" for where, msg in problems))


def _parse_path(path):
    parts = []
    for tok in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if tok.startswith("["):
            parts.append(int(tok[1:-1]))
        elif tok.isdigit():
            parts.append(int(tok))
        else:
            parts.append(tok)
    if not parts:
        raise ScenarioError(f"--set: empty field path in {path!r}")
    return parts


def yaml_value(value):
    """``value`` as the YAML text of an override (``yaml.safe_load`` gives it back)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2 ** 31, allow_unicode=True,
                          sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def apply_overrides(data, overrides):
    """Apply ``path.to.field=value`` strings to a raw scenario dict (values parsed as YAML)."""
    for item in overrides or ():
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected path.to.field=value")
        path, value = item.split("=", 1)
        value = parse_value(value)
        parts = _parse_path(path.strip())
        cur = data
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(part, int):
                if not isinstance(cur, list) or part >= len(cur):
                    raise ScenarioError(f"--set {path}: index [{part}] does not exist at "
                                        f"{_loc_str(parts[:i]) or 'the top level'}")
                cur = cur[part]
            else:
                if not isinstance(cur, dict):
                    raise ScenarioError(f"--set {path}: {_loc_str(parts[:i])} is not a mapping")
                if part == "policy" and i == 0 and isinstance(cur.get(part), str):
                    cur[part] = {"name": cur[part]}       # the 'policy: NAME' shorthand
                cur = cur.setdefault(part, [] if isinstance(nxt, int) else {})
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(cur, list) or last >= len(cur):
                raise ScenarioError(f"--set {path}: index [{last}] does not exist")
            cur[last] = value
        else:
            if not isinstance(cur, dict):
                raise ScenarioError(f"--set {path}: {_loc_str(parts[:-1])} is not a mapping")
            cur[last] = value
    return data


def _resolve_policy_file(data, base_dir):
    """Make the file of a ``path/to/file.py:Class`` policy absolute from ``base_dir``."""
    pol = data.get("policy")
    name = pol if isinstance(pol, str) else (pol.get("name") if isinstance(pol, dict) else None)
    if not (isinstance(name, str) and ":" in name):
        return
    mod, _, cls = name.rpartition(":")
    if not mod.endswith(".py"):
        return
    p = Path(mod).expanduser()
    full = f"{p if p.is_absolute() else (Path(base_dir) / p).resolve()}:{cls}"
    if isinstance(pol, str):
        data["policy"] = full
    else:
        pol["name"] = full


def _resolve_paths(data, base_dir):
    """Make the relative file paths of a raw scenario absolute from ``base_dir``: element
    files, ephemerides, traces, ``network.isl_file`` and a ``file.py:Class`` policy."""
    _resolve_policy_file(data, base_dir)
    items = [c for c in data.get("constellations") or [] if isinstance(c, dict)]
    if isinstance(data.get("workload"), dict):
        items.append(data["workload"])
    if isinstance(data.get("network"), dict):
        items.append(data["network"])
    for c in items:
        for key in ("path", "task_path", "isl_file"):
            if isinstance(c.get(key), str):
                p = Path(c[key]).expanduser()
                c[key] = str(p if p.is_absolute() else (base_dir / p).resolve())
    return data


def scenario_from_dict(data, source="<dict>", base_dir=".", line_map=None):
    """Validate a raw scenario mapping; raise :class:`ScenarioError` listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping, got "
                            f"{type(data).__name__}")
    data = _resolve_paths(data, Path(base_dir))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, source, line_map or {})) from None
    isl_file = scenario.network.isl_file
    if isl_file is not None and not Path(isl_file).is_file():
        line = (line_map or {}).get(("network", "isl_file"))
        where = f"line {line}, " if line else ""
        raise ScenarioError(f"{source}: {where}network.isl_file: file not found: {isl_file}")
    for i, c in enumerate(scenario.constellations):
        if getattr(c, "path", None) and not Path(c.path).is_file():
            line = (line_map or {}).get(("constellations", i, "path"))
            where = "--set " if line == "--set" else (f"line {line}, " if line else "")
            raise ScenarioError(f"{source}, {where}constellations[{i}].path: file not found: "
                                f"{c.path}")
    return scenario


def load_scenario(path, overrides=()):
    """Load, override and validate a scenario YAML file (read strictly and within bounds:
    :mod:`orbsched.strict_yaml`).  Paths are relative to what names them: those in the file
    to its folder, those of ``overrides`` (``--set``, typed on a command line) to the current
    folder."""
    path = Path(path)
    data, lines = load_yaml(read_text(path, "scenario"), str(path))
    data = data if data is not None else {}
    if isinstance(data, dict):
        data = _resolve_paths(data, path.parent)
    data = apply_overrides(data, overrides)
    for item in overrides or ():
        lines[tuple(_parse_path(item.split("=", 1)[0].strip()))] = "--set"
    return scenario_from_dict(data, str(path), Path.cwd(), lines)
