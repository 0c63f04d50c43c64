"""The search's map in a real browser: on small phones (the list first, the map one tap
away, no sideways scrolling), on a laptop (beside the list), without JavaScript, and with
an operator's tile server (served here by the test, on the live server's own address)."""

import base64
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import axe_check
from tests.factories import two_dose_site

# A one-pixel PNG: what the test's tile server answers for every tile.
TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
NAMES = ("Centre de vaccination Wagram", "Pharmacie des Ternes", "Hôpital Bichat")


@pytest.fixture
def sites(reference_committed, settings):
    settings.DEMO = True
    positions = ((48.8830, 2.3010), (48.8790, 2.2900), (48.8980, 2.3320))
    return [
        two_dose_site(name=name, latitude=lat, longitude=lon)[0]
        for name, (lat, lon) in zip(NAMES, positions, strict=True)
    ]


def search(page: Page, url: str) -> None:
    page.goto(url + "/?near=75017#resultat")
    expect(page.locator("#resultat")).to_contain_text("3 lieux avec des créneaux")


def no_sideways_scrolling(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


@pytest.mark.parametrize("width", [375, 320])
@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_on_a_phone_the_list_comes_first_and_the_map_is_one_tap_away(
    new_page, live_server, sites, width, javascript_enabled
):
    page = new_page(
        device="phone",
        javascript_enabled=javascript_enabled,
        viewport={"width": width, "height": 640},
    )
    search(page, live_server.url)

    # The results open at their heading, the first result under it, not the map.
    expect(page.locator("#resultat")).to_be_in_viewport()
    expect(page.locator("#carte")).not_to_be_in_viewport()
    no_sideways_scrolling(page)
    page.get_by_role("link", name="Voir ces lieux sur une carte").click()
    drawing = page.get_by_role("img", name=re.compile(r"^Carte : 75017 Paris 17e"))
    expect(drawing).to_be_in_viewport()
    box = drawing.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    # The markers keep a size a finger and an eye can find: at least 20 px across.
    marker = page.locator(".results-map__site circle").first.bounding_box()
    assert marker["width"] >= 20
    expect(page.locator(".results-map__site text")).to_have_text(["3", "2", "1"])
    axe_check(page)


def test_on_a_laptop_the_map_stays_beside_the_list(new_page, live_server, sites):
    page = new_page(device="desktop")
    search(page, live_server.url)

    drawing = page.get_by_role("img", name=re.compile(r"^Carte : "))
    expect(drawing).to_be_in_viewport()
    expect(page.get_by_role("link", name="Voir ces lieux sur une carte")).to_be_hidden()
    listed = page.locator("ol.results").bounding_box()
    drawn = drawing.bounding_box()
    assert drawn["x"] >= listed["x"] + listed["width"]
    # It stays in view while the list scrolls.
    page.locator("ol.results > li").last.scroll_into_view_if_needed()
    expect(drawing).to_be_in_viewport()
    no_sideways_scrolling(page)
    axe_check(page)


def test_without_a_tile_server_no_script_and_no_request_for_the_map(new_page, live_server, sites):
    page = new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    search(page, live_server.url)

    expect(page.get_by_role("img", name=re.compile(r"^Carte : "))).to_be_visible()
    assert not [url for url in requested if "leaflet" in url or "map.js" in url]
    expect(page.locator(".leaflet-container")).to_have_count(0)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_with_a_tile_server_the_map_zooms_with_the_same_numbers(
    new_page, live_server, sites, settings, device
):
    settings.MAP_TILE_URL = "/tuiles/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© Tuiles d'essai <b>sans HTML</b>"
    page = new_page(device=device)
    tiles = []

    def serve_tile(route):
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=TILE)

    page.route(re.compile(r"/tuiles/\d+/\d+/\d+\.png$"), serve_tile)
    search(page, live_server.url)

    figure = page.locator("#carte")
    tile_map = figure.locator(".leaflet-container")
    expect(tile_map).to_be_visible()
    expect(tile_map).to_have_attribute("aria-label", re.compile(r"^Carte : 75017 Paris 17e"))
    expect(figure.locator("svg.results-map__drawing")).to_be_hidden()
    expect(figure.locator(".results-map__pin")).to_have_text(["3", "2", "1"])
    expect(figure.locator(".results-map__pin").last).to_have_attribute(
        "title", "1. Centre de vaccination Wagram"
    )
    # The credit is shown as text: the operator's setting is never read as HTML.
    expect(figure.locator(".leaflet-control-attribution")).to_contain_text(
        "© Tuiles d'essai <b>sans HTML</b>"
    )
    expect(page.locator("img.leaflet-tile-loaded").first).to_be_attached()
    assert tiles and all(re.search(r"/tuiles/1[3-8]/\d+/\d+\.png$", url) for url in tiles)
    # The words stay for screen readers.
    expect(figure.locator(".fr-sr-only li")).to_have_count(3)
    figure.get_by_role("button", name="Zoomer", exact=True).click()
    if device == "phone":
        no_sideways_scrolling(page)
    axe_check(page)
