"""Where a sweep's runs execute: :class:`LocalPool` (spawned local processes that die with the
sweep) and :class:`DaskPool` (a Dask cluster).  :mod:`orbsched.sweep.execute` describes how a
sweep uses them (workers and deaths, retries, determinism)."""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections import deque

from ..scenario.errors import OrbschedError

#: What a run imports (preloaded by each worker as it starts).
_RUN_MODULES = ("geometry.astro", "geometry.contacts", "engine.core", "network.flows",
                "geometry.stage", "policies", "geometry.regions", "results.folder", "run")
#: Children run one BLAS/OpenMP thread each (as Dask's nanny does): no oversubscription, and
#: the same arithmetic on either executor.
_CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _worker_init(parent_pid):
    """Pool initializer: die with the sweep process; exit without the interpreter's teardown."""
    _die_with_parent(parent_pid)
    import atexit

    atexit.register(_exit_now)


def _exit_now():
    """A worker's last step (at exit, after its results were sent and the pool let it go):
    flush, then ``os._exit``.  Python's own teardown frees every module and object one by one
    (pandas, scipy, skyfield...): about half a second per worker, at the end of every sweep,
    with nothing left to save.  Exit handlers registered after the pool started have run by
    then; not so earlier ones, so under ``coverage`` (which saves its data at exit) the worker
    exits normally."""
    import logging

    if "coverage" in sys.modules:
        return

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # None, closed, broken
            stream.flush()
    os._exit(0)


