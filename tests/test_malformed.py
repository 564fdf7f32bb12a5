"""Malformed inputs under `orbsched validate` and `orbsched run` (issue 16).

Each case is a scenario, element file, ephemeris, trace or policy that is wrong in one way.
Every one must make both commands exit non-zero with one error line (``orbsched: error:``)
naming the file or field, without a traceback, within 10 s and 500 MB (both measured: wall
time, and the peak resident memory above the level before the case, reset through
/proc/self/clear_refs).  ``validate`` must reject every case ``run`` rejects, with the same
line (they share :func:`orbsched.preflight.prepare`), except the cases marked ``run_only``:
a policy's hooks run at events, after ``validate``'s scope by definition.
"""
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc

import pytest
from sgp4.exporter import export_tle

from orbsched.cli import main
from orbsched.geometry.orbits import circular_satrec, tle_checksum
from orbsched.scenario.utc import parse_utc

START = "2024-06-21T00:00:00Z"
BASE = f"""\
name: bad
start_utc: {START}
duration_h: 1
step_s: 60
constellations:
  - {{type: walker, name: w, planes: 2, sats_per_plane: 3, altitude_km: 550,
     inclination_deg: 53}}
network: {{topology: none}}
workload: {{type: synthetic, n_jobs: 6, rate_per_h: 30}}
record: {{sample_s: 600}}
"""
TIME_LIMIT_S = 10.0
MEMORY_LIMIT_MB = 500.0


# ------------------------------------------------------------------------------- inputs
def _tle_lines(name="SAT-1", alt=550.0, num=90001):
    sat = circular_satrec(num, parse_utc(START), alt, 53.0, 10.0, 20.0)
    l1, l2 = export_tle(sat)
    return [name, l1, l2]


def _fix_checksum(line):
    return line[:68] + str(tle_checksum(line))


def _tle_text(lines):
    return "\n".join(lines) + "\n"


def _omm_record(**change):
    rec = {"OBJECT_NAME": "SAT-1", "OBJECT_ID": "2024-001A", "EPOCH": "2024-06-21T00:00:00",
           "MEAN_MOTION": 15.05, "ECCENTRICITY": 0.0001, "INCLINATION": 53.0,
           "RA_OF_ASC_NODE": 10.0, "ARG_OF_PERICENTER": 0.0, "MEAN_ANOMALY": 20.0,
           "NORAD_CAT_ID": 90001, "BSTAR": 0.0, "MEAN_MOTION_DOT": 0.0,
           "MEAN_MOTION_DDOT": 0.0}
    rec.update(change)
    return rec


def _ephemeris(rows=70, step_s=60.0, t0="2024-06-21T00:00:00", bad=None):
    """A circular 550 km orbit tabulated every step_s (GCRS km, km/s); ``bad`` = (row,
    column, text) replaces one value."""
    r, w = 6928.137, math.sqrt(398600.4418 / 6928.137 ** 3)
    t_first = parse_utc(t0 + "Z")
    lines = ["time_utc,x_km,y_km,z_km,vx_km_s,vy_km_s,vz_km_s"]
    for k in range(rows):
        t = k * step_s
        vals = [r * math.cos(w * t), r * math.sin(w * t), 0.0,
                -r * w * math.sin(w * t), r * w * math.cos(w * t), 0.0]
        cells = [f"{v:.6f}" for v in vals]
        if bad is not None and bad[0] == k:
            cells[bad[1]] = bad[2]
        stamp = (t_first.timestamp() + t)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + "Z"
        lines.append(",".join([iso] + cells))
    return "\n".join(lines) + "\n"


def _philly(bad=None):
    rows = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    for k in range(5):
        vals = [f"2017-10-03 0{k}:00:00", "600", "1", "600", "c1"]
        if bad is not None and bad[0] == k:
            vals[bad[1]] = bad[2]
        rows.append(",".join(vals))
    return "\n".join(rows) + "\n"


FLEET_FILE = "constellations: [{{type: {kind}, name: f, path: {path}}}]\n"
POLICY = "from orbsched.policies import Policy\n\nclass Bad(Policy):\n    name = 'bad'\n"


def _with(body="", files=None, sets=(), text=None, expect=(), run_only=False, details=False):
    return {"body": body, "files": files or {}, "sets": list(sets), "text": text,
            "expect": list(expect), "run_only": run_only, "details": details}


