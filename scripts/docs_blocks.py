"""Run every code block of the documentation (``README.md`` and ``docs/**/*.md``).

    python scripts/docs_blocks.py                 # run every page's blocks, report failures
    python scripts/docs_blocks.py --update        # also rewrite the console outputs shown
    python scripts/docs_blocks.py docs/tutorial/first-run.md

``tests/test_docs_site.py`` runs each page through :func:`run_page`, so a block that stops
working, or an output that no longer matches what the code prints, fails the tests.

How each fenced block is treated (one working folder per page, holding ``configs/`` of the
repository, blocks run in page order):

* ``python``: executed in one namespace per page.  A first line ``# file: NAME`` writes the
  block to ``NAME`` instead (a policy file, say) for later blocks to use.
* ``yaml``: a first line ``# file: NAME`` writes it to ``NAME``; otherwise it must load
  strictly, and a fragment of a scenario is validated merged into ``configs/demo.yaml``,
  a fragment of a sweep file (``grid``, ``zip``, ``random``...) as a sweep of that scenario.
* ``console``: each ``$ command`` runs with bash (``orbsched`` from this interpreter's
  environment); the lines after it are its expected output, compared line by line after the
  working folder's path is removed: ``...`` inside a line matches any text, a line that is
  only ``...`` any number of lines.  An output with ``orbsched: error:`` expects a non-zero
  exit code, any other a zero one.  ``--update`` rewrites the expected lines from the real
  output (keeping ``...`` lines as written where they still match).
* ``bash``: each line runs as a command, which must exit 0.
* ``pip install`` commands are not run (the page's environment is already installed); the
  extras they name must exist in ``pyproject.toml``.
* A block right after ``<!-- docs: not run: REASON -->`` is not run: its ``orbsched``
  commands are parsed by the command line's parser (so flags that do not exist fail) and
  the other programs it calls must be installed.
* ``text`` blocks (outputs, listings, generated help) and ``bibtex`` are not code and are not
  run; a block without a language, or in another one, is an error (say what it is).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*docs:\s*not run:\s*(?P<why>.+?)\s*-->\s*$")
RUN_LANGS = ("python", "yaml", "console", "bash")
TEXT_LANGS = ("text", "bibtex")        # outputs, listings, generated help, citations: not code


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    start: int                 # offsets of the body in the page's text
    end: int
    indent: str = ""
    not_run: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page}" \
               f":{self.line}"


@dataclass
class Outcome:
    failures: list = field(default_factory=list)
    ran: int = 0
    skipped: list = field(default_factory=list)
    updates: list = field(default_factory=list)      # (start, end, new body)


def blocks(page: Path) -> list:
    """The fenced code blocks of a Markdown page, in order."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").splitlines()
        prev = before[-1] if before else ""
        not_run = NOT_RUN.search(prev)
        indent = m.group("indent")
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line
                         for line in m.group("body").splitlines())
        out.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group("lang"),
                         body + "\n", m.start("body"), m.end("body"), indent,
                         not_run.group("why") if not_run else ""))
    return out


def pages() -> list:
    """README.md and every page of the site."""
    return [REPO / "README.md"] + sorted((REPO / "docs").rglob("*.md"))


# ----------------------------------------------------------------------------- the runners
def _workdir():
    tmp = Path(tempfile.mkdtemp(prefix="orbsched-docs-"))
    shutil.copytree(REPO / "configs", tmp / "configs")
    return tmp


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    env.pop("ORBSCHED_DEBUG", None)
    return env


