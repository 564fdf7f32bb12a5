"""Many agents: a PettingZoo ``ParallelEnv`` with one agent per satellite and a ground scheduler.

Agents: ``sat_0 .. sat_{N-1}`` and ``ground``.  Each decision point of the run
(:mod:`orbsched.gym.episode`) belongs to one agent, which decides for its own jobs:

* SHADOW: the satellite entering shadow, for each of its running jobs (migrate, pause, stay);
* PLACE of a job whose checkpoint sits on a satellite: that satellite (resume there, or send
  the job elsewhere);
* PLACE of a new job (or one whose checkpoint is on the ground): ``ground``, the scheduler
  that takes arrivals.

The agents act in turn, in the parallel form: every step each live agent receives an
observation and may send an action, but exactly one agent (``obs[agent]["active"] == 1``) has
a decision; the others' masks allow only KEEP (0), which is ignored (anything else is an
invalid action, handled as ``on_invalid`` says).  Decisions stay sequential because the
engine applies each before it asks the next (a placement uses GPUs another would count on),
so this is the same world, the same decision points and the same results as
:class:`~orbsched.gym.ConstellationEnv` (a test checks that the two give identical runs).

Observation of an agent (a Dict; the same pieces as the single-agent environment, from its
own point of view): ``own`` (5,): its satellite's illumination, seconds to its next shadow
edge, state of charge, free GPUs, temperature (zeros for ``ground``); ``active``; and, filled
only for the active agent (zeros otherwise), ``kind``, ``context``, ``job``, ``candidates``,
``candidate_hosts`` and ``action_mask`` (PettingZoo's convention: the mask inside the
observation; also ``infos[agent]["action_mask"]``).  Reward: the environment's reward since
the last step, shared by every agent (a cooperative team).  Cost per step: O(N) dictionaries
(one observation per agent).

Needs the ``marl`` extra (``pip install orbsched[marl]``: pettingzoo).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..scenario.errors import PolicyError
from .env import ConstellationEnv
from .episode import PLACE, SHADOW
from .observe import KEEP

__all__ = ["ConstellationParallelEnv"]

_SHARED = ("kind", "context", "job", "candidates", "candidate_hosts")


class ConstellationParallelEnv(ParallelEnv):
    """PettingZoo parallel environment over a scenario (module docstring); the keyword
    arguments are :class:`~orbsched.gym.ConstellationEnv`'s."""

    metadata = {"name": "orbsched_constellation_v0", "render_modes": []}

    def __init__(self, scenario: Any, **options: Any) -> None:
        self.env = ConstellationEnv(scenario, **options)
        n = self.env.n_sats
        self.possible_agents = [f"sat_{i}" for i in range(n)] + ["ground"]
        self.agents: list = []
        base = self.env.observation_space.spaces
        inf = np.inf
        self._space = spaces.Dict({
            "own": spaces.Box(0.0, inf, (5,), np.float32),
            "active": spaces.Discrete(2),
            **{key: base[key] for key in _SHARED},
            "action_mask": spaces.Box(0, 1, (self.env.action_space.n,), np.int8),
        })
        self._actor: str | None = None
        self._obs: dict | None = None
        self._info: dict | None = None
        self._action_spaces: dict[str, spaces.Space] = {}   # one space object per agent

    def observation_space(self, agent: str) -> spaces.Space:
        return self._space

    def action_space(self, agent: str) -> spaces.Space:
        if agent not in self._action_spaces:
            self._action_spaces[agent] = spaces.Discrete(self.env.action_space.n)
        return self._action_spaces[agent]

    def _owner(self) -> str:
        p = self.env.point
        if p is None:
            return "ground"
        if p.kind == SHADOW or (p.kind == PLACE and 0 <= p.sat < self.env.n_sats):
            return f"sat_{p.sat}"
        return "ground"

    def _split(self, obs: dict, info: dict) -> tuple:
        own = np.stack([obs["illumination"].astype(np.float32), obs["edge_s"], obs["soc"],
                        obs["free_gpus"].astype(np.float32), obs["temperature_k"]], axis=1)
        actor = self._owner() if self.env.point is not None else None
        idle_mask = np.zeros(self.env.action_space.n, np.int8)
        idle_mask[KEEP] = 1
        out, infos = {}, {}
        for i, agent in enumerate(self.agents):
            o = {"own": own[i].copy() if i < len(own) else np.zeros(5, np.float32),
                 "active": 0}
            if agent == actor:
                o.update({key: obs[key] for key in _SHARED})
                o["active"] = 1
                o["action_mask"] = info["action_mask"]
                infos[agent] = dict(info)
            else:
                o.update({key: np.zeros_like(obs[key]) for key in _SHARED})
                o["action_mask"] = idle_mask.copy()
                infos[agent] = {"action_mask": o["action_mask"]}
            out[agent] = o
        self._actor = actor
        return out, infos

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple:
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return self._split(obs, info)

    def step(self, actions: dict) -> tuple:
        if not self.agents:
            raise PolicyError("ConstellationParallelEnv.step: the episode has ended; reset()")
        for agent, a in actions.items():
            if agent != self._actor and int(a) != KEEP \
                    and self.env.on_invalid == "raise":
                raise PolicyError(f"agent {agent!r}: action {int(a)} while it has no decision "
                                  f"(the decision is {self._actor!r}'s); its mask allows "
                                  f"only KEEP (0)")
        a = actions.get(self._actor, KEEP) if self._actor is not None else KEEP
        obs, reward, done, trunc, info = self.env.step(a)
        agents = list(self.agents)
        if done or trunc:
            self.agents = []
            out: dict[str, dict] = {}
            infos: dict[str, dict] = {}
            own = np.zeros(5, np.float32)
            for agent in agents:
                o = {"own": own.copy(), "active": 0,
                     **{key: np.zeros_like(obs[key]) for key in _SHARED},
                     "action_mask": info["action_mask"].copy()}
                out[agent], infos[agent] = o, {}
            self._actor = None
        else:
            out, infos = self._split(obs, info)
        rewards = dict.fromkeys(agents, float(reward))
        terms = dict.fromkeys(agents, bool(done))
        truncs = dict.fromkeys(agents, bool(trunc))
        return out, rewards, terms, truncs, infos

    @property
    def result(self) -> Any:
        """The run's :class:`orbsched.run.RunResult` after the last step."""
        return self.env.result

    def close(self) -> None:
        self.env.close()
