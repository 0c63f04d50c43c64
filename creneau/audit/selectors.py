"""Reading the audit log, within a scope."""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import Q

from .models import AuditEvent

MAX_LIMIT = 1000


def audit_list(
    *,
    sites: Iterable[models.Model | int] | None = None,
    departments: Iterable[models.Model | int] | None = None,
    actor: AbstractBaseUser | int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The events of a scope, newest first, filtered.

    Scope: `sites` and `departments` both None is the national scope (every event,
    including those with no site, such as logins). Otherwise the events at one of the
    `sites` or in one of the `departments` (either one is enough), and an empty list
    means nothing. `since` is inclusive, `until` exclusive. At most `limit` events
    (capped at 1,000).
    """
    events = AuditEvent.objects.select_related("actor", "site", "department")
    if sites is not None or departments is not None:
        scope = Q(pk__in=[])
        if sites is not None:
            scope |= Q(site__in=list(sites))
        if departments is not None:
            scope |= Q(department__in=list(departments))
        events = events.filter(scope)
    if actor is not None:
        events = events.filter(actor=actor)
    if action is not None:
        events = events.filter(action=action)
    if object_type is not None:
        events = events.filter(object_type=object_type)
    if object_id is not None:
        events = events.filter(object_id=str(object_id))
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    return list(events.order_by("-at", "-id")[: max(0, min(limit, MAX_LIMIT))])
