"""Alerts when places open: subscribing (a verified contact, one running alert per contact
and person), stopping (the link in every alert), and the worker's pass that matches the
places that opened to the running alerts and tells each contact at most once in 6 hours.

The pass reads the availability read model's changes (`DayAvailability.opened_at`, set by
the statement that raised `free`), never inside a booking's transaction: a booking only
stamps its row. Its own transactions are short, one per chunk of contacts: the contacts'
`AlertContact` rows claimed by one conditional UPDATE (`last_sent_at` older than 6 hours),
then their outbox rows. Two workers matching the same places at once: the second UPDATE
waits for the first's row locks (PostgreSQL) or its turn to write (SQLite), then finds the
rows recent and claims none, so one message goes.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.booking.models import Appointment, Contact
from creneau.booking.persons import person_index
from creneau.booking.selectors import dose1_elsewhere_check
from creneau.booking.services import PersonData
from creneau.booking.services.bookings import _person_validate
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work, update_returning
from creneau.core.errors import InvalidInput, NotFound
from creneau.geography.selectors import Place
from creneau.outreach.models import Priority
from creneau.outreach.rendering import Secret
from creneau.outreach.services import (
    OutboxMessage,
    notification_enqueue,
    notifications_enqueue_many,
)
from creneau.scheduling.selectors import availability_opened
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

from .errors import AlreadySubscribed
from .messages import STOP_LINK
from .models import DOSE_NUMBERS, MAX_RADIUS_KM, AlertContact, AlertScan, Subscription
from .selectors import CHUNK, Match, subscriptions_booked, subscriptions_matching
from .tokens import MAX_IDS

SUBSCRIPTION_DAYS = 30
ALERT_HOURS = 6
# Changes are read again for this long after a pass: a transaction that stamped its row
# before the pass began but committed after it is seen by the next one. Reading a change
# twice sends nothing twice (the 6 hours).
SCAN_LAG = timedelta(minutes=2)
# The first pass ever reads this far back.
SCAN_FIRST = timedelta(minutes=10)
# AlertScan's one row.
SCAN = 1
SITES_PER_MESSAGE = 3
# Contacts claimed per transaction.
SEND_CHUNK = 500
CHANNELS = (Contact.Channel.SMS, Contact.Channel.EMAIL)
SUBSCRIBED = "alert_subscribed"
ALERT = "alert_places"


# Subscribing, stopping --------------------------------------------------------------------


@dataclass(frozen=True)
class Wishes:
    """What an alert is for, checked: the vaccine, the dose and, for a dose 2, its days."""

    vaccine: Vaccine
    dose_number: int
    dose1_on: date | None = None
    window_from: date | None = None
    window_to: date | None = None


def alert_wishes_check(
    *,
    radius_km: int,
    vaccine_code: str,
    dose_number: int,
    dose1_on: date | None = None,
    now: datetime | None = None,
) -> Wishes:
    """The checks of alert_subscribe on what is wished, for a page to answer before it
    sends a code: each refusal on its field."""
    today = timezone.localdate(now or timezone.now())
    if not 1 <= radius_km <= MAX_RADIUS_KM:
        raise InvalidInput(
            gettext("La distance va de 1 à %(max)d km.") % {"max": MAX_RADIUS_KM},
            field="radius_km",
        )
    code = (vaccine_code or "").strip().lower()
    vaccine = Vaccine.objects.filter(code=code[:30], active=True).first()
    if vaccine is None:
        names = ", ".join(Vaccine.objects.filter(active=True).values_list("name", flat=True))
        raise InvalidInput(
            gettext("Vaccin inconnu : choisissez parmi %(names)s.") % {"names": names},
            field="vaccine",
        )
    if dose_number not in DOSE_NUMBERS:
        raise InvalidInput(
            gettext("Choisissez une première dose ou une deuxième dose."), field="dose_number"
        )
    if dose_number == 1:
        return Wishes(vaccine=vaccine, dose_number=1)
    if dose1_on is None:
        raise InvalidInput(
            gettext("Indiquez la date de la première dose reçue ailleurs."), field="dose1_on"
        )
    fields = {"dose1_vaccine": "vaccine", "dose1_date": "dose1_on"}
    try:
        declared = dose1_elsewhere_check(vaccine_code=code, given_on=dose1_on, today=today)
    except InvalidInput as error:
        field = fields.get(error.details.get("field"), "dose1_on")
        raise InvalidInput(error.message, field=field) from None
    return Wishes(
        vaccine=vaccine,
        dose_number=2,
        dose1_on=dose1_on,
        window_from=declared.first,
        window_to=declared.last,
    )


@unit_of_work
def alert_subscribe(
    *,
    contact: Contact,
    person: PersonData,
    place: Place,
    radius_km: int,
    vaccine_code: str,
    dose_number: int = 1,
    dose1_on: date | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Subscription:
    """An alert for 30 days, for a contact verified by a code, or by a call-centre agent
    who read it back to the caller (`actor`, recorded): at most one running per contact
    and person (a constraint). A message confirms it, with the link to stop it."""
    now = now or timezone.now()
    if contact.channel not in CHANNELS:
        raise InvalidInput(
            gettext("Les alertes partent par SMS ou e-mail : il faut un mobile ou un e-mail."),
            field="contact",
        )
    person = _person_validate(person, today=timezone.localdate(now))
    wishes = alert_wishes_check(
        radius_km=radius_km,
        vaccine_code=vaccine_code,
        dose_number=dose_number,
        dose1_on=dose1_on,
        now=now,
    )
    key = person_index(
        given_name=person.given_name, family_name=person.family_name, birth_date=person.birth_date
    )
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                contact=contact,
                given_name=person.given_name,
                family_name=person.family_name,
                birth_date=person.birth_date,
                person_key=key,
                place_label=place.label[:100],
                latitude=place.position.latitude,
                longitude=place.position.longitude,
                radius_km=radius_km,
                vaccine=wishes.vaccine,
                dose_number=wishes.dose_number,
                dose1_on=wishes.dose1_on,
                window_from=wishes.window_from,
                window_to=wishes.window_to,
                created_at=now,
                expires_at=now + timedelta(days=SUBSCRIPTION_DAYS),
            )
    except IntegrityError:
        raise AlreadySubscribed(
            gettext(
                "Cette personne a déjà une alerte avec ce téléphone ou cet e-mail. Pour la "
                "changer, arrêtez-la avec le lien d'un message ou ci-dessous, puis créez-en une "
                "autre."
            )
        ) from None
    AlertContact.objects.bulk_create([AlertContact(contact=contact)], ignore_conflicts=True)
    with translation.override(contact.language):
        expires = formats.date_format(timezone.localtime(subscription.expires_at), "j F Y")
    notification_enqueue(
        channel=contact.channel,
        to=contact.address,
        kind=SUBSCRIBED,
        event=f"alert:{subscription.pk}:subscribed",
        context={
            **_subscription_context(subscription),
            "expires": expires,
            "stop_url": Secret(STOP_LINK, str(subscription.pk)),
        },
        language=contact.language,
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            obj=subscription,
            summary=gettext("Alerte de créneaux créée par téléphone"),
        )
    return subscription


def _subscription_context(subscription: Subscription) -> dict:
    return {
        "person_name": f"{subscription.given_name} {subscription.family_name}",
        "place": subscription.place_label,
        "radius_km": subscription.radius_km,
        "vaccine": subscription.vaccine.name,
        "dose_number": subscription.dose_number,
        "search_url": _search_url(subscription),
    }


def _search_url(subscription: Subscription) -> str:
    """The search that shows the places an alert is about (no secret in it)."""
    query = {
        "near": subscription.place_label,
        "vaccine": subscription.vaccine.code,
        "radius_km": subscription.radius_km,
    }
    if subscription.dose_number == 2:
        query["given_on"] = subscription.dose1_on.isoformat()
        return f"{settings.PUBLIC_URL}/deuxieme-dose/?{urlencode(query)}"
    return f"{settings.PUBLIC_URL}/?{urlencode(query)}"


@unit_of_work
def alerts_stop(
    *, subscription_ids: list[int], contact: Contact | None = None, now: datetime | None = None
) -> int:
    """Stop running alerts (the link of a message: the ids it signed; or a verified
    contact's own, `contact`). Returns how many stopped; 0 when none was running."""
    now = now or timezone.now()
    running = Subscription.objects.filter(
        pk__in=subscription_ids[:CHUNK], status=Subscription.Status.ACTIVE
    )
    if contact is not None:
        running = running.filter(contact=contact)
    return running.update(status=Subscription.Status.STOPPED, ended_at=now)


@unit_of_work
def alert_stop(*, actor: Actor, subscription_id: int, now: datetime | None = None) -> bool:
    """A call-centre agent stops a caller's alert (a staff action). False when it was not
    running any more (stopped from a message's link meanwhile, ended): nothing done, no
    event. An unknown alert is not found."""
    now = now or timezone.now()
    if not Subscription.objects.filter(pk=subscription_id).exists():
        raise NotFound(gettext("Cette alerte n'existe pas."))
    # The conditional update decides: two agents stopping it at once stop it once.
    stopped = Subscription.objects.filter(
        pk=subscription_id, status=Subscription.Status.ACTIVE
    ).update(status=Subscription.Status.STOPPED, ended_at=now)
    if stopped:
        audit_record(
            actor=actor,
            action="change",
            object_type="alerts.subscription",
            object_id=subscription_id,
            summary=gettext("Alerte de créneaux arrêtée par téléphone"),
        )
    return bool(stopped)


# The worker's pass ------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertReport:
    expired: int
    booked: int
    places: int
    matched: int
    sent: int


def alerts_run(*, now: datetime | None = None) -> AlertReport:
    """The worker's step, every minute: alerts past their 30 days end, alerts whose person
    booked end, then the places that opened since the last pass are matched and the
    contacts told (at most once in 6 hours each). Each step its own short transaction."""
    now = now or timezone.now()
    expired = Subscription.objects.filter(
        status=Subscription.Status.ACTIVE, expires_at__lte=now
    ).update(status=Subscription.Status.EXPIRED, ended_at=now)
    scanned_to = AlertScan.objects.filter(pk=SCAN).values_list("scanned_to", flat=True).first()
    since = (scanned_to or now - SCAN_FIRST) - SCAN_LAG
    booked = _booked_end(since=since, now=now)
    opened = availability_opened(since=since, now=now)
    matches = subscriptions_matching(opened=opened, now=now)
    sent = alerts_send(matches=matches, now=now)
    AlertScan.objects.bulk_create([AlertScan(pk=SCAN, scanned_to=now)], ignore_conflicts=True)
    # Forward only: a slow pass that ends after a quicker one leaves its mark alone.
    AlertScan.objects.filter(pk=SCAN, scanned_to__lt=now).update(scanned_to=now)
    return AlertReport(
        expired=expired,
        booked=booked,
        places=len(opened),
        matched=len({match.subscription_id for match in matches}),
        sent=sent,
    )


def _booked_end(*, since: datetime, now: datetime) -> int:
    """Alerts of persons with a course booked since the last pass (its appointments' time,
    on an index) and since they subscribed end: they have their place."""
    keys = Appointment.objects.filter(created_at__gte=since).values("series__person_key")
    candidates = list(
        Subscription.objects.filter(
            status=Subscription.Status.ACTIVE, person_key__in=keys
        ).values_list("pk", flat=True)
    )
    return _end_booked(subscription_ids=subscriptions_booked(subscription_ids=candidates), now=now)


def _end_booked(*, subscription_ids: list[int], now: datetime) -> int:
    ended = 0
    for start in range(0, len(subscription_ids), CHUNK):
        ended += Subscription.objects.filter(
            pk__in=subscription_ids[start : start + CHUNK], status=Subscription.Status.ACTIVE
        ).update(status=Subscription.Status.BOOKED, ended_at=now)
    return ended


def alerts_send(*, matches: list[Match], now: datetime) -> int:
    """One message per contact matched and not told in the last 6 hours: the nearest
    sites of its matches and the search's link. Returns the messages written."""
    booked = set(
        subscriptions_booked(subscription_ids=sorted({m.subscription_id for m in matches}))
    )
    _end_booked(subscription_ids=sorted(booked), now=now)
    by_contact: dict[int, list[Match]] = defaultdict(list)
    for match in matches:
        if match.subscription_id not in booked:
            by_contact[match.contact_id].append(match)
    contact_ids = sorted(by_contact)
    sent = 0
    for start in range(0, len(contact_ids), SEND_CHUNK):
        sent += _chunk_send(
            {pk: by_contact[pk] for pk in contact_ids[start : start + SEND_CHUNK]}, now=now
        )
    return sent


@unit_of_work
def _chunk_send(by_contact: dict[int, list[Match]], *, now: datetime) -> int:
    # The claim decides: a contact told less than 6 hours ago (by this pass's twin too) is
    # not returned, and its message is not written.
    claimed = update_returning(
        AlertContact.objects.filter(contact_id__in=list(by_contact)).filter(
            Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=now - timedelta(hours=ALERT_HOURS))
        ),
        last_sent_at=now,
    )
    if not claimed:
        return 0
    contacts = Contact.objects.in_bulk([row.contact_id for row in claimed])
    wanted = {match.subscription_id for row in claimed for match in by_contact[row.contact_id]}
    subscriptions = Subscription.objects.select_related("vaccine").in_bulk(list(wanted))
    site_ids = {match.site_id for row in claimed for match in by_contact[row.contact_id]}
    sites = Site.objects.in_bulk(list(site_ids))
    messages = []
    for row in claimed:
        contact = contacts[row.contact_id]
        matches = sorted(by_contact[row.contact_id], key=lambda m: (m.distance_km, m.site_id))
        nearest: dict[int, Match] = {}
        for match in matches:
            nearest.setdefault(match.site_id, match)
        shown = list(nearest.values())[:SITES_PER_MESSAGE]
        subscription = subscriptions[matches[0].subscription_id]
        messages.append(
            OutboxMessage(
                channel=contact.channel,
                to=contact.address,
                kind=ALERT,
                # Named after the alert whose person it names (one message per contact
                # and pass): a person's access and erasure find it by that alert.
                event=f"alert:{subscription.pk}:places:{now.isoformat()}",
                context={
                    **_subscription_context(subscription),
                    "sites": [
                        {"name": sites[m.site_id].name, "distance_km": m.distance_km} for m in shown
                    ],
                    # The alerts this message is about: its link stops them.
                    "stop_url": Secret(
                        STOP_LINK,
                        ",".join(
                            str(pk) for pk in sorted({m.subscription_id for m in matches})[:MAX_IDS]
                        ),
                    ),
                },
                language=contact.language,
                # An alert is optional: it waits out the quiet hours and an address that
                # said STOP gets none.
                priority=Priority.REMINDER,
            )
        )
    # One opt-out query and one INSERT for the chunk (5,030 messages one at a time took
    # 41 s in bench/waitlist.py).
    notifications_enqueue_many(messages=messages)
    return len(claimed)
