"""Holds: a first-dose place (and its second-dose place) kept for a few minutes while
the person types their details. Every place is taken by a conditional update on its slot
(invariant 1); an expired hold never blocks anyone."""

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext

from creneau.core.db import is_postgresql, keys_lock, retry_on_deadlock, row_insert
from creneau.core.errors import (
    Dose2Unavailable,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    TooManyRequests,
)
from creneau.core.metrics import refusals_counted
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.selectors import slots_free_from
from creneau.scheduling.services import SlotChanges, slot_release, slot_take
from creneau.sites.selectors import site_is_public, site_require_public

from ..metrics import HOLDS
from ..models import Hold
from ..selectors import Dose1Elsewhere, dose2_missing, dose2_options
from ..sql import hold_places_take, holds_live_of, slot_for_hold


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    dose2_options: list[Slot]


@dataclass(frozen=True)
class Holder:
    """Who takes a hold on the portal or through the API, for the limits on live holds:
    `client` a portal session or an API caller, `network` the address it comes from
    (core.clients.network_key). Staff holds have no holder and no limit."""

    client: str
    network: str = ""


def _public_slot(*, slot_id: int, now: datetime, dose1: Dose1Elsewhere | None) -> Slot:
    """A first-dose slot, or with a dose 1 given elsewhere (`dose1`) a second-dose slot
    of its product inside its interval, still to come in an open session of a public site."""
    slot = slot_for_hold(slot_id=slot_id)
    if slot is None or not site_is_public(site=slot.site, now=now):
        raise NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if dose1 is None and slot.dose_number != 1:
        raise InvalidInput(
            gettext("On réserve un créneau de première dose ; la seconde est proposée avec lui.")
        )
    if dose1 is not None:
        _dose2_alone_fits(slot=slot, dose1=dose1)
    if slot.start <= now:
        raise SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.session.status != Session.Status.OPEN:
        raise SlotUnavailable(gettext("Ce créneau n'est plus proposé."), reason="closed")
    return slot


def _dose2_alone_fits(*, slot: Slot, dose1: Dose1Elsewhere) -> None:
    """Invariant 3 for a dose 2 alone: a second-dose slot of the product of its dose 1,
    inside the interval after it (the conditional update takes it on those terms)."""
    if slot.dose_number != 2:
        raise InvalidInput(
            gettext("La première dose a été reçue ailleurs : choisissez un créneau de 2e dose."),
            field="slot_id",
        )
    if slot.vaccine_id != dose1.vaccine.pk:
        raise InvalidInput(
            gettext(
                "Ce créneau est pour %(slot)s ; la seconde dose se fait avec le vaccin de la "
                "première (%(vaccine)s)."
            )
            % {"slot": slot.vaccine.name, "vaccine": dose1.vaccine.name},
            field="slot_id",
        )
    if not dose1.first <= slot.date <= dose1.last:
        raise Dose2Unavailable(
            gettext(
                "Ce créneau est hors de l'intervalle prévu pour la seconde dose de %(vaccine)s : "
                "du %(first)s au %(last)s."
            )
            % {
                "vaccine": dose1.vaccine.name,
                "first": formats.date_format(dose1.first, "j F Y"),
                "last": formats.date_format(dose1.last, "j F Y"),
            }
        )


def _slot_refusal(*, slot_id: int, now: datetime) -> SlotUnavailable:
    held = Hold.objects.filter(Q(slot_id=slot_id) | Q(dose2_slot_id=slot_id), expires_at__gt=now)
    if held.exists():
        return SlotUnavailable(
            gettext(
                "Ce créneau est retenu par d'autres personnes en train de réserver ; il peut se "
                "libérer dans quelques minutes. Choisissez-en un autre."
            ),
            reason="held",
            slot_id=slot_id,
        )
    return SlotUnavailable(
        gettext("Ce créneau vient d'être complet. Choisissez-en un autre."),
        reason="full",
        slot_id=slot_id,
    )


