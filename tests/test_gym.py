"""The learning environment (orbsched.gym): same results as direct runs, the Gymnasium API,
observations against the view, masks, rewards against summary.json, seeds, vector envs."""
import filecmp
import math
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("greenlet")

from conftest import REPO  # noqa: E402

from orbsched import load_scenario, scenario_from_dict  # noqa: E402
from orbsched.gym import (  # noqa: E402
    KEEP,
    PAUSE,
    PLACE,
    SHADOW,
    ConstellationEnv,
    GoodputReward,
    PolicyAgent,
    RandomAgent,
)
from orbsched.gym.observe import CANDIDATE_FEATURES  # noqa: E402
from orbsched.gym.reward import JobLedger  # noqa: E402
from orbsched.policies import Policy, load_policy  # noqa: E402
from orbsched.run import simulate  # noqa: E402
from orbsched.scenario.errors import OrbschedError, PolicyError  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    return load_scenario(REPO / "configs" / "demo.yaml")


@pytest.fixture(scope="module")
def short(demo):
    """The demo over 2 h: enough decisions of both kinds, quick."""
    return demo.model_copy(update={"duration_h": 2.0})


def play(env, agent, seed):
    obs, info = env.reset(seed=seed)
    trace, total, done = [], 0.0, False
    while not done:
        a = agent(obs, info)
        trace.append((info["kind"], info["job_id"], int(a)))
        obs, r, done, trunc, info = env.step(a)
        assert not trunc
        total += r
    return trace, total, info


@pytest.mark.parametrize("policy", ["greedy-sunlit", "stay", "lookahead", "random"])
def test_policy_agent_gives_the_files_of_a_direct_run(demo, tmp_path, policy):
    direct = simulate(demo, seed=1, policy=load_policy(policy))
    direct.write(tmp_path / "direct")
    env = ConstellationEnv(demo, policy=policy, name=policy)
    agent = PolicyAgent(policy, env)
    trace, _, _ = play(env, agent, 1)
    env.result.write(tmp_path / "env")
    files = sorted(p.name for p in (tmp_path / "direct").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "env").iterdir())
    for name in files:
        if name != "manifest.json":               # wall times: differs between any two runs
            assert filecmp.cmp(tmp_path / "direct" / name, tmp_path / "env" / name,
                               shallow=False), name
    # every decision of the run was a step, and it took as many decisions as the direct run
    assert env.result.engine.stats["decisions"] == direct.engine.stats["decisions"]
    assert len(trace) == agent.in_candidates + agent.named + sum(a in (KEEP, PAUSE)
                                                                 for _, _, a in trace)
    if policy in ("greedy-sunlit", "stay"):      # their choices are always candidates
        assert agent.named == 0
    env.close()


def test_policy_agent_refuses_another_frame(short):
    env = ConstellationEnv(short, policy="stay")
    agent = PolicyAgent("greedy-sunlit", env)
    obs, info = env.reset(seed=1)
    with pytest.raises(OrbschedError, match="frame policy is 'stay'"):
        agent.act(obs, info)
    with pytest.raises(OrbschedError, match="needs the ConstellationEnv"):
        PolicyAgent("stay")


def test_frame_that_replaces_the_queue_pass_is_refused(short):
    class OwnQueue(Policy):
        name = "own-queue"

        def schedule(self, view):
            return iter(())

    with pytest.raises(PolicyError, match="overrides schedule"):
        env = ConstellationEnv(short, policy=OwnQueue)
        env.reset(seed=1)


