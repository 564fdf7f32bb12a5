"""Overhead of the learning environment (orbsched.gym) against direct runs, in one process.

For a scenario (default the demo, 6 h, seed 1) it measures, in the same run:

1. ``greedy-sunlit`` run directly (:func:`orbsched.run.simulate`, as ``orbsched run``), and
   the same policy as a :class:`~orbsched.gym.PolicyAgent` through
   :class:`~orbsched.gym.ConstellationEnv`: the same decisions by construction (the result
   files are identical), so the ratio is the environment's whole cost: observations, action
   masks, rewards and the switches between the engine and the agent;
2. a masked random agent (:class:`~orbsched.gym.RandomAgent`) through the environment, and
   the same run with the same decisions taken directly: a plain policy replaying the agent's
   answers at the same hook calls (nothing to compute, so the ratio is an upper bound of the
   overhead), plus the built-in ``random`` policy for scale.

Each figure is the best of ``--repeat`` runs, as wall time and as CPU time of the process
(less sensitive to other jobs on a shared machine); the ratios the acceptance asks for (a
random agent's episode <= 2x a run with the same number of decisions) are printed last.

    python benchmarks/bench_gym.py [--scenario configs/demo.yaml] [--repeat 3] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from orbsched import load_scenario
from orbsched.gym import ConstellationEnv, PolicyAgent, RandomAgent
from orbsched.gym.episode import AgentPolicy
from orbsched.policies import load_policy
from orbsched.run import simulate

REPO = Path(__file__).resolve().parents[1]


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def best(fn, repeat):
    runs = [timed(fn) for _ in range(repeat)]
    return runs[0][0], min(r[1] for r in runs), min(r[2] for r in runs)


def episode(env, agent, seed, record=None):
    def run():
        obs, info = env.reset(seed=seed)
        n, done = 0, False
        while not done:
            a = agent(obs, info)
            if record is not None:
                record.append(env._answer(a))   # what the hook returns for this action
            obs, _, done, _, info = env.step(a)
            n += 1
        return n, env.result.engine.stats["decisions"]
    return run


class Replay(AgentPolicy):
    """A plain policy that returns recorded answers at the same hook calls (no agent)."""

    def __init__(self, frame, answers):
        self._answers = iter(answers)
        super().__init__(frame, lambda point: next(self._answers), name="replay")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(REPO / "configs" / "demo.yaml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs; load average {os.getloadavg()[0]:.1f}); "
          f"python {platform.python_version()}")
    print(f"scenario: {sc.name}, {sc.duration_h} h, seed {args.seed}; best of {args.repeat}")
    simulate(sc, seed=args.seed, policy=load_policy("greedy-sunlit"))      # warm the cache

    res, w_direct, c_direct = best(lambda: simulate(sc, seed=args.seed,
                                                    policy=load_policy("greedy-sunlit")),
                                   args.repeat)
    dec_direct = res.engine.stats["decisions"]
    env = ConstellationEnv(sc, policy="greedy-sunlit", name="greedy-sunlit")
    agent = PolicyAgent(None, env)
    (steps, dec_env), w_env, c_env = best(episode(env, agent.act, args.seed), args.repeat)
    print(f"\n1. greedy-sunlit directly: {w_direct:.3f} s wall, {c_direct:.3f} s CPU, "
          f"{dec_direct} decisions")
    print(f"   PolicyAgent(greedy-sunlit) in the env: {w_env:.3f} s wall, {c_env:.3f} s CPU, "
          f"{steps} steps, {dec_env} decisions")
    print(f"   ratio env / direct: {w_env / w_direct:.2f} wall, {c_env / c_direct:.2f} CPU "
          f"({(c_env - c_direct) / steps * 1e6:.0f} us CPU per step)")

    renv = ConstellationEnv(sc, policy="random", name="random-agent")
    answers: list = []
    episode(renv, RandomAgent(0).act, args.seed, answers)()
    _, w_rand, c_rand = best(episode(renv, RandomAgent(0).act, args.seed), args.repeat)
    rsteps = len(answers)

    def replay():
        r = simulate(sc, seed=args.seed, policy=Replay(load_policy("random"), answers))
        return r.engine.stats["decisions"]
    dec_replay, w_rep, c_rep = best(replay, args.repeat)
    res_b, w_b, c_b = best(lambda: simulate(sc, seed=args.seed, policy=load_policy("random")),
                           args.repeat)
    print(f"\n2. random agent in the env: {w_rand:.3f} s wall, {c_rand:.3f} s CPU, {rsteps} "
          f"steps ({dec_replay} decisions applied)")
    print(f"   its decisions replayed directly: {w_rep:.3f} s wall, {c_rep:.3f} s CPU")
    print(f"   built-in random policy directly: {w_b:.3f} s wall, {c_b:.3f} s CPU, "
          f"{res_b.engine.stats['decisions']} decisions")
    print(f"\nratio random agent / same decisions directly: {w_rand / w_rep:.2f} wall, "
          f"{c_rand / c_rep:.2f} CPU  (acceptance: <= 2)")
    print(f"ratio PolicyAgent(greedy-sunlit) / greedy-sunlit: {w_env / w_direct:.2f} wall, "
          f"{c_env / c_direct:.2f} CPU")
    env.close()
    renv.close()


if __name__ == "__main__":
    main()
