"""Writing the audit log (invariant 8): one row per staff look at personal data, change,
export, override, login and logout.

A staff action's service calls `audit_record` inside its own transaction, so the event
commits with the change or not at all; a page that shows personal data records the look
with one call after reading it. `audit` imports only `core`, so every domain app's
services can write to it.
"""

from typing import Any

from django.db import models

from creneau.core.actor import Actor

from .models import AuditEvent

USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length
SUMMARY_LENGTH = AuditEvent._meta.get_field("summary").max_length
OBJECT_ID_LENGTH = AuditEvent._meta.get_field("object_id").max_length


def audit_record(
    *,
    actor: Actor | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    site: models.Model | None = None,
    department: models.Model | None = None,
    summary: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log.

    It is one INSERT, atomic by itself, so it opens no transaction or savepoint of its
    own: inside a service's transaction it commits or rolls back with it. `obj` names
    the object ("booking.series", its pk) unless `object_type`/`object_id` say
    otherwise. An event at a site (a `sites.Site`) belongs to the site's department as
    well, so that a regional authority sees it. No actor, or one without an account
    (a failed sign-in), is the system.
    """
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action: {action!r}")
    actor = actor or Actor(user=None)
    user = actor.user if actor.user is not None and actor.user.is_authenticated else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    if site is not None and department is None:
        department = site.department
    return AuditEvent.objects.create(
        actor=user,
        actor_label=user.get_username() if user is not None else "",
        action=action,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id)[:OBJECT_ID_LENGTH],
        site=site,
        department=department,
        ip=actor.ip,
        user_agent=actor.user_agent[:USER_AGENT_LENGTH],
        summary=str(summary)[:SUMMARY_LENGTH],
        details=details or {},
    )
