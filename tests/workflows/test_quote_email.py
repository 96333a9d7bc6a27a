"""R13 the quote email and R04 its recipients, read from a real aiosmtpd server; sent once per recipient."""

from collections import Counter

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities, Mailer, SendQuoteEmailInput, SmtpSettings
from domain.links import LinkSigner
from runtime.temporal import activities
from tests.helpers import quote_result, quote_stack, request, scalar, settled, worker_with

pytestmark = pytest.mark.asyncio(loop_scope="session")


def bodies(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


async def test_r13_email_has_number_expiry_total_lines_and_link(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002", seats={"SUB-1002": 2}), send=True)
        await settled(env.client, quote.number)
    (message,) = mailbox.messages()
    expires = quote.expires_at.date().isoformat()
    assert message["Subject"] == f"Renewal quote {quote.number}: EUR 14,607.00, valid until {expires}"
    assert message["To"] == "buyer@acme.example"
    text, html = bodies(message)
    for body in (text, html):
        assert quote.number in body and expires in body
        assert "EUR 14,607.00" in body and "-EUR 1,623.00" in body
        assert "AutoCAD" in body and "Revit" in body and "RENEW10" in body
        assert f"http://localhost:8000/quotes/{quote.number}" in body
    assert "Accept and pay" in text and "Accept and pay</a>" in html


async def test_r13_jpy_total_without_minor_units(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    from workers.demo_data import SAKURA

    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-3001", csn=SAKURA), send=True)
        await settled(env.client, quote.number)
    # 10 × JPY 280,500 = 2,805,000; YEN5000 takes 5,000 off the line
    assert quote.json_view()["total"] == "2800000"
    (message,) = mailbox.messages()
    assert "JPY 2,800,000" in message["Subject"] and "-JPY 5,000" in bodies(message)[0]


async def test_r04_buyer_and_four_recipients_each_get_one_email(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    extra = [f"r{i}@acme.example" for i in range(4)]
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", recipients=extra), send=True)
        await settled(env.client, quote.number)
    assert sorted(m["To"] for m in mailbox.messages()) == sorted(["buyer@acme.example", *extra])


async def test_r04_buyer_listed_again_in_another_case_gets_one_email(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """The buyer listed again among the recipients as BUYER@Acme.Example: the quote goes to the buyer once,
    as the buyer, and to each other recipient once, counted per address at the mail server."""
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(
            request("SUB-1001", recipients=["cfo@acme.example", "BUYER@Acme.Example", "it@acme.example"]), send=True
        )
        await settled(env.client, quote.number)
        shown = await quotes.show(quote.number)
    assert shown.all_recipients == ["buyer@acme.example", "cfo@acme.example", "it@acme.example"]
    per_address = Counter(m["To"].lower() for m in mailbox.messages() if quote.number in m["Subject"])
    assert per_address == {"buyer@acme.example": 1, "cfo@acme.example": 1, "it@acme.example": 1}
    assert sorted(m["To"] for m in mailbox.messages()) == ["buyer@acme.example", "cfo@acme.example", "it@acme.example"]


async def test_paid_quote_sends_confirmation(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number, pay=True, reference="PSP-77")
        await quote_result(env.client, quote.number)
    paid = [m for m in mailbox.messages() if m["Subject"].startswith("Paid:")]
    assert len(paid) == 1 and "PSP-77" in bodies(paid[0])[0] and "now ends" in bodies(paid[0])[0]


async def test_email_activity_run_twice_sends_once(pool, settings, mailbox) -> None:
    from tests.unit.test_quote_rules import build

    quote = build("SUB-1001").model_copy(update={"number": "Q-777001"})
    email = EmailActivities(
        Mailer(pool, SmtpSettings(host="127.0.0.1", port=mailbox.port, mail_from=settings.mail_from)),
        LinkSigner(settings.require_link_secrets()),
        settings.buyer_app_url,
    )
    job = SendQuoteEmailInput(quote=quote, recipient="buyer@acme.example", purpose="quote")
    first = await ActivityEnvironment().run(email.send_quote_email, job)
    second = await ActivityEnvironment().run(email.send_quote_email, job)
    assert (first.sent, second.sent, first.message_id) == (True, False, second.message_id)
    assert len(mailbox.messages()) == 1


class DiesAfterSmtp(Mailer):
    """The first attempt hands the message to SMTP, then dies before recording it as sent."""

    async def _mark_sent(self, msg_id: str) -> None:
        if activity.info().attempt == 1:
            raise RuntimeError("worker died after the SMTP call")
        await super()._mark_sent(msg_id)


async def test_retried_email_after_smtp_call_delivers_one_message(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    dying = EmailActivities(
        DiesAfterSmtp(pool, SmtpSettings(host="127.0.0.1", port=mailbox.port, mail_from=settings.mail_from)),
        LinkSigner(settings.require_link_secrets()),
        settings.buyer_app_url,
    )
    acts = [a for a in activities(env.client, pool, settings) if a.__name__ != "send_quote_emails"]
    worker = worker_with(env.client, settings, [*acts, dying.send_quote_emails], business_failures=False)
    async with quote_stack(env, pool, settings, worker=worker) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
    assert len(mailbox.messages()) == 1
    assert await scalar(pool, "SELECT status FROM sent_mail WHERE quote_number = %s", quote.number) == "sent"


class Login:
    """An authenticator for aiosmtpd: one account."""

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"quotes", b"s3cret")
        return AuthResult(success=ok, handled=False)


async def test_production_smtp_starttls_and_login(pool, settings, tmp_path) -> None:
    import ssl

    import trustme
    from aiosmtpd.controller import Controller

    from tests.helpers import free_port
    from tests.unit.test_quote_rules import build
    from workers.smtp_sink import MailDirHandler

    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    smtp = Controller(
        MailDirHandler(tmp_path / "tls-mail"),
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=Login(),
        auth_required=True,
    )
    smtp.start()
    try:
        quote = build("SUB-1001").model_copy(update={"number": "Q-777002"})
        job = SendQuoteEmailInput(quote=quote, recipient="buyer@acme.example", purpose="quote")

        def email(password: str) -> EmailActivities:
            return EmailActivities(
                Mailer(
                    pool,
                    SmtpSettings(
                        host="127.0.0.1",
                        port=port,
                        mail_from=settings.mail_from,
                        starttls=True,
                        ca_file=str(tmp_path / "ca.pem"),
                        username="quotes",
                        password=password,
                    ),
                ),
                LinkSigner(settings.require_link_secrets()),
                settings.buyer_app_url,
            )

        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(email("wrong").send_quote_email, job)
        assert (refused.value.type, refused.value.non_retryable) == ("MailRefused", True)
        assert (await ActivityEnvironment().run(email("s3cret").send_quote_email, job)).sent
    finally:
        smtp.stop()
    assert len(list((tmp_path / "tls-mail").glob("*.eml"))) == 1
