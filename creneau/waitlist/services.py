"""The waiting list for leftover doses: joining, renewing, leaving; a site declaring its
leftover doses; offers in waves; an offer accepted through the booking engine.

Places are the booking engine's: a leftover is a short first-dose session opened by
`session_open` (its doses promised from the stock, or refused), and accepting an offer
books it with `hold_create` + `booking_confirm`, or moves the person's later dose 1 there
with `booking_move`, so that the slots' conditional updates decide who gets a place
(invariant 1) and eligibility and one course per person are checked as for any booking.

Lock order: the leftover row first (every acceptance and the cancellation update it, so
they are decided one after the other), then the offer row, then booking's order
(contact, series, session, slots, stock, read model, outbox).
"""

import contextlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.booking.models import Appointment, Contact, Series
from creneau.booking.persons import person_index
from creneau.booking.services import (
    BookingResult,
    PersonData,
    booking_cancel,
    booking_confirm,
    booking_move,
    hold_create,
)
from creneau.booking.services.bookings import _person_validate
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import (
    AlreadyBooked,
    Dose2Unavailable,
    InvalidInput,
    NotFound,
    SessionNotOpen,
    SlotUnavailable,
)
from creneau.core.geo import grid_cell
from creneau.geography.selectors import Place, department_timezone
from creneau.outreach.rendering import Secret
from creneau.outreach.services import notification_enqueue
from creneau.scheduling.services import session_close, session_open
from creneau.sites.models import Site
from creneau.sites.selectors import site_is_public
from creneau.vaccines.models import Vaccine
from creneau.vaccines.selectors import lot_deliveries

from .errors import AlreadyOnList, OfferAnswered, OfferExpired
from .messages import ENTRY_LINK, OFFER_LINK
from .models import MAX_RADIUS_KM, NOTICE_MINUTES, Leftover, Offer, WaitlistEntry
from .selectors import (
    OFFER_CHANNELS,
    leftover_dose2_cover,
    leftover_free_places,
    leftover_free_slots,
    wave_candidates,
)

ENTRY_DAYS = 30
OFFER_MINUTES = 20
# A wave offers at most this many people per place left.
WAVE_FACTOR = 3
MAX_WINDOWS = 7
# A leftover's places are arrival times: one place per slot, spread from the shortest
# notice on (nobody told now arrives sooner) to the time declared, each at least this long.
# A place is taken before its time comes (the engine books no slot that has begun).
FIRST_ARRIVAL_MINUTES = min(NOTICE_MINUTES)
MIN_MINUTES_PER_DOSE = 5
MAX_MINUTES_PER_DOSE = 120
MAX_LEFTOVER_DOSES = 100
JOINED = "waitlist_joined"
OFFERED = "waitlist_offer"


@dataclass(frozen=True)
class Window:
    """When a person can come: days of the week (0 = Monday) and a time range, local."""

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True)
class OfferAnswer:
    offer: Offer
    # False: the places were gone (the offer is closed, nothing booked).
    accepted: bool
    booking: BookingResult | None = None


# Joining, renewing, leaving -----------------------------------------------------------


def _windows_validate(windows: list[Window]) -> list[dict]:
    if not windows:
        raise InvalidInput(
            gettext("Indiquez au moins un moment où vous pouvez venir (jours et heures)."),
            field="windows",
        )
    if len(windows) > MAX_WINDOWS:
        raise InvalidInput(
            gettext("%(max)d plages horaires au plus.") % {"max": MAX_WINDOWS}, field="windows"
        )
    checked = []
    for window in windows:
        if not window.days or not window.days <= set(range(7)):
            raise InvalidInput(
                gettext("Choisissez au moins un jour de la semaine."), field="windows"
            )
        if window.start >= window.end:
            raise InvalidInput(
                gettext("Une plage horaire doit finir après son début."), field="windows"
            )
        checked.append(
            {
                "days": sorted(window.days),
                "start": window.start.strftime("%H:%M"),
                "end": window.end.strftime("%H:%M"),
            }
        )
    return checked


