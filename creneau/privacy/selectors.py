"""What Créneau holds about a person (their right of access), and what the retention
purge may take: each rule a query, read again under the purge's locks before it acts."""

from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import Exists, OuterRef, Q, QuerySet

from creneau.alerts.models import Subscription
from creneau.booking import tokens
from creneau.booking.holders import contact_holders
from creneau.booking.models import Appointment, Contact, Person, Series
from creneau.campaigns.selectors import invitee_data, invitees_of_person
from creneau.care.models import Administration
from creneau.eligibility.selectors import category_labels
from creneau.outreach.models import Notification
from creneau.waitlist.models import Offer, WaitlistEntry


def persons_due(*, before: datetime) -> QuerySet[Person]:
    """Persons whose every course ended before `before` (completed or cancelled, nothing
    about it changed since, no appointment of it at or after that time), or who never
    had one: what the retention purge erases.

    A series' `updated_at` is not enough to say when it ended (the services change series
    with `update()`, which leaves it), so the appointments' own changes and times count
    too (a cancelled one's time does not: it will not take place). A person with an active
    course is never due, however old their other ones."""
    recent_series = Series.objects.filter(person=OuterRef("pk")).filter(
        Q(status=Series.Status.ACTIVE) | Q(updated_at__gte=before) | Q(created_at__gte=before)
    )
    recent_appointments = Appointment.objects.filter(person=OuterRef("pk")).filter(
        Q(updated_at__gte=before)
        | (Q(slot__start__gte=before) & ~Q(status=Appointment.Status.CANCELLED))
    )
    return Person.objects.filter(created_at__lt=before).exclude(
        Exists(recent_series) | Exists(recent_appointments)
    )


def contacts_unused(*, before: datetime) -> QuerySet[Contact]:
    """Contacts nobody books for (never verified, verified and never used, or whose
    persons are gone) and untouched since `before`: no code sent, no verification."""
    unused = (
        Contact.objects.filter(created_at__lt=before)
        .exclude(Q(verified_at__gte=before) | Q(code_sent_at__gte=before))
        .exclude(Exists(Person.objects.filter(contact=OuterRef("pk"))))
        .exclude(Exists(Series.objects.filter(contact=OuterRef("pk"))))
    )
    return contacts_not_held(unused)


