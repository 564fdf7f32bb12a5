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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .constants import OPTICAL_NEAR_FIELD_KM, SUNCATCHER_LINK_GBPS
from .errors import ScenarioError
from .learning import LearningOptions
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
from .utc import parse_utc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- constellations
class WalkerShell(_Strict):
    """Walker shell i: T/P/F.  ``pattern: delta`` spreads nodes over 360 deg, ``star`` over 180."""

    type: Literal["walker"]
    name: str = Field(min_length=1)
    pattern: Literal["delta", "star"] = "delta"
    planes: int = Field(ge=1, description="number of orbital planes P")
    sats_per_plane: int = Field(ge=1, description="satellites per plane S")
    phasing: int = Field(0, ge=0, description="Walker phasing factor F, 0 <= F < P")
    altitude_km: float = Field(gt=0, le=50000, description="mean altitude above R_eq, km")
    inclination_deg: float = Field(ge=0, le=180)
    raan_offset_deg: float = 0.0
    epoch_utc: Optional[datetime] = Field(None, description="element epoch; default start_utc")

    @model_validator(mode="after")
    def _phasing(self):
        if self.phasing >= self.planes:
            raise ValueError(f"phasing must be between 0 and planes - 1 = {self.planes - 1}, "
                             f"got {self.phasing}")
        return self


class SsoPlane(_Strict):
    """A sun-synchronous plane at a local time of the ascending node (6 or 18 = dawn-dusk)."""

    type: Literal["sso"]
    name: str = Field(min_length=1)
    altitude_km: float = Field(gt=0, le=5900, description="sun-synchronous orbits end near 5,970 km")
    ltan_h: float = Field(ge=0, lt=24, description="local time of the ascending node, hours")
    sats: int = Field(1, ge=1, description="satellites evenly spaced in the plane")
    epoch_utc: Optional[datetime] = None


class FormationCluster(_Strict):
    """A compact cluster around a reference circular orbit (Hill-Clohessy-Wiltshire relative
    motion, see :mod:`orbsched.geometry.formation`), e.g. Suncatcher's 81 satellites within 1 km."""

    type: Literal["formation"]
    name: str = Field(min_length=1)
    altitude_km: float = Field(gt=0, le=50000, description="reference orbit: mean altitude, km")
    inclination_deg: float | None = Field(
        None, ge=0, le=180, description="default: sun-synchronous for the altitude (J2)")
    ltan_h: float | None = Field(None, ge=0, lt=24,
                                    description="node at this local time (6 or 18 = dawn-dusk)")
    raan_deg: float | None = Field(None, description="node; default 0 (or from ltan_h)")
    mean_anomaly_deg: float = Field(0.0, description="reference's argument of latitude at epoch")
    sats: int = Field(ge=1, le=10000, description="members of the cluster")
    layout: Literal["hex", "grid", "rings", "random"] = Field(
        "hex", description="planar layout of the members (see orbsched.geometry.formation)")
    spacing_m: float = Field(200.0, gt=0, le=1e6,
                             description="neighbour distance in the layout, m")
    radius_m: float = Field(1000.0, gt=0, le=1e7,
                            description="no member ever further from the reference, m")
    cross_track_ratio: float = Field(
        0.0, ge=0, le=10, description="cross-track / along-track amplitude of the HCW motion: "
                                      "0 in-plane 2:1 ellipses, 0.866 rigid disk")
    layout_seed: int = Field(0, ge=0, description="seed of the random layout")
    epoch_utc: datetime | None = Field(None, description="element epoch; default start_utc")

    @model_validator(mode="after")
    def _node(self):
        # (the layout's reach and the default sun-synchronous inclination are physics: the
        # geometry stage checks them when it builds the cluster, naming this entry)
        if self.ltan_h is not None and self.raan_deg is not None:
            raise ValueError("give ltan_h (node from the Sun) or raan_deg, not both")
        return self


class _FileSource(_Strict):
    path: str = Field(min_length=1, description="relative to the scenario file")
    name: Optional[str] = None
    select: Optional[str] = Field(None, description="regular expression on satellite names")
    limit: Optional[int] = Field(None, ge=1, description="keep the first N satellites")

    @field_validator("select")
    @classmethod
    def _regex(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class TleFile(_FileSource):
    """2-line or 3-line TLE file."""

    type: Literal["tle"]


class OmmFile(_FileSource):
    """CelesTrak OMM, JSON or CSV."""

    type: Literal["omm"]


class EphemerisFile(_FileSource):
    """External ephemeris CSV (GCRS km; see orbsched.geometry.orbits.read_ephemeris_csv)."""

    type: Literal["ephemeris"]


Constellation = Annotated[Union[WalkerShell, SsoPlane, FormationCluster, TleFile, OmmFile,
                                EphemerisFile], Field(discriminator="type")]
_TAGS = {"walker": WalkerShell, "sso": SsoPlane, "formation": FormationCluster, "tle": TleFile,
         "omm": OmmFile, "ephemeris": EphemerisFile}


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


# ------------------------------------------------------------------------- ground and network
class GroundStation(_Strict):
    """A ground station (WGS84 geodetic site)."""

    name: str = Field(min_length=1)
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=360)
    elevation_m: float = Field(0.0, ge=-500, le=9000)
    min_elevation_deg: float = Field(10.0, ge=-5, lt=90, description="mask angle")


