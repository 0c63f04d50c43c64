"""Other booking platforms' places in the national search, in a real browser."""

import pytest
from playwright.sync_api import expect

from creneau.demo.external import PLATFORM, demo_external_platform_ensure
from tests.browser.helpers import axe_check, screenshot
from tests.factories import two_dose_site


@pytest.fixture
def both_kinds(reference_committed):
    two_dose_site(name="Centre de vaccination du Louvre", insee_code="75101")
    report = demo_external_platform_ensure()
    assert report.error == ""


def test_the_search_shows_our_sites_and_another_platforms_with_its_link(
    new_page, live_server, both_kinds
):
    page = new_page()
    page.goto(live_server.url + "/?near=75001&radius_km=10")
    expect(
        page.get_by_role("link", name="Centre de vaccination du Louvre", exact=True)
    ).to_be_visible()
    booking_elsewhere = page.get_by_role("link", name=f"Prendre rendez-vous sur {PLATFORM}")
    expect(booking_elsewhere.first).to_be_visible()
    assert booking_elsewhere.first.get_attribute("href").startswith(
        "https://pharmardv.example.org/"
    )
    axe_check(page)
    screenshot(page, "search-other-platforms")
