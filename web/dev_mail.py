"""`renewals dev`'s own pages: the landing page's development links and the sent mail at /dev/mail.

The SMTP sink writes each message the stack sends as a .eml file (workers/smtp_sink.py); these pages read
that folder with the standard library's `email` package: the list, newest first, and each message with its
headers, its HTML part, its plain text and its attachments (the quote PDF). Only `renewals dev` serves
them (`enable_dev_pages`); `renewals web` has no such routes.

A message's HTML is never put into a page of this site: it is served on its own URL, under a Content-Security-
Policy that sandboxes it (no script, an origin of its own, nothing loaded from anywhere) and lets only this
site frame it; the message page shows it in a sandboxed iframe. Message ids in URLs are file names the sink
could have written, and must name a file in the folder: no path leaves it.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from web import i18n
from web.pages import message as message_page
from web.pages import templates
from web.security import CONTENT_SECURITY_POLICY

# What workers/smtp_sink.py's `file_name` writes, less the ".eml": never "." or ".." nor any "/".
MAIL_ID = re.compile(r"[A-Za-z0-9@_-][A-Za-z0-9@._-]{0,99}")
# The list shows the newest this many; the folder of a `make bench` run holds thousands.
SHOWN = 200
# The message page frames its HTML part, from this site only.
PAGE_POLICY = CONTENT_SECURITY_POLICY + "; frame-src 'self'"
# A message's HTML part: its inline styles and data: images, nothing else; sandboxed whoever opens it (links
# open in a new tab, outside the sandbox); framed by this site's pages only.
HTML_PART_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; "
    "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
LINK = re.compile(r"https?://[^\s<>\"]+")
HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class DevLinks:
    """Where the stack's other parts are: the Temporal Web UI's address and the SMTP sink's folder."""

    temporal_ui: str
    mail: Path


def enable_dev_pages(app: FastAPI, temporal_ui: str, mail: Path) -> None:
    """The development links on the landing page and the /dev/mail pages, for `renewals dev` only."""
    app.state.dev = DevLinks(temporal_ui, mail)
    app.include_router(router)


def dev_links(request: Request) -> DevLinks | None:
    return getattr(request.app.state, "dev", None)


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Mail:
    id: str
    message: EmailMessage
    received: datetime

    @property
    def date(self) -> datetime:
        try:
            return parsedate_to_datetime(str(self.message["Date"])) if self.message["Date"] else self.received
        except (TypeError, ValueError):
            return self.received

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))

    def attachments(self) -> list[Attachment]:
        found = []
        for index, part in enumerate(self.message.iter_attachments()):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            name = part.get_filename() or f"attachment-{index + 1}"
            found.append(Attachment(index, name, part.get_content_type(), size))
        return found

    def body(self, subtype: str) -> str | None:
        part = self.message.get_body((subtype,))
        if part is None:
            return None
        content = part.get_content()
        return content if isinstance(content, str) else None

    def links(self) -> list[str]:
        """The web addresses in its plain text: the buyer's quote link, the account's sign-in link."""
        return list(dict.fromkeys(LINK.findall(self.body("plain") or "")))


class MailFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def newest(self, count: int) -> tuple[list[Mail], int]:
        """The `count` newest messages, newest first, and how many there are."""
        try:
            paths = [(p.stat().st_mtime_ns, p.name, p) for p in self.folder.glob("*.eml") if p.is_file()]
        except FileNotFoundError:
            return [], 0
        paths.sort(reverse=True)
        mails = [self._read(path) for _mtime, _name, path in paths[:count]]
        mails.sort(key=lambda m: (m.date.timestamp(), m.received), reverse=True)
        return mails, len(paths)

    def find(self, mail_id: str) -> Mail | None:
        """The message of this id, or None: an id that is not a name the sink writes, or no such file."""
        if not MAIL_ID.fullmatch(mail_id):
            return None
        path = self.folder / f"{mail_id}.eml"
        if path.parent != self.folder or path.is_symlink() or not path.is_file():
            return None
        return self._read(path)

    def _read(self, path: Path) -> Mail:
        with path.open("rb") as handle:
            parsed = BytesParser(policy=policy.default).parse(handle)
        assert isinstance(parsed, EmailMessage)
        received = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        return Mail(path.name.removesuffix(".eml"), parsed, received)


def folder_of(request: Request) -> MailFolder:
    links = dev_links(request)
    assert links is not None  # the router is only included by enable_dev_pages
    return MailFolder(links.mail)


def dev_page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    """The development pages are in English, whatever the browser asks for."""
    context = i18n.context(i18n.DEFAULT) | {"dev": dev_links(request)} | context
    return templates.TemplateResponse(request, name, context, status_code=status)


def no_such_message(request: Request) -> HTMLResponse:
    return message_page(request, 404, "No such message", "There is no message of this id in the mail folder.")


def size_text(size: int) -> str:
    return f"{size / 1024:.1f} kB" if size >= 1024 else f"{size} bytes"


@router.get("/dev/mail", response_class=HTMLResponse)
async def mail_list(request: Request) -> HTMLResponse:
    mails, total = folder_of(request).newest(SHOWN)
    return dev_page(
        request, "dev/mail_list.html", mails=mails, total=total, folder=folder_of(request).folder, size=size_text
    )


@router.get("/dev/mail/{mail_id}", response_class=HTMLResponse)
async def mail_message(request: Request, mail_id: str) -> HTMLResponse:
    mail = folder_of(request).find(mail_id)
    if mail is None:
        return no_such_message(request)
    response = dev_page(
        request,
        "dev/mail_message.html",
        mail=mail,
        html=mail.body("html") is not None,
        text=mail.body("plain"),
        size=size_text,
    )
    response.headers["content-security-policy"] = PAGE_POLICY
    return response


@router.get("/dev/mail/{mail_id}/html")
async def mail_html(request: Request, mail_id: str) -> Response:
    """The message's HTML part as it was sent, but for a `<base target="_blank">`: its links open a tab."""
    mail = folder_of(request).find(mail_id)
    html = mail.body("html") if mail else None
    if html is None:
        return no_such_message(request)
    found = HTML_TAG.search(html)
    at = found.end() if found else 0
    html = html[:at] + '<base target="_blank">' + html[at:]
    headers = {"content-security-policy": HTML_PART_POLICY, "x-frame-options": "SAMEORIGIN"}
    return HTMLResponse(html, headers=headers)


@router.get("/dev/mail/{mail_id}/attachments/{index}")
async def mail_attachment(request: Request, mail_id: str, index: int) -> Response:
    """An attachment, always downloaded (never shown by this site), under its own file name."""
    mail = folder_of(request).find(mail_id)
    parts = list(mail.message.iter_attachments()) if mail else []
    if not 0 <= index < len(parts):
        return no_such_message(request)
    part = parts[index]
    payload = part.get_payload(decode=True)
    name = (mail.attachments()[index].filename if mail else "") or "attachment"
    return Response(
        payload if isinstance(payload, bytes) else b"",
        media_type=part.get_content_type(),
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/dev/mail/{mail_id}/raw")
async def mail_raw(request: Request, mail_id: str) -> Response:
    """The .eml file as the SMTP sink wrote it."""
    mail = folder_of(request).find(mail_id)
    if mail is None:
        return no_such_message(request)
    content = (folder_of(request).folder / f"{mail.id}.eml").read_bytes()
    disposition = f"attachment; filename*=UTF-8''{quote(mail.id)}.eml"
    return Response(content, media_type="message/rfc822", headers={"content-disposition": disposition})
