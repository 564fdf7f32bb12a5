"""Atomic writing of result files and the provenance that goes with them.

A file is written to a temporary name in its target folder and renamed into place, so an
interrupted run never leaves a half-written file under a final name.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ._kernels import ACCELERATED
from ._version import __version__


def umask() -> int:
    """The process's umask (read from /proc on Linux, which does not change it; elsewhere
    set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place
    with the permissions the umask gives a new file.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())     # mkstemp made it 0600: the umask decides
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not exc.filename:
            exc.filename = str(path)          # a failed write() names no file: say which
        raise
    return path


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return atomic_write(path, write)


def atomic_write_csv(path, frame):
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def versions():
    """Versions of orbsched and the packages that determine its results."""
    out = {"orbsched": __version__, "accelerated": ACCELERATED,
           "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "sgp4", "skyfield", "skyfield-data", "pydantic", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def write_json(path, obj):
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
