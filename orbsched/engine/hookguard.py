"""The guard around a policy's hooks: a wall-clock budget, and one clear error for anything a
hook does wrong.

The engine calls every hook through :meth:`HookGuard.call` (decision hooks: the returned
iterable is walked here and each decision handed to the engine's ``apply``) or
:meth:`HookGuard.value` (hooks that return a value, such as ``place_replicas``).  Whatever goes
wrong becomes one :class:`~orbsched.scenario.errors.PolicyError` naming the policy, the hook and the
simulated time:

* the hook runs longer than its budget (``policy.hook_budget_s``, default 60 s of wall-clock
  time; ``null`` for none): a loop that never ends stops the run instead of hanging it;
* the hook raises (the message gives the exception and the line of the policy's code);
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
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from ..scenario.errors import PolicyError
from ..policies.decisions import Decision

__all__ = ["HookGuard", "HookTimeout"]

_REPEAT_S = 0.25


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

    def _raised(self, hook, exc):
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.endswith(os.path.join("orbsched", "hookguard.py"))]
        at = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        text = " ".join(str(exc).split())
        return PolicyError(f"{self._where(hook)}: raised {type(exc).__name__}"
                           f"{': ' + text if text else ''}{at}")

    def bad_value(self, hook, what, expected):
        """The error for a hook that returned or yielded ``what``."""
        text = repr(what)
        text = text if len(text) <= 80 else text[:77] + "..."
        return PolicyError(f"{self._where(hook)}: returned {text} ({type(what).__name__}); "
                           f"expected {expected}")

    # ------------------------------------------------------------------------------- calls
    def value(self, hook, fn, *args):
        """Call a hook that returns a value (``place_replicas``) under the guard."""
        timed = self.budget_s is not None
        if timed:
            self._arm(hook)
        self.in_policy = True
        try:
            return fn(*args)
        except HookTimeout:
            raise self._timeout(hook) from None
        except Exception as exc:
            raise self._raised(hook, exc) from exc
        finally:
            self.in_policy = False
            if timed:
                self._disarm()
            if self.expired:
                raise self._timeout(hook)

    def call(self, hook, fn, args, apply):
        """Call a decision hook ``fn(*args)``, walk what it returns (None, a list, a tuple, a
        generator...) and ``apply(decision)`` each decision in turn.  ``in_policy`` is true
        exactly while the policy's code runs (the call, and each step of the iteration): an
        exception raised then is the policy's, one raised while it is false is the engine's
        (a rejected decision) and passes through unchanged."""
        timed = self.budget_s is not None
        if timed:
            self._arm(hook)
        self.in_policy = True
        try:
            out = fn(*args)
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
            raise self._raised(hook, exc) from exc
        finally:
            self.in_policy = False
            if timed:
                self._disarm()
        if self.expired:
            raise self._timeout(hook)
