from django.conf import settings
from django.db import models
from django.db.models import Q

from creneau.booking.models import Appointment
from creneau.vaccines.models import Vaccine


class Administration(models.Model):
    """The dose actually given: which product and lot, when, by whom."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="administration"
    )
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    lot = models.CharField(max_length=40)
    # A lot the site has no delivery of, taken because the desk confirmed it was lent.
    lot_lent = models.BooleanField(default=False)
    given_at = models.DateTimeField()
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(lot=""), name="administration_has_lot")]