def _pip_extras_exist(command: str) -> str:
    """'' when every extra a ``pip install`` command names is in pyproject.toml."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    named = [e for group in re.findall(r"\[([\w,\s-]+)\]", command) for e in group.split(",")]
    missing = [e.strip() for e in named if e.strip() not in extras]
    return f"pip extras not in pyproject.toml: {missing}" if missing else ""


def _split_and(command: str) -> list:
    return [c.strip() for c in command.split("&&") if c.strip()]


def _matches(expected: list, actual: list) -> bool:
    """Line-by-line match with ``...`` wildcards (in a line: any text; a line alone: any
    number of lines)."""
    def line_ok(e, a):
        if "..." not in e:
            return e.rstrip() == a.rstrip()
        pattern = ".*".join(re.escape(p) for p in e.rstrip().split("..."))
        return re.fullmatch(pattern, a.rstrip()) is not None

    def go(i, j):
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return any(go(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and line_ok(expected[i], actual[j]) and go(i + 1, j + 1)
    return go(0, 0)


def _run_shell(command, cwd, timeout=600):
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    out = (proc.stdout + proc.stderr).replace(f"{cwd}/", "").replace(str(cwd), ".")
    return proc.returncode, out.splitlines()


def _parse_orbsched(command: str) -> str:
    """'' when an ``orbsched ...`` command parses (the flags exist)."""
    from orbsched.cli import build_parser

    argv = shlex.split(command)[1:]
    if argv and argv[0] in ("economics", "report", "view"):
        return ""            # these parse their own arguments: --help is tested elsewhere
    buf_err = []
    try:
        with contextlib.redirect_stderr(_Sink(buf_err)):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return f"does not parse: {command}: {''.join(buf_err).strip()}"
    return ""


class _Sink:
    def __init__(self, store):
        self.store = store

    def write(self, text):
        self.store.append(text)

    def flush(self):
        pass


def _check_not_run(block: Block) -> str:
    """What is wrong with a block that is not run: a python block must compile; the
    ``orbsched`` commands of a shell block must parse and its other programs exist."""
    if block.lang == "python":
        try:
            compile(block.body, block.where, "exec")
        except SyntaxError as exc:
            return f"does not compile: {exc}"
        return ""
    problems = []
    for line in block.body.splitlines():
        cmd = line[2:] if line.startswith("$ ") else line
        cmd = cmd.strip()
        if not cmd or cmd.startswith("#") or (block.lang == "console" and
                                                not line.startswith("$ ")):
            continue
        for part in _split_and(cmd):
            prog = shlex.split(part)[0]
            if prog == "orbsched":
                problems.append(_parse_orbsched(part))
            elif prog == "pip":
                problems.append(_pip_extras_exist(part))
            elif shutil.which(prog, path=_env()["PATH"]) is None:
                problems.append(f"{prog}: not installed")
    return "; ".join(p for p in problems if p)


def _console(block: Block, cwd, outcome: Outcome, update: bool):
    lines = block.body.rstrip("\n").splitlines()
    i = 0
    new_lines = []
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            outcome.failures.append(f"{block.where}: console text before a '$ ' command: "
                                    f"{line!r}")
            return
        command = line[2:]
        j = i + 1
        while j < len(lines) and not lines[j].startswith("$ "):
            j += 1
        expected = lines[i + 1:j]
        parts = _split_and(command)
        code, actual = 0, []
        for part in parts:
            if part.startswith("pip "):
                problem = _pip_extras_exist(part)
                if problem:
                    outcome.failures.append(f"{block.where}: {problem}")
                continue
            code, out = _run_shell(part, cwd)
            actual += out
            if code != 0:
                break
        wants_error = any("orbsched: error:" in e for e in expected)
        if (code != 0) != wants_error:
            outcome.failures.append(f"{block.where}: '{command}' exited {code}:\n"
                                    + "\n".join(actual[-30:]))
        elif expected and not _matches(expected, actual):
            if update:
                new_lines += [line] + _merge(expected, actual)
                i = j
                continue
            outcome.failures.append(
                f"{block.where}: '{command}' printed something else.\n--- expected\n"
                + "\n".join(expected) + "\n--- printed\n" + "\n".join(actual))
        new_lines += [line] + expected
        i = j
    if update:
        body = "\n".join(new_lines) + "\n"
        if body != block.body:
            outcome.updates.append((block, body))


def _merge(expected, actual):
    """The printed lines, keeping the page's ``...`` lines where they still match."""
    out = []
    for a in actual:
        e = next((e for e in expected if "..." in e and e.strip() != "..."
                  and _matches([e], [a])), None)
        out.append(e if e is not None else a)
    return out


_SWEEP_KEYS = {"name", "base", "base_scenario", "set", "grid", "zip", "random",
               "replications", "seeds"}


