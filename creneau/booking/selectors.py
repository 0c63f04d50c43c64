"""Reads of the booking engine: second-dose options, bookings by reference, credentials."""

import re
from copy import copy
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.core import signing
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext

from creneau.core.db import sql_date, sql_datetime
from creneau.core.errors import (
    Dose2Unavailable,
    HoldExpired,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    Unauthorized,
)
from creneau.core.geo import Position
from creneau.core.text import text_normalize
from creneau.eligibility.selectors import (
    Candidate,
    RuleSet,
    eligibility_decide,
    eligibility_require,
)
from creneau.geography.selectors import department_timezone
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.selectors import (
    AvailabilityFilter,
    FreeSlot,
    SiteResult,
    availability_search,
    site_calendar,
    site_free_slots,
    slot_list_available,
    slots_next,
)
from creneau.scheduling.sql import dose2_option_rows
from creneau.sites.models import Site
from creneau.sites.selectors import site_is_public
from creneau.vaccines.models import Stock, Vaccine

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
    booking_dose2_cancel_decide,
    booking_dose2_rebook_decide,
    booking_move_decide,
    dose1_day,
    dose1_get,
    rebook_override_carries,
)
from .addresses import contact_address_index, contact_address_normalize, contact_landline_index
from .models import (
    Appointment,
    Cancellation,
    CancellationItem,
    Contact,
    Hold,
    Person,
    Series,
)
from .persons import person_name_index
from .sql import contact_verified