def _wishes_validate(
    *, radius_km: int, notice_minutes: int, vaccine_ids: list[int]
) -> list[Vaccine]:
    if not 1 <= radius_km <= MAX_RADIUS_KM:
        raise InvalidInput(
            gettext("La distance va de 1 à %(max)d km.") % {"max": MAX_RADIUS_KM},
            field="radius_km",
        )
    if notice_minutes not in NOTICE_MINUTES:
        raise InvalidInput(
            gettext("Choisissez « dans les 30 minutes » ou « dans les 2 heures »."),
            field="notice_minutes",
        )
    vaccines = list(Vaccine.objects.filter(pk__in=set(vaccine_ids), active=True))
    if not vaccines or len(vaccines) != len(set(vaccine_ids)):
        raise InvalidInput(
            gettext("Choisissez au moins un vaccin parmi ceux proposés."), field="vaccines"
        )
    return vaccines


def _course_allows_joining(*, contact: Contact, key: str) -> None:
    """A person with a course may join to come earlier only with the contact that booked
    it (the same general words as booking: nobody learns who is booked) and while its
    dose 1 is still to come."""
    series = Series.objects.filter(person_key=key, status=Series.Status.ACTIVE).first()
    if series is None:
        return
    if series.contact_id != contact.pk:
        raise AlreadyBooked(
            gettext(
                "Cette personne ne peut pas être inscrite avec ce téléphone ou cet e-mail. Si "
                "elle a déjà un rendez-vous, inscrivez-la avec le téléphone ou l'e-mail qui l'a "
                "pris, ou appelez le centre d'appel."
            )
        )
    if not series.appointments.filter(dose_number=1, status=Appointment.Status.BOOKED).exists():
        raise InvalidInput(
            gettext(
                "La première dose de cette personne est déjà faite ou en cours : la liste "
                "d'attente est pour une première dose."
            )
        )


def waitlist_wishes_check(
    *, radius_km: int, windows: list[Window], notice_minutes: int, vaccine_ids: list[int]
) -> None:
    """The checks of waitlist_join on what the person wishes, for a page to answer before
    it sends a code: the same refusals, on their fields."""
    _windows_validate(windows)
    _wishes_validate(radius_km=radius_km, notice_minutes=notice_minutes, vaccine_ids=vaccine_ids)


