"""The guard around a policy's hooks: a wall-clock budget, and one clear error for anything a
hook does wrong.

The engine calls every hook through :meth:`HookGuard.call` (decision hooks: the returned
iterable is walked here and each decision handed to the engine's ``apply``) or
:meth:`HookGuard.value` (hooks that return a value, such as ``place_replicas``).  Whatever goes
wrong becomes one :class:`~orbsched.scenario.errors.PolicyError` naming the policy, the hook and the
simulated time:

* the hook runs longer than its budget (``policy.hook_budget_s``, default 60 s of wall-clock
  time; ``null`` for none): a loop that never ends stops the run instead of hanging it;
* the hook raises (the message gives the exception, the job and satellite the policy was
  handling, and the line of the policy's own file; ``--debug`` adds the traceback);
* the hook returns something that is not ``None`` or an iterable of decisions (``42``, a
  string, a single ``Place`` not in a list), or yields something that is not a decision.

How the budget is enforced.  Each call records its deadline (one clock reading: no system
call); a watchdog thread, started with the run's first hook call, looks four times a second.
Past the deadline, while the policy's code runs, it interrupts the engine's thread: in the
main thread of a POSIX process (``orbsched run``, a sweep's worker process) by sending it
``SIGALRM`` (``pthread_kill``), whose handler raises :class:`HookTimeout` in the hook, which
interrupts blocking calls such as ``time.sleep`` too; elsewhere (a thread, as in a Dask
worker; Windows) with ``PyThreadState_SetAsyncExc`` (CPython), which cannot interrupt a
blocking call inside C code until it returns.  The exception is raised only while the
policy's code runs (not while the engine applies a decision: a timeout found then is raised
when the decision has been applied), it derives from ``BaseException`` so a policy's ``except
Exception`` does not swallow it, and it is raised again every 0.25 s until the hook gives up,
so a bare ``except:`` cannot hold the run either (a hook that swallows it in an endless loop
cannot be stopped from inside Python: interrupt the process).  The guard's cost per hook call
is measured by ``benchmarks/bench_guard.py``.
"""
from __future__ import annotations

import ctypes
import inspect
import signal
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from ..policies.decisions import Decision
from ..scenario.errors import PolicyError

__all__ = ["HookGuard", "HookTimeout"]

_REPEAT_S = 0.25
#: orbsched's own source folder: a frame outside it is the user's code
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def _source_file(fn):
    """The file of the class a bound hook belongs to (the policy's own file), else of ``fn``."""
    owner = getattr(fn, "__self__", None)
    try:
        if owner is not None:
            return inspect.getsourcefile(type(owner))
        return inspect.getsourcefile(fn) if fn is not None else None
    except TypeError:
        return None


