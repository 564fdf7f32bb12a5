"""Documentation that cannot drift (issue 17): every code block of the README and the site
runs (``scripts/docs_blocks.py``: console outputs compared with what the commands print), the
reference pages equal what ``scripts/gen_reference.py`` renders from the code, the site's
navigation names every page, and what the README states is checked against the code."""
import re
import sys

import pytest
import yaml
from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))

import docs_blocks  # noqa: E402  (scripts/ is not a package)
import gen_reference  # noqa: E402

from orbsched import policies  # noqa: E402

PAGES = docs_blocks.pages()
MAX_NOT_RUN = 8           # blocks that cannot run (a cluster, installing, the suite itself)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_code_block_of_the_page_runs(page):
    outcome = docs_blocks.run_page(page)
    assert not outcome.failures, "\n".join(outcome.failures)


def test_few_blocks_are_marked_not_run():
    marked = [(b.where, b.not_run) for p in PAGES for b in docs_blocks.blocks(p) if b.not_run]
    assert len(marked) <= MAX_NOT_RUN, marked
    assert all(why.strip() for _, why in marked)


def test_the_runner_refuses_what_it_cannot_check(tmp_path):
    """A block without a language, a console output that differs and a flag that does not
    exist in a block marked not run each fail (the runner can fail)."""
    page = tmp_path / "page.md"
    page.write_text("```\nls\n```\n\n```console\n$ echo hello\nbye\n```\n\n"
                    "<!-- docs: not run: example -->\n```bash\norbsched run x.yaml --nope\n```\n")
    failures = docs_blocks.run_page(page).failures
    assert len(failures) == 3, failures
    assert "must name its language" in failures[0]
    assert "printed something else" in failures[1]
    assert "does not parse" in failures[2]


def test_reference_pages_are_generated_from_the_current_code():
    stale = [name for name, text in gen_reference.render().items()
             if (gen_reference.OUT / name).read_text(encoding="utf-8") != text]
    assert not stale, f"run python scripts/gen_reference.py: {stale} differ from the code"


def _nav_files(items):
    for item in items:
        for value in (item.values() if isinstance(item, dict) else [item]):
            if isinstance(value, list):
                yield from _nav_files(value)
            else:
                yield value


def test_the_navigation_names_every_page_once():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    nav = list(_nav_files(config["nav"]))
    pages = sorted(str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md"))
    assert sorted(nav) == pages


def test_docs_name_files_that_exist():
    """Module paths (``orbsched/...py``) and the README's relative links point at files."""
    texts = {p: p.read_text(encoding="utf-8") for p in PAGES}
    missing = [(str(p.relative_to(REPO)), m) for p, t in texts.items()
               for m in re.findall(r"orbsched/[\w/]+\.pyx?", t) if not (REPO / m).exists()]
    readme = texts[REPO / "README.md"]
    missing += [("README.md", m) for m in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
                if not (REPO / m).exists()]
    assert not missing, missing


def test_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert re.search(r"^pip install \. && orbsched run configs/demo\.yaml", readme, re.M)
    assert re.search(r'^pip install "\.\[test\]" && pytest$', readme, re.M)
    builtin = [n for n, cls in policies._REGISTRY.items()
               if cls.__module__.startswith("orbsched.policies.")]
    words = {6: "Six", 7: "Seven", 8: "Eight"}
    assert f"{words[len(builtin)]} built-in policies" in readme
    from orbsched import __version__
    assert f"version = {{{__version__}}}" in readme


def test_policy_reference_lists_every_jobinfo_field_and_every_option():
    """Cross-checks of the generated pages, read from the code another way: every member
    the ``JobInfo`` protocol declares, and every keyword of each built-in policy's
    constructor, appear in their reference page."""
    import inspect
    import typing

    from orbsched.policies.api import JobInfo

    api = (REPO / "docs" / "reference" / "policy-api.md").read_text(encoding="utf-8")
    fields = list(typing.get_type_hints(JobInfo)) + [
        n for n, v in vars(JobInfo).items() if isinstance(v, property)]
    assert len(fields) > 10
    assert [f for f in fields if f"`{f}" not in api] == []
    page = (REPO / "docs" / "reference" / "policies.md").read_text(encoding="utf-8")
    missing = []
    for name, cls in policies._REGISTRY.items():
        if not cls.__module__.startswith("orbsched.policies."):
            continue
        section = page.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        missing += [f"{name}.{p.name}" for p in params if f"`{p.name}`" not in section]
    assert missing == []


def test_every_shipped_scenario_is_listed():
    page = (REPO / "docs" / "tutorial" / "first-run.md").read_text(encoding="utf-8")
    assert [p.name for p in sorted((REPO / "configs").glob("*.yaml"))
            if f"`{p.name}`" not in page] == []
