"""One writer per results folder: a private temporary folder, renamed into place.

A run writes its files into a fresh hidden folder beside the target (``.NAME.tmp-HOST-PID-*``,
same filesystem), then swaps it in as a whole: the previous folder, if any, is renamed aside
and removed.  So

* two runs into one folder never touch each other's files: each has its own temporary folder,
  and the last to finish leaves its complete folder (the other's is removed whole): a folder
  never mixes two runs;
* files a run did not write are gone: a new run's folder holds no ``requests.parquet``,
  ``plots/`` or ``report.html`` of an earlier run, so ``orbsched report`` cannot show them as
  the new run's;
* a run that fails or is interrupted before its swap leaves the previous folder as it was; a
  killed run leaves its hidden temporary folder, removed by the next run into the same folder
  once its process is gone (on the same host: the process id is in the name).

Safety: only an orbsched results folder is replaced.  A target that holds anything orbsched
does not write (:data:`KNOWN_NAMES`: result files, ``plots/``, ``report.html``, a sweep's
``run.json`` and ``error.txt``) is refused with an error listing what it holds, so ``--out
~/Documents`` cannot delete a user's files.  :func:`check_target` makes that check at the start
of a run, not after hours of simulation.

Permissions follow the umask: the temporary folder (``mkdtemp`` makes it 0700) and files
written through :func:`orbsched.files.atomic_write` (``mkstemp``: 0600) are given
``0777 & ~umask`` and ``0666 & ~umask``, as ``mkdir`` and ``open`` would.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

from ..files import umask
from ..scenario.errors import OrbschedError

__all__ = ["KNOWN_NAMES", "ResultsFolderError", "check_target", "replace_folder", "umask"]

#: Every name orbsched writes in a results folder (a run, ``orbsched plot``, ``report``,
#: a sweep's run folder); anything else makes a folder foreign.
KNOWN_NAMES = frozenset({
    "scenario.yaml", "timeseries.parquet", "jobs.parquet", "events.parquet",
    "requests.parquet", "snapshot.json", "manifest.json", "summary.json", "incomplete.json",
    "excluded.csv", "stale_elements.csv", "plots", "report.html", "run.json", "error.txt"})
_MAX_SWAPS = 100


class ResultsFolderError(OrbschedError, RuntimeError):
    """A results folder cannot be written (a foreign folder, a file in the way)."""


def _host():
    return socket.gethostname().replace(os.sep, "_").replace(".", "_")[:40] or "host"


def _temp_prefix(out, kind):
    return f".{out.name}.{kind}-{_host()}-"


def check_target(out):
    """Raise :class:`ResultsFolderError` unless ``out`` is absent, empty, or a folder holding
    only what orbsched writes (see the module docstring)."""
    out = Path(out)
    try:                            # one system call: the folder may move between two
        names = os.listdir(out)
    except FileNotFoundError:       # absent, or another writer just moved it aside
        return
    except NotADirectoryError:
        raise ResultsFolderError(f"{out}: not a folder (a file is in the way of the "
                                 f"results)") from None
    foreign = sorted(n for n in names if n not in KNOWN_NAMES and not n.startswith("."))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                          if len(foreign) > 5 else "")
        raise ResultsFolderError(f"{out}: not an orbsched results folder (it holds {shown}); "
                                 f"a run replaces its folder whole, so choose another --out "
                                 f"or empty it")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _sweep_leftovers(out):
    """Remove temporary folders beside ``out`` left by killed writers on this host."""
    for kind in ("tmp", "old"):
        prefix = _temp_prefix(out, kind)
        for name in os.listdir(out.parent):      # not glob: a name may hold [ ] * ?
            if not name.startswith(prefix):
                continue
            p = out.parent / name
            try:
                pid = int(p.name[len(prefix):].split("-", 1)[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _alive(pid):
                shutil.rmtree(p, ignore_errors=True)


def _apply_umask(folder: str | Path) -> None:
    mask = umask()
    os.chmod(folder, 0o777 & ~mask)
    for root, dirs, _files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)


def replace_folder(out, fill, *, carry=()):
    """Write a results folder: ``fill(tmp)`` writes the files into a private temporary
    folder, the files named in ``carry`` are copied over from the old folder (a sweep's
    ``run.json``), and the folder is swapped into place at ``out`` (module docstring).  On
    any error (or interrupt) the temporary folder is removed and ``out`` is left as it was.
    Returns the final folder."""
    out = Path(out).absolute()
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(out)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(out, "tmp") + f"{os.getpid()}-",
                                dir=out.parent))
    try:
        fill(tmp)
        for name in carry:
            src = out / name
            if src.is_file() and not (tmp / name).exists():
                shutil.copy2(src, tmp / name)
        _apply_umask(tmp)
        _swap(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):          # name the final path, not the temporary one
            name = str(exc.filename or "")
            exc.filename = str(out) + name[len(str(tmp)):] if name.startswith(str(tmp)) \
                else (name or str(out))
        raise
    return out


def _swap(tmp, out):
    """Rename ``tmp`` to ``out``, moving whatever folder is there aside first (another
    writer may swap in between: then its folder is moved aside in turn)."""
    aside = []
    try:
        for _ in range(_MAX_SWAPS):
            try:
                os.rename(tmp, out)
                return
            except OSError as exc:         # a folder is there (ours moved it, or a writer)
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) and not (
                        os.name == "nt" and isinstance(exc, PermissionError)):
                    raise
            check_target(out)
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(out, "old") + f"{os.getpid()}-",
                                        dir=out.parent))
            with contextlib.suppress(FileNotFoundError):  # the other writer moved it aside already
                os.rename(out, old / "folder")
            aside.append(old)
        raise ResultsFolderError(f"{out}: could not be replaced after {_MAX_SWAPS} attempts "
                                 f"(other runs keep writing it)")
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)
