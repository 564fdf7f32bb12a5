"""``ConstellationEnv``: a Gymnasium environment over any orbsched scenario.

An episode is one run of the scenario (its whole span) in which an agent takes the decisions
a policy's ``place`` and ``on_shadow`` hooks would take (:mod:`orbsched.gym.episode`): each
``step(action)`` answers one decision point and returns the next one's observation
(:mod:`orbsched.gym.observe`), the reward since the previous step
(:mod:`orbsched.gym.reward`), ``terminated`` when the span is over (the observation includes
the time left, so the horizon is part of the state and nothing is truncated) and ``info``:

* ``action_mask``: int8 over the actions, 1 where an action is valid now;
* ``kind`` (``"place"`` | ``"shadow"``), ``job_id``, ``sat`` (the satellite entering shadow,
  or the job's site, -1 for none), ``t_s``;
* ``invalid_action`` (True when the previous action was outside the mask and replaced by KEEP,
  with ``on_invalid="keep"``); at the end ``ledger`` (the episode's counters).

After the last step ``env.result`` is the run's :class:`orbsched.run.RunResult`:
``env.result.write(folder)`` writes the same results folder as ``orbsched run``.

Invalid actions: with ``on_invalid="raise"`` (the default) an action the engine cannot apply is
rejected the way a bad policy decision is, by :class:`orbsched.scenario.errors.PolicyError`
(PAUSE at a PLACE point, an empty candidate slot: by the environment; a host without room,
power or a path: by the engine's own check); an action outside the mask that the engine does
accept is applied.  With ``on_invalid="keep"`` every action outside the mask becomes KEEP
and counts in ``Ledger.invalid`` (penalised by ``learning.reward.invalid``): for learners
that ignore masks, and for Gymnasium's ``check_env``, which samples unmasked actions.

Seeds: ``reset(seed=s)`` runs the scenario with seed ``s`` (the same episode for the same
seed and actions); the first ``reset()`` without a seed uses the scenario's seed, later ones
draw the next seed from the environment's generator.
"""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ..geometry.constellation import build_constellation
from ..policies import Migrate, Pause, Policy, load_policy
from ..run import RunResult
from ..scenario.errors import OrbschedError, PolicyError
from ..scenario.learning import LearningOptions
from ..scenario.schema import Scenario, load_scenario
from .episode import KINDS, PLACE, DecisionPoint, Episode
from .observe import KEEP, PAUSE, Observation, Observer
from .reward import GoodputReward, JobLedger, Ledger, RewardFn

__all__ = ["ConstellationEnv"]

ON_INVALID = ("raise", "keep")


def _scenario(scenario: str | Path | Scenario) -> tuple:
    """(Scenario, the folder its relative paths start from)."""
    if isinstance(scenario, Scenario):
        return scenario, None
    if isinstance(scenario, (str, Path)):
        path = Path(scenario)
        return load_scenario(path), path.parent
    raise OrbschedError(f"ConstellationEnv: scenario must be a Scenario or a path to a YAML "
                        f"file, got {type(scenario).__name__}")


