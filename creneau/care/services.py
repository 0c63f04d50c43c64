"""The day at a site: people checked in as they arrive, doses given and recorded.

Each step is one conditional update on the appointment's status, limited to the site the
staff member works at, so two people at two desks cannot record the same dose twice.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from creneau.booking.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Series
from creneau.core.errors import InvalidInput, NotFound
from creneau.geography.selectors import department_timezone
from creneau.vaccines.services import stock_give

from .models import Administration

LOT_MAX_LENGTH = 40


def _appointment_at_site(*, appointment_id: int, site_id: int) -> Appointment:
    appointment = (
        Appointment.objects.select_related("slot__site", "slot__vaccine", "series")
        .filter(pk=appointment_id, slot__site_id=site_id)
        .first()
    )
    if appointment is None:
        raise NotFound(gettext("Rendez-vous introuvable : %(id)s.") % {"id": appointment_id})
    return appointment


def _is_today_at_site(appointment: Appointment, now: datetime) -> bool:
    tz = department_timezone(department_code=appointment.slot.site.department_id)
    return appointment.slot.date == now.astimezone(tz).date()


@transaction.atomic
def appointment_check_in(
    *, appointment_id: int, site_id: int, now: datetime | None = None
) -> Appointment:
    """The person is here: booked → arrived, on the appointment's own day only."""
    now = now or timezone.now()
    appointment = _appointment_at_site(appointment_id=appointment_id, site_id=site_id)
    if not _is_today_at_site(appointment, now):
        raise InvalidInput(gettext("Ce rendez-vous n'est pas aujourd'hui."))
    arrived = Appointment.objects.filter(
        pk=appointment.pk, status=Appointment.Status.BOOKED
    ).update(status=Appointment.Status.ARRIVED, updated_at=now)
    if not arrived:
        raise InvalidInput(
            gettext("Ce rendez-vous est déjà « %(status)s ».")
            % {"status": appointment.get_status_display()}
        )
    appointment.status = Appointment.Status.ARRIVED
    return appointment


@transaction.atomic
def administration_record(
    *,
    appointment_id: int,
    site_id: int,
    lot: str,
    by: AbstractBaseUser,
    given_at: datetime | None = None,
    now: datetime | None = None,
) -> Administration:
    """The dose was given: the appointment is fulfilled, the dose moves from committed to
    given in the site's ledger, and a course whose doses are all given is completed."""
    now = now or timezone.now()
    given_at = given_at or now
    lot = lot.strip()
    if not lot or len(lot) > LOT_MAX_LENGTH or not lot.isprintable():
        raise InvalidInput(
            gettext("Indiquez le numéro de lot (au plus %(max)s caractères).")
            % {"max": LOT_MAX_LENGTH},
            field="lot",
        )
    if given_at > now:
        raise InvalidInput(gettext("L'heure de l'injection est dans le futur."), field="given_at")
    appointment = _appointment_at_site(appointment_id=appointment_id, site_id=site_id)
    if not _is_today_at_site(appointment, given_at):
        raise InvalidInput(gettext("Ce rendez-vous n'est pas aujourd'hui."))
    fulfilled = Appointment.objects.filter(
        pk=appointment.pk, status__in=(Appointment.Status.BOOKED, Appointment.Status.ARRIVED)
    ).update(status=Appointment.Status.FULFILLED, updated_at=now)
    if not fulfilled:
        raise InvalidInput(
            gettext("Ce rendez-vous est déjà « %(status)s ».")
            % {"status": appointment.get_status_display()}
        )
    vaccine = appointment.slot.vaccine
    stock_give(site_id=site_id, vaccine_id=vaccine.pk)
    administration = Administration.objects.create(
        appointment=appointment, vaccine=vaccine, lot=lot, given_at=given_at, given_by=by
    )
    still_to_give = Appointment.objects.filter(
        series_id=OuterRef("pk"), status__in=ACTIVE_APPOINTMENT_STATUSES
    )
    Series.objects.filter(pk=appointment.series_id, status=Series.Status.ACTIVE).exclude(
        Exists(still_to_give)
    ).update(status=Series.Status.COMPLETED, version=F("version") + 1)
    return administration
