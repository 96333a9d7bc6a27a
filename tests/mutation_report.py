"""The figures `make mutate` ends with: the mutation score per area and the mutants no test killed.

Reads what `mutmut run` left in mutants/ (one `<file>.meta` per mutated file, with each mutant's exit
code) and the mutated files themselves (each mutant is a copy of its function, `<name>__mutmut_<n>`,
beside the original, `<name>__mutmut_orig`), so it needs nothing of mutmut's own code.

    python -m tests.mutation_report [--mutants mutants] [--diff]
"""

import argparse
import ast
import difflib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# The areas the score is given for, by the paths of their files (pyproject.toml, [tool.mutmut]).
AREAS = {
    "domain/": ("domain/",),
    "payment and reservation steps": ("contracts/subscription.py", "activities/payments.py"),
}

# mutmut's exit codes (mutmut.stats.status_by_exit_code): a test failed, or the tests ran too long.
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests", 35: "suspicious", -9: "segfault", -11: "segfault"}


@dataclass(frozen=True)
class Mutant:
    name: str  # domain.money.x_round_money__mutmut_3, as `mutmut show` takes it
    path: str  # domain/money.py
    status: str

    @property
    def killed(self) -> bool:
        return self.status in ("killed", "timeout")

    @property
    def function(self) -> str:
        """The mutated copy's name in the mutated file: x_round_money__mutmut_3, xǁOwnerǁ__str____mutmut_2."""
        return self.name.rsplit(".", 1)[1]


def read_mutants(root: Path) -> list[Mutant]:
    mutants = []
    for meta in sorted(root.rglob("*.py.meta")):
        path = meta.relative_to(root).as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if code is None:
                status = "not checked"
            elif code == 34:
                status = "skipped"
            elif code == 37:
                status = "caught by type check"
            else:
                status = KILLED.get(code) or NOT_KILLED.get(code, "suspicious")
            mutants.append(Mutant(name=name, path=path, status=status))
    return mutants


def area_of(path: str) -> str | None:
    return next((area for area, prefixes in AREAS.items() if path.startswith(prefixes)), None)


def function_sources(mutated_file: Path) -> dict[str, list[str]]:
    """Each function of a mutated file by name, as its lines (methods included)."""
    text = mutated_file.read_text()
    lines = text.splitlines()
    return {
        node.name: [line.strip() for line in lines[node.lineno - 1 : node.end_lineno]]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
    }


def change(mutant: Mutant, sources: dict[str, list[str]], full: bool) -> list[str]:
    """What the mutant changed: the lines its function has instead of the original's."""
    copy = sources.get(mutant.function)
    original = sources.get(mutant.function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    if copy is None or original is None:
        return []
    diff = list(difflib.unified_diff(original[1:], copy[1:], lineterm="", n=0))
    changed = [line for line in diff[2:] if line[:1] in "-+" and line[:3] not in ("---", "+++")]
    return changed if full else changed[:2]


def score_line(label: str, mutants: list[Mutant]) -> str:
    killed = sum(m.killed for m in mutants)
    total = len(mutants)
    percent = 100 * killed / total if total else 0.0
    counts = Counter(m.status for m in mutants if not m.killed)
    rest = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none left"
    return f"  {label:<34} {killed:>5} / {total:<5} {percent:5.1f}%   ({rest})"


def report(root: Path, full: bool) -> int:
    mutants = [m for m in read_mutants(root) if area_of(m.path)]
    if not mutants:
        print(f"no mutation results in {root}/: run `make mutate`", file=sys.stderr)
        return 1
    print()
    print("Mutation score (killed / total; a timeout counts as killed)")
    for area in AREAS:
        in_area = [m for m in mutants if area_of(m.path) == area]
        print(score_line(area, in_area))
        for path in sorted({m.path for m in in_area}):
            print(score_line(f"  {path}", [m for m in in_area if m.path == path]))
    unchecked = sum(m.status == "not checked" for m in mutants)
    if unchecked:
        print(f"  ({unchecked} mutants not checked: the run was interrupted)")

    left = [m for m in mutants if not m.killed and m.status != "not checked"]
    print()
    print(f"Surviving mutants ({len(left)}): `mutmut show NAME` prints one whole")
    for path in sorted({m.path for m in left}):
        print(f"  {path}")
        sources = function_sources(root / path)
        for mutant in sorted((m for m in left if m.path == path), key=lambda m: _natural(m.name)):
            print(f"    {mutant.name}  [{mutant.status}]")
            for line in change(mutant, sources, full):
                print(f"        {line}")
    return 0


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder (default: mutants)")
    parser.add_argument("--diff", action="store_true", help="every changed line of each survivor, not the first two")
    args = parser.parse_args()
    return report(args.mutants, args.diff)


if __name__ == "__main__":
    sys.exit(main())
