"""The waiting list's services: joining, declaring leftover doses, waves of offers,
accepting through the booking engine, and every refusal changing nothing."""

import io
from datetime import date, time, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, Contact, Series
from creneau.booking.services import PersonData, booking_confirm, hold_create
from creneau.core.errors import AlreadyBooked, InvalidInput, NotFound, StockInsufficient
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.privacy.services import retention_purge
from creneau.scheduling.models import Session, Slot
from creneau.vaccines.models import Stock, Vaccine
from creneau.waitlist import tokens
from creneau.waitlist.errors import AlreadyOnList, OfferAnswered, OfferExpired
from creneau.waitlist.models import Leftover, Offer, PriorityBand, WaitlistEntry
from creneau.waitlist.selectors import entry_from_token, leftover_board, offer_from_token
from creneau.waitlist.services import (
    Window,
    leftover_cancel,
    offer_accept,
    waitlist_join,
    waitlist_leave,
    waitlist_renew,
    waitlist_tick,
)
from tests.factories import STAFF, open_session, person, tomorrow, verified_contact
from tests.waitlist.helpers import (
    EVERY_DAY,
    NOW,
    declare,
    join,
    leftover_site,
    paris17,
    place_at,
)

pytestmark = pytest.mark.django_db


def _stock(site, code="janssen") -> Stock:
    return Stock.objects.get(site=site, vaccine__code=code)


def _counts() -> tuple:
    return (
        WaitlistEntry.objects.count(),
        Leftover.objects.count(),
        Offer.objects.count(),
        Session.objects.count(),
        Series.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.count(),
    )


# Joining -----------------------------------------------------------------------------


def test_joining_keeps_the_names_encrypted_and_sends_the_link_to_leave(reference):
    entry = join(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT given_name, birth_date FROM waitlist_waitlistentry")
        [(given_name, birth_date)] = cursor.fetchall()
    assert given_name.startswith("v1:") and "Personne1" not in given_name
    assert birth_date.startswith("v1:")
    assert entry.expires_at == NOW - timedelta(minutes=1) + timedelta(days=30)
    message = Notification.objects.get(kind="waitlist_joined")
    text = notification_render(notification=message).body
    assert "liste d'attente" in text
    link = text.rsplit(" ", 1)[-1]
    # The key in the fragment, which no server log receives.
    assert "/liste-attente/inscription/ouvrir/#cle=" in link
    assert entry_from_token(token=link.split("#cle=")[1]) == entry
    assert message.derived == {"entry_url": ["waitlist_entry_link", str(entry.pk)]}


def test_one_active_entry_per_person_across_contacts(reference):
    join(1)
    before = _counts()
    with pytest.raises(AlreadyOnList):
        join(1, phone="+33699999999")
    assert _counts() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"radius_km": 0}, "radius_km"),
        ({"radius_km": 500}, "radius_km"),
        ({"notice_minutes": 45}, "notice_minutes"),
        ({"windows": []}, "windows"),
        ({"windows": [Window(days=frozenset({7}), start=time(8), end=time(9))]}, "windows"),
        ({"windows": [Window(days=frozenset({1}), start=time(9), end=time(8))]}, "windows"),
        ({"vaccine_ids": []}, "vaccines"),
        ({"vaccine_ids": [999999]}, "vaccines"),
    ],
)
def test_bad_wishes_are_refused_on_their_field_and_change_nothing(reference, changes, field):
    arguments = dict(
        contact=verified_contact(),
        person=person(),
        place=paris17(),
        radius_km=10,
        windows=EVERY_DAY,
        notice_minutes=30,
        vaccine_ids=[Vaccine.objects.get(code="janssen").pk],
        now=NOW,
    )
    before = _counts()
    with pytest.raises(InvalidInput) as refusal:
        waitlist_join(**{**arguments, **changes})
    assert refusal.value.details["field"] == field
    assert _counts() == before


def test_a_person_booked_through_another_contact_cannot_join(reference):
    site = leftover_site()
    slot = Slot.objects.filter(session=open_session(site, code="janssen")).first()
    hold = hold_create(slot_id=slot.pk).hold
    booking_confirm(hold_id=str(hold.pk), contact=verified_contact("+33600000001"), person=person())
    before = _counts()
    with pytest.raises(AlreadyBooked):
        waitlist_join(
            contact=verified_contact("+33600000002"),
            person=person(),
            place=paris17(),
            radius_km=10,
            windows=EVERY_DAY,
            notice_minutes=30,
            vaccine_ids=[Vaccine.objects.get(code="janssen").pk],
        )
    assert _counts() == before


