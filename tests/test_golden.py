"""Refactors keep the science: every shipped config (3 simulated hours, seed 1) gives the
result files recorded in tests/golden/ (content digests, tests/golden_files.py), in both kernel
modes.  A difference names the config and the files that changed, and the summary keys whose
values moved."""
import json

import pytest
from conftest import SHARED_DATA
from golden_files import (
    GOLDEN,
    POLICY_VARIANTS,
    REPO,
    folder_digests,
    golden_name,
    run_config,
    shipped_configs,
)

CONFIGS = shipped_configs()
CASES = [(p, None) for p in CONFIGS] + [(REPO / "configs" / f"{c}.yaml", pol)
                                        for c, pol in POLICY_VARIANTS]


def test_every_config_has_a_golden_record():
    missing = [p.stem for p in CONFIGS if not (GOLDEN / f"{p.stem}.json").is_file()]
    assert not missing, f"no golden record for {missing}: run python tests/golden_files.py NAME"


@pytest.mark.parametrize("path, policy", CASES,
                         ids=[golden_name(p.stem, pol) for p, pol in CASES])
def test_results_match_golden(path, policy, tmp_path):
    if "shared/data" in path.read_text() and not SHARED_DATA.is_dir():
        pytest.skip(f"{path.name} reads ../shared/data, absent here")
    gold = json.loads((GOLDEN / f"{golden_name(path.stem, policy)}.json").read_text())
    out = run_config(path, tmp_path / path.stem, policy)
    got = folder_digests(out)
    summary = json.loads((out / "summary.json").read_text())
    moved = sorted(k for k, v in gold["summary"].items() if summary.get(k) != v)
    changed = sorted(k for k in set(got) | set(gold["files"])
                     if got.get(k) != gold["files"].get(k))
    assert not changed, (f"{golden_name(path.stem, policy)}: result files changed: {changed}; "
                         f"summary keys: {moved}")
