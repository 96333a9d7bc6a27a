"""One SMTP connection per email activity, counted at a real aiosmtpd server: every recipient of one quote
and purpose over it, a retry opening one only for what is left, a connection the server dropped opened
again for the next message."""

import asyncio
from collections import Counter
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, Mailer, SendQuoteEmailsInput, SmtpSettings
from domain.links import LinkSigner
from tests.helpers import free_port, scalar
from workers.smtp_sink import MailDirHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECIPIENTS = ["buyer@acme.example", "cfo@acme.example", "it@acme.example"]


class CountingSink(MailDirHandler):
    """The embedded sink, counting connections (one EHLO each), QUITs and deliveries per Message-ID; it can
    refuse one mailbox for good, and drop each connection after its first message."""

    def __init__(self, folder: Path, refuse: str = "", drop_after_message: bool = False) -> None:
        super().__init__(folder)
        self.refuse = refuse
        self.drop_after_message = drop_after_message
        self.connections = 0
        self.quits = 0
        self.delivered: Counter[str] = Counter()
        self.dated: list[bool] = []  # RFC 5322: every message says when it was sent

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        status = await super().handle_DATA(server, session, envelope)
        message = message_from_bytes(envelope.original_content or b"")
        self.delivered[message["Message-ID"]] += 1
        self.dated.append(message["Date"] is not None)
        if self.drop_after_message:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 250 is written
        return status

    async def handle_QUIT(self, server, session, envelope) -> str:
        self.quits += 1
        return "221 Bye"


class WorkerDied(BaseException):
    """As the worker's end looks to the activity: nothing of it catches this."""


class CrashesBeforeSecond(Mailer):
    """The worker dies after the first message is sent and recorded, before the second is claimed."""

    crash = True

    async def _claim(self, msg_id, message, purpose, quote_number, subscription_id) -> bool:
        if self.crash and message["To"] == RECIPIENTS[1]:
            raise WorkerDied("between two messages")
        return await super()._claim(msg_id, message, purpose, quote_number, subscription_id)


async def started(handler: CountingSink) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    return controller, port


def email_activities(mailer: Mailer, settings) -> EmailActivities:
    return EmailActivities(mailer, LinkSigner(settings.require_link_secrets()), settings.buyer_app_url)


def smtp(port: int, settings) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, mail_from=settings.mail_from)


def job(number: str, recipients: list[str] = RECIPIENTS) -> SendQuoteEmailsInput:
    from tests.unit.test_quote_rules import build

    quote = build("SUB-1001").model_copy(update={"number": number})
    return SendQuoteEmailsInput(quote=quote, recipients=recipients, purpose="superseded")


async def test_three_recipients_one_connection_and_a_retry_after_a_crash_sends_each_once(
    pool, settings, tmp_path: Path
) -> None:
    sink = CountingSink(tmp_path / "mail")
    controller, port = await started(sink)
    try:
        mailer = CrashesBeforeSecond(pool, smtp(port, settings))
        email = email_activities(mailer, settings)
        with pytest.raises(WorkerDied):
            await ActivityEnvironment().run(email.send_quote_emails, job("Q-778001"))
        assert (sink.connections, sink.quits, sum(sink.delivered.values())) == (1, 1, 1)

        mailer.crash = False
        retried = await ActivityEnvironment().run(email.send_quote_emails, job("Q-778001"))
        assert [r.sent for r in retried.sent] == [False, True, True]
        assert (sink.connections, sink.quits) == (2, 2)  # the retry's one connection, closed at its end

        again = await ActivityEnvironment().run(email.send_quote_emails, job("Q-778001"))
        assert [r.sent for r in again.sent] == [False, False, False]
        assert sink.connections == 2  # nothing left to send: no connection
    finally:
        await asyncio.to_thread(controller.stop)
    assert sorted(sink.delivered.values()) == [1, 1, 1] and sink.dated == [True, True, True]
    assert sorted(r.message_id for r in retried.sent) == sorted(sink.delivered)
    sent = await scalar(pool, "SELECT count(*) FROM sent_mail WHERE quote_number = %s AND status = 'sent'", "Q-778001")
    assert sent == 3


async def test_a_refused_recipient_is_recorded_and_the_others_share_the_connection(
    pool, settings, tmp_path: Path
) -> None:
    sink = CountingSink(tmp_path / "mail", refuse=RECIPIENTS[1])
    controller, port = await started(sink)
    try:
        email = email_activities(Mailer(pool, smtp(port, settings)), settings)
        result = await ActivityEnvironment().run(email.send_quote_emails, job("Q-778002"))
    finally:
        await asyncio.to_thread(controller.stop)
    assert [(r.sent, bool(r.refused)) for r in result.sent] == [(True, False), (False, True), (True, False)]
    assert (sink.connections, sink.quits, sum(sink.delivered.values())) == (1, 1, 2)


async def test_a_connection_the_server_drops_between_messages_is_opened_again(pool, settings, tmp_path: Path) -> None:
    sink = CountingSink(tmp_path / "mail", drop_after_message=True)
    controller, port = await started(sink)
    try:
        email = email_activities(Mailer(pool, smtp(port, settings)), settings)
        result = await ActivityEnvironment().run(email.send_quote_emails, job("Q-778003", RECIPIENTS[:2]))
    finally:
        await asyncio.to_thread(controller.stop)
    assert [r.sent for r in result.sent] == [True, True]
    assert sink.connections == 2 and sorted(sink.delivered.values()) == [1, 1]


async def test_a_server_down_is_retried_after_trying_every_recipient(pool, settings, tmp_path: Path) -> None:
    """Nothing listens: each recipient is tried, then the activity fails to be retried, nothing marked sent."""
    email = email_activities(Mailer(pool, smtp(free_port(), settings)), settings)
    with pytest.raises(OSError):
        await ActivityEnvironment().run(email.send_quote_emails, job("Q-778004"))
    statuses = await scalar(
        pool, "SELECT count(*) FROM sent_mail WHERE quote_number = %s AND status = 'sending'", "Q-778004"
    )
    assert statuses == 3
