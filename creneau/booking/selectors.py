"""Reads of the booking engine: second-dose options, bookings by reference, credentials."""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core import signing
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.errors import HoldExpired, InvalidInput, NotFound, Unauthorized
from creneau.core.geo import Position
from creneau.geography.selectors import department_timezone
from creneau.scheduling.models import DayAvailability, Session, Slot
from creneau.scheduling.selectors import (
    AvailabilityFilter,
    FreeSlot,
    availability_search,
    slots_next,
)
from creneau.sites.models import Site

from . import tokens
from .actions import (
    DOSE1_FOR_MOVE,
    DOSE1_FOR_REBOOK,
    AppointmentActions,
    CourseActions,
    CourseActor,
    Decision,
    active_by_dose,
    administration_record_decide,
    appointment_check_in_decide,
    appointment_status_refusal,
    booking_cancel_decide,
    booking_dose2_rebook_decide,
    booking_move_decide,
)
from .addresses import contact_address_normalize
from .models import (
    Appointment,
    Cancellation,
    CancellationItem,
    Contact,
    Hold,
    Series,
)

DOSE2_OPTIONS = 8
# Days of second-dose slots looked at, nearest the recommended interval first.
DOSE2_DAYS = 3
CONTACT_TOKEN_MAX_AGE = timedelta(hours=12)
CONTACT_TOKEN_SALT = "creneau.booking.contact"


def dose2_options(*, slot: Slot, now: datetime, limit: int = DOSE2_OPTIONS) -> list[Slot]:
    """Free second-dose slots that fit a first dose in `slot`: same site and vaccine, inside
    the product's interval; the days nearest the recommended interval first, and on each
    day the times nearest the first dose's time (people keep their habits, and holds of
    different first-dose slots spread over different second-dose rows).

    Empty for a one-dose product. The read model picks the days, so this never scans a
    month of slots.
    """
    vaccine = slot.vaccine
    if vaccine.doses_in_series < 2:
        return []
    target = slot.date + timedelta(days=vaccine.interval_recommended_days)
    days = DayAvailability.objects.filter(
        site_id=slot.site_id,
        vaccine_id=vaccine.pk,
        dose_number=2,
        date__gte=slot.date + timedelta(days=vaccine.interval_min_days),
        date__lte=slot.date + timedelta(days=vaccine.interval_max_days),
        free__gt=0,
        last_free_start__gt=now,
    ).values_list("date", flat=True)
    tz = department_timezone(department_code=slot.site.department_id)

    def minute_of_day(moment: datetime) -> int:
        local = moment.astimezone(tz)
        return local.hour * 60 + local.minute

    first_dose_minute = minute_of_day(slot.start)
    options: list[Slot] = []
    # Day by day, as plain tuples: a day has dozens of slots, and only a few are kept.
    for day in sorted(days, key=lambda day: (abs((day - target).days), day))[:DOSE2_DAYS]:
        free = Slot.objects.filter(
            site_id=slot.site_id,
            vaccine_id=vaccine.pk,
            dose_number=2,
            date=day,
            start__gt=now,
            booked__lt=F("capacity"),
        ).values_list("pk", "start", "end")
        nearest = sorted(
            free, key=lambda row: (abs(minute_of_day(row[1]) - first_dose_minute), row[1])
        )
        options += [
            Slot(
                pk=pk,
                site_id=slot.site_id,
                vaccine_id=vaccine.pk,
                dose_number=2,
                date=day,
                start=start,
                end=end,
            )
            for pk, start, end in nearest[: limit - len(options)]
        ]
        if len(options) == limit:
            break
    return options


