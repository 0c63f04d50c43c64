"""What the waiting room and the abuse limits keep when Redis is not configured (or not
reachable): the same counters, in the database every app process shares."""

from django.db import models


class Counter(models.Model):
    """Hits on one key within one fixed window of time (seconds since the epoch).

    Written only by `counters.counter_add`'s single upsert, so that two processes
    counting at once both count."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField()
    hits = models.IntegerField(default=0)
    # When the row stops mattering (the window's end); expired rows are purged.
    expires_at = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="counter_unique")
        ]


class Room(models.Model):
    """A waiting room's state when Redis does not keep it (admission.waiting_room): the
    tickets numbered, the draws made before its opening, and how far admission went."""

    name = models.CharField(max_length=40, primary_key=True)
    issued = models.BigIntegerField(default=0)
    early = models.BigIntegerField(default=0)
    frontier = models.FloatField(default=0)
    # Seconds since the epoch when the frontier last moved.
    updated = models.FloatField(default=0)
    # The measured-capacity mode's rate (people a minute; 0: not set yet) and the window
    # (seconds since the epoch) whose measure set it.
    rate = models.FloatField(default=0)
    rate_window = models.BigIntegerField(default=-1)
    # The rate when it was last cut (0: never): rises slow down as they near it.
    ceiling = models.FloatField(default=0)
