"""Takes docs/temporal-ui-columns.png and docs/dev-mail.png from a running `renewals dev` with a few quotes.

    python docs/screenshots.py [--var var]

Drives Debian's Chromium (/usr/bin/chromium) with Playwright, as tests/e2e/test_web_browser.py does: in the
Temporal Web UI it adds the quote columns as docs/operations.md says (Configure Columns), then photographs the
list of quotes; then the sent mail at /dev/mail. Addresses come from the stack's var/dev.env. Each picture is
scaled to 1000 px wide and saved with a 256-colour palette, to keep the repository small.
"""

import argparse
import asyncio
import io
import shutil
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from playwright.async_api import Page, async_playwright

from contracts.search_attributes import CUSTOMER_CSN, QUOTE_EXPIRES_AT, QUOTE_STATE, QUOTE_TOTAL

DOCS = Path(__file__).parent
WIDTH = 1000
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# The columns ops add in the Temporal UI: the search attributes' own names (contracts/search_attributes.py).
QUOTE_COLUMNS = tuple(key.name for key in (QUOTE_STATE, QUOTE_TOTAL, QUOTE_EXPIRES_AT, CUSTOMER_CSN))
LEFT_OUT = ("Run ID", "Type", "Start", "End")


def dev_env(var: Path) -> dict[str, str]:
    lines = (var / "dev.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def save(png: bytes, path: Path) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} kB)")


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
    clip = {"x": main["x"], "y": main["y"], "width": main["width"], "height": 440}
    save(await page.screenshot(clip=clip), DOCS / "temporal-ui-columns.png")


async def dev_mail(page: Page, web: str) -> None:
    await page.goto(f"{web}/dev/mail")
    await page.wait_for_selector("table.mail")
    save(await page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 620}), DOCS / "dev-mail.png")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var", type=Path, default=Path("var"), help="the running stack's var/ (RENEWALS_VAR)")
    env = dev_env(parser.parse_args().var)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await temporal_columns(page, env["TEMPORAL_UI"])
        await dev_mail(page, env["BUYER_APP_URL"])
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
