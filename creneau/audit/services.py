"""Writing the audit log (invariant 8): one row per staff look at personal data, change,
export, override, refused access, login and logout, each chained to the one before it
(tamper-evident), and the daily seals of the chains.

A staff action's service calls `audit_record` inside its own transaction, so the event
commits with the change or not at all; a page that shows personal data records the look
with one call after reading it. `audit` imports only `core`, so every domain app's
services can write to it.
"""

import logging
import random
from datetime import date, timedelta
from typing import Any

from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.actor import Actor
from creneau.core.crypto import value_decrypt, value_encrypt
from creneau.core.db import before_commit, keys_lock
from creneau.core.errors import InvalidInput

from . import chain
from .append_only import append_only_lifted
from .models import LINK_TABLE, TABLE, AuditEvent, ChainHead, ChainLink, Purge, Seal

# Chains a day: an append waits for another only when every one of them is being
# appended to at that very moment (see _head_take). SQLite's writers run one at a time
# anyway.
SHARDS = 8
logger = logging.getLogger("creneau.audit")

USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length
SUMMARY_LENGTH = AuditEvent._meta.get_field("summary").max_length
OBJECT_ID_LENGTH = AuditEvent._meta.get_field("object_id").max_length


# Personal data an event must keep (the terms of a search) is sealed under this purpose.
SEALED_PURPOSE = "audit_auditevent.details"


def audit_sealed(text: str) -> str:
    """`text` sealed like the booking tables' values (core.crypto), for an event's
    details: who searched for whom stays provable to those who hold the keys, and a copy
    of the log does not tell it. Events are never rewritten, so `keys_rotate` leaves
    these under their key: a retired key stays in the ring, for reading, until the
    events it sealed are purged (docs/operations.md, "Keys")."""
    return value_encrypt(text, purpose=SEALED_PURPOSE)


