"""The pages French law asks of a public service (issue 16, item 9), linked from every
page's footer, the staff screens' included."""

import pytest
from django.urls import reverse

PAGES = {
    "portal:accessibility": ["partiellement conforme", "axe-core", "Défenseur des droits"],
    "portal:legal": ["Éditeur", "Hébergement", "LEGAL_HOST"],
    "portal:privacy": ["24 heures", "3 mois", "CNIL", "Vos droits", "LEGAL_DPO"],
}


@pytest.mark.parametrize("name", PAGES)
def test_each_page_says_what_the_law_asks(client, db, name):
    page = client.get(reverse(name))
    assert page.status_code == 200
    for words in PAGES[name]:
        assert words in page.content.decode(), words


def test_the_operator_names_itself_through_the_settings(client, db, settings):
    settings.LEGAL = {**settings.LEGAL, "operator": "ARS Île-de-France", "dpo": "dpo@ars.fr"}
    page = client.get(reverse("portal:privacy")).content.decode()
    assert "ARS Île-de-France" in page and "dpo@ars.fr" in page


def test_the_pages_are_in_english_too(client, db):
    client.cookies["django_language"] = "en"
    page = client.get(reverse("portal:accessibility"))
    assert page.status_code == 200 and '<html lang="en"' in page.content.decode()


@pytest.mark.parametrize("path", ["/", "/eligibilite/", "/gerer/", "/backoffice/connexion/"])
def test_every_footer_links_the_three_pages(client, db, path):
    page = client.get(path, follow=True).content.decode()
    footer = page[page.index('id="pied-de-page"') :]
    for name in PAGES:
        assert f'href="{reverse(name)}"' in footer, (path, name)
