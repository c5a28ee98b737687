"""Take SCREENSHOT.png of a running dashboard with headless Chromium (Playwright, Debian's chromium).

    python scripts/screenshot.py http://127.0.0.1:8000/good_job/ --username admin --password secret

The URL is any dashboard page (the overview by default). Credentials are sent as HTTP basic auth;
they default to GOOD_JOB_DASHBOARD_USERNAME / GOOD_JOB_DASHBOARD_PASSWORD. The page is given a
moment for its charts and live counts before the shot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("Chromium not found: install it (apt-get install -y chromium) or set CHROMIUM=/path/to/chromium")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="a dashboard page, e.g. http://127.0.0.1:8000/good_job/")
    parser.add_argument("--output", default=str(ROOT / "SCREENSHOT.png"))
    parser.add_argument("--username", default=os.environ.get("GOOD_JOB_DASHBOARD_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("GOOD_JOB_DASHBOARD_PASSWORD"))
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--full-page", action="store_true", help="capture the whole page, not the viewport")
    parser.add_argument("--wait", type=float, default=1.5, help="seconds to let live updates settle")
    args = parser.parse_args(argv)

    credentials = ({"username": args.username, "password": args.password}
                   if args.username and args.password else None)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": args.width, "height": args.height}, device_scale_factor=1,
                http_credentials=credentials, color_scheme=args.theme,
            )
            page = context.new_page()
            response = page.goto(args.url, wait_until="load")
            if response is None or not response.ok:
                status = response.status if response is not None else "no response"
                sys.exit(f"{args.url} answered {status}; check the URL and the credentials")
            page.wait_for_timeout(args.wait * 1000)
            page.screenshot(path=args.output, full_page=args.full_page)
        finally:
            browser.close()
    print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
