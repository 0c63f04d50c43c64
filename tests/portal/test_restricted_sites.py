"""Sites reserved for some people (health workers, firefighters…): who they are for is
said in words, and asked before anyone types their details."""

import html

from creneau.sites.importer import HEALTH_PROFESSIONAL
from tests.factories import two_dose_site


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_site_the_official_file_reserves_for_health_workers_says_so_in_words(client, reference):
    site, _session = two_dose_site(name="Centre des soignants", restricted_to=[HEALTH_PROFESSIONAL])
    for response in (client.get("/", {"near": "75017"}), client.get(f"/centres/{site.pk}/")):
        text = page_text(response)
        assert "Réservé aux : Professionnel·le de santé ou du médico-social" in text
        assert HEALTH_PROFESSIONAL not in text
