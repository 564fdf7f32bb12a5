"""Links whose lengths follow the orbits: the grid ephemeris, routing weights, light times.

References: SGP4 directly (``fleet.propagate``, not the grid table) for satellites, skyfield's
ITRS frame (``visibility.station_frames``) for stations.
"""
import math

import numpy as np
import pytest
import simpy
from engine_helpers import check_invariants, make_engine

from orbsched.geometry import cache, ephemeris
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry.ephemeris import GridEphemeris, compute_ephemeris
from orbsched.geometry.visibility import grid_pairs, station_frames
from orbsched.network.laser import LaserNetwork
from orbsched.network.linkranges import LinkRanges
from orbsched.policies import MoveReplica, Policy, ReplicaStrategy
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import NetworkError, PropagationError
from orbsched.scenario.schema import scenario_from_dict

TOKYO = {"name": "Tokyo", "lat_deg": 35.68, "lon_deg": 139.69}


def shell(hours=24.0, planes=12, per_plane=11, **network):
    return scenario_from_dict({
        "name": "ranges", "start_utc": "2024-06-21T00:00:00Z", "duration_h": hours,
        "constellations": [{"type": "walker", "name": "w", "planes": planes,
                            "sats_per_plane": per_plane, "phasing": 1, "altitude_km": 550,
                            "inclination_deg": 53}],
        "network": {"topology": "+grid", "acquisition_s": 0, **network},
        "ground_stations": [TOKYO], "faults": {"enabled": False}})


def test_grid_ephemeris_interpolation_error_at_a_60s_grid(tmp_path):
    """Over a day at 550 km (grid 60 s, float32): positions and +grid link lengths against
    SGP4 at 400 random instants, stations against skyfield.  Target <= 10 m; measured
    0.64 m (position) and 0.53 m (length) on a 132-satellite shell (1,584: the same)."""
    fleet, sc = build_constellation(shell())
    eph = compute_ephemeris(fleet, sc, tmp_path)
    n = len(fleet)
    assert eph.r.dtype == np.float32 and eph.r.shape == (1441, n + 1, 3)
    assert eph.nbytes == 1441 * (n + 1) * 24                      # 34.6 KB per sat-day
    assert ephemeris.kb_per_satellite_day(60.0) == pytest.approx(34.584)
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(0.0, sc.duration_s, 400))
    r, _ = fleet.propagate(t)
    site, _ = station_frames(fleet.timebase, sc.ground_stations, t)
    a, b = grid_pairs(sc, n)
    pos_err = len_err = st_err = 0.0
    for i, ti in enumerate(t):
        p = eph.positions(ti)
        pos_err = max(pos_err, np.linalg.norm(p[:n] - r[:, i], axis=1).max())
        true = np.linalg.norm(r[a, i] - r[b, i], axis=1)
        len_err = max(len_err, np.abs(eph.range_km(a, b, ti) - true).max())
        st_err = max(st_err, np.linalg.norm(p[n] - site[0, i]))
    assert pos_err < 1e-3 and len_err < 1e-3, (pos_err, len_err)      # km: below 1 m
    assert st_err < 1e-3, st_err
    with pytest.raises(PropagationError, match="outside the grid"):
        eph.positions(sc.duration_s + 1.0)


def test_ephemeris_cache_loads_bit_identical_and_rejects_a_flipped_byte(tmp_path):
    fleet, sc = build_constellation(shell(hours=1.0))
    e1 = compute_ephemeris(fleet, sc, tmp_path)
    e2 = compute_ephemeris(fleet, sc, tmp_path)
    assert not e1.from_cache and e2.from_cache
    assert isinstance(e2.r, np.memmap)                    # mapped, not read into memory
    assert np.array_equal(e1.r, e2.r) and np.array_equal(e1.v, e2.v)
    r1 = np.array(e1.r)                                   # a copy: the maps see the file
    (folder,) = (tmp_path / "ephemeris").iterdir()
    raw = bytearray((folder / "r.npy").read_bytes())
    raw[-5] ^= 0x01
    (folder / "r.npy").write_bytes(bytes(raw))
    e3 = compute_ephemeris(fleet, sc, tmp_path)
    assert not e3.from_cache and np.array_equal(e3.r, r1)
    off = compute_ephemeris(fleet, sc.model_copy(update={"network": sc.network.model_copy(
        update={"cache": False})}), tmp_path / "off")
    assert not (tmp_path / "off").exists() and np.array_equal(off.r, r1)
    assert not isinstance(off.r, np.memmap)
    assert "ephemeris" in cache.KINDS


