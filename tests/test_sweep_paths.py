"""A sweep's paths resolve from the file that names them, and every run's policy (file, class,
options) is checked before the first run, with the sweep file's line (issue 17)."""
import textwrap

import pytest
import yaml

from orbsched.scenario.errors import ScenarioError
from orbsched.sweep import load_sweep, run_sweep

POLICY = """\
from orbsched.policies import GreedySunlit


class FullestBattery(GreedySunlit):
    name = "fullest-battery"

    def __init__(self, margin=0.1, **kw):
        super().__init__(**kw)
        self.margin = margin
"""


@pytest.fixture
def layout(tmp_path, repo):
    """base/demo.yaml (a copy of the demo naming base/own.py), sweeps/pols/soc.py, and the
    sweep file in sweeps/: the two folders differ, as in the issue's report."""
    base = tmp_path / "base"
    base.mkdir()
    demo = yaml.safe_load((repo / "configs" / "demo.yaml").read_text())
    demo["policy"] = {"name": "own.py:FullestBattery", "options": {"margin": 0.2}}
    (base / "demo.yaml").write_text(yaml.safe_dump(demo, sort_keys=False))
    (base / "own.py").write_text(POLICY)
    (tmp_path / "sweeps" / "pols").mkdir(parents=True)
    (tmp_path / "sweeps" / "pols" / "soc.py").write_text(POLICY)
    return tmp_path


def _sweep(root, body, name="s.yaml"):
    path = root / "sweeps" / name
    path.write_text(textwrap.dedent(body))
    return path


def test_policy_files_resolve_from_the_file_that_names_them(layout, tmp_path):
    path = _sweep(layout, """\
        name: paths
        base: ../base/demo.yaml
        set: {duration_h: 0.25, workload.n_jobs: 10}
        grid:
          policy.name: [own.py:FullestBattery, pols/soc.py:FullestBattery]
        """)
    with pytest.raises(ScenarioError) as err:         # own.py is the base's, not the sweep's
        load_sweep(path)
    assert f"{path}, line 5" in str(err.value) and "sweeps/own.py" in str(err.value)
    path = _sweep(layout, """\
        name: paths
        base: ../base/demo.yaml
        set: {duration_h: 0.25, workload.n_jobs: 10}
        grid:
          hardware.gpus: [4]
          policy.name: [pols/soc.py:FullestBattery]
        replications: 1
        """)
    sweep = load_sweep(path)
    run = sweep.runs[0]
    assert run.scenario.policy.options == {"margin": 0.2}          # from the base
    assert run.overrides[-1] == "policy.name=pols/soc.py:FullestBattery"   # as written
    # the base's own policy file, untouched by the sweep, resolves from the base's folder
    path2 = _sweep(layout, """\
        name: base-policy
        base: ../base/demo.yaml
        set: {duration_h: 0.25, workload.n_jobs: 10}
        grid:
          hardware.gpus: [2, 4]
        """, name="s2.yaml")
    sweep2 = load_sweep(path2)
    assert sweep2.runs[0].scenario.policy.name == \
        f"{(layout / 'base' / 'own.py').resolve()}:FullestBattery"
    out = run_sweep(path, tmp_path / "out", workers=1)
    assert out["done"] == 1 and out["failed"] == 0
    assert out["frame"]["policy"].iloc[0] == "fullest-battery"


def test_a_missing_policy_file_fails_before_the_first_run_and_in_dry_run(layout, tmp_path,
                                                                          capsys):
    from orbsched.cli import main

    path = _sweep(layout, """\
        name: missing
        base: ../base/demo.yaml
        set: {duration_h: 0.25}
        grid:
          policy: [greedy-sunlit,
                   pols/nosuch.py:FullestBattery]
        """)
    for extra in (["--dry-run"], []):
        assert main(["sweep", str(path), "--out", str(tmp_path / "out"), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{path}, line 6" in err and "file not found" in err and "nosuch.py" in err
        assert not (tmp_path / "out").exists()                    # nothing ran, nothing written


def test_bad_options_and_classes_name_the_line_that_set_them(layout):
    path = _sweep(layout, """\
        name: options
        base: ../base/demo.yaml
        set:
          duration_h: 0.25
          policy.options.marginn: 2
        grid:
          policy.name: [pols/soc.py:FullestBattery]
        """)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert f"{path}, line 5" in str(err.value) and "marginn" in str(err.value)
    path = _sweep(layout, """\
        name: class
        base: ../base/demo.yaml
        set: {duration_h: 0.25}
        zip:
          - policy: [pols/soc.py:Fullest]
        """)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert f"{path}, line 5" in str(err.value) and "has no class 'Fullest'" in str(err.value)


def test_a_missing_trace_file_fails_with_the_sweep_line(layout):
    path = _sweep(layout, """\
        name: trace
        base: ../base/demo.yaml
        set: {duration_h: 0.25}
        grid:
          workload: [{type: trace, format: philly-csv, path: traces/none.csv}]
        """)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    text = str(err.value)
    assert f"{path}, line 5" in text and "trace file not found" in text
    assert str(layout / "sweeps" / "traces" / "none.csv") in text


def test_a_scenario_resolves_its_paths_from_its_folder_and_set_from_the_current_one(
        layout, tmp_path, monkeypatch):
    """``load_scenario``: the policy file the scenario names is found beside it, whatever the
    current folder; a file given by ``--set`` is found from the current folder."""
    from orbsched.scenario.schema import load_scenario

    monkeypatch.chdir(layout / "sweeps")
    sc = load_scenario(layout / "base" / "demo.yaml")
    assert sc.policy.name == f"{(layout / 'base' / 'own.py').resolve()}:FullestBattery"
    sc = load_scenario(layout / "base" / "demo.yaml", ["policy.name=pols/soc.py:FullestBattery"])
    assert sc.policy.name == f"{(layout / 'sweeps' / 'pols' / 'soc.py').resolve()}:FullestBattery"
