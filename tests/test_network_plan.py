"""The laser network driven by a real contact plan (geometry -> contacts -> network)."""
import simpy

from orbsched import scenario_from_dict
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.network.laser import LaserNetwork


def _plan(tmp_path, topology="+grid"):
    sc = scenario_from_dict({
        "start_utc": "2024-06-21T00:00:00Z", "duration_h": 2, "step_s": 60,
        "constellations": [{"type": "walker", "name": "w", "planes": 8, "sats_per_plane": 12,
                            "phasing": 1, "altitude_km": 550, "inclination_deg": 53}],
        "ground_stations": [{"name": "Bluffton", "lat_deg": 40.8939, "lon_deg": -83.8917}],
        "network": {"topology": topology}})
    fleet, sc = build_constellation(sc)
    return fleet, sc, compute_contact_plan(fleet, sc, cache_dir=tmp_path)


def test_replayed_plan_matches_open_windows_and_carries_a_transfer(tmp_path):
    fleet, sc, plan = _plan(tmp_path)
    env = simpy.Environment()
    net = LaserNetwork(env, len(fleet), sc.ground_stations, options=sc.network)
    env.process(net.replay(plan.isl_windows, plan.ground_windows))
    isl = plan.isl_windows
    seen = []

    def probe():
        for t in (600.0, 2400.0, 5000.0):
            yield env.timeout(t - env.now)
            open_ = isl[(isl.start_s <= t) & (isl.end_s > t)]
            links = {tuple(sorted(e)) for e in net.graph.edges()
                     if max(e) < len(fleet)}
            assert links == set(zip(open_.sat_a, open_.sat_b))
            seen.append(len(links))

    env.process(probe())
    # a checkpoint from plane 0 to the opposite plane, across several hops
    done = {}

    def move():
        yield env.timeout(300.0)
        rec = (yield net.transfer(0, 4 * 12 + 6, 112.0, label="7B checkpoint"))
        done["rec"] = rec

    env.process(move())
    env.run(until=sc.duration_s)
    assert min(seen) > len(fleet)  # +grid: ~2 links per satellite
    rec = done["rec"]
    assert rec.ok and rec.delivered_gb == 112.0
    hops = len(rec.paths[0]) - 1
    assert hops >= 3
    # 112 GB at 100 Gbps is 8.96 s plus light time over the hops (< 5,000 km each)
    assert 8.96 < rec.end_s - rec.start_s < 8.96 + hops * 5000 / 299792.458 + 1e-6
