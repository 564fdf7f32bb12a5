"""Scenario loading: strict validation, clear errors naming file, line and field, overrides."""
import textwrap

import pytest
from pydantic import ValidationError

from orbsched import ScenarioError, load_scenario, scenario_from_dict
from orbsched.cli import main

GOOD = """\
name: t
start_utc: 2024-06-21T00:00:00Z
duration_h: 2
step_s: 60
constellations:
  - type: walker
    name: s
    planes: 4
    sats_per_plane: 5
    phasing: 1
    altitude_km: 550
    inclination_deg: 53
"""


def _write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _error(tmp_path, text, overrides=()):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_write(tmp_path, text), overrides)
    return str(exc.value)


def test_good_scenario_loads_and_is_frozen(tmp_path):
    sc = load_scenario(_write(tmp_path, GOOD))
    assert sc.constellations[0].planes == 4 and sc.duration_s == 7200
    with pytest.raises(ValidationError, match="frozen"):
        sc.duration_h = 3


def test_unknown_key_is_named_with_line_and_suggestion(tmp_path):
    msg = _error(tmp_path, GOOD.replace("altitude_km: 550", "altitude_kms: 550"))
    assert "s.yaml" in msg and "line 11" in msg
    assert "constellations[0].altitude_kms" in msg and "did you mean 'altitude_km'" in msg


def test_unknown_top_level_key(tmp_path):
    msg = _error(tmp_path, GOOD + "duraton_h: 3\n")
    assert "duraton_h" in msg and "did you mean 'duration_h'" in msg and "line 13" in msg


@pytest.mark.parametrize("old, new, field, words", [
    ("altitude_km: 550", "altitude_km: -5", "constellations[0].altitude_km", "greater than 0"),
    ("inclination_deg: 53", "inclination_deg: 190", "constellations[0].inclination_deg",
     "less than or equal to 180"),
    ("planes: 4", "planes: 0", "constellations[0].planes", "greater than or equal to 1"),
    ("planes: 4", "planes: four", "constellations[0].planes", "integer"),
    ("phasing: 1", "phasing: 4", "constellations[0]",
     "phasing must be between 0 and planes - 1 = 3"),
    ("duration_h: 2", "duration_h: 0.01", "(top level)", "step_s (60.0) must be shorter"),
    ("type: walker", "type: walkr", "constellations[0]", "unknown constellation type 'walkr'"),
    ("start_utc: 2024-06-21T00:00:00Z", "start_utc: yesterday", "start_utc", "ISO-8601"),
])
def test_bad_values_name_the_field_and_expectation(tmp_path, old, new, field, words):
    msg = _error(tmp_path, GOOD.replace(old, new))
    assert field in msg and words in msg, msg


def test_every_problem_is_listed(tmp_path):
    msg = _error(tmp_path,
                 GOOD.replace("planes: 4", "planes: 0").replace("step_s: 60", "step_s: -1"))
    assert "2 problems" in msg and "step_s" in msg and "planes" in msg


def test_epoch_start_needs_element_sets(tmp_path):
    msg = _error(tmp_path, GOOD.replace("start_utc: 2024-06-21T00:00:00Z", "start_utc: epoch"))
    assert "'epoch' needs at least one tle or omm" in msg


def test_missing_file_is_named(tmp_path):
    text = GOOD.replace("type: walker\n    name: s\n",
                        "type: tle\n    path: nope.tle\n    name: s\n")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith(
        ("planes", "sats_per", "phasing", "altitude", "inclination")))
    msg = _error(tmp_path, text)
    assert "file not found" in msg and "nope.tle" in msg and "constellations[0].path" in msg


def test_grid_topology_needs_planes(tmp_path):
    """+grid takes any fleet with orbital planes (TLE and OMM infer theirs), not a formation
    cluster (one orbit); topology file needs its isl_file, which must exist."""
    p = tmp_path / "a.tle"
    p.write_text("x")
    text = GOOD + "  - type: tle\n    path: a.tle\nnetwork:\n  topology: +grid\n"
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    assert load_scenario(path).network.topology == "+grid"
    formation = GOOD + ("  - {type: formation, name: f, altitude_km: 650, sats: 3}\n"
                        "network:\n  topology: +grid\n")
    assert "a formation cluster has one orbit" in _error(tmp_path, formation)
    assert "topology: file needs isl_file" in _error(
        tmp_path, GOOD + "network:\n  topology: file\n")
    msg = _error(tmp_path, GOOD + "network:\n  topology: file\n  isl_file: links.csv\n")
    assert "network.isl_file: file not found" in msg and "links.csv" in msg


def test_invalid_yaml_names_the_line(tmp_path):
    msg = _error(tmp_path, GOOD.replace("planes: 4", "planes: [4"))
    assert "not valid YAML" in msg and "line" in msg


def test_set_overrides_fields_and_is_validated(tmp_path):
    p = _write(tmp_path, GOOD)
    sc = load_scenario(p, ["constellations[0].planes=8", "geometry.earth_shape=sphere",
                           "constellations.0.altitude_km=600"])
    assert sc.constellations[0].planes == 8 and sc.geometry.earth_shape == "sphere"
    assert sc.constellations[0].altitude_km == 600
    with pytest.raises(ScenarioError, match="did you mean 'earth_shape'"):
        load_scenario(p, ["geometry.earth_shap=sphere"])
    with pytest.raises(ScenarioError, match=r"index \[3\] does not exist"):
        load_scenario(p, ["constellations[3].planes=1"])
    with pytest.raises(ScenarioError, match="expected path.to.field=value"):
        load_scenario(p, ["planes"])


def test_paths_resolve_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.tle").write_text("x")
    sc = scenario_from_dict({"start_utc": "2024-01-01T00:00:00Z", "duration_h": 1,
                             "constellations": [{"type": "tle", "path": "sub/x.tle"}]},
                            base_dir=tmp_path)
    assert sc.constellations[0].path == str((tmp_path / "sub" / "x.tle").resolve())


def test_validate_command_prints_resolved_scenario(tmp_path, capsys):
    p = _write(tmp_path, GOOD)
    assert main(["validate", str(p), "--set", "constellations[0].planes=6"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "planes: 6" in out and "earth_shape: wgs84" in out
    bad = _write(tmp_path, GOOD.replace("planes: 4", "planes: 0"), "b.yaml")
    assert main(["validate", str(bad)]) == 2
    assert "constellations[0].planes" in capsys.readouterr().err


def test_set_into_the_policy_shorthand(tmp_path):
    """``policy: NAME`` is shorthand for ``{name: NAME}``: --set policy.X still works."""
    p = _write(tmp_path, GOOD + "policy: stay\n", "s.yaml")
    sc = load_scenario(p, ["policy.hook_budget_s=5", "policy.tick_s=600"])
    assert (sc.policy.name, sc.policy.hook_budget_s, sc.policy.tick_s) == ("stay", 5.0, 600.0)


def test_every_shipped_config_round_trips_through_its_resolved_yaml(repo):
    """A run writes its scenario as resolved (every default spelled out, infinities included:
    ``max_link_latency_s: .inf``); ``orbsched plot`` and sweeps load it again, so the strict
    schema must accept what it writes."""
    import yaml

    from orbsched.scenario.schema import load_scenario, scenario_from_dict

    for path in sorted((repo / "configs").glob("*.yaml")):
        if path.read_text().startswith("base:") or "\nbase:" in path.read_text():
            continue
        sc = load_scenario(path)
        again = scenario_from_dict(yaml.safe_load(sc.to_yaml()))
        assert again == sc, path.name