def test_routing_weights_follow_the_lengths_every_period(tmp_path):
    """The slot weights hold the lengths at the start of the current range_update_s period;
    light times asked of the network are exact at the instant."""
    fleet, sc = build_constellation(shell(hours=1.0, range_update_s=30.0))
    plan = compute_contact_plan(fleet, sc, cache_dir=tmp_path)
    eph = compute_ephemeris(fleet, sc, tmp_path)
    env = simpy.Environment()
    net = LaserNetwork(env, len(fleet), sc.ground_stations, options=sc.network,
                       ranges=LinkRanges(eph, 30.0))
    env.process(net.replay(plan.isl_windows, plan.ground_windows))
    r, _ = fleet.propagate(np.array([0.0, 30.0, 1234.5]))
    seen = []

    def probe(env):
        yield env.timeout(15.0)
        path = net.route(0, 40)
        assert path is not None and len(path) > 2
        v0 = net._version
        # weights: lengths at t = 0 (the period's start); light times: exact at t = 15 s
        a, b = path[0], path[1]
        w = net.slots.light[a, net.slots._slot[(a, b)]]
        true0 = np.linalg.norm(r[a, 0] - r[b, 0]) / SPEED_OF_LIGHT_KM_S
        assert w == pytest.approx(true0, abs=1e-8)
        assert net.path_light_s(path) == pytest.approx(
            eph.range_km(path[:-1], path[1:], 15.0).sum() / SPEED_OF_LIGHT_KM_S, rel=1e-12)
        net.route(0, 40)
        assert net._version == v0                       # same period: no refresh
        yield env.timeout(1234.5 - 15.0)
        net.routes_from([0])
        w = net.slots.light[a, net.slots._slot[(a, b)]]
        t_w = 1230.0                                    # floor(1234.5 / 30) x 30
        assert w == pytest.approx(eph.range_km([a], [b], t_w)[0] / SPEED_OF_LIGHT_KM_S,
                                  abs=1e-12)
        assert net.range_km(a, b) == pytest.approx(
            np.linalg.norm(r[a, 2] - r[b, 2]), abs=1e-3)
        seen.append(True)

    env.process(probe(env))
    env.run(until=1300.0)
    assert seen and net.stats["range_updates"] == 2
    with pytest.raises(NetworkError, match="follow the orbits"):
        net.update_ranges(r[:, 0])
    with pytest.raises(NetworkError, match="ranges cover"):
        LaserNetwork(simpy.Environment(), len(fleet), (), ranges=LinkRanges(eph))


class _HomeThenTo(ReplicaStrategy):
    def __init__(self, home, to):
        self.home, self.to = home, to

    def place(self, service, count, gpus, view):
        return [self.home]

    def on_shadow(self, sats, view):
        if self.home in sats:
            return [MoveReplica("svc", self.home, self.to)]
        return None


class _ReplicaOn(Policy):
    """The replica starts on satellite ``home`` and moves to ``to`` at home's eclipse."""

    name = "replica-on"

    def __init__(self, home, to):
        super().__init__()
        self.replicas = _HomeThenTo(home, to)


