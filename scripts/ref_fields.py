"""Scenario fields as reference rows, read from the code: the helpers of
``scripts/gen_reference.py`` (its module docstring says what each column comes from).

A field's unit comes from its name's suffix (:data:`SUFFIX_UNITS`, :data:`NAME_UNITS`), its
default and bounds from the pydantic field or the dataclass (its ``__post_init__`` checks,
read from the source), its meaning from the description, docstring or line comment, and its
source from the comment above the constant its default is.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import math
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------ units
#: Unit of a field from its name's suffix (longest suffix first).
SUFFIX_UNITS = [
    ("_usd_per_kwh", "USD/kWh"), ("_g_per_kwh", "g/kWh"), ("_rad_per_year", "rad/yr"),
    ("_w_m2", "W/m²"), ("_j_k", "J/K"), ("_km_s", "km/s"), ("_gb_s", "GB/s"),
    ("_per_year", "1/yr"), ("_per_h", "1/h"), ("_per_s", "1/s"), ("_gpu_h", "GPU-h"),
    ("_gbps", "Gbps"), ("_kwh", "kWh"), ("_wh", "Wh"), ("_m2", "m²"), ("_km", "km"),
    ("_mb", "MB"), ("_gb", "GB"), ("_deg", "deg"), ("_days", "days"), ("_years", "yr"),
    ("_hour", "h (of day)"), ("_h", "h"), ("_s", "s"), ("_m", "m"), ("_k", "K"), ("_w", "W"),
]
#: Units of fields whose names carry none.
NAME_UNITS = {"gpus": "GPUs", "gpus_per_replica": "GPUs", "min_gpus": "GPUs",
              "max_gpus": "GPUs", "n_jobs": "jobs", "sample_n": "jobs", "chunksize": "rows",
              "sats": "satellites", "terminals": "terminals", "terminals_per_sat": "terminals",
              "rad_per_sdc": "rad", "rad_per_hbm_ue": "rad", "rad_per_crash": "rad",
              "rad_per_host_reboot": "rad", "initial_soc": "fraction",
              "max_depth_of_discharge": "fraction", "charge_efficiency": "fraction",
              "discharge_efficiency": "fraction", "cell_efficiency": "fraction",
              "packing_factor": "fraction", "min_gpus_fraction": "fraction",
              "daily_amplitude": "fraction", "diurnal_amplitude": "fraction",
              "rate_tol": "fraction", "params_median": "parameters",
              "bytes_per_param": "B", "regions": "cities", "replicas": "replicas",
              "count": "jobs", "degradation_per_year": "1/yr"}


def unit_of(name: str) -> str:
    """The unit a field's name states ('' when none)."""
    if name in NAME_UNITS:
        return NAME_UNITS[name]
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return unit
    return ""


# ----------------------------------------------------------------------- source reading
_SOURCE_CACHE: dict = {}


def _module_tree(module):
    if module.__name__ not in _SOURCE_CACHE:
        text = inspect.getsource(module)
        _SOURCE_CACHE[module.__name__] = (text.splitlines(), ast.parse(text))
    return _SOURCE_CACHE[module.__name__]


def _doc_comment_above(lines, lineno):
    """The ``#:`` comment block right above line ``lineno`` (1-based)."""
    out = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#:"):
        out.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return " ".join(out)


def constant_note(name: str, modules) -> str:
    """The ``#:`` comment of the module-level constant ``name`` in one of ``modules``."""
    for module in modules:
        lines, tree = _module_tree(module)
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    return _doc_comment_above(lines, node.lineno)
    return ""


def _class_node(cls):
    lines, tree = _module_tree(sys.modules[cls.__module__])
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return lines, node
    raise LookupError(cls)


def class_fields_source(cls) -> dict:
    """``{field: {"default_name", "comment"}}`` read from the class body (and its orbsched
    base classes): the constant a default names, and the comment on the field's line or the
    ``#:`` block above it."""
    out = {}
    for base in reversed(cls.__mro__[1:]):
        if base.__module__.startswith("orbsched.") and base.__module__ in sys.modules \
                and base.__name__ not in ("StrictModel",) and (
                    dataclasses.is_dataclass(base) or issubclass(base, BaseModel)):
            with contextlib.suppress(LookupError, OSError, TypeError):
                out.update(_own_fields_source(base))
    out.update(_own_fields_source(cls))
    return out


