"""Every relative link and `#anchor` in the README and docs/*.md leads somewhere: the file exists, and the anchor
is a heading of that file, slugged as GitHub does. A page that is moved or renamed breaks no link unnoticed."""

import itertools
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKDOWN = MarkdownIt("commonmark").enable("table")


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but `-` and `_` removed, each space a `-`."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _text(inline: Token) -> str:
    """A heading's text as GitHub reads it: code spans and link texts included, markup left out."""
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a heading seen before gets `-1`, `-2`, ..."""
    tokens = MARKDOWN.parse(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        base = slug(_text(inline))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """Every link and image target of a page, outside code blocks and code spans."""
    targets = []
    for token in MARKDOWN.parse(page.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(str(child.attrs["href"]))
            elif child.type == "image":
                targets.append(str(child.attrs["src"]))
    return targets


def problems(page: Path) -> list[str]:
    found = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # another site, or the running stack
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not path.exists():
            found.append(f"{target}: no such file")
        elif parts.fragment and path.suffix == ".md" and parts.fragment not in anchors(path):
            found.append(f"{target}: no heading with that anchor in {path.name}")
    return found


def test_slugs_follow_githubs_rules() -> None:
    assert slug("Paying (R16, R17)") == "paying-r16-r17"
    assert slug("Troubleshooting make run") == "troubleshooting-make-run"
    assert slug("The buyer's pages") == "the-buyers-pages"
    assert slug("Partners and procurement (R25-R27)") == "partners-and-procurement-r25-r27"
    assert slug("WORKER_QUEUES and the queues") == "worker_queues-and-the-queues"


def test_a_repeated_heading_gets_a_number(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Tests\n\n## Tests\n\n```sh\n# not a heading\n```\n\n## `make run` Tests\n")
    assert anchors(page) == {"title", "tests", "tests-1", "make-run-tests"}


def test_a_broken_file_or_anchor_is_found_and_code_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A part\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#a-part) [self](#page) [gone](missing.md) [bad](other.md#no-part)\n\n"
        "`[code](missing.md)`\n\n```\n[block](missing.md)\n```\n\n[web](https://example.com/x.md#y)\n"
    )
    assert problems(page) == ["missing.md: no such file", "other.md#no-part: no heading with that anchor in other.md"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_and_anchor_leads_somewhere(page: Path) -> None:
    assert not problems(page), "\n".join(problems(page))
