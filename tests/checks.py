"""Invariants recounted from the tables, shared by the stateful and concurrency tests."""

from creneau.scheduling.models import DayAvailability, Slot


def assert_read_model_equals_a_recount() -> None:
    """Every read-model row says what its slots say: free places, first and last free start."""
    for row in DayAvailability.objects.all():
        free = [
            slot
            for slot in Slot.objects.filter(
                site_id=row.site_id,
                vaccine_id=row.vaccine_id,
                dose_number=row.dose_number,
                date=row.date,
            )
            if slot.booked < slot.capacity
        ]
        assert row.free == sum(slot.capacity - slot.booked for slot in free), row.pk
        assert row.first_free_start == min((slot.start for slot in free), default=None), row.pk
        assert row.last_free_start == max((slot.start for slot in free), default=None), row.pk
