"""Agents that need no training: a written policy as an agent, and a masked random agent.

:class:`PolicyAgent` asks a policy the question of each decision point (its ``place`` for a
PLACE point; its ``on_shadow`` restricted to the one job for a SHADOW point) through the live
view of the environment's current point, and answers with the action that expresses its
decision: the candidate slot holding the chosen host when there is one, else the action
naming the host.  Driven through :class:`~orbsched.gym.ConstellationEnv` whose frame is that
policy, it reproduces ``orbsched run`` with the policy and seed exactly, result files byte for
byte (``tests/test_gym.py`` checks greedy-sunlit, stay, lookahead and random on the demo),
because the environment asks at exactly the moments the engine calls the hooks and its own
searches leave no trace in the run.

What it cannot reproduce: an ``on_shadow`` that decides the jobs of a satellite jointly (the
agent decides one job at a time, in job order): ``energy-aware`` sheds load cheapest job
first until the battery suffices.  An ``on_shadow`` that returns more than one decision for
one job raises an error rather than dropping any.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..policies import Migrate, Pause, Policy, load_policy
from ..scenario.errors import OrbschedError
from .env import ConstellationEnv
from .episode import PLACE, DecisionPoint
from .observe import KEEP, PAUSE

__all__ = ["PolicyAgent", "RandomAgent"]


class _OneJob:
    """A view whose ``jobs_on(sat)`` shows only the job being decided (delegates the rest)."""

    def __init__(self, view: Any, job: Any, sat: int) -> None:
        self._view, self._job, self._sat = view, job, sat

    def jobs_on(self, sat: int) -> list:
        return [self._job] if sat == self._sat else self._view.jobs_on(sat)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


class PolicyAgent:
    """A policy as an agent (module docstring): ``action = agent.act(obs, info)``.

    Args:
        policy: a registered name, ``module:Class``, a Policy instance, or None for the
            environment's frame policy itself (always consistent with it).  A named policy
            must be of the frame's class with the frame's knobs (the frame decides what the
            agent is asked), else :meth:`act` raises.
        env: the :class:`ConstellationEnv` (or a wrapper of it) the agent acts in.
    """

    def __init__(self, policy: Any = None, env: Any = None) -> None:
        if env is None or not isinstance(getattr(env, "unwrapped", None), ConstellationEnv):
            raise OrbschedError("PolicyAgent needs the ConstellationEnv it acts in (env=...): "
                                "it reads the live view of the environment's decision point")
        self.env: ConstellationEnv = env.unwrapped
        if policy is None or isinstance(policy, Policy):
            self.policy = policy
        else:
            self.policy = load_policy(policy, self.env._base_dir)
        self.in_candidates = 0            #: decisions whose host was a candidate
        self.named = 0                    #: decisions that named a host outside them
        self._checked: Policy | None = None   # the frame policy already checked against

    def _policy(self, point: DecisionPoint) -> Policy:
        frame = point.frame
        if self.policy is None:
            return frame
        if self._checked is not frame:
            mine = self.policy
            same = (type(mine) is type(frame) and mine.backfill == frame.backfill
                    and mine.moves_queued == frame.moves_queued)
            if not same:
                raise OrbschedError(
                    f"PolicyAgent({mine.name!r}) acts in an environment whose frame policy is "
                    f"{frame.name!r} (a {type(frame).__name__}, backfill {frame.backfill}, "
                    f"moves_queued {frame.moves_queued}): build the environment with "
                    f"policy={mine.name!r} so that it asks what this policy is asked")
            self._checked = frame
        self.policy.rng = frame.rng                   # the run's policy stream
        return self.policy

    def act(self, obs: dict, info: dict | None = None) -> int:
        """The action expressing the policy's decision at the environment's current point."""
        point = self.env.point
        if point is None:
            return KEEP
        pol = self._policy(point)
        if point.kind == PLACE:
            host = pol.place(point.job, point.view)
            return KEEP if host is None else self._host_action(int(host), obs)
        out = pol.on_shadow(np.array([point.sat], dtype=np.int64),
                            _OneJob(point.view, point.job, point.sat))
        decisions = list(out or ())
        if not decisions:
            return KEEP
        d = decisions[0]
        if len(decisions) > 1 or getattr(d, "job_id", None) != point.job.job_id \
                or not isinstance(d, (Migrate, Pause)):
            raise OrbschedError(f"PolicyAgent({pol.name!r}): on_shadow returned {decisions} "
                                f"for job {point.job.job_id} alone; an agent expresses one "
                                f"Migrate or Pause of that job per decision")
        if isinstance(d, Pause):
            return PAUSE
        return self._host_action(int(d.sat), obs)

    __call__ = act

    def _host_action(self, host: int, obs: dict) -> int:
        hits = np.flatnonzero(np.asarray(obs["candidate_hosts"]) == host)
        if len(hits):
            self.in_candidates += 1
            return 2 + int(hits[0])
        self.named += 1
        return self.env.observer.host_action(host)


class RandomAgent:
    """Uniform over the valid actions (the mask), from its own seeded generator; the
    baseline a learned agent must beat (a control, as the ``random`` policy)."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: dict, info: dict) -> int:
        valid = np.flatnonzero(info["action_mask"])
        return int(valid[self.rng.integers(len(valid))])

    __call__ = act
