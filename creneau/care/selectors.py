from datetime import date, datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext

from creneau.booking.models import Appointment
from creneau.core.errors import NotFound

from .models import Administration, AdministrationCorrection


def site_appointment_get(*, site_id: int, appointment_id: int) -> Appointment:
    """An appointment at this site, with its slot, site, vaccine, course and person; the
    same "not found" for another site's as for one that does not exist."""
    appointment = (
        Appointment.objects.select_related("slot__site", "slot__vaccine", "series", "person")
        .filter(pk=appointment_id, slot__site_id=site_id)
        .first()
    )
    if appointment is None:
        raise NotFound(gettext("Rendez-vous introuvable : %(id)s.") % {"id": appointment_id})
    return appointment


def noshows_due(*, site_id: int, day: date, now: datetime) -> QuerySet[Appointment]:
    """Booked appointments of the day whose slot has ended without the person checking in."""
    return Appointment.objects.filter(
        slot__site_id=site_id, slot__date=day, slot__end__lte=now, status=Appointment.Status.BOOKED
    )


def appointment_administrations(*, appointment_id: int) -> list[Administration]:
    """Every dose record of an appointment, the standing one and those withdrawn, oldest
    first, each with its corrections and who made them: the whole history of the dose."""
    return list(
        Administration.objects.filter(appointment_id=appointment_id)
        .select_related("given_by")
        .prefetch_related(
            Prefetch(
                "corrections",
                queryset=AdministrationCorrection.objects.select_related("corrected_by"),
            )
        )
        .order_by("recorded_at", "pk")
    )
