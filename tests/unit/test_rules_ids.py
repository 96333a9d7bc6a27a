"""docs/rules.md numbers the rules as the rules document does: R01 to R29, in order, once each, and, where the
shared rules document sits beside the repository (a developer's checkout, not CI), exactly its ids. No page
names the whole set by a range that stops before the last rule (a stale "the rules R01-R19")."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "rules.md"
# The rules document the project is built from; outside the repository, so read only when it is there.
SHARED = ROOT.parent / "shared" / "DOMAIN.md"
LAST = 29
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A range: "R01-R29", "R01–R29", "R01 – R29".
RANGE = re.compile(r"\b(R\d\d) ?[–-] ?(R\d\d)\b")
# The words that make a range from R01 the whole set: "the rules R01-R24", "rules (R01–R19)", "R01-R24 and R29".
WHOLE_BEFORE = re.compile(r"\brules?\W{0,3}$", re.IGNORECASE)
WHOLE_AFTER = re.compile(r"^,? and R\d\d\b")


def table_ids(text: str) -> list[str]:
    """The rule ids of the rules table, in the order of its rows."""
    return re.findall(r"^\| (R\d\d) ", text, re.MULTILINE)


def shared_ids(text: str) -> list[str]:
    """The ids of the rules document, in the order it defines them (`- **R01 Renewal window.** ...`)."""
    return re.findall(r"^- \*\*(R\d\d) ", text, re.MULTILINE)


def stale_ranges(text: str, last: int = LAST) -> list[str]:
    """Each range from R01 that names the whole set of rules but stops before the last one."""
    found = []
    for match in RANGE.finditer(text):
        start, end = match[1], match[2]
        if start != "R01":
            continue
        whole = WHOLE_BEFORE.search(text[max(0, match.start() - 12) : match.start()]) or WHOLE_AFTER.match(
            text[match.end() : match.end() + 12]
        )
        if whole and end != f"R{last:02d}":
            found.append(match[0])
    return found


def test_rules_md_holds_r01_to_the_last_rule_in_order_once_each() -> None:
    assert table_ids(RULES.read_text(encoding="utf-8")) == [f"R{n:02d}" for n in range(1, LAST + 1)]


@pytest.mark.skipif(not SHARED.exists(), reason="the shared rules document is not beside this checkout")
def test_rules_md_ids_are_exactly_the_shared_rules_documents() -> None:
    assert table_ids(RULES.read_text(encoding="utf-8")) == shared_ids(SHARED.read_text(encoding="utf-8"))


def test_a_stale_range_of_the_whole_set_is_found() -> None:
    assert stale_ranges("the rules R01-R24 and R29, each with") == ["R01-R24"]
    assert stale_ranges("Rules (R01–R19) are in rules.md") == ["R01–R19"]
    assert stale_ranges("the rules R01-R29, each with its tests") == []
    assert stale_ranges("- **R01-R15, the quote itself**: eligibility") == []
    assert stale_ranges("R05-R10 in domain/quote_rules.py") == []


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_no_page_names_the_rules_by_a_stale_range(page: Path) -> None:
    assert stale_ranges(page.read_text(encoding="utf-8")) == []
