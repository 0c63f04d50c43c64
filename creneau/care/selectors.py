from datetime import date, datetime

from django.db.models import QuerySet

from creneau.booking.models import Appointment


def noshows_due(*, site_id: int, day: date, now: datetime) -> QuerySet[Appointment]:
    """Booked appointments of the day whose slot has ended without the person checking in."""
    return Appointment.objects.filter(
        slot__site_id=site_id, slot__date=day, slot__end__lte=now, status=Appointment.Status.BOOKED
    )
