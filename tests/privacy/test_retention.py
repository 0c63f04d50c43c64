"""The daily retention purge: each kind of personal data goes after its period, in
batches, audited, twice without harm; an active course and what the law keeps stay."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from creneau.audit.models import AuditEvent, ChainLink, Purge, Seal
from creneau.audit.selectors import audit_chain_verify
from creneau.audit.services import audit_record, audit_seal_due
from creneau.booking.models import (
    Appointment,
    CancellationItem,
    Contact,
    ContactVerification,
    Hold,
    IdempotencyKey,
    Person,
    Series,
)
from creneau.booking.selectors import cancellation_list
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    cancellation_create,
    contact_verification_start,
    hold_create,
)
from creneau.care.models import Administration
from creneau.care.services import administration_record, subject_reference
from creneau.core.actor import Actor
from creneau.onboarding.models import Application
from creneau.onboarding.services import application_refuse, application_submit
from creneau.outreach.models import Notification
from creneau.privacy.services import retention_purge
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Stock
from tests.factories import LOT, STAFF, at, person, tomorrow, two_dose_site, verified_contact
from tests.onboarding.helpers import application_data, authority

DAY = tomorrow()
LATER = timedelta(days=93)


@pytest.fixture
def site_session(reference):
    return two_dose_site(dose1_day=DAY)


def book(session, *, phone="+33612345678", **names):
    slot = session.slots.order_by("start").first()
    hold = hold_create(slot_id=slot.pk, now=at(DAY, 8)).hold
    return booking_confirm(
        hold_id=hold.pk, contact=verified_contact(phone), person=person(**names), now=at(DAY, 8)
    )


def give_both(site, result, nurse):
    dose1, dose2 = sorted(result.appointments, key=lambda a: a.dose_number)
    for appointment in (dose1, dose2):
        day = appointment.slot.date
        administration_record(
            appointment_id=appointment.pk,
            site_id=site.pk,
            lot=LOT,
            actor=Actor(user=nurse),
            now=at(day, 9, 5),
        )
    return dose2.slot.start


@pytest.fixture
def nurse(db):
    return get_user_model().objects.create_user("nurse")


def test_a_completed_course_goes_three_months_after_and_its_doses_stay_detached(
    site_session, nurse
):
    site, session = site_session
    result = book(session)
    match_key = Person.objects.get().match_key
    ended = give_both(site, result, nurse)
    given = Stock.objects.get(site=site).given

    assert retention_purge(now=ended + LATER - timedelta(days=2))["persons"] == 0
    assert Person.objects.count() == 1

    counts = retention_purge(now=ended + LATER)
    assert (counts["persons"], counts["contacts"], counts["courses"], counts["appointments"]) == (
        1,
        1,
        1,
        2,
    )
    assert counts["doses_kept"] == 2
    assert not Person.objects.exists() and not Contact.objects.exists()
    assert not Series.objects.exists() and not Appointment.objects.exists()
    doses = list(Administration.objects.order_by("dose_number"))
    assert [(d.appointment_id, d.dose_number, d.site_id, d.lot) for d in doses] == [
        (None, 1, site.pk, LOT),
        (None, 2, site.pk, LOT),
    ]
    assert {d.subject for d in doses} == {subject_reference(match_key=match_key)}
    assert Stock.objects.get(site=site).given == given  # the anonymous count stays

    event = AuditEvent.objects.filter(object_type="privacy.retention").latest("pk")
    assert event.action == "delete" and event.details["persons"] == 1

    again = retention_purge(now=ended + LATER)
    assert set(again.values()) == {0}
    assert AuditEvent.objects.filter(object_type="privacy.retention").count() == 3


def test_an_active_course_is_never_purged(site_session):
    _site, session = site_session
    book(session)
    counts = retention_purge(now=timezone.now() + timedelta(days=1000))
    assert counts["persons"] == 0
    assert Person.objects.count() == 1 and Series.objects.get().status == "active"


def test_a_cancelled_course_goes_after_three_months_and_the_cancellation_keeps_its_counts(
    site_session,
):
    site, session = site_session
    book(session)
    book(session, phone="+33612345679", given_name="Paul")
    cancellation = cancellation_create(
        actor=STAFF, site_id=site.pk, scope="session", session_id=session.pk, reason="Grève"
    )
    assert cancellation.courses == 2
    counts = retention_purge(now=timezone.now() + LATER)
    assert counts["persons"] == 2
    assert CancellationItem.objects.filter(cancellation=cancellation).count() == 2
    assert not CancellationItem.objects.filter(series__isnull=False).exists()
    (listed,) = cancellation_list(site_id=site.pk)
    assert (listed.courses, listed.appointments) == (2, 4)
    # Places were given back when cancelled; nothing more moves.
    assert sum(Slot.objects.values_list("booked", flat=True)) == 0


def test_a_person_with_one_old_course_and_an_active_one_is_kept(site_session):
    _site, session = site_session
    result = book(session)
    booking_cancel(series_id=result.series.pk)
    book(session)  # the same person, booked again
    assert Series.objects.filter(status="active").count() == 1
    retention_purge(now=timezone.now() + LATER)
    assert Series.objects.count() == 2 and Person.objects.count() == 1


def test_unused_contacts_and_codes_go_after_a_day(site_session):
    _site, session = site_session
    book(session)  # its contact books: it stays
    contact_verification_start(phone="+33698765432")
    assert Contact.objects.count() == 2 and ContactVerification.objects.count() == 1
    assert retention_purge(now=timezone.now() + timedelta(hours=23))["contacts"] == 0
    counts = retention_purge(now=timezone.now() + timedelta(hours=25))
    assert (counts["contacts"], counts["verifications"]) == (1, 1)
    assert list(Contact.objects.values_list("address", flat=True)) == ["+33612345678"]
    assert not ContactVerification.objects.exists()


def test_holds_and_idempotency_keys_go_after_a_week(site_session):
    _site, session = site_session
    book(session)
    slot = session.slots.order_by("start").last()
    hold_create(slot_id=slot.pk, now=at(DAY, 8))
    booked_before = Slot.objects.get(pk=slot.pk).booked
    assert IdempotencyKey.objects.count() + Hold.objects.count() >= 1
    # Eight days after the hold, not after now: from midnight in Paris "tomorrow" is two
    # days away in UTC's reckoning, and the hold's 8:00 later than now + 1 day.
    counts = retention_purge(now=at(DAY, 8) + timedelta(days=8))
    assert counts["holds"] == 1 and not Hold.objects.exists()
    assert Slot.objects.get(pk=slot.pk).booked == booked_before - 1  # its place given back
    assert not IdempotencyKey.objects.filter(created_at__lt=timezone.now()).exists()


def test_expired_sessions_go(db):
    store = SessionStore()
    store["x"] = 1
    store.set_expiry(-1)
    store.save()
    live = SessionStore()
    live["x"] = 1
    live.save()
    assert retention_purge()["sessions"] == 1
    assert list(Session.objects.values_list("pk", flat=True)) == [live.session_key]


def test_sent_messages_go_after_their_period_and_those_to_send_stay(site_session):
    _site, session = site_session
    book(session)
    Notification.objects.update(status="sent", sent_at=timezone.now())
    contact_verification_start(phone="+33698765432")  # pending
    counts = retention_purge(now=timezone.now() + timedelta(days=31))
    assert counts["messages"] >= 1
    assert list(Notification.objects.values_list("status", flat=True)) == ["pending"]


def test_batches_of_one_purge_everything_the_same(site_session, nurse):
    site, session = site_session
    book(session)
    book(session, phone="+33612345679", given_name="Paul")
    cancellation_create(
        actor=STAFF, site_id=site.pk, scope="session", session_id=session.pk, reason="Grève"
    )
    counts = retention_purge(now=timezone.now() + LATER, batch=1)
    assert counts["persons"] == 2 and not Person.objects.exists()


def test_decided_applications_to_join_go_after_a_year_and_pending_ones_stay(reference):
    refused = application_submit(data=application_data())
    application_refuse(
        actor=authority("ars.idf", "75"),
        application_id=refused.pk,
        reason="Ce cabinet a déjà un lieu sur Créneau.",
        departments=["75"],
    )
    pending = application_submit(data=application_data())  # the same number, again
    assert retention_purge(now=timezone.now() + timedelta(days=364))["applications"] == 0
    assert retention_purge(now=timezone.now() + timedelta(days=366))["applications"] == 1
    assert list(Application.objects.values_list("pk", flat=True)) == [pending.pk]


def test_the_retention_purge_command_prints_its_counts(db, capsys):
    call_command("retention_purge")
    assert "persons=0" in capsys.readouterr().out


# The audit log: whole sealed days, and audit_verify still meaningful.


@pytest.fixture
def old_days(db, monkeypatch, settings):
    """Events on three past days (400, 399 and 2 days ago), all sealed."""
    settings.AUDIT_RETENTION_DAYS = 365
    actor = Actor(user=get_user_model().objects.create_user("agent"))
    real_now = timezone.now
    for back in (400, 399, 2):
        with monkeypatch.context() as patch:
            patch.setattr(timezone, "now", lambda back=back: real_now() - timedelta(days=back))
            for n in range(3):
                audit_record(actor=actor, action="view", object_id=n)
    audit_seal_due()
    return real_now


def test_old_sealed_days_are_purged_whole_and_the_log_still_verifies(old_days):
    assert Seal.objects.count() == 3
    counts = retention_purge()
    assert counts["audit_events"] == 6
    today = timezone.localdate()
    assert not ChainLink.objects.filter(day__lt=today - timedelta(days=365)).exists()
    assert ChainLink.objects.filter(day=today - timedelta(days=2)).count() == 3
    assert Seal.objects.count() == 3  # the seals stay: the chain of seals still checks
    assert Purge.objects.get().through == today - timedelta(days=366)
    verification = audit_chain_verify()
    assert verification.findings == []
    assert verification.purged_through == today - timedelta(days=366)
    assert retention_purge()["audit_events"] == 0


def test_the_audit_part_runs_alone_or_not_at_all(old_days, settings, capsys):
    call_command("retention_purge", "--skip-audit")
    assert "audit_events" not in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="view").count() == 9
    settings.RETENTION_AUDIT_PURGE = False
    call_command("retention_purge")
    capsys.readouterr()
    assert AuditEvent.objects.filter(action="view").count() == 9
    call_command("retention_purge", "--audit-only")
    out = capsys.readouterr().out
    assert "audit_events=6" in out and "persons" not in out
    assert AuditEvent.objects.filter(action="view").count() == 3


def test_an_unsealed_old_day_is_not_purged(db, monkeypatch, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    real_now = timezone.now
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: real_now() - timedelta(days=400))
        audit_record(actor=None, action="view", object_id=1)
    assert retention_purge()["audit_events"] == 0
    assert AuditEvent.objects.filter(object_id="1").exists()


def test_an_event_forged_into_a_purged_day_is_still_found(old_days):
    from tests.audit.test_audit_chain import triggers_off

    retention_purge()
    with triggers_off():
        AuditEvent.objects.create(
            action="view", object_id="forged", at=timezone.now() - timedelta(days=400)
        )
    kinds = [finding.kind for finding in audit_chain_verify().findings]
    assert kinds == ["inserted"]


def test_the_append_only_rule_still_holds_outside_the_purge(old_days):
    from django.db import IntegrityError, connection, transaction

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