def _die_with_parent(parent_pid):
    """A worker is killed when the sweep process dies (Linux), so a killed sweep leaves no
    runs going on behind the back of the one that resumes it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl: best effort
        return
    if os.getppid() != parent_pid:     # the parent died before prctl took effect
        os._exit(1)


def _warm_up():
    """Import (and load) what a run needs; submitted once per worker when the pool opens, so
    that every worker starts at once and pays this in parallel, not when its first run comes
    (and a worker left without a plan to compute does it while another computes one)."""
    import importlib

    for name in _RUN_MODULES:
        importlib.import_module(f"orbsched.{name}")
    # the lazily imported libraries, the time scale and the Sun/Moon ephemeris of the geometry
    with contextlib.suppress(ImportError, OSError):  # the first run reports them properly
        importlib.import_module("pyarrow.parquet")
        astro = importlib.import_module("orbsched.geometry.astro")
        astro.timescale()
        astro.ephemeris()


class LocalPool:
    """``workers`` spawned processes; see the module docstring for how deaths are counted."""

    def __init__(self, workers):
        self.workers = max(1, int(workers))
        self._pool = None
        self._saved_env = {}
        self._warm = []
        self._bad_starts = 0

    def __enter__(self):
        for k, v in _CHILD_ENV.items():     # inherited by spawned children only
            self._saved_env[k] = os.environ.get(k)
            os.environ.setdefault(k, v)
        return self

    def __exit__(self, *exc):
        self._close(kill=exc[0] is not None)
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def start(self):
        """Spawn the workers now (they start on their own; :meth:`run` does not wait)."""
        self._open()

    def _open(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_worker_init,
                                             initargs=(os.getpid(),))
            # workers are spawned on demand: one submit per worker starts them all now
            self._warm = [self._pool.submit(_warm_up) for _ in range(self.workers)]
        return self._pool

    def _broken(self):
        """The pool broke: stop it; give up when its workers keep dying as they start."""
        started = any(f.done() and not f.cancelled() and f.exception() is None
                      for f in self._warm)
        self._bad_starts = 0 if started else self._bad_starts + 1
        self._close(kill=True)
        if self._bad_starts >= 2:
            raise OrbschedError(
                "the worker processes die as they start: a script that runs a sweep must "
                "guard it with `if __name__ == '__main__':` (spawned workers import the "
                "main module), and orbsched must import in a fresh Python")

    def _close(self, kill=False):
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:          # our own children: stop runs still going
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(10)
        else:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, fn, tasks, retries):
        """Yield ``(task, result)`` as runs finish (any order)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pending, suspects = deque(tasks), deque()
        deaths, inflight = {}, {}

        def fill():
            """Submit runs up to the limit; False when the pool broke with none in flight."""
            pool = self._open()
            queue = suspects if suspects else pending
            limit = 1 if suspects else self.workers
            try:
                while queue and len(inflight) < limit:
                    inflight[pool.submit(fn, queue[0])] = queue[0]
                    queue.popleft()
            except BrokenProcessPool:              # in-flight runs report it below
                if not inflight:
                    self._broken()
                    return False
            return True

        while pending or suspects or inflight:
            if not fill():
                continue
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                wait(list(inflight))               # the others fail at once
                done = set(inflight)
            casualties, finished = [], []
            for f in sorted(done, key=lambda f: inflight[f]["index"]):
                task = inflight.pop(f)
                exc = f.exception()
                if isinstance(exc, BrokenProcessPool):
                    casualties.append(task)
                elif isinstance(exc, KeyboardInterrupt):   # Ctrl-C reached the worker first
                    raise KeyboardInterrupt
                elif exc is not None:
                    finished.append((task, {
                        "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                        "traceback": "".join(traceback.format_exception(exc))}))
                else:
                    finished.append((task, f.result()))
            if finished and not casualties:
                fill()          # the freed workers start their next runs before the parent
            yield from finished  # handles these results (files, progress bar, on_result)
            if casualties:
                self._broken()
                if len(casualties) > 1:   # who died is unknown: none is charged, all
                    suspects.extend(casualties)   # re-run alone (a casualty may never
                    continue                      # have started)
                task = casualties[0]
                deaths[task["id"]] = n = deaths.get(task["id"], 0) + 1
                if n > retries:
                    yield task, _died(n)
                else:
                    suspects.append(task)


def _died(n, how="the worker process running it died"):
    return {"status": "failed", "died": True,
            "error": f"{how} {n} time{'s' if n > 1 else ''} (killed, out of memory, or a "
                     f"crash in compiled code)"}


class DaskPool:
    """A Dask cluster: ``address`` ``tcp://HOST:8786`` or ``local`` (a LocalCluster with
    ``workers`` single-threaded worker processes)."""

    def __init__(self, address, workers):
        self.address, self.workers = address, max(1, int(workers))
        self.client = self.cluster = None

    def __enter__(self):
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise OrbschedError("--dask needs the dask and distributed packages "
                                "(pip install 'dask[distributed]')") from None
        import logging

        if self.address == "local":
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.address, timeout="20s")
                self.client.wait_for_workers(1, timeout=60)
            except (OSError, TimeoutError) as exc:
                self.__exit__(None, None, None)
                raise OrbschedError(f"Dask cluster {self.address}: {exc}") from None
        return self

    def __exit__(self, *exc):
        for obj in (self.client, self.cluster):
            if obj is not None:
                with contextlib.suppress(Exception):  # closing a broken connection
                    obj.close()
        self.client = self.cluster = None

    def run(self, fn, tasks, retries):
        from dask.distributed import as_completed
        from distributed.scheduler import KilledWorker

        attempts, futs = {}, {}

        def submit(task):
            n = attempts[task["id"]] = attempts.get(task["id"], 0) + 1
            f = self.client.submit(fn, task, key=f"orbsched-{fn.__name__}-{task['id']}-{n}",
                                   pure=False, priority=-task.get("rank", task["index"]))
            futs[f] = task
            return f

        ac = as_completed([submit(t) for t in tasks])
        try:
            for f in ac:
                task = futs.pop(f)
                try:
                    res = f.result()
                except KilledWorker:
                    if attempts[task["id"]] > retries:
                        yield task, _died(attempts[task["id"]], "Dask reported its worker "
                                          "killed (KilledWorker)")
                    else:
                        ac.add(submit(task))
                    continue
                except Exception as exc:
                    res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc()}
                yield task, res
        finally:
            if futs:
                self.client.cancel(list(futs))
