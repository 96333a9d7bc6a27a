"""The embedded SMTP server: every message it receives becomes a file in var/mail/.

Like Mailpit with --ignore-duplicate-ids, a message whose Message-ID was seen before is
accepted and dropped, so a resent email (same Message-ID) shows up once.

`renewals dev` runs it as a process of its own (`python -m workers.smtp_sink`), so the mail of a burst
takes no CPU from the worker; tests run it in their own process with `start_smtp_sink`.
"""

import argparse
import hashlib
import os
import re
import signal
import threading
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


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM, or until the `--parent` process is gone (it crashed: the sink must not hold the
    port against the next `renewals dev`)."""
    parser = argparse.ArgumentParser(prog="python -m workers.smtp_sink", description="The embedded SMTP sink.")
    parser.add_argument("--folder", type=Path, required=True, help="where each message becomes a .eml file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--parent", type=int, help="stop when this process ends (the dev stack's)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.parent is not None:
        # Ctrl-C reaches every process of the terminal's group: the stack stops the sink itself, after its
        # workers, so an email in flight still has a server.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = start_smtp_sink(args.folder, args.host, args.port)
    try:
        while not stop.wait(0.5):
            if args.parent is not None and os.getppid() != args.parent:
                break
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
