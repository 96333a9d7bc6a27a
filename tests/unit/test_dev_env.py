"""`var/dev.env` and the kept secrets hold every secret of `renewals dev` (issue 20, item 9): only their owner
may read them, from the moment they exist, whatever the umask."""

import os
import stat
from pathlib import Path

from workers.devstack import DevPorts, DevStack, kept_secret, write_env_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stack(var: Path) -> DevStack:
    return DevStack(
        var=var,
        ports=DevPorts(),
        link_secret="link-secret-" + "x" * 20,
        api_key="rk_api-key",
        webhook_secret="whsec_webhook",
        database_url="postgresql://postgres:pg-password@/renewals?host=/tmp",
    )


def test_dev_env_file_is_private(tmp_path: Path) -> None:
    env_file = tmp_path / "dev.env"
    env_file.write_text("OLD=1\n")
    env_file.chmod(0o644)  # written world-readable by an older build
    old_umask = os.umask(0)  # a umask that would let everyone read a file created 0666
    try:
        write_env_file(env_file, stack(tmp_path))
    finally:
        os.umask(old_umask)
    assert mode(env_file) == 0o600
    text = env_file.read_text()
    for secret in ("link-secret-", "rk_api-key", "whsec_webhook", "pg-password"):
        assert secret in text
    assert "OLD=1" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.env"]  # no temporary left behind


def test_kept_secrets_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        made = kept_secret(tmp_path, "buyer-link")
        (tmp_path / "api-key.secret").write_text("rk_older")
        (tmp_path / "api-key.secret").chmod(0o644)
        kept = kept_secret(tmp_path, "api-key", "rk_")
    finally:
        os.umask(old_umask)
    assert len(made) >= 32 and mode(tmp_path / "buyer-link.secret") == 0o600
    assert kept == "rk_older" and mode(tmp_path / "api-key.secret") == 0o600
    assert kept_secret(tmp_path, "buyer-link") == made