def _int_like(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _handling(frames, args):
    """``", job J, satellite S"`` from the innermost policy frames' ``job`` / ``sat``
    variables, else from the hook's arguments (a job; the satellites entering shadow)."""
    job = sat = None
    for frame in reversed(frames):
        loc = frame.f_locals
        if job is None and hasattr(loc.get("job"), "job_id"):
            job = loc["job"].job_id
        if job is None and _int_like(loc.get("job_id")):
            job = int(loc["job_id"])
        if sat is None and _int_like(loc.get("sat")):
            sat = int(loc["sat"])
        if job is not None and sat is not None:
            break
    first = args[0] if args else None
    if job is None and hasattr(first, "job_id"):
        job = first.job_id
    out = f", job {job}" if job is not None else ""
    if sat is not None:
        out += f", satellite {sat}"
    elif isinstance(first, np.ndarray) and first.ndim == 1 and first.dtype.kind in "iu":
        shown = ", ".join(str(int(x)) for x in first[:8]) + (", ..." if len(first) > 8 else "")
        out += f", satellite{'s' if len(first) > 1 else ''} {shown} entering shadow"
    return out


class HookTimeout(BaseException):
    """Raised inside a hook that ran over its wall-clock budget (not an ``Exception``, so a
    policy's ``except Exception`` lets it through)."""


class HookGuard:
    """Runs the hooks of one policy (see the module docstring).

    Args:
        policy_name: named in every error.
        budget_s: wall-clock seconds a hook may take (None: no budget).
        now: a callable giving the simulated time (named in every error).
    """

    def __init__(self, policy_name, budget_s, now):
        self.policy_name = policy_name
        self.budget_s = budget_s
        self._now = now
        self.in_policy = False
        self.expired = False
        self._hook = None
        self._deadline = None
        self._signal = None                 # the previous SIGALRM handler while installed
        self._watchdog = None
        self._target = None                 # thread id the watchdog interrupts
        self.mode = "none" if budget_s is None else (
            "signal" if hasattr(signal, "pthread_kill")
            and threading.current_thread() is threading.main_thread() else "thread")

    # ------------------------------------------------------------------------------ timer
    def _arm(self, hook):
        self._hook = hook
        self.expired = False
        if self._watchdog is None:
            self._target = threading.get_ident()
            if self.mode == "signal":
                self._signal = signal.signal(signal.SIGALRM, self._on_alarm)
            self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                              name="orbsched-hook-watchdog")
            self._watchdog.start()
        self._deadline = time.monotonic() + self.budget_s

    def _disarm(self):
        self._deadline = None

    def _on_alarm(self, signum, frame):
        if self.in_policy and self.expired:
            raise HookTimeout()

    def _watch(self):
        while self.mode in ("signal", "thread"):
            time.sleep(_REPEAT_S)
            deadline = self._deadline
            if deadline is None or time.monotonic() <= deadline:
                continue
            self.expired = True
            if not self.in_policy:
                continue                      # the engine's code: checked when it returns
            if self.mode == "signal":
                signal.pthread_kill(self._target, signal.SIGALRM)
            else:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._target), ctypes.py_object(HookTimeout))

    def close(self):
        """Stop the watchdog and restore the previous SIGALRM handler (end of the run)."""
        mode, self.mode = self.mode, "closed"
        self._deadline = None
        if mode == "signal" and self._signal is not None:
            signal.signal(signal.SIGALRM, self._signal)
            self._signal = None

    # ------------------------------------------------------------------------------ errors
    def _where(self, hook):
        return (f"policy '{self.policy_name}', hook {hook} at t = {float(self._now()):.3f} s "
                f"(simulated)")

    def timeout_error(self):
        """The error for the last hook called having run over its budget (for a
        :class:`HookTimeout` that arrived just after the hook returned: the watchdog-thread
        fallback raises asynchronously)."""
        return self._timeout(self._hook)

    def _timeout(self, hook):
        return PolicyError(f"{self._where(hook)}: ran longer than its budget of "
                           f"{self.budget_s:g} s of wall-clock time (policy.hook_budget_s)")

    def _raised(self, hook, exc, fn=None, args=()):
        """One line for an exception a hook raised: the policy, hook and simulated time, the
        job and satellite it was handling (the innermost ``job`` and ``sat`` variables of the
        policy's frames, else what the engine passed: a job, or the satellites entering
        shadow) and the policy's file:line (the innermost frame in the policy's own file)."""
        tb_frames = []
        tb = exc.__traceback__
        while tb is not None:
            tb_frames.append(tb.tb_frame)
            tb = tb.tb_next
        frames = traceback.extract_tb(exc.__traceback__)
        own = _source_file(fn)
        pick = [i for i, f in enumerate(frames) if own and f.filename == own] or \
            [i for i, f in enumerate(frames) if not f.filename.startswith(_PACKAGE_DIR)] or \
            list(range(len(frames)))
        at = ""
        if pick:
            f = frames[pick[-1]]
            at = f" ({Path(f.filename).name}:{f.lineno} in {f.name})"
        about = _handling(tb_frames[:pick[-1] + 1] if pick else tb_frames, args)
        text = " ".join(str(exc).split())
        return PolicyError(f"{self._where(hook)}{about}: raised {type(exc).__name__}"
                           f"{': ' + text if text else ''}{at}")

    def bad_value(self, hook, what, expected):
        """The error for a hook that returned or yielded ``what``."""
        text = repr(what)
        text = text if len(text) <= 80 else text[:77] + "..."
        return PolicyError(f"{self._where(hook)}: returned {text} ({type(what).__name__}); "
                           f"expected {expected}")

    # ------------------------------------------------------------------------------- calls
    def value(self, hook, fn, *args):
        """Call a hook that returns a value (``place_replicas``) under the guard: :meth:`call`
        without ``apply``; a hook over its budget is that error even if it also raised."""
        try:
            return self.call(hook, fn, args, None)
        finally:
            if self.expired:
                raise self._timeout(hook)

    def call(self, hook, fn, args, apply):
        """Call a decision hook ``fn(*args)``, walk what it returns (None, a list, a tuple, a
        generator...) and ``apply(decision)`` each decision in turn (``apply`` None: return
        what it returns, unwalked, for :meth:`value`).  ``in_policy`` is true exactly while the
        policy's code runs (the call, and each step of the iteration): an exception raised
        then is the policy's, one raised while it is false is the engine's (a rejected
        decision) and passes through unchanged."""
        timed = self.budget_s is not None
        if timed:
            self._arm(hook)
        self.in_policy = True
        try:
            out = fn(*args)
            if apply is None:
                return out
            if out is not None:
                if isinstance(out, (Decision, str, bytes, dict)) or not hasattr(out,
                                                                                "__iter__"):
                    self.in_policy = False
                    raise self.bad_value(hook, out, "an iterable of decisions (put a single "
                                         "decision in a list) or None" if isinstance(
                                             out, Decision) else "None or an iterable of "
                                         "decisions (a list, a tuple, a generator)")
                for d in out:
                    self.in_policy = False
                    if not isinstance(d, Decision):
                        raise self.bad_value(hook, d, "decisions: Place, Migrate, Pause, "
                                                      "PlaceGroup, Reshape, Shrink, Replace "
                                                      "or MoveReplica (orbsched.policies)")
                    apply(d)
                    if self.expired:
                        raise self._timeout(hook)
                    self.in_policy = True
        except HookTimeout:
            raise self._timeout(hook) from None
        except Exception as exc:
            if not self.in_policy:
                raise                         # the engine's, or the guard's own
            raise self._raised(hook, exc, fn, args) from exc
        finally:
            self.in_policy = False
            if timed:
                self._disarm()
        if self.expired:
            raise self._timeout(hook)
