"""Every command answers --help with exit code 0 (issue 17: economics, report and view did
not), and a policy name set into the 'policy: NAME' shorthand takes options."""
import pytest

from orbsched.cli import build_parser, main


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_the_command_list_is_complete():
    assert {"run", "validate", "geometry", "plot", "seasons", "policies", "sweep", "compare",
            "economics", "report", "view", "paths"} <= set(_commands())


@pytest.mark.parametrize("command", _commands())
def test_help_exits_0_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and command in out.splitlines()[0]


def test_top_level_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "usage: orbsched" in capsys.readouterr().out


def test_set_options_into_a_shorthand_policy_and_the_options_message(repo, capsys):
    """demo.yaml writes 'policy: greedy-sunlit'; --set policy.options.X must reach it, and a
    wrong option is answered with the policy's real options."""
    demo = str(repo / "configs" / "demo.yaml")
    assert main(["validate", demo, "--set", "policy.options.max_hops=2"]) == 0
    assert "max_hops: 2" in capsys.readouterr().out
    assert main(["validate", demo, "--set", "policy.options.max_hopz=2"]) == 2
    err = capsys.readouterr().err
    assert "bad options {'max_hopz': 2}" in err and "its options are" in err
    assert "max_hops" in err.split("its options are", 1)[1]
