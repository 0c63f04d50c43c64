"""The message worker and the outbox, for /healthz and /metrics (loaded by apps.py)."""

from django.conf import settings
from django.utils import timezone

from creneau.core import metrics
from creneau.core.health import Unhealthy, health_check

from .selectors import jobs_failing, outbox_backlog, worker_last_beat


@health_check("worker")
def worker_check() -> dict:
    """Down when no `manage.py worker` has beaten lately: messages wait, none is lost."""
    last = worker_last_beat()
    if last is None:
        raise Unhealthy("no worker has ever started")
    age = (timezone.now() - last).total_seconds()
    if age > settings.WORKER_HEARTBEAT_MAX_AGE:
        raise Unhealthy("no heartbeat", seconds_since_beat=round(age))
    return {"seconds_since_beat": round(age)}


@health_check("outbox")
def outbox_check() -> dict:
    """Stuck when an SMS or e-mail has been due too long (workers too few, or failing)."""
    now = timezone.now()
    backlog = outbox_backlog(now=now)
    waited = (now - backlog.oldest_due_at).total_seconds() if backlog.oldest_due_at else 0
    seen = {"due": backlog.due, "oldest_due_seconds": round(waited)}
    if waited > settings.OUTBOX_BACKLOG_MAX_AGE:
        raise Unhealthy("messages waiting too long", **seen)
    return seen


metrics.collected_gauge(
    "outbox_due",
    "Messages due and not sent yet, per channel (letters: waiting to be printed).",
    labels=["channel"],
    read=lambda: [((channel,), count) for channel, count in outbox_backlog().due.items()],
)
metrics.collected_gauge(
    "worker_seconds_since_heartbeat",
    "Seconds since a message worker last said it was alive (-1: never).",
    read=lambda: [
        ((), (timezone.now() - last).total_seconds() if (last := worker_last_beat()) else -1)
    ],
)
metrics.collected_gauge(
    "job_failing",
    "1 when a background job's last run failed (its error kept on outreach_jobrun), 0 when "
    "it succeeded; tried again 5 minutes later.",
    labels=["job"],
    read=lambda: [((name,), int(failing)) for name, failing in jobs_failing().items()],
)