def contacts_not_held(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """`contacts` but those that rows of other apps still use (booking.holders: an active
    entry on the waiting list, a relative's perhaps)."""
    for holder in contact_holders():
        rows = apps.get_model(holder.model).objects.filter(
            **{holder.field: OuterRef("pk")}, **holder.conditions
        )
        contacts = contacts.exclude(Exists(rows))
    return contacts


def series_messages_q(references: list[str]) -> Q:
    """The outbox rows of these courses: their events are named after the reference."""
    condition = Q(pk__in=[])
    for reference in references:
        condition |= Q(event__startswith=f"series:{reference}:")
    return condition


def waitlist_messages_q(*, entry_ids: list[int], offer_ids: list[int]) -> Q:
    """The outbox rows about these entries and offers of the waiting list (their events
    name them: waitlist.services)."""
    condition = Q(event__in=[f"waitlist-offer:{pk}" for pk in offer_ids])
    for pk in entry_ids:
        condition |= Q(event__startswith=f"waitlist:{pk}:")
    return condition


def alert_messages_q(*, subscription_ids: list[int]) -> Q:
    """The outbox rows about these alerts: the confirmation and the places' messages name
    the alert (the places' message, the alert whose person it names: alerts.services)."""
    condition = Q(pk__in=[])
    for pk in subscription_ids:
        condition |= Q(event__startswith=f"alert:{pk}:")
    return condition


def person_subscriptions(*, person: Person) -> QuerySet[Subscription]:
    """A person's alerts, whatever the contact that subscribed them: the same blind index
    as the person's (booking.persons.person_index)."""
    return Subscription.objects.filter(person_key=person.match_key)


def person_entries(*, person: Person) -> QuerySet[WaitlistEntry]:
    """A person's entries on the waiting list, whatever the contact that registered them:
    the same blind index as the person's (booking.persons.person_index)."""
    return WaitlistEntry.objects.filter(person_key=person.match_key)


def person_data(*, person: Person) -> dict[str, Any]:
    """Everything held about a person, in plain values (their right of access, shown as
    a page and given as JSON, dates and times as Python's, for the page to format and the
    JSON encoder to write): who they are, the contact that books for them, each course
    with its appointments and the doses given, their entries on the waiting list with the
    offers made to them, their alerts (any contact's), the messages sent about them (not
    their text, which the outbox does not keep for long), and what an invitation
    campaign's population file said of them with the invitations sent (campaigns'
    invitees of the same names and birth date)."""
    contact = person.contact
    courses = list(
        Series.objects.filter(person=person).select_related("site", "vaccine").order_by("pk")
    )
    appointments = {
        series.pk: list(
            Appointment.objects.filter(series=series)
            .select_related("slot", "slot__site")
            .order_by("dose_number", "pk")
        )
        for series in courses
    }
    given = {
        administration.appointment_id: administration
        for administration in Administration.objects.filter(
            appointment__person=person, withdrawn_at__isnull=True
        ).select_related("vaccine")
    }
    entries = list(
        person_entries(person=person).select_related("contact").prefetch_related("vaccines")
    )
    offers = list(
        Offer.objects.filter(entry__in=entries)
        .select_related("leftover__site", "leftover__vaccine")
        .order_by("sent_at", "pk")
    )
    subscriptions = list(
        person_subscriptions(person=person).select_related("contact", "vaccine").order_by("pk")
    )
    messages = Notification.objects.filter(
        series_messages_q([series.reference for series in courses])
        | waitlist_messages_q(
            entry_ids=[entry.pk for entry in entries], offer_ids=[offer.pk for offer in offers]
        )
        | alert_messages_q(subscription_ids=[subscription.pk for subscription in subscriptions])
    ).order_by("pk")
    return {
        "person": {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "birth_date": person.birth_date,
            "categories": list(person.categories),
            "category_labels": category_labels(codes=person.categories),
            "created_at": person.created_at,
        },
        "contact": {
            "channel": contact.channel,
            "address": contact.address,
            "landline": contact.landline,
            "language": contact.language,
            "created_at": contact.created_at,
            "verified_at": contact.verified_at,
        },
        "courses": [
            {
                "reference": tokens.reference_display(series.reference),
                "vaccine": series.vaccine.name,
                "site": series.site.name,
                "site_address": ", ".join(
                    part for part in (series.site.address, series.site.postcode) if part
                ),
                "status": series.status,
                "status_label": str(series.get_status_display()),
                "override_reason": series.override_reason,
                "cancel_reason": series.cancel_reason,
                "created_at": series.created_at,
                "appointments": [
                    {
                        "dose_number": appointment.dose_number,
                        "start": appointment.slot.start,
                        "site": appointment.slot.site.name,
                        "status": appointment.status,
                        "status_label": str(appointment.get_status_display()),
                        "dose_given": _dose(given.get(appointment.pk)),
                    }
                    for appointment in appointments[series.pk]
                ],
            }
            for series in courses
        ],
        "waitlist": [
            {
                "place": entry.place_label,
                "radius_km": entry.radius_km,
                "windows": entry.windows,
                "notice_minutes": entry.notice_minutes,
                "vaccines": sorted(vaccine.name for vaccine in entry.vaccines.all()),
                "contact": entry.contact.address,
                "status": entry.status,
                "status_label": str(entry.get_status_display()),
                "joined_at": entry.joined_at,
                "expires_at": entry.expires_at,
                "ended_at": entry.ended_at,
                "offers": [
                    {
                        "site": offer.leftover.site.name,
                        "vaccine": offer.leftover.vaccine.name,
                        "distance_km": offer.distance_km,
                        "status": offer.status,
                        "status_label": str(offer.get_status_display()),
                        "sent_at": offer.sent_at,
                        "expires_at": offer.expires_at,
                        "answered_at": offer.answered_at,
                    }
                    for offer in offers
                    if offer.entry_id == entry.pk
                ],
            }
            for entry in entries
        ],
        "alerts": [
            {
                "place": subscription.place_label,
                "radius_km": subscription.radius_km,
                "vaccine": subscription.vaccine.name,
                "dose_number": subscription.dose_number,
                "dose1_on": subscription.dose1_on,
                "contact": subscription.contact.address,
                "status": subscription.status,
                "status_label": str(subscription.get_status_display()),
                "created_at": subscription.created_at,
                "expires_at": subscription.expires_at,
                "ended_at": subscription.ended_at,
            }
            for subscription in subscriptions
        ],
        "messages": [
            {
                "kind": message.kind,
                "kind_label": str(message.get_kind_display()),
                "channel": message.channel,
                "to": message.to,
                "status": message.status,
                "status_label": str(message.get_status_display()),
                "created_at": message.created_at,
                "sent_at": message.sent_at,
            }
            for message in messages
        ],
        "invitees": [
            invitee_data(invitee=invitee)
            for invitee in invitees_of_person(person=person).order_by("pk")
        ],
    }


def _dose(administration: Administration | None) -> dict[str, Any] | None:
    if administration is None:
        return None
    return {
        "vaccine": administration.vaccine.name,
        "lot": administration.lot,
        "given_at": administration.given_at,
    }
