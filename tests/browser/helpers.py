"""Helpers for the browser tests: an accessibility check and README screenshots.

from tests.browser.helpers import axe_check, screenshot
"""

import re
import weakref
from pathlib import Path

from axe_playwright_python.base import AXE_SCRIPT  # axe-core's axe.min.js, shipped in the wheel
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from creneau.staff.models import StaffProfile
from tests.staff_door import totp_code

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
BLOCKING_IMPACTS = ("serious", "critical")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# What evaluate raises when the document it ran in was replaced meanwhile.
_NAVIGATED = re.compile(
    r"reading 'documentElement'|Execution context was destroyed|axe is not defined"
)

# Pages opened with JavaScript off (the new_page fixture registers them).
_WITHOUT_JAVASCRIPT: "weakref.WeakSet[Page]" = weakref.WeakSet()


_RUN_AXE = """async ([context, options, withoutJavascript]) => {
    if (!withoutJavascript) return await axe.run(context, options);
    const saved = {setTimeout: window.setTimeout, clearTimeout: window.clearTimeout};
    window.setTimeout = (callback, delay, ...args) => {
        if (!delay) Promise.resolve().then(() => callback(...args));
        return 0;
    };
    window.clearTimeout = () => {};
    try {
        return await axe.run(context, options);
    } finally {
        Object.assign(window, saved);
    }
}"""


def register_without_javascript(page: Page) -> None:
    _WITHOUT_JAVASCRIPT.add(page)


def axe_run(page: Page, *, include: str | None = None, exclude: tuple[str, ...] = ()) -> list[dict]:
    """Every WCAG 2.0/2.1 A and AA violation axe-core finds on the page as it is now.

    Injects the axe-core bundled with axe-playwright-python (nothing is fetched).
    ``include`` is a CSS selector to check only part of the page, ``exclude`` CSS
    selectors to leave out.

    On a page opened with JavaScript off, the browser runs no timer callback (promise
    jobs do run), and axe.run waits on a ``setTimeout(..., 0)``: for the check only,
    zero-delay timers become promise jobs and longer ones (axe's watchdogs, which would
    never fire there anyway) are dropped. The page's own scripts were never run and are
    not run now, so axe sees the DOM that a person without JavaScript gets.
    """
    context = {"include": [include or "html"], "exclude": list(exclude)}
    options = {"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}, "resultTypes": ["violations"]}
    # A click that navigates may return before the new document has replaced the old
    # one: a check that ran into the swap runs again on the page that stays.
    for retries_left in (2, 1, 0):
        page.wait_for_load_state("load")
        try:
            page.evaluate(AXE_SCRIPT)
            results = page.evaluate(_RUN_AXE, [context, options, page in _WITHOUT_JAVASCRIPT])
            return results["violations"]
        except PlaywrightError as error:
            if not retries_left or not _NAVIGATED.search(str(error)):
                raise


def describe(violations: list[dict]) -> str:
    """One paragraph per violation: id, impact, help, link, and the selectors of its nodes."""
    paragraphs = []
    for violation in violations:
        targets = "\n".join(
            f"      {' '.join(map(str, node['target']))}" for node in violation["nodes"]
        )
        paragraphs.append(
            f"  {violation['id']} ({violation['impact']}): {violation['help']}\n"
            f"    {violation['helpUrl']}\n{targets}"
        )
    return "\n".join(paragraphs)


def axe_check(
    page: Page,
    *,
    include: str | None = None,
    exclude: tuple[str, ...] = (),
    impacts: tuple[str, ...] = BLOCKING_IMPACTS,
) -> list[dict]:
    """Assert that axe-core finds no WCAG 2.0/2.1 A/AA violation of a serious or critical
    impact on the page; return all its violations (minor and moderate ones included)."""
    violations = axe_run(page, include=include, exclude=exclude)
    blocking = [v for v in violations if v["impact"] in impacts]
    assert not blocking, (
        f"{len(blocking)} accessibility violation(s) of impact {'/'.join(impacts)} "
        f"on {page.url}:\n{describe(blocking)}"
    )
    return violations


def screenshot(page: Page, name: str, *, directory: Path = SCREENSHOTS) -> Path:
    """Save a full-page PNG of the page as ``docs/screenshots/<name>.png``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def staff_app(username: str):
    """A confirmed authenticator app for the account, as if it had enrolled: its sign-in
    then asks for a code (`second_factor_type`) instead of the enrolment."""
    user = StaffProfile.objects.get(user__username=username).user
    return TOTPDevice.objects.create(user=user, name="app", confirmed=True)


def second_factor_type(page: Page, device) -> None:
    """At the code step: type the app's code and send it."""
    field = page.get_by_label("Code de vérification")
    field.fill(totp_code(device))
    field.press("Enter")
