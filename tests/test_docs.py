"""Executable documentation: notebooks run, the scenario reference documents every field, and
the README's and the site's examples do what they say (every block runs: test_docs_site.py)."""
import json

import pytest
from pydantic import BaseModel

from orbsched.scenario import schema as config


def _run_notebook(path):
    nb = json.loads(path.read_text())
    ns = {"__name__": "__notebook__"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}[cell {i}]", "exec"), ns)
    return ns


def test_notebooks_execute(repo):
    pytest.importorskip("matplotlib")
    books = sorted((repo / "notebooks").glob("*.ipynb"))
    assert books
    for nb in books:
        _run_notebook(nb)


def _field_paths(model, prefix=""):
    """Dotted paths of every leaf field of a pydantic model or a dataclass, recursing into
    fields typed as a model or a dataclass, also through ``Optional[...]`` (e.g.
    ``hardware.thermal.radiator_area_m2``).  Unions of several types are leaves."""
    import dataclasses
    import types
    import typing

    if isinstance(model, type) and issubclass(model, BaseModel):
        items = [(n, f.annotation) for n, f in model.model_fields.items()]
    else:
        hints = typing.get_type_hints(model)
        items = [(f.name, hints[f.name]) for f in dataclasses.fields(model)]
    for name, ann in items:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
            ann = args[0]  # Optional[X]
        if isinstance(ann, type) and (issubclass(ann, BaseModel) or dataclasses.is_dataclass(ann)):
            yield from _field_paths(ann, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_scenario_reference_documents_every_field(repo):
    """docs/reference/scenario.md (generated) names every field, found here by walking the
    models independently of the generator."""
    page = (repo / "docs" / "reference" / "scenario.md").read_text()
    missing = [p for p in _field_paths(config.Scenario)       # a field, or a section's heading
               if f"`{p}`" not in page and f"\n## {p}" not in page]
    for model in list(config.CONSTELLATION_TAGS.values()) + [config.GroundStation]:
        missing += [f"{model.__name__}.{n}" for n in model.model_fields
                    if n != "type" and f"{n}`" not in page]
    for model in config.WORKLOAD_TAGS.values():
        missing += [f"{model.__name__}.{p}" for p in _field_paths(model)
                    if p != "type" and f"{p}`" not in page]
    assert not missing, f"docs/reference/scenario.md lacks: {missing}"


def test_network_example_moves_the_checkpoint(repo, monkeypatch):
    import re

    monkeypatch.chdir(repo)
    page = (repo / "docs" / "explanation" / "network.md").read_text()
    block = re.search(r"```python\n(import simpy\n.*?)```", page, re.S).group(1)
    ns = {}
    exec(compile(block, "network.md[example]", "exec"), ns)
    rec = ns["move"].value
    assert rec.ok and rec.delivered_gb == 112.0 and len(rec.paths[0]) > 2


def test_readme_policy_example_migrates(repo, tmp_path):
    import re

    from engine_helpers import check_invariants

    from orbsched.policies import load_policy
    from orbsched.run import simulate
    from orbsched.scenario.schema import load_scenario

    readme = (repo / "README.md").read_text()
    block = re.search(r"```python\n# file: mypolicy.py\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "mypolicy.py").write_text(block)
    pol = load_policy("mypolicy.py:SunniestNeighbour", base_dir=tmp_path)
    sc = load_scenario(repo / "configs" / "demo.yaml", ["duration_h=3", "workload.n_jobs=100"])
    res = simulate(sc, policy=pol)
    check_invariants(res.engine)
    s = res.summary()
    assert s["policy"] == "sunniest-neighbour" and s["migrations"]["started"] > 0