@unit_of_work
def waitlist_join(
    *,
    contact: Contact,
    person: PersonData,
    place: Place,
    radius_km: int,
    windows: list[Window],
    notice_minutes: int,
    vaccine_ids: list[int],
    actor: Actor | None = None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put a person on the list for 30 days: one active entry per person, across
    contacts (a constraint). `contact` is verified (the portal's code) or an agent's
    (`actor`, recorded). The message confirming it carries the link to renew or leave."""
    now = now or timezone.now()
    if contact.channel not in OFFER_CHANNELS:
        raise InvalidInput(
            gettext(
                "Les propositions partent par SMS ou e-mail, à saisir dans les minutes : "
                "il faut un téléphone mobile ou une adresse e-mail."
            ),
            field="contact",
        )
    person = _person_validate(person, today=timezone.localdate(now))
    checked_windows = _windows_validate(windows)
    vaccines = _wishes_validate(
        radius_km=radius_km, notice_minutes=notice_minutes, vaccine_ids=vaccine_ids
    )
    key = person_index(
        given_name=person.given_name, family_name=person.family_name, birth_date=person.birth_date
    )
    _course_allows_joining(contact=contact, key=key)
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                contact=contact,
                given_name=person.given_name,
                family_name=person.family_name,
                birth_date=person.birth_date,
                birth_year=person.birth_date.year,
                categories=list(person.categories),
                person_key=key,
                place_label=place.label[:100],
                latitude=place.position.latitude,
                longitude=place.position.longitude,
                grid_cell=grid_cell(place.position),
                radius_km=radius_km,
                windows=checked_windows,
                notice_minutes=notice_minutes,
                joined_at=now,
                expires_at=now + timedelta(days=ENTRY_DAYS),
                by=actor.user if actor else None,
            )
    except IntegrityError:
        raise AlreadyOnList(
            gettext(
                "Cette personne est déjà sur la liste d'attente. Pour changer son inscription, "
                "quittez la liste avec le lien reçu, puis inscrivez-la de nouveau."
            )
        ) from None
    entry.vaccines.set(vaccines)
    _entry_notify(entry=entry, kind=JOINED, event=f"waitlist:{entry.pk}:joined")
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            obj=entry,
            summary=gettext("Inscription sur la liste d'attente par téléphone"),
        )
    return entry


def _entry_notify(
    *, entry: WaitlistEntry, kind: str, event: str, context: dict | None = None
) -> None:
    contact = entry.contact
    with translation.override(contact.language):
        expires = formats.date_format(timezone.localtime(entry.expires_at), "j F Y")
    notification_enqueue(
        channel=contact.channel,
        to=contact.address,
        kind=kind,
        event=event,
        context={
            "person_name": f"{entry.given_name} {entry.family_name}",
            "place": entry.place_label,
            "radius_km": entry.radius_km,
            "expires": expires,
            # Every message of the list carries the link to renew or leave it.
            "entry_url": Secret(ENTRY_LINK, entry.pk),
            **(context or {}),
        },
        language=contact.language,
    )


@unit_of_work
def waitlist_renew(*, entry_id: int, now: datetime | None = None) -> WaitlistEntry:
    """Thirty days more on the list, from now, for an entry still active."""
    now = now or timezone.now()
    renewed = WaitlistEntry.objects.filter(
        pk=entry_id, status=WaitlistEntry.Status.ACTIVE, expires_at__gt=now
    ).update(expires_at=now + timedelta(days=ENTRY_DAYS))
    if not renewed:
        raise InvalidInput(
            gettext("Cette inscription n'est plus active : inscrivez-vous de nouveau.")
        )
    return WaitlistEntry.objects.get(pk=entry_id)


@unit_of_work
def waitlist_leave(
    *, entry_id: int, actor: Actor | None = None, now: datetime | None = None
) -> bool:
    """Off the list (the link in every message, or an agent). False when it was not on
    it any more: nothing to do. Offers still running for it are withdrawn."""
    now = now or timezone.now()
    left = WaitlistEntry.objects.filter(pk=entry_id, status=WaitlistEntry.Status.ACTIVE).update(
        status=WaitlistEntry.Status.LEFT, ended_at=now
    )
    if left:
        _live_offers(entry_id=entry_id, now=now).update(
            status=Offer.Status.EXPIRED, answered_at=now
        )
        if actor is not None:
            audit_record(
                actor=actor,
                action="change",
                object_type="waitlist.waitlistentry",
                object_id=entry_id,
                summary=gettext("Sortie de la liste d'attente par téléphone"),
            )
    return bool(left)


def _live_offers(*, now: datetime, **filters):
    return Offer.objects.filter(
        status=Offer.Status.OFFERED, answered_at__isnull=True, expires_at__gt=now, **filters
    )


def entries_expire(*, now: datetime | None = None) -> int:
    """Entries past their 30 days leave the list (one statement)."""
    now = now or timezone.now()
    return WaitlistEntry.objects.filter(
        status=WaitlistEntry.Status.ACTIVE, expires_at__lte=now
    ).update(status=WaitlistEntry.Status.EXPIRED, ended_at=F("expires_at"))


# Leftover doses --------------------------------------------------------------------------


def _leftover_times(
    *, site: Site, doses: int, until: datetime, now: datetime
) -> tuple[datetime, int]:
    """The leftover session's start (local: in the shortest notice, on a multiple of 5
    minutes) and its slots' length: one place per slot, so that the places are exactly
    the doses declared and each person gets an arrival time."""
    if not 1 <= doses <= MAX_LEFTOVER_DOSES:
        raise InvalidInput(
            gettext("Le nombre de doses va de 1 à %(max)d.") % {"max": MAX_LEFTOVER_DOSES},
            field="doses",
        )
    tz = department_timezone(department_code=site.department_id)
    local_now = now.astimezone(tz)
    start = local_now.replace(second=0, microsecond=0) + timedelta(
        minutes=5 - local_now.minute % 5 + FIRST_ARRIVAL_MINUTES
    )
    end = until.astimezone(tz)
    if end <= local_now:
        raise InvalidInput(gettext("Cette heure est déjà passée."), field="until")
    if end.date() != local_now.date():
        raise InvalidInput(
            gettext("Les doses restantes se proposent pour aujourd'hui : une heure avant minuit."),
            field="until",
        )
    minutes = int((end - start).total_seconds() // 60)
    per_dose = min(MAX_MINUTES_PER_DOSE, minutes // doses)
    if per_dose < MIN_MINUTES_PER_DOSE:
        earliest = start + timedelta(minutes=MIN_MINUTES_PER_DOSE * doses)
        raise InvalidInput(
            gettext(
                "Pour %(doses)d dose(s), comptez au moins %(minutes)d minutes chacune : une "
                "heure de fin à partir de %(time)s."
            )
            % {
                "doses": doses,
                "minutes": MIN_MINUTES_PER_DOSE,
                "time": earliest.strftime("%H:%M"),
            },
            field="until",
        )
    if (start + timedelta(minutes=per_dose * doses)).date() != start.date():
        raise InvalidInput(
            gettext("Les doses restantes se proposent pour aujourd'hui : une heure avant minuit."),
            field="until",
        )
    return start, per_dose


def _lot_check(*, site: Site, vaccine: Vaccine, lot: str) -> str:
    lot = lot.strip()
    if not lot or len(lot) > 50:
        raise InvalidInput(
            gettext("Indiquez le lot des doses (50 caractères au plus)."), field="lot"
        )
    if not any(d.vaccine_id == vaccine.pk for d in lot_deliveries(site_id=site.pk, lot=lot)):
        raise InvalidInput(
            gettext("Ce lieu n'a pas reçu de lot %(lot)s de %(vaccine)s.")
            % {"lot": lot, "vaccine": vaccine.name},
            field="lot",
        )
    return lot


@unit_of_work
def leftover_declare(
    *,
    actor: Actor,
    site: Site,
    vaccine: Vaccine,
    lot: str,
    doses: int,
    until: datetime,
    now: datetime | None = None,
) -> Leftover:
    """A site's doses left today, offered until `until`: a first-dose session of one
    place per dose from the next 5 minutes, its doses promised from the stock by
    `session_open` (refused when they are not there: invariant 2), then the first wave
    of offers, all in one transaction with its audit event."""
    now = now or timezone.now()
    if not site_is_public(site=site, now=now):
        raise InvalidInput(
            gettext("Ce lieu n'est pas publié : ses doses ne peuvent pas être proposées.")
        )
    start, per_dose = _leftover_times(site=site, doses=doses, until=until, now=now)
    lot = _lot_check(site=site, vaccine=vaccine, lot=lot)
    end = start + timedelta(minutes=per_dose * doses)
    session = session_open(
        site=site,
        vaccine=vaccine,
        day=start.date(),
        start_time=start.time(),
        end_time=end.time(),
        lines=1,
        slot_minutes=per_dose,
        now=now,
    )
    leftover = Leftover.objects.create(
        site=site,
        vaccine=vaccine,
        session=session,
        lot=lot,
        doses=doses,
        until=end,
        by=actor.user,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="create",
        obj=leftover,
        site=site,
        summary=gettext("%(doses)d dose(s) restante(s) de %(vaccine)s proposée(s) jusqu'à %(time)s")
        % {"doses": doses, "vaccine": vaccine.name, "time": end.strftime("%H:%M")},
        details={"lot": lot, "session": session.pk},
    )
    _wave_send(leftover=leftover, now=now)
    return leftover


@unit_of_work
def leftover_cancel(
    *, actor: Actor, site_id: int, leftover_id: int, now: datetime | None = None
) -> Leftover:
    """Stop offering a declaration: its free places close (their doses back to the stock),
    offers still running are closed as gone. People who accepted keep their booking;
    cancelling it is the session's cancellation, which tells them."""
    now = now or timezone.now()
    leftover = Leftover.objects.filter(pk=leftover_id, site_id=site_id).first()
    if leftover is None:
        raise NotFound(gettext("Déclaration introuvable."))
    stopped = Leftover.objects.filter(pk=leftover.pk, status=Leftover.Status.OPEN).update(
        status=Leftover.Status.CANCELLED
    )
    if not stopped:
        raise InvalidInput(gettext("Ces doses ne sont déjà plus proposées."))
    # Closed already when its last slot ended: nothing left to give back.
    with contextlib.suppress(SessionNotOpen):
        session_close(actor=None, session_id=leftover.session_id)
    _live_offers(now=now, leftover=leftover).update(status=Offer.Status.GONE, answered_at=now)
    audit_record(
        actor=actor,
        action="change",
        obj=leftover,
        site=Site.objects.select_related("department").get(pk=leftover.site_id),
        summary=gettext("Doses restantes retirées de la liste d'attente"),
    )
    leftover.status = Leftover.Status.CANCELLED
    return leftover


# Waves --------------------------------------------------------------------------------


@unit_of_work
def leftover_wave_send(*, leftover_id: int, now: datetime | None = None) -> int:
    """The next wave for a declaration whose offers have all been answered or expired
    with places left (the worker, `manage.py waitlist_tick`). Returns the offers sent."""
    now = now or timezone.now()
    # Lock order: the leftover row first; two workers send one wave.
    leftover = (
        Leftover.objects.select_for_update(of=("self",))
        .select_related("site", "vaccine")
        .get(pk=leftover_id)
    )
    return _wave_send(leftover=leftover, now=now)


def _wave_send(*, leftover: Leftover, now: datetime) -> int:
    """At most WAVE_FACTOR × places left, to the next people in the priority order, each
    with a personal link valid OFFER_MINUTES; nothing while an offer still runs."""
    if leftover.status != Leftover.Status.OPEN or _live_offers(now=now, leftover=leftover).exists():
        return 0
    free = leftover_free_places(leftover=leftover, now=now)
    dose2 = leftover_dose2_cover(leftover=leftover, now=now)
    if dose2 is not None:
        # Each place a two-dose product's needs its dose 2 at the site (invariant 3): no
        # more people offered than can have both. Read again for every wave: second-dose
        # places opened since the last one are offered by the next.
        free = min(free, dose2.places)
    if not free:
        return 0
    candidates = wave_candidates(leftover=leftover, now=now, limit=WAVE_FACTOR * free)
    if not candidates:
        return 0
    wave = (leftover.offers.aggregate(last=Max("wave"))["last"] or 0) + 1
    offers = Offer.objects.bulk_create(
        Offer(
            leftover=leftover,
            entry=candidate.entry,
            wave=wave,
            distance_km=round(candidate.distance_km, 1),
            sent_at=now,
            expires_at=now + timedelta(minutes=OFFER_MINUTES),
        )
        for candidate in candidates
    )
    site = leftover.site
    tz = department_timezone(department_code=site.department_id)
    until = leftover.until.astimezone(tz).strftime("%H:%M")
    for offer, candidate in zip(offers, candidates, strict=True):
        _entry_notify(
            entry=candidate.entry,
            kind=OFFERED,
            event=f"waitlist-offer:{offer.pk}",
            context={
                "site_name": site.name,
                "site_address": ", ".join(part for part in (site.address, site.postcode) if part),
                "distance_km": offer.distance_km,
                "vaccine": leftover.vaccine.name,
                "until": until,
                "minutes": OFFER_MINUTES,
                "offer_url": Secret(OFFER_LINK, offer.pk),
            },
        )
    return len(offers)


def offers_expire(*, now: datetime | None = None) -> int:
    """Offers whose 20 minutes are over, unanswered, are recorded as expired."""
    now = now or timezone.now()
    return Offer.objects.filter(
        status=Offer.Status.OFFERED, answered_at__isnull=True, expires_at__lte=now
    ).update(status=Offer.Status.EXPIRED)


@dataclass(frozen=True)
class TickReport:
    offers_expired: int
    offers_sent: int
    leftovers_ended: int
    entries_expired: int


def waitlist_tick(*, now: datetime | None = None) -> TickReport:
    """The worker's step, every minute or so: offers past their time expire, declarations
    whose places have all begun end, each open one with places left and no offer running
    sends its next wave, entries past their 30 days leave the list. Each step its own
    short transaction."""
    now = now or timezone.now()
    expired = offers_expire(now=now)
    ended = Leftover.objects.filter(status=Leftover.Status.OPEN, until__lte=now).update(
        status=Leftover.Status.ENDED
    )
    sent = 0
    for leftover_id in list(
        Leftover.objects.filter(status=Leftover.Status.OPEN).values_list("pk", flat=True)
    ):
        sent += leftover_wave_send(leftover_id=leftover_id, now=now)
    return TickReport(
        offers_expired=expired,
        offers_sent=sent,
        leftovers_ended=ended,
        entries_expired=entries_expire(now=now),
    )


# Accepting ----------------------------------------------------------------------------


def _offer_refusal(*, offer_id: int, now: datetime) -> Exception:
    offer = Offer.objects.get(pk=offer_id)
    if offer.status == Offer.Status.EXPIRED or (
        offer.status == Offer.Status.OFFERED and offer.expires_at <= now
    ):
        return OfferExpired(
            gettext(
                "Cette proposition a expiré (20 minutes) : d'autres personnes ont été prévenues. "
                "Vous restez sur la liste pour les prochaines doses."
            )
        )
    return OfferAnswered(
        gettext("Cette proposition a déjà reçu une réponse : ce lien ne sert qu'une fois.")
    )


@unit_of_work
def offer_accept(*, offer_id: int, now: datetime | None = None) -> OfferAnswer:
    """Take one of a leftover's places for the person offered it, once.

    The leftover row decides first (`accepted < doses`, still open): never more accepted
    than declared, and a cancellation is decided before or after, never during. Then the
    offer is claimed (answered once, within its time). Then the booking engine books it:
    the person's later dose 1 moved here (dose 2 kept or moved with it, as a move does),
    or a new course (hold + confirm: eligibility, one course per person, dose 2 at the
    site inside the interval). When no place is left, or no second-dose place for a
    two-dose product (booking keeps a course's doses at one site), the offer is recorded
    as gone and answered so at once: never a dose 1 without its dose 2."""
    now = now or timezone.now()
    offer = Offer.objects.select_related("leftover", "entry__contact").filter(pk=offer_id).first()
    if offer is None:
        raise NotFound(gettext("Ce lien de proposition n'est pas valable."))
    if offer.status != Offer.Status.OFFERED or offer.expires_at <= now or offer.answered_at:
        raise _offer_refusal(offer_id=offer.pk, now=now)
    taken = Leftover.objects.filter(
        pk=offer.leftover_id, status=Leftover.Status.OPEN, accepted__lt=F("doses")
    ).update(accepted=F("accepted") + 1)
    claimed = Offer.objects.filter(
        pk=offer.pk, status=Offer.Status.OFFERED, answered_at__isnull=True, expires_at__gt=now
    ).update(answered_at=now, **({} if taken else {"status": Offer.Status.GONE}))
    if not claimed:
        raise _offer_refusal(offer_id=offer.pk, now=now)
    if not taken:
        return _answer(offer.pk, accepted=False)
    try:
        with transaction.atomic():
            booking, slot_id = _offer_book(offer=offer, now=now)
    except (SlotUnavailable, Dose2Unavailable):
        # Places in the past or closed under the counter, or the site's last second-dose
        # place taken meanwhile (never a dose 1 without its dose 2): the offer is gone all
        # the same.
        Leftover.objects.filter(pk=offer.leftover_id).update(accepted=F("accepted") - 1)
        Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.GONE)
        return _answer(offer.pk, accepted=False)
    Offer.objects.filter(pk=offer.pk).update(
        status=Offer.Status.ACCEPTED, slot_id=slot_id, series=booking.series
    )
    WaitlistEntry.objects.filter(pk=offer.entry_id).update(
        status=WaitlistEntry.Status.SERVED, ended_at=now
    )
    # Served: an offer of another declaration still running for them closes.
    _live_offers(now=now, entry_id=offer.entry_id).exclude(pk=offer.pk).update(
        status=Offer.Status.EXPIRED, answered_at=now
    )
    return _answer(offer.pk, accepted=True, booking=booking)


