"""Lots at the desk: a nurse picks from what the site received and has not expired, a lot
of another vaccine or past its date is refused, and the injection time typed is kept."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment
from creneau.care.models import Administration
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput, LotNotReceived
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Stock
from creneau.vaccines.selectors import site_lots
from creneau.vaccines.services import delivery_cancel, delivery_record
from tests.factories import (
    LOT,
    STAFF,
    at,
    make_site,
    tomorrow,
    vaccine,
)
from tests.staff_door import staff_sign_in

DAY = tomorrow()
PARIS = ZoneInfo("Europe/Paris")


def received(site, lot: str, *, code: str = "comirnaty", on=DAY, hour: int = 8, **fields):
    return delivery_record(
        site=site,
        vaccine=vaccine(code),
        quantity=100,
        expected_on=on,
        lot=lot,
        received_at=at(on, hour),
        **fields,
    )


def test_a_nurse_picks_from_lots_received_and_unexpired_newest_received_first(reference):
    site = make_site()
    received(site, "FRESH", hour=11)
    received(site, "LASTDAY", hour=10, expires_on=DAY)  # usable to the end of its day
    # Recorded last but received first: the order is the receipt's, not the row's.
    received(site, "OLDER", hour=7)
    received(site, "FRESH", hour=6)  # a lot delivered twice is offered once
    received(site, "", hour=12)  # no lot number: nothing to pick
    received(site, "EXPIRED", hour=12, expires_on=DAY - timedelta(days=1))
    delivery_record(site=site, vaccine=vaccine(), quantity=50, expected_on=DAY, lot="COMING")
    cancelled = delivery_record(
        site=site, vaccine=vaccine(), quantity=50, expected_on=DAY, lot="CANCELLED"
    )
    delivery_cancel(actor=STAFF, delivery_id=cancelled.pk)
    received(site, "SPK1", code="spikevax")
    received(make_site(name="Ailleurs"), "ELSEWHERE", hour=13)

    assert site_lots(site_id=site.pk, today=DAY) == {
        vaccine("comirnaty").pk: ["FRESH", "LASTDAY", "OLDER"],
        vaccine("spikevax").pk: ["SPK1"],
    }


def test_a_lot_leaves_the_list_the_day_after_it_expires(reference):
    site = make_site()
    received(site, "SHORT", expires_on=DAY + timedelta(days=5))
    assert site_lots(site_id=site.pk, today=DAY + timedelta(days=5)) == {vaccine().pk: ["SHORT"]}
    assert site_lots(site_id=site.pk, today=DAY + timedelta(days=6)) == {}


def ledger(site) -> tuple[int, int]:
    stock = Stock.objects.get(site=site, vaccine=vaccine())
    return stock.committed, stock.given


def assert_nothing_given(site, dose1, before) -> None:
    assert Appointment.objects.get(pk=dose1.pk).status == "booked"
    assert not Administration.objects.exists()
    assert ledger(site) == before


@pytest.mark.parametrize("typed", ["SPK1", "spk1"])
def test_a_lot_the_site_received_for_another_vaccine_is_refused(booked, typed):
    site, dose1, _dose2, nurse = booked
    received(site, "SPK1", code="spikevax")
    before = ledger(site)
    with pytest.raises(InvalidInput, match="lot de Spikevax, pas de Comirnaty") as caught:
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot=typed,
            actor=Actor(user=nurse),
            now=at(DAY, 9, 5),
        )
    assert caught.value.details == {"field": "lot"}
    assert_nothing_given(site, dose1, before)


def test_a_lot_whose_every_delivery_expired_before_the_day_is_refused(booked):
    site, dose1, _dose2, nurse = booked
    received(site, "OLD", on=DAY - timedelta(days=60), expires_on=DAY - timedelta(days=10))
    received(site, "OLD", on=DAY - timedelta(days=30), expires_on=DAY - timedelta(days=1))
    before = ledger(site)
    last_day = (DAY - timedelta(days=1)).strftime("%d/%m/%Y")
    with pytest.raises(InvalidInput, match=f"date de péremption \\({last_day}\\)"):
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot="OLD",
            actor=Actor(user=nurse),
            now=at(DAY, 9, 5),
        )
    assert_nothing_given(site, dose1, before)


def test_a_lot_with_one_delivery_still_good_on_the_day_is_accepted(booked):
    site, dose1, _dose2, nurse = booked
    received(site, "MIXED", on=DAY - timedelta(days=60), expires_on=DAY - timedelta(days=1))
    received(site, "MIXED", on=DAY - timedelta(days=30), expires_on=DAY)
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="MIXED",
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    assert Administration.objects.get().lot == "MIXED"


def test_a_lot_the_site_never_received_is_refused_until_the_desk_confirms_it_was_lent(booked):
    """ZZ999 where the site only received SP3456: a typing mistake would stay in the
    person's record, so the desk has to say the doses were lent."""
    site, dose1, _dose2, nurse = booked
    received(site, "SP3456")
    before = ledger(site)
    with pytest.raises(LotNotReceived, match=r"non reçu sur ce lieu : prêté par un autre lieu \?"):
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot="ZZ999",
            actor=Actor(user=nurse),
            now=at(DAY, 9, 5),
        )
    assert_nothing_given(site, dose1, before)
    assert not AuditEvent.objects.exists()

    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="ZZ999",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    record = Administration.objects.get()
    assert (record.lot, record.lot_lent) == ("ZZ999", True)
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"
    assert AuditEvent.objects.get().summary == "Dose administrée, lot ZZ999 prêté par un autre lieu"