def _room_made(
    *, holder: Holder, replacing: str | None, now: datetime, changes: SlotChanges
) -> None:
    """At most HOLDS_PER_CLIENT live holds per client, HOLDS_PER_ADDRESS per network:
    the hold the new one replaces and then the client's oldest are given back to make
    room, and a network already holding its share is refused. All of it only if the new
    hold is taken: the transaction is the new hold's.

    One client's or network's holds are counted under their keys' locks, so two holds
    taken at once from one place are counted one after the other."""
    # 0 turns a limit off (a benchmark's crowd from one address): no lock, no count.
    client = holder.client if settings.HOLDS_PER_CLIENT else ""
    network = holder.network if settings.HOLDS_PER_ADDRESS else ""
    keys_lock(*(f"hold:{key}" for key in (client, network) if key))
    live = holds_live_of(client=client, network=network, hold_id=replacing, now=now)
    replaced = Hold._meta.pk.to_python(replacing) if replacing else None
    given_back = set()
    for old in live:
        if old.pk == replaced and old.client == holder.client:
            _hold_release(hold=old, changes=changes)
            given_back.add(old.pk)
    if client:
        keep = settings.HOLDS_PER_CLIENT - 1
        for old in [hold for hold in live if hold.client == client and hold.pk not in given_back][
            keep:
        ]:
            _hold_release(hold=old, changes=changes)
            given_back.add(old.pk)
    if network:
        held = sum(1 for hold in live if hold.address == network and hold.pk not in given_back)
        if held >= settings.HOLDS_PER_ADDRESS:
            raise TooManyRequests(
                gettext(
                    "Trop de créneaux sont retenus depuis cette connexion en ce moment. "
                    "Terminez une réservation en cours, ou réessayez dans quelques minutes."
                ),
                retry_after=60,
                limit="holds_per_address",
            )


@transaction.atomic
def _hold_take(
    *,
    slot: Slot,
    options: list[Slot],
    now: datetime,
    holder: Holder | None,
    replacing: str | None,
    dose1: Dose1Elsewhere | None,
) -> Hold:
    changes = SlotChanges()
    if holder is not None:
        _room_made(holder=holder, replacing=replacing, now=now, changes=changes)
    hold = Hold(
        slot=slot,
        dose1_elsewhere_on=dose1.given_on if dose1 else None,
        expires_at=now + timedelta(minutes=settings.HOLD_MINUTES),
        client=holder.client if holder else "",
        address=holder.network if holder else "",
    )
    if options and changes.untouched() and is_postgresql():
        # Both places, the hold and the read model in one statement (booking.sql); when
        # its dose-2 option was taken meanwhile, the next ones are tried one at a time.
        hold.dose2_slot = options[0]
        taken = hold_places_take(hold=hold, now=now)
        if taken.dose1 is None:
            raise _slot_refusal(slot_id=slot.pk, now=now)
        if taken.written:
            for place in (taken.dose1, taken.dose2):
                if place.capacity == place.booked:  # it filled up: first and last free starts
                    changes.recount(place)
            changes.apply()
            return hold
        changes.record(taken.dose1, free_delta=-1)
        candidates = options[1:]
    else:
        conditions: dict[str, object] = {"dose_number": 1}
        if dose1 is not None:
            conditions = dict(
                dose_number=2,
                vaccine_id=dose1.vaccine.pk,
                date__gte=dose1.first,
                date__lte=dose1.last,
            )
        if slot_take(slot_id=slot.pk, now=now, changes=changes, **conditions) is None:
            raise _slot_refusal(slot_id=slot.pk, now=now)
        candidates = options
    hold.dose2_slot = next(
        (
            option
            for option in candidates
            if slot_take(slot_id=option.pk, now=now, changes=changes, dose_number=2)
        ),
        None,
    )
    if options and hold.dose2_slot is None:
        raise Dose2Unavailable(
            gettext(
                "Plus aucun créneau de seconde dose n'est libre pour ce rendez-vous : "
                "choisissez une autre date ou un autre lieu."
            )
        )
    row_insert(hold)
    changes.apply()
    return hold


@refusals_counted("hold")
def hold_create(
    *,
    slot_id: int,
    holder: Holder | None = None,
    replacing: str | None = None,
    dose1_elsewhere: Dose1Elsewhere | None = None,
    now: datetime | None = None,
) -> HoldResult:
    """Keep a first-dose place (and the best second-dose place) for a few minutes, for
    `holder` within its limits, giving back the holder's hold it is `replacing` (another
    slot chosen) once the new one is had (see _room_made). With `dose1_elsewhere` (checked
    by booking.selectors.dose1_elsewhere_check), a second-dose place alone.

    An expired hold is no obstacle: when a slot looks full, the expired holds of its site
    are given back first, so correctness needs no periodic job (holds_expire only keeps
    the read model fresh between two such attempts).
    """
    return _hold_create(
        slot_id=slot_id,
        holder=holder,
        replacing=replacing,
        dose1_elsewhere=dose1_elsewhere,
        now=now,
    )


