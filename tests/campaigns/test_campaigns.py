"""Campaigns: defined and steered by authorities (audited), waves paced to the free
places, each person invited once, reminders, and booking with the invitation's code."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError

from creneau.audit.models import AuditEvent
from creneau.booking.services import PersonData, booking_confirm, booking_move, hold_create
from creneau.campaigns.models import Campaign, Invitation
from creneau.campaigns.selectors import campaign_preview, campaign_progress, invitation_find
from creneau.campaigns.services import (
    campaign_create,
    campaign_status_change,
    campaign_update,
    campaign_wave_send,
    invitation_book,
    invitation_reminders_send,
    invitees_link,
)
from creneau.core.errors import AlreadyBooked, CodeExpired, InvalidInput, NotEligible, NotFound
from creneau.outreach.models import Notification, Priority
from creneau.outreach.rendering import notification_render
from tests.factories import STAFF, two_dose_site, verified_contact

from .conftest import over_75, started

PARIS = ZoneInfo("Europe/Paris")
_TODAY = date.today()
# Next week's Tuesday at 10:00 in Paris: inside the default sending hours.
TUESDAY = datetime.combine(
    _TODAY + timedelta(days=(1 - _TODAY.weekday()) % 7 + 7), time(10, 0), tzinfo=PARIS
)


@pytest.fixture
def campaign(population):
    return campaign_create(actor=STAFF, data=over_75(), allowed=None)


def test_the_preview_counts_people_per_department_and_first_channel(campaign):
    # P5, born 1990, is out; P2 has neither phone nor e-mail: a letter; P3 e-mail only.
    assert campaign_preview(campaign=campaign) == {"75": {"sms": 2, "letter": 1, "email": 1}}


def test_a_regional_authority_cannot_define_a_campaign_outside_its_departments(population):
    with pytest.raises(InvalidInput, match="hors de votre périmètre"):
        campaign_create(actor=STAFF, data=over_75(departments=("75", "13")), allowed=["75", "93"])
    assert not Campaign.objects.exists()


def test_a_campaign_says_whom_it_invites(population):
    with pytest.raises(InvalidInput, match="qui inviter"):
        campaign_create(actor=STAFF, data=over_75(born_to=None), allowed=None)


def test_a_campaign_with_no_one_in_it_does_not_start(population):
    empty = campaign_create(actor=STAFF, data=over_75(born_to=date(1900, 1, 1)), allowed=None)
    with pytest.raises(InvalidInput, match="Personne"):
        started(empty)
    assert Campaign.objects.get().status == "draft"


def test_start_pause_resume_stop_each_audited_and_refused_out_of_order(campaign):
    started(campaign)
    with pytest.raises(InvalidInput):
        campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="resume")
    for action in ("pause", "resume", "stop"):
        campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action=action)
    assert Campaign.objects.get().status == "stopped"
    summaries = list(AuditEvent.objects.order_by("pk").values_list("summary", flat=True))
    assert [s.split(" :")[0] for s in summaries] == [
        "Campagne créée",
        "Campagne lancée",
        "Campagne en pause",
        "Campagne reprise",
        "Campagne arrêtée",
    ]
    with pytest.raises(InvalidInput, match="préparation ou en pause"):
        campaign_update(actor=STAFF, campaign_id=campaign.pk, data=over_75(), allowed=None)


def free_places(places: int):
    """A Paris site with `places` first-dose places the day after TUESDAY."""
    return two_dose_site(lines=places, dose1_day=TUESDAY.date() + timedelta(days=1))


def test_a_wave_sends_no_more_than_the_free_places_oldest_first(campaign, settings):
    free_places(1)  # one line of 6 ten-minute slots: 6 places
    started(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(pace_factor="0.5")
    assert campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY) == 3
    invited = Invitation.objects.order_by("invitee__birth_year")
    assert [i.invitee.identifiant for i in invited] == ["P2", "P4", "P3"]
    assert [i.channel for i in invited] == ["letter", "sms", "email"]
    # The three are outstanding: nothing more until they book or a week passes.
    assert campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY) == 0


def test_no_wave_without_free_places_nor_outside_the_sending_hours(campaign):
    started(campaign)
    assert campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY) == 0
    free_places(2)
    sunday = TUESDAY - timedelta(days=2)
    evening = TUESDAY.replace(hour=19, minute=30)
    assert campaign_wave_send(campaign_id=campaign.pk, now=sunday) == 0
    assert campaign_wave_send(campaign_id=campaign.pk, now=evening) == 0
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    assert campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY) == 0
    assert not Invitation.objects.exists()


def test_each_invitation_is_a_message_with_its_code_and_link(campaign):
    free_places(2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    invitation = Invitation.objects.get(invitee__has_email=False, channel="sms")
    message = notification_render(notification=invitation.notification)
    code = invitation.code
    shown = f"{code[:4]}-{code[4:8]}-{code[8:]}"
    assert f"Votre code personnel : {shown}" in message.body
    assert f"/invitation/#code={shown}" in message.body
    assert "Vous pouvez vous faire vacciner." in message.body
    assert invitation.notification.kind == "invitation"
    letter = Invitation.objects.get(channel="letter").notification
    assert letter.to.startswith("Anne PETIT\n12 RUE DE LEVIS\n75017 PARIS")


def test_the_same_invitee_is_never_invited_twice_by_a_campaign(campaign):
    free_places(2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    first = Invitation.objects.first()
    with pytest.raises(IntegrityError):
        Invitation.objects.create(
            campaign=campaign,
            invitee=first.invitee,
            department_id="75",
            code="X",
            code_index="other",
            channel="sms",
            sent_at=TUESDAY,
            last_sent_at=TUESDAY,
        )


def test_reminders_go_after_n_days_on_the_next_channel_twice_at_most(campaign):
    free_places(2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    marie = Invitation.objects.get(channel="sms", invitee__has_email=True)
    assert invitation_reminders_send(campaign_id=campaign.pk, now=TUESDAY) == 0
    later = TUESDAY + timedelta(days=7)
    assert invitation_reminders_send(campaign_id=campaign.pk, now=later) == 4
    marie.refresh_from_db()
    assert (marie.reminders, marie.channel) == (1, "email")
    assert marie.notification.kind == "invitation_reminder"
    assert invitation_reminders_send(campaign_id=campaign.pk, now=later + timedelta(days=7)) == 4
    assert invitation_reminders_send(campaign_id=campaign.pk, now=later + timedelta(days=30)) == 0
    assert Notification.objects.filter(kind="invitation_reminder").count() == 8


def test_a_mistyped_code_is_caught_before_any_lookup(campaign, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(InvalidInput, match="pas valide"):
        invitation_find(code="ABCD-EFGH-J")
    with pytest.raises(NotFound):
        invitation_find(code="0000-0000-0")


def book(invitation, site_session=None, *, phone="+33612345678"):
    session = site_session
    invitee = invitation.invitee
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    return invitation_book(
        invitation_id=invitation.pk,
        hold_id=hold.pk,
        contact=verified_contact(phone),
        person=PersonData(
            given_name=invitee.given_names,
            family_name=invitee.family_name,
            birth_date=invitee.birth_date,
        ),
    )


def test_the_invitation_books_one_course_recorded_as_its_reason_even_if_no_rule_would(
    invited_now,
):
    campaign, session = invited_now
    invitation = Invitation.objects.get(channel="email")
    result = book(invitation, session)
    assert result.created
    series = result.series
    assert series.override_by is None
    assert series.override_reason.startswith("Invitation de la campagne « Plus de 75 ans »")
    invitation.refresh_from_db()
    assert invitation.series == series and invitation.invitee.person == series.person
    # A second use opens that booking instead of booking again.
    assert invitation_find(code=invitation.code).series == series
    with pytest.raises(AlreadyBooked):
        book(invitation, session, phone="+33698765432")
    progress = campaign_progress(campaign=campaign)
    assert (progress[0].invited, progress[0].booked) == (4, 1)


def test_a_code_of_a_stopped_campaign_has_expired(campaign):
    free_places(2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    invitation = Invitation.objects.first()
    campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="stop")
    with pytest.raises(CodeExpired):
        invitation_find(code=invitation.code)


def test_people_who_already_booked_are_not_invited(population, campaign):
    _site, session = two_dose_site(lines=2)
    hold = hold_create(slot_id=session.slots.first().pk).hold
    booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(),
        person=PersonData(given_name="Marie", family_name="Roux", birth_date=date(1935, 5, 5)),
    )
    invitees_link()
    assert campaign_preview(campaign=campaign) == {"75": {"sms": 1, "letter": 1, "email": 1}}


def test_a_course_booked_with_an_invitation_moves_within_its_department(invited_now):
    _campaign, session = invited_now
    result = book(Invitation.objects.get(channel="email"), session)
    later = session.slots.order_by("start").last()
    moved = booking_move(series_id=result.series.pk, dose_number=1, slot_id=later.pk)
    assert moved.series.override_reason == result.series.override_reason
    # Elsewhere the public rules decide, as for anyone: none admits Luc.
    _marseille, far = two_dose_site(lines=2, name="Marseille", insee_code="13201")
    with pytest.raises(NotEligible):
        booking_move(
            series_id=result.series.pk,
            dose_number=1,
            slot_id=far.slots.order_by("start").first().pk,
        )


def test_an_invitation_falls_back_on_the_later_channels_and_a_letter_has_its_qr_code(campaign):
    from creneau.core.jobs import jobs_declared
    from creneau.outreach.letters import letters_printed

    free_places(2)
    started(campaign)
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    marie = Invitation.objects.get(channel="sms", invitee__has_email=True).notification
    assert marie.fallbacks == [["email", "m@example.org"], ["letter", marie.fallbacks[1][1]]]
    assert marie.fallbacks[1][1].startswith("Marie ROUX\n")
    assert marie.priority == Priority.INVITATION
    (letter,) = letters_printed(
        notifications=[Invitation.objects.get(channel="letter").notification]
    )
    assert letter.identifiant == "P2" and letter.postcode == "75017"
    assert letter.qr_code.startswith("data:image/svg+xml;base64,")
    assert "flashant le code" in letter.body
    assert "campaign_waves" in {job.name for job in jobs_declared()}
