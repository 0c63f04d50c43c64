"""A dose's record corrected by the site's manager: the lot, the time, or the whole record
when it was made by mistake. Nothing recorded is erased, the ledger and the course follow,
and each correction is in the audit log with what it was and what it became."""

from datetime import timedelta

import pytest

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, Series
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.care.models import Administration, AdministrationCorrection
from creneau.care.services import (
    administration_correct_lot,
    administration_correct_time,
    administration_record,
    administration_withdraw,
    appointment_check_in,
    noshows_mark,
)
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput, LotNotReceived, NotFound
from creneau.vaccines.models import Stock
from creneau.vaccines.services import delivery_record
from tests.factories import (
    LOT,
    STAFF,
    at,
    person,
    tomorrow,
    two_dose_site,
    vaccine,
    verified_contact,
)

DAY = tomorrow()


@pytest.fixture
def manager(django_user_model) -> Actor:
    return Actor(user=django_user_model.objects.create_user(username="manager"))


@pytest.fixture
def given(booked):
    """Dose 1 recorded at 9:05 with a lot the site never received, confirmed as lent by
    mistake: the site only received SP3456."""
    site, dose1, dose2, nurse = booked
    delivery_record(
        site=site,
        vaccine=vaccine(),
        quantity=100,
        expected_on=DAY,
        lot="SP3456",
        received_at=at(DAY, 7),
    )
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="ZZ999",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    return site, dose1, dose2


def ledger(site) -> tuple[int, int]:
    stock = Stock.objects.get(site=site, vaccine=vaccine())
    return stock.committed, stock.given


def status(appointment) -> str:
    return Appointment.objects.get(pk=appointment.pk).status


def changes(actor: Actor):
    return AuditEvent.objects.filter(actor=actor.user, action="change")


def test_a_wrong_lot_is_corrected_and_the_one_it_replaces_is_kept(given, manager):
    site, dose1, _dose2 = given
    before = ledger(site)
    administration_correct_lot(
        actor=manager,
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="SP3456",
        reason="Faute de frappe.",
        now=at(DAY, 11),
    )
    record = Administration.objects.get()
    assert (record.lot, record.lot_lent) == ("SP3456", False)
    correction = record.corrections.get()
    assert (correction.kind, correction.lot_before, correction.lot_after) == (
        "lot",
        "ZZ999",
        "SP3456",
    )
    assert (correction.reason, correction.corrected_by) == ("Faute de frappe.", manager.user)
    assert correction.corrected_at == at(DAY, 11)
    assert status(dose1) == "fulfilled" and ledger(site) == before
    event = changes(manager).get()
    assert (event.object_type, event.object_id, event.site) == (
        "care.administration",
        str(record.pk),
        site,
    )
    assert event.summary == "Lot corrigé : ZZ999 → SP3456"
    assert event.details["before"] == {"lot": "ZZ999", "lot_lent": True}
    assert event.details["after"] == {"lot": "SP3456", "lot_lent": False}


@pytest.mark.parametrize(
    "lot, reason, refusal",
    [
        ("ZZ999", "Motif.", "déjà ZZ999"),
        ("", "Motif.", "numéro de lot"),
        ("SP3456", "", "motif de la correction"),
        ("SP3456", "x" * 201, "motif de la correction"),
    ],
)
def test_a_lot_correction_refused_changes_nothing(given, manager, lot, reason, refusal):
    site, dose1, _dose2 = given
    with pytest.raises(InvalidInput, match=refusal):
        administration_correct_lot(
            actor=manager, appointment_id=dose1.pk, site_id=site.pk, lot=lot, reason=reason
        )
    assert Administration.objects.get().lot == "ZZ999"
    assert not AdministrationCorrection.objects.exists() and not changes(manager).exists()