def test_a_lent_lot_may_be_another_sites_lot_of_another_vaccine(booked):
    """Doses lent by a neighbour: the lot is the neighbour's, of another vaccine even."""
    site, dose1, _dose2, nurse = booked
    received(make_site(name="Voisin"), "LENT1", code="spikevax")
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="LENT1",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    assert Administration.objects.get().lot == "LENT1"
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"


def test_a_lot_the_site_received_is_not_called_lent_even_if_the_box_was_ticked(booked):
    site, dose1, _dose2, nurse = booked
    received(site, "SP3456")
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="sp3456",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    assert Administration.objects.get().lot_lent is False


def test_a_cancelled_delivery_of_another_vaccine_does_not_claim_its_lot(booked):
    site, dose1, _dose2, nurse = booked
    never_came = delivery_record(
        site=site, vaccine=vaccine("spikevax"), quantity=50, expected_on=DAY, lot="NC1"
    )
    delivery_cancel(actor=STAFF, delivery_id=never_came.pk)
    with pytest.raises(LotNotReceived):  # not "a lot of Spikevax": never received at all
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot="NC1",
            actor=Actor(user=nurse),
            now=at(DAY, 9, 5),
        )
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="NC1",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    assert Administration.objects.get().lot == "NC1"


def test_the_injection_time_given_is_the_one_recorded(booked):
    site, dose1, _dose2, nurse = booked
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        given_at=at(DAY, 9, 10),
        now=at(DAY, 9, 40),
    )
    assert Administration.objects.get().given_at == at(DAY, 9, 10)


@pytest.fixture
def desk(client, booked, monkeypatch):
    """The site's nurse signed in on DAY at 9:30, the dose form of the 9:00 appointment."""
    site, dose1, _dose2, _nurse = booked
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, 9, 30))
    staff_account_create(
        username="desk", password=DEMO_PASSWORD, role=StaffProfile.Role.SITE_STAFF, sites=[site]
    )
    signed_in = staff_sign_in(client, "desk")
    assert signed_in.status_code == 302
    return client, reverse("backoffice:dose_given", args=[site.pk, dose1.pk])


def test_the_dose_form_records_the_time_typed_at_the_desk_in_local_time(desk, booked):
    client, url = desk
    response = client.post(url, {"jour": DAY.isoformat(), "lot": LOT, "heure": "09:10"})
    assert response.status_code == 302
    administration = Administration.objects.get()
    assert administration.lot == LOT
    assert administration.given_at == datetime.combine(DAY, time(9, 10), tzinfo=PARIS)
    assert administration.given_at.astimezone(PARIS).strftime("%H:%M") == "09:10"


def test_an_impossible_time_in_the_dose_form_changes_nothing_and_says_so(desk, booked):
    client, url = desk
    site, dose1, _dose2, _nurse = booked
    before = ledger(site)
    response = client.post(
        url, {"jour": DAY.isoformat(), "lot": LOT, "heure": "25:99"}, follow=True
    )
    assert response.status_code == 200
    assert "Heure invalide" in response.content.decode()
    assert_nothing_given(site, dose1, before)


def test_an_unknown_lot_at_the_desk_asks_then_a_second_submit_confirms_it(desk, booked):
    """Without JavaScript: the answer is the form again with a box to tick, the lot and
    the time as typed; ticked, the dose is recorded and the list comes back at the row."""
    client, url = desk
    site, dose1, _dose2, _nurse = booked
    before = ledger(site)
    typed = {"jour": DAY.isoformat(), "q": "martin", "lot": "ZZ999", "heure": "09:10"}
    response = client.post(url, typed)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Lot ZZ999 non reçu sur ce lieu : prêté par un autre lieu ?" in page
    assert 'name="lot_prete"' in page and 'value="ZZ999"' in page and 'value="09:10"' in page
    assert '<input type="hidden" name="q" value="martin">' in page
    assert_nothing_given(site, dose1, before)

    response = client.post(url, {**typed, "lot_prete": "1"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?jour={DAY.isoformat()}&q=martin#rdv-{dose1.pk}")
    administration = Administration.objects.get()
    assert (administration.lot, administration.lot_lent) == ("ZZ999", True)