def _own_fields_source(cls) -> dict:
    lines, node = _class_node(cls)
    out = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Field":
            value = value.args[0] if value.args else next(
                (k.value for k in value.keywords if k.arg == "default"), None)
        name = value.id if isinstance(value, ast.Name) else None
        line = lines[stmt.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line and not line.strip().startswith(
            "#") else ""
        comment = comment.lstrip(":").strip()
        out[stmt.target.id] = {"default_name": name,
                               "comment": comment or _doc_comment_above(lines, stmt.lineno)}
    return out


def dataclass_checks(cls) -> dict:
    """``{field: {"bounds": text, "choices": [...]}}`` from the dataclass's ``__post_init__``:
    its ``check_number(owner, "field", value, lo=..., hi=...)`` calls (also inside a ``for``
    over field names) and its ``if self.field not in CHOICES`` tests."""
    lines, node = _class_node(cls)
    module = sys.modules[cls.__module__]
    out: dict = {}
    post = next((f for f in node.body if isinstance(f, ast.FunctionDef)
                 and f.name == "__post_init__"), None)
    if post is None:
        return out

    def literal(expr, env):
        if isinstance(expr, ast.Name) and expr.id in env:
            return env[expr.id]
        if isinstance(expr, ast.Name):
            return getattr(module, expr.id, None)
        try:
            return ast.literal_eval(expr)
        except ValueError:
            return None

    def visit(stmts, env):
        for st in stmts:
            if isinstance(st, ast.For):
                seq = literal(st.iter, env)
                if isinstance(seq, (tuple, list)):
                    for item in seq:
                        if isinstance(st.target, ast.Name):
                            visit(st.body, {**env, st.target.id: item})
                        elif isinstance(st.target, ast.Tuple) and len(item) == len(
                                st.target.elts):
                            visit(st.body, {**env, **{t.id: v for t, v in
                                                      zip(st.target.elts, item)}})
                continue
            for sub in ast.walk(st):
                if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") in (
                        "check_number", "_number", "workload_number") and len(sub.args) >= 3:
                    field_name = literal(sub.args[1], env)
                    if isinstance(field_name, str):
                        kw = {k.arg: literal(k.value, env) for k in sub.keywords}
                        if len(sub.args) > 3:
                            kw["lo"] = literal(sub.args[3], env)
                        if len(sub.args) > 4:
                            kw["hi"] = literal(sub.args[4], env)
                        out.setdefault(field_name, {})["bounds"] = _range(
                            kw.get("lo"), kw.get("hi"), bool(kw.get("lo_open")),
                            bool(kw.get("hi_open")))
                if isinstance(sub, ast.Compare) and isinstance(sub.ops[0], ast.NotIn):
                    left = sub.left
                    if isinstance(left, ast.Call) and getattr(left.func, "id", "") == \
                            "getattr" and len(left.args) == 2:
                        field_name = literal(left.args[1], env)
                    elif isinstance(left, ast.Attribute) and getattr(left.value, "id", "") \
                            == "self":
                        field_name = left.attr
                    else:
                        continue
                    choices = literal(sub.comparators[0], env)
                    if isinstance(field_name, str) and isinstance(choices, (tuple, list)):
                        out.setdefault(field_name, {})["choices"] = list(choices)

    visit(post.body, {})
    return out


def docstring_fields(cls) -> dict:
    """``{field: text}`` from a ``Fields:`` section of the class docstring."""
    doc = inspect.getdoc(cls) or ""
    if "Fields" not in doc:
        return {}
    body = doc.split("Fields", 1)[1].split(":", 1)[1]
    out, cur = {}, None
    for line in body.splitlines():
        m = re.match(r"^\s{0,8}(\w+): (.*)$", line)
        if m and not line.startswith(" " * 9):
            cur = m.group(1)
            out[cur] = m.group(2).strip()
        elif cur and line.strip():
            out[cur] += " " + line.strip()
        elif not line.strip() and cur:
            cur = None
    return out


# ----------------------------------------------------------------------- field table
def _range(lo, hi, lo_open=False, hi_open=False):
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f"{'>' if lo_open else '>='} {_fmt(lo)}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {_fmt(hi)}"
    left = ("(" if lo_open else "[") + ("-inf" if lo is None else _fmt(lo))
    right = ("inf" if hi is None else _fmt(hi)) + (")" if hi_open else "]")
    return f"{left}, {right}"


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:g}" if abs(v) < 1e6 or v != int(v) else f"{v:,.0f}"
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, (list, dict)):
        text = str(v).replace("'", "")
        return text if len(text) < 60 else text[:57] + "..."
    return str(v)