def test_leaving_renewing_and_expiring(reference):
    entry = join(1)
    renewed = waitlist_renew(entry_id=entry.pk, now=NOW + timedelta(days=10))
    assert renewed.expires_at == NOW + timedelta(days=40)
    assert waitlist_leave(entry_id=entry.pk) is True
    assert waitlist_leave(entry_id=entry.pk) is False
    with pytest.raises(InvalidInput):
        waitlist_renew(entry_id=entry.pk, now=NOW)
    other = join(2)
    waitlist_tick(now=other.expires_at + timedelta(seconds=1))
    other.refresh_from_db()
    assert other.status == WaitlistEntry.Status.EXPIRED


# Declaring ---------------------------------------------------------------------------


def test_a_declaration_opens_one_place_per_dose_backed_by_stock_and_sends_the_first_wave(
    reference,
):
    site = leftover_site(doses=10)
    for number in range(1, 9):
        join(number, north_km=number)
    leftover = declare(site, doses=2)
    slots = list(Slot.objects.filter(session=leftover.session))
    assert [slot.capacity for slot in slots] == [1, 1]
    assert slots[0].start > NOW
    assert _stock(site).committed == 2
    offers = list(leftover.offers.select_related("entry"))
    # Three per place, the nearest first (all in one age band).
    assert len(offers) == 6
    assert [o.entry.given_name for o in offers] == [f"Personne{n}" for n in range(1, 7)]
    texts = [
        notification_render(notification=n).body
        for n in Notification.objects.filter(kind="waitlist_offer")
    ]
    assert len(texts) == 6
    assert all("/liste-attente/offre/" in text and "20 minutes" in text for text in texts)
    event = AuditEvent.objects.get(object_type="waitlist.leftover")
    assert event.site_id == site.pk and event.action == "create"


def test_the_age_band_comes_before_the_distance_and_is_data(reference):
    site = leftover_site()
    join(1, age=60, north_km=1)
    join(2, age=80, north_km=8)
    leftover = declare(site, doses=1, until=NOW + timedelta(minutes=40))
    ranked = [o.entry.given_name for o in leftover.offers.select_related("entry")]
    assert ranked == ["Personne2", "Personne1"]
    # An authority puts the 55-64 first: the next declaration follows it.
    PriorityBand.objects.filter(min_age=50).update(rank=0)
    PriorityBand.objects.filter(min_age=75).update(rank=1)
    other = declare(leftover_site(name="Autre centre"), doses=1, now=NOW + timedelta(minutes=10))
    assert other.offers.count() == 0  # both hold a live offer of the first declaration
    waitlist_tick(now=NOW + timedelta(minutes=21))
    ranked = [o.entry.given_name for o in other.offers.select_related("entry")]
    assert ranked == ["Personne1", "Personne2"]


def test_the_age_band_is_that_of_the_age_reached_this_year(reference):
    # The database orders by band and cannot read the encrypted birth date: it reads the
    # birth year. Born on 31 December 75 years ago, she is in the 75+ band all year.
    site = leftover_site()
    join(1, age=70, north_km=1)
    waitlist_join(
        contact=verified_contact("+33699999999"),
        person=PersonData(
            given_name="Louise", family_name="Attente", birth_date=date(NOW.year - 75, 12, 31)
        ),
        place=place_at(north_km=8),
        radius_km=10,
        windows=EVERY_DAY,
        notice_minutes=30,
        vaccine_ids=[Vaccine.objects.get(code="janssen").pk],
        now=NOW - timedelta(minutes=5),
    )
    leftover = declare(site, doses=1, until=NOW + timedelta(minutes=40))
    ranked = [o.entry.given_name for o in leftover.offers.select_related("entry")]
    assert ranked == ["Louise", "Personne1"]