def test_observation_matches_the_view(short):
    env = ConstellationEnv(short, policy="greedy-sunlit", candidates=6)
    agent = PolicyAgent(None, env)
    obs, info = env.reset(seed=2)
    seen = {PLACE: 0, SHADOW: 0}
    col = {c: i for i, c in enumerate(CANDIDATE_FEATURES)}
    for _ in range(300):
        p = env.point
        if p is None:
            break
        assert obs in env.observation_space
        v, job = p.view, p.job
        n, now = v.n_sats, v.now_s
        seen[p.kind] += 1
        assert obs["kind"] == p.kind and info["kind"] == ("place", "shadow")[p.kind]
        assert np.allclose(obs["soc"], [v.soc(i) for i in range(n)], atol=1e-6)
        assert np.allclose(obs["temperature_k"], [v.temperature_k(i) for i in range(n)],
                           rtol=1e-6)
        assert np.array_equal(obs["free_gpus"], v.free)
        assert np.array_equal(obs["illumination"], v.state)
        left = v.duration_s - now
        for i in range(0, n, 7):
            edge = v.next_eclipse_entry_s[i] if v.state[i] == v.SUNLIT else v.eclipse_exit_s[i]
            assert obs["edge_s"][i] == pytest.approx(min(edge - now, left), abs=1e-2)
        assert obs["job"][0] == job.gpus
        mask = info["action_mask"]
        assert mask[KEEP] == 1 and mask[PAUSE] == (p.kind == SHADOW)
        site = p.sat
        for k, h in enumerate(obs["candidate_hosts"]):
            row = obs["candidates"][k]
            if h < 0:
                assert mask[2 + k] == 0 and not row.any()
                continue
            assert mask[2 + k] == 1 and row[col["valid"]] == 1
            assert v.can_host(int(h), job.gpus)
            if site >= 0 and h != site:        # path from the job's site, as the network has it
                route = v.route(site, int(h))
                assert route is not None and row[col["hops"]] == len(route) - 1
                assert row[col["light_s"]] == pytest.approx(
                    v.light_times([site, int(h)])[0, 1], rel=1e-5)
            assert row[col["soc"]] == pytest.approx(v.soc(int(h)), abs=1e-6)
        named = mask[2 + env.observer.k:]
        # the mask is conservative: every named host can take the job now, with a path
        for h in np.flatnonzero(named):
            assert v.can_host(int(h), job.gpus)
            if site >= 0 and h != site:
                assert v.reachable(site, int(h))
        hosts = set(v.hosts(job.gpus).tolist())
        if site < 0:                           # a new job may go to any host
            assert set(np.flatnonzero(named[:n]).tolist()) == hosts
        obs, r, done, _, info = env.step(agent.act(obs, info))
        if done:
            break
    assert seen[PLACE] > 20 and seen[SHADOW] > 20
    env.close()


def test_reset_reproduces_the_episode(short):
    env = ConstellationEnv(short, policy="random")
    a = play(env, RandomAgent(5), seed=3)
    b = play(env, RandomAgent(5), seed=3)
    c = play(env, RandomAgent(5), seed=4)
    assert a[0] == b[0] and a[1] == b[1]
    assert a[0] != c[0]
    # the first reset without a seed is the scenario's seed
    env2 = ConstellationEnv(short)
    obs1, _ = env2.reset()
    obs2, _ = env.reset(seed=short.seed)
    assert all(np.array_equal(obs1[k], obs2[k]) for k in obs1)
    env.close()
    env2.close()


def test_rewards_sum_to_the_summary(short):
    """Sum of the default reward = completed GPU-h - GPU-h lost to brownouts and radiation,
    as summary.json has them (a run with radiation faults and brownouts)."""
    raw = short.model_dump(mode="json", exclude_none=True)
    raw["faults"] = {"radiation": {"dose_rad_per_year": 150000.0}}
    raw["learning"] = {"reward": {"completed": 1.0, "brownout": 2.0, "radiation": 3.0}}
    sc = scenario_from_dict(raw)
    env = ConstellationEnv(sc, policy="stay")
    _, total, info = play(env, RandomAgent(1), seed=1)
    s = env.result.summary()
    lost = s["work_lost_gpu_h"]
    assert lost["brownout"] > 0 and lost["radiation"] > 0
    expect = s["completed_gpu_h"] - 2.0 * lost["brownout"] - 3.0 * lost["radiation"]
    assert total == pytest.approx(expect, abs=1e-4)
    ledger = info["ledger"]
    assert ledger.completed_gpu_h == pytest.approx(s["completed_gpu_h"], abs=1e-5)
    assert ledger.decisions > 0 and ledger.invalid == 0
    env.close()


