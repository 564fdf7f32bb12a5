"""The base of every scenario section: strict pydantic models where numbers are numbers.

:class:`StrictModel` (used by :mod:`orbsched.scenario.schema` and
:mod:`orbsched.scenario.sections`) rejects unknown keys, is frozen, and refuses, wherever a
field is typed as a number (``float``, ``int``, also inside ``Optional``, lists, tuples, dicts
and the frozen dataclasses of the subsystem specs such as ``hardware.battery``):

* NaN and infinities (``allow_inf_nan=False``; the dataclass specs check theirs with
  :func:`orbsched.scenario.checks.check_number`): a NaN passes every ``x > 0`` range check and then
  silently turns the physics off;
* booleans: YAML reads ``true`` as a boolean, and pydantic would turn it into ``1`` or
  ``1.0`` (``duration_h: true`` ran one hour).  A field that accepts a boolean among other
  types (``bool | float``) keeps it.
"""
from __future__ import annotations

import dataclasses
import types
import typing

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel", "bool_in_number"]

_NUMBERS = (int, float)


def _args(ann: typing.Any) -> list:
    return list(typing.get_args(ann))


def bool_in_number(ann, value, path=""):
    """The path (``""`` for ``value`` itself) of the first boolean in ``value`` where the type
    ``ann`` expects a number, or None when there is none."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return bool_in_number(_args(ann)[0], value, path)
    if origin in (typing.Union, types.UnionType):
        opts = [a for a in _args(ann) if a is not type(None)]
        if isinstance(value, bool):
            if any(a is bool or a is typing.Any or a is object for a in opts):
                return None
            return path if any(a in _NUMBERS for a in opts) else None
        for a in opts:              # containers inside a union: the first that applies
            found = bool_in_number(a, value, path)
            if found is not None:
                return found
        return None
    if ann in _NUMBERS:
        return path if isinstance(value, bool) else None
    if origin in (list, tuple, set, frozenset) and isinstance(value, (list, tuple)):
        args = _args(ann)
        if origin is tuple and args and args[-1] is not Ellipsis:
            pairs = zip(args, value)
        else:
            pairs = ((args[0] if args else typing.Any, v) for v in value)
        for i, (a, v) in enumerate(pairs):
            found = bool_in_number(a, v, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if origin is dict and isinstance(value, dict):
        args = _args(ann)
        if len(args) == 2:
            for k, v in value.items():
                found = bool_in_number(args[1], v, f"{path}.{k}" if path else str(k))
                if found is not None:
                    return found
        return None
    if isinstance(ann, type) and dataclasses.is_dataclass(ann) and isinstance(value, dict):
        hints = typing.get_type_hints(ann)
        for f in dataclasses.fields(ann):
            if f.name in value:
                found = bool_in_number(hints[f.name], value[f.name],
                                       f"{path}.{f.name}" if path else f.name)
                if found is not None:
                    return found
    return None                      # pydantic models check their own fields


class _Boolean:
    """A boolean given where a number is meant: no number type accepts it, so pydantic
    reports it at its own field (path and line) as ``got True (a boolean, not a number)``."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"{self.value!r} (a boolean, not a number)"


def mark_booleans(ann, value):
    """``value`` with every boolean that ``ann`` expects to be a number wrapped (see
    :class:`_Boolean`); the same object when there is none."""
    if bool_in_number(ann, value) is None:
        return value
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return mark_booleans(_args(ann)[0], value)
    if isinstance(value, bool):
        return _Boolean(value)
    if origin in (typing.Union, types.UnionType):
        for a in _args(ann):
            if a is not type(None) and bool_in_number(a, value) is not None:
                return mark_booleans(a, value)
        return value
    if origin in (list, tuple, set, frozenset):
        args = _args(ann)
        if origin is tuple and args and args[-1] is not Ellipsis:
            anns = list(args) + [typing.Any] * max(0, len(value) - len(args))
        else:
            anns = [args[0] if args else typing.Any] * len(value)
        return type(value)(mark_booleans(a, v) for a, v in zip(anns, value))
    if origin is dict:
        vt = _args(ann)[1]
        return {k: mark_booleans(vt, v) for k, v in value.items()}
    if dataclasses.is_dataclass(ann):
        hints = typing.get_type_hints(ann)
        return {k: (mark_booleans(hints[k], v) if k in hints else v) for k, v in value.items()}
    return value


class StrictModel(BaseModel):
    """Frozen, unknown keys rejected, no NaN, no infinity, no boolean for a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data):
        if not isinstance(data, dict):
            return data
        out = None
        for name, field in cls.model_fields.items():
            if name in data:
                marked = mark_booleans(field.annotation, data[name])
                if marked is not data[name]:
                    out = dict(data) if out is None else out
                    out[name] = marked
        return data if out is None else out
