"""Holds: a first-dose place (and its second-dose place) kept for a few minutes while
the person types their details. Every place is taken by a conditional update on its slot
(invariant 1); an expired hold never blocks anyone."""

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.db import retry_on_deadlock
from creneau.core.errors import Dose2Unavailable, InvalidInput, NotFound, SlotUnavailable
from creneau.core.metrics import refusals_counted
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.services import SlotChanges, slot_release, slot_take
from creneau.sites.selectors import site_is_public

from ..metrics import HOLDS
from ..models import Hold
from ..selectors import dose2_missing, dose2_options


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    dose2_options: list[Slot]


def _public_first_dose_slot(*, slot_id: int, now: datetime) -> Slot:
    slot = Slot.objects.select_related("vaccine", "site", "session").filter(pk=slot_id).first()
    if slot is None or not site_is_public(site=slot.site, now=now):
        raise NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if slot.dose_number != 1:
        raise InvalidInput(
            gettext("On réserve un créneau de première dose ; la seconde est proposée avec lui.")
        )
    if slot.start <= now:
        raise SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.session.status != Session.Status.OPEN:
        raise SlotUnavailable(gettext("Ce créneau n'est plus proposé."), reason="closed")
    return slot


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


@transaction.atomic
def _hold_take(*, slot: Slot, options: list[Slot], now: datetime) -> Hold:
    changes = SlotChanges()
    if slot_take(slot_id=slot.pk, now=now, changes=changes, dose_number=1) is None:
        raise _slot_refusal(slot_id=slot.pk, now=now)
    dose2 = next(
        (
            option
            for option in options
            if slot_take(slot_id=option.pk, now=now, changes=changes, dose_number=2)
        ),
        None,
    )
    if options and dose2 is None:
        raise Dose2Unavailable(
            gettext(
                "Plus aucun créneau de seconde dose n'est libre pour ce rendez-vous : "
                "choisissez une autre date ou un autre lieu."
            )
        )
    hold = Hold.objects.create(
        slot=slot, dose2_slot=dose2, expires_at=now + timedelta(minutes=settings.HOLD_MINUTES)
    )
    changes.apply()
    return hold


@refusals_counted("hold")
@retry_on_deadlock
def hold_create(*, slot_id: int, now: datetime | None = None) -> HoldResult:
    """Keep a first-dose place (and the best second-dose place) for a few minutes.

    An expired hold is no obstacle: when a slot looks full, the expired holds of its site
    are given back first, so correctness needs no periodic job (holds_expire only keeps
    the read model fresh between two such attempts).
    """
    now = now or timezone.now()
    slot = _public_first_dose_slot(slot_id=slot_id, now=now)
    for attempt in range(2):
        options = dose2_options(slot=slot, now=now)
        if slot.vaccine.doses_in_series > 1 and not options:
            refusal: Exception = dose2_missing(slot=slot)
        else:
            try:
                hold = _hold_take(slot=slot, options=options, now=now)
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


def _hold_release_claim(*, hold: Hold, now: datetime) -> bool:
    """Consume a live hold: its places become the booking's, so `booked` stays as it is."""
    deleted, _ = Hold.objects.filter(pk=hold.pk, expires_at__gt=now).delete()
    return bool(deleted)


@retry_on_deadlock
@transaction.atomic
def hold_release(*, hold_id: str) -> None:
    hold = Hold.objects.filter(pk=hold_id).first()
    changes = SlotChanges()
    if hold is None or not _hold_release(hold=hold, changes=changes):
        raise NotFound(gettext("Cette réservation temporaire n'existe plus."))
    changes.apply()


def hold_renew(*, hold_id: str, slot_id: int, now: datetime | None = None) -> HoldResult:
    """The same slot again for someone whose hold ran out while they typed (the portal
    promises it): the old hold's places go back first, unless a worker already gave them
    back, then hold_create takes the slot and a dose 2 anew, or refuses as it does."""
    with contextlib.suppress(NotFound):
        hold_release(hold_id=hold_id)
    return hold_create(slot_id=slot_id, now=now)


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
