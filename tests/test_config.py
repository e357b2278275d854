"""Bad suite files and names: one clear message each, exit status 2 from the CLI."""

import pytest

from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.errors import UserError

GOOD = """
name = "t"
seeds = [0]
[data]
split = [300, 100, 100]
corrupt_n = 50
[teachers.ens]
kind = "ensemble"
width = 4
members = 2
[students.s]
width = 4
[methods.kd]
alpha = 0.5
temperature = 2.0
[[pairs]]
teachers = ["ens"]
students = ["s"]
methods = ["kd"]
"""


def write(tmp_path, text):
    p = tmp_path / "suite.toml"
    p.write_text(text)
    return str(p)


def test_good_suite_loads(tmp_path):
    s = load_suite(write(tmp_path, GOOD))
    assert s.teachers["ens"].members == 2 and len(s.pairs) == 1
    assert len(s.data.corruptions) == 15 and s.data.ood == ("letters", "noise", "photos")


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('members = 2', 'members = 2 2'), r"malformed TOML: .*line 10"),
    (lambda t: t.replace('width = 4\nmembers', 'widht = 4\nmembers'), r"\[teachers.ens\] widht: unknown key .*did you mean 'width'"),
    (lambda t: t.replace('members = 2', 'members = "two"'), r"members: expected an integer, found 'two'"),
    (lambda t: t.replace('members = 2', 'members = 0'), r"members: expected an integer >= 1, found 0"),
    (lambda t: t.replace('alpha = 0.5', 'alpha = 1.5'), r"The 'alpha' parameter of kd must be a float in the range \[0, 1\]\. Got 1\.5 instead"),
    (lambda t: t.replace('temperature = 2.0', 'temperature = 0'), r"The 'temperature' parameter of kd must be a float in the range \(0, inf\)\. Got 0\.0 instead"),
    (lambda t: t.replace('[data]', '[data]\nseverities = [1, 6]'), r"severities: expected distinct integers from 1 to 5"),
    (lambda t: t.replace('[data]', '[data]\ncorruptions = ["fogg"]'), r"unknown corruption 'fogg' \(did you mean 'fog'\?\)"),
    (lambda t: t.replace('kind = "ensemble"', 'kind = "ensembel"'), r"unknown teacher kind 'ensembel' \(did you mean 'ensemble'\?\)"),
    (lambda t: t.replace('methods = ["kd"]', 'methods = ["kdd"]'), r"unknown method of this suite 'kdd' \(did you mean 'kd'\?\)"),
    (lambda t: t.replace('[students.s]', '[students."../escape"]'), r"invalid student name '../escape'"),
    (lambda t: t.replace('epochs', 'x') + '\n[train]\nepochs = -1\n', r"\[train\] epochs: expected an integer >= 1, found -1"),
    (lambda t: t.split("[teachers.ens]")[0], r"the suite runs nothing"),
    (lambda t: t.replace('name = "t"', 'name = "t"\ncolour = 1'), r"top level colour: unknown key"),
])
def test_bad_suite_messages(tmp_path, edit, message):
    with pytest.raises(UserError, match=message):
        load_suite(write(tmp_path, edit(GOOD)))


def test_unknown_suite_name_suggests():
    with pytest.raises(UserError, match=r"unknown suite 'mnist5' \(did you mean 'mnist5k'\?\); valid suites: cifar10, cifar10-smoke, mnist5k, mnist5k-full, smoke"):
        load_suite("mnist5")


@pytest.mark.parametrize("argv, message", [
    (["run", "all", "--suite", "smok"], "did you mean 'smoke'"),
    (["run", "all", "--suite", "/nonexistent/x.toml"], "does not exist"),
    (["figures", "--suite", "../etc"], "invalid suite name"),
    (["report", "--suite", "nothing-here"], "no results for suite"),
])
def test_cli_user_errors_exit_2_without_traceback(tmp_path, capsys, argv, message):
    code = main(argv + ["--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_unwritable_workdir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["run", "all", "--suite", "smoke", "--workdir", str(blocker / "sub")]) == 2
    assert "is not writable" in capsys.readouterr().err
