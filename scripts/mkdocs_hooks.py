"""MkDocs hooks (named in ``mkdocs.yml``): the build regenerates the reference pages.

Before each build, :func:`scripts.gen_reference.render` renders the reference pages from the
code and any page that differs is rewritten, so a site built from a checkout always shows the
code's fields, hooks, policies and commands (``tests/test_docs_site.py`` also fails when a
committed page is stale).  Only changed pages are written, so ``mkdocs serve`` does not loop.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_reference  # noqa: E402  (a script beside this one, not a package)


def on_pre_build(config) -> None:
    """Rewrite the generated reference pages that differ from the code."""
    out = Path(config["docs_dir"]) / "reference"
    for name, text in gen_reference.render().items():
        path = out / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
