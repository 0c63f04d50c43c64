"""Reading the audit log, within a scope; and checking that nobody changed it."""

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import chain
from .models import AuditEvent, ChainHead, ChainLink, Purge, Seal

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


@dataclass(frozen=True)
class Finding:
    """Something `audit_chain_verify` found wrong: `kind` is altered, removed, inserted,
    head (a chain's end differs from its head row) or seal (a seal differs from the
    heads, or from the chain of seals); `event_id` the event it names, when one can."""

    kind: str
    day: date | None
    shard: int | None
    event_id: int | None
    message: str

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                self.day.isoformat() if self.day else "",
                f"chain {self.shard}" if self.shard is not None else "",
                f"event {self.event_id}" if self.event_id is not None else "",
            )
            if part
        )
        return f"{self.kind}: {where}: {self.message}"


@dataclass(frozen=True)
class Verification:
    findings: list[Finding]
    days: list[date]
    events: int
    unsealed: list[date]
    # Every day up to this one was purged at the end of its retention period (events and
    # links removed, heads and seals kept): its chains are not recomputed.
    purged_through: date | None = None


def audit_chain_verify(*, day: date | None = None) -> Verification:
    """Recompute every chain (of `day`, or of every day) from the events as they are,
    and compare them with the links, the heads and the seals.

    Each event altered (its hash differs), removed (its link names no event, or
    numbers are missing), inserted (an event in no chain, a number twice, or links
    after the head) is a finding naming the event, in the chain's order; so is a head
    or a seal that no longer agrees. Past days with events and no seal are listed
    apart: not a sign of tampering, but not yet protected by a copy kept elsewhere."""
    if day is not None:
        days = [day]
    else:
        days = sorted(
            set(ChainLink.objects.values_list("day", flat=True).distinct())
            | set(ChainHead.objects.filter(seq__gt=0).values_list("day", flat=True).distinct())
            | set(Seal.objects.values_list("day", flat=True))
        )
    purged_through = Purge.objects.order_by("-through").values_list("through", flat=True).first()
    findings: list[Finding] = []
    events = 0
    for one in days:
        if purged_through is None or one > purged_through:
            events += _day_verify(day=one, findings=findings)
    findings += _unchained(day=day)
    findings += _seals_verify(day=day)
    sealed = set(Seal.objects.values_list("day", flat=True))
    today = timezone.localdate()
    unsealed = [
        one
        for one in days
        if one < today
        and one not in sealed
        and ChainHead.objects.filter(day=one, seq__gt=0).exists()
    ]
    return Verification(
        findings=findings,
        days=days,
        events=events,
        unsealed=unsealed,
        purged_through=purged_through,
    )


def _day_verify(*, day: date, findings: list[Finding]) -> int:
    """Check `day`'s chains; add what is wrong to `findings`; the links read."""
    links = list(ChainLink.objects.filter(day=day).order_by("shard", "seq", "id"))
    events = {
        event["id"]: event
        for event in AuditEvent.objects.filter(pk__in=[link.event_id for link in links]).values(
            *chain.EVENT_FIELDS
        )
    }
    heads = {head.shard: head for head in ChainHead.objects.filter(day=day)}
    for shard, chain_links in itertools.groupby(links, key=lambda link: link.shard):

        def found(kind: str, event_id: int | None, message: str, shard: int = shard) -> None:
            findings.append(Finding(kind, day, shard, event_id, message))

        seq, previous, last_event = 0, chain.GENESIS, None
        for link in chain_links:
            if link.seq <= seq:
                found("inserted", link.event_id, f"number {link.seq} comes twice")
            elif link.seq > seq + 1:
                found(
                    "removed",
                    link.event_id,
                    f"numbers {seq + 1} to {link.seq - 1} missing before this event"
                    + (f", after event {last_event}" if last_event else ""),
                )
            if link.prev_hash != previous:
                found("inserted", link.event_id, "its link does not follow the one before it")
            event = events.get(link.event_id)
            if event is None:
                found("removed", link.event_id, "the event of this link is gone")
            elif (
                chain.link_hash(
                    previous=link.prev_hash, day=day, shard=shard, seq=link.seq, event=event
                )
                != link.hash
            ):
                found("altered", link.event_id, "the event differs from what was chained")
            seq, previous, last_event = link.seq, link.hash, link.event_id
        head = heads.pop(shard, None)
        if head is None:
            found("head", last_event, "the chain has no head")
        elif head.seq > seq:
            found("removed", last_event, f"numbers {seq + 1} to {head.seq} missing at the end")
        elif head.seq < seq or head.hash != previous:
            found("inserted", last_event, f"the head says {head.seq}: links past it, or forged")
    for shard, head in heads.items():
        if head.seq > 0:
            findings.append(
                Finding("removed", day, shard, None, f"its {head.seq} link(s) are gone")
            )
    return len(links)


def _unchained(*, day: date | None) -> list[Finding]:
    """Events that no chain holds: written behind the application's back (every event
    it writes is linked in the same transaction)."""
    events = AuditEvent.objects.exclude(pk__in=ChainLink.objects.values("event_id")).order_by("pk")
    if day is not None:
        events = events.filter(at__date=day)
    return [
        Finding("inserted", timezone.localdate(at), None, pk, "the event is in no chain")
        for pk, at in events.values_list("pk", "at")
    ]


def _seals_verify(*, day: date | None) -> list[Finding]:
    """Each seal (of `day`, or all) against the heads as they are now, and against the
    seal before it."""
    findings = []
    seals = Seal.objects.order_by("day")
    if day is not None:
        seals = seals.filter(day__lte=day)
    previous = chain.GENESIS
    for seal in seals:
        heads = {
            str(head.shard): [head.seq, head.hash]
            for head in ChainHead.objects.filter(day=seal.day, seq__gt=0)
        }
        checked = day is None or seal.day == day
        if checked and seal.prev_hash != previous:
            findings.append(Finding("seal", seal.day, None, None, "the seal before it differs"))
        if checked and seal.hash != chain.seal_hash(
            previous=seal.prev_hash, day=seal.day, heads=seal.heads
        ):
            findings.append(Finding("seal", seal.day, None, None, "the seal was altered"))
        if checked and seal.heads != heads:
            findings.append(
                Finding("seal", seal.day, None, None, "the heads differ from the sealed ones")
            )
        previous = seal.hash
    return findings