def test_ledger_skips_no_change(short, monkeypatch):
    """The ledger rescans only when the view's ``outcomes`` counter moved (or a job with
    losses was placed): every step's rewards and ledger equal those of a ledger that
    rescans at every step (a run with faults, brownouts and completions)."""
    raw = short.model_dump(mode="json", exclude_none=True)
    raw["faults"] = {"radiation": {"dose_rad_per_year": 150000.0}}
    sc = scenario_from_dict(raw)

    def steps():
        env = ConstellationEnv(sc, policy="stay")
        agent, out = RandomAgent(2), []
        obs, info = env.reset(seed=3)
        done = False
        while not done:
            obs, r, done, _, info = env.step(agent(obs, info))
            led = env.ledger
            out.append((r, led.t_s, led.completed_gpu_h,       # a loss of 0 GPU-h moves no
                        sorted((c, v) for c, v in led.lost_gpu_h.items() if v)))  # counter
        env.close()
        return out

    skipping = steps()
    full = JobLedger.update
    monkeypatch.setattr(JobLedger, "update", lambda self, ledger, t_s, outcomes=None:
                        full(self, ledger, t_s, None))
    rescanning = steps()
    assert skipping == rescanning
    assert len(skipping) > 100 and skipping[-1][2] > 0.0
    assert sum(1 for i in range(1, len(skipping))
               if skipping[i][3] != skipping[i - 1][3]) > 3      # losses moved


def test_reward_is_pluggable_and_validated(short):
    calls = []

    def fn(before, after):
        calls.append(after.decisions - before.decisions)
        return -1.0

    env = ConstellationEnv(short, reward=fn)
    _, total, _ = play(env, RandomAgent(0), seed=1)
    assert set(calls) == {1} and total == -len(calls)
    with pytest.raises(TypeError, match="unknown weight"):
        GoodputReward(completd=1.0)
    with pytest.raises(OrbschedError, match="reward must be a callable"):
        ConstellationEnv(short, reward=3.0)
    with pytest.raises(OrbschedError, match="candidates must be"):
        ConstellationEnv(short, candidates=0)
    with pytest.raises(OrbschedError, match="on_invalid"):
        ConstellationEnv(short, on_invalid="ignore")
    env.close()


def _until(env, kind, obs, info):
    agent = PolicyAgent(None, env)
    while env.point is not None and env.point.kind != kind:
        obs, _, _, _, info = env.step(agent.act(obs, info))
    return obs, info


def test_invalid_actions_are_rejected_like_bad_decisions(short):
    env = ConstellationEnv(short, policy="greedy-sunlit")
    obs, info = env.reset(seed=1)
    obs, info = _until(env, PLACE, obs, info)
    with pytest.raises(PolicyError, match="PAUSE is for a running job"):
        env.step(PAUSE)
    obs, info = env.reset(seed=1)
    obs, info = _until(env, PLACE, obs, info)
    job = env.point.job
    full = [h for h in range(env.n_sats) if env.point.view.free_gpus(h) < job.gpus]
    if full:                                       # the engine's own check rejects it
        with pytest.raises(PolicyError, match="rejected"):
            env.step(env.observer.host_action(full[0]))
        obs, info = env.reset(seed=1)
    with pytest.raises(PolicyError, match="not in the action space"):
        env.step(env.action_space.n)
    with pytest.raises(PolicyError, match="not in the action space"):
        env.step(True)
    env.close()


def test_on_invalid_keep_replaces_and_counts(short):
    env = ConstellationEnv(short, policy="greedy-sunlit", on_invalid="keep",
                           reward=GoodputReward(invalid=0.5))
    obs, info = env.reset(seed=1)
    obs, info = _until(env, PLACE, obs, info)
    before = env.ledger.invalid
    obs, r, done, _, info = env.step(PAUSE)
    assert info.get("invalid_action") is True
    assert env.ledger.invalid == before + 1
    assert r <= -0.5 + 1e-9 or r < 1e6      # the penalty is in the reward
    env.close()