def test_a_corrected_lot_is_checked_like_a_dose_given(given, manager):
    site, dose1, _dose2 = given
    delivery_record(
        site=site,
        vaccine=vaccine("spikevax"),
        quantity=10,
        expected_on=DAY,
        lot="SPK1",
        received_at=at(DAY, 7),
    )
    correct = dict(actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="Erreur.")
    with pytest.raises(InvalidInput, match="lot de Spikevax"):
        administration_correct_lot(lot="SPK1", **correct)
    with pytest.raises(LotNotReceived):
        administration_correct_lot(lot="AB111", **correct)
    administration_correct_lot(lot="AB111", lot_lent=True, **correct)
    assert Administration.objects.values_list("lot", "lot_lent").get() == ("AB111", True)


def test_a_wrong_time_is_corrected_on_the_appointments_day_only(given, manager):
    site, dose1, _dose2 = given
    correct = dict(actor=manager, appointment_id=dose1.pk, site_id=site.pk, now=at(DAY, 12))
    with pytest.raises(InvalidInput, match="le jour du rendez-vous"):
        administration_correct_time(given_at=at(DAY - timedelta(days=1), 9), reason="R.", **correct)
    with pytest.raises(InvalidInput, match="futur"):
        administration_correct_time(given_at=at(DAY, 13), reason="R.", **correct)
    with pytest.raises(InvalidInput, match="déjà l'heure"):
        administration_correct_time(given_at=at(DAY, 9, 5), reason="R.", **correct)
    assert not changes(manager).exists()

    administration_correct_time(given_at=at(DAY, 9, 20), reason="Saisie en retard.", **correct)
    record = Administration.objects.get()
    assert record.given_at == at(DAY, 9, 20)
    correction = record.corrections.get()
    assert (correction.given_at_before, correction.given_at_after) == (
        at(DAY, 9, 5),
        at(DAY, 9, 20),
    )
    assert changes(manager).get().summary == "Heure de l'injection corrigée : 09:05 → 09:20"


def test_a_dose_recorded_by_mistake_goes_back_to_committed_and_the_record_stays(given, manager):
    site, dose1, dose2 = given
    committed, given_doses = ledger(site)
    administration_withdraw(
        actor=manager,
        appointment_id=dose1.pk,
        site_id=site.pk,
        reason="Mauvaise personne.",
        now=at(DAY, 10),
    )
    # The nurse recorded it without a check-in: back to booked, dose 2 untouched.
    assert (status(dose1), status(dose2)) == ("booked", "booked")
    assert ledger(site) == (committed + 1, given_doses - 1)
    assert Series.objects.get().status == "active"
    record = Administration.objects.get()
    assert record.withdrawn_at == at(DAY, 10) and record.lot == "ZZ999"
    correction = record.corrections.get()
    assert (correction.kind, correction.reason) == ("withdrawn", "Mauvaise personne.")
    event = changes(manager).get()
    assert event.summary == "Dose retirée, enregistrée par erreur (lot ZZ999)"
    assert event.details["before"]["appointment"] == "fulfilled"
    assert event.details["after"] == {
        "appointment": "booked",
        "series": "active",
        "stock": "committed",
    }

    # The person then comes and is given the dose: a second record, the first one kept.
    administration_record(
        appointment_id=dose1.pk, site_id=site.pk, lot="SP3456", actor=manager, now=at(DAY, 10, 5)
    )
    assert status(dose1) == "fulfilled" and ledger(site) == (committed, given_doses)
    assert Administration.objects.count() == 2
    assert Administration.objects.get(withdrawn_at__isnull=True).lot == "SP3456"


def test_a_person_checked_in_goes_back_to_arrived(booked, manager):
    site, dose1, _dose2, nurse = booked
    appointment_check_in(actor=STAFF, appointment_id=dose1.pk, site_id=site.pk, now=at(DAY, 9))
    administration_record(
        appointment_id=dose1.pk, site_id=site.pk, lot=LOT, actor=Actor(user=nurse), now=at(DAY, 9)
    )
    assert Administration.objects.get().from_status == "arrived"
    administration_withdraw(
        actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="Pas injectée."
    )
    assert status(dose1) == "arrived"