def _answer(offer_id: int, *, accepted: bool, booking: BookingResult | None = None) -> OfferAnswer:
    offers = Offer.objects.select_related("leftover__site", "leftover__vaccine", "slot")
    offer = offers.get(pk=offer_id)
    return OfferAnswer(offer=offer, accepted=accepted, booking=booking)


def _offer_book(*, offer: Offer, now: datetime) -> tuple[BookingResult, int]:
    """The first leftover place the person can reach (its slot ends after their notice),
    booked by the engine; SlotUnavailable when none is left."""
    entry = offer.entry
    arrival = now + timedelta(minutes=entry.notice_minutes)
    free = leftover_free_slots(leftover=offer.leftover, now=now)
    slot_ids = [slot.pk for slot in free if slot.end > arrival]
    series = Series.objects.filter(person_key=entry.person_key, status=Series.Status.ACTIVE).first()
    if series is not None and series.contact_id != entry.contact_id:
        raise AlreadyBooked(
            gettext(
                "Ce rendez-vous ne peut pas être pris pour cette personne avec ce téléphone ou "
                "cet e-mail : appelez le centre d'appel."
            )
        )
    person = PersonData(
        given_name=entry.given_name,
        family_name=entry.family_name,
        birth_date=entry.birth_date,
        categories=tuple(entry.categories),
    )
    for slot_id in slot_ids:
        try:
            with transaction.atomic():
                booking = _book_one(
                    series=series, entry=entry, person=person, slot_id=slot_id, offer=offer, now=now
                )
            return booking, slot_id
        except SlotUnavailable:
            continue
    raise SlotUnavailable(gettext("Les doses ont toutes trouvé preneur."), reason="full")


