"""The guard around policy hooks (orbsched.engine.hookguard) and the view's read-only arrays."""
import signal
import threading
import time

import numpy as np
import pytest
from engine_helpers import job, make_engine, scenario

from orbsched.engine.hookguard import HookGuard
from orbsched.policies import Place, Policy
from orbsched.scenario.errors import PolicyError


def _loop(job, view):
    while True:
        pass


def test_a_looping_hook_is_stopped_with_the_hook_and_time_named():
    g = HookGuard("p", 0.3, lambda: 1234.5)
    t0 = time.perf_counter()
    with pytest.raises(PolicyError, match=r"policy 'p', hook on_tick at t = 1234.500 s "
                                          r"\(simulated\): ran longer than its budget of 0.3 s"):
        g.call("on_tick", _loop, (None, None), lambda d: None)
    assert time.perf_counter() - t0 < 3.0
    g.close()


def test_the_watchdog_thread_fallback_stops_a_loop_outside_the_main_thread():
    out = {}

    def run():
        g = HookGuard("p", 0.3, lambda: 7.0)
        out["mode"] = g.mode
        try:
            g.call("on_job_arrival", _loop, (None, None), lambda d: None)
        except PolicyError as exc:
            out["error"] = str(exc)
        finally:
            g.close()
    th = threading.Thread(target=run)
    th.start()
    th.join(10)
    assert not th.is_alive()
    assert out["mode"] == "thread" and "budget of 0.3 s" in out["error"]


def test_sigalrm_handler_is_restored_and_no_timer_is_left():
    before = signal.getsignal(signal.SIGALRM)
    g = HookGuard("p", 5.0, lambda: 0.0)
    g.call("on_tick", lambda v: [Place(0, 1)], (None,), lambda d: None)
    assert signal.getsignal(signal.SIGALRM) is not before
    g.close()
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_engine_s_rejections_pass_through_unchanged():
    g = HookGuard("p", 5.0, lambda: 0.0)
    boom = PolicyError("policy 'p': decision Place(job_id=0, sat=1) rejected: no job 0")

    def apply(d):
        raise boom
    with pytest.raises(PolicyError) as info:
        g.call("on_tick", lambda v: [Place(0, 1)], (None,), apply)
    assert info.value is boom
    g.close()


def test_a_policy_exception_names_its_line():
    def hook(view):
        return {}["missing"]
    g = HookGuard("p", None, lambda: 3.0)
    with pytest.raises(PolicyError, match=r"hook on_tick at t = 3.000 s .*raised KeyError: "
                                          r"'missing' \(test_hookguard.py:\d+ in hook\)"):
        g.call("on_tick", hook, (None,), lambda d: None)


@pytest.mark.parametrize("value, expected", [
    (42, "returned 42 (int)"), ("Place", "returned 'Place' (str)"),
    ({"a": 1}, "(dict)"), (Place(0, 1), "put a single decision in a list")])
def test_bad_return_values_are_rejected_like_bad_decisions(value, expected):
    g = HookGuard("p", 5.0, lambda: 0.0)
    with pytest.raises(PolicyError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        g.call("on_tick", lambda v: value, (None,), lambda d: None)
    g.close()


def test_view_arrays_cannot_be_made_writable_and_follow_the_engine():
    sc = scenario(3)
    eng = make_engine(sc, Policy(), jobs=[job(0, gpus=2, work_gpu_h=1.0)])
    view = eng.view
    for name in ("free", "state", "next_eclipse_entry_s", "eclipse_exit_s"):
        arr = getattr(view, name)
        with pytest.raises(ValueError):
            arr.flags.writeable = True
        with pytest.raises(ValueError):
            arr[0] = 0
        with pytest.raises(ValueError):
            np.copyto(arr, 0)
    eng.run()
    assert np.array_equal(view.free, eng.fleet.free)   # zero-copy: the fleet's own memory
    assert view.free.__array_interface__["data"][0] == \
        eng.fleet.free.__array_interface__["data"][0]


POLICY_FILE = """\
from orbsched.policies import GreedySunlit


class Fragile(GreedySunlit):
    name = "fragile"

    def place(self, job, view):
        if job.job_id == 3:
            sat = int(view.hosts(job.gpus)[0])
            return {}["no key"] if sat >= 0 else None
        return super().place(job, view)
"""


def test_a_policy_exception_names_hook_time_job_satellite_and_file_line(tmp_path, repo,
                                                                         capsys):
    """One line (issue 17): the hook, the simulated time, the job and satellite the policy
    was handling, the policy's own file:line; the traceback only with --debug."""
    from orbsched.cli import main

    (tmp_path / "fragile.py").write_text(POLICY_FILE)
    args = ["run", str(repo / "configs" / "demo.yaml"), "--out", str(tmp_path / "out"),
            "--set", f"policy={tmp_path / 'fragile.py'}:Fragile", "--set", "duration_h=1",
            "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith("orbsched: error: policy 'fragile', hook schedule at t = ")
    assert ", job 3, satellite " in line
    assert "raised KeyError: 'no key' (fragile.py:10 in place)" in line
    assert main(args + ["--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_exception_in_on_shadow_names_the_satellites_entering_shadow():
    g = HookGuard("p", None, lambda: 5.0)
    sats = np.array([4, 9])

    def on_shadow(sats, view):
        return [][0]
    with pytest.raises(PolicyError, match=r"t = 5.000 s \(simulated\), satellites 4, 9 "
                                          r"entering shadow: raised IndexError"):
        g.call("on_shadow", on_shadow, (sats, None), lambda d: None)