def test_a_dose_withdrawn_after_its_day_is_a_no_show_at_the_evening_run(given, manager):
    site, dose1, dose2 = given
    committed, given_doses = ledger(site)
    administration_withdraw(
        actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="Jamais venue."
    )
    noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 20))
    assert (status(dose1), status(dose2)) == ("noshow", "cancelled")
    # Both doses the first-dose place promised go back: nothing is left given or owed.
    assert ledger(site) == (committed + 1 - 2, given_doses - 1)


def give_dose2(site, dose2, nurse) -> None:
    administration_record(
        appointment_id=dose2.pk,
        site_id=site.pk,
        lot="SP3456",
        actor=Actor(user=nurse),
        now=at(dose2.slot.date, 9, 5),
    )


def test_withdrawing_the_last_dose_makes_the_course_active_again(given, manager, booked):
    site, _dose1, dose2 = given
    give_dose2(site, dose2, booked[3])
    series = Series.objects.get()
    assert series.status == "completed"
    administration_withdraw(
        actor=manager, appointment_id=dose2.pk, site_id=site.pk, reason="Erreur de ligne."
    )
    again = Series.objects.get()
    assert (again.status, again.version) == ("active", series.version + 1)
    assert status(dose2) == "booked"


def test_a_first_dose_is_not_withdrawn_while_the_second_stands_recorded(given, manager, booked):
    site, dose1, dose2 = given
    give_dose2(site, dose2, booked[3])
    with pytest.raises(InvalidInput, match="dose suivante"):
        administration_withdraw(
            actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="R."
        )
    assert status(dose1) == "fulfilled" and not changes(manager).exists()


def test_a_first_dose_is_not_withdrawn_when_its_second_has_no_date_any_more(given, manager):
    """Invariant 3: an active dose 1 always has its dose 2."""
    site, dose1, dose2 = given
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope="session",
        session_id=dose2.slot.session_id,
        reason="Panne.",
        now=at(DAY, 12),
    )
    assert status(dose2) == "cancelled"
    with pytest.raises(InvalidInput, match="dose 2 de ce parcours n'a plus de rendez-vous"):
        administration_withdraw(
            actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="R."
        )
    assert status(dose1) == "fulfilled"


def test_a_completed_course_is_not_reopened_over_a_new_one(given, manager, booked):
    """The person has booked another course since: one active course each (invariant 4)."""
    site, _dose1, dose2 = given
    give_dose2(site, dose2, booked[3])
    later = two_dose_site(name="Plus tard", dose1_day=dose2.slot.date + timedelta(days=200))[1]
    hold = hold_create(slot_id=later.slots.first().pk, now=at(dose2.slot.date, 12)).hold
    booking_confirm(
        hold_id=hold.pk, contact=verified_contact(), person=person(), now=at(dose2.slot.date, 12)
    )
    committed, given_doses = ledger(site)
    with pytest.raises(InvalidInput, match="autre parcours en cours"):
        administration_withdraw(
            actor=manager, appointment_id=dose2.pk, site_id=site.pk, reason="R."
        )
    assert status(dose2) == "fulfilled" and ledger(site) == (committed, given_doses)
    assert Administration.objects.filter(withdrawn_at__isnull=False).count() == 0


def test_a_withdrawn_record_is_not_withdrawn_or_corrected_again(given, manager):
    site, dose1, _dose2 = given
    correct = dict(actor=manager, appointment_id=dose1.pk, site_id=site.pk, reason="R.")
    administration_withdraw(**correct)
    for attempt in (
        lambda: administration_withdraw(**correct),
        lambda: administration_correct_lot(lot="SP3456", **correct),
        lambda: administration_correct_time(given_at=at(DAY, 9), now=at(DAY, 12), **correct),
    ):
        with pytest.raises(InvalidInput, match="Aucune dose n'est enregistrée"):
            attempt()
    assert changes(manager).count() == 1


def test_another_sites_dose_is_not_found(given, manager):
    _site, dose1, _dose2 = given
    other, _ = two_dose_site(name="Ailleurs")
    with pytest.raises(NotFound):
        administration_withdraw(
            actor=manager, appointment_id=dose1.pk, site_id=other.pk, reason="R."
        )
    assert status(dose1) == "fulfilled"
