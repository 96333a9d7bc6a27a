"""web/dev_mail.py's reading of the SMTP sink's folder: the sink's own file names, newest first, and no id that
names anything but a message in the folder. (The pages themselves: tests/e2e/test_dev_mail.py.)"""

import os
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from web.dev_mail import MailFolder
from web.security import CONTENT_SECURITY_POLICY, SecurityHeaders
from workers.smtp_sink import file_name


def written(folder: Path, message_id: str, subject: str, mtime: int, pdf: bytes | None = None) -> str:
    """A message as the sink keeps it: under `file_name` of its Message-ID."""
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, "quotes@renewals.example", "cfo@acme.example"
    message["Message-ID"] = message_id
    message.set_content("Dear Acme BV,")
    message.add_alternative("<p>Dear Acme BV,</p>", subtype="html")
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="Q-000001.pdf")
    content = bytes(message)
    path = folder / file_name(message_id, content)
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))
    return path.name.removesuffix(".eml")


def test_dev_mail_reads_the_sinks_files_newest_first_with_their_attachments(tmp_path: Path) -> None:
    older = written(tmp_path, "<Q-000001.quote.a@renewals.example>", "Renewal quote Q-000001", 1_000, b"%PDF-1.7")
    newer = written(tmp_path, "<Q-000002.quote.b@renewals.example>", "Renewal quote Q-000002", 2_000)
    mails, total = MailFolder(tmp_path).newest(10)
    assert [m.id for m in mails] == [newer, older] and total == 2
    (attached,) = mails[1].attachments()
    assert (attached.filename, attached.content_type, attached.size) == ("Q-000001.pdf", "application/pdf", 8)
    assert mails[1].body("plain") == "Dear Acme BV,\n" and mails[1].body("html") == "<p>Dear Acme BV,</p>\n"
    assert MailFolder(tmp_path).newest(1)[0][0].id == newer
    assert MailFolder(tmp_path / "no-mail-yet").newest(10) == ([], 0)


@pytest.mark.parametrize(
    "mail_id", ["..", ".", "../dev", "..%2Fdev", "/etc/passwd", "mail/x", ".hidden", "dev\x00", "", "a" * 101, "secret"]
)
def test_dev_mail_finds_no_message_outside_the_folder_or_not_written_by_the_sink(tmp_path: Path, mail_id: str) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (tmp_path / "dev.eml").write_text("Subject: var/dev.env's neighbour\n\n")
    (folder / ".hidden.eml").write_text("Subject: hidden\n\n")
    (folder / "secret.eml").symlink_to(tmp_path / "dev.eml")
    assert MailFolder(folder).find(mail_id) is None


def test_security_headers_keep_a_routes_own_policy_and_give_every_other_route_the_strict_one() -> None:
    app = FastAPI()

    @app.get("/framed")
    async def framed() -> PlainTextResponse:
        return PlainTextResponse("", headers={"content-security-policy": "sandbox", "x-frame-options": "SAMEORIGIN"})

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("")

    app.add_middleware(SecurityHeaders)
    client = TestClient(app)
    own = client.get("/framed").headers
    assert own.get_list("content-security-policy") == ["sandbox"] and own.get_list("x-frame-options") == ["SAMEORIGIN"]
    strict = client.get("/plain").headers
    assert strict["content-security-policy"] == CONTENT_SECURITY_POLICY and strict["x-frame-options"] == "DENY"
