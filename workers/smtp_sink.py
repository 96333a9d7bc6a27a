"""The embedded SMTP server: every message it receives becomes a file in var/mail/."""

import re
from datetime import datetime, timezone
from email import message_from_bytes
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MailDirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = message_from_bytes(content).get("Message-ID", "")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        name = re.sub(r"[^A-Za-z0-9@._-]", "", message_id)[:80] or "message"
        path = self.folder / f"{stamp}-{name}.eml"
        path.write_bytes(content)
        return "250 OK"


def start_smtp_sink(folder: Path, host: str, port: int) -> Controller:
    controller = Controller(MailDirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller
