"""The history check `make lint` runs (tests/commit_messages.py, docs/contributing.md)."""

import subprocess
from pathlib import Path

import pytest

from tests import commit_messages as check


def test_a_subject_under_72_characters_with_a_body_after_a_blank_line_passes() -> None:
    assert check.message_problems("Pay once accepted: the button says what is left to do\n\nWhy.\n") == []
    assert check.message_problems("x" * 71) == []
    merge = f"Merge {'a' * 40} into {'b' * 40}"  # what CI checks out for a pull request, at depth 1
    assert check.message_problems(merge) == []


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("x" * 72, "subject of 72 characters"),
        ("Pay once accepted.", "full stop"),
        ("WIP pay page", "work-in-progress"),
        ("fixup! Pay page", "work-in-progress"),
        ("Pay page\nsecond line at once", "no blank line"),
        ("\n\nbody only", "empty subject"),
    ],
)
def test_a_commit_message_that_breaks_a_rule_is_named(message: str, problem: str) -> None:
    assert any(problem in p for p in check.message_problems(message))


def test_changelog_bullets_of_unreleased_are_one_short_line() -> None:
    good = "# Changelog\n\n## [Unreleased]\n\n### Added\n- One line.\n\n## [0.9.0] - 2026-11-30\n- " + "y" * 300
    assert check.changelog_problems(good) == []
    wrapped = "## [Unreleased]\n### Added\n- A bullet that goes on\n  onto a second line.\n"
    assert any("second line" in p for p in check.changelog_problems(wrapped))
    long = "## [Unreleased]\n- " + "z" * 200 + "\n"
    assert any("200 characters" in p or "202 characters" in p for p in check.changelog_problems(long))
    assert check.changelog_problems("# Changelog\n") == ["CHANGELOG.md has no `## [Unreleased]` section"]


def test_the_project_changelog_and_commits_since_the_rules_page_pass() -> None:
    assert check.changelog_problems((check.ROOT / "CHANGELOG.md").read_text(encoding="utf-8")) == []


def _commit(repo: Path, subject: str, path: str = "f") -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(subject)
    subprocess.run(["git", "add", path], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", subject], cwd=repo, check=True)


def test_checks_from_the_last_tag_else_from_the_commit_that_added_the_rules_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    monkeypatch.setattr(check, "ROOT", repo)
    _commit(repo, "An old subject that went on far too long, long before the project had rules for it")
    assert check.commits(check.since()) == []  # no rules page yet: nothing is bound
    _commit(repo, "Contributing: how commits and the CHANGELOG are written", check.RULES_PAGE)
    _commit(repo, "Next change")
    assert [m.strip() for _, m in check.commits(check.since())] == [
        "Contributing: how commits and the CHANGELOG are written",
        "Next change",
    ]
    subprocess.run(["git", "tag", "v0.9.0", "HEAD~2"], cwd=repo, check=True)  # older than the rules: not bound
    assert len(check.commits(check.since())) == 2
    subprocess.run(["git", "tag", "v1.0.0"], cwd=repo, check=True)
    _commit(repo, "After the tag")
    assert [m.strip() for _, m in check.commits(check.since())] == ["After the tag"]
