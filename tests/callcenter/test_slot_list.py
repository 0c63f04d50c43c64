"""The agent's list of slots near the caller says what each site offers and its phone."""

from creneau.sites.models import Site


def test_each_site_says_its_products_and_its_phone(agent, centre):
    site, _session = centre
    Site.objects.filter(pk=site.pk).update(phone="+33145678901")

    page = agent.get("/callcenter/creneaux/", {"near": "75017"}).content.decode()

    section = page[page.index("Centre Wagram") :]
    assert "Vaccin : Comirnaty" in section
    assert '<a href="tel:+33145678901">01 45 67 89 01</a>' in section
