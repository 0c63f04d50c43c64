"""Writing the audit log (invariant 8): one row per staff look at personal data, change,
export, override, login and logout."""

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.http import HttpRequest

from creneau.geography.models import Department
from creneau.sites.models import Site

from .models import AuditEvent

USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length
SUMMARY_LENGTH = AuditEvent._meta.get_field("summary").max_length
OBJECT_ID_LENGTH = AuditEvent._meta.get_field("object_id").max_length


def request_ip(request: HttpRequest) -> str | None:
    """The address the request came from.

    `REMOTE_ADDR` is the peer of the application server. Behind the production
    reverse proxy (settings declare it by `SECURE_PROXY_SSL_HEADER`, set when
    `PUBLIC_URL` is https), that peer is the proxy, and the client is the **last**
    address of `X-Forwarded-For`: the one our (single) proxy appended. Earlier ones were
    written by the client and prove nothing. Without a trusted proxy the header is
    ignored, since anyone can send it. Anything that is not an IP address gives None.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            address = forwarded.split(",")[-1]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    site: Site | None = None,
    department: Department | None = None,
    request: HttpRequest | None = None,
    summary: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log.

    Call it inside the transaction of what it records: the row commits with the change
    or rolls back with it. It is one INSERT, atomic by itself, so it opens no
    transaction or savepoint of its own. `obj` names the object ("booking.series", its
    pk) unless `object_type`/`object_id` say otherwise. An event at a site belongs to
    the site's department as well, so that a regional authority sees it. An anonymous
    or absent actor is the system.
    """
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action: {action!r}")
    user = actor if actor is not None and actor.is_authenticated else None
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
        ip=request_ip(request) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[
            :USER_AGENT_LENGTH
        ],
        summary=str(summary)[:SUMMARY_LENGTH],
        details=details or {},
    )
