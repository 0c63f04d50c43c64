"""Personal data kept no longer than needed: the daily retention purge, and a person's
erasure at their own request (the portal, after the code; the call centre, for a caller).

Both erase a person's booking identity with one function, `_persons_erase`: the doses
given stay for the medical record, detached (care's `administrations_detach`: product,
lot, time, site, dose number and a pseudonymous reference, no name); a cancellation's
counts stay (its items lose their course); the audit log keeps its own period. Every
purge works in batches, each a short transaction of its own, so that purging millions of
rows never holds a lock for long, and each batch reads its rule again under its locks
(contact, then series: booking's lock order), so that a course booked meanwhile is
never touched. Running it twice purges nothing more.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from creneau.alerts.models import Subscription
from creneau.audit.services import audit_purge, audit_record
from creneau.booking.models import (
    Appointment,
    CancellationItem,
    Contact,
    ContactVerification,
    IdempotencyKey,
    Person,
    Series,
)
from creneau.booking.services import booking_cancel, holds_expire
from creneau.campaigns.selectors import invitees_due, invitees_of_person
from creneau.campaigns.services import erased_invitees_purge, invitees_erase, invitees_purge
from creneau.care.services import administrations_detach
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import NotFound
from creneau.onboarding.models import Application
from creneau.outreach.models import Notification, notification_to_index
from creneau.waitlist.models import Offer, WaitlistEntry

from .selectors import (
    alert_messages_q,
    contacts_not_held,
    contacts_unused,
    person_entries,
    person_subscriptions,
    persons_due,
    series_messages_q,
    waitlist_messages_q,
)

# The messages that may go: delivered (or given up on, not sent to an address that
# opted out, or withdrawn). One still to send stays.
MESSAGES_DONE = (
    Notification.Status.SENT,
    Notification.Status.DELIVERED,
    Notification.Status.FAILED,
    Notification.Status.OPTED_OUT,
    Notification.Status.WITHDRAWN,
)


def _contacts_lock(contact_ids: list[int]) -> None:
    """Booking's lock order starts with the contact: a booking for one of these contacts
    waits for the batch, or the batch for it, and then sees what it committed."""
    list(
        Contact.objects.select_for_update()
        .filter(pk__in=contact_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _persons_erase(
    *, person_ids: list[int], now: datetime, contacts_idle_before: datetime | None = None
) -> dict[str, int]:
    """Erase these persons' booking identity, inside the caller's transaction and under
    its locks: their courses, appointments and the messages sent about them, the persons,
    and their contacts when nobody else books through them nor waits on the list with
    them (and, with
    `contacts_idle_before`, when no code went to them nor was confirmed since: someone
    verified it to book right now; the unused contacts' rule takes it later). What the
    law keeps stays: the doses given (detached, pseudonymous), a cancellation's counts."""
    series = list(Series.objects.filter(person_id__in=person_ids).values_list("pk", "reference"))
    series_ids = [pk for pk, _ in series]
    contact_ids = list(
        Person.objects.filter(pk__in=person_ids).values_list("contact_id", flat=True).distinct()
    )
    counts = {"doses_kept": administrations_detach(person_ids=person_ids, now=now)}
    CancellationItem.objects.filter(series_id__in=series_ids).update(series=None)
    CancellationItem.objects.filter(rebooked_series_id__in=series_ids).update(rebooked_series=None)
    IdempotencyKey.objects.filter(series_id__in=series_ids).delete()
    counts["messages"] = Notification.objects.filter(
        series_messages_q([reference for _, reference in series]), status__in=MESSAGES_DONE
    ).delete()[0]
    # The appointments alone (their reminders' rows go with them, by cascade).
    counts["appointments"] = (
        Appointment.objects.filter(person_id__in=person_ids)
        .delete()[1]
        .get(Appointment._meta.label, 0)
    )
    counts["courses"] = Series.objects.filter(pk__in=series_ids).delete()[0]
    counts["persons"] = Person.objects.filter(pk__in=person_ids).delete()[0]
    unused = (
        contacts_unused(before=contacts_idle_before)
        if contacts_idle_before is not None
        else contacts_not_held(
            Contact.objects.exclude(
                Exists(Person.objects.filter(contact=OuterRef("pk")))
                | Exists(Series.objects.filter(contact=OuterRef("pk")))
            )
        )
    ).filter(pk__in=contact_ids)
    counts["contacts"] = _contacts_delete(unused)
    return counts


def _contacts_delete(contacts: models.QuerySet[Contact]) -> int:
    """Contacts gone with the messages sent to them (their codes) and, by cascade, their
    verifications and idempotency keys; returns how many contacts."""
    indexes = [notification_to_index(a) for a in contacts.values_list("address", flat=True)]
    Notification.objects.filter(to_index__in=indexes, status__in=MESSAGES_DONE).delete()
    return contacts.delete()[1].get(Contact._meta.label, 0)


def _in_batches(
    *, candidates: models.QuerySet, purge: Callable[[list[Any]], int], batch: int
) -> int:
    """Walk `candidates` by primary key, `batch` at a time, each batch purged in a unit
    of work of its own (`purge` reads its rule again inside it). Keyset pagination: a
    candidate the rule no longer takes is passed over, not read again forever."""
    total, after = 0, None
    while True:
        page = candidates.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        ids = list(page.values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        total += unit_of_work(purge)(ids)
        after = ids[-1]


def retention_purge(
    *,
    now: datetime | None = None,
    batch: int | None = None,
    data: bool = True,
    audit: bool = True,
) -> dict[str, int]:
    """The daily purge (`manage.py retention_purge`): each kind of personal data past its
    retention period (settings `RETENTION_*`, `AUDIT_RETENTION_DAYS`; the table in
    docs/operations.md), in batches. Writes one audit event with the count of each kind,
    and returns those counts. `data` and `audit` choose the parts: the audit log's purge
    needs a database role allowed to delete its rows (the tables' owner in production),
    which the rest must not need."""
    now = now or timezone.now()
    batch = batch or settings.RETENTION_BATCH
    counts: dict[str, int] = {}
    if data:
        counts |= _data_purge(now=now, batch=batch)
    if audit:
        counts["audit_events"] = audit_purge(
            before=timezone.localdate(now - timedelta(days=settings.AUDIT_RETENTION_DAYS)),
            batch=batch,
        )
    audit_record(
        actor=None,
        action="delete",
        object_type="privacy.retention",
        summary=gettext("Purge des données arrivées au terme de leur conservation"),
        details=counts,
    )
    return counts


def _data_purge(*, now: datetime, batch: int) -> dict[str, int]:
    """Everything but the audit log, the shortest periods first."""
    counts: dict[str, int] = {}

    counts["sessions"] = _in_batches(
        candidates=Session.objects.filter(expire_date__lt=now),
        purge=lambda ids: Session.objects.filter(pk__in=ids, expire_date__lt=now).delete()[0],
        batch=batch,
    )
    verifications = ContactVerification.objects.filter(
        created_at__lt=now - timedelta(hours=settings.RETENTION_VERIFICATION_HOURS)
    )
    counts["verifications"] = _in_batches(
        candidates=verifications,
        purge=lambda ids: verifications.filter(pk__in=ids).delete()[0],
        batch=batch,
    )
    counts["holds"] = _holds_purge(before=now - timedelta(days=settings.RETENTION_HOLD_DAYS))
    keys = IdempotencyKey.objects.filter(
        created_at__lt=now - timedelta(days=settings.RETENTION_IDEMPOTENCY_DAYS)
    )
    counts["idempotency_keys"] = _in_batches(
        candidates=keys, purge=lambda ids: keys.filter(pk__in=ids).delete()[0], batch=batch
    )

    course_cutoff = now - timedelta(days=settings.RETENTION_COURSE_DAYS)
    contact_cutoff = now - timedelta(hours=settings.RETENTION_CONTACT_UNUSED_HOURS)
    erased: dict[str, int] = {}

    def persons_purge(ids: list[int]) -> int:
        _contacts_lock(list(Person.objects.filter(pk__in=ids).values_list("contact_id", flat=True)))
        list(
            Series.objects.select_for_update()
            .filter(person_id__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        due = list(
            persons_due(before=course_cutoff).filter(pk__in=ids).values_list("pk", flat=True)
        )
        erasure = _persons_erase(person_ids=due, now=now, contacts_idle_before=contact_cutoff)
        for kind, count in erasure.items():
            erased[kind] = erased.get(kind, 0) + count
        return len(due)

    _in_batches(candidates=persons_due(before=course_cutoff), purge=persons_purge, batch=batch)
    counts |= {kind: erased.get(kind, 0) for kind in _ERASED_KINDS}

    def contacts_purge(ids: list[int]) -> int:
        _contacts_lock(ids)
        return _contacts_delete(contacts_unused(before=contact_cutoff).filter(pk__in=ids))

    counts |= _waitlist_purge(
        before=now - timedelta(days=settings.RETENTION_WAITLIST_DAYS), batch=batch
    )
    counts["alerts"] = _alerts_purge(
        before=now - timedelta(days=settings.RETENTION_ALERT_DAYS), batch=batch
    )
    counts["contacts"] += _in_batches(
        candidates=contacts_unused(before=contact_cutoff), purge=contacts_purge, batch=batch
    )
    invitee_cutoff = now - timedelta(days=settings.RETENTION_INVITEE_DAYS)
    invited: dict[str, int] = {}

    def population_purge(ids: list[int]) -> int:
        purged = invitees_purge(ids=ids, before=invitee_cutoff, now=now)
        for kind, count in purged.items():
            invited[kind] = invited.get(kind, 0) + count
        return purged["invitees"]

    _in_batches(candidates=invitees_due(before=invitee_cutoff), purge=population_purge, batch=batch)
    counts |= {kind: invited.get(kind, 0) for kind in _INVITEE_KINDS}
    counts["invitees_erased_kept"] = erased_invitees_purge(before=invitee_cutoff)
    # Decided applications to join (the applicant's name and e-mail): the decision is in
    # the audit log, an approved site lives on.
    applications = Application.objects.exclude(status=Application.Status.PENDING).filter(
        decided_at__lt=now - timedelta(days=settings.RETENTION_APPLICATION_DAYS)
    )
    counts["applications"] = _in_batches(
        candidates=applications,
        purge=lambda ids: applications.filter(pk__in=ids).delete()[0],
        batch=batch,
    )
    messages = Notification.objects.filter(
        status__in=MESSAGES_DONE,
        created_at__lt=now - timedelta(days=settings.RETENTION_MESSAGE_DAYS),
    )
    counts["messages"] += _in_batches(
        candidates=messages, purge=lambda ids: messages.filter(pk__in=ids).delete()[0], batch=batch
    )
    return counts


# What `_persons_erase` counts, in the order the purge reports them.
_ERASED_KINDS = ("persons", "contacts", "courses", "appointments", "messages", "doses_kept")
# What `invitees_erase` counts.
_INVITEE_KINDS = ("invitees", "invitations", "invitation_messages")


def _waitlist_purge(*, before: datetime, batch: int) -> dict[str, int]:
    """The waiting list's rows past their period: entries off the list (left, expired,
    served) since before `before`, with their offers, and offers whose time ended before
    it, whoever they went to (an active entry keeps its wishes, not its old offers). The
    declarations stay: counts, no person. (The messages go by their own rule.)"""
    ended = WaitlistEntry.objects.exclude(status=WaitlistEntry.Status.ACTIVE).filter(
        ended_at__lt=before
    )
    old_offers = Offer.objects.filter(expires_at__lt=before)
    return {
        "waitlist_entries": _in_batches(
            candidates=ended,
            purge=lambda ids: _count(ended.filter(pk__in=ids).delete(), WaitlistEntry),
            batch=batch,
        ),
        "waitlist_offers": _in_batches(
            candidates=old_offers,
            purge=lambda ids: old_offers.filter(pk__in=ids).delete()[0],
            batch=batch,
        ),
    }


def _alerts_purge(*, before: datetime, batch: int) -> int:
    """Alerts ended (stopped, booked, expired) before `before`. A running one keeps its
    wishes; its contact's claim row (`AlertContact`: when it was last told) goes with the
    contact. (The messages go by their own rule.)"""
    ended = Subscription.objects.exclude(status=Subscription.Status.ACTIVE).filter(
        ended_at__lt=before
    )
    return _in_batches(
        candidates=ended,
        purge=lambda ids: ended.filter(pk__in=ids).delete()[0],
        batch=batch,
    )


def _count(deleted: tuple[int, dict[str, int]], model: type[models.Model]) -> int:
    """Rows of `model` among what a delete removed (the rest went by cascade)."""
    return deleted[1].get(model._meta.label, 0)


def _entries_erase(*, person: Person) -> int:
    """A person's entries on the waiting list, whatever contact registered them, with the
    offers made to them and the messages about both that were sent; returns the entries.
    A declaration keeps its counts."""
    entries = person_entries(person=person)
    entry_ids = list(entries.values_list("pk", flat=True))
    offer_ids = list(Offer.objects.filter(entry_id__in=entry_ids).values_list("pk", flat=True))
    Notification.objects.filter(
        waitlist_messages_q(entry_ids=entry_ids, offer_ids=offer_ids), status__in=MESSAGES_DONE
    ).delete()
    return _count(entries.delete(), WaitlistEntry)


def _subscriptions_erase(*, person: Person) -> int:
    """A person's alerts, whatever contact subscribed them, with the messages about them
    that were sent; returns the alerts."""
    subscriptions = person_subscriptions(person=person)
    ids = list(subscriptions.values_list("pk", flat=True))
    Notification.objects.filter(
        alert_messages_q(subscription_ids=ids), status__in=MESSAGES_DONE
    ).delete()
    return subscriptions.delete()[0]


def _holds_purge(*, before: datetime) -> int:
    """Holds expired before `before` that nothing gave back yet: given back now through
    booking's own release (their places return to their slots), a thousand at a time,
    each in its own short transaction."""
    total = 0
    while released := holds_expire(now=before):
        total += released
    return total


@unit_of_work
def person_erase(
    *, series_id: int, actor: Actor | None = None, now: datetime | None = None
) -> dict[str, int]:
    """A person's right to erasure, for the course `series_id` names (opened by the person
    with its link or a code, or by an agent for a caller): every course of theirs still
    active is cancelled through booking's own cancellation (places and doses given back,
    the contact told, as for any cancellation; refused, and nothing erased, when it may
    not be, e.g. the person is checked in at the site), then their entries on the waiting
    list (with the offers made to them), their alerts, and their booking identity are erased as the
    retention purge erases it, and their contact too when nobody else books through it;
    so are they in invitation campaigns' population (campaigns' invitees_erase: the same
    row imported again does not bring them back, a changed one does). The doses given
    stay, detached. One audit event (`actor`: the agent, or None for the person
    themself). Returns the counts of what went."""
    now = now or timezone.now()
    series = Series.objects.select_related("site").filter(pk=series_id).first()
    if series is not None:
        _contacts_lock([series.contact_id])
    # Read again under the contact's lock: an erasure of the same person (a double click,
    # two tabs) that committed meanwhile has taken it.
    if series is None or not Series.objects.filter(pk=series_id).exists():
        raise NotFound(gettext("Rendez-vous introuvable : ses données sont peut-être effacées."))
    person_id = series.person_id
    active = Series.objects.filter(person_id=person_id, status=Series.Status.ACTIVE)
    cancelled = 0
    for pk in active.order_by("pk").values_list("pk", flat=True):
        booking_cancel(
            series_id=pk,
            reason=gettext("Données effacées à la demande de la personne"),
            actor=actor,
            now=now,
        )
        cancelled += 1
    # The same person in an invitation campaign's population, found before the person
    # goes (their link to the invitee goes with them).
    invitees = list(invitees_of_person(person=series.person).values_list("pk", flat=True))
    waitlist = _entries_erase(person=series.person)
    alerts = _subscriptions_erase(person=series.person)
    counts = {
        "cancelled": cancelled,
        "waitlist_entries": waitlist,
        "alerts": alerts,
        **_persons_erase(person_ids=[person_id], now=now),
    }
    counts |= invitees_erase(invitee_ids=invitees, now=now, remember=True)
    audit_record(
        actor=actor,
        action="delete",
        object_type="booking.person",
        object_id=person_id,
        site=series.site,
        summary=gettext("Données personnelles effacées à la demande de la personne"),
        details=counts,
    )
    return counts