def _fleet(kind, path):
    return BASE.replace(BASE[BASE.index("constellations:"):BASE.index("network:")],
                        FLEET_FILE.format(kind=kind, path=path))


def _bomb():
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return BASE + "\n".join(lines) + "\n"


def _nan_tle():
    name, l1, l2 = _tle_lines()
    l2 = _fix_checksum(l2[:52] + "nan".ljust(11) + l2[63:])
    return _tle_text([name, l1, l2])


def _bad_checksum_tle():
    name, l1, l2 = _tle_lines()
    return _tle_text([name, l1, l2[:68] + str((int(l2[68]) + 1) % 10)])


def _zero_mean_motion_tle():
    name, l1, l2 = _tle_lines()
    return _tle_text([name, l1, _fix_checksum(l2[:52] + " 0.00000000" + l2[63:])])


CASES = {
    # ---------------------------------------------------------------- the issue's cases
    "nan-raan": _with(sets=["constellations[0].raan_offset_deg=.nan"],
                      expect=["raan_offset_deg", "finite"]),
    "bool-duration": _with(sets=["duration_h=true"], expect=["duration_h", "boolean"]),
    "duplicate-key": _with(text=BASE + "duration_h: 2\n",
                           expect=["line 11", "duplicate key 'duration_h'"]),
    "anchor-bomb": _with(text=_bomb(), expect=["bad.yaml", "expand"]),
    "binary-scenario": _with(text=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
                             expect=["bad.yaml", "UTF-8"]),
    "start-1800": _with(sets=["start_utc=1800-01-01T00:00:00Z"], expect=["start_utc", "DE421"]),
    "start-2060": _with(sets=["start_utc=2060-01-01T00:00:00Z"], expect=["start_utc", "DE421"]),
    "end-past-2053": _with(sets=["start_utc=2053-10-07T00:00:00Z", "duration_h=48"],
                           expect=["duration_h", "DE421"]),
    "month-13": _with(sets=["start_utc=2024-13-01"], expect=["start_utc", "2024-13-01"]),
    "month-13-in-file": _with(text=BASE.replace(START, "2024-13-01"),
                              expect=["bad.yaml", "line 2", "month"]),
    "inf-gpu-speed": _with(sets=["hardware.gpu_speed=.inf"], expect=["gpu_speed", "finite"]),
    "name-is-a-path": _with(sets=["name=../../../x"], expect=["name", "not a path"]),
    "name-with-slash": _with(sets=["name=a/b"], expect=["name", "not a path"]),
    "tiny-sample": _with(sets=["record.sample_s=1e-6"], expect=["record.sample_s", "limit"]),
    "tiny-tick": _with(sets=["policy.tick_s=1e-9"], expect=["policy.tick_s", "limit"]),
    "tiny-step": _with(sets=["step_s=1e-9"], expect=["step_s", "limit"]),
    "tiny-frame-nodes": _with(sets=["geometry.frame_node_s=1e-9"],
                              expect=["geometry.frame_node_s", "limit"]),
    "huge-fleet": _with(sets=["constellations[0].planes=100000",
                              "constellations[0].sats_per_plane=100000"],
                        expect=["constellations", "satellites", "limit"]),
    "huge-n-jobs": _with(sets=["workload.n_jobs=1000000000000"], expect=["workload", "jobs"]),
    "huge-arrival-rate": _with(sets=["workload.n_jobs=null", "workload.rate_per_h=1e12"],
                               expect=["workload", "jobs"]),
    "huge-request-rate": _with(text=BASE + "inference: {services: [{name: s, "
                               "service_time_s: 1, latency_objective_s: 1, "
                               "rate_per_s: 1e12}]}\n", expect=["rate_per_s", "requests"]),
    "huge-upset-rate": _with(sets=["faults.radiation.rad_per_sdc=1e-30"],
                             expect=["faults.radiation", "upsets"]),
    # ------------------------------------------------------------------- scenario fields
    "bool-gpus": _with(sets=["hardware.gpus=true"], expect=["hardware.gpus", "boolean"]),
    "bool-seed": _with(sets=["seed=true"], expect=["seed", "boolean"]),
    "negative-seed": _with(sets=["seed=-1"], expect=["seed"]),
    "bool-in-dataclass": _with(sets=["hardware.battery.capacity_wh=true"],
                               expect=["hardware.battery.capacity_wh", "boolean"]),
    "nan-in-dataclass": _with(sets=["hardware.battery.capacity_wh=.nan"],
                              expect=["hardware.battery.capacity_wh", "finite"]),
    "inf-thermal": _with(sets=["hardware.thermal.radiator_area_m2=.inf"],
                         expect=["hardware.thermal.radiator_area_m2", "finite"]),
    "bool-in-polygon": _with(sets=["faults.radiation.saa.polygon=[[0,0],[1,true],[2,0]]"],
                             expect=["faults.radiation.saa.polygon[1][1]", "boolean"]),
    "nan-station": _with(sets=["ground_stations=[{name: g, lat_deg: .nan, lon_deg: 0}]"],
                         expect=["ground_stations[0].lat_deg", "finite"]),
    "unknown-key": _with(sets=["hardware.batery=1"], expect=["hardware.batery", "battery"]),
    "bad-index": _with(sets=["constellations[5].planes=1"], expect=["--set", "[5]"]),
    "wrong-type": _with(sets=["duration_h=soon"], expect=["duration_h", "soon"]),
    "duration-too-long": _with(sets=["duration_h=1e9"], expect=["duration_h"]),
    "script-sat-missing": _with(sets=["faults.script=[{kind: satellite_fail, sat: 99, "
                                      "at_s: 60}]"], expect=["bad.yaml", "faults.script[0].sat",
                                                             "no satellite 99"]),
    "script-link-missing": _with(sets=["faults.script=[{kind: link_down, a: 0, b: 50, "
                                       "at_s: 60}]"], expect=["faults.script[0].b"]),
    "datacentre-no-station": _with(sets=["datacentres=[{name: d, station: nowhere, gpus: 4}]"],
                                   expect=["datacentres[0].station", "nowhere"]),
    "epoch-without-elements": _with(sets=["start_utc=epoch"], expect=["start_utc", "epoch"]),
    "deep-nesting": _with(text=BASE + "x: " + "[" * 3000 + "]" * 3000 + "\n",
                          expect=["bad.yaml", "line 11", "nested more than 64"]),
    "recursive-alias": _with(text=BASE + "x: &r [1, *r]\n", expect=["bad.yaml", "recursive"]),
    "yaml-syntax": _with(text=BASE + "x: [1, 2\n", expect=["bad.yaml", "not valid YAML"]),
    "not-a-mapping": _with(text="- 1\n- 2\n", expect=["bad.yaml", "mapping"]),
    "tab-indent": _with(text=BASE + "record:\n\tsample_s: 60\n", expect=["bad.yaml", "line"]),
    "missing-file": _with(text=None, expect=["nowhere.yaml", "cannot read"]),
    # -------------------------------------------------------------------------- policies
    "unknown-policy": _with(sets=["policy.name=greedy-sunlt"], expect=["greedy-sunlit"]),
    "policy-file-missing": _with(sets=["policy.name=nope.py:Bad"], expect=["nope.py"]),
    "policy-syntax-error": _with(files={"pol.py": "def broken(:\n"},
                                 sets=["policy.name=pol.py:Bad"], expect=["pol.py",
                                                                          "SyntaxError"]),
    "policy-not-a-policy": _with(files={"pol.py": "class Bad:\n    pass\n"},
                                 sets=["policy.name=pol.py:Bad"], expect=["pol.py:Bad",
                                                                          "not a subclass"]),
    "policy-bad-option": _with(sets=["policy.name=lookahead", "policy.options={candidates: .nan}"],
                               expect=["lookahead", "candidates"]),
    "policy-unknown-option": _with(sets=["policy.options={foo: 1}"],
                                   expect=["greedy-sunlit", "foo"]),
    "policy-inf-lookahead": _with(sets=["policy.options={group_lookahead_s: .inf}"],
                                  expect=["group_lookahead_s", "finite"]),
    "policy-bool-option": _with(sets=["policy.name=random", "policy.options={p_migrate: true}"],
                                expect=["p_migrate", "number"]),
    "hook-returns-42": _with(files={"pol.py": POLICY + "    def schedule(self, "
                                                       "view):\n        return 42\n"},
                             sets=["policy.name=pol.py:Bad"], run_only=True,
                             expect=["hook schedule", "42", "t = "]),
    "hook-returns-one-decision": _with(
        files={"pol.py": POLICY + "    def schedule(self, view):\n"
                                  "        from orbsched.policies import Place\n"
                                  "        return Place(0, 0)\n"},
        sets=["policy.name=pol.py:Bad"], run_only=True, expect=["schedule", "list"]),
    "hook-yields-a-string": _with(
        files={"pol.py": POLICY + "    def schedule(self, view):\n"
                                  "        yield 'place it'\n"},
        sets=["policy.name=pol.py:Bad"], run_only=True, expect=["schedule", "place it"]),
    "hook-raises": _with(files={"pol.py": POLICY + "    def place(self, job, view):\n"
                                                   "        return 1 / 0\n"},
                         sets=["policy.name=pol.py:Bad"], run_only=True,
                         expect=["schedule", "ZeroDivisionError", "pol.py:6"]),
    "hook-hangs": _with(files={"pol.py": POLICY + "    def place(self, job, view):\n"
                                                  "        while True:\n"
                                                  "            pass\n"},
                        sets=["policy.name=pol.py:Bad", "policy.hook_budget_s=0.5"],
                        run_only=True, expect=["schedule", "budget of 0.5 s", "t = "]),
    "hook-sleeps-and-swallows": _with(
        files={"pol.py": POLICY + "    def place(self, job, view):\n"
                                  "        import time\n"
                                  "        for _ in range(6):\n"
                                  "            try:\n"
                                  "                time.sleep(10)\n"
                                  "            except BaseException:\n"
                                  "                pass\n"},
        sets=["policy.name=pol.py:Bad", "policy.hook_budget_s=0.5"], run_only=True,
        expect=["schedule", "budget"]),
    "hook-writes-the-view": _with(
        files={"pol.py": POLICY + "    def place(self, job, view):\n"
                                  "        view.free.flags.writeable = True\n"
                                  "        view.free[:] = 99\n"},
        sets=["policy.name=pol.py:Bad"], run_only=True,
        expect=["schedule", "WRITEABLE"]),
    "place-replicas-returns-42": _with(
        files={"pol.py": "from orbsched.policies import Policy, ReplicaStrategy\n\n"
                                  "class R(ReplicaStrategy):\n"
                                  "    def place(self, service, count, gpus, view):\n"
                                  "        return 42\n\n"
                                  "class Bad(Policy):\n    name = 'bad'\n\n"
                                  "    def __init__(self):\n        super().__init__()\n"
                                  "        self.replicas = R()\n"},
        text=BASE + "policy: pol.py:Bad\ninference: {services: [{name: s, service_time_s: 1, "
                    "latency_objective_s: 1, rate_per_s: 0.1}]}\n",
        run_only=True, expect=["replicas.place", "42"]),
    # ----------------------------------------------------------------- element files
    "tle-checksum": _with(files={"f.tle": _bad_checksum_tle()}, text=_fleet("tle", "f.tle"),
                          expect=["f.tle", "line 3", "checksum"], details=True),
    "tle-truncated": _with(files={"f.tle": _tle_text(_tle_lines()[:2])},
                           text=_fleet("tle", "f.tle"), expect=["f.tle", "line 2"]),
    "tle-nan-mean-motion": _with(files={"f.tle": _nan_tle()}, text=_fleet("tle", "f.tle"),
                                 expect=["f.tle", "line 2", "MEAN_MOTION", "nan"]),
    "tle-zero-mean-motion": _with(files={"f.tle": _zero_mean_motion_tle()},
                                  text=_fleet("tle", "f.tle"),
                                  expect=["no satellite is left", "SAT-1"]),
    "tle-binary": _with(files={"f.tle": b"\x00\x01\x02\xff\xfe" * 20},
                        text=_fleet("tle", "f.tle"), expect=["f.tle"], details=True),
    "omm-nan-token": _with(files={"f.json": "[" + json.dumps(_omm_record(
        MEAN_MOTION=float("nan"))) + "]"}, text=_fleet("omm", "f.json"),
        expect=["f.json", "line 1", "MEAN_MOTION", "nan"]),
    "omm-nan-string": _with(files={"f.json": json.dumps([_omm_record(MEAN_MOTION="NaN")])},
                            text=_fleet("omm", "f.json"), expect=["f.json", "MEAN_MOTION"]),
    "omm-inf-eccentricity": _with(files={"f.json": json.dumps([_omm_record(
        ECCENTRICITY="inf")])}, text=_fleet("omm", "f.json"), expect=["f.json", "ECCENTRICITY"]),
    "omm-missing-field": _with(files={"f.json": json.dumps([{k: v for k, v in
                                                             _omm_record().items()
                                                             if k != "BSTAR"}])},
                               text=_fleet("omm", "f.json"), expect=["f.json", "BSTAR"]),
    "omm-broken-json": _with(files={"f.json": '[{"OBJECT_NAME": "x",'},
                             text=_fleet("omm", "f.json"), expect=["f.json", "JSON"]),
    "omm-binary": _with(files={"f.json": b"\xff\xfe\x00[{"}, text=_fleet("omm", "f.json"),
                        expect=["f.json", "UTF-8"]),
    "omm-bool-mean-motion": _with(files={"f.json": json.dumps([_omm_record(
        MEAN_MOTION=True)])}, text=_fleet("omm", "f.json"), expect=["f.json", "True"]),
    "omm-csv-inf": _with(files={"f.csv": ",".join(_omm_record()) + "\n" + ",".join(
        str(v) if k != "INCLINATION" else "inf" for k, v in _omm_record().items()) + "\n"},
        text=_fleet("omm", "f.csv"), expect=["f.csv", "line 2", "INCLINATION"]),
    "ephemeris-nan": _with(files={"e.csv": _ephemeris(bad=(5, 0, "nan"))},
                           text=_fleet("ephemeris", "e.csv"),
                           expect=["e.csv", "line 7", "x_km", "nan"]),
    "ephemeris-nan-after-comments": _with(
        files={"e.csv": "# GMAT export\n# frame: EME2000\n#\n" + _ephemeris(bad=(5, 1, "nan"))},
        text=_fleet("ephemeris", "e.csv"), expect=["e.csv", "line 10", "y_km", "nan"]),
    "ephemeris-inf": _with(files={"e.csv": _ephemeris(bad=(9, 4, "-inf"))},
                           text=_fleet("ephemeris", "e.csv"),
                           expect=["e.csv", "line 11", "vy_km_s"]),
    "ephemeris-text": _with(files={"e.csv": _ephemeris(bad=(3, 2, "north"))},
                            text=_fleet("ephemeris", "e.csv"), expect=["e.csv", "z_km"]),
    "ephemeris-short-span": _with(files={"e.csv": _ephemeris(rows=10)},
                                  text=_fleet("ephemeris", "e.csv"),
                                  expect=["e.csv", "covers", "start_utc, duration_h"]),
    "ephemeris-backwards": _with(files={"e.csv": _ephemeris().replace(
        "2024-06-21T00:05:00Z", "2024-06-20T23:00:00Z")}, text=_fleet("ephemeris", "e.csv"),
        expect=["e.csv", "increase"]),
    "ephemeris-no-columns": _with(files={"e.csv": "t,x\n1,2\n"},
                                  text=_fleet("ephemeris", "e.csv"),
                                  expect=["e.csv", "missing column"]),
    "ephemeris-binary": _with(files={"e.csv": b"\xff\xd8\xff\xe0" * 10},
                              text=_fleet("ephemeris", "e.csv"), expect=["e.csv", "UTF-8"]),
    "ephemeris-bad-time": _with(files={"e.csv": _ephemeris().replace(
        "2024-06-21T00:03:00Z", "2024-06-21T25:03:00Z")}, text=_fleet("ephemeris", "e.csv"),
        expect=["e.csv", "time_utc"]),
    "element-file-missing": _with(text=_fleet("tle", "gone.tle"),
                                  expect=["constellations[0].path", "gone.tle"]),
    # -------------------------------------------------------------------------- traces
    "trace-nan-duration": _with(files={"p.csv": _philly(bad=(2, 1, "nan"))},
                                text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                                  "rate_per_h: 30}",
                                                  "workload: {type: trace, format: philly-csv, "
                                                  "path: p.csv}"),
                                expect=["p.csv", "line 4", "duration"]),
    "trace-inf-gpus": _with(files={"p.csv": _philly(bad=(0, 2, "inf"))},
                            text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                              "rate_per_h: 30}",
                                              "workload: {type: trace, format: philly-csv, "
                                              "path: p.csv}"),
                            expect=["p.csv", "line 2", "num_gpus"]),
    "trace-missing-column": _with(files={"p.csv": "timestamp,duration\n2017-10-03,5\n"},
                                  text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                                    "rate_per_h: 30}",
                                                    "workload: {type: trace, format: "
                                                    "philly-csv, path: p.csv}"),
                                  expect=["p.csv", "num_gpus"]),
    "trace-bad-time": _with(files={"p.csv": _philly(bad=(1, 0, "yesterday"))},
                            text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                              "rate_per_h: 30}",
                                              "workload: {type: trace, format: philly-csv, "
                                              "path: p.csv}"),
                            expect=["p.csv", "line 3", "timestamp"]),
    "trace-binary": _with(files={"p.csv": b"\x00\xff" * 64},
                          text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                            "rate_per_h: 30}",
                                            "workload: {type: trace, format: philly-csv, "
                                            "path: p.csv}"), expect=["p.csv"]),
    "trace-json-broken": _with(files={"p.json": "[{\"jobid\": 1, "},
                               text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                                 "rate_per_h: 30}",
                                                 "workload: {type: trace, format: philly-json, "
                                                 "path: p.json}"), expect=["p.json"]),
    "trace-missing-file": _with(text=BASE.replace("workload: {type: synthetic, n_jobs: 6, "
                                                  "rate_per_h: 30}",
                                                  "workload: {type: trace, format: philly-csv, "
                                                  "path: none.csv}"), expect=["none.csv"]),
    "trace-bad-scale": _with(sets=["workload={type: trace, format: philly-csv, path: p.csv, "
                                   "options: {time_scale: .nan}}"],
                             files={"p.csv": _philly()}, expect=["time_scale"]),
}


