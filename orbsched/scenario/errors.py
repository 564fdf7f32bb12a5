"""The one exception hierarchy of orbsched.

Every error a user can cause derives from :class:`OrbschedError`, so a script can catch them all
with one ``except``.  Messages name the file, line or field at fault and say what was expected.
"""
from __future__ import annotations

import errno
import os
import traceback
from pathlib import Path


class OrbschedError(Exception):
    """Root of all errors raised by orbsched for bad input or impossible requests."""


class ScenarioError(OrbschedError, ValueError):
    """A scenario file or override is invalid (unknown key, wrong type, out of range...)."""


class DataFileError(OrbschedError, ValueError):
    """An input data file (TLE, OMM, ephemeris CSV, trace) is malformed.

    Attributes ``path`` and ``line`` (1-based, or ``None``) say where.
    """

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class PropagationError(OrbschedError, RuntimeError):
    """An orbit could not be propagated over the requested span."""


class RegistryError(OrbschedError, KeyError):
    """An unknown name was looked up in a registry; the message lists the valid names."""

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0])


class NetworkError(OrbschedError, ValueError):
    """A network request or input is invalid: unknown node, malformed contact-window table,
    non-positive link rate...  The message names the node, column or row at fault."""


class SubsystemError(OrbschedError, ValueError):
    """A satellite subsystem model (power bus, thermal node) got an invalid specification or an
    impossible request (time running backwards, negative power...).  The message names the
    field or argument at fault and the value that was expected."""


class WorkloadError(OrbschedError, ValueError):
    """A workload is invalid (a job field out of range, an unknown reader option, inconsistent
    generator parameters).  The message names the job or parameter at fault and the value
    that was expected.  Malformed trace *files* raise :class:`DataFileError` instead."""


class PolicyError(OrbschedError, RuntimeError):
    """A scheduling policy returned a decision the engine cannot carry out (the message names
    the policy, the decision and why), or a policy could not be loaded."""


class OrbschedWarning(UserWarning):
    """Something orbsched repaired or worked around and the user should know (the command
    line prints it as one ``orbsched: warning:`` line)."""


class CacheWarning(OrbschedWarning):
    """A cache entry failed its verification: it was removed and its product recomputed."""


def describe(exc) -> str:
    """What went wrong, for ``orbsched: error: ...``: the message of an orbsched error (with
    the detail lines it carries), ``FILE: reason (errno N, ENAME)`` for an OSError, and for
    anything else (an internal error) its type, message and innermost line, on one line."""
    if isinstance(exc, OrbschedError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        what = exc.strerror or (os.strerror(exc.errno) if exc.errno
                                else " ".join(str(exc).split()))
        code = f" (errno {exc.errno}, {errno.errorcode.get(exc.errno, '?')})" if exc.errno \
            else ""
        return f"{where}{what}{code}"
    if isinstance(exc, MemoryError):
        return "out of memory"
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = " ".join(str(exc).split())
    return (f"internal error: {type(exc).__name__}{': ' + text if text else ''}{at} (run "
            f"with --debug for the traceback; please report it)")
