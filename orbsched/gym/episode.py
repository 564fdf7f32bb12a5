"""One run of the simulator paused at every decision point: the engine side of the environments.

The engine calls its policy; an agent wants to call ``step(action)``.  :class:`Episode` turns
one inside out: it runs :func:`orbsched.run.simulate` in a greenlet (a coroutine with its own
C stack, from the ``greenlet`` package) with an :class:`AgentPolicy`, whose hooks switch back
to the caller with each decision point and resume with the answer.  Only one side runs at a
time and the switches happen at fixed points, so the run is exactly as deterministic as a
direct one, and the engine never sees that its policy is not ordinary Python: nothing below
:mod:`orbsched.run` knows about agents.  Why a greenlet and not a worker thread with two
queues (the usual way): a round trip between threads costs 27-40 us in a tight loop but each
switch needs the operating system to schedule the other thread, which on a loaded machine
(the shared 2-core development machine) cost about 0.5 ms per decision point and doubled a
demo episode; a greenlet round trip costs about 1.3 us and involves no scheduler.

Decision points (the moments the policy API's hooks are called, so an agent and a written
policy see the same world):

* ``PLACE``: a queued job the queue pass (:meth:`orbsched.policies.Policy.schedule`) asks
  :meth:`~orbsched.policies.Policy.place` about: on an arrival, when GPUs are freed, when a
  satellite leaves shadow, after a brownout, at each ``policy.tick_s``;
* ``SHADOW``: each running single-satellite job on a satellite entering shadow
  (:meth:`~orbsched.policies.Policy.on_shadow`), one job at a time, satellites and their jobs
  in the order a built-in's loop visits them (the satellites of the instant in order, each
  one's jobs by id, each decision applied before the next is asked).

Everything else comes from the *frame* policy (the scenario's, or the environment's
``policy`` option): its knobs (``backfill``, ``moves_queued``), its group-job and replica
strategies (``policy.groups``, ``policy.replicas``: jobs spanning satellites and inference
replicas are not the agent's decisions) and its ``on_link_change``.  A frame that replaces the
queue pass itself (``schedule`` or ``on_tick``) is refused: the agent's decisions would no
longer be the ones it makes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from greenlet import greenlet

from ..policies import Decision, JobInfo, Policy, View
from ..run import RunResult, simulate
from ..scenario.errors import PolicyError

__all__ = ["AgentPolicy", "DecisionPoint", "Episode", "PLACE", "SHADOW"]

#: Decision kinds (``obs["kind"]``).
PLACE, SHADOW = 0, 1
KINDS = ("place", "shadow")


@dataclass(frozen=True)
class DecisionPoint:
    """What the engine asks at one decision point (valid until the answer is given).

    ``kind``: PLACE or SHADOW; ``job``: the job to decide (a live :class:`JobInfo`);
    ``sat``: for SHADOW the satellite entering shadow, for PLACE the job's site (the host
    holding its checkpoint, -1 for none); ``view``: the live view; ``frame``: the frame policy
    (whose ``rng`` is the run's policy stream)."""

    kind: int
    job: JobInfo
    sat: int
    view: View
    frame: Policy


class _Abort(BaseException):
    """Raised in the run when the episode is closed while the engine waits for an answer."""


_ABORT = object()


class AgentPolicy(Policy):
    """The policy the engine runs during an episode (module docstring): ``place`` and
    ``on_shadow`` ask ``ask(point)``, everything else is the frame's."""

    def __init__(self, frame: Policy, ask: Callable[[DecisionPoint], Any],
                 name: str | None = None) -> None:
        super().__init__()
        for hook in ("schedule", "on_tick"):
            if getattr(type(frame), hook) is not getattr(Policy, hook):
                raise PolicyError(f"policy '{frame.name}' overrides {hook}(): an agent's "
                                  f"decisions are the default queue pass's place() calls, so "
                                  f"it cannot be the frame of a learning environment")
        self.name = name or frame.name
        self.frame = frame
        self.backfill = frame.backfill
        self.moves_queued = frame.moves_queued
        self.link_events = frame.link_events
        self.groups = frame.groups
        self.replicas = frame.replicas
        self._ask = ask

    @property
    def rng(self) -> np.random.Generator | None:
        return self.frame.rng

    @rng.setter
    def rng(self, value: np.random.Generator | None) -> None:
        # the engine gives the run's policy stream to its policy: the frame (its group and
        # replica strategies, and a PolicyAgent wrapping it) draws from it
        if hasattr(self, "frame"):
            self.frame.rng = value

    def place(self, job: JobInfo, view: View) -> int | None:
        return self._ask(DecisionPoint(PLACE, job, int(job.sat), view, self.frame))

    def on_shadow(self, sats: np.ndarray, view: View) -> Iterator[Decision]:
        for sat in sats:
            sat = int(sat)
            for job in view.jobs_on(sat):
                if job.phase == "running" and not job.is_group:
                    d = self._ask(DecisionPoint(SHADOW, job, sat, view, self.frame))
                    if d is not None:
                        yield d

    def on_link_change(self, a: int, b: int, up: bool, view: View):
        return self.frame.on_link_change(a, b, up, view)


class Episode:
    """One simulation in its own greenlet (module docstring).

    ``next(answer)`` sends the answer to the current decision point (None before the first)
    and returns the next message: ``("decide", DecisionPoint)`` or ``("done", RunResult)``;
    an exception raised by the run (e.g. the :class:`PolicyError` of a rejected decision) is
    raised again in the caller.  Use an episode from one thread (greenlets belong to the
    thread that made them)."""

    def __init__(self, scenario: Any, frame: Policy, *, seed: int | None = None,
                 cache_dir: Any = None, name: str | None = None) -> None:
        self.policy = AgentPolicy(frame, self._ask, name)
        self.result: RunResult | None = None
        self.done = False
        self._args = (scenario, seed, cache_dir)
        self._glet: greenlet | None = None
        self._caller: greenlet | None = None

    # ------------------------------------------------------------------ the run's side
    def _run(self, scenario: Any, seed: int | None, cache_dir: Any) -> tuple:
        try:
            result = simulate(scenario, seed=seed, policy=self.policy, cache_dir=cache_dir)
        except _Abort:
            return "aborted", None
        except BaseException as exc:        # handed over, raised again in the caller
            return "error", exc
        return "done", result

    def _ask(self, point: DecisionPoint) -> Any:
        assert self._caller is not None     # set before the run is switched into
        answer = self._caller.switch(("decide", point))
        if answer is _ABORT:
            raise _Abort()
        return answer

    # ------------------------------------------------------------------ the caller's side
    def _switch(self, value: Any) -> tuple:
        self._caller = greenlet.getcurrent()
        if self._glet is None:
            self._glet = greenlet(self._run)
            self._glet.parent = self._caller     # where the run's return value goes
            return self._glet.switch(*self._args)
        self._glet.parent = self._caller
        return self._glet.switch(value)

    def next(self, answer: Any = None) -> tuple:
        if self.done:
            raise RuntimeError("the episode has ended")
        kind, payload = self._switch(answer)
        if kind == "decide":
            return kind, payload
        self.done = True
        if kind == "error":
            raise payload
        self.result = payload
        return kind, payload

    def close(self) -> None:
        """Stop the run if it waits for an answer (it unwinds; nothing is written)."""
        if self._glet is not None and not self.done:
            self.done = True
            while True:                   # the run may ask again while it unwinds
                kind, _ = self._switch(_ABORT)
                if kind != "decide":
                    break
        self.done = True