# ------------------------------------------------------------------------------ running
def _peak_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return math.nan


def _reset_peak():
    """Reset the peak-RSS counter (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _invoke(argv, capsys):
    """``orbsched ARGV`` in this process: (exit code, stderr, seconds, peak MB above the
    level before)."""
    capsys.readouterr()
    exact = _reset_peak()
    if exact:
        base = _peak_mb()
    else:
        tracemalloc.start()
    t0 = time.perf_counter()
    code = main(argv)
    wall = time.perf_counter() - t0
    if exact:
        peak = _peak_mb() - base
    else:
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    return code, capsys.readouterr().err, wall, peak


def _materialise(case, tmp):
    for name, content in case["files"].items():
        p = tmp / name
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    scenario = tmp / "bad.yaml"
    text = BASE if case["text"] is None else case["text"]
    (scenario.write_bytes if isinstance(text, bytes) else scenario.write_text)(text)
    if case is CASES["missing-file"]:
        scenario = tmp / "nowhere.yaml"
    args = [str(scenario)]
    for s in case["sets"]:
        args += ["--set", s]
    return args


def _check_error(name, case, code, err, wall, peak):
    lines = err.strip().splitlines()
    assert code != 0, f"{name}: exit 0"
    assert lines and lines[0].startswith("orbsched: error: "), (name, err)
    assert "Traceback" not in err, (name, err)
    if not case["details"]:
        assert len(lines) == 1, (name, err)
    else:                          # detail lines (a TLE template) are indented
        assert all(line.startswith(" ") for line in lines[1:]), (name, err)
    for word in case["expect"]:
        assert word in lines[0], (name, word, lines[0])
    assert wall < TIME_LIMIT_S, (name, wall)
    assert not peak > MEMORY_LIMIT_MB, (name, peak)


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_and_run_reject_it_in_one_line(name, tmp_path, capsys, monkeypatch):
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    args = _materialise(case, tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    run = _invoke(["run", *args, "--out", str(tmp_path / "out"), "--quiet", *cache], capsys)
    _check_error(name, case, *run)
    val = _invoke(["validate", *args], capsys)
    if case["run_only"]:
        assert val[0] == 0, (name, val[1])     # hooks run at events: after validate's reach
        return
    _check_error(name, case, *val)
    assert val[1].splitlines()[0] == run[1].splitlines()[0], (name, val[1], run[1])


def test_a_run_that_stopped_on_a_policy_error_leaves_partial_results(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol.py").write_text(POLICY + "    def on_tick(self, view):\n"
                                              "        if view.now_s > 1500:\n"
                                              "            return 42\n")
    (tmp_path / "bad.yaml").write_text(BASE + "policy: {name: pol.py:Bad, tick_s: 600}\n")
    out = tmp_path / "out"
    code, err, _, _ = _invoke(["run", str(tmp_path / "bad.yaml"), "--out", str(out),
                               "--quiet"], capsys)
    assert code == 2 and "hook on_tick at t = 1800.000 s" in err
    assert "partial results in" in err and len(err.strip().splitlines()) == 1
    note = json.loads((out / "incomplete.json").read_text())
    assert note["complete"] is False and note["stopped_at_s"] == 1800.0
    assert "on_tick" in note["error"] and not note["not_written"]
    assert not (out / "summary.json").exists()
    import pandas as pd
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert len(jobs) >= 1 and (jobs["arrival_s"] <= 1800.0).all()
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert ts["t_s"].max() == 1800.0
    from orbsched.results.folder import load_results
    from orbsched.scenario.errors import DataFileError
    with pytest.raises(DataFileError, match="incomplete results.*t = 1800.000 s"):
        load_results(out)


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(BASE.replace("duration_h: 1", "duration_h: true"))
    code, err, _, _ = _invoke(["validate", str(tmp_path / "bad.yaml"), "--debug"], capsys)
    assert code == 2 and err.startswith("orbsched: error: ") and "Traceback" in err


def test_an_internal_error_is_one_line_too(tmp_path, capsys, monkeypatch):
    (tmp_path / "ok.yaml").write_text(BASE)
    import orbsched.preflight as pf

    def boom(*a, **k):
        raise KeyError("something internal")
    monkeypatch.setattr(pf, "engine_over_no_geometry", boom)
    code, err, _, _ = _invoke(["validate", str(tmp_path / "ok.yaml")], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "internal error: KeyError" in err and "--debug" in err


def test_the_anchor_bomb_is_refused_in_well_under_a_second_and_100_mb(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(_bomb())
    code, err, wall, peak = _invoke(["validate", str(tmp_path / "bad.yaml")], capsys)
    assert code == 2 and "expand to more than" in err
    assert wall < 0.5 and peak < 100, (wall, peak)


def test_the_real_entry_point_exits_non_zero_with_one_line(tmp_path):
    """A few cases through ``python -m orbsched.cli`` (exit code, stderr of the process)."""
    env = {**os.environ, "ORBSCHED_CACHE": str(tmp_path / "cache")}
    for name in ("anchor-bomb", "month-13", "hook-returns-42"):
        case = CASES[name]
        d = tmp_path / name
        d.mkdir()
        args = _materialise(case, d)
        proc = subprocess.run([sys.executable, "-m", "orbsched.cli", "run", *args, "--out",
                               str(d / "out"), "--quiet"], capture_output=True, text=True,
                              timeout=120, cwd=d, env=env)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (name, proc.stderr)
        assert lines[0].startswith("orbsched: error: ") and "Traceback" not in proc.stderr


def test_excluded_and_stale_satellites_are_reported_and_written(tmp_path, capsys, monkeypatch):
    """Satellites SGP4 cannot propagate, and element sets far from the span, are on the
    one-screen summary and in the results folder (not dropped silently)."""
    monkeypatch.chdir(tmp_path)
    good = _tle_lines("GOOD", num=90001)
    stale = circular_satrec(90002, parse_utc("2024-05-01T00:00:00Z"), 550.0, 53.0, 40.0, 0.0)
    dead = _tle_lines("DEAD", num=90003)
    dead[2] = _fix_checksum(dead[2][:52] + " 0.00000000" + dead[2][63:])
    text = _tle_text(good + ["STALE", *export_tle(stale)] + dead)
    (tmp_path / "f.tle").write_text(text)
    (tmp_path / "s.yaml").write_text(_fleet("tle", "f.tle"))
    code, _, _, _ = _invoke(["validate", "s.yaml"], capsys)
    assert code == 0
    assert main(["validate", "s.yaml"]) == 0
    out = capsys.readouterr().out
    assert "# 2 satellites" not in out and "2 satellites" in out
    assert "excluded     1 satellite SGP4 could not propagate" in out and "DEAD" in out
    assert "stale        1 element set more than 7 d from the span (STALE" in out
    assert main(["run", "s.yaml", "--out", "o", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "excluded.csv" in out and "stale_elements.csv" in out
    import pandas as pd
    assert list(pd.read_csv(tmp_path / "o" / "excluded.csv")["name"]) == ["DEAD"]
    assert list(pd.read_csv(tmp_path / "o" / "stale_elements.csv")["name"]) == ["STALE"]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["fleet"] == {"satellites": 2, "excluded": 1, "stale_element_sets": 1}