def test_engine_light_times_follow_the_true_range(tmp_path):
    """A request's propagation (station -> ingress satellite -> laser link -> replica and
    back) and a transfer's light time (the replica's weights crossing the link) equal the
    true lengths at their instants (SGP4 and skyfield, not the grid table), within the
    interpolation error; a frozen length would be off by tens of km."""
    fleet, sc = build_constellation(shell(hours=2.0))
    plan = compute_contact_plan(fleet, sc, cache_dir=tmp_path)
    eph = compute_ephemeris(fleet, sc, tmp_path)
    g = plan.ground_windows
    g = g[(g.end_s - g.start_s > 300.0) & ~g.start_clipped].iloc[0]
    a = int(g.sat)
    isl = plan.isl_windows
    isl = isl[((isl.sat_a == a) | (isl.sat_b == a)) & (isl.start_s <= g.start_s)
              & (isl.end_s >= g.end_s)]
    cross = isl[(isl.sat_a // 11) != (isl.sat_b // 11)].iloc[0]      # a cross-plane link
    b = int(cross.sat_b if cross.sat_a == a else cross.sat_a)
    t0, t1 = float(g.start_s), float(g.end_s)
    move_at = t0 + 0.5 * (t1 - t0)
    inf = {"services": [{"name": "svc", "replicas": 1, "service_time_s": 0.01,
                         "replica_gb": 100.0, "latency_objective_s": 1.0, "rate_per_s": 2.0,
                         "regions": 1, "diurnal_amplitude": 0.0}]}
    sc2 = sc.model_copy(update={"inference": type(sc.inference).model_validate(inf),
                                "hardware": sc.hardware.model_copy(update={"thermal": None})})
    eng = make_engine(sc2, _ReplicaOn(b, a), eclipse=[(b, move_at, move_at + 60.0)],
                      isl=[(int(cross.sat_a), int(cross.sat_b), t0 - 100.0, t1 + 100.0)],
                      ground=[("Tokyo", a, t0, t1, np.nan)], n_sats=len(fleet),
                      ephemeris=eph)
    eng.run()
    check_invariants(eng)
    df = eng.inference.requests_frame()
    served = df[(df.status == "served") & (df.t_s > t0) & (df.t_s < move_at)]
    assert len(served) > 100 and (served.sat == b).all()
    t = served.t_s.to_numpy()
    r, _ = fleet.propagate(t)
    site, _ = station_frames(fleet.timebase, sc.ground_stations, t)
    up = np.linalg.norm(r[a] - site[0], axis=1)
    hop = np.linalg.norm(r[b] - r[a], axis=1)
    truth = 2.0 * (up + hop) / SPEED_OF_LIGHT_KM_S
    err = np.abs(served.propagation_s.to_numpy() - truth)
    assert err.max() < 4 * 1e-3 / SPEED_OF_LIGHT_KM_S, err.max()    # 4 lengths, 1 m each
    assert up.max() - up.min() > 300.0 and hop.max() - hop.min() > 5.0   # they do move
    # the transfer: sent over b -> a from move_at for 100 GB * 8 / 100 Gbps = 8 s, then the
    # light time of the link at the instant the last byte left
    ev = eng.rec.events_frame()
    end = float(ev[ev.kind == "replica_move_end"].t_s.iloc[0])
    t_send = move_at + 8.0
    rs, _ = fleet.propagate(np.array([t_send]))
    light = np.linalg.norm(rs[a, 0] - rs[b, 0]) / SPEED_OF_LIGHT_KM_S
    assert end - t_send == pytest.approx(light, abs=1e-3 / SPEED_OF_LIGHT_KM_S)
    rs0, _ = fleet.propagate(np.array([t0 - 100.0]))     # what a frozen length would say
    frozen = np.linalg.norm(rs0[a, 0] - rs0[b, 0]) / SPEED_OF_LIGHT_KM_S
    assert abs(frozen - light) > 1e-5                      # > 3 km of difference
    assert eng.net.ranges is not None


def test_link_ranges_checks_its_period():
    t = np.array([0.0, 60.0])
    z = np.zeros((2, 1, 3), np.float32)
    eph = GridEphemeris(t, z, z, 1)
    with pytest.raises(NetworkError, match="range_update_s"):
        LinkRanges(eph, 0.0)
    with pytest.raises(NetworkError, match="range_update_s"):
        LinkRanges(eph, math.nan)
    assert LinkRanges(eph, 10.0).weight_time_s(59.0) == 50.0
    with pytest.raises(PropagationError, match="shape"):
        GridEphemeris(t, z, np.zeros((2, 2, 3), np.float32), 1)
