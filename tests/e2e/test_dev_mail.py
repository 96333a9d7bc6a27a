"""`renewals dev`'s landing page and its sent mail at /dev/mail, on a real stack started as `make run` starts it
(demo data, the demo quote sent through the real SMTP sink into var/mail): read over HTTP and in Debian's
headless Chromium, checked by axe-core. `renewals web` on the same Temporal and store has neither."""

import http.client
import io
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.test_web_browser import CHROMIUM
from tests.helpers import BIN, DevProcess, free_port, until_listening

DEMO_SUBJECT = "Renewal quote Q-000001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[DevProcess]:
    """One seeded `renewals dev` for the module, once the demo quote's emails are in its mail folder."""
    root = tmp_path_factory.mktemp("dev-mail")
    keep = {"DATABASE_URL", "TEMPORAL_ADDRESS", "SMTP_HOST", "SMTP_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in keep and not k.startswith("WEBHOOK_")}
    dev = DevProcess(env | {"RENEWALS_VAR": str(root / "var")}, root / "dev.log")
    dev.start(seed=True)
    try:
        deadline = time.monotonic() + 60
        while len(list((dev.var / "mail").glob("Q-000001.quote.*.eml"))) < 2:
            assert time.monotonic() < deadline, f"no demo quote email in var/mail:\n{dev.log.read_text()}"
            time.sleep(0.2)
        yield dev
    finally:
        if dev.process.poll() is None:
            assert dev.ctrl_c() == 0


def base(dev: DevProcess) -> str:
    return f"http://127.0.0.1:{dev.port('--web-port')}"


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET of `path` exactly as written: no client normalises its `..` away."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def demo_mail_id(dev: DevProcess) -> str:
    """The demo quote's email to its buyer, by the file the SMTP sink wrote."""
    for path in sorted((dev.var / "mail").glob("Q-000001.quote.*.eml")):
        if "To: buyer@acme.example" in path.read_text(errors="replace"):
            return path.name.removesuffix(".eml")
    raise AssertionError("no demo quote email to buyer@acme.example")


def test_dev_banner_names_the_landing_page_and_the_mail_page(stack: DevProcess) -> None:
    printed = stack.log.read_text()
    assert f"  start here        http://localhost:{stack.port('--web-port')}/ " in printed
    mail_line = (
        f"  mail              http://localhost:{stack.port('--web-port')}/dev/mail (files in {stack.var / 'mail'})"
    )
    assert mail_line in printed


def test_dev_landing_page_links_the_temporal_ui_the_mail_the_api_docs_and_the_account(stack: DevProcess) -> None:
    status, _headers, body = get(f"{base(stack)}/")
    page = body.decode()
    assert status == 200
    for href in (f"http://localhost:{stack.port('--ui-port')}", "/dev/mail", "/api/v1/docs", "/account"):
        assert f'href="{href}"' in page, href
    assert "How buyer quote links work" in page and "/quotes/Q-…?token=…" in page
    assert get(f"{base(stack)}/api/v1/docs")[0] == 200


def test_dev_mail_lists_the_demo_quote_email_and_renders_it(stack: DevProcess) -> None:
    mail_id = demo_mail_id(stack)
    status, headers, body = get(f"{base(stack)}/dev/mail")
    listing = body.decode()
    assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
    row = next(r for r in listing.split("<tr ") if mail_id.replace("@", "%40") in r)
    assert DEMO_SUBJECT in row and "buyer@acme.example" in row and "quotes@renewals.example" in row
    assert ">Q-000001.pdf</a>" in row

    # The message: its headers, its plain text with the buyer's link, and its HTML part in a sandboxed frame.
    status, headers, body = get(f"{base(stack)}/dev/mail/{mail_id}")
    page = body.decode()
    assert status == 200
    assert headers["content-security-policy"].endswith("frame-ancestors 'none'; base-uri 'none'; frame-src 'self'")
    assert DEMO_SUBJECT in page and "Dear Acme BV," in page
    link = re.search(r"Accept and pay: (http://localhost:\d+/quotes/Q-000001\?token=\S+)", page)
    assert link is not None and f'href="{link.group(1)}"' in page
    assert f'<iframe class="mail-html" src="/dev/mail/{mail_id.replace("@", "%40")}/html" sandbox=' in page

    status, headers, body = get(f"{base(stack)}/dev/mail/{mail_id}/html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    policy = headers["content-security-policy"]
    assert "sandbox allow-popups" in policy and "frame-ancestors 'self'" in policy and "script-src" not in policy
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert b"Dear Acme BV," in body and b"Accept and pay</a>" in body


def test_dev_mail_serves_the_quote_pdf_and_the_eml_as_downloads(stack: DevProcess) -> None:
    mail_id = demo_mail_id(stack)
    status, headers, body = get(f"{base(stack)}/dev/mail/{mail_id}/attachments/0")
    assert status == 200 and headers["content-type"] == "application/pdf"
    assert headers["content-disposition"] == "attachment; filename*=UTF-8''Q-000001.pdf"
    assert "Quote Q-000001" in PdfReader(io.BytesIO(body)).pages[0].extract_text()
    status, headers, body = get(f"{base(stack)}/dev/mail/{mail_id}/raw")
    assert status == 200 and body == (stack.var / "mail" / f"{mail_id}.eml").read_bytes()
    assert get(f"{base(stack)}/dev/mail/{mail_id}/attachments/1")[0] == 404


def test_dev_mail_refuses_message_ids_that_leave_the_mail_folder(stack: DevProcess) -> None:
    """var/dev.env (every secret of the stack) is one `../` from var/mail: no id reaches it, nor any file
    outside the folder or any file the sink could not have written."""
    secret = (stack.var / "api-key.secret").read_text().strip()
    port = stack.port("--web-port")
    for path in (
        "/dev/mail/../dev.env",
        "/dev/mail/..%2Fdev.env",
        "/dev/mail/%2e%2e%2fdev.env",
        "/dev/mail/..",
        "/dev/mail/../dev.env/raw",
        "/dev/mail/..%2Fdev.env/raw",
        "/dev/mail/..%2F..%2F..%2Fetc%2Fpasswd/raw",
        "/dev/mail/.dev/raw",
        "/dev/mail/dev.env%00/raw",
        "/dev/mail/nothing-here/html",
    ):
        status, body = raw_get(port, path)
        assert status == (400 if "%00" in path else 404), path  # a NUL is refused at the input edge first
        assert secret.encode() not in body and b"root:" not in body, path
    (stack.var / "mail" / "not-a-message.txt").write_text("kept out")
    assert raw_get(port, "/dev/mail/not-a-message.txt/raw")[0] == 404


def test_renewals_web_has_no_dev_pages_and_sends_slash_to_the_account(stack: DevProcess) -> None:
    """The production command, on the dev stack's Temporal and store (var/dev.env): no /dev/mail, and its
    landing page is the buyer's account, with no development links."""
    port = free_port()
    web = subprocess.Popen(
        [str(BIN / "renewals"), "web"],
        env=stack.env | {"WEB_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        until_listening(web, port)
        mail_id = demo_mail_id(stack)
        for path in ("/dev/mail", f"/dev/mail/{mail_id}", f"/dev/mail/{mail_id}/html", f"/dev/mail/{mail_id}/raw"):
            assert raw_get(port, path)[0] == 404, path
        status, body = raw_get(port, "/")
        assert status == 303 and b"/dev/mail" not in body
        status, _headers, page = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and b'action="/account/sign-in"' in page and b"/dev/mail" not in page
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(15)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install it with `apt-get install chromium`")
async def test_dev_landing_page_and_mail_pass_axe_and_show_the_quote_email_in_chromium(
    stack: DevProcess, tmp_path: Path
) -> None:
    """The landing page, the list and the message in a real browser: the email's HTML shows in its sandboxed
    frame (the strict policy of the page around it does not block it), and axe finds nothing serious."""
    from tests.e2e.test_account_browser import DESKTOP, Tour, chromium

    tour = Tour(tmp_path / "screenshots")
    url = f"http://localhost:{stack.port('--web-port')}"
    async with chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        await page.goto(f"{url}/")
        await tour.look(page, "landing")
        await page.click("main >> text=Sent mail")
        await page.wait_for_url(f"{url}/dev/mail")
        await tour.look(page, "mail")
        await page.click(f"tr:has-text('buyer@acme.example') >> text={DEMO_SUBJECT}")
        await page.wait_for_selector("iframe.mail-html")
        frame = page.frame_locator("iframe.mail-html")
        await frame.locator("text=Accept and pay").wait_for()
        assert "Dear Acme BV," in await frame.locator("body").text_content()
        # The email's inline styles apply inside its frame: the button is the brand's green.
        colour = await frame.locator("a:has-text('Accept and pay')").evaluate(
            "a => getComputedStyle(a).backgroundColor"
        )
        assert colour == "rgb(11, 110, 79)"
        assert "Q-000001.pdf" in await page.text_content("dl.headers")
        await tour.look(page, "message")
        assert refused == [], refused
        await context.close()
