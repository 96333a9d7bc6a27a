"""The embedded SMTP server: every message it receives becomes a file in var/mail/.

Like Mailpit with --ignore-duplicate-ids, a message whose Message-ID was seen before is
accepted and dropped, so a resent email (same Message-ID) shows up once.
"""

import hashlib
import re
from email import message_from_bytes
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def file_name(message_id: str, content: bytes) -> str:
    key = message_id or hashlib.sha256(content).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9@._-]", "", key)[:100]
    return f"{readable}.eml"


class MailDirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = message_from_bytes(content).get("Message-ID", "")
        path = self.folder / file_name(message_id, content)
        if not path.exists():
            path.write_bytes(content)
        return "250 OK"


def start_smtp_sink(folder: Path, host: str, port: int) -> Controller:
    controller = Controller(MailDirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller
