"""Invitation campaigns' population and a person's rights and retention: an invitee of
the same names and birth date is in the person's data, goes with their erasure (and the
same row imported again does not bring them back, a changed one does), and the purge
takes invitees, their invitations and messages once no campaign needs them."""

from datetime import time, timedelta
from html import unescape

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from creneau.campaigns.models import Campaign, ErasedInvitee, Invitation, Invitee
from creneau.campaigns.services import (
    campaign_create,
    campaign_status_change,
    campaign_wave_send,
    population_import,
)
from creneau.outreach.models import Notification
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase, retention_purge
from tests.campaigns.conftest import csv_file, line, over_75
from tests.factories import STAFF, two_dose_site
from tests.privacy.test_rights import booked


def row_of(person, identifiant="A1", **changes) -> str:
    """The population file's row of a person who booked: their names and birth date."""
    return line(
        identifiant,
        person.family_name,
        person.given_name,
        person.birth_date.isoformat(),
        **changes,
    )


@pytest.fixture
def invited(reference):
    """Jeanne Martin booked; the population file has her (and Paul Durand), and a
    campaign for the over-75s of Paris invited both by SMS."""
    _site, session = two_dose_site()
    course = booked(session)
    person = course.series.person
    population_import(
        stream=csv_file(
            row_of(person), line("P1", "Durand", "Paul", "1940-01-01", telephone="0611111111")
        )
    )
    campaign = campaign_create(
        actor=STAFF,
        data=over_75(
            born_to=person.birth_date,
            send_days=tuple(range(7)),
            send_from=time(0, 0),
            send_until=time(23, 59),
        ),
        allowed=None,
    )
    campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="start")
    assert campaign_wave_send(campaign_id=campaign.pk) == 2
    return course, campaign


def invitation_messages() -> list[Notification]:
    return list(Notification.objects.filter(event__startswith="invitation:"))


def test_the_data_held_includes_the_invitee_of_the_same_names_and_birth_date(invited):
    course, campaign = invited
    data = person_data(person=course.series.person)
    (invitee,) = data["invitees"]
    assert invitee["identifiant"] == "A1" and invitee["given_names"] == "Jeanne"
    assert invitee["address"]["postcode"] == "75017" and invitee["phone"] == "+33612345678"
    (invitation,) = invitee["invitations"]
    assert invitation["campaign"] == campaign.name and invitation["channel"] == "sms"
    # As the portal's and the call centre's "data held" pages show it.
    page = render_to_string("portal/_person_data.html", {"data": data})
    assert "A1" in page and "12 rue de Lévis" in page
    assert f"Invitation « {campaign.name} »" in unescape(page)


def test_the_data_held_of_someone_never_invited_has_no_invitee(reference):
    _site, session = two_dose_site()
    course = booked(session, given_name="Zoé", family_name="Nobody")
    assert person_data(person=course.series.person)["invitees"] == []


def test_erasure_takes_the_invitee_its_invitations_and_their_messages(invited):
    course, _campaign = invited
    counts = person_erase(series_id=course.series.pk)
    assert (counts["invitees"], counts["invitations"], counts["invitation_messages"]) == (1, 1, 1)
    # Paul Durand, someone else, stays invited.
    assert list(Invitee.objects.values_list("given_names", flat=True)) == ["Paul"]
    assert Invitation.objects.count() == 1 and len(invitation_messages()) == 1
    assert ErasedInvitee.objects.count() == 1


def test_the_same_row_again_does_not_bring_an_erased_person_back_a_changed_one_does(invited):
    course, campaign = invited
    person = course.series.person
    person_erase(series_id=course.series.pk)
    again = population_import(stream=csv_file(row_of(person)))
    assert (again.created, again.rejected) == (0, 1)
    assert "effacée" in again.rejections[0][1]
    # A campaign still running does not invite her again either.
    assert campaign_wave_send(campaign_id=campaign.pk) == 0
    moved = population_import(stream=csv_file(row_of(person, adresse_1="3 rue Nollet")))
    assert (moved.created, moved.rejected) == (1, 0)
    assert not ErasedInvitee.objects.exists()


def test_the_purge_keeps_invitees_a_live_campaign_covers(invited, settings):
    _course, _campaign = invited
    later = timezone.now() + timedelta(days=settings.RETENTION_INVITEE_DAYS + 1)
    Invitation.objects.update(last_sent_at=timezone.now() - timedelta(days=400))
    Invitee.objects.update(updated_at=timezone.now() - timedelta(days=400))
    counts = retention_purge(now=later, audit=False)
    assert counts["invitees"] == 0 and Invitee.objects.count() == 2


def test_the_purge_takes_invitees_no_campaign_needs_any_more(invited, settings):
    _course, campaign = invited
    campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="stop")
    now = timezone.now()
    later = now + timedelta(days=settings.RETENTION_INVITEE_DAYS + 1)
    # Invited recently: kept, whatever the last import.
    Invitee.objects.update(updated_at=now - timedelta(days=400))
    assert retention_purge(now=now, audit=False)["invitees"] == 0
    counts = retention_purge(now=later, audit=False)
    assert (counts["invitees"], counts["invitations"]) == (2, 2)
    assert not Invitee.objects.exists() and not invitation_messages()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.STOPPED
    # Written again by a later import, they are a new population.
    assert retention_purge(now=later, audit=False)["invitees"] == 0


def test_the_purge_forgets_old_erasures(invited, settings):
    course, _campaign = invited
    person_erase(series_id=course.series.pk)
    later = timezone.now() + timedelta(days=settings.RETENTION_INVITEE_DAYS + 1)
    assert retention_purge(now=later, audit=False)["invitees_erased_kept"] == 1
    assert not ErasedInvitee.objects.exists()
