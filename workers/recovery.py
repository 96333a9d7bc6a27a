"""What a crashed `renewals dev` (SIGKILL, OOM, a laptop that died) leaves in var/, and taking it back.

Called with var/'s lock held: no other `renewals dev` runs on this var/, so whatever the files name and
whatever runs on var/'s files is a crashed run's, and ours to prune or stop.
"""

import json
from pathlib import Path

import psutil


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def prune_handles(pg: Path) -> int:
    """The embedded PostgreSQL stops when its last handle goes; a crashed run's handle never goes."""
    handles = pg / ".handle_pids.json"
    if not handles.exists():
        return 0
    text = handles.read_text().strip()
    pids = json.loads(text) if text else []
    living = [pid for pid in pids if alive(pid)]
    if living != pids:
        handles.write_text(json.dumps(living))
    return len(pids) - len(living)


def stop_orphans(var: Path) -> list[int]:
    """Temporal dev servers (and workers) still running on this var/'s files, their parent gone."""
    stopped = []
    marker = str(var / "temporal.db")
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if marker in cmdline and "start-dev" in cmdline:
            proc.terminate()
            try:
                proc.wait(10)
            except psutil.TimeoutExpired:
                proc.kill()
            stopped.append(proc.info["pid"])
    return stopped


def stale_env_file(var: Path) -> bool:
    """var/dev.env of a run that is gone would send other commands to a stack that is not there."""
    env_file = var / "dev.env"
    if not env_file.exists():
        return False
    pid = next(
        (line.split("=", 1)[1] for line in env_file.read_text().splitlines() if line.startswith("RENEWALS_DEV_PID=")),
        "",
    )
    if pid.isdigit() and alive(int(pid)):
        return False
    env_file.unlink()
    return True


def recover(var: Path) -> str | None:
    """Take back what a crashed run left; one line saying what was found, or None after a clean stop."""
    found = []
    pruned = prune_handles(var / "pg")
    if pruned:
        found.append(f"{pruned} dead PostgreSQL handle(s) pruned")
    stopped = stop_orphans(var)
    if stopped:
        found.append(f"an orphaned Temporal dev server stopped (pid {', '.join(map(str, stopped))})")
    if stale_env_file(var):
        found.append("a stale var/dev.env removed")
    if (var / "pg" / "postmaster.pid").exists() and not pruned and not stopped:
        found.append("PostgreSQL's pid file from the last run found; taking over the data directory")
    return f"recovering from a crashed run: {'; '.join(found)}" if found else None
