"""The built docs site in a real browser (Debian's headless Chromium through chromedriver).

Run by ``tox -e site``, which builds the site and sets ``SCHEDKIT_SITE_DIR``; skipped
elsewhere. The site is served on 127.0.0.1; the home page and a sample of pages must load
with no console errors, every image must load, and no code block may overflow its column.
A screenshot of the home page is written to ``SCHEDKIT_SCREENSHOT`` (default: the site
directory's parent) for review; it is not committed.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SITE = os.environ.get("SCHEDKIT_SITE_DIR")
pytestmark = pytest.mark.skipif(not SITE, reason="tox -e site builds the site and sets this")

PAGES = [
    "",
    "getting-started/",
    "setup/",
    "composition/",
    "migrating/",
    "plugins/",
    "rules/",
    "performance/",
    "api/",
    "reference/",
    "reference/gallery/",
    "reference/schedules/cosine/",
    "reference/rules/layer_decay/",
    "integrations/lightning/",
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
]

BROKEN_IMAGES = """
return Array.from(document.images)
    .filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('src'));
"""

#: Code blocks wider than the column holding the page's text, or whose lines run past
#: their box (hidden behind a scroll bar instead of wrapping), and a page wider than the
#: window.
OVERFLOWING = """
const column = document.querySelector('.md-content__inner');
const right = column.getBoundingClientRect().right + 1;
const out = Array.from(document.querySelectorAll('.md-typeset pre'))
    .filter(p => p.offsetParent !== null)
    .filter(p => {
        const code = p.querySelector('code') || p;
        return p.getBoundingClientRect().right > right
            || p.scrollWidth > p.clientWidth + 1
            || code.scrollWidth > code.clientWidth + 1;
    })
    .map(p => p.textContent.slice(0, 60));
if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('the page itself');
return out;
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    assert SITE is not None
    handler = functools.partial(_Quiet, directory=SITE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromedriver are missing: run tests/site/install_chromium.sh")
    profile = tempfile.mkdtemp(prefix="schedkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _load(browser: Any, url: str) -> list[str]:
    browser.get(url)
    browser.execute_script("return document.fonts ? document.fonts.ready : null")
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] in ("SEVERE", "ERROR")
    ]


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_cleanly(browser, base_url, page):
    errors = _load(browser, base_url + page)
    assert errors == [], errors
    assert browser.execute_script(BROKEN_IMAGES) == []
    assert browser.execute_script(OVERFLOWING) == []
    assert browser.find_element("css selector", "h1").text


def test_home_page_has_its_pictures_and_a_screenshot(browser, base_url):
    assert _load(browser, base_url) == []
    sources = browser.execute_script("return Array.from(document.images).map(i => i.src)")
    for picture in ("home-cosine", "home-wsd", "home-one-cycle", "home-layer-decay"):
        assert any(picture in s for s in sources), picture
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.grid-plots img')).map(i => i.naturalWidth)"
    )
    assert len(widths) == 4
    assert min(widths) >= 600
    assert SITE is not None
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height), 6000))  # the whole page, plots included
    shot = Path(os.environ.get("SCHEDKIT_SCREENSHOT") or Path(SITE).parent / "home.png")
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the home page: {shot}")


def test_a_missing_page_gets_the_404_page(browser, base_url):
    _load(browser, base_url + "no-such-page/")
    # the static server answers 404 with its own page; the site's 404.html must exist and load
    errors = _load(browser, base_url + "404.html")
    assert errors == [], errors
    assert browser.execute_script(BROKEN_IMAGES) == []