def test_people_out_of_reach_are_not_offered(reference):
    site = leftover_site()
    join(1, north_km=15)  # beyond their 10 km
    join(2, codes=("comirnaty",))  # not this vaccine
    join(3, notice=120)  # cannot come before the last place ends
    join(4, age=40)  # Janssen is for 55 and over
    leftover = declare(site, doses=1, until=NOW + timedelta(minutes=60))
    assert leftover.offers.count() == 0


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"until": NOW - timedelta(minutes=1)}, InvalidInput),
        ({"until": NOW + timedelta(days=1)}, InvalidInput),
        ({"doses": 0}, InvalidInput),
        ({"doses": 101}, InvalidInput),
        ({"doses": 30, "until": NOW + timedelta(minutes=60)}, InvalidInput),
        ({"lot": "INCONNU"}, InvalidInput),
        ({"code": "comirnaty"}, InvalidInput),  # the site has no comirnaty lot
        ({"doses": 20, "until": NOW + timedelta(hours=3)}, StockInsufficient),  # 10 delivered
    ],
)
def test_bad_declarations_are_refused_and_change_nothing(reference, changes, error):
    site = leftover_site(doses=10)
    join(1)
    before = (*_counts(), _stock(site).committed)
    with pytest.raises(error):
        declare(site, **{"doses": 2, **changes})
    assert (*_counts(), _stock(site).committed) == before


# Accepting ---------------------------------------------------------------------------


def test_accepting_books_a_course_and_the_link_works_once(reference):
    site = leftover_site()
    entry = join(1)
    leftover = declare(site, doses=1)
    offer = leftover.offers.get()
    answer = offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=5))
    assert answer.accepted
    series = answer.booking.series
    assert series.status == Series.Status.ACTIVE and series.site == site
    offer.refresh_from_db()
    entry.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED and offer.series == series
    assert entry.status == WaitlistEntry.Status.SERVED
    assert Slot.objects.get(pk=offer.slot_id).booked == 1
    assert Notification.objects.filter(kind="booking_confirmed").count() == 1
    before = _counts()
    with pytest.raises(OfferAnswered):
        offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=6))
    assert _counts() == before
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=NOW)
    assert (board.accepted, board.free, board.offered) == (1, 0, 0)


def test_a_forged_or_altered_link_is_not_found(reference):
    site = leftover_site()
    join(1)
    offer = declare(site, doses=1).offers.get()
    token = tokens.offer_token(offer_id=offer.pk)
    for forged in (token[:-2] + "xx", tokens.entry_token(entry_id=offer.pk), "1", "x" * 500):
        with pytest.raises(NotFound):
            offer_from_token(token=forged)
    assert offer_from_token(token=token) == offer


def test_later_people_are_told_at_once_that_it_is_gone(reference):
    site = leftover_site()
    for number in (1, 2, 3):
        join(number)
    leftover = declare(site, doses=1)
    first, second, _third = leftover.offers.all()
    assert offer_accept(offer_id=first.pk, now=NOW + timedelta(minutes=1)).accepted
    answer = offer_accept(offer_id=second.pk, now=NOW + timedelta(minutes=2))
    assert not answer.accepted
    second.refresh_from_db()
    assert second.status == Offer.Status.GONE
    leftover.refresh_from_db()
    assert leftover.accepted == 1
    assert Series.objects.count() == 1


def test_an_accept_after_the_twenty_minutes_is_refused_and_changes_nothing(reference):
    site = leftover_site()
    join(1)
    offer = declare(site, doses=1).offers.get()
    before = _counts()
    with pytest.raises(OfferExpired):
        offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=21))
    assert _counts() == before
    waitlist_tick(now=NOW + timedelta(minutes=21))
    offer.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED


def test_the_next_wave_goes_when_the_first_expires_with_places_left(reference):
    site = leftover_site()
    for number in range(1, 6):
        join(number, north_km=number)
    leftover = declare(site, doses=1, until=NOW + timedelta(hours=2))
    assert leftover.offers.filter(wave=1).count() == 3
    # While the wave runs, no other goes.
    assert waitlist_tick(now=NOW + timedelta(minutes=10)).offers_sent == 0
    report = waitlist_tick(now=NOW + timedelta(minutes=21))
    assert (report.offers_expired, report.offers_sent) == (3, 2)
    assert {o.entry.given_name for o in leftover.offers.filter(wave=2)} == {
        "Personne4",
        "Personne5",
    }