def _book_one(
    *,
    series: Series | None,
    entry: WaitlistEntry,
    person: PersonData,
    slot_id: int,
    offer: Offer,
    now: datetime,
) -> BookingResult:
    if series is not None and not _dose1_booked(series):
        raise _dose1_done()
    if series is not None and series.vaccine_id == offer.leftover.vaccine_id:
        # Dose 1 moved earlier, to the leftover place: the later one is given back in the
        # same transaction, dose 2 kept or moved as a move does.
        return booking_move(series_id=series.pk, dose_number=1, slot_id=slot_id, now=now)
    if series is not None:
        # Another product: the course booked is cancelled (and told) in the same
        # transaction as the new one is booked.
        booking_cancel(
            series_id=series.pk, reason=gettext("Dose restante acceptée ailleurs"), now=now
        )
    held = hold_create(slot_id=slot_id, now=now)
    return booking_confirm(hold_id=str(held.hold.pk), contact=entry.contact, person=person, now=now)


def _dose1_booked(series: Series) -> bool:
    return series.appointments.filter(dose_number=1, status=Appointment.Status.BOOKED).exists()


def _dose1_done() -> InvalidInput:
    return InvalidInput(
        gettext(
            "La première dose de cette personne est déjà faite ou en cours : la liste "
            "d'attente est pour une première dose."
        )
    )
