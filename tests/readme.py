"""The shell blocks of the README and of the walkthrough pages in docs/ as steps a test runs, and what each
step's output must show.

In a ```sh block of a section the test runs, each command is a step (a line ending in `\\` goes on
on the next). The lines right below it that start with `#  ` (two spaces) are what it prints; a
`# ` line is a comment. An unlabelled block right after a ```sh block is what its last step prints.
A step's expected exit status is 2 when what it prints is a refusal or an error, else 0. A block
whose line above is `<!-- not run: why -->` is not run (it needs a browser, or minutes).

Printed lines match by their words: dates, times and `…` / `...` stand for what a run prints on
its day, and each line is found after the one above it.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

NOT_RUN = "<!-- not run:"


@dataclass
class Step:
    command: str
    line: int  # in its file, for the failure message
    expected: list[str] = field(default_factory=list)
    file: str = "README.md"

    @property
    def exit_status(self) -> int:
        return 2 if any(e.startswith(("refused (", "error:")) for e in self.expected) else 0


def sections(text: str, titles: list[str]) -> list[tuple[int, str]]:
    """The lines (numbered from 1) of each `## title` section, up to the next `## `."""
    lines = text.splitlines()
    picked: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(lines, start=1):
        if line.startswith("## "):
            inside = line[3:].strip() in titles
        if inside:
            picked.append((number, line))
    return picked


def steps(text: str, titles: list[str]) -> list[Step]:
    found: list[Step] = []
    lines = sections(text, titles)
    i = 0
    last_run: tuple[int, list[Step]] | None = None  # the line that closed the last run ```sh block, its steps
    while i < len(lines):
        number, line = lines[i]
        if not line.startswith("```"):
            i += 1
            continue
        info = line[3:].strip()
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines) and not lines[i][1].startswith("```"):
            body.append(lines[i])
            i += 1
        closed = lines[i][0] if i < len(lines) else number
        i += 1
        before = _previous_text(lines, number)
        if info == "sh" and not before[1].startswith(NOT_RUN):
            block = _block_steps(body)
            found.extend(block)
            last_run = (closed, block) if block else None
        elif info == "" and last_run is not None and before[0] == last_run[0]:
            last_run[1][-1].expected.extend(text.strip() for _, text in body if text.strip())
            last_run = None
    return found


def _previous_text(lines: list[tuple[int, str]], number: int) -> tuple[int, str]:
    """The last line with text above line `number`, and its number."""
    before = [(n, text.strip()) for n, text in lines if n < number and text.strip()]
    return before[-1] if before else (0, "")


def _block_steps(body: list[tuple[int, str]]) -> list[Step]:
    block: list[Step] = []
    pending: Step | None = None
    for number, text in body:
        if pending is not None:
            pending.command += "\n" + text
            if not text.rstrip().endswith("\\"):
                block.append(pending)
                pending = None
            continue
        if text.startswith("#  "):
            assert block, f"line {number}: printed output with no command above it"
            block[-1].expected.append(text[3:].strip())
        elif text.lstrip().startswith("#") or not text.strip():
            continue
        elif text.rstrip().endswith("\\"):
            pending = Step(command=text, line=number)
        else:
            block.append(Step(command=text, line=number))
    return block


_WILD = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"|(?P<longdate>\d{1,2} (?:januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november"
    r"|december|January|February|March|April|May|June|July|August|September|October|November|December) \d{4})"
    r"|(?P<more>\.\.\.|…)"
    r"|(?P<space>\s+)"
)


def pattern(expected: str) -> re.Pattern[str]:
    """A printed line as a pattern: its words in order, any date, time or `…` standing for what a run prints."""
    parts: list[str] = []
    at = 0
    for found in _WILD.finditer(expected):
        parts.append(re.escape(expected[at : found.start()]))
        kind = found.lastgroup
        parts.append(
            {
                "date": r"\d{4}-\d{2}-\d{2}",
                "time": r"\d{2}:\d{2}(?::\d{2})?",
                "longdate": r"\d{1,2} \w+ \d{4}",
                "more": r".*?",
                "space": r"\s+",
            }[kind or "space"]
        )
        at = found.end()
    parts.append(re.escape(expected[at:]))
    return re.compile("".join(parts), re.DOTALL)


def mismatch(step: Step, printed: str, status: int) -> str | None:
    """What differs between the documented step and what it printed, or None."""
    problems = []
    if status != step.exit_status:
        problems.append(f"exit status {status}, the page implies {step.exit_status}")
    at = 0
    for expected in step.expected:
        found = pattern(expected).search(printed, at)
        if found is None:
            problems.append(f"not printed (in this order): {expected!r}")
            continue
        at = found.end()
    if not problems:
        return None
    return f"{step.file} line {step.line}: {step.command}\n  " + "\n  ".join(problems) + f"\n--- it printed:\n{printed}"


def readme_steps(readme: Path, titles: list[str]) -> list[Step]:
    return steps(readme.read_text(encoding="utf-8"), titles)


def doc_steps(root: Path, sections: list[tuple[str, str]]) -> list[Step]:
    """The steps of each (file, `## ` section) pair in the order given, so a walkthrough split over pages runs as
    one: the file is relative to `root`, and each step says which file it comes from."""
    found: list[Step] = []
    for file, title in sections:
        picked = readme_steps(root / file, [title])
        assert picked, f"{file}: no steps in a section '## {title}'"
        for step in picked:
            step.file = file
        found.extend(picked)
    return found