def test_a_cancelled_declaration_closes_its_places_and_its_offers(reference):
    site = leftover_site(doses=10)
    join(1)
    join(2)
    leftover = declare(site, doses=2)
    first, second, *_ = leftover.offers.all()
    offer_accept(offer_id=first.pk, now=NOW + timedelta(minutes=1))
    leftover_cancel(actor=STAFF, site_id=site.pk, leftover_id=leftover.pk, now=NOW)
    assert _stock(site).committed == 1  # the accepted place keeps its dose
    second.refresh_from_db()
    assert second.status == Offer.Status.GONE
    with pytest.raises(OfferAnswered):
        offer_accept(offer_id=second.pk, now=NOW + timedelta(minutes=2))
    with pytest.raises(InvalidInput):
        leftover_cancel(actor=STAFF, site_id=site.pk, leftover_id=leftover.pk, now=NOW)
    with pytest.raises(NotFound):
        leftover_cancel(actor=STAFF, site_id=site.pk + 1, leftover_id=leftover.pk, now=NOW)


def test_a_person_booked_later_moves_their_dose_1_to_the_leftover_place(reference):
    site = leftover_site(doses=10)
    later = open_session(site, code="janssen", day=tomorrow(5), lines=1)
    contact = verified_contact("+33600000001")
    hold = hold_create(slot_id=Slot.objects.filter(session=later).first().pk).hold
    booked = booking_confirm(hold_id=str(hold.pk), contact=contact, person=person()).series
    entry = waitlist_join(
        contact=contact,
        person=person(),
        place=paris17(),
        radius_km=10,
        windows=EVERY_DAY,
        notice_minutes=30,
        vaccine_ids=[Vaccine.objects.get(code="janssen").pk],
        now=NOW,
    )
    leftover = declare(site, doses=1)
    offer = leftover.offers.get()
    assert offer.entry == entry
    answer = offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=1))
    assert answer.booking.series.pk == booked.pk
    dose1 = Appointment.objects.get(series=booked, dose_number=1, status="booked")
    assert dose1.slot.session_id == leftover.session_id
    assert Slot.objects.filter(session=later, booked__gt=0).count() == 0
    assert Notification.objects.filter(kind="booking_moved").count() == 1


def test_a_two_dose_product_books_dose_2_at_the_site_or_waits_for_a_place(reference):
    site = leftover_site(code="comirnaty", doses=100)
    join(1)
    leftover = declare(site, doses=1, code="comirnaty")
    # No second-dose place at the site in the interval: no offer, and the staff see why.
    assert leftover.offers.count() == 0
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=NOW)
    assert (board.free, board.offerable, board.dose2_short) == (1, 0, True)
    assert board.dose2.places == 0
    open_session(site, day=NOW.date() + timedelta(days=35), dose_number=2)
    assert waitlist_tick(now=NOW + timedelta(minutes=1)).offers_sent == 1
    offer = leftover.offers.get()
    answer = offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=2))
    doses = {a.dose_number: a.slot for a in answer.booking.appointments}
    assert doses[1].session_id == leftover.session_id
    assert doses[2].site_id == site.pk and doses[2].date == NOW.date() + timedelta(days=35)


def test_a_wave_offers_no_more_places_than_the_site_has_second_doses(reference):
    site = leftover_site(code="comirnaty", doses=100)
    # One slot of two second-dose places in the interval.
    open_session(site, day=NOW.date() + timedelta(days=35), dose_number=2, end=time(9, 10), lines=2)
    for number in range(1, 9):
        join(number)
    leftover = declare(site, doses=4, code="comirnaty")
    # Four places, two of them with a dose 2: a wave for two.
    offers = list(leftover.offers.all())
    assert len(offers) == 6
    answers = [offer_accept(offer_id=o.pk, now=NOW + timedelta(minutes=2)) for o in offers[:3]]
    assert [answer.accepted for answer in answers] == [True, True, False]
    # The third found no second-dose place left: gone, nothing booked, the counter back.
    assert Offer.objects.get(pk=offers[2].pk).status == Offer.Status.GONE
    leftover.refresh_from_db()
    assert leftover.accepted == 2
    for series in Series.objects.all():
        assert sorted(series.appointments.values_list("dose_number", flat=True)) == [1, 2]
    # Places are left but no dose 2: no next wave, and the staff see why and each dose 2.
    later = NOW + timedelta(minutes=21)
    waitlist_tick(now=later)
    assert leftover.offers.count() == 6
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=later)
    assert (board.accepted, board.free, board.offerable, board.dose2_short) == (2, 2, 0, True)
    dose2 = {offer.pk: slot for offer, slot in board.rows if slot is not None}
    assert set(dose2) == {offers[0].pk, offers[1].pk}
    assert {slot.site_id for slot in dose2.values()} == {site.pk}
    assert {slot.date for slot in dose2.values()} == {NOW.date() + timedelta(days=35)}


