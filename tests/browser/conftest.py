"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

    def test_home(page, live_server):
        page.goto(live_server.url + "/")

Fixtures: ``browser`` (one headless Chromium for the session), ``new_page`` (a factory:
``new_page(javascript_enabled=False, device="phone")``) and ``page`` (``new_page()``).
A test fails when one of its pages throws an uncaught error, logs a console error (a 404
for a stylesheet or script logs one) or asks for anything outside the live server. The
helpers ``axe_check`` and ``screenshot`` are in tests/browser/helpers.py.
"""

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.helpers import register_without_javascript

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000
# What Chromium logs for any response of status >= 400, the page's own document included.
RESOURCE_STATUS = "Failed to load resource: the server responded with a status of"
DEVICES = {
    # A small, old phone (iPhone SE 1st generation): 320 CSS pixels wide, touch.
    "phone": {
        "viewport": {"width": 320, "height": 568},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
HERE = Path(__file__).resolve().parent
# Assertions wait as long as actions (Playwright's default is 5 s): under `make test`'s
# parallel workers a second browser and its live server share the machine.
expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


def _is_browser_test(item: pytest.Item) -> bool:
    return HERE in Path(item.path).resolve().parents


def pytest_itemcollected(item):
    """Mark every test under tests/browser ``browser`` (before ``-m`` selects)."""
    if _is_browser_test(item):
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Run the browser tests after all the others (after pytest-django's reordering).

    This is not cosmetic: while Playwright's sync API is alive, the test thread has an
    event loop marked as running (see ``pytest_runtest_protocol``), and a test of another
    directory run after the first browser test would meet it: its ORM calls, or at least
    pytest-django's flush after it, would fail.
    """
    items[:] = [i for i in items if not _is_browser_test(i)] + [
        i for i in items if _is_browser_test(i)
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Let the browser tests, and only them, use the ORM in the test thread.

    Playwright's sync API runs an asyncio loop in a greenlet of the test thread and leaves
    that loop marked as running between calls, from ``sync_playwright().start()`` to
    ``stop()``. Django's ``async_unsafe`` guard sees a running loop and refuses every ORM
    call in that thread with SynchronousOnlyOperation: the test's own data set-up, and
    pytest-django's flush of the transactional database at teardown. There is no real
    concurrency here (the loop only runs while a sync Playwright call waits), so the
    guard is a false alarm. DJANGO_ALLOW_ASYNC_UNSAFE switches it off; it is read at each
    call, so it is set for the set-up, call and teardown of each browser test only, and
    put back as it was afterwards; the other tests keep the guard. Browser tests run last
    (see ``pytest_collection_modifyitems``), so the session's last teardown, which stops
    Playwright and then drops the test database, happens inside this window too.
    """
    if not _is_browser_test(item):
        return (yield)
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        return (yield)
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@dataclass
class PageProblems:
    """What the pages of one test did wrong: each entry is one line of the failure."""

    lines: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def flush(self) -> None:
        """Let Playwright deliver the events the browser sent before the test ended."""
        for page in self.pages:
            if not page.is_closed():
                # A page in the middle of navigating has nothing to flush.
                with contextlib.suppress(Exception):
                    page.evaluate("0")


_problems_key = pytest.StashKey[PageProblems]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test, after its body, on what its pages reported (errors, foreign requests)."""
    try:
        result = yield
    except BaseException:
        problems = item.stash.get(_problems_key, None)
        if problems is not None and problems.lines:
            item.add_report_section("call", "browser", "\n".join(problems.lines))
        raise
    problems = item.stash.get(_problems_key, None)
    if problems is not None:
        problems.flush()
        if problems.lines:
            pytest.fail(
                "the page misbehaved:\n" + "\n".join(f"  - {line}" for line in problems.lines),
                pytrace=False,
            )
    return result


@pytest.fixture(scope="session")
def browser(django_db_setup) -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session.

    It depends on ``django_db_setup`` so that the test database is created before the
    Playwright loop starts and dropped after it stops.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(`make test` installs it; by hand: apt-get install chromium).",
            pytrace=False,
        )
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except BaseException:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def new_page(request, browser, live_server):
    """Factory: ``new_page(*, javascript_enabled=True, locale="fr-FR", device="desktop",
    allow_console_errors=(), **context_options) -> Page``, each in a context of its own.

    ``device`` is "desktop" (1280x800) or "phone" (320x568, touch: an old small phone).
    ``allow_console_errors`` are regular expressions (``re.search``) of console errors the
    test expects, e.g. htmx logging a refused request. Other keyword options go to
    ``Browser.new_context`` (``timezone_id``, ``color_scheme``, ``reduced_motion``...).
    Every context is closed at teardown.
    """
    origin = urlsplit(live_server.url)
    problems = request.node.stash.setdefault(_problems_key, PageProblems())
    contexts = []

    def route(route):
        url = urlsplit(route.request.url)
        if (url.scheme, url.netloc) == (origin.scheme, origin.netloc):
            route.continue_()
        else:
            problems.lines.append(f"request outside the live server, blocked: {route.request.url}")
            route.abort("blockedbyclient")

    def make(
        *,
        javascript_enabled: bool = True,
        locale: str = "fr-FR",
        device: str = "desktop",
        allow_console_errors: tuple[str, ...] = (),
        **context_options,
    ) -> Page:
        options = {
            "java_script_enabled": javascript_enabled,
            "locale": locale,
            "timezone_id": "Europe/Paris",
            # A service worker could answer requests without going through the route.
            "service_workers": "block",
            **DEVICES[device],
            **context_options,
        }
        context = browser.new_context(**options)
        contexts.append(context)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        context.route("**/*", route)
        page = context.new_page()
        problems.pages.append(page)
        if not javascript_enabled:
            register_without_javascript(page)
        documents = set()  # URLs the page navigated to: their status is the test's business
        allowed = [re.compile(pattern) for pattern in allow_console_errors]

        def on_response(response):
            if response.request.is_navigation_request() and response.frame == page.main_frame:
                documents.add(response.url)

        def on_console(message):
            if message.type != "error" or any(p.search(message.text) for p in allowed):
                return
            where = (message.location or {}).get("url", "")
            if message.text.startswith(RESOURCE_STATUS) and where in documents:
                return  # the page's own document (goto, a form's answer): the test reads its status
            at = f" ({where}:{message.location['lineNumber']})" if where else ""
            problems.lines.append(f"console error on {page.url}: {message.text}{at}")

        def on_page_error(error):
            description = error.stack or f"{error.name}: {error.message}"
            problems.lines.append(f"uncaught error on {page.url}: {description}")

        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("crash", lambda _: problems.lines.append(f"the page crashed: {page.url}"))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> Page:
    """A desktop page with JavaScript, in French; go to ``live_server.url + path``."""
    return new_page()