def _yaml(block: Block, cwd, outcome: Outcome):
    from orbsched.scenario.schema import Scenario, scenario_from_dict
    from orbsched.scenario.strict_yaml import load_yaml
    from orbsched.sweep import load_sweep

    first = block.body.splitlines()[0] if block.body.strip() else ""
    if first.startswith("# file: "):
        target = Path(cwd) / first[len("# file: "):].strip()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body, encoding="utf-8")
        return
    data = load_yaml(block.body, block.where)[0]
    if not isinstance(data, dict):
        raise ValueError(f"{block.where}: a YAML block must be a mapping")
    if set(data) <= _SWEEP_KEYS and set(data) & {"grid", "zip", "random", "seeds",
                                                  "replications", "base"}:
        doc = {"base": str(Path(cwd) / "configs" / "demo.yaml"), **data}
        doc["base"] = str(Path(cwd) / "configs" / Path(doc["base"]).name)
        path = Path(cwd) / "_docs_sweep.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        load_sweep(path)
        return
    unknown = set(data) - set(Scenario.model_fields)
    if unknown:
        raise ValueError(f"{block.where}: neither a scenario nor a sweep fragment "
                         f"(keys {sorted(unknown)})")
    base = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    for k, v in data.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    scenario_from_dict(base, block.where, cwd)


def run_page(page: Path, update: bool = False, keep: bool = False) -> Outcome:
    """Run every block of ``page`` (module docstring); returns what failed."""
    outcome = Outcome()
    cwd = _workdir()
    namespace = {"__name__": "__docs__"}
    old = os.getcwd()
    os.chdir(cwd)
    sys.path.insert(0, str(cwd))          # as `python` started in that folder: its files import
    try:
        for block in blocks(page):
            if block.lang not in RUN_LANGS:
                if block.lang not in TEXT_LANGS:
                    outcome.failures.append(f"{block.where}: a code block must name its "
                                            f"language: one of {RUN_LANGS} (run) or "
                                            f"{TEXT_LANGS} (not code), not {block.lang!r}")
                continue
            if block.not_run:
                problem = _check_not_run(block)
                if problem:
                    outcome.failures.append(f"{block.where}: {problem}")
                outcome.skipped.append((block.where, block.not_run))
                continue
            outcome.ran += 1
            try:
                if block.lang == "python":
                    first = block.body.splitlines()[0] if block.body.strip() else ""
                    if first.startswith("# file: "):
                        target = cwd / first[len("# file: "):].strip()
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(block.body, encoding="utf-8")
                    else:
                        exec(compile(block.body, block.where, "exec"), namespace)
                elif block.lang == "yaml":
                    _yaml(block, cwd, outcome)
                elif block.lang == "console":
                    _console(block, cwd, outcome, update)
                else:
                    for line in block.body.splitlines():
                        if not line.strip() or line.strip().startswith("#"):
                            continue
                        for part in _split_and(line):
                            if part.startswith("pip "):
                                problem = _pip_extras_exist(part)
                                if problem:
                                    outcome.failures.append(f"{block.where}: {problem}")
                                continue
                            code, out = _run_shell(part, cwd)
                            if code != 0:
                                outcome.failures.append(f"{block.where}: '{part}' exited "
                                                        f"{code}:\n" + "\n".join(out[-30:]))
            except Exception as exc:          # a block's own failure: report it, go on
                outcome.failures.append(f"{block.where}: {type(exc).__name__}: {exc}")
    finally:
        os.chdir(old)
        sys.path.remove(str(cwd))
        for name, mod in list(sys.modules.items()):       # the page's own modules go with it
            if str(getattr(mod, "__file__", None) or "").startswith(str(cwd)):
                del sys.modules[name]
        try:
            import matplotlib.pyplot as plt
            plt.close("all")
        except ImportError:
            pass
        if not keep:
            shutil.rmtree(cwd, ignore_errors=True)
    if update and outcome.updates:
        text = page.read_text(encoding="utf-8")
        for block, body in sorted(outcome.updates, key=lambda u: -u[0].start):
            indented = "\n".join(block.indent + ln if ln else ln
                                 for ln in body.rstrip("\n").splitlines()) + "\n"
            text = text[:block.start] + indented + text[block.end:]
        page.write_text(text, encoding="utf-8")
    return outcome


def main(argv=None) -> int:
    """Run the pages named (default: all) and print what failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", type=Path)
    ap.add_argument("--update", action="store_true", help="rewrite the console outputs")
    args = ap.parse_args(argv)
    failed = 0
    for page in [p.resolve() for p in args.pages] or pages():
        outcome = run_page(page, update=args.update)
        status = "ok" if not outcome.failures else f"{len(outcome.failures)} failed"
        print(f"{page.relative_to(REPO)}: {outcome.ran} blocks run, "
              f"{len(outcome.skipped)} not run, {status}"
              + (f", {len(outcome.updates)} outputs updated" if outcome.updates else ""))
        for f in outcome.failures:
            print("  " + f.replace("\n", "\n    "))
        failed += bool(outcome.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
