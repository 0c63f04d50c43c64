"""The demo's invitation campaign: a generated population for Paris and its neighbours
imported as the health insurance fund's file would be, and a campaign for the over-75s of
Paris started and sent, so that the demo outbox shows invitations. Made through the real
services; safe to run again (the same file changes nothing, one campaign only)."""

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, time, timedelta

from django.conf import settings
from django.utils import timezone

from creneau.booking.tokens import reference_display
from creneau.campaigns.models import Campaign, Invitation
from creneau.campaigns.population import COLUMNS
from creneau.campaigns.services import (
    CampaignData,
    campaign_create,
    campaign_status_change,
    campaign_wave_send,
    population_import,
)
from creneau.core.actor import Actor
from creneau.geography.models import PostalCode

from .bookings import FAMILY_NAMES, GIVEN_NAMES, STREETS

DEMO_DEPARTMENTS = ("75", "92", "93", "94")
DEMO_PEOPLE = 2000
CAMPAIGN_NAME = "Plus de 75 ans à Paris"
# The system, for the demo's staff actions: no account.
SYSTEM = Actor(user=None)


@dataclass(frozen=True)
class DemoCampaign:
    people: int
    invited: int
    link: str


def demo_population_csv(*, people: int = DEMO_PEOPLE, seed: int = 75) -> bytes:
    """An extract of `people` rows over the demo departments, born 1925 to 2000: most with
    a mobile, some with an e-mail too, one in eight with neither (a letter)."""
    rng = random.Random(seed)
    towns = list(
        PostalCode.objects.filter(commune__department__in=DEMO_DEPARTMENTS)
        .order_by("code", "commune_id")
        .values_list("code", "commune__name")
    )
    paris = [town for town in towns if town[0].startswith("75")]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    for number in range(people):
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        # Paris first, as the campaign's department.
        postcode, town = towns[number % len(towns)] if number % 2 else rng.choice(paris)
        born = date(1925, 1, 1) + timedelta(days=rng.randint(0, 75 * 365))
        kind = number % 8
        writer.writerow(
            [
                f"DEMO{number:07d}",
                family,
                f"{given} {rng.choice(GIVEN_NAMES)}",
                born.isoformat(),
                f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                "",
                postcode,
                town,
                "" if kind == 0 else f"+33698{number:06d}",
                f"personne{number}@example.org" if kind in (1, 2) else "",
                "",
            ]
        )
    return out.getvalue().encode()


def demo_campaign_ensure(*, people: int = DEMO_PEOPLE) -> DemoCampaign:
    """The population imported, the campaign created, started and its first wave sent
    (sending every day at every hour, so that the demo shows invitations whenever it is
    loaded); one invitation's link by SMS, for the README and the terminal."""
    report = population_import(
        stream=io.BytesIO(demo_population_csv(people=people)), file_name="population-demo.csv"
    )
    campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first()
    if campaign is None:
        today = timezone.localdate()
        campaign = campaign_create(
            actor=SYSTEM,
            data=CampaignData(
                name=CAMPAIGN_NAME,
                departments=("75",),
                born_to=today.replace(year=today.year - 75),
                message_fr=(
                    "Vous avez 75 ans ou plus : la vaccination vous est ouverte. "
                    "Prenez rendez-vous près de chez vous."
                ),
                message_en="You are 75 or over: book your vaccination near you.",
                send_days=tuple(range(7)),
                send_from=time(0, 0),
                send_until=time(23, 59),
            ),
            allowed=None,
        )
        campaign = campaign_status_change(actor=SYSTEM, campaign_id=campaign.pk, action="start")
    invited = 0
    while sent := campaign_wave_send(campaign_id=campaign.pk):
        invited += sent
    example = (
        Invitation.objects.filter(campaign=campaign, channel="sms", series__isnull=True)
        .order_by("pk")
        .first()
    )
    link = settings.INVITATION_LINK.format(code=reference_display(example.code)) if example else ""
    return DemoCampaign(people=report.rows - report.rejected, invited=invited, link=link)
