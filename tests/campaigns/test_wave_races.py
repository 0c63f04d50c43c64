"""Workers sending the same campaign's wave at once, on SQLite and PostgreSQL: each
person is invited once, and each invitation is one message."""

from collections import Counter
from datetime import date

import pytest

from creneau.campaigns.models import Campaign, Invitation
from creneau.campaigns.services import campaign_status_change, campaign_wave_send
from creneau.outreach.models import Notification
from tests.concurrency.racers import race_threads
from tests.factories import STAFF

from .conftest import over_75
from .test_campaigns import TUESDAY, free_places

pytestmark = pytest.mark.concurrency


@pytest.fixture
def running(reference_committed):
    from creneau.campaigns.services import campaign_create, population_import

    from .conftest import csv_file, line

    population_import(
        stream=csv_file(*(line(f"P{n}", nom=f"Nom{n}x", telephone="") for n in range(40)))
    )
    free_places(2)  # 12 first-dose places
    campaign = campaign_create(actor=STAFF, data=over_75(), allowed=None)
    return campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="start")


def test_four_workers_sending_the_same_wave_invite_each_person_once(running: Campaign):
    results = race_threads(
        4, lambda _index: campaign_wave_send(campaign_id=running.pk, now=TUESDAY, limit=5)
    )
    errors = [result for result in results if isinstance(result, Exception)]
    assert not errors, errors
    invited = list(Invitation.objects.values_list("invitee_id", flat=True))
    # 12 places: the first three workers send 5, 5 and 2; the last finds none left.
    assert sorted(results) == [0, 2, 5, 5]
    assert len(invited) == 12 and max(Counter(invited).values()) == 1
    assert Notification.objects.filter(kind="invitation").count() == 12


def test_authorities_pausing_and_stopping_at_once_each_change_is_audited_once(
    running: Campaign,
):
    from creneau.audit.models import AuditEvent
    from creneau.core.errors import DomainError

    before = AuditEvent.objects.count()
    actions = ["pause", "pause", "stop", "stop"]
    results = race_threads(
        4,
        lambda index: campaign_status_change(
            actor=STAFF, campaign_id=running.pk, action=actions[index]
        ),
    )
    assert all(isinstance(result, Campaign | DomainError) for result in results), results
    successes = [result for result in results if isinstance(result, Campaign)]
    # One pause at most, one stop exactly (a stop leaves a paused campaign too).
    assert 1 <= len(successes) <= 2
    assert AuditEvent.objects.count() - before == len(successes)
    assert Campaign.objects.get().status == "stopped"


def test_two_uses_of_one_code_at_once_book_one_course(reference_committed):
    """The invitation is claimed in the booking's transaction (locked first on
    PostgreSQL, one writer at a time on SQLite): one wins, the other is told it was used,
    and only the winner's places stay taken."""
    from creneau.booking.models import Hold, Series
    from creneau.booking.services import PersonData, hold_create
    from creneau.campaigns.services import campaign_create, invitation_book, population_import
    from creneau.core.errors import DomainError
    from tests.factories import verified_contact

    from .conftest import csv_file, line

    population_import(stream=csv_file(line("L1", "Moreau", "Luc", "1945-01-01")))
    _site, session = free_places(2)
    campaign = campaign_create(actor=STAFF, data=over_75(), allowed=None)
    campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="start")
    campaign_wave_send(campaign_id=campaign.pk, now=TUESDAY)
    invitation = Invitation.objects.get()
    slots = list(session.slots.order_by("start")[:2])
    holds = [hold_create(slot_id=slot.pk).hold.pk for slot in slots]
    contacts = [verified_contact("+33611111111"), verified_contact("+33622222222")]
    luc = PersonData(given_name="Luc", family_name="Moreau", birth_date=date(1945, 1, 1))

    results = race_threads(
        2,
        lambda index: invitation_book(
            invitation_id=invitation.pk, hold_id=holds[index], contact=contacts[index], person=luc
        ),
    )
    assert all(not isinstance(r, Exception) or isinstance(r, DomainError) for r in results)
    booked = [r for r in results if not isinstance(r, Exception)]
    created = [r for r in booked if r.created]
    assert len(created) == 1
    assert Series.objects.count() == 1
    assert Invitation.objects.get().series == created[0].series
    assert not Hold.objects.exists()
