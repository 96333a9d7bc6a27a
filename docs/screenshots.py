"""Takes the pictures in docs/img/ that come from a running `renewals dev`: the demo quote's page, the Temporal
Web UI's list of quotes with their columns, the sent mail, and the demo quote's receipt once paid.

    python docs/screenshots.py [--var var]

Run it on a fresh `make run` (the demo quote Q-000001 still sent, not yet paid). It drives Debian's Chromium
(/usr/bin/chromium) with Playwright, as tests/e2e/test_web_browser.py does: the demo quote's page from the
link `renewals quote link` prints; in the Temporal Web UI it adds the quote columns as docs/operations.md says
(Configure Columns), then photographs the list of quotes; then the sent mail at /dev/mail; last, it pays the
demo quote in the page with the test card and photographs its receipt. Addresses come from
the stack's var/dev.env. Each picture is scaled to 1200 px wide and saved with a 256-colour palette, to keep the
repository small.
"""

import argparse
import asyncio
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from playwright.async_api import FloatRect, Page, ViewportSize, async_playwright

from contracts.search_attributes import CUSTOMER_CSN, QUOTE_EXPIRES_AT, QUOTE_STATE, QUOTE_TOTAL

IMG = Path(__file__).parent / "img"
WIDTH = 1200
VIEWPORT: ViewportSize = {"width": 1280, "height": 1000}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# The columns ops add in the Temporal UI: the search attributes' own names (contracts/search_attributes.py).
QUOTE_COLUMNS = tuple(key.name for key in (QUOTE_STATE, QUOTE_TOTAL, QUOTE_EXPIRES_AT, CUSTOMER_CSN))
LEFT_OUT = ("Run ID", "Type", "Start", "End")


def dev_env(var: Path) -> dict[str, str]:
    lines = (var / "dev.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def demo_quote_link(var: Path) -> str:
    """The buyer's link of the demo quote, as a reader gets it: from `renewals quote link`."""
    renewals = Path(sys.executable).parent / "renewals"
    env = os.environ | {"RENEWALS_VAR": str(var.resolve())}
    printed = subprocess.run([renewals, "quote", "link", "Q-000001"], env=env, capture_output=True, text=True)
    printed.check_returncode()
    return printed.stdout.splitlines()[0].strip()


def save(png: bytes, path: Path) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > WIDTH:
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} kB)")


async def quote_page(page: Page, link: str) -> None:
    await page.goto(link)
    await page.wait_for_selector("text=Accept and pay")
    save(await page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 860}), IMG / "quote-page.png")


async def temporal_columns(page: Page, ui: str) -> None:
    query = quote('WorkflowType="QuoteWorkflow"')
    await page.goto(f"{ui}/namespaces/default/workflows?query={query}")
    await page.wait_for_selector("text=quote-Q-000001")
    await page.click("[data-testid=workflows-summary-table-configuration-button]")
    for label in LEFT_OUT:
        await page.click(f"button[aria-label='Remove {label} column']")
    for label in QUOTE_COLUMNS:
        await page.click(f"[data-testid=orderable-list-item-{label}-add-button]")
    await page.click("[data-testid=drawer-close-button]")
    await page.wait_for_selector(f"th:has-text('{QUOTE_TOTAL.name}')")
    await page.wait_for_timeout(500)
    main = await page.locator("main").bounding_box()
    assert main is not None
    clip: FloatRect = {"x": main["x"], "y": main["y"], "width": main["width"], "height": 440}
    save(await page.screenshot(clip=clip), IMG / "temporal-ui-columns.png")


async def dev_mail(page: Page, web: str) -> None:
    await page.goto(f"{web}/dev/mail")
    await page.wait_for_selector("table.mail")
    save(await page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 620}), IMG / "dev-mail.png")


async def receipt(page: Page, link: str) -> None:
    """Pays the demo quote as its buyer does (the fake provider's test card), then photographs the receipt."""
    await page.goto(link)
    await page.click("text=Accept and pay")
    await page.fill("input[name=holder]", "A. Buyer")
    await page.fill("input[name=card_number]", "4242 4242 4242 4242")
    await page.fill("input[name=expiry]", "12/30")
    await page.fill("input[name=cvc]", "123")
    await page.click("main button[type=submit]")
    await page.wait_for_selector("text=Payment reference")
    save(await page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 900}), IMG / "receipt.png")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var", type=Path, default=Path("var"), help="the running stack's var/ (RENEWALS_VAR)")
    var = parser.parse_args().var
    env = dev_env(var)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport=VIEWPORT)
        await quote_page(page, demo_quote_link(var))
        await temporal_columns(page, env["TEMPORAL_UI"])
        await dev_mail(page, env["BUYER_APP_URL"])
        await receipt(page, demo_quote_link(var))
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