def audit_unsealed(sealed: str) -> str:
    return value_decrypt(sealed, purpose=SEALED_PURPOSE)


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
    """Append one event to the audit log, and to its chain.

    The event is inserted at once, in the caller's transaction (no savepoint of its
    own): it commits or rolls back with the change it records. Its link in the chain
    takes the lock of a chain's head, so inside a unit of work (`core.db.unit_of_work`,
    every staff action) the link is written by a `before_commit` hook, once the service
    has returned: the head's lock is the transaction's last, its holder waits for no
    other lock, and no deadlock can go through it. Outside a unit of work (a page
    recording a look, in autocommit) the event and its link are one short transaction
    of their own.

    `obj` names the object ("booking.series", its pk) unless `object_type`/`object_id`
    say otherwise. An event at a site (a `sites.Site`) belongs to the site's department
    as well, so that a regional authority sees it. No actor, or one without an account
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
    with transaction.atomic(savepoint=False):
        event = AuditEvent.objects.create(
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
        pending = before_commit("audit.chain", _chain)
        if pending is None:
            _chain([event.pk])
        else:
            pending.append(event.pk)
    return event


def _head_take(*, day: date) -> ChainHead:
    """A head of `day`'s chains, locked until COMMIT.

    PostgreSQL: the first head that nobody holds (`FOR UPDATE SKIP LOCKED`), so that
    concurrent appends spread over the chains instead of queueing on one; the day's
    heads are created by its first append (a concurrent creation waits for that one's
    commit, then finds them). Only when every head is held does an append wait, on one
    drawn at random; its holder is at its transaction's end, so the wait is short.
    SQLite: the write transaction already excludes every other writer."""
    heads = ChainHead.objects.select_for_update(skip_locked=True).filter(day=day).order_by("shard")
    head = heads.first()
    if head is None:
        ChainHead.objects.bulk_create(
            [ChainHead(day=day, shard=shard, hash=chain.GENESIS) for shard in range(SHARDS)],
            ignore_conflicts=True,
        )
        head = heads.first()
    if head is None:
        head = ChainHead.objects.select_for_update().get(day=day, shard=random.randrange(SHARDS))
    return head


def _chain(event_ids: list[int]) -> None:
    """Link the events (those still there: a savepoint rolled back may have taken some)
    at the end of one chain, hashing the values as the database returns them, which is
    what `audit_verify` will read."""
    events = list(
        AuditEvent.objects.filter(pk__in=event_ids).order_by("pk").values(*chain.EVENT_FIELDS)
    )
    if not events:
        return
    day = timezone.localdate()
    head = _head_take(day=day)
    seq, previous = head.seq, head.hash
    links = []
    for event in events:
        seq += 1
        digest = chain.link_hash(previous=previous, day=day, shard=head.shard, seq=seq, event=event)
        links.append(
            ChainLink(
                event_id=event["id"],
                day=day,
                shard=head.shard,
                seq=seq,
                prev_hash=previous,
                hash=digest,
            )
        )
        previous = digest
    ChainLink.objects.bulk_create(links)
    ChainHead.objects.filter(pk=head.pk).update(seq=seq, hash=previous)


def audit_seal(*, day: date) -> Seal:
    """Seal `day` (over): its chains' heads and one hash over them and the previous seal,
    stored and written to the operations log, where a copy is kept outside the
    database. Already sealed: the seal as it is. Days are sealed in order (the seals
    are a chain): `audit_seal_due` catches up on missed ones."""
    if day >= timezone.localdate():
        raise InvalidInput(gettext("Seul un jour terminé peut être scellé."))
    with transaction.atomic():
        keys_lock("audit.seal")
        sealed = Seal.objects.filter(day=day).first()
        if sealed is not None:
            return sealed
        if Seal.objects.filter(day__gt=day).exists():
            raise InvalidInput(
                gettext("Un jour plus récent est déjà scellé : %(day)s ne peut plus l'être.")
                % {"day": day.isoformat()}
            )
        # FOR UPDATE: an append still linking to this day commits before its head is read.
        heads = {
            str(head.shard): [head.seq, head.hash]
            for head in ChainHead.objects.select_for_update().filter(day=day, seq__gt=0)
        }
        last = Seal.objects.order_by("-day").first()
        previous = last.hash if last is not None else chain.GENESIS
        seal = Seal.objects.create(
            day=day,
            heads=heads,
            prev_hash=previous,
            hash=chain.seal_hash(previous=previous, day=day, heads=heads),
        )
    logger.info(
        "audit_seal",
        extra={
            "event": "audit_seal",
            "seal": {
                "day": day.isoformat(),
                "heads": heads,
                "prev_hash": previous,
                "hash": seal.hash,
            },
        },
    )
    return seal


def audit_seal_due() -> list[Seal]:
    """Seal every day before today that has events and comes after the last seal, in
    order: the worker's daily job, which also catches up after a missed one."""
    last = Seal.objects.order_by("-day").values_list("day", flat=True).first()
    days = (
        ChainHead.objects.filter(seq__gt=0, day__lt=timezone.localdate())
        .filter(**({"day__gt": last} if last is not None else {}))
        .values_list("day", flat=True)
        .distinct()
        .order_by("day")
    )
    return [audit_seal(day=day) for day in days]


def audit_purge(*, before: date, batch: int = 1000) -> int:
    """Remove the events of every sealed day before `before` (the end of the retention
    period an authority sets, `AUDIT_RETENTION_DAYS`), whole days only, with their links.

    Their heads and seals stay (hashes only, no personal data): the chain of seals is
    still checked from its first day, and the seal of the last day purged is the anchor
    the next day's seal follows. The boundary is written first (`Purge`), so that
    `audit_verify` skips those days even while a long purge is under way; then the
    events go in batches of `batch`, each its own short transaction. Days not sealed
    yet are never purged. Safe to run again: a day already purged has nothing left.
    Returns how many events it removed."""
    last_sealed = Seal.objects.order_by("-day").values_list("day", flat=True).first()
    if last_sealed is None:
        return 0
    through = min(last_sealed, before - timedelta(days=1))
    if not ChainLink.objects.filter(day__lte=through).exists():
        return 0
    with transaction.atomic():
        purge = Purge.objects.create(through=through)
    removed = 0
    connection = connections[AuditEvent.objects.db]
    while True:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            append_only_lifted(cursor, vendor=connection.vendor),
        ):
            ids = list(
                ChainLink.objects.filter(day__lte=through)
                .order_by("pk")
                .values_list("pk", "event_id")[:batch]
            )
            if not ids:
                break
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE id IN ({marks})", [event for _, event in ids]
            )
            removed += cursor.rowcount
            cursor.execute(f"DELETE FROM {LINK_TABLE} WHERE id IN ({marks})", [pk for pk, _ in ids])
    Purge.objects.filter(pk=purge.pk).update(events=removed)
    logger.info(
        "audit_purge",
        extra={
            "event": "audit_purge",
            "purge": {"through": through.isoformat(), "events": removed},
        },
    )
    return removed
