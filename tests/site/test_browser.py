"""The built docs site in a real browser (Debian's headless Chromium through chromedriver).

Run by ``tox -e site``, which builds the site and sets ``SCHEDKIT_SITE_DIR``; skipped
elsewhere. The site is served on 127.0.0.1 under the path of ``SCHEDKIT_SITE_URL`` (the
tox env builds it for ``/schedkit/``, as a project site is served), answering a missing
page with the site's 404 page as static hosts do; the home page and a sample of pages must
load with no console errors, every image must load, and no code block may overflow its column.
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
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SITE = os.environ.get("SCHEDKIT_SITE_DIR")
#: the path the site is built for (mkdocs.yml's site_url) and served under
PREFIX = urllib.parse.urlsplit(os.environ.get("SCHEDKIT_SITE_URL") or "/").path.rstrip("/") + "/"
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
    "while-it-trains/",
    "api/",
    "reference/",
    "reference/gallery/",
    "reference/schedules/cosine/",
    "reference/rules/layer_decay/",
    "integrations/lightning/",
    "examples/",
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


class _Host(http.server.SimpleHTTPRequestHandler):
    """A static host: the site under ``PREFIX``, its 404 page for anything missing."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def translate_path(self, path: str) -> str:
        if not path.startswith(PREFIX):
            return os.path.join(self.directory, "no such file")
        return super().translate_path("/" + path[len(PREFIX) :])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    assert SITE is not None
    handler = functools.partial(_Host, directory=SITE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
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


#: Each object heading on the API page: its anchor, the name it shows, and the signature
#: block under it (empty when there is none).
API_HEADINGS = """
return Array.from(document.querySelectorAll('h3.doc-heading')).map(h => {
    const title = h.cloneNode(true);
    title.querySelectorAll('.doc-labels, .headerlink, .doc-symbol').forEach(e => e.remove());
    const next = h.nextElementSibling;
    const signature = next && next.classList.contains('doc-signature') ? next.textContent : '';
    return [h.id, title.textContent.trim(), signature.replace(/\\s+/g, ' ').trim()];
});
"""


def _constructed(obj: Any) -> bool:
    """Whether a user calls ``obj`` (a function, or a class other than a protocol or an
    exception without its own constructor): its heading then shows a call signature."""
    import inspect

    if inspect.isclass(obj):
        if getattr(obj, "_is_protocol", False):
            return False
        if issubclass(obj, BaseException):
            return "__init__" in vars(obj)
        # a base to subclass (BaseSchedule, BaseRule) has no constructor of its own
        return any("__init__" in vars(c) for c in obj.__mro__[:-1])
    return inspect.isfunction(obj)


def test_every_public_name_has_a_heading_with_its_signature(browser, base_url):
    import schedkit

    assert _load(browser, base_url + "api/") == []
    headings = {
        name: signature for _anchor, name, signature in browser.execute_script(API_HEADINGS)
    }
    missing = []
    for name in sorted(set(schedkit.__all__) - {"__version__"}):
        if name not in headings:
            missing.append(name)
            continue
        signature = headings[name]
        obj = getattr(schedkit, name)
        if _constructed(obj):
            expected = f"{name}("
        elif isinstance(obj, type):  # a protocol, or an exception schedkit raises
            expected = ""
        else:  # a value: its definition
            expected = f"{name} = "
        if not signature.startswith(expected):
            missing.append(f"{name}: {signature[:40]!r}")
    assert missing == []
    # a signature names its parameters
    assert "optimizer" in headings["get_scheduler"]
    assert "warmup(schedule" in headings["warmup"].replace(" ", "")
    # a record shows its fields, not the shared constructor's *args, **kwargs
    assert "Warmup(schedule" in headings["Warmup"].replace(" ", "")
    assert "*args" not in headings["Warmup"]
    assert "batch_size" in headings["Setup"]


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


def test_while_it_trains_shows_the_monitor_and_the_lr_finder(browser, base_url):
    """The page of named groups, the monitor and the lr finder: its two figures load."""
    errors = _load(browser, base_url + "while-it-trains/")
    assert errors == [], errors
    loaded = browser.execute_script(
        "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0)"
        ".map(i => i.getAttribute('src'))"
    )
    assert {"../img/monitor.png", "../img/lr-find.png"} <= set(loaded), loaded
    text = browser.find_element("css selector", "article").text
    assert "lr-AdamW/blocks.3/decay" in text
    shot = os.environ.get("SCHEDKIT_SCREENSHOT")
    if shot:  # beside the home page's
        browser.save_screenshot(str(Path(shot).with_name("while-it-trains.png")))


def test_a_missing_page_gets_the_404_page_with_its_styles_and_links(browser, base_url):
    # a missing page deep under the site's path: the host answers with 404.html, whose
    # links must not be relative to the missing page's folder
    errors = _load(browser, base_url + "no/such/page/")
    assert [e for e in errors if "404 (Not Found)" not in e or "no/such/page" not in e] == []
    assert browser.execute_script(BROKEN_IMAGES) == []
    assert "404" in browser.find_element("css selector", "h1").text
    sheets = browser.execute_script(
        "return Array.from(document.styleSheets).filter(s => s.href).map(s => s.cssRules.length)"
    )
    assert sheets  # the theme's stylesheets loaded
    assert min(sheets) > 0
    home = browser.execute_script(
        "return Array.from(document.querySelectorAll('a.md-nav__link'))"
        ".map(a => a.href).filter(h => h.endsWith('/examples/'))"
    )
    assert home
    assert home == [base_url + "examples/"] * len(home)


def test_the_example_files_are_on_the_site(browser, base_url):
    assert _load(browser, base_url + "examples/") == []
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('.md-content a'))"
        ".map(a => a.getAttribute('href')).filter(h => h.endsWith('.toml'))"
    )
    assert "vit-finetune.toml" in links
    with urllib.request.urlopen(base_url + "examples/vit-finetune.toml", timeout=30) as r:
        text = r.read().decode()
    assert text == (Path(__file__).parents[2] / "examples" / "vit-finetune.toml").read_text()