DOSE2_OPTIONS = 8
# Doses a dose 2 booked alone (its dose 1 given elsewhere) promises from stock: its own.
DOSE2_ALONE_DOSES = 1
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
    rows = dose2_option_rows(
        site_id=slot.site_id,
        vaccine_id=vaccine.pk,
        first=slot.date + timedelta(days=vaccine.interval_min_days),
        last=slot.date + timedelta(days=vaccine.interval_max_days),
        target=slot.date + timedelta(days=vaccine.interval_recommended_days),
        now=now,
        days=DOSE2_DAYS,
    )
    tz = department_timezone(department_code=slot.site.department_id)

    def minute_of_day(moment: datetime) -> int:
        local = moment.astimezone(tz)
        return local.hour * 60 + local.minute

    first_dose_minute = minute_of_day(slot.start)
    # The chosen days' free slots, the days in their order, as plain tuples (a day has
    # dozens of slots, and only a few are kept), then day by day.
    by_day: dict[date, list[tuple]] = {}
    for pk, day, start, end in rows:
        by_day.setdefault(sql_date(day), []).append((pk, sql_datetime(start), sql_datetime(end)))
    options: list[Slot] = []
    for day, day_rows in by_day.items():
        nearest = sorted(
            day_rows, key=lambda row: (abs(minute_of_day(row[1]) - first_dose_minute), row[1])
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
    contact = contact_verified(contact_id=contact_id)
    if contact is None:
        raise Unauthorized(gettext("Ce contact n'est pas vérifié."))
    return contact


def series_authenticate(*, reference: str, token: str) -> Series:
    """The booking a reference names, if the management token opens it.

    A wrong token, a mistyped reference and an unknown one get the same 404: nothing
    tells a guesser which references exist.
    """
    series = _series_by_reference(reference)
    if series is None or not tokens.management_token_matches(
        reference=series.reference, salt=series.token_salt, token=token
    ):
        raise NotFound(gettext("Rendez-vous introuvable : vérifiez la référence et le lien reçu."))
    return series


def series_opened_get(*, reference: str) -> Series:
    """A booking the caller already opened (by its key or a code): the portal's session
    remembers its reference, not its key."""
    series = _series_by_reference(reference)
    if series is None:
        raise NotFound(gettext("Rendez-vous introuvable : vérifiez la référence et le lien reçu."))
    return series


def _series_by_reference(reference: str) -> Series | None:
    normalized = tokens.reference_normalize(reference)
    if not normalized:
        return None
    return (
        Series.objects.select_related("person", "contact", "site", "vaccine")
        .filter(reference=normalized)
        .first()
    )


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
        move = dict.fromkeys(doses, elsewhere)
        cancel = dose2_cancel = dose2_rebook = elsewhere
    else:
        move = {
            dose: booking_move_decide(
                series=series, appointments=appointments, dose_number=dose, now=now
            )
            for dose in doses
        }
        cancel = booking_cancel_decide(series=series, appointments=appointments, now=now)
        dose2_cancel = booking_dose2_cancel_decide(
            series=series, appointments=appointments, now=now
        )
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
        series=series,
        appointments=rows,
        move=move,
        cancel=cancel,
        dose2_cancel=dose2_cancel,
        dose2_rebook=dose2_rebook,
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


# How far a person who lost a place (their hold ran out, their appointment was cancelled)
# is offered first-dose places instead.
NEARBY_RADIUS_KM = 30
ALTERNATIVE_SITES = 5
ALTERNATIVE_SLOTS_PER_SITE = 4


def _dose1_sites_near(
    *, origin: Position, vaccine_id: int, limit: int, now: datetime
) -> list[SiteResult]:
    """The nearest public sites with free first-dose places of one product, within
    NEARBY_RADIUS_KM of `origin`, nearest first: where a person who lost a place may book
    instead (hold_alternatives, rebook_offers)."""
    return [
        result
        for result in availability_search(
            origin=origin,
            radius_km=NEARBY_RADIUS_KM,
            wanted=AvailabilityFilter(vaccine_id=vaccine_id, dose_number=1),
            limit=limit,
            now=now,
        )
        if result.next_slot_at is not None
    ]


@dataclass(frozen=True)
class SlotsNearby:
    """A site's next free slots, offered instead of a slot lost."""

    site: Site
    distance_km: float
    slots: list[FreeSlot]


def hold_alternatives(*, slot_id: int, now: datetime | None = None) -> list[SlotsNearby]:
    """Where to book instead of a slot lost while the person typed (their hold ran out and
    others took the place): free first-dose slots of the same vaccine, at the same site
    first, the times nearest the lost one on its day, then the next slots of the nearest
    other sites."""
    now = now or timezone.now()
    lost = Slot.objects.select_related("site").filter(pk=slot_id).first()
    if lost is None:
        return []
    wanted = AvailabilityFilter(vaccine_id=lost.vaccine_id, dose_number=1)
    found = _dose1_sites_near(
        origin=Position(lost.site.latitude, lost.site.longitude),
        vaccine_id=lost.vaccine_id,
        limit=ALTERNATIVE_SITES,
        now=now,
    )
    following = slots_next(
        first_free={result.site.pk: result.next_slot_at for result in found},
        wanted=wanted,
        per_site=ALTERNATIVE_SLOTS_PER_SITE,
        now=now,
    )
    same_day = sorted(
        site_free_slots(site_id=lost.site_id, day=lost.date, wanted=wanted, now=now),
        key=lambda slot: abs(slot.start - lost.start),
    )[:ALTERNATIVE_SLOTS_PER_SITE]
    if same_day:
        following[lost.site_id] = sorted(same_day, key=lambda slot: slot.start)
    offers = [
        SlotsNearby(
            site=result.site, distance_km=result.distance_km, slots=following[result.site.pk]
        )
        for result in found
        if following.get(result.site.pk)
    ]
    # Sorted by distance already; another site at the very same spot still comes second.
    return sorted(offers, key=lambda offer: offer.site.pk != lost.site_id)


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
    dose1_date = dose1_day(
        series=series, appointments=series_appointments(series=series), statuses=DOSE1_FOR_MOVE
    )
    if dose1_date is None:
        raise NotFound(gettext("Ce rendez-vous n'a pas de première dose."))
    first, last = dose2_window(vaccine=series.vaccine, dose1_date=dose1_date)
    return max(today, first), last


def dose2_window(*, vaccine, dose1_date: date) -> tuple[date, date]:
    """First and last day of the second dose, by the product's interval."""
    return (
        dose1_date + timedelta(days=vaccine.interval_min_days),
        dose1_date + timedelta(days=vaccine.interval_max_days),
    )


@dataclass(frozen=True)
class Dose1Elsewhere:
    """A dose 1 given elsewhere, as declared, checked: a two-dose product, a day gone by,
    and a dose-2 interval that has not ended. `first`..`last`: the days its dose 2 may
    be booked, from today."""

    vaccine: Vaccine
    given_on: date
    first: date
    last: date

    def wanted(self) -> AvailabilityFilter:
        """The search for its dose-2 places: this product, inside the interval."""
        return AvailabilityFilter(
            vaccine_id=self.vaccine.pk, dose_number=2, date_from=self.first, date_to=self.last
        )


def dose2_alone_sites(*, results: list[SiteResult], declared: Dose1Elsewhere) -> list[SiteResult]:
    """The sites among `results` that can take a dose 2 alone of the declared product: a
    dose of it not yet promised (its booking promises one, or is refused)."""
    stocked = set(
        Stock.objects.filter(
            site_id__in=[result.site.pk for result in results],
            vaccine_id=declared.vaccine.pk,
            delivered__gte=F("committed") + F("given") + DOSE2_ALONE_DOSES,
        ).values_list("site_id", flat=True)
    )
    return [result for result in results if result.site.pk in stocked]


def dose1_elsewhere_check(*, vaccine_code: str, given_on: date, today: date) -> Dose1Elsewhere:
    """Check a declared dose 1 given elsewhere, each refusal said plainly for its field.

    The dose 2 follows the product's interval after it (dose2_window, the rule every
    dose-2 booking and move applies): once its last day has passed there is no dose 2 to
    book here, and the person is told so, not offered a date the rule refuses."""
    code = vaccine_code.strip().lower()
    vaccine = (
        Vaccine.objects.filter(code=code).first()
        if re.fullmatch(r"[a-z0-9-]{1,30}", code)
        else None
    )
    if vaccine is None:
        raise InvalidInput(
            gettext("Vaccin inconnu : « %(code)s ».") % {"code": code[:40]},
            field="dose1_vaccine",
        )
    if vaccine.doses_in_series < 2:
        raise InvalidInput(
            gettext(
                "%(vaccine)s se donne en une seule dose : il n'y a pas de seconde dose à réserver."
            )
            % {"vaccine": vaccine.name},
            field="dose1_vaccine",
        )
    if given_on > today:
        raise InvalidInput(
            gettext("La date de la première dose est dans le futur."), field="dose1_date"
        )
    first, last = dose2_window(vaccine=vaccine, dose1_date=given_on)
    if last < today:
        raise InvalidInput(
            gettext(
                "Le délai maximal entre les deux doses de %(vaccine)s (%(max)d jours) est "
                "dépassé depuis le %(last)s : la seconde dose ne peut plus être réservée ici. "
                "Parlez-en à votre médecin, ou appelez le centre d'appel."
            )
            % {
                "vaccine": vaccine.name,
                "max": vaccine.interval_max_days,
                "last": formats.date_format(last, "j F Y"),
            },
            field="dose1_date",
        )
    return Dose1Elsewhere(vaccine=vaccine, given_on=given_on, first=max(first, today), last=last)


def dose2_stays(*, vaccine, dose1_slot: Slot, dose2_slot: Slot) -> bool:
    """Whether a dose 2 stays where it is when dose 1 moves to `dose1_slot`: at the same
    site, inside the product's interval after it. Otherwise booking_move moves it too."""
    first, last = dose2_window(vaccine=vaccine, dose1_date=dose1_slot.date)
    return dose2_slot.site_id == dose1_slot.site_id and first <= dose2_slot.date <= last


@dataclass(frozen=True)
class MovePreview:
    """What a move would change: the dose's slot before and after and, when dose 1 moves,
    dose 2's slot and the one it would move to (None when it stays)."""

    dose_number: int
    before: Slot
    after: Slot
    dose2_before: Slot | None = None
    dose2_after: Slot | None = None


def move_preview(
    *, series: Series, dose_number: int, slot_id: int, now: datetime | None = None
) -> MovePreview:
    """What booking_move would do with this dose and slot now, for the person to confirm:
    its rules on the course as it is, dose 2 moving to the free slot it would take first.
    Refused, in the service's words, when the move or the slot is not possible."""
    now = now or timezone.now()
    course = list(series.appointments.select_related("slot__site", "slot__vaccine"))
    booking_move_decide(
        series=series, appointments=course, dose_number=dose_number, now=now
    ).enforce()
    active = active_by_dose(appointments=course)
    before = active[dose_number].slot
    after = (
        Slot.objects.select_related("site", "session")
        .filter(pk=slot_id, vaccine_id=series.vaccine_id, dose_number=dose_number)
        .first()
    )
    if after is None:
        raise NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if after.pk == before.pk:
        raise InvalidInput(gettext("Le rendez-vous est déjà sur ce créneau."))
    if after.start <= now:
        raise SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if after.session.status != Session.Status.OPEN or after.booked >= after.capacity:
        raise SlotUnavailable(
            gettext("Ce créneau vient d'être complet. Choisissez-en un autre."), reason="full"
        )
    vaccine = series.vaccine
    if dose_number == 2:
        first, last = dose2_window(
            vaccine=vaccine,
            dose1_date=dose1_day(series=series, appointments=course, statuses=DOSE1_FOR_MOVE),
        )
        if after.site_id != series.site_id or not first <= after.date <= last:
            raise Dose2Unavailable(
                gettext(
                    "Ce créneau de seconde dose n'est plus libre ou ne convient pas (même lieu, "
                    "de %(min)d à %(max)d jours après la première). Choisissez parmi les "
                    "créneaux proposés."
                )
                % {"min": vaccine.interval_min_days, "max": vaccine.interval_max_days}
            )
        return MovePreview(dose_number=2, before=before, after=after)
    dose2 = active.get(2)
    preview = MovePreview(
        dose_number=1, before=before, after=after, dose2_before=dose2.slot if dose2 else None
    )
    if dose2 is None or dose2_stays(vaccine=vaccine, dose1_slot=after, dose2_slot=dose2.slot):
        return preview
    options = dose2_options(slot=after, now=now, limit=1)
    if not options:
        raise Dose2Unavailable(
            gettext(
                "Aucun créneau de seconde dose n'est libre dans l'intervalle prévu pour "
                "%(vaccine)s (de %(min)d à %(max)d jours) dans ce lieu : choisissez une "
                "autre date ou un autre lieu."
            )
            % {
                "vaccine": vaccine.name,
                "min": vaccine.interval_min_days,
                "max": vaccine.interval_max_days,
            }
        )
    return replace(preview, dose2_after=options[0])


def _person_names(person: Person) -> str:
    """A person's names in their comparison form: what searches match words against."""
    return text_normalize(f"{person.family_name} {person.given_name}").match


def _has_words(person: Person, words: list[str]) -> bool:
    """Every word typed is part of the person's names, compared in their match form (case,
    accents and invisible characters aside): "eloise" finds "Éloïse", "Mar\u200btin" finds
    "Martin". In Python: the names are encrypted, the rows already narrowed."""
    names = _person_names(person)
    return all(word in names for word in words)


def site_day_appointments(*, site_id: int, day: date, search: str = "") -> list[Appointment]:
    """The appointments still standing at a site on a local day, by time then name: for
    the day's list. `search` is part of a name or a booking reference.

    The names are encrypted, so they are sorted and searched here, among one site's day
    (a few hundred rows at most), not by the database."""
    appointments = sorted(
        Appointment.objects.select_related(
            "slot__vaccine", "slot__site", "person", "series__vaccine"
        )
        .filter(slot__site_id=site_id, slot__date=day)
        .exclude(status=Appointment.Status.CANCELLED),
        key=lambda appointment: (appointment.slot.start, _person_names(appointment.person)),
    )
    search = search.strip()[:100]
    if search:
        reference = tokens.reference_normalize(search)
        words = text_normalize(search).match.split()
        appointments = [
            appointment
            for appointment in appointments
            if (reference and appointment.series.reference == reference)
            or (words and _has_words(appointment.person, words))
        ]
    return appointments


REBOOK_OFFERS = 6
# Days shown for each offer: the first ones with free places.
REBOOK_DAYS = 7


@dataclass(frozen=True)
class RebookOffer:
    """Free places for a cancelled course at one site with one product: the first days
    that have some, and the slots of one of those days."""

    site: Site
    distance_km: float
    vaccine: Vaccine
    days: list[tuple[date, int]]  # (day, free places)
    day: date
    slots: list[FreeSlot]

    @property
    def key(self) -> str:
        """How a link names this offer: a site may offer two products."""
        return f"{self.site.pk}-{self.vaccine.code}"


@dataclass(frozen=True)
class RebookOffers:
    offers: list[RebookOffer]
    # The products the person may choose between, the course's own first, and the one
    # chosen (None: all of them).
    vaccines: list[Vaccine]
    vaccine: Vaccine | None


@dataclass(frozen=True)
class RebookDay:
    """The day a person asked to see for one offer (`RebookOffer.key`)."""

    offer: str
    day: date


@dataclass(frozen=True)
class RebookPreview:
    """What confirming a rebooking changes, shown before anything is booked."""

    # The appointments the cancellation took, one a dose.
    cancelled: list[Appointment]
    # A dose 1 given, which stays (a course that lost only its dose 2).
    kept: Appointment | None
    slot: Slot
    # The dose 2 booked with a new dose 1 of a two-dose product, at the same site.
    dose2: Slot | None


def rebook_item_get(*, token: str) -> CancellationItem:
    """The course a rebooking link names; a forged or expired link is "not found"."""
    item_id = tokens.rebook_item_id(token=token)
    if item_id is None:
        raise NotFound(gettext("Ce lien de nouveau rendez-vous n'est pas valable ou a expiré."))
    return rebook_item_load(item_id=item_id)


def rebook_item_load(*, item_id: int) -> CancellationItem:
    """A course to rebook by its item, once its link was checked (the portal keeps the
    ids of the links a browser opened in its session)."""
    item = (
        CancellationItem.objects.select_related(
            "cancellation__site",
            "series__person",
            "series__contact",
            "series__site",
            "series__vaccine",
            "rebooked_series",
        )
        .filter(pk=item_id, series__isnull=False)
        .first()
    )
    if item is None:
        raise NotFound(gettext("Ce lien de nouveau rendez-vous n'est pas valable ou a expiré."))
    return item


def _dose2_slots_q(*, site_id: int, vaccine: Vaccine, dose1_date: date) -> QuerySet[Slot]:
    """The second-dose slots a first dose on `dose1_date` may have: its site and product,
    inside the interval, in an open session (the rule the services' conditional updates
    apply)."""
    first, last = dose2_window(vaccine=vaccine, dose1_date=dose1_date)
    return Slot.objects.filter(
        site_id=site_id,
        vaccine_id=vaccine.pk,
        dose_number=2,
        date__gte=first,
        date__lte=last,
        session__status=Session.Status.OPEN,
    )


def _dose2_rebook_slots_q(*, series: Series) -> QuerySet[Slot] | None:
    """The slots a course whose first dose was given may take for its dose 2; None
    without such a first dose."""
    dose1_date = dose1_day(
        series=series, appointments=series_appointments(series=series), statuses=DOSE1_FOR_REBOOK
    )
    if dose1_date is None:
        return None
    return _dose2_slots_q(site_id=series.site_id, vaccine=series.vaccine, dose1_date=dose1_date)


def _free_slots(slots: QuerySet[Slot], *, now: datetime) -> QuerySet[Slot]:
    return slots.filter(start__gt=now, booked__lt=F("capacity"))


def _free_slot_rows(slots: QuerySet[Slot]) -> list[FreeSlot]:
    rows = (
        slots.annotate(free=F("capacity") - F("booked"))
        .order_by("start", "pk")
        .values_list("pk", "date", "start", "end", "vaccine__code", "dose_number", "free")
    )
    return [FreeSlot(*row) for row in rows]


def _day_shown(*, days: list[tuple[date, int]], asked: date | None) -> date:
    """The day asked for, if it has free places; else the first that has."""
    return asked if any(day == asked for day, _ in days) else days[0][0]


@dataclass(frozen=True)
class Dose2Days:
    """The second-dose choices of a first dose: every day of the interval with free
    places at its site (not only the first few), and the free slots of one of them."""

    first: date
    last: date
    days: list[tuple[date, int]]  # (day, free places)
    day: date
    slots: list[FreeSlot]


def _dose2_day_places(
    *, site: Site, vaccine: Vaccine, first: date, last: date, now: datetime, held: Slot | None
) -> list[tuple[date, int]]:
    """Each day from `first` to `last` with free second-dose places, and how many (the
    held place counted as free: it is the person's to choose again)."""
    wanted = AvailabilityFilter(vaccine_id=vaccine.pk, dose_number=2, date_from=first, date_to=last)
    places = {
        figures.date: figures.free for figures in site_calendar(site=site, wanted=wanted, now=now)
    }
    if held is not None:
        places[held.date] = places.get(held.date, 0) + 1
    return sorted(places.items())


def _dose2_days(
    *,
    site: Site,
    vaccine: Vaccine,
    dose1_date: date,
    day: date | None,
    now: datetime,
    held: Slot | None = None,
) -> Dose2Days | None:
    """The days from the read model (a month of days is a month of rows, not of slots),
    the slots of `day` (if it has places; else of the held place's day, or the first).

    `held`: a second-dose place already kept for this person; it is theirs to choose
    again, so its day and its slot are offered even when it took the last place. None
    when no day has a place."""
    first, last = dose2_window(vaccine=vaccine, dose1_date=dose1_date)
    days = _dose2_day_places(site=site, vaccine=vaccine, first=first, last=last, now=now, held=held)
    if not days:
        return None
    with_places = {place_day for place_day, _ in days}
    shown = _day_shown(days=days, asked=day if day in with_places else held and held.date)
    free = _free_slots(
        _dose2_slots_q(site_id=site.pk, vaccine=vaccine, dose1_date=dose1_date), now=now
    )
    slots = _free_slot_rows(free.filter(date=shown))
    if held is not None and held.date == shown:
        others = [slot for slot in slots if slot.pk != held.pk]
        kept = next((slot for slot in slots if slot.pk == held.pk), None)
        mine = FreeSlot(
            held.pk,
            held.date,
            held.start,
            held.end,
            vaccine.code,
            2,
            (kept.available if kept else 0) + 1,
        )
        slots = sorted([*others, mine], key=lambda slot: (slot.start, slot.pk))
    return Dose2Days(first=first, last=last, days=days, day=shown, slots=slots)


def hold_dose2_days(
    *, hold: Hold, day: date | None, now: datetime | None = None
) -> Dose2Days | None:
    """The second-dose choices of a hold's first dose, its own second-dose place among
    them (invariant 3 is the booking's to keep: it takes the chosen place with the
    interval in its conditional update). None for a one-dose product."""
    if hold.dose2_slot is None:
        return None
    return _dose2_days(
        site=hold.slot.site,
        vaccine=hold.slot.vaccine,
        dose1_date=hold.slot.date,
        day=day,
        now=now or timezone.now(),
        held=hold.dose2_slot,
    )


def hold_dose2_day_places(*, hold: Hold, now: datetime | None = None) -> list[tuple[date, int]]:
    """The days of a hold's second-dose interval with free places, without any day's slots
    (what the API's hold answer lists). Empty for a one-dose product."""
    if hold.dose2_slot is None:
        return []
    vaccine = hold.slot.vaccine
    first, last = dose2_window(vaccine=vaccine, dose1_date=hold.slot.date)
    return _dose2_day_places(
        site=hold.slot.site,
        vaccine=vaccine,
        first=first,
        last=last,
        now=now or timezone.now(),
        held=hold.dose2_slot,
    )


def dose2_rebook_offer(
    *, series: Series, day: date | None = None, now: datetime
) -> RebookOffer | None:
    """New second-dose dates for a course whose first dose was given: its site and
    product, every day of the interval from the day of the first dose with free places,
    and the slots of `day` (if it is one of them) or of the first. None when there is no
    such day."""
    dose1_date = dose1_day(
        series=series, appointments=series_appointments(series=series), statuses=DOSE1_FOR_REBOOK
    )
    if dose1_date is None:
        return None
    found = _dose2_days(
        site=series.site, vaccine=series.vaccine, dose1_date=dose1_date, day=day, now=now
    )
    if found is None:
        return None
    return RebookOffer(
        site=series.site,
        distance_km=0,
        vaccine=series.vaccine,
        days=found.days,
        day=found.day,
        slots=found.slots,
    )


def _candidate(series: Series) -> Candidate:
    person = series.person
    return Candidate(birth_date=person.birth_date, categories=frozenset(person.categories))


def _rebook_vaccines(*, series: Series, today: date) -> list[Vaccine]:
    """The products a cancelled course may be booked again with: its own, and every other
    one the rules in force today open to the person (each day offered is checked again)."""
    candidate = _candidate(series)
    products = Vaccine.objects.filter(active=True).order_by("name")
    return sorted(
        (
            vaccine
            for vaccine in products
            if vaccine.pk == series.vaccine_id
            or eligibility_decide(
                candidate=candidate, vaccine=vaccine, dose_number=1, site=None, on=today
            ).eligible
        ),
        key=lambda vaccine: vaccine.pk != series.vaccine_id,
    )


def _dose1_rebook_offer(
    *,
    series: Series,
    site: Site,
    distance_km: float,
    vaccine: Vaccine,
    chosen: RebookDay | None,
    now: datetime,
) -> RebookOffer | None:
    """The days the person may book this product at this site (its restriction to some
    categories and the rules in force that day apply, as booking applies them), and the
    slots of one of them."""
    wanted = AvailabilityFilter(vaccine_id=vaccine.pk, dose_number=1)
    candidate = _candidate(series)
    overridden = rebook_override_carries(series=series, vaccine_id=vaccine.pk)
    days = [
        (figures.date, figures.free)
        for figures in site_calendar(site=site, wanted=wanted, now=now)
        if overridden
        or eligibility_decide(
            candidate=candidate, vaccine=vaccine, dose_number=1, site=site, on=figures.date
        ).eligible
    ][:REBOOK_DAYS]
    if not days:
        return None
    key = f"{site.pk}-{vaccine.code}"
    day = _day_shown(days=days, asked=chosen.day if chosen and chosen.offer == key else None)
    slots = slot_list_available(site_id=site.pk, day=day, wanted=wanted, now=now)
    if not slots:  # taken since the read model counted them
        return None
    return RebookOffer(
        site=site, distance_km=distance_km, vaccine=vaccine, days=days, day=day, slots=slots
    )


def rebook_offers(
    *,
    item: CancellationItem,
    vaccine_code: str | None = None,
    chosen: RebookDay | None = None,
    now: datetime | None = None,
) -> RebookOffers:
    """What a person whose appointment was cancelled is offered, each offer with its
    first days with free places and the slots of one of them (`chosen`, or the first).

    For a second dose: the same site and product, inside the interval. Otherwise the
    nearest sites with free first-dose places of a product the person may have: the
    course's own or another the rules open to them (`vaccine_code` keeps one of them),
    nearest first, the course's own product first at the same distance.
    """
    now = now or timezone.now()
    series = item.series
    if item.dose_number == 2:
        offer = dose2_rebook_offer(
            series=series, day=chosen.day if chosen is not None else None, now=now
        )
        return RebookOffers(
            offers=[offer] if offer else [], vaccines=[series.vaccine], vaccine=series.vaccine
        )
    vaccines = _rebook_vaccines(series=series, today=timezone.localdate(now))
    vaccine = next((v for v in vaccines if v.code == vaccine_code), None)
    origin = Position(item.cancellation.site.latitude, item.cancellation.site.longitude)
    found = [
        (result, product)
        for product in ([vaccine] if vaccine else vaccines)
        for result in _dose1_sites_near(
            origin=origin, vaccine_id=product.pk, limit=REBOOK_OFFERS, now=now
        )
    ]
    found.sort(
        key=lambda pair: (pair[0].distance_km, pair[1].pk != series.vaccine_id, pair[1].name)
    )
    offers: list[RebookOffer] = []
    for result, product in found:
        offer = _dose1_rebook_offer(
            series=series,
            site=result.site,
            distance_km=result.distance_km,
            vaccine=product,
            chosen=chosen,
            now=now,
        )
        if offer is not None:
            offers.append(offer)
            if len(offers) == REBOOK_OFFERS:
                break
    return RebookOffers(offers=offers, vaccines=vaccines, vaccine=vaccine)


def _rebook_slot_offered(*, item: CancellationItem, slot: Slot, now: datetime) -> bool:
    """Whether the link offers this slot, full or not: a second-dose slot of the course's
    site and product inside the interval, or a first-dose slot of a public site, still to
    come in an open session."""
    if slot.start <= now:
        return False
    if item.dose_number == 2:
        slots = _dose2_rebook_slots_q(series=item.series)
        return slots is not None and slots.filter(pk=slot.pk).exists()
    return (
        slot.dose_number == 1
        and slot.session.status == Session.Status.OPEN
        and site_is_public(site=slot.site, now=now)
    )


def rebook_preview(
    *, item: CancellationItem, slot_id: int, now: datetime | None = None
) -> RebookPreview:
    """What booking `slot_id` from a rebooking link would change, checked as the booking
    will check it: the slot still free and one the link offers, the person admitted
    there (invariant 6) and, for a two-dose product, the dose 2 that would be booked with
    it (invariant 3). The booking itself decides again, with the database."""
    now = now or timezone.now()
    series = item.series
    slot = Slot.objects.select_related("site", "vaccine", "session").filter(pk=slot_id).first()
    if slot is None or not _rebook_slot_offered(item=item, slot=slot, now=now):
        raise SlotUnavailable(gettext("Ce créneau n'est plus proposé."), reason="closed")
    if slot.booked >= slot.capacity:
        raise SlotUnavailable(
            gettext("Ce créneau vient d'être complet. Choisissez-en un autre."), reason="full"
        )
    dose2 = None
    if item.dose_number == 1:
        if not rebook_override_carries(series=series, vaccine_id=slot.vaccine_id):
            eligibility_require(
                candidate=_candidate(series),
                vaccine=slot.vaccine,
                dose_number=1,
                site=slot.site,
                on=slot.date,
                at=slot.start,
                now=now,
            )
        if slot.vaccine.doses_in_series > 1:
            dose2 = next(iter(dose2_options(slot=slot, now=now)), None)
            if dose2 is None:
                raise dose2_missing(slot=slot)
    appointments = list(
        series.appointments.select_related("slot__site", "slot__vaccine").order_by(
            "dose_number", "pk"
        )
    )
    # The last cancelled appointment of each dose: the ones this cancellation took.
    cancelled = {a.dose_number: a for a in appointments if a.status == Appointment.Status.CANCELLED}
    return RebookPreview(
        cancelled=list(cancelled.values()),
        kept=dose1_get(appointments=appointments, statuses=DOSE1_FOR_REBOOK)
        if item.dose_number == 2
        else None,
        slot=slot,
        dose2=dose2,
    )


def dose2_missing(*, slot: Slot) -> Dose2Unavailable:
    """The refusal of a first-dose slot of a two-dose product with no second-dose place
    free at its site inside the interval."""
    vaccine = slot.vaccine
    return Dose2Unavailable(
        gettext(
            "Aucun créneau de seconde dose n'est libre dans l'intervalle prévu pour "
            "%(vaccine)s (de %(min)d à %(max)d jours) dans ce lieu : choisissez une "
            "autre date ou un autre lieu."
        )
        % {
            "vaccine": vaccine.name,
            "min": vaccine.interval_min_days,
            "max": vaccine.interval_max_days,
        }
    )


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
# The words of a name searched that make candidate family names (21 runs of 6 words).
CALLER_NAME_WORDS = 6
# Courses of one family name and birth date looked at for the given names typed.
CALLER_CANDIDATES = 200
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
    or e-mail address they booked with, or by family name and birth date. Newest first.

    Names and numbers are encrypted: they are found through their blind indexes, so by
    equality only. The family name must be whole (in its comparison form: case, accents
    and invisible characters aside) and the birth date given; a part of a name finds
    nobody. The given names, if typed, narrow the courses found."""
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
        words = text_normalize(name).match.split()[:CALLER_NAME_WORDS]
        if not words:
            raise InvalidInput(gettext("Donnez le nom avec la date de naissance."))
        # The family name is some run of the words typed ("Jean Le Gall"): the blind index
        # of each run with the birth date, then the other words among the given names.
        indexes = {
            person_name_index(family_name=" ".join(words[start:end]), birth_date=birth_date)
            for start in range(len(words))
            for end in range(start + 1, len(words) + 1)
        }
        found = series.filter(person__name_index__in=indexes)[:CALLER_CANDIDATES]
        return [s for s in found if _has_words(s.person, words)][:CALLER_RESULTS]
    if "@" in query or sum(character.isdigit() for character in query) >= 6:
        # A number or an address that cannot be one is said so: matching nothing, it would
        # send the agent to book a "new caller" who may well be on file.
        _, address = contact_address_normalize(
            **({"email": query} if "@" in query else {"phone": query}), for_sms=False
        )
        # A caller booked with a letter or a mobile is found by the landline they gave too.
        return list(
            series.filter(
                Q(contact__address_index=contact_address_index(address))
                | Q(contact__landline_index=contact_landline_index(address))
            )[:CALLER_RESULTS]
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


def bookings_refused_by(
    *,
    before: RuleSet,
    after: RuleSet,
    now: datetime,
    restrictions: dict[int, list[str]] | None = None,
) -> int:
    """How many booked appointments yet to come the rules `after` (and the sites'
    `restrictions` to categories, by site id, where they would change) would refuse where
    the rules `before` and the sites as they are admit them: the preview of an eligibility
    change (with `restrictions`, the preview of those sites' restrictions: only their
    bookings are read). Only the doses booking
    checked count (a first dose, or a second whose first was given elsewhere), and not the
    courses booked under an override, which no rule decides. Nothing changes: a rule never
    cancels a booking. Each person's birth date and categories are unsealed here, in
    Python, and only the count leaves."""
    appointments = (
        Appointment.objects.filter(
            status=Appointment.Status.BOOKED, slot__start__gt=now, series__override_reason=""
        )
        .filter(Q(dose_number=1) | Q(series__dose1_elsewhere_on__isnull=False))
        .select_related("person", "slot__site", "slot__vaccine")
    )
    if restrictions is not None:
        # A site's restriction changes alone: only its bookings can be refused.
        appointments = appointments.filter(slot__site__in=list(restrictions))
    restrictions = restrictions or {}
    refused = 0
    for appointment in appointments.iterator(chunk_size=1000):
        slot, person = appointment.slot, appointment.person
        facts = dict(
            candidate=Candidate(
                birth_date=person.birth_date, categories=frozenset(person.categories)
            ),
            vaccine=slot.vaccine,
            dose_number=appointment.dose_number,
            site=slot.site,
            on=slot.date,
            # A rule for places starting soon counts from the preview's moment.
            at=slot.start,
            now=now,
        )
        site_after = slot.site
        if slot.site_id in restrictions:
            site_after = copy(slot.site)
            site_after.restricted_to = restrictions[slot.site_id]
        if (
            before.decide(**facts).eligible
            and not after.decide(**{**facts, "site": site_after}).eligible
        ):
            refused += 1
    return refused