def pydantic_bounds(info) -> str:
    lo = hi = None
    lo_open = hi_open = False
    parts = []
    for m in info.metadata:
        for attr, is_lo, is_open in (("ge", True, False), ("gt", True, True),
                                     ("le", False, False), ("lt", False, True)):
            v = getattr(m, attr, None)
            if v is not None:
                if is_lo:
                    lo, lo_open = v, is_open
                else:
                    hi, hi_open = v, is_open
        if getattr(m, "min_length", None) is not None:
            parts.append(f"at least {m.min_length} item(s)" if m.min_length > 1 or
                         info.annotation is not str else "not empty")
    rng = _range(lo, hi, lo_open, hi_open)
    return "; ".join([rng] * bool(rng) + parts)


def _strip_optional(ann):
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0], True
    return ann, type(None) in typing.get_args(ann)


def _is_model(ann):
    return isinstance(ann, type) and (issubclass(ann, BaseModel)
                                      or dataclasses.is_dataclass(ann))


def _type_text(ann):
    ann, optional = _strip_optional(ann)
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        text = " \\| ".join(f"`{a}`" for a in typing.get_args(ann))
    elif origin in (list, tuple) or ann in (list, tuple):
        text = "list"
    elif origin is dict or ann is dict:
        text = "mapping"
    elif origin in (typing.Union, types.UnionType):
        text = " or ".join(_type_text(a) for a in typing.get_args(ann) if a is not type(None))
    else:
        text = {float: "number", int: "integer", str: "text", bool: "true/false"}.get(
            ann, getattr(ann, "__name__", str(ann)))
        text = "date-time" if text == "datetime" else text
    return text + (" or none" if optional else "")


class Row(typing.NamedTuple):
    path: str
    type: str
    unit: str
    default: str
    bounds: str
    meaning: str
    source: str


def _sources_modules():
    from orbsched.scenario import constants, workload_specs

    return [constants, workload_specs]


def field_rows(model, prefix: str = "", instance=None) -> list:
    """Rows of every leaf field of a pydantic model or a dataclass, recursing into nested
    models and dataclasses (``Optional`` too); ``instance``: the parent's default value of
    this section, whose values are the defaults of its fields."""
    rows = []
    src = class_fields_source(model)
    mods = _sources_modules() + [sys.modules[model.__module__]]
    if isinstance(model, type) and issubclass(model, BaseModel):
        items = []
        for name, info in model.model_fields.items():
            default = info.default if info.default is not PydanticUndefined else (
                info.default_factory() if info.default_factory else PydanticUndefined)
            items.append((info.alias or name, name, info.annotation, default,
                          pydantic_bounds(info), info.description or ""))
        checks, docs = {}, {}
    else:
        hints = typing.get_type_hints(model)
        items = []
        for f in dataclasses.fields(model):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING
                else PydanticUndefined)
            items.append((f.name, f.name, hints[f.name], default, "", ""))
        checks, docs = dataclass_checks(model), docstring_fields(model)
    for key, name, ann, default, bounds, desc in items:
        if instance is not None:
            default = getattr(instance, name, default)
        base, optional = _strip_optional(ann)
        if _is_model(base):
            rows += field_rows(base, f"{prefix}{key}.",
                               default if _is_model(type(default)) else None)
            continue
        info = src.get(name, {})
        meaning = desc or docs.get(name, "") or info.get("comment", "")
        source = constant_note(info["default_name"], mods) if info.get("default_name") else ""
        chk = checks.get(name, {})
        bound_text = bounds or chk.get("bounds", "")
        if chk.get("choices"):
            bound_text = "one of " + ", ".join(f"`{c}`" for c in chk["choices"])
        if default is PydanticUndefined:
            dtext = "required"
        elif default is None:
            dtext = "none"
        elif _is_model(type(default)):
            dtext = "see below"
        else:
            dtext = f"`{_fmt(default)}`"
        rows.append(Row(prefix + key, _type_text(ann), unit_of(name), dtext, bound_text,
                        meaning, source))
    return rows
