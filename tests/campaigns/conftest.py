import io
from datetime import date, time

import pytest

from creneau.campaigns.models import Campaign
from creneau.campaigns.services import (
    CampaignData,
    campaign_create,
    campaign_status_change,
    campaign_wave_send,
)
from creneau.eligibility.models import EligibilityRule
from creneau.eligibility.selectors import rules_cache_clear
from tests.factories import STAFF, two_dose_site

HEADER = (
    "identifiant;nom;prenoms;date_naissance;adresse_1;adresse_2;code_postal;commune;"
    "telephone;email;categories"
)


def line(
    identifiant: str = "A1",
    nom: str = "Martin",
    prenoms: str = "Jeanne Marie",
    date_naissance: str = "1940-03-02",
    adresse_1: str = "12 rue de Lévis",
    adresse_2: str = "",
    code_postal: str = "75017",
    commune: str = "Paris",
    telephone: str = "06 12 34 56 78",
    email: str = "",
    categories: str = "",
    sep: str = ";",
) -> str:
    return sep.join(
        [
            identifiant,
            nom,
            prenoms,
            date_naissance,
            adresse_1,
            adresse_2,
            code_postal,
            commune,
            telephone,
            email,
            categories,
        ]
    )


def csv_file(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO("\n".join([header, *lines, ""]).encode(encoding))


@pytest.fixture
def population(reference):
    """Five people in Paris (born 1930 to 1950, the oldest without phone or e-mail), one
    in Marseille."""
    from creneau.campaigns.services import population_import

    rows = [
        line("P1", "Durand", "Paul", "1950-01-01", telephone="0611111111"),
        line("P2", "Petit", "Anne", "1930-06-01", telephone="", email=""),
        line("P3", "Moreau", "Luc", "1945-01-01", telephone="", email="luc@example.org"),
        line("P4", "Roux", "Marie", "1935-05-05", telephone="0622222222", email="m@example.org"),
        line("P5", "Blanc", "Jean", "1990-01-01", telephone="0633333333"),
        line("M1", "Fabre", "Léa", "1932-01-01", code_postal="13001", commune="Marseille"),
    ]
    return population_import(stream=csv_file(*rows), file_name="extrait.csv")


def over_75(**changes) -> CampaignData:
    fields = {
        "name": "Plus de 75 ans",
        "departments": ("75",),
        "born_to": date(1955, 12, 31),
        "message_fr": "Vous pouvez vous faire vacciner.",
    }
    return CampaignData(**{**fields, **changes})


def started(campaign) -> Campaign:
    return campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="start")


@pytest.fixture
def invited_now(population):
    """The over-75s of Paris invited now (the campaign sends every day at every hour, so
    that the wave goes before the slots), a Paris site with 12 first-dose places, and no
    public rule in force: the invitation alone makes anyone eligible."""
    campaign = campaign_create(
        actor=STAFF,
        data=over_75(send_days=tuple(range(7)), send_from=time(0, 0), send_until=time(23, 59)),
        allowed=None,
    )
    _site, session = two_dose_site(lines=2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk)
    EligibilityRule.objects.update(active=False)
    rules_cache_clear()
    return campaign, session
