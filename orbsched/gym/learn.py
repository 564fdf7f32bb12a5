"""A small learned agent in plain numpy, its training, and runs written for ``orbsched compare``.

:class:`LinearSoftmaxAgent` scores KEEP, PAUSE and each candidate host with one weight vector
over :data:`FEATURES` (:func:`features`) and picks among the valid ones by a softmax (or the
best, ``greedy=True``); named-host actions are not used.  :func:`train_cem` fits the weights
with the cross-entropy method: sample weight vectors around a mean, run an episode with each,
refit the mean and spread to the best fraction.  No gradient, no deep-learning dependency;
a few dozen demo episodes are enough to beat the random baseline (``notebooks/05_learning.ipynb``).

:func:`run_episodes` runs an agent (or a built-in policy, directly as ``orbsched run`` does)
over seeds and writes each run's results folder with a ``run.json`` in the layout of a sweep
folder, so :func:`orbsched.analysis.compare.compare` and ``orbsched compare DIR`` tabulate
and plot agents and policies side by side.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_json
from ..policies import load_policy
from ..results.folder import RUN_FILE
from ..run import simulate
from .env import ConstellationEnv
from .observe import CANDIDATE_FEATURES

__all__ = ["FEATURES", "LinearSoftmaxAgent", "features", "run_episodes", "train_cem"]

#: The features of one action (rows of :func:`features`).
FEATURES = ("keep_place", "keep_shadow", "pause", "move_place", "move_shadow", "is_site",
            "sunlit", "sunlight_left_h", "soc", "free_gpus", "hops", "light_ms",
            "is_datacentre", "slot", "site_sunlight_left_h")
_C = {name: i for i, name in enumerate(CANDIDATE_FEATURES)}


def features(obs: dict) -> np.ndarray:
    """``(2 + K, len(FEATURES))``: one row per action KEEP, PAUSE, candidate 0 .. K-1."""
    cand = np.asarray(obs["candidates"], dtype=float)
    k = cand.shape[0]
    shadow = float(obs["kind"])
    phi = np.zeros((2 + k, len(FEATURES)))
    phi[0, 0], phi[0, 1] = 1.0 - shadow, shadow
    phi[0, 14] = obs["job"][8] / 3600.0                   # the site's edge: sunlight left
    phi[1, 2] = shadow
    sunlit = cand[:, _C["illumination"]] == 0
    c = phi[2:]
    c[:, 3], c[:, 4] = 1.0 - shadow, shadow
    c[:, 5] = cand[:, _C["is_site"]]
    c[:, 6] = sunlit
    c[:, 7] = np.where(sunlit, cand[:, _C["edge_s"]], 0.0) / 3600.0
    c[:, 8] = cand[:, _C["soc"]]
    c[:, 9] = cand[:, _C["free_gpus"]] / 4.0
    c[:, 10] = cand[:, _C["hops"]] / 10.0
    c[:, 11] = cand[:, _C["light_s"]] * 1e3
    c[:, 12] = cand[:, _C["is_datacentre"]]
    c[:, 13] = np.arange(k) / max(k, 1)
    c[cand[:, _C["valid"]] == 0] = 0.0
    return phi


class LinearSoftmaxAgent:
    """``p(a) ~ exp(features(obs)[a] . theta)`` over the valid actions among KEEP, PAUSE and
    the candidates; ``greedy`` takes the most likely one (ties: the first)."""

    def __init__(self, theta: np.ndarray | None = None, *, greedy: bool = True,
                 seed: int | None = None) -> None:
        self.theta = np.zeros(len(FEATURES)) if theta is None else np.asarray(theta, float)
        if self.theta.shape != (len(FEATURES),) or not np.all(np.isfinite(self.theta)):
            raise ValueError(f"theta must be {len(FEATURES)} finite numbers ({FEATURES})")
        self.greedy = greedy
        self.rng = np.random.default_rng(seed)

    def probabilities(self, obs: dict, mask: np.ndarray) -> np.ndarray:
        phi = features(obs)
        valid = np.asarray(mask[:len(phi)], dtype=bool)
        if not valid.any():               # only named hosts valid: never the case (KEEP is)
            raise ValueError("no valid action among KEEP, PAUSE and the candidates")
        z = np.where(valid, phi @ self.theta, -np.inf)
        p = np.exp(z - z[valid].max())
        return p / p.sum()

    def act(self, obs: dict, info: dict) -> int:
        p = self.probabilities(obs, info["action_mask"])
        if self.greedy:
            return int(np.argmax(p))
        return int(self.rng.choice(len(p), p=p))

    __call__ = act


def episode_return(env: ConstellationEnv, agent: Callable, seed: int) -> float:
    """Total reward of one episode of ``agent`` (``agent(obs, info) -> action``)."""
    obs, info = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, r, done, trunc, info = env.step(agent(obs, info))
        total += r
        done = done or trunc
    return total


def train_cem(env: ConstellationEnv, seeds: Iterable[int], *, iterations: int = 5,
              population: int = 8, elite: float = 0.25, std: float = 1.0,
              mean: np.ndarray | None = None, rng_seed: int = 0,
              progress: Callable[[int, float, float], None] | None = None) -> tuple:
    """Fit :class:`LinearSoftmaxAgent` weights by the cross-entropy method (module docstring).

    Each candidate weight vector is scored by its mean return over ``seeds`` (greedy actions,
    so a score is exact, not a sample); the ``elite`` fraction best refit the Gaussian's mean
    and spread (plus a decaying floor that keeps it exploring).  Returns ``(mean weights,
    history)`` with ``history`` one ``(best, mean elite score)`` per iteration;
    ``progress(iteration, best, elite mean)`` is called after each."""
    seeds = list(seeds)
    rng = np.random.default_rng(rng_seed)
    mu = np.zeros(len(FEATURES)) if mean is None else np.asarray(mean, float).copy()
    sigma = np.full(len(FEATURES), float(std))
    n_elite = max(1, int(round(population * elite)))
    history = []
    best_theta, best_score = mu.copy(), -np.inf
    for it in range(iterations):
        thetas = mu + sigma * rng.standard_normal((population, len(FEATURES)))
        scores = np.array([np.mean([episode_return(env, LinearSoftmaxAgent(t), s)
                                    for s in seeds]) for t in thetas])
        top = np.argsort(-scores, kind="stable")[:n_elite]
        mu = thetas[top].mean(axis=0)
        sigma = thetas[top].std(axis=0) + std * 0.5 ** (it + 1)
        if scores[top[0]] > best_score:
            best_theta, best_score = thetas[top[0]].copy(), float(scores[top[0]])
        history.append((float(scores[top[0]]), float(scores[top].mean())))
        if progress is not None:
            progress(it, *history[-1])
    return best_theta, history


def run_episodes(scenario: Any, label: str, seeds: Iterable[int], out_dir: Any, *,
                 agent: Callable[[ConstellationEnv], Callable] | None = None,
                 env_options: dict | None = None) -> list:
    """Run ``label`` over ``seeds`` and write ``out_dir/runs/<label>-s<seed>/`` (results and
    ``run.json``, the layout of a sweep folder: ``orbsched compare out_dir`` reads it).

    ``agent``: a factory ``agent(env) -> callable(obs, info) -> action`` run through a
    :class:`ConstellationEnv` (with ``env_options``); without it ``label`` is a policy name
    run directly, as ``orbsched run`` does.  Returns the runs' summaries."""
    out = Path(out_dir)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    index = len(list(runs.glob(f"*/{RUN_FILE}")))
    env = None
    if agent is not None:
        env = ConstellationEnv(scenario, name=label, **(env_options or {}))
        sc = env.scenario
    else:
        sc = ConstellationEnv(scenario).scenario if not hasattr(scenario, "seed") else scenario
    summaries = []
    for seed in seeds:
        run_id = f"{label}-s{seed}"
        folder = runs / run_id
        if env is not None:
            assert agent is not None            # env is built only for an agent
            episode_return(env, agent(env), seed)
            result = env.result
            assert result is not None           # set when the episode ends
        else:
            result = simulate(sc, seed=seed, policy=load_policy(label))
        result.write(folder)
        write_json(folder / RUN_FILE, {"id": run_id, "index": index, "seed": int(seed),
                                       "geometry": None, "params": {"policy": label},
                                       "overrides": []})
        index += 1
        summaries.append(json.loads((folder / "summary.json").read_text()))
    if env is not None:
        env.close()
    return summaries