@refusals_counted("hold")
def hold_create_at(
    *,
    site_id: int,
    vaccine_id: int,
    start: datetime,
    holder: Holder | None = None,
    now: datetime | None = None,
) -> HoldResult:
    """Keep a free first-dose place at a site and time rather than one slot: the slot of
    `start` or, when it has just filled, the next free one of that day at the site. A
    list read a few seconds ago (search's next slots, kept a second in the caches) then
    costs no refusal while the day has room (issue 15: half the holds were refused on
    lists 7 s old). Each place is tried by hold_create's rules, one after the other."""
    now = now or timezone.now()
    refusal = SlotUnavailable(
        gettext("Plus aucun créneau libre ce jour-là à partir de cette heure dans ce lieu."),
        reason="full",
    )
    slot_ids = slots_free_from(site_id=site_id, vaccine_id=vaccine_id, start=start, now=now)
    if not slot_ids:
        # A site that is not public is not found, as with a slot id (hold_create checks
        # each slot's site: this read is only for an empty list).
        site_require_public(site_id=site_id, now=now)
    for slot_id in slot_ids:
        try:
            return _hold_create(
                slot_id=slot_id, holder=holder, replacing=None, dose1_elsewhere=None, now=now
            )
        except SlotUnavailable as error:
            refusal = error
    raise refusal


@retry_on_deadlock
def _hold_create(
    *,
    slot_id: int,
    holder: Holder | None,
    replacing: str | None,
    dose1_elsewhere: Dose1Elsewhere | None,
    now: datetime | None,
) -> HoldResult:
    now = now or timezone.now()
    slot = _public_slot(slot_id=slot_id, now=now, dose1=dose1_elsewhere)
    for attempt in range(2):
        options = dose2_options(slot=slot, now=now) if dose1_elsewhere is None else []
        if dose1_elsewhere is None and slot.vaccine.doses_in_series > 1 and not options:
            refusal: Exception = dose2_missing(slot=slot)
        else:
            try:
                hold = _hold_take(
                    slot=slot,
                    options=options,
                    now=now,
                    holder=holder,
                    replacing=replacing,
                    dose1=dose1_elsewhere,
                )
            except (SlotUnavailable, Dose2Unavailable) as error:
                refusal = error
            else:
                ordered = [hold.dose2_slot] if hold.dose2_slot else []
                ordered += [option for option in options if option.pk != hold.dose2_slot_id]
                transaction.on_commit(HOLDS.inc)
                return HoldResult(hold=hold, dose2_options=ordered)
        if attempt or not holds_expire(now=now, site_id=slot.site_id):
            break
    raise refusal


def _hold_release(*, hold: Hold, changes: SlotChanges) -> bool:
    """Give back a hold's places, once: the delete decides who does it."""
    deleted, _ = Hold.objects.filter(pk=hold.pk).delete()
    if not deleted:
        return False
    slot_release(slot_id=hold.slot_id, changes=changes)
    if hold.dose2_slot_id:
        slot_release(slot_id=hold.dose2_slot_id, changes=changes)
    return True


@retry_on_deadlock
@transaction.atomic
def hold_release(*, hold_id: str) -> None:
    hold = Hold.objects.filter(pk=hold_id).first()
    changes = SlotChanges()
    if hold is None or not _hold_release(hold=hold, changes=changes):
        raise NotFound(gettext("Cette réservation temporaire n'existe plus."))
    changes.apply()


def hold_renew(
    *,
    hold_id: str,
    slot_id: int,
    holder: Holder | None = None,
    dose1_elsewhere: Dose1Elsewhere | None = None,
    now: datetime | None = None,
) -> HoldResult:
    """The same slot again for someone whose hold ran out while they typed (the portal
    promises it): the old hold's places go back first, unless a worker already gave them
    back, then hold_create takes the slot and a dose 2 anew, or refuses as it does."""
    with contextlib.suppress(NotFound):
        hold_release(hold_id=hold_id)
    return hold_create(slot_id=slot_id, holder=holder, dose1_elsewhere=dose1_elsewhere, now=now)


def holds_expire(*, now: datetime | None = None, site_id: int | None = None) -> int:
    """Give back the places of expired holds (all, or one site's). Returns how many.

    Each hold is released in its own short transaction, in the usual lock order.
    """
    now = now or timezone.now()
    expired = Hold.objects.filter(expires_at__lte=now)
    if site_id is not None:
        expired = expired.filter(slot__site_id=site_id)
    released = 0
    for hold in list(expired.order_by("expires_at")[:1000]):
        with transaction.atomic():
            changes = SlotChanges()
            if _hold_release(hold=hold, changes=changes):
                changes.apply()
                released += 1
    return released
