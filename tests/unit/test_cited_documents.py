"""No tracked file cites a document that is not in the repository: every `*.md` name a file mentions (in code
comments, docstrings, docs, templates) is a tracked file, so a reader can open what is cited."""

import re
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MENTION = re.compile(r"(?<![\w./-])[\w./-]*[\w-]\.md\b")
# Names that are not citations: the shared rules document, read only when it is beside the checkout; pages a
# test writes for itself; this test's own examples.
NOT_CITED = {
    "tests/unit/test_rules_ids.py": {"DOMAIN.md"},
    "tests/unit/test_docs_links.py": {"page.md", "other.md", "missing.md"},
}
NOT_CITED["tests/unit/test_cited_documents.py"] = {"DESIGN.md", "NOTES.md", *set().union(*NOT_CITED.values())}


def tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.splitlines()


def mentions(text: str) -> list[str]:
    """The `*.md` names a text mentions, leaving out web addresses (another site's pages)."""
    found = []
    for match in MENTION.finditer(text):
        word = text[text.rfind(" ", 0, match.start()) + 1 : match.end()]
        if "://" not in word:
            found.append(match[0])
    return found


def names_a_file(mention: str, files: list[str]) -> bool:
    """Whether a mention, as a path from the repository's root or relative to some folder, is a tracked file."""
    path = re.sub(r"^(\.\.?/)+", "", mention)
    return path in _tails(tuple(files))


@cache
def _tails(files: tuple[str, ...]) -> frozenset[str]:
    """Each tracked path and every tail of it after a `/`: what a relative mention may be."""
    return frozenset(file.split("/", n)[-1] for file in files for n in range(file.count("/") + 1))


def test_mentions_are_read_from_prose_and_paths_but_not_web_addresses() -> None:
    text = "see docs/rules.md, (../README.md#x), DESIGN.md, and https://example.com/NOTES.md"
    assert mentions(text) == ["docs/rules.md", "../README.md", "DESIGN.md"]
    files = ["README.md", "docs/rules.md"]
    assert names_a_file("rules.md", files) and names_a_file("../README.md", files)
    assert not names_a_file("DESIGN.md", files)


def test_every_cited_document_is_in_the_repository() -> None:
    files = tracked()
    missing = []
    for file in files:
        path = ROOT / file
        if not path.is_file() or path.suffix in (".png", ".pdf", ".pickle"):
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for mention in mentions(text):
            if mention not in NOT_CITED.get(file, set()) and not names_a_file(mention, files):
                missing.append(f"{file}: {mention}")
    assert not missing, "\n".join(missing)
