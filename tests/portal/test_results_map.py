"""The map of the search's results: drawn by the server, numbered as the list, said in
words for screen readers; a zoomable map only when the operator gave a tile server."""

import html
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.factories import make_site, two_dose_site

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sites(reference, settings):
    settings.DEMO = True
    near, _ = two_dose_site(name="Centre Wagram", latitude=48.8830, longitude=2.3010)
    far, _ = two_dose_site(name="Pharmacie des Ternes", latitude=48.8790, longitude=2.2900)
    return near, far


class Page:
    """The parts of a search page these tests read."""

    def __init__(self, content: str) -> None:
        self.content = content
        found = re.search(r'<figure class="results-map".*?</figure>', content, re.S)
        # The figure is well-formed markup: the standard library's XML parser reads it.
        self.map = ET.fromstring(found.group(0)) if found else None

    def listed(self) -> list[str]:
        """The names of the numbered results, in the list's order."""
        results = re.search(r'<ol class="results">.*?</ol>', self.content, re.S).group(0)
        return [html.unescape(n) for n in re.findall(r"<h3[^>]*><a [^>]*>(.*?)</a></h3>", results)]

    def scripts(self) -> list[str]:
        return re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', self.content)

    def config(self) -> dict | None:
        found = re.search(
            r'<script id="carte-config" type="application/json">(.*?)</script>', self.content, re.S
        )
        return json.loads(found.group(1)) if found else None


def text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def search(client, near: str = "75017") -> Page:
    response = client.get("/", {"near": near})
    assert response.status_code == 200
    return Page(response.content.decode())


def test_the_results_come_with_a_map_numbered_as_the_list(client, sites):
    page = search(client)

    assert page.listed() == ["Centre Wagram", "Pharmacie des Ternes"]
    drawing = page.map.find("svg")
    assert drawing.get("role") == "img"
    title = drawing.find(f".//*[@id='{drawing.get('aria-labelledby')}']")
    assert title.tag == "title"
    assert text(title) == "Carte : 75017 Paris 17e Arrondissement et les 2 lieux de la liste"
    numbers = [text(t) for t in drawing.findall(".//g[@class='results-map__site']/text")]
    assert sorted(numbers) == ["1", "2"] and numbers[-1] == "1"  # 1 is drawn on top
    assert drawing.findall("path[@class='results-map__department']")  # Paris, under them
    assert len(drawing.findall("circle[@class='results-map__place']")) == 1


def test_the_map_says_in_words_where_each_listed_site_is(client, sites):
    page = search(client)

    said = [text(li) for li in page.map.findall(".//div[@class='fr-sr-only']//li")]
    assert len(said) == 2
    assert re.fullmatch(r"1\. Centre Wagram, à \d,\d km (au |à l')[a-z-]+", said[0]), said[0]
    assert re.fullmatch(r"2\. Pharmacie des Ternes, à \d,\d km (au |à l')[a-z-]+", said[1])
    # The distance said is the one the list shows.
    shown = re.findall(r'<span class="distance">(.*?)</span>', page.content)
    assert said[0].split(", ")[1].startswith(html.unescape(shown[0]))


def test_without_a_tile_server_the_page_has_no_map_script(client, sites):
    page = search(client)

    assert page.map is not None
    assert not [src for src in page.scripts() if "leaflet" in src or "map.js" in src]
    assert page.config() is None


def test_with_a_tile_server_the_page_carries_its_configuration(client, sites, settings):
    settings.MAP_TILE_URL = "https://tuiles.example.fr/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© les contributeurs d'OpenStreetMap"

    page = search(client)

    config = page.config()
    assert config["tiles"] == "https://tuiles.example.fr/{z}/{x}/{y}.png"
    assert config["attribution"] == "© les contributeurs d'OpenStreetMap"
    assert [(s["number"], s["name"]) for s in config["sites"]] == [
        (1, "Centre Wagram"),
        (2, "Pharmacie des Ternes"),
    ]
    assert config["sites"][0]["at"] == [48.8830, 2.3010]
    assert any(src.endswith("vendor/leaflet/leaflet.js") for src in page.scripts())
    assert any(src.endswith("portal/map.js") for src in page.scripts())
    # The drawing stays in the page, for whoever has no script.
    assert page.map.find("svg").get("role") == "img"


def test_no_results_no_map(client, reference):
    page = search(client)

    assert "Aucun créneau libre" in page.content and page.map is None


def test_a_search_in_reunion_draws_reunion(client, reference, settings):
    two_dose_site(insee_code="97411", name="Centre de Saint-Denis")

    page = search(client, "97400")

    assert page.listed() == ["Centre de Saint-Denis"]
    assert page.map.findall(".//path[@class='results-map__department']")


def test_sites_without_slots_are_not_numbered_on_the_map(client, sites):
    make_site(name="Cabinet sans créneau", latitude=48.8850, longitude=2.3050)

    page = search(client)

    assert "Cabinet sans créneau" in page.content
    assert "Cabinet sans créneau" not in text(page.map)


PRINT_TILES = (
    "import django; django.setup(); from django.conf import settings; print(settings.MAP_TILE_URL)"
)


@pytest.mark.parametrize(
    ("url", "attribution", "refused"),
    [
        ("https://tuiles.example.fr/{z}/{x}/{y}.png", "© OpenStreetMap", False),
        ("/tuiles/{z}/{x}/{y}.png", "© OpenStreetMap", False),
        ("https://tuiles.example.fr/{z}/{x}/{y}.png", "", True),
        ("https://tuiles.example.fr/tile.png", "© OpenStreetMap", True),
        ("javascript:alert(1)//{z}{x}{y}", "© OpenStreetMap", True),
    ],
)
def test_a_tile_server_is_checked_when_the_server_starts(url, attribution, refused):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "creneau.settings"}
    env |= {"MAP_TILE_URL": url, "MAP_TILE_ATTRIBUTION": attribution}
    done = subprocess.run(
        [sys.executable, "-c", PRINT_TILES], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if refused:
        assert done.returncode != 0 and "MAP_TILE_" in done.stderr
    else:
        assert done.returncode == 0 and done.stdout.strip() == url