def contact_authenticate(*, token: str) -> Contact:
    """The contact a token from contact verification proves, or 401."""
    try:
        contact_id = signing.loads(token, salt=CONTACT_TOKEN_SALT, max_age=CONTACT_TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise Unauthorized(
            gettext(
                "Jeton de contact invalide ou expiré : vérifiez de nouveau votre téléphone ou "
                "votre e-mail."
            )
        ) from None
    contact = Contact.objects.filter(pk=contact_id, verified_at__isnull=False).first()
    if contact is None:
        raise Unauthorized(gettext("Ce contact n'est pas vérifié."))
    return contact


def series_authenticate(*, reference: str, token: str) -> Series:
    """The booking a reference names, if the management token opens it.

    A wrong token, a mistyped reference and an unknown one get the same 404: nothing
    tells a guesser which references exist.
    """
    normalized = tokens.reference_normalize(reference)
    series = (
        Series.objects.select_related("person", "contact", "site", "vaccine")
        .filter(reference=normalized)
        .first()
        if normalized
        else None
    )
    if series is None or not tokens.management_token_matches(
        reference=series.reference, salt=series.token_salt, token=token
    ):
        raise NotFound(gettext("Rendez-vous introuvable : vérifiez la référence et le lien reçu."))
    return series


def series_appointments(*, series: Series) -> list:
    return list(series.appointments.select_related("slot").order_by("dose_number", "id"))


def course_actions(
    *, series: Series, appointments: list[Appointment], actor: CourseActor, now: datetime
) -> CourseActions:
    """What `actor` may do now with a course and each of the appointments given (with
    their slots, and the slots' sites for site staff), each "no" with its reason.

    The person and a call-centre agent move, cancel and book a new dose-2 date; site staff
    check people in and record doses, and from the list of the day do nothing else, so
    their answers about the whole course do not read `appointments` (the list passes only
    the appointment it shows).
    """
    doses = range(1, series.vaccine.doses_in_series + 1)
    staff = actor == CourseActor.SITE_STAFF
    if staff:
        elsewhere = Decision(
            gettext(
                "La liste du jour enregistre l'arrivée et la dose ; la personne déplace ou "
                "annule ses rendez-vous en ligne ou par le centre d'appel."
            )
        )
        move, cancel, dose2_rebook = dict.fromkeys(doses, elsewhere), elsewhere, elsewhere
    else:
        move = {
            dose: booking_move_decide(
                series=series, appointments=appointments, dose_number=dose, now=now
            )
            for dose in doses
        }
        cancel = booking_cancel_decide(series=series, appointments=appointments, now=now)
        dose2_rebook = booking_dose2_rebook_decide(series=series, appointments=appointments)
    on_site = Decision(
        gettext("L'arrivée et la dose s'enregistrent sur place, par le lieu de vaccination.")
    )
    active = active_by_dose(appointments=appointments)
    rows = tuple(
        AppointmentActions(
            appointment=appointment,
            # A move takes a dose's appointment still to come; an earlier one stays as it is.
            move=move[appointment.dose_number]
            if active.get(appointment.dose_number) is appointment
            else appointment_status_refusal(appointment=appointment),
            check_in=appointment_check_in_decide(appointment=appointment, now=now)
            if staff
            else on_site,
            give=administration_record_decide(appointment=appointment, given_at=now)
            if staff
            else on_site,
        )
        for appointment in appointments
    )
    return CourseActions(
        series=series, appointments=rows, move=move, cancel=cancel, dose2_rebook=dose2_rebook
    )


def hold_get_live(*, hold_id: str, now: datetime | None = None) -> Hold:
    """A hold still keeping its places, with what a page shows of it, or 410."""
    now = now or timezone.now()
    hold = (
        Hold.objects.select_related("slot__site__commune", "slot__vaccine", "dose2_slot")
        .filter(pk=hold_id, expires_at__gt=now)
        .first()
    )
    if hold is None:
        raise HoldExpired(
            gettext(
                "Le créneau n'est plus retenu pour vous (le délai est écoulé) : choisissez de "
                "nouveau un créneau."
            )
        )
    return hold


def slots_by_id(*, slot_ids: list[int]) -> list[Slot]:
    """Slots in the order given, those that still exist."""
    found = Slot.objects.in_bulk(slot_ids)
    return [found[pk] for pk in slot_ids if pk in found]


def series_for_contact(*, reference: str, contact: Contact) -> Series:
    """The booking a reference names, if this verified contact made it; the same 404 as
    series_authenticate otherwise."""
    normalized = tokens.reference_normalize(reference)
    series = (
        Series.objects.select_related("person", "contact", "site", "vaccine")
        .filter(reference=normalized, contact=contact)
        .first()
        if normalized
        else None
    )
    if series is None:
        raise NotFound(gettext("Rendez-vous introuvable : vérifiez la référence et le contact."))
    return series


def contact_series(*, contact: Contact) -> list[Series]:
    """A contact's bookings, the active ones first, newest first."""
    return sorted(
        Series.objects.select_related("person", "site", "vaccine").filter(contact=contact),
        key=lambda series: (series.status != Series.Status.ACTIVE, -series.pk),
    )


def move_window(*, series: Series, dose_number: int, today: date) -> tuple[date, date | None]:
    """The days a dose of this booking may move to: dose 1 from today on, dose 2 inside
    the product's interval after dose 1 (the rule booking_move applies)."""
    if dose_number == 1:
        return today, None
    dose1 = (
        series.appointments.select_related("slot")
        .filter(dose_number=1, status__in=DOSE1_FOR_MOVE)
        .first()
    )
    if dose1 is None:
        raise NotFound(gettext("Ce rendez-vous n'a pas de première dose."))
    first, last = dose2_window(vaccine=series.vaccine, dose1_date=dose1.slot.date)
    return max(today, first), last


def dose2_window(*, vaccine, dose1_date: date) -> tuple[date, date]:
    """First and last day of the second dose, by the product's interval."""
    return (
        dose1_date + timedelta(days=vaccine.interval_min_days),
        dose1_date + timedelta(days=vaccine.interval_max_days),
    )


def site_day_appointments(*, site_id: int, day: date, search: str = "") -> list[Appointment]:
    """The appointments still standing at a site on a local day, by time: for the
    day's list. `search` is part of a name or a booking reference."""
    appointments = (
        Appointment.objects.select_related(
            "slot__vaccine", "slot__site", "person", "series__vaccine"
        )
        .filter(slot__site_id=site_id, slot__date=day)
        .exclude(status=Appointment.Status.CANCELLED)
        .order_by("slot__start", "person__family_name", "person__given_name")
    )
    search = search.strip()[:100]
    if search:
        reference = tokens.reference_normalize(search)
        by_name = Q()
        for word in search.split():
            by_name &= Q(person__family_name__icontains=word) | Q(
                person__given_name__icontains=word
            )
        appointments = appointments.filter(
            by_name | Q(series__reference=reference) if reference else by_name
        )
    return list(appointments)


REBOOK_SITES = 5
REBOOK_RADIUS_KM = 30
REBOOK_SLOTS_PER_SITE = 4


@dataclass(frozen=True)
class RebookOffer:
    site: Site
    distance_km: float
    slots: list[FreeSlot]


def rebook_item_get(*, token: str) -> CancellationItem:
    """The course a rebooking link names; a forged or expired link is "not found"."""
    item_id = tokens.rebook_item_id(token=token)
    item = (
        CancellationItem.objects.select_related(
            "cancellation__site",
            "series__person",
            "series__contact",
            "series__site",
            "series__vaccine",
            "rebooked_series",
        )
        .filter(pk=item_id)
        .first()
        if item_id is not None
        else None
    )
    if item is None:
        raise NotFound(gettext("Ce lien de nouveau rendez-vous n'est pas valable ou a expiré."))
    return item


def dose2_rebook_slots(*, series: Series, now: datetime, limit: int = 8) -> list[FreeSlot]:
    """Free second-dose slots for a course whose first dose was given: its site, inside
    the product's interval from the day of the first dose, soonest first."""
    dose1 = (
        series.appointments.select_related("slot")
        .filter(dose_number=1, status__in=DOSE1_FOR_REBOOK)
        .first()
    )
    if dose1 is None:
        return []
    first, last = dose2_window(vaccine=series.vaccine, dose1_date=dose1.slot.date)
    rows = (
        Slot.objects.filter(
            site_id=series.site_id,
            vaccine_id=series.vaccine_id,
            dose_number=2,
            date__gte=first,
            date__lte=last,
            start__gt=now,
            booked__lt=F("capacity"),
            session__status=Session.Status.OPEN,
        )
        .annotate(free=F("capacity") - F("booked"))
        .order_by("start", "pk")
        .values_list("pk", "date", "start", "end", "vaccine__code", "dose_number", "free")
    )
    return [FreeSlot(*row) for row in rows[:limit]]


def rebook_offers(*, item: CancellationItem, now: datetime | None = None) -> list[RebookOffer]:
    """What a person whose appointment was cancelled is offered: for a second dose, new
    dates at the same site inside the interval; otherwise the nearest sites with free
    first-dose places of the same vaccine (the same site first when it still has some)."""
    now = now or timezone.now()
    series = item.series
    if item.dose_number == 2:
        slots = dose2_rebook_slots(series=series, now=now)
        return [RebookOffer(site=series.site, distance_km=0, slots=slots)] if slots else []
    site = item.cancellation.site
    wanted = AvailabilityFilter(vaccine_id=series.vaccine_id, dose_number=1)
    found = [
        result
        for result in availability_search(
            origin=Position(site.latitude, site.longitude),
            radius_km=REBOOK_RADIUS_KM,
            wanted=wanted,
            limit=REBOOK_SITES,
            now=now,
        )
        if result.next_slot_at is not None
    ]
    following = slots_next(
        first_free={result.site.pk: result.next_slot_at for result in found},
        wanted=wanted,
        per_site=REBOOK_SLOTS_PER_SITE,
        now=now,
    )
    return [
        RebookOffer(
            site=result.site, distance_km=result.distance_km, slots=following[result.site.pk]
        )
        for result in found
        if following.get(result.site.pk)
    ]


def cancellation_sessions(
    *, site_id: int, scope: str, session_id: int | None, day: date | None, now: datetime
) -> QuerySet[Session]:
    """The sessions a cancellation of this scope covers: one session, every session of a
    day at the site, or every session of the site from yesterday on (a session of today
    in an overseas department may still be "yesterday" in Paris)."""
    sessions = Session.objects.filter(site_id=site_id)
    if scope == Cancellation.Scope.SITE:
        return sessions.filter(date__gte=timezone.localdate(now) - timedelta(days=1))
    if scope == Cancellation.Scope.SESSION:
        chosen, over = (
            sessions.filter(pk=session_id),
            gettext("Cette session est terminée : il n'y a plus rien à annuler."),
        )
    elif scope == Cancellation.Scope.DAY:
        if day is None:
            raise InvalidInput(gettext("Indiquez le jour à annuler."))
        chosen, over = (
            sessions.filter(date=day),
            gettext("Ce jour est passé : il n'y a plus rien à annuler."),
        )
    else:
        raise InvalidInput(gettext("Annulation inconnue : %(scope)s.") % {"scope": scope[:20]})
    # What has ended is for the no-shows, not for a cancellation: nobody is told that
    # yesterday's appointment is cancelled.
    ahead = Slot.objects.filter(session_id=OuterRef("pk"), end__gt=now)
    if chosen.exists() and not chosen.filter(Exists(ahead)).exists():
        raise InvalidInput(over)
    return chosen


@dataclass(frozen=True)
class CancellationPreview:
    sessions: int
    courses: int
    appointments: int


def cancellation_preview(
    *,
    site_id: int,
    scope: str,
    session_id: int | None = None,
    day: date | None = None,
    now: datetime | None = None,
) -> CancellationPreview:
    """What a cancellation would touch, to say so before it is confirmed."""
    now = now or timezone.now()
    sessions = cancellation_sessions(
        site_id=site_id, scope=scope, session_id=session_id, day=day, now=now
    )
    if scope == Cancellation.Scope.SESSION and not sessions.exists():
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    booked = Appointment.objects.filter(
        slot__session__in=sessions, slot__end__gt=now, status=Appointment.Status.BOOKED
    ).aggregate(appointments=Count("pk"), courses=Count("series", distinct=True))
    return CancellationPreview(sessions=sessions.count(), **booked)


def cancellation_list(*, site_id: int, limit: int = 20) -> list[Cancellation]:
    """A site's cancellations, newest first, each with how many people rebooked."""
    return list(
        Cancellation.objects.filter(site_id=site_id)
        .select_related("by", "session")
        .annotate(rebooked=Count("items", filter=Q(items__rebooked_at__isnull=False)))[:limit]
    )


def cancellation_get(*, site_id: int, cancellation_id: int) -> Cancellation:
    cancellation = next(
        (
            c
            for c in Cancellation.objects.filter(site_id=site_id, pk=cancellation_id)
            .select_related("by", "session")
            .annotate(rebooked=Count("items", filter=Q(items__rebooked_at__isnull=False)))
        ),
        None,
    )
    if cancellation is None:
        raise NotFound(gettext("Annulation introuvable : %(id)s.") % {"id": cancellation_id})
    return cancellation


CALLER_RESULTS = 20
OLDEST_BIRTH_YEAR = 1880
# 02/03/1940, 2 3 1940, 02031940 (the booking form's own short form) or 1940-03-02.
_DAY = re.compile(
    r"\b(\d{1,2})[/. -](\d{1,2})[/. -](\d{4})\b|\b(\d{2})(\d{2})(\d{4})\b"
    r"|\b(\d{4})-(\d{2})-(\d{2})\b"
)


def _caller_birth_date(text: str) -> tuple[date | None, str]:
    """A birth date typed as 02/03/1940, 2 3 1940, 02031940 or 1940-03-02, and the rest of
    the text."""
    found = _DAY.search(text)
    if found is None:
        return None, text
    if found.group(1):
        day, month, year = found.group(1, 2, 3)
    elif found.group(4):
        day, month, year = found.group(4, 5, 6)
    else:
        year, month, day = found.group(7, 8, 9)
    try:
        birth_date = date(int(year), int(month), int(day))
    except ValueError:
        return None, text
    # Eight digits that make no birth date (06123456: 6 December 3456) are a number cut short.
    if birth_date.year < OLDEST_BIRTH_YEAR or birth_date > timezone.localdate():
        return None, text
    return birth_date, (text[: found.start()] + " " + text[found.end() :]).strip()


def caller_find(*, query: str) -> list[Series]:
    """The courses a caller may be asking about: by booking reference, by the phone number
    or e-mail address they booked with, or by family name and birth date. Newest first."""
    query = query.strip()[:200]
    series = Series.objects.select_related("person", "contact", "site", "vaccine").order_by(
        "-created_at", "-pk"
    )
    reference = tokens.reference_normalize(query)
    if reference:
        return list(series.filter(reference=reference))
    if tokens.reference_shaped(query):
        # Its check character does not match: a character misheard, not a phone number.
        raise InvalidInput(
            gettext("Cette référence n'existe pas : vérifiez chaque caractère (9 en tout).")
        )
    birth_date, name = _caller_birth_date(query)
    if birth_date is not None:
        words = name.replace(",", " ").split()
        if not words:
            raise InvalidInput(gettext("Donnez le nom avec la date de naissance."))
        by_name = Q()
        for word in words:
            by_name &= Q(person__family_name__icontains=word) | Q(
                person__given_name__icontains=word
            )
        return list(series.filter(by_name, person__birth_date=birth_date)[:CALLER_RESULTS])
    if "@" in query or sum(character.isdigit() for character in query) >= 6:
        # A number or an address that cannot be one is said so: matching nothing, it would
        # send the agent to book a "new caller" who may well be on file.
        _, address = contact_address_normalize(
            **({"email": query} if "@" in query else {"phone": query}), for_sms=False
        )
        # A caller booked with a letter or a mobile is found by the landline they gave too.
        return list(
            series.filter(Q(contact__address=address) | Q(contact__landline=address))[
                :CALLER_RESULTS
            ]
        )
    raise InvalidInput(
        gettext(
            "Cherchez par numéro de téléphone, adresse e-mail, référence, ou nom et date "
            "de naissance (par exemple : Martin 02/03/1940)."
        )
    )


def series_get(*, series_id: int, scope: Q | None = None) -> Series:
    """One course with its person, contact, site and vaccine, within a staff scope (a
    filter on the series' site); outside it, the same "not found" as a missing one."""
    series = (
        Series.objects.select_related("person", "contact", "site", "vaccine", "override_by")
        .filter(scope or Q(), pk=series_id)
        .first()
    )
    if series is None:
        raise NotFound(gettext("Rendez-vous introuvable : %(id)s.") % {"id": series_id})
    return series