class ConstellationEnv(gym.Env):
    """A Gymnasium environment over a scenario (module docstring).

    Args:
        scenario: a :class:`orbsched.scenario.schema.Scenario` or the path of a YAML file.
        policy: the frame policy (knobs, group and replica strategies): a registered name,
            ``module:Class``, a Policy subclass or instance (copied for each episode), or None
            for the scenario's own.
        candidates: K, the candidate hosts per observation (default: the scenario's
            ``learning.candidates``, else 8).
        reward: ``reward(before, after) -> float`` on two :class:`Ledger` (default:
            :class:`GoodputReward` with the scenario's ``learning.reward`` weights).
        on_invalid: ``"raise"`` or ``"keep"`` (module docstring).
        name: the policy name the results record (default ``"agent"``; give the frame's
            name to compare result files with ``orbsched run``).
        cache_dir: the geometry cache (as :func:`orbsched.run.simulate`).
    """

    metadata: dict[str, Any] = {"render_modes": []}
    # the spaces the observer builds (gym.Env declares them as any Space)
    observation_space: gym.spaces.Dict
    action_space: gym.spaces.Discrete

    def __init__(self, scenario: str | Path | Scenario, *, policy: Any = None,
                 candidates: int | None = None, reward: RewardFn | None = None,
                 on_invalid: str = "raise", name: str = "agent", cache_dir: Any = None) -> None:
        super().__init__()
        self.scenario, self._base_dir = _scenario(scenario)
        learning = self.scenario.learning or LearningOptions()
        k = learning.candidates if candidates is None else candidates
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 256:
            raise OrbschedError(f"ConstellationEnv: candidates must be an integer in 1..256, "
                                f"got {k!r}")
        if on_invalid not in ON_INVALID:
            raise OrbschedError(f"ConstellationEnv: on_invalid must be one of {ON_INVALID}, "
                                f"got {on_invalid!r}")
        if reward is not None and not callable(reward):
            raise OrbschedError("ConstellationEnv: reward must be a callable "
                                "reward(before, after) -> float")
        self._policy_spec = self.scenario.policy if policy is None else policy
        self._make_frame()                                     # fail early on a bad policy
        self.reward_fn = reward if reward is not None else GoodputReward(learning.reward)
        self.on_invalid = on_invalid
        self.policy_name = str(name)
        self.cache_dir = cache_dir
        fleet, _ = build_constellation(self.scenario)
        n = len(fleet)
        stations = [g.name for g in self.scenario.ground_stations]
        dcs = tuple(n + stations.index(dc.station) for dc in self.scenario.datacentres)
        dc_gpus = max((dc.gpus for dc in self.scenario.datacentres), default=0)
        self.observer = Observer(n, tuple(sorted(dcs)), self.scenario.hardware.gpus, dc_gpus,
                                 self.scenario.duration_s, int(k))
        self.observation_space = self.observer.space
        self.action_space = self.observer.action_space
        self.n_sats = n
        self.frame: Policy | None = None
        self.result: RunResult | None = None
        self._episode: Episode | None = None
        self._point: DecisionPoint | None = None
        self._seen: Observation | None = None
        self._jobs = JobLedger()
        self._ledger = Ledger()
        self._first_reset = True
        self._over = False

    # ---------------------------------------------------------------------------- policy
    def _make_frame(self) -> Policy:
        spec = self._policy_spec
        if isinstance(spec, Policy):
            return copy.deepcopy(spec)
        if isinstance(spec, type) and issubclass(spec, Policy):
            return spec()
        return load_policy(spec, self._base_dir)

    @property
    def point(self) -> DecisionPoint | None:
        """The decision point the environment waits on (None outside an episode): the live
        job and view, for agents that read the simulation directly (:class:`PolicyAgent`)."""
        return self._point

    # --------------------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None,
              options: dict | None = None) -> tuple:
        if seed is None and self._first_reset:
            seed = self.scenario.seed
        self._first_reset = False
        super().reset(seed=seed)
        run_seed = seed if seed is not None else int(self.np_random.integers(2 ** 31))
        self.close()
        self.frame = self._make_frame()
        self.result = None
        self._over = False
        self.observer.reset()
        self._jobs = JobLedger()
        self._ledger = Ledger()
        self._episode = Episode(self.scenario, self.frame, seed=run_seed,
                                cache_dir=self.cache_dir, name=self.policy_name)
        obs, info, done = self._advance(self._episode.next())
        if done:                    # no decision at all in the run: the next step ends it
            info["empty_episode"] = True
        return obs, info

    def _advance(self, msg: tuple) -> tuple:
        """(observation, info, done) for the episode's next message."""
        kind, payload = msg
        if kind == "decide":
            self._point = payload
            self._seen = seen = self.observer.observe(payload)
            info = {"action_mask": seen.mask.copy(), "kind": KINDS[payload.kind],
                    "job_id": int(payload.job.job_id), "sat": int(payload.sat),
                    "t_s": float(payload.view.now_s)}
            return seen.obs, info, False
        self._point = self._seen = None
        self.result = payload
        return self.observer.blank(), {"action_mask": self._blank_mask()}, True

    def _blank_mask(self) -> np.ndarray:
        mask = np.zeros(self.observer.n_actions, np.int8)
        mask[KEEP] = 1
        return mask

    def step(self, action: Any) -> tuple:
        if self._episode is None:
            raise OrbschedError("ConstellationEnv.step: call reset() first")
        before = self._ledger
        if self._over:
            raise OrbschedError("ConstellationEnv.step: the episode has ended; call reset()")
        if self._point is None:           # a run without any decision point: it ends now
            return self._finish(before, {}, None)
        a = self._check_action(action)
        invalid = False
        assert self._seen is not None     # observed with every decision point
        if not self._seen.mask[a]:
            if self.on_invalid == "keep":
                invalid, a = True, KEEP
            else:
                self._reject_structural(a)
        answer = self._answer(a)
        ledger = Ledger(before.t_s, before.completed_gpu_h, before.lost_gpu_h,
                        before.decisions + 1, before.invalid + invalid)
        self._ledger = ledger
        obs, info, done = self._advance(self._episode.next(answer))
        if invalid:
            info["invalid_action"] = True
        if done:
            return self._finish(before, info, obs)
        assert self._point is not None   # the next decision point (not done)
        self._ledger = self._jobs.update(ledger, info["t_s"], self._point.view.outcomes)
        reward = float(self.reward_fn(before, self._ledger))
        return obs, reward, False, False, info

    def _finish(self, before: Ledger, info: dict, obs: dict | None) -> tuple:
        self._ledger = self._jobs.update(self._ledger, self.scenario.duration_s)
        reward = float(self.reward_fn(before, self._ledger))
        info = dict(info) or {"action_mask": self._blank_mask()}
        info["ledger"] = copy.deepcopy(self._ledger)
        self._ledger = copy.deepcopy(self._ledger)
        self._point = None
        self._over = True
        return (obs if obs is not None else self.observer.blank()), reward, True, False, info

    # --------------------------------------------------------------------------- actions
    def _check_action(self, action: Any) -> int:
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) \
                or not 0 <= action < self.observer.n_actions:
            raise PolicyError(f"policy '{self.policy_name}': action {action!r} is not in the "
                              f"action space (integers 0 .. {self.observer.n_actions - 1})")
        return int(action)

    def _describe(self, a: int) -> str:
        k = self.observer.k
        if a == KEEP:
            return "KEEP"
        if a == PAUSE:
            return "PAUSE"
        if a < 2 + k:
            return f"candidate {a - 2}"
        assert self._seen is not None     # only asked while a decision is pending
        return f"host {self.observer.host_of(a, self._seen.hosts)}"

    def _reject_structural(self, a: int) -> None:
        """Raise for actions the engine cannot even be asked (module docstring)."""
        p = self._point
        assert p is not None and self._seen is not None   # only while a decision is pending
        why = None
        if a == PAUSE and p.kind == PLACE:
            why = "PAUSE is for a running job (a SHADOW decision), this job is queued"
        elif 2 <= a < 2 + self.observer.k and self._seen.hosts[a - 2] < 0:
            why = f"candidate slot {a - 2} is empty"
        if why is not None:
            raise PolicyError(f"policy '{self.policy_name}': action {a} ({self._describe(a)}) "
                              f"for job {p.job.job_id} at t = {p.view.now_s:.3f} s "
                              f"({KINDS[p.kind]}) rejected: {why}")

    def _answer(self, a: int) -> Any:
        """What the agent policy's hook returns for action ``a``."""
        p = self._point
        assert p is not None and self._seen is not None   # only while a decision is pending
        host = self.observer.host_of(a, self._seen.hosts)
        if p.kind == PLACE:
            if host < 0:
                return None
            self._jobs.placed(p.job)
            return host
        if a == KEEP:
            return None
        if a == PAUSE:
            return Pause(p.job.job_id)
        return Migrate(p.job.job_id, host)

    def action_mask(self) -> np.ndarray:
        """The mask of the pending decision (KEEP only when none is pending): what
        ``info["action_mask"]`` holds, for wrappers that ask the environment (sb3-contrib's
        ``ActionMasker``)."""
        return self._seen.mask.copy() if self._seen is not None else self._blank_mask()

    @property
    def ledger(self) -> Ledger:
        """The episode's counters at the last step."""
        return self._ledger

    def close(self) -> None:
        if self._episode is not None:
            self._episode.close()
        self._point = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):   # at interpreter shutdown: nothing left to stop
            self.close()

