"""Learning interfaces: a Gymnasium environment over any scenario, and many agents.

* :class:`ConstellationEnv` (:mod:`orbsched.gym.env`), registered with Gymnasium as
  ``orbsched/Constellation-v0`` when this package is imported::

      import gymnasium, orbsched.gym
      env = gymnasium.make("orbsched/Constellation-v0", scenario="configs/demo.yaml")

* :class:`PolicyAgent`, :class:`RandomAgent` (:mod:`orbsched.gym.agents`): a written policy
  as an agent (same results as ``orbsched run``), and the masked random baseline;
* :class:`LinearSoftmaxAgent` and :func:`train_cem` (:mod:`orbsched.gym.learn`): a small
  agent trained with plain numpy, and :func:`run_episodes` to write runs in the layout
  ``orbsched compare`` reads;
* :class:`ConstellationParallelEnv` (:mod:`orbsched.gym.marl`, needs ``orbsched[marl]``):
  PettingZoo's parallel API, one agent per satellite plus a ground scheduler.

Needs the ``gym`` extra (``pip install orbsched[gym]``: gymnasium).  How it works, and why
(the engine runs in a greenlet paused at each decision point):
:mod:`orbsched.gym.episode`.
"""
from __future__ import annotations

import gymnasium

from .agents import PolicyAgent, RandomAgent
from .env import ConstellationEnv
from .episode import PLACE, SHADOW, DecisionPoint
from .learn import LinearSoftmaxAgent, features, run_episodes, train_cem
from .observe import CANDIDATE_FEATURES, JOB_FEATURES, KEEP, PAUSE
from .reward import GoodputReward, Ledger

__all__ = ["CANDIDATE_FEATURES", "ConstellationEnv", "ConstellationParallelEnv",
           "DecisionPoint", "ENV_ID", "GoodputReward", "JOB_FEATURES", "KEEP", "Ledger",
           "LinearSoftmaxAgent", "PAUSE", "PLACE", "PolicyAgent", "RandomAgent", "SHADOW",
           "features", "run_episodes", "train_cem"]

ENV_ID = "orbsched/Constellation-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="orbsched.gym.env:ConstellationEnv",
                       nondeterministic=False)


def __getattr__(name: str):
    # the multi-agent environment needs pettingzoo (the optional ``marl`` extra): imported
    # on first use so that orbsched.gym works without it
    if name == "ConstellationParallelEnv":
        from .marl import ConstellationParallelEnv
        return ConstellationParallelEnv
    raise AttributeError(f"module 'orbsched.gym' has no attribute {name!r}")
