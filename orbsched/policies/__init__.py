"""Scheduling policies: the API (:mod:`orbsched.policies.api`, with the group-job and inference
extensions in :mod:`orbsched.policies.groups` and :mod:`orbsched.policies.replicas`), the
built-ins and a registry.

``load_policy(spec)`` turns the scenario's ``policy`` section into an instance: a registered
name (:func:`available` lists them), ``package.module:Class``, or ``path/to/file.py:Class``
(relative to the scenario's folder).  :func:`register` adds a name (e.g. from a notebook).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

from ..scenario.checks import number_problem
from ..scenario.errors import PolicyError, RegistryError
from .api import JobInfo, Policy, View, _option_names
from .decisions import Decision, Migrate, Pause, Place
from .energy_aware import EnergyAware
from .fifo_ground import FifoGround
from .greedy_sunlit import GreedySunlit
from .groups import (
    GROUP_ON_ECLIPSE,
    GROUP_ON_LOSS,
    GroupStrategy,
    PlaceGroup,
    Replace,
    Reshape,
    Shrink,
)
from .hybrid import Hybrid
from .lookahead import Lookahead
from .random_policy import RandomPolicy
from .replicas import FollowSun, MoveReplica, ReplicaStrategy
from .stay import Stay

__all__ = ["Decision", "EnergyAware", "FifoGround", "FollowSun", "GreedySunlit", "GroupStrategy",
           "Hybrid", "JobInfo", "Lookahead", "Migrate", "MoveReplica", "Pause", "Place",
           "PlaceGroup", "Policy", "RandomPolicy", "Replace", "ReplicaStrategy", "Reshape",
           "Shrink", "Stay", "View", "available", "load_policy", "register"]

_REGISTRY = {cls.name: cls for cls in (Stay, GreedySunlit, Lookahead, EnergyAware, FifoGround,
                                       Hybrid, RandomPolicy)}


def available() -> list:
    """Registered policy names."""
    return sorted(_REGISTRY)


def register(cls, name=None):
    """Register a Policy subclass under ``name`` (default ``cls.name``); returns the class."""
    if not (inspect.isclass(cls) and issubclass(cls, Policy)):
        raise PolicyError(f"register: {cls!r} is not a subclass of orbsched.policies.Policy")
    _REGISTRY[name or cls.name] = cls
    return cls


def _import_class(ref, base_dir):
    mod_name, _, cls_name = ref.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            if not path.is_file():
                raise PolicyError(f"policy '{ref}': file not found: {path}")
            spec = importlib.util.spec_from_file_location(f"_orbsched_policy_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except PolicyError:
        raise
    except Exception as exc:
        raise PolicyError(f"policy '{ref}': cannot import {mod_name!r}: "
                          f"{type(exc).__name__}: {exc}") from exc
    cls = getattr(module, cls_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items()
                 if inspect.isclass(v) and issubclass(v, Policy) and v is not Policy]
        raise PolicyError(f"policy '{ref}': {mod_name} has no class {cls_name!r}"
                          + (f"; policies there: {', '.join(sorted(names))}" if names else ""))
    if not (inspect.isclass(cls) and issubclass(cls, Policy)):
        raise PolicyError(f"policy '{ref}': {cls_name} is not a subclass of "
                          f"orbsched.policies.Policy")
    return cls


def _policy_class(name, base_dir):
    if ":" in name:
        return _import_class(name, base_dir)
    cls = _REGISTRY.get(name)
    if cls is None:
        import difflib
        near = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        raise RegistryError(f"unknown policy {name!r}"
                            + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" Registered policies: {', '.join(available())}; or give "
                              f"your own class as 'module:Class' or 'file.py:Class'")
    return cls


def _group_options(name, options):
    """Take the options every policy has (its group strategy's) out of ``options``, checked."""
    group = {k: options.pop(k) for k in ("group_on_eclipse", "group_on_loss",
                                         "group_lookahead_s") if k in options}
    for k, v in group.items():
        if k == "group_lookahead_s":
            problem = number_problem(v, lo=0.0)
            if problem is not None:
                raise PolicyError(f"policy '{name}': option group_lookahead_s (seconds): "
                                  f"{problem}")
            continue
        allowed = GROUP_ON_ECLIPSE if k == "group_on_eclipse" else GROUP_ON_LOSS
        if v not in allowed:
            raise PolicyError(f"policy '{name}': option {k} must be one of {allowed}, "
                              f"got {v!r}")
    return group


def _bad_options(name, cls, options, exc):
    own = _option_names(cls)
    return PolicyError(f"policy '{name}': bad options {options}: {exc}; its options are "
                       f"{', '.join(own) if own else '(none)'}, and every policy takes "
                       f"group_on_eclipse, group_on_loss, group_lookahead_s")


def load_policy(spec, base_dir=None) -> Policy:
    """An instance of the policy a scenario names (``spec``: a PolicySpec or a name)."""
    name = spec if isinstance(spec, str) else spec.name
    options = {} if isinstance(spec, str) else dict(spec.options)
    cls = _policy_class(name, base_dir)
    group = _group_options(name, options)
    try:
        policy = cls(**options)
    except TypeError as exc:
        raise _bad_options(name, cls, options, exc) from None
    except ValueError as exc:
        raise PolicyError(f"policy '{name}': {exc}") from None
    for k, v in group.items():
        setattr(policy.groups, k.removeprefix("group_"), v)
    return policy
