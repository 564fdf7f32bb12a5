"""Strict, bounded YAML reading for scenario and sweep files.

:func:`load_yaml` reads a YAML text into Python objects and a map of field paths to line
numbers, refusing before any validation:

* text that is not UTF-8 (a binary file) or larger than :data:`MAX_BYTES`;
* a duplicate key in a mapping (YAML 1.1 keeps the last one silently; a scenario where
  ``duration_h`` is given twice is almost certainly a mistake), except through ``<<`` merges,
  whose keys an explicit key overrides by design;
* documents whose aliases expand to more than :data:`MAX_NODES` nodes (an "anchor bomb": a few
  KB of ``&a [*b, *b, ...]`` that expands to billions of nodes), recursive aliases, and
  nesting deeper than :data:`MAX_DEPTH` levels.  The expanded size is counted on the
  composed node graph, where an alias is a reference to its anchor's node, with each distinct
  node's size computed once: the check costs the size of the *text*, not of the expansion;
* values the YAML constructors cannot build (``2024-13-01`` is a YAML timestamp with month
  13): the error names the line instead of raising ``ValueError`` from deep inside PyYAML.

Every refusal is a :class:`orbsched.scenario.errors.ScenarioError` naming the source and the line.
"""
from __future__ import annotations

import yaml

from .errors import ScenarioError

__all__ = ["MAX_BYTES", "MAX_NODES", "load_yaml", "line_map", "parse_value", "read_text"]

#: Largest scenario or sweep file read (bytes).  The longest shipped config is ~6 KB; a
#: scenario with an inline fault script of thousands of entries stays far below.
MAX_BYTES = 4 << 20
#: Most nodes (mappings, sequences, scalars) a document may hold once its aliases are
#: expanded.  Validating 200,000 nodes takes about a second and well under 100 MB.
MAX_NODES = 200_000
#: Deepest nesting of mappings and sequences (a scenario nests about 6 levels).
MAX_DEPTH = 64
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (merge keys excepted) and nesting deeper than
    :data:`MAX_DEPTH`."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ScenarioError(f"line {mark.line + 1}: nested more than {MAX_DEPTH} "
                                    f"levels deep: not a scenario (refused)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:           # an unhashable key: the constructor says so
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given on line {first}); "
                                    f"YAML would silently keep the last one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_text(path, what="scenario"):
    """The text of a scenario or sweep file; a missing, unreadable, binary or oversized file
    raises :class:`ScenarioError` naming it."""
    from pathlib import Path

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise ScenarioError(f"{path}: {what} file larger than {MAX_BYTES >> 20} MB: not a "
                            f"{what} (refused before parsing)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ScenarioError(f"{path}, line {line}: not a UTF-8 text file (byte "
                            f"0x{data[exc.start]:02x} at offset {exc.start}): a {what} is "
                            f"YAML text") from None


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return ()


def _check_size(root, source, limit):
    """Raise unless the document under ``root`` expands to at most ``limit`` nodes and has
    no recursive alias (an iterative walk; each distinct node is sized once)."""
    size, state = {}, {}
    stack = [(root, False)]
    while stack:
        node, post = stack.pop()
        key = id(node)
        if post:
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > limit:
                raise ScenarioError(
                    f"{source}, line {node.start_mark.line + 1}: the document's aliases "
                    f"expand to more than {limit:,} nodes (refused before validation; a "
                    f"scenario needs far fewer)")
            size[key] = total
            state[key] = 2
            continue
        st = state.get(key)
        if st == 2:
            continue
        if st == 1:
            raise ScenarioError(f"{source}, line {node.start_mark.line + 1}: recursive "
                                f"alias (a node that contains itself)")
        state[key] = 1
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node))
    return size.get(id(root), 0)


def line_map(root):
    """Map field paths (tuples of keys and indices) to 1-based line numbers of the composed
    document ``root`` (bounded: call after :func:`_check_size`)."""
    lines = {}
    if root is None:
        return lines
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    lines[path + (k.value,)] = k.start_mark.line + 1
                    stack.append((v, path + (k.value,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return lines


def load_yaml(text, source, limit=MAX_NODES):
    """``(data, lines)``: the YAML ``text`` as Python objects and its line map (see the
    module docstring for what is refused)."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(f"{source}: larger than {MAX_BYTES >> 20} MB (refused before "
                            f"parsing)")
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                return None, {}
            _check_size(root, source, limit)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except ScenarioError as exc:
        text = str(exc)
        raise ScenarioError(text if text.startswith(source) else f"{source}, {text}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        what = "" if isinstance(exc, yaml.constructor.ConstructorError) else "not valid YAML: "
        raise ScenarioError(f"{source}{where}: {what}"
                            f"{getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to be a scenario (refused)") \
            from None
    except (ValueError, TypeError, OverflowError) as exc:
        # a constructor failed on a value (a timestamp such as 2024-13-01): find its line
        line = _bad_scalar_line(root, loader_cls=_Loader)
        where = f", line {line}" if line else ""
        raise ScenarioError(f"{source}{where}: cannot read value: {exc}") from None
    return data, line_map(root)


def _bad_scalar_line(root, loader_cls):
    """Line of the first scalar the loader's constructors cannot build, or None."""
    probe = loader_cls("")
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                probe.construct_object(node)
            except Exception:
                return node.start_mark.line + 1
        else:
            stack.extend(reversed(list(_children(node))))
    return None


def parse_value(text):
    """A ``--set`` value: YAML when it parses (and is small), else the text itself (so
    ``2024-13-01``, an invalid YAML timestamp, reaches the field's own check as a string)."""
    try:
        return load_yaml(text, "--set", limit=10_000)[0]
    except ScenarioError:
        return text
