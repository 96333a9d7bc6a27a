"""Every shell block of the walkthrough pages, the API page and Stripe locally is run by tests/e2e/test_readme.py:
a section added to a page but not to its RUN list would otherwise go untested, and rot."""

from pathlib import Path

from tests.e2e.test_readme import ROOT, RUN, STRIPE_RUN
from tests.readme import NOT_RUN, sections

PAGES = {
    "README.md": ["A five-minute tour"],
    "docs/walkthrough.md": None,
    "docs/walkthrough-partners.md": None,
    "docs/api.md": None,
    "docs/payments.md": ["Paying with Stripe (locally)"],
}


def sections_with_run_blocks(page: Path) -> list[str]:
    """The `## ` sections of a page that hold a ```sh block not marked `<!-- not run: ... -->`."""
    found: list[str] = []
    title, before = "", ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.strip() == "```sh" and not before.startswith(NOT_RUN) and title not in found:
            found.append(title)
        if line.strip() and not line.startswith("```"):
            before = line.strip()
    return found


def test_every_run_block_of_the_walkthrough_is_in_a_section_the_readme_test_runs() -> None:
    named = set(RUN) | set(STRIPE_RUN)
    for file, only in PAGES.items():
        for title in sections_with_run_blocks(ROOT / file):
            if only is None or title in only:
                assert (file, title) in named, f"{file}: '## {title}' has shell blocks no test runs"


def test_each_named_section_is_a_section_of_its_page() -> None:
    for file, title in [*RUN, *STRIPE_RUN]:
        text = (ROOT / file).read_text(encoding="utf-8")
        assert sections(text, [title]), f"{file} has no '## {title}'"
