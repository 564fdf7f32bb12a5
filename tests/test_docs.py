"""Executable documentation: notebooks run, and the README documents every scenario field."""
import json

import pytest
from pydantic import BaseModel

from orbsched import config


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
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _field_paths(ann, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_readme_documents_every_scenario_field(repo):
    readme = (repo / "README.md").read_text()
    missing = [p for p in _field_paths(config.Scenario) if f"`{p}`" not in readme]
    for model in list(config._TAGS.values()) + [config.GroundStation]:
        missing += [f"{model.__name__}.{n}" for n in model.model_fields
                    if n != "type" and f"`{n}`" not in readme and n not in readme]
    assert not missing, f"README lacks: {missing}"


def test_readme_network_example_runs(repo, monkeypatch):
    import re

    monkeypatch.chdir(repo)
    readme = (repo / "README.md").read_text()
    block = re.search(r"```python\n(import simpy\n.*?)```", readme, re.S).group(1)
    ns = {}
    exec(compile(block, "README.md[network example]", "exec"), ns)
    rec = ns["move"].value
    assert rec.ok and rec.delivered_gb == 112.0 and len(rec.paths[0]) > 2
