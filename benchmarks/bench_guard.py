"""What issue 16's policy protections cost: read-only view arrays and the hook guard.

Run:  python benchmarks/bench_guard.py [--config configs/starlink-shell1.yaml] [--hours H]

1. View arrays.  A policy sees the engine's ``free``, ``state``, ``next_eclipse_entry_s`` and
   ``eclipse_exit_s`` through arrays that cannot be made writable (numpy arrays over a
   read-only memoryview of the engine's buffers, :func:`orbsched.engine.view._ro`).  Measured on
   1,584 satellites against the read-only *view* the engine used before (which a policy could
   flip back to writable) and against handing out copies at each hook call: the time to build
   one, and the time of the typical reads a hook makes (a mask, a sum, a fancy index).
2. Hook guard.  Every hook call goes through :class:`orbsched.engine.hookguard.HookGuard`: a
   wall-clock budget (a one-shot SIGALRM timer in the main thread, or a watchdog thread) and
   checks of what the hook returns.  Measured per call against calling the hook directly,
   with a hook that yields two decisions (the engine's ``apply`` a no-op).
3. In situ: a run of ``--config`` for ``--hours`` with ``policy.hook_budget_s`` at its default
   (60 s) against ``null`` (no timer), geometry cached first; best of three engine times.
Ratios against references measured in the same run; the machine may be shared.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import timeit
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _old_ro(a):
    v = a.view()
    v.flags.writeable = False
    return v


def view_arrays(n=1584, repeat=200_000):
    from orbsched.engine.view import _ro

    free = np.full(n, 4, np.int64)
    state = np.zeros(n, np.int8)
    out = {}
    for name, make in (("memoryview (now)", _ro), ("flag-only view (before)", _old_ro),
                       ("copy per call", np.copy)):
        build = min(timeit.repeat(lambda make=make: make(free), number=repeat // 10, repeat=3)) \
            / (repeat // 10)
        f, s = make(free), make(state)
        reads = min(timeit.repeat(
            lambda f=f, s=s: ((f >= 2) & (s == 0)).sum() + int(f[[3, 7, 11]].sum()),
            number=repeat // 10, repeat=3)) / (repeat // 10)
        out[name] = (build, reads)
    ref_b, ref_r = out["flag-only view (before)"]
    print(f"1. view arrays over {n} satellites (per operation; ratio to the flag-only view)")
    for name, (b, r) in out.items():
        print(f"   {name:26s} build {b * 1e6:7.3f} us ({b / ref_b:5.2f}x)   "
              f"typical reads {r * 1e6:7.3f} us ({r / ref_r:5.2f}x)")
    ro = _ro(free)
    try:
        ro.flags.writeable = True
        print("   ERROR: the view could be made writable")
    except ValueError:
        print("   flags.writeable = True on the view raises ValueError (as intended)")


def hook_guard(calls=200_000):
    from orbsched.engine.hookguard import HookGuard
    from orbsched.policies import Place

    decisions = [Place(0, 1), Place(1, 2)]

    def hook(job, view):
        yield from decisions

    def apply(d):
        pass

    def direct():
        for d in hook(None, None):
            apply(d)

    res = {"direct call": min(timeit.repeat(direct, number=calls, repeat=3)) / calls}
    for label, budget, in_thread in (("guard, no budget", None, False),
                                     ("guard, SIGALRM budget", 60.0, False),
                                     ("guard, watchdog thread", 60.0, True)):
        holder = {}

        def measure(budget=budget, holder=holder):
            g = HookGuard("bench", budget, lambda: 0.0)
            holder["mode"] = g.mode
            t = min(timeit.repeat(lambda: g.call("on_job_arrival", hook, (None, None), apply),
                                  number=calls, repeat=3)) / calls
            g.close()
            holder["t"] = t
        if in_thread:
            th = threading.Thread(target=measure)
            th.start()
            th.join()
        else:
            measure()
        res[f"{label} [{holder['mode']}]"] = holder["t"]
    ref = res["direct call"]
    print("2. hook calls (a generator hook yielding 2 decisions; per call)")
    for name, t in res.items():
        print(f"   {name:36s} {t * 1e6:7.3f} us  ({t / ref:5.2f}x direct, "
              f"+{(t - ref) * 1e6:.3f} us)")


def in_situ(config, hours):
    from orbsched.run import simulate
    from orbsched.scenario.schema import load_scenario

    cache = tempfile.mkdtemp(prefix="bench-guard-")
    times = {}
    for budget in ("60", "null"):
        sc = load_scenario(config, [f"duration_h={hours}", f"policy.hook_budget_s={budget}"])
        simulate(sc, cache_dir=cache)                           # fills the cache
        best, hooks = [], None
        for _ in range(3):
            res = simulate(sc, cache_dir=cache)
            best.append(res.timings_s["engine"])
            hooks = res.engine.stats["decisions"]
        times[budget] = min(best)
    print(f"3. {Path(config).name}, {hours:g} h: engine {times['60']:.2f} s with the 60 s "
          f"budget, {times['null']:.2f} s without a timer ({times['60'] / times['null']:.3f}x; "
          f"{hooks} decisions applied)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "configs" / "starlink-shell1.yaml"))
    p.add_argument("--hours", type=float, default=3.0)
    p.add_argument("--skip-run", action="store_true", help="parts 1 and 2 only")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at the start (shared machines: "
          f"compare the ratios)")
    view_arrays()
    hook_guard()
    if not args.skip_run:
        in_situ(args.config, args.hours)


if __name__ == "__main__":
    main()
