"""The history's own check (docs/contributing.md): commit subjects under 72 characters with the detail in
the body, and CHANGELOG bullets of one line. Run by `make lint` on the commits since the last tag, or since
the commit that added docs/contributing.md while there is no tag; `--all` checks the whole history."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES_PAGE = "docs/contributing.md"
MAX_SUBJECT = 71  # "under 72 characters"
MAX_BULLET = 160
HOSTED_MERGE = re.compile(
    r"^Merge ([0-9a-f]{40} into [0-9a-f]{40}|pull request #\d+ |branch '|remote-tracking branch ')"
)
NOT_ON_MAIN = re.compile(r"^(wip\b|fixup!|squash!|amend!)", re.IGNORECASE)


def message_problems(message: str) -> list[str]:
    """What is wrong with one commit message, in words (empty when it is fine). A merge that a hosting service
    wrote (CI checks out `Merge <sha> into <sha>` at depth 1, where it has no parents to tell it is one) is not
    ours to word."""
    lines = message.rstrip("\n").split("\n")
    subject = lines[0]
    if HOSTED_MERGE.match(subject):
        return []
    problems = []
    if not subject.strip():
        problems.append("empty subject")
    if len(subject) > MAX_SUBJECT:
        problems.append(f"subject of {len(subject)} characters (at most {MAX_SUBJECT}; detail goes in the body)")
    if subject.rstrip().endswith("."):
        problems.append("subject ends with a full stop")
    if NOT_ON_MAIN.match(subject):
        problems.append("a work-in-progress commit")
    if len(lines) > 1 and lines[1].strip():
        problems.append("no blank line between the subject and the body")
    return problems


def changelog_problems(text: str) -> list[str]:
    """Bullets of `## [Unreleased]` that are not one line of at most MAX_BULLET characters."""
    section = re.search(r"^## \[Unreleased\]\n(.*?)(?=^## \[|\Z)", text, re.MULTILINE | re.DOTALL)
    if section is None:
        return ["CHANGELOG.md has no `## [Unreleased]` section"]
    problems = []
    lines = section.group(1).split("\n")
    for n, line in enumerate(lines):
        if line.startswith("- ") and len(line) > MAX_BULLET:
            problems.append(f"CHANGELOG bullet of {len(line)} characters (at most {MAX_BULLET}): {line[:60]}…")
        if line.startswith((" ", "\t")) and line.strip() and n and lines[n - 1].strip():
            problems.append(f"CHANGELOG bullet runs onto a second line: {line.strip()[:60]}…")
    return problems


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def since() -> str | None:
    """The first commit to check from (exclusive), as a revision; None for the whole history: the last tag,
    unless the rules page came after it (a commit older than the rules is not bound by them)."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", RULES_PAGE).split()
    if not added:
        return "HEAD"  # the rules page is not in this history: nothing is bound by it yet
    parents = git("rev-list", "--parents", "-n", "1", added[-1]).split()[1:]
    rules = parents[0] if parents else None
    try:
        tag = git("describe", "--tags", "--abbrev=0", "HEAD").strip()
    except subprocess.CalledProcessError:
        return rules
    if rules is None:
        return tag
    newer = subprocess.run(["git", "merge-base", "--is-ancestor", rules, tag], cwd=ROOT, capture_output=True)
    return tag if newer.returncode == 0 else rules


def commits(start: str | None) -> list[tuple[str, str]]:
    """(short hash, message) of each non-merge commit after `start`, oldest first."""
    span = f"{start}..HEAD" if start else "HEAD"
    out = git("log", "--no-merges", "--reverse", "--format=%h%x00%B%x1e", span)
    return [tuple(entry.strip("\n").split("\x00", 1)) for entry in out.split("\x1e") if entry.strip()]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="check every commit, not only those since the last tag")
    args = parser.parse_args(argv)
    problems = changelog_problems((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    try:
        start = None if args.all else since()
        history = commits(start)
    except (OSError, subprocess.CalledProcessError):
        print("commit messages: not a git checkout, nothing to check")
        history, start = [], None
    for short, message in history:
        problems += [f"{short} {message.splitlines()[0][:60]!r}: {p}" for p in message_problems(message)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"commit messages: {len(problems)} problem(s); see {RULES_PAGE}", file=sys.stderr)
        return 1
    origin = git("rev-parse", "--short", start).strip() if start and history else start or "the first"
    print(f"commit messages: {len(history)} commit(s) since {origin} and the CHANGELOG are fine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