def test_second_dose_places_opened_later_are_offered_by_the_next_wave(reference):
    site = leftover_site(code="comirnaty", doses=100)
    dose2_day = NOW.date() + timedelta(days=35)
    # One second-dose place in the interval, for five leftover doses.
    open_session(site, day=dose2_day, dose_number=2, end=time(9, 10), lines=1)
    for number in range(1, 16):
        join(number)
    leftover = declare(site, doses=5, code="comirnaty")
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=NOW)
    assert (board.free, board.offerable, board.dose2.places) == (5, 1, 1)
    assert (board.dose2.first, board.dose2.last) == (
        NOW.date() + timedelta(days=21),
        NOW.date() + timedelta(days=49),
    )
    # A wave for the one place that has its dose 2: three people.
    assert leftover.offers.count() == 3
    first = leftover.offers.order_by("pk").first()
    assert offer_accept(offer_id=first.pk, now=NOW + timedelta(minutes=2)).accepted
    # The staff open a second-dose session of two places (a second-dose session is also
    # what the read model counts); the wave still running, nothing more goes yet.
    open_session(site, day=dose2_day + timedelta(days=1), dose_number=2, end=time(9, 10), lines=2)
    assert waitlist_tick(now=NOW + timedelta(minutes=5)).offers_sent == 0
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=NOW + timedelta(minutes=5))
    assert (board.free, board.offerable, board.dose2_short) == (4, 2, True)
    # Once the wave's offers are over, the next one offers the two newly covered places.
    later = NOW + timedelta(minutes=21)
    assert waitlist_tick(now=later).offers_sent == 6
    assert leftover.offers.filter(wave=2).count() == 6
    offers = list(leftover.offers.filter(wave=2).order_by("pk"))
    answers = [offer_accept(offer_id=o.pk, now=later + timedelta(minutes=1)) for o in offers[:3]]
    assert [answer.accepted for answer in answers] == [True, True, False]
    leftover.refresh_from_db()
    assert leftover.accepted == 3
    for series in Series.objects.all():
        assert sorted(series.appointments.values_list("dose_number", flat=True)) == [1, 2]


def test_the_board_shows_offered_accepted_free_with_names_and_arrival_times(reference):
    site = leftover_site()
    for number in (1, 2, 3, 4):
        join(number)
    leftover = declare(site, doses=2)
    first = leftover.offers.first()
    offer_accept(offer_id=first.pk, now=NOW + timedelta(minutes=1))
    board = leftover_board(site_id=site.pk, leftover_id=leftover.pk, now=NOW + timedelta(minutes=1))
    assert (board.offered, board.accepted, board.free) == (3, 1, 1)
    accepted = [o for o in board.offers if o.status == Offer.Status.ACCEPTED]
    # The longest on the list first (one band, one distance); arriving in their notice.
    assert accepted[0].entry.given_name == "Personne4"
    assert accepted[0].slot.end > NOW + timedelta(minutes=31)
    with pytest.raises(NotFound):
        leftover_board(site_id=site.pk + 1, leftover_id=leftover.pk)


def test_the_worker_command_runs_one_step(reference, monkeypatch):
    site = leftover_site()
    join(1)
    declare(site, doses=1)
    monkeypatch.setattr(
        "creneau.waitlist.services.timezone.now", lambda: NOW + timedelta(minutes=21)
    )
    out = io.StringIO()
    call_command("waitlist_tick", stdout=out)
    assert out.getvalue().startswith("1 offer(s) expired, 0 sent")
    assert Offer.objects.get().status == Offer.Status.EXPIRED


def test_the_retention_purge_keeps_a_contact_waiting_on_the_list(reference):
    entry = join(1)
    later = timezone.now() + timedelta(days=3)
    retention_purge(now=later, audit=False)
    assert Contact.objects.filter(pk=entry.contact_id).exists()
    waitlist_leave(entry_id=entry.pk)
    retention_purge(now=later, audit=False)
    assert not Contact.objects.filter(pk=entry.contact_id).exists()
