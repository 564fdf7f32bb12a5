"""Golden result files of every shipped config (3 simulated hours, seed 1).

Refactors keep the science: before code moves, the results of each scenario in ``configs/``
are recorded here as content digests (``tests/golden/<config>.json``) together with the run's
``summary.json``, and ``tests/test_golden.py`` re-runs each one and compares.

A digest is taken over the *content* of a file, not its bytes, so it does not depend on the
pyarrow or pandas release that wrote it: for a Parquet table, every column's name, type and
values (floats bit for bit); for a JSON file, its canonical form with the keys that name the
machine (``versions``) removed; for ``scenario.yaml``, its text with the folder that holds the
repository written as ``<repo-parent>`` (a trace's resolved path is absolute, and a clean clone
for CI sits elsewhere than the working copy that recorded the files).  ``manifest.json`` (wall
times) is left out: it is the one file that differs between two runs of one scenario.

Re-record (only when an issue allows results to change, and say why in its note)::

    python tests/golden_files.py                    # all
    python tests/golden_files.py demo demo@stay     # some (a config name takes its variants)
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
HOURS = 3.0
SEED = 1
#: Keys of JSON files that describe the machine or package versions, not the simulation.
VOLATILE = ("versions",)


#: Every built-in policy but a config's own, on configs that exercise it: (config, policy).
#: suncatcher-formation runs jobs spanning satellites (each policy's group defaults), demo
#: single-satellite jobs.
POLICY_VARIANTS = [(c, p) for c in ("demo", "suncatcher-formation")
                   for p in ("stay", "lookahead", "energy-aware", "fifo-ground", "random",
                             "hybrid")]


#: A config holding this line is too large for a 3-hour run in CI (configs/filing-1m.yaml:
#: 1,000,000 satellites, run partitioned on Dask); tests/test_configs.py still loads it.
SKIP_MARK = "# orbsched-golden: skip"


def shipped_configs() -> list[Path]:
    """Scenario files in configs/ (sweep files, which name a base scenario, and configs marked
    :data:`SKIP_MARK` excluded)."""
    return sorted(p for p in (REPO / "configs").glob("*.yaml")
                  if not any(line.startswith("base:") or line.strip() == SKIP_MARK
                             for line in p.read_text().splitlines()))


def _column_digest(h, name: str, col) -> None:
    import pyarrow as pa

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    h.update(name.encode() + b"\0" + str(col.type).encode() + b"\0")
    h.update(np.asarray(col.is_null(), dtype=bool).tobytes())
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) \
            or pa.types.is_boolean(col.type):
        arr = col.to_numpy(zero_copy_only=False)
        h.update(np.ascontiguousarray(arr).tobytes())
    else:
        for v in col.to_pylist():
            h.update(repr(v).encode() + b"\0")


def file_digest(path: Path) -> str:
    """SHA-256 of a result file's content (module docstring)."""
    h = hashlib.sha256()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        h.update(str(table.num_rows).encode())
        for name in table.column_names:
            _column_digest(h, name, table.column(name))
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in VOLATILE}
        h.update(json.dumps(data, sort_keys=True).encode())
    elif path.name == "scenario.yaml":
        h.update(path.read_text().replace(str(REPO.parent), "<repo-parent>").encode())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def folder_digests(folder: Path) -> dict:
    """``{file name: digest}`` for every result file but manifest.json (plots excluded)."""
    return {p.name: file_digest(p) for p in sorted(Path(folder).iterdir())
            if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")}


def run_config(path: Path, out: Path, policy: str | None = None) -> Path:
    """Run a shipped config for HOURS at SEED into ``out`` (the package's own entry points),
    with ``policy`` instead of the config's own when given."""
    import orbsched
    from orbsched.run import simulate

    extra = [f"policy={policy}"] if policy else []
    sc = orbsched.load_scenario(path, [f"duration_h={HOURS}", f"seed={SEED}", *extra])
    simulate(sc, base_dir=path.parent).write(out)
    return out


def golden_name(config: str, policy: str | None = None) -> str:
    return config if policy is None else f"{config}@{policy}"


def record(names=None) -> None:
    GOLDEN.mkdir(exist_ok=True)
    cases = [(p, None) for p in shipped_configs()]
    cases += [(REPO / "configs" / f"{c}.yaml", pol) for c, pol in POLICY_VARIANTS]
    for path, policy in cases:
        name = golden_name(path.stem, policy)
        if names and name not in names and path.stem not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = run_config(path, Path(tmp) / path.stem, policy)
            entry = {"config": path.name, "policy": policy, "hours": HOURS, "seed": SEED,
                     "files": folder_digests(out),
                     "summary": {k: v for k, v in
                                 json.loads((out / "summary.json").read_text()).items()
                                 if k not in VOLATILE}}
        (GOLDEN / f"{name}.json").write_text(json.dumps(entry, indent=1, sort_keys=True)
                                             + "\n")
        print(f"recorded {name}: {len(entry['files'])} files")


if __name__ == "__main__":
    record(sys.argv[1:])