class IslRate(_Strict):
    """Rate of a laser link as a function of its length.

    ``constant``: every ISL carries ``network.bandwidth_gbps``.  ``near_far``: ``max_gbps`` up
    to ``near_field_km``, then ``max_gbps (near_field_km / d)^2`` (received power falls with
    the square of the distance in the far field); the contact plan follows each link's
    distance and records a rate change whenever the rate moved by more than ``rate_tol``.
    """

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

    topology: Literal["nearest-k", "+grid", "all-visible", "none"] = Field(
        "nearest-k", description="+grid for Walker shells; nearest-k for any fleet")
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
    cache: bool = Field(True, description="cache the contact plan, shadow and SAA intervals "
                                          "on disk")

    @model_validator(mode="after")
    def _one_isl_rate(self):
        if self.isl_rate.model != "constant" and \
                self.bandwidth_gbps != type(self).model_fields["bandwidth_gbps"].default:
            raise ValueError(f"bandwidth_gbps is not used with isl_rate.model "
                             f"{self.isl_rate.model}: set isl_rate.max_gbps instead")
        return self


# ---------------------------------------------------------------------------------- scenario
class Scenario(_Strict):
    name: str = Field("scenario", min_length=1)
    start_utc: Union[Literal["epoch"], datetime] = Field(
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
    learning: Optional[LearningOptions] = None

    @field_validator("start_utc", mode="before")
    @classmethod
    def _start(cls, v):
        if isinstance(v, str) and v.strip().lower() == "epoch":
            return "epoch"
        return parse_utc(v, "start_utc")

    @model_validator(mode="after")
    def _cross(self):
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
        if self.network.topology == "+grid" and not all(
                c.type == "walker" for c in self.constellations):
            raise ValueError("network.topology '+grid' needs Walker shells only; use nearest-k "
                             "for TLE, OMM, SSO, formation or ephemeris fleets")
        return self

    @property
    def duration_s(self):
        return self.duration_h * 3600.0

    def to_yaml(self):
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


# ------------------------------------------------------------------------------------ loading
def _loc_str(loc):
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(loc):
    """Drop the discriminator tags pydantic inserts for tagged unions, and validator labels."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _TAGS or p in WORKLOAD_TAGS
                                                                or "[" in p
                                                                or p.startswith("function-"))))


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
            cur = _TAGS.get(part) or WORKLOAD_TAGS.get(part)
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
    """Map field paths (tuples) to 1-based line numbers of the YAML text."""
    lines = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                lines[path + (k.value,)] = k.start_mark.line + 1
                walk(v, path + (k.value,))
                lines[path + (k.value,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _format_errors(exc, source, line_map):
    problems = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        loc = _clean_loc(raw_loc)
        field = _loc_str(loc) or "(top level)"
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in line_map:
                line = line_map[loc[:n]]
                break
        msg = err["msg"]
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            model = _model_at(raw_loc)
            valid = sorted(_field_names(model)) if model else []
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            msg = f"unknown key '{loc[-1]}'" + (f"; did you mean '{near[0]}'?" if near else "")
            if valid:
                msg += f" (valid keys: {', '.join(valid)})"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            what, tags = ("workload", WORKLOAD_TAGS) if loc[:1] == ("workload",) \
                else ("constellation", _TAGS)
            got = (err.get("input") or {}).get("type") if isinstance(err.get("input"), dict) \
                else None
            msg = (f"unknown {what} type {got!r}" if err["type"] == "union_tag_invalid"
                   else "missing 'type'") + f"; expected one of {', '.join(sorted(tags))}"
        else:
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        where = f"line {line}, " if line else ""
        problems.append(f"  {where}{field}: {msg}")
    n = len(problems)
    return f"{source}: {n} problem{'s' if n > 1 else ''} in the scenario\n" + "\n".join(problems)


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
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
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


def _resolve_paths(data, base_dir):
    items = [c for c in data.get("constellations") or [] if isinstance(c, dict)]
    if isinstance(data.get("workload"), dict):
        items.append(data["workload"])
    for c in items:
        for key in ("path", "task_path"):
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
    for i, c in enumerate(scenario.constellations):
        if getattr(c, "path", None) and not Path(c.path).is_file():
            line = (line_map or {}).get(("constellations", i, "path"))
            where = f"line {line}, " if line else ""
            raise ScenarioError(f"{source}: {where}constellations[{i}].path: file not found: "
                                f"{c.path}")
    return scenario


def load_scenario(path, overrides=()):
    """Load, override and validate a scenario YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") \
            from None
    data = apply_overrides(data if data is not None else {}, overrides)
    return scenario_from_dict(data, str(path), path.parent, _yaml_lines(text))
