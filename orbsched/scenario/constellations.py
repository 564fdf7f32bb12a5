"""The constellation sections of a scenario: Walker shells, sun-synchronous planes, formation
clusters and fleets read from TLE, OMM or ephemeris files (``constellations:`` in a scenario
file; :mod:`orbsched.scenario.schema` holds the rest and the loading)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .schema_base import StrictModel
from .sso import sso_inclination_deg


class WalkerShell(StrictModel):
    """Walker shell i: T/P/F.  ``pattern: delta`` spreads nodes over 360 deg, ``star`` over 180."""

    type: Literal["walker"]
    #: label of the shell (satellite names derive from it)
    name: str = Field(min_length=1)
    #: delta: nodes spread over 360 deg; star: over 180 deg
    pattern: Literal["delta", "star"] = "delta"
    planes: int = Field(ge=1, description="number of orbital planes P")
    sats_per_plane: int = Field(ge=1, description="satellites per plane S")
    phasing: int = Field(0, ge=0, description="Walker phasing factor F, 0 <= F < P")
    altitude_km: float = Field(gt=0, le=50000, description="mean altitude above R_eq, km")
    inclination_deg: float = Field(ge=0, le=180, description="deg, or 'sso': sun-synchronous "
                                   "for the altitude (orbsched.scenario.sso; the resolved "
                                   "scenario carries the number)")
    #: right ascension of the first plane's node
    raan_offset_deg: float = 0.0
    epoch_utc: datetime | None = Field(None, description="element epoch; default start_utc")
    plane_range: tuple[int, int] | None = Field(
        None, description="[start, stop]: only planes start .. stop - 1 of the P planes fly "
                          "(as Python's range; a partition's share of a shell, "
                          "orbsched.sweep.partition); the others are left out, the Walker "
                          "pattern (nodes, phasing) stays that of all P planes")

    @model_validator(mode="before")
    @classmethod
    def _sso_inclination(cls, data):
        """``inclination_deg: sso``: the sun-synchronous inclination of ``altitude_km`` (J2
        nodal precession at the Sun's 0.9856 deg/day, :mod:`orbsched.scenario.sso`)."""
        if not isinstance(data, dict) or data.get("inclination_deg") != "sso":
            return data
        alt = data.get("altitude_km")
        if isinstance(alt, bool) or not isinstance(alt, (int, float)) or not 0 < alt <= 5900:
            raise ValueError(f"inclination_deg: sso needs altitude_km a number in (0, 5900] "
                             f"km (sun-synchronous orbits end near 5,970 km), got {alt!r}")
        return {**data, "inclination_deg": sso_inclination_deg(float(alt))}

    @model_validator(mode="after")
    def _phasing(self):
        if self.phasing >= self.planes:
            raise ValueError(f"phasing must be between 0 and planes - 1 = {self.planes - 1}, "
                             f"got {self.phasing}")
        if self.plane_range is not None:
            start, stop = self.plane_range
            if not 0 <= start < stop <= self.planes:
                raise ValueError(f"plane_range must be [start, stop] with 0 <= start < stop "
                                 f"<= planes = {self.planes}, got [{start}, {stop}]")
        return self

    @property
    def flown_planes(self) -> range:
        """The planes that fly: ``range(*plane_range)``, else all P."""
        return range(*self.plane_range) if self.plane_range else range(self.planes)

    @property
    def n_sats(self) -> int:
        """Satellites that fly: ``len(flown_planes) * sats_per_plane``."""
        return len(self.flown_planes) * self.sats_per_plane


class SsoPlane(StrictModel):
    """A sun-synchronous plane at a local time of the ascending node (6 or 18 = dawn-dusk)."""

    type: Literal["sso"]
    #: label of the plane
    name: str = Field(min_length=1)
    altitude_km: float = Field(gt=0, le=5900,
                               description="sun-synchronous orbits end near 5,970 km")
    ltan_h: float = Field(ge=0, lt=24, description="local time of the ascending node, hours")
    sats: int = Field(1, ge=1, description="satellites evenly spaced in the plane")
    #: element epoch; default start_utc (the node follows the true Sun at epoch)
    epoch_utc: datetime | None = None


class FormationCluster(StrictModel):
    """A compact cluster around a reference circular orbit (Hill-Clohessy-Wiltshire relative
    motion, see :mod:`orbsched.geometry.formation`), e.g. Suncatcher's 81 satellites within 1 km."""

    type: Literal["formation"]
    #: label of the cluster
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


class _FileSource(StrictModel):
    path: str = Field(min_length=1, description="relative to the scenario file")
    #: label of the satellites read from the file (default: the file's name)
    name: str | None = None
    select: str | None = Field(None, description="regular expression on satellite names")
    limit: int | None = Field(None, ge=1, description="keep the first N satellites")

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


Constellation = Annotated[
    WalkerShell | SsoPlane | FormationCluster | TleFile | OmmFile | EphemerisFile,
    Field(discriminator="type"),
]
CONSTELLATION_TAGS = {"walker": WalkerShell, "sso": SsoPlane, "formation": FormationCluster,
                      "tle": TleFile, "omm": OmmFile, "ephemeris": EphemerisFile}
