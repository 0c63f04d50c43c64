"""The waiting list in a person's rights and in the retention purge: their entries and
the offers made to them are shown and given with the rest of their data, erased with
them (whatever contact registered them, a relative's kept), and purged a period after
they left the list."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from creneau.booking.models import Contact
from creneau.outreach.models import Notification
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase, retention_purge
from creneau.waitlist.models import Offer, WaitlistEntry
from creneau.waitlist.services import offer_accept, waitlist_leave
from tests.waitlist.helpers import NOW, declare, join, leftover_site

pytestmark = pytest.mark.django_db

PHONE = "+33611111111"


def _messages_about(entry: WaitlistEntry, offer: Offer):
    return Notification.objects.filter(
        Q(event__startswith=f"waitlist:{entry.pk}:") | Q(event=f"waitlist-offer:{offer.pk}")
    )


def test_the_data_held_lists_the_entries_and_the_offers_made(reference):
    site = leftover_site()
    entry = join(1)
    offer = declare(site, doses=1).offers.get()
    answer = offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=2))
    data = person_data(person=answer.booking.series.person)
    (held,) = data["waitlist"]
    assert (held["place"], held["radius_km"], held["status"]) == (entry.place_label, 10, "served")
    assert held["vaccines"] == ["COVID-19 Vaccine Janssen", "Comirnaty"]
    assert held["contact"] == entry.contact.address
    assert [(o["site"], o["status"]) for o in held["offers"]] == [(site.name, "accepted")]
    kinds = {message["kind"] for message in data["messages"]}
    assert {"waitlist_joined", "waitlist_offer", "booking_confirmed"} <= kinds


def test_erasure_takes_the_entries_and_offers_and_their_messages_but_not_a_relatives(reference):
    site = leftover_site()
    # An earlier entry of the same person, from another phone, left since.
    earlier = join(1, phone="+33622222222", now=NOW - timedelta(days=3))
    waitlist_leave(entry_id=earlier.pk, now=NOW - timedelta(days=2))
    entry = join(1, phone=PHONE)
    relative = join(2, phone=PHONE)
    leftover = declare(site, doses=1)
    offer = leftover.offers.get(entry=entry)
    answer = offer_accept(offer_id=offer.pk, now=NOW + timedelta(minutes=2))
    Notification.objects.update(status="sent", sent_at=timezone.now())
    assert _messages_about(entry, offer).exists()

    counts = person_erase(series_id=answer.booking.series.pk, now=NOW + timedelta(minutes=3))

    assert counts["waitlist_entries"] == 2
    assert list(WaitlistEntry.objects.values_list("pk", flat=True)) == [relative.pk]
    assert list(Offer.objects.values_list("entry_id", flat=True)) == [relative.pk]
    assert not _messages_about(entry, offer).exists()
    assert not _messages_about(earlier, offer).exists()
    # The relative still waits through the same phone: the contact stays.
    assert Contact.objects.filter(pk=relative.contact_id).exists()
    assert Notification.objects.filter(event__startswith=f"waitlist:{relative.pk}:").exists()
    leftover.refresh_from_db()
    assert leftover.accepted == 1  # a declaration keeps its counts


def test_entries_off_the_list_and_old_offers_go_after_their_period(reference, settings):
    site = leftover_site()
    # One phone for both (a contact nobody uses goes after a day, its entries with it).
    left = join(1, phone=PHONE)
    waitlist_leave(entry_id=left.pk, now=NOW)
    waiting = join(2, phone=PHONE)
    offer = declare(site, doses=1).offers.get()
    assert offer.entry_id == waiting.pk

    early = retention_purge(now=NOW + timedelta(days=29), audit=False)
    assert (early["waitlist_entries"], early["waitlist_offers"]) == (0, 0)
    assert WaitlistEntry.objects.count() == 2 and Offer.objects.exists()

    counts = retention_purge(now=NOW + timedelta(days=31), audit=False)
    assert (counts["waitlist_entries"], counts["waitlist_offers"]) == (1, 1)
    # Still on the list: its wishes stay, not its old offers.
    assert list(WaitlistEntry.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not Offer.objects.exists()
    again = retention_purge(now=NOW + timedelta(days=31), audit=False)
    assert (again["waitlist_entries"], again["waitlist_offers"]) == (0, 0)

    settings.RETENTION_WAITLIST_DAYS = 60
    join(3, phone=PHONE)  # still waiting: the contact stays
    waitlist_leave(entry_id=waiting.pk, now=NOW + timedelta(days=31))
    assert retention_purge(now=NOW + timedelta(days=61), audit=False)["waitlist_entries"] == 0
    assert retention_purge(now=NOW + timedelta(days=92), audit=False)["waitlist_entries"] == 1
