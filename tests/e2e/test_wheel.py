"""The image installs the project as its wheel (Dockerfile), so the wheel must carry everything: built from
pyproject.toml, installed into a fresh virtual environment outside the repository, `renewals` starts and
every module of every package imports from there, never from the repository (issue 20)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
# Every top-level Python package of the repository except the tests and the benchmark tool.
NOT_SHIPPED = {"tests", "bench", "mutants", "build"}
# The data files the code opens by path: (package folder, pattern).
DATA = [
    ("store/migrations", "*.sql"),
    ("activities/templates", "*.j2"),
    ("web/templates", "*.html"),
    ("web/templates/account", "*.html"),
    ("documents/locales/nl/LC_MESSAGES", "*.po"),
    ("web/static", "*"),
]

IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
packages, root = sys.argv[1].split(","), sys.argv[2]
assert root not in sys.path and "" not in sys.path, sys.path
modules = {}
for name in packages:
    package = importlib.import_module(name)
    modules[name] = package.__file__
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        modules[info.name] = importlib.import_module(info.name).__file__
print(json.dumps(modules))
"""


def repository_packages() -> set[str]:
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_SHIPPED and not path.parent.name.startswith(".")
    }


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel --no-deps` on a copy of what the Docker build sees (.dockerignore), so the build writes
    nothing into the checkout (setuptools' build/ and egg-info). pip's own configuration (its index) applies;
    nothing of the repository is on the path."""
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    ignored = [line.strip().removeprefix("**/") for line in (ROOT / ".dockerignore").read_text().splitlines()]
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*[p for p in ignored if p]))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", tmp_path / "dist", source]
    run(*pip, cwd=tmp_path, env=env, timeout=120)
    (wheel,) = (tmp_path / "dist").glob("renewal_quotes-*.whl")
    return wheel


def test_wheel_installs_and_imports_every_module(tmp_path: Path) -> None:
    started = time.monotonic()
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {name.split("/")[0] for name in names if name.endswith("/__init__.py") and name.count("/") == 1}
    assert shipped == repository_packages(), shipped ^ repository_packages()
    for folder, pattern in DATA:
        expected = {f"{folder}/{p.name}" for p in (ROOT / folder).glob(pattern) if p.is_file()}
        assert expected and expected <= set(names), (folder, expected - set(names))

    # A fresh virtual environment outside the repository; the dependencies already installed here are made
    # visible through a .pth file (nothing downloaded), the repository itself is not. A clean environment:
    # no PYTHONPATH, no var/dev.env of a running stack, the temporary folder as home and working directory.
    env = {"PATH": os.defpath, "HOME": str(tmp_path), "RENEWALS_VAR": str(tmp_path / "var"), "LANG": "C.UTF-8"}
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path, env=env
        ).stdout.strip()
    )
    dependencies = Path(sysconfig.get_path("purelib"))
    assert ROOT.resolve() != dependencies.resolve()
    (site / "_dependencies.pth").write_text(f"{dependencies}\n")
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel, cwd=tmp_path, env=env
    )

    clean = env | {"PATH": f"{venv / 'bin'}{os.pathsep}{os.defpath}", "VIRTUAL_ENV": str(venv)}
    renewals = venv / "bin" / "renewals"
    assert renewals.exists()
    helps = {
        " ".join(args): run(renewals, *args, "--help", cwd=tmp_path, env=clean).stdout
        for args in ((), ("migrate",), ("worker",), ("web",))
    }
    assert "Usage: renewals [OPTIONS] COMMAND" in helps[""] and "quote" in helps[""]
    assert "Apply the SQL migrations" in helps["migrate"] and "Poll the task queue" in helps["worker"]

    packages = sorted(shipped)
    found = json.loads(run(python, "-I", "-c", IMPORT_ALL, ",".join(packages), ROOT, cwd=tmp_path, env=clean).stdout)
    outside = {name: file for name, file in found.items() if not Path(file).resolve().is_relative_to(site.resolve())}
    assert not outside, outside
    in_repository = sum(len(list((ROOT / package).rglob("*.py"))) for package in packages)
    assert len(found) == in_repository, (len(found), in_repository)
    elapsed = time.monotonic() - started

    print(f"\nwheel        {wheel.name} ({wheel.stat().st_size // 1024} KiB, {len(names)} files)")
    print(f"packages     {', '.join(packages)}")
    print("data         " + ", ".join(f"{folder}/{pattern}" for folder, pattern in DATA))
    print(f"venv         {venv} (dependencies through {site.name}/_dependencies.pth; repository not on sys.path)")
    for args, text in helps.items():
        print(f"renewals {args + ' ' if args else ''}--help".ljust(30) + text.strip().splitlines()[0])
    print(f"imported     {len(found)} modules, every one from {site}")
    print(f"took         {elapsed:.1f} s")
