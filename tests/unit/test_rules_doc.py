"""docs/rules.md names, for every rule, the tests that prove it on real servers: each named test exists,
runs against a server (it takes a server fixture), and every rule that is built has at least one."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL = ("tests/workflows", "tests/e2e", "tests/faults")
# Fixtures that bring a Temporal server, PostgreSQL or the whole dev stack.
SERVERS = {"env", "dev_env", "dev", "shell", "pool", "database_url", "postgres_server_url", "stack", "cli_env"}


def _tests_on_servers() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in REAL:
        for path in (ROOT / folder).glob("test_*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                    found[node.name] = {a.arg for a in node.args.args}
    return found


def _rows() -> dict[str, str]:
    text = (ROOT / "docs" / "rules.md").read_text()
    return {m[1]: m[2] for m in re.finditer(r"^\| (R\d\d) [^|]*\|[^|]*\| (.*) \|$", text, re.MULTILINE)}


def test_every_rule_has_a_row_and_every_built_rule_a_test_on_a_server() -> None:
    rows = _rows()
    built = [f"R{n:02d}" for n in (*range(1, 25), 29)]
    later = [f"R{n:02d}" for n in range(25, 29)]  # each a row of its own once built, or "not built yet"
    assert sorted(rule for rule in rows if rule not in later) == built
    for rule, proof in rows.items():
        if proof.startswith("not built yet"):
            continue
        assert re.findall(r"`(test_\w+)`", proof), rule


def test_each_named_test_exists_and_runs_on_a_server() -> None:
    tests = _tests_on_servers()
    for rule, proof in _rows().items():
        for name in re.findall(r"`(test_\w+)`", proof):
            assert name in tests, f"{rule}: {name} is not a test in {', '.join(REAL)}"
            assert tests[name] & SERVERS, f"{rule}: {name} takes no server fixture"