def test_check_env_on_the_demo(short):
    from gymnasium.utils.env_checker import check_env

    import orbsched.gym  # noqa: F401  (registers the id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(ConstellationEnv(short, on_invalid="keep"))
        env = gym.make("orbsched/Constellation-v0", scenario=short, on_invalid="keep")
        check_env(env.unwrapped)
        env.close()


def test_check_env_on_starlink_shell1(repo):
    """Starlink shell 1 (1,584 satellites) over half an hour: same spaces, same checks."""
    from gymnasium.utils.env_checker import check_env

    sc = load_scenario(repo / "configs" / "starlink-shell1.yaml")
    sc = sc.model_copy(update={"duration_h": 0.5})
    env = ConstellationEnv(sc, on_invalid="keep")
    assert env.observation_space["soc"].shape == (1584,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    env.close()


def test_vector_env_over_seeds(short):
    envs = gym.vector.SyncVectorEnv(
        [lambda: ConstellationEnv(short.model_copy(update={"duration_h": 1.0}))
         for _ in range(3)])
    obs, infos = envs.reset(seed=[1, 2, 3])
    rng = np.random.default_rng(0)
    assert obs["soc"].shape == (3, 96)
    ends = 0
    for _ in range(400):
        acts = [int(rng.choice(np.flatnonzero(m))) for m in infos["action_mask"]]
        obs, r, term, trunc, infos = envs.step(np.array(acts))
        ends += int(term.sum())
        if ends >= 3:
            break
    assert ends >= 3                               # every seed ran its episode to the end
    envs.close()


def test_scenario_learning_section(short):
    raw = short.model_dump(mode="json", exclude_none=True)
    assert "learning" not in raw                   # absent unless given: results unchanged
    raw["learning"] = {"candidates": 5}
    env = ConstellationEnv(scenario_from_dict(raw))
    assert env.observation_space["candidates"].shape == (5, len(CANDIDATE_FEATURES))
    assert env.action_space.n == 2 + 5 + 96
    raw["learning"] = {"candidates": 5, "reward": {"completed": -1}}
    with pytest.raises(Exception, match="learning.reward.completed"):
        scenario_from_dict(raw)
    raw["learning"] = {"candidate": 5}
    with pytest.raises(Exception, match="learning.candidate"):
        scenario_from_dict(raw)
    assert math.isfinite(env.observer.duration_s)


def test_parallel_env_api_and_same_run(short, tmp_path):
    pytest.importorskip("pettingzoo")
    from pettingzoo.test import parallel_api_test

    from orbsched.gym import ConstellationParallelEnv
    one_hour = short.model_copy(update={"duration_h": 1.0})
    parallel_api_test(ConstellationParallelEnv(one_hour), num_cycles=100000)
    # the satellites and the ground scheduler, each deciding its own jobs as greedy-sunlit
    # would, give the direct run's results
    penv = ConstellationParallelEnv(one_hour, policy="greedy-sunlit", name="greedy-sunlit")
    agent = PolicyAgent(None, penv.env)
    obs, infos = penv.reset(seed=2)
    owners = set()
    while penv.agents:
        actor = [a for a in penv.agents if obs[a]["active"] == 1]
        assert len(actor) == 1
        owners.add(actor[0].split("_")[0])
        acts = dict.fromkeys(penv.agents, KEEP)
        acts[actor[0]] = agent.act(obs[actor[0]], infos[actor[0]])
        obs, rewards, terms, truncs, infos = penv.step(acts)
        assert len(set(rewards.values())) == 1              # one team reward
    assert owners == {"sat", "ground"}
    penv.result.write(tmp_path / "marl")
    simulate(one_hour, seed=2, policy=load_policy("greedy-sunlit")).write(tmp_path / "direct")
    for name in ("jobs.parquet", "events.parquet", "summary.json", "timeseries.parquet"):
        assert filecmp.cmp(tmp_path / "marl" / name, tmp_path / "direct" / name,
                           shallow=False), name
    obs, infos = penv.reset(seed=2)
    idle = next(a for a in penv.agents if obs[a]["active"] == 0)
    with pytest.raises(PolicyError, match="has no decision"):
        penv.step({**dict.fromkeys(penv.agents, KEEP), idle: 2})
    penv.close()
