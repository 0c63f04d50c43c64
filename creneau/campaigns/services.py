"""Writes of the campaigns app: the population imported, campaigns defined and steered
(each change a staff action, audited in its transaction), waves of invitations paced to
the free places, reminders, and booking with an invitation's code.

Lock order (docs/architecture.md): the campaign row first, then what booking locks
(contact → series → slots → stock → read model), then the outbox rows.
"""

import contextlib
import functools
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, ParamSpec, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.booking.addresses import PostalAddress, postal_address_normalize
from creneau.booking.models import Hold, Person, Series
from creneau.booking.services import (
    BookingResult,
    Override,
    PersonData,
    booking_confirm,
    hold_release,
)
from creneau.booking.tokens import reference_new
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import AlreadyBooked, InvalidInput, NotFound
from creneau.eligibility.selectors import categories_validate
from creneau.geography.models import Department
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret
from creneau.outreach.services import OutboxMessage, notifications_enqueue_many
from creneau.vaccines.models import Vaccine

from .messages import INVITATION_CODE, INVITATION_LINK, KIND_INVITATION, KIND_REMINDER
from .models import (
    CHANNELS,
    EMAIL,
    LETTER,
    MAX_REMINDERS,
    SMS,
    Campaign,
    ErasedInvitee,
    Invitation,
    Invitee,
    LinkProgress,
    PopulationImport,
)
from .population import (
    SEALED_DIGEST,
    SEALED_INDEX,
    SEALED_LINE,
    STORED_FIELDS,
    WRITE_TIMES,
    ImportBook,
    file_check,
    rows_checked,
    rows_read,
)
from .selectors import (
    campaign_targets,
    channel_choose,
    channels_usable,
    free_places_ahead,
    invitation_code_index,
    invitation_covers,
    invitation_messages_q,
    invitations_outstanding,
    invitees_due,
    sending_open,
)

P = ParamSpec("P")
R = TypeVar("R")
IMPORT_BATCH = 1000
REJECTIONS_KEPT = 100
WAVE_BATCH = 500
MESSAGE_MAX_LENGTH = 600
NAME_MAX_LENGTH = 120


# The population ------------------------------------------------------------------------


def population_import(
    *,
    stream: IO[bytes],
    file_name: str = "",
    actor: Actor | None = None,
    departments: Collection[str] | None = None,
    batch_size: int = IMPORT_BATCH,
    processes: int = 1,
) -> PopulationImport:
    """Read an extract (file_check, then row by row) and write its people by batches, each
    batch one short transaction: an unchanged row (same keyed digest) is not written
    again, a new identifiant is created, a known one updated. `departments`: the only
    departments whose rows are taken (a regional authority's); the others are rejected
    with the reason. A file refused as a whole (size, encoding, columns) writes nothing.
    The import's record, and its audit event when staff ran it, are written at the end.
    `processes`: how many processes check and seal the rows (population.rows_checked);
    this one reads and writes, in the file's order, whatever their number.
    """
    file_check(stream)
    allowed = frozenset(departments) if departments is not None else None
    checked = rows_checked(
        rows_read(stream),
        book=ImportBook(),
        today=timezone.localdate(),
        allowed=allowed,
        processes=processes,
    )
    report = PopulationImport(
        created_by=actor.user if actor is not None else None,
        file_name=file_name[:200],
        departments=sorted(allowed or []),
    )
    batch: dict[str, tuple] = {}
    # Erasures are rare: without any, no batch looks for them.
    erasures = ErasedInvitee.objects.exists()

    def flush() -> None:
        created, updated, erased = _batch_write(rows=list(batch.values()), erasures=erasures)
        report.created += created
        report.updated += updated
        report.unchanged += len(batch) - created - updated - len(erased)
        for line in erased:
            reject(line, gettext("Personne effacée à sa demande, sa ligne n'a pas changé depuis."))
        batch.clear()

    def reject(line: int, reason: str) -> None:
        report.rejected += 1
        if len(report.rejections) < REJECTIONS_KEPT:
            report.rejections.append([line, reason])

    for line, row, reason in checked:
        report.rows += 1
        if row is None:
            reject(line, reason)
            continue
        if row[SEALED_INDEX] in batch:
            # The same person twice in one file: the later line wins, written after.
            flush()
        batch[row[SEALED_INDEX]] = row
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return _import_record(report=report, actor=actor)


@unit_of_work
def _batch_write(*, rows: list[tuple], erasures: bool) -> tuple[int, int, list[int]]:
    """One batch of sealed rows (population.rows_sealed): (created, updated, the lines of
    people erased at their request whose row has not changed since). The digests are
    read first so that an unchanged row costs no write; new people are then inserted
    (_invitees_insert) and known ones updated (_invitees_upsert). A person erased at
    their request comes back only with a row that changed since (ErasedInvitee)."""
    indexes = [row[SEALED_INDEX] for row in rows]
    known = dict(
        Invitee.objects.filter(identifiant_index__in=indexes).values_list(
            "identifiant_index", "digest"
        )
    )
    erased = (
        dict(
            ErasedInvitee.objects.filter(identifiant_index__in=indexes).values_list(
                "identifiant_index", "digest"
            )
        )
        if erasures
        else {}
    )
    kept_out = [
        row[SEALED_LINE] for row in rows if erased.get(row[SEALED_INDEX]) == row[SEALED_DIGEST]
    ]
    if erased:
        rows = [row for row in rows if erased.get(row[SEALED_INDEX]) != row[SEALED_DIGEST]]
        ErasedInvitee.objects.filter(
            identifiant_index__in=[row[SEALED_INDEX] for row in rows]
        ).delete()
    times = (connection.ops.adapt_datetimefield_value(timezone.now()),) * len(WRITE_TIMES)
    new, updated = [], []
    for row in rows:
        digest = known.get(row[SEALED_INDEX])
        if digest is None:
            new.append((*row, *times))
        elif digest != row[SEALED_DIGEST]:
            updated.append((*row, *times))
    if new:
        _invitees_insert(rows=new)
    if updated:
        _invitees_upsert(rows=updated)
    return len(new), len(updated), kept_out


_FIELDS = [Invitee._meta.get_field(name) for name in (*STORED_FIELDS, *WRITE_TIMES)]
# All but the identifiant (its index is the conflict's target) and the time of creation
# are rewritten when a later file changes the row.
_UPSERT_KEPT = ("identifiant", "identifiant_index", "created_at")


def _invitees_insert(*, rows: list[tuple]) -> None:
    """New people's rows (values for _FIELDS). On PostgreSQL, by COPY: a fraction of the
    server's work of as many INSERTs. Another import that has just created one of them
    meanwhile makes the COPY fail whole (the unique constraint): the batch is then
    written again by the upsert, under a savepoint. Elsewhere, the upsert."""
    if connection.vendor != "postgresql":
        _invitees_upsert(rows=rows)
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _FIELDS)
    statement = f"COPY {quote(Invitee._meta.db_table)} ({columns}) FROM STDIN"
    try:
        # The driver's error comes out of the COPY's end, past Django's own wrapping.
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except IntegrityError:
        _invitees_upsert(rows=rows)


def _invitees_upsert(*, rows: list[tuple]) -> None:
    """Insert these rows (values for _FIELDS), or update the invitee of the same
    identifiant: one `INSERT … ON CONFLICT (identifiant_index) DO UPDATE` (PostgreSQL
    and SQLite alike), the statement `bulk_create(update_conflicts=True)` writes,
    without building a model instance and compiling a query for each row, which cost
    more than the sealing (docs/operations.md, "Messages on campaign day")."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _FIELDS)
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in _FIELDS
        if field.name not in _UPSERT_KEPT
    )
    statement = (
        f"INSERT INTO {quote(Invitee._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(_FIELDS))}) "
        f"ON CONFLICT ({quote('identifiant_index')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


@unit_of_work
def _import_record(*, report: PopulationImport, actor: Actor | None) -> PopulationImport:
    report.save()
    # Persons who booked before this file came are found again by the next linking pass.
    LinkProgress.objects.update_or_create(pk=1, defaults={"person_id": 0})
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            obj=report,
            summary=gettext(
                "Import de la population : %(rows)s lignes, %(created)s nouvelles, "
                "%(updated)s mises à jour, %(rejected)s rejetées"
            )
            % {
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "rejected": report.rejected,
            },
            details={"file": report.file_name, "departments": report.departments},
        )
    return report


LINK_BATCH = 2000


@unit_of_work
def invitees_link(*, batch: int = LINK_BATCH) -> tuple[int, int]:
    """A worker's pass: the next persons who booked (by id, from where the last pass
    stopped) linked to the invitees of the same names and birth date (the blind index
    booking computes, Person.match_key). An import starts the walk again from the first
    person. Returns (persons read, invitees linked): nothing read, the walk is done."""
    progress, _ = LinkProgress.objects.select_for_update().get_or_create(pk=1)
    persons = list(
        Person.objects.filter(pk__gt=progress.person_id)
        .order_by("pk")
        .values_list("pk", "match_key")[:batch]
    )
    if not persons:
        return 0, 0
    by_key = {key: pk for pk, key in persons}
    linked = 0
    for invitee_id, person_key, first_name_key in Invitee.objects.filter(
        Q(person_key__in=by_key) | Q(first_name_key__in=by_key), person__isnull=True
    ).values_list("pk", "person_key", "first_name_key"):
        person_id = by_key.get(person_key) or by_key[first_name_key]
        linked += Invitee.objects.filter(pk=invitee_id, person__isnull=True).update(
            person_id=person_id
        )
    LinkProgress.objects.filter(pk=1).update(person_id=persons[-1][0])
    return len(persons), linked


# Campaigns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignData:
    """A campaign as the authority's form gives it."""

    name: str
    departments: tuple[str, ...]
    message_fr: str
    born_from: date | None = None
    born_to: date | None = None
    categories: tuple[str, ...] = ()
    vaccines: tuple[str, ...] = ()
    channels: tuple[str, ...] = (SMS, EMAIL, LETTER)
    message_en: str = ""
    send_days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    send_from: time = time(9, 0)
    send_until: time = time(19, 0)
    pace_factor: Decimal = Decimal("1.0")
    reminder_days: int = 7


def _data_checked(
    data: CampaignData, *, allowed: Collection[str] | None
) -> tuple[dict, list[Department], list[Vaccine]]:
    """The model's fields and its departments and products, or InvalidInput naming the
    field. A department outside `allowed` (a regional authority's) is refused."""

    def refuse(message: str, field: str) -> InvalidInput:
        return InvalidInput(message, field=field)

    name = " ".join(data.name.split())
    if not name or len(name) > NAME_MAX_LENGTH:
        raise refuse(gettext("Nom : de 1 à %(max)s caractères.") % {"max": NAME_MAX_LENGTH}, "name")
    codes = sorted(set(data.departments))
    departments = list(Department.objects.filter(code__in=codes))
    if not codes or len(departments) != len(codes):
        raise refuse(gettext("Choisissez un ou plusieurs départements connus."), "departments")
    if allowed is not None and not set(codes) <= set(allowed):
        raise refuse(gettext("Un département choisi est hors de votre périmètre."), "departments")
    if data.born_from and data.born_to and data.born_from > data.born_to:
        raise refuse(gettext("La première date de naissance est après la dernière."), "born_from")
    categories = sorted(categories_validate(codes=data.categories))
    if not (data.born_from or data.born_to or categories):
        raise refuse(
            gettext("Dites qui inviter : des dates de naissance, des catégories, ou les deux."),
            "born_from",
        )
    vaccines = list(Vaccine.objects.filter(code__in=data.vaccines))
    if len(vaccines) != len(set(data.vaccines)):
        raise refuse(gettext("Vaccin inconnu."), "vaccines")
    channels = list(dict.fromkeys(data.channels))
    if not channels or any(channel not in CHANNELS for channel in channels):
        raise refuse(gettext("Choisissez les canaux parmi SMS, e-mail et courrier."), "channels")
    for field, text in (("message_fr", data.message_fr), ("message_en", data.message_en)):
        if len(text.strip()) > MESSAGE_MAX_LENGTH or (field == "message_fr" and not text.strip()):
            raise refuse(
                gettext("Message : de 1 à %(max)s caractères.") % {"max": MESSAGE_MAX_LENGTH},
                field,
            )
    days = sorted(set(data.send_days))
    if not days or any(day not in range(7) for day in days):
        raise refuse(gettext("Choisissez au moins un jour d'envoi."), "send_days")
    if data.send_from >= data.send_until:
        raise refuse(gettext("L'heure de début d'envoi est après celle de fin."), "send_from")
    if not Decimal("0.1") <= data.pace_factor <= Decimal("10"):
        raise refuse(gettext("Le facteur de rythme va de 0,1 à 10."), "pace_factor")
    if not 1 <= data.reminder_days <= 60:
        raise refuse(gettext("Le délai de relance va de 1 à 60 jours."), "reminder_days")
    fields = {
        "name": name,
        "born_from": data.born_from,
        "born_to": data.born_to,
        "categories": categories,
        "channels": channels,
        "message_fr": data.message_fr.strip(),
        "message_en": data.message_en.strip(),
        "send_days": days,
        "send_from": data.send_from,
        "send_until": data.send_until,
        "pace_factor": data.pace_factor,
        "reminder_days": data.reminder_days,
    }
    return fields, departments, vaccines


@unit_of_work
def campaign_create(
    *, actor: Actor, data: CampaignData, allowed: Collection[str] | None
) -> Campaign:
    """A new campaign, in preparation (draft): nothing is sent until it starts."""
    fields, departments, vaccines = _data_checked(data, allowed=allowed)
    campaign = Campaign.objects.create(**fields, created_by=actor.user)
    campaign.departments.set(departments)
    campaign.vaccines.set(vaccines)
    audit_record(
        actor=actor,
        action="create",
        obj=campaign,
        summary=gettext("Campagne créée : %(name)s") % {"name": campaign.name},
        details={"departments": [d.code for d in departments]},
    )
    return campaign


@unit_of_work
def campaign_update(
    *, actor: Actor, campaign_id: int, data: CampaignData, allowed: Collection[str] | None
) -> Campaign:
    """A campaign changed while in preparation or paused; a stopped one stays as it was."""
    fields, departments, vaccines = _data_checked(data, allowed=allowed)
    changed = Campaign.objects.filter(
        pk=campaign_id, status__in=[Campaign.Status.DRAFT, Campaign.Status.PAUSED]
    ).update(**fields)
    if not changed:
        raise InvalidInput(
            gettext(
                "Une campagne ne se modifie qu'en préparation ou en pause : mettez-la en pause."
            )
        )
    campaign = Campaign.objects.get(pk=campaign_id)
    campaign.departments.set(departments)
    campaign.vaccines.set(vaccines)
    audit_record(
        actor=actor,
        action="change",
        obj=campaign,
        summary=gettext("Campagne modifiée : %(name)s") % {"name": campaign.name},
        details={"departments": [d.code for d in departments]},
    )
    return campaign


# action → (the statuses it leaves, the status it gives, what the log says)
_TRANSITIONS = {
    "start": ((Campaign.Status.DRAFT,), Campaign.Status.RUNNING, "Campagne lancée : %(name)s"),
    "pause": ((Campaign.Status.RUNNING,), Campaign.Status.PAUSED, "Campagne en pause : %(name)s"),
    "resume": ((Campaign.Status.PAUSED,), Campaign.Status.RUNNING, "Campagne reprise : %(name)s"),
    "stop": (
        (Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED),
        Campaign.Status.STOPPED,
        "Campagne arrêtée : %(name)s",
    ),
}


@unit_of_work
def campaign_status_change(
    *, actor: Actor, campaign_id: int, action: str, now: datetime | None = None
) -> Campaign:
    """Start, pause, resume or stop: one conditional update from the statuses the action
    leaves, so two authorities clicking at once change it once (the other is told). A
    campaign with no one in it does not start."""
    if action not in _TRANSITIONS:
        raise InvalidInput(gettext("Action inconnue."))
    leaves, gives, summary = _TRANSITIONS[action]
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(gettext("Campagne introuvable : %(id)s.") % {"id": campaign_id})
    if action == "start" and next(iter(campaign_targets(campaign=campaign)), None) is None:
        raise InvalidInput(
            gettext("Personne n'entre dans cette campagne : revoyez ses départements et critères.")
        )
    extra = {"started_at": now or timezone.now()} if action == "start" else {}
    if not Campaign.objects.filter(pk=campaign_id, status__in=leaves).update(status=gives, **extra):
        raise InvalidInput(
            gettext("La campagne est %(status)s : impossible de faire cela maintenant.")
            % {"status": campaign.get_status_display().lower()}
        )
    campaign.refresh_from_db()
    audit_record(
        actor=actor,
        action="change",
        obj=campaign,
        summary=gettext(summary) % {"name": campaign.name},
        details={"action": action},
    )
    return campaign


# Waves ---------------------------------------------------------------------------------


def _recipient(invitee: Invitee, channel: str) -> str:
    if channel == SMS:
        return invitee.phone
    if channel == EMAIL:
        return invitee.email
    address = invitee.address
    name = f"{invitee.given_names} {invitee.family_name.upper()}"
    try:
        lines = postal_address_normalize(
            address=PostalAddress(
                street=address["line_1"],
                complement=address.get("line_2", ""),
                postcode=address["postcode"],
                town=address["commune"],
            )
        )
    except InvalidInput:
        # A line longer than an envelope's window takes: printed as the file gave it.
        lines = "\n".join(
            part
            for part in (
                address["line_1"],
                address.get("line_2", ""),
                f"{address['postcode']} {address['commune'].upper()}",
            )
            if part
        )
    return f"{name}\n{lines}"


def _message(
    *, invitation: Invitation, invitee: Invitee, campaign: Campaign, kind: str, number: int
) -> OutboxMessage:
    """The invitation's message (an invitation or a reminder, outreach's kinds: sent
    after everything else, never at night, stopped by an opt-out), with the campaign's
    later channels the person has as its fallbacks should it fail for good. A letter
    carries its link for the QR code and the extract's identifiant for the manifest."""
    order = campaign.channels
    # A letter outside the campaign's channels (the person has nothing else) is the last.
    position = order.index(invitation.channel) if invitation.channel in order else len(order)
    later = [
        channel
        for channel in channels_usable(invitee=invitee, channels=order)
        if order.index(channel) > position
    ]
    letter = (
        {"letter_link": Secret(INVITATION_LINK, invitation.pk), "identifiant": invitee.identifiant}
        if invitation.channel == LETTER
        else {}
    )
    return OutboxMessage(
        channel=invitation.channel,
        to=_recipient(invitee, invitation.channel),
        kind=kind,
        event=f"invitation:{invitation.pk}:{number}",
        context={
            "person_name": f"{invitee.given_names} {invitee.family_name}",
            "message_fr": campaign.message_fr,
            "message_en": campaign.message_en,
            "code": Secret(INVITATION_CODE, invitation.pk),
            "link": Secret(INVITATION_LINK, invitation.pk),
            **letter,
        },
        language="fr",
        fallbacks=[(channel, _recipient(invitee, channel)) for channel in later],
    )


@unit_of_work
def campaign_wave_send(
    *, campaign_id: int, now: datetime | None = None, limit: int = WAVE_BATCH
) -> int:
    """One wave of a running campaign, in each of its departments where messages may go
    out now: at most the department's free first-dose places in the next 14 days (of the
    campaign's products) times the campaign's factor, less the invitations outstanding
    there (sent in the last 7 days, not booked), and `limit` in all; older people first,
    then the file's order. Each invitation is a row (unique per campaign and invitee) and
    an outbox message, in one transaction.

    The campaign row is locked first: a second worker running the same wave waits, then
    counts the first one's invitations as outstanding, and the unique constraint
    `invitation_once_per_campaign` refuses any invitee twice whatever happens.
    Returns how many were invited."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.RUNNING:
        return 0
    codes = sorted(campaign.departments.values_list("code", flat=True))
    vaccine_ids = list(campaign.vaccines.values_list("pk", flat=True))
    free = free_places_ahead(departments=codes, vaccine_ids=vaccine_ids, now=now)
    outstanding = invitations_outstanding(departments=codes, now=now)
    sent = 0
    for code in codes:
        if sent >= limit or not sending_open(campaign=campaign, department=code, now=now):
            continue
        room = math.floor(free.get(code, 0) * campaign.pace_factor) - outstanding.get(code, 0)
        room = min(room, limit - sent)
        if room <= 0:
            continue
        sent += _invitations_create(
            campaign=campaign,
            invitees=campaign_targets(campaign=campaign, department=code, uninvited=True),
            count=room,
            now=now,
        )
    return sent


def _invitations_create(*, campaign: Campaign, invitees, count: int, now: datetime) -> int:
    picked: list[tuple[int, str]] = []
    for invitee in invitees:
        picked.append((invitee.pk, channel_choose(invitee=invitee, channels=campaign.channels)))
        if len(picked) >= count:
            break
    if not picked:
        return 0
    # The chosen invitees whole (names, addresses), in one query.
    whole = Invitee.objects.in_bulk([pk for pk, _channel in picked])
    chosen = [(whole[pk], channel) for pk, channel in picked]
    # The unique constraint decides if a row was already there: the whole wave rolls back
    # (and the next pass starts again) rather than inviting anyone twice.
    invitations = Invitation.objects.bulk_create(
        [
            Invitation(
                campaign=campaign,
                invitee=invitee,
                department_id=invitee.department_id,
                code=(code := reference_new()),
                code_index=invitation_code_index(code),
                channel=channel,
                sent_at=now,
                last_sent_at=now,
            )
            for invitee, channel in chosen
        ]
    )
    notifications = notifications_enqueue_many(
        messages=[
            _message(
                invitation=invitation,
                invitee=invitee,
                campaign=campaign,
                kind=KIND_INVITATION,
                number=0,
            )
            for invitation, (invitee, _channel) in zip(invitations, chosen, strict=True)
        ]
    )
    for invitation, notification in zip(invitations, notifications, strict=True):
        invitation.notification = notification
    Invitation.objects.bulk_update(invitations, ["notification"])
    return len(invitations)


@unit_of_work
def invitation_reminders_send(
    *, campaign_id: int, now: datetime | None = None, limit: int = WAVE_BATCH
) -> int:
    """Reminders of a running campaign: to each invitation not booked whose last message
    is `reminder_days` old, at most MAX_REMINDERS times, on the next channel of the
    campaign's order that the person has (the same one when there is no other), in the
    sending hours. Each taken by a conditional update on its count: sent once."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.RUNNING:
        return 0
    open_departments = [
        code
        for code in campaign.departments.values_list("code", flat=True)
        if sending_open(campaign=campaign, department=code, now=now)
    ]
    due = (
        Invitation.objects.filter(
            campaign=campaign,
            department__in=open_departments,
            series__isnull=True,
            reminders__lt=MAX_REMINDERS,
            last_sent_at__lte=now - timedelta(days=campaign.reminder_days),
        )
        .select_related("invitee")
        .order_by("last_sent_at", "pk")[:limit]
    )
    taken: list[Invitation] = []
    messages: list[OutboxMessage] = []
    for invitation in due:
        number = invitation.reminders + 1
        channel = channel_choose(
            invitee=invitation.invitee, channels=campaign.channels, after=invitation.channel
        )
        if not Invitation.objects.filter(
            pk=invitation.pk, reminders=invitation.reminders, series__isnull=True
        ).update(reminders=number, last_sent_at=now, channel=channel):
            continue
        invitation.channel = channel
        taken.append(invitation)
        messages.append(
            _message(
                invitation=invitation,
                invitee=invitation.invitee,
                campaign=campaign,
                kind=KIND_REMINDER,
                number=number,
            )
        )
    # The messages of the reminders taken, written together in the same transaction.
    for invitation, notification in zip(
        taken, notifications_enqueue_many(messages=messages), strict=True
    ):
        invitation.notification = notification
    Invitation.objects.bulk_update(taken, ["notification"])
    return len(taken)


# Booking with an invitation -------------------------------------------------------------


def invitation_opened(*, invitation_id: int, now: datetime | None = None) -> None:
    """The link or the code was used: the first time is counted as opened."""
    Invitation.objects.filter(pk=invitation_id, opened_at__isnull=True).update(
        opened_at=now or timezone.now()
    )


def _hold_given_back_when_used(service: Callable[P, R]) -> Callable[P, R]:
    """A code already used (by another browser a moment before) books nothing: the places
    held for it go back at once, after the refused transaction, not when the hold runs
    out."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except AlreadyBooked:
            with contextlib.suppress(NotFound):
                hold_release(hold_id=kwargs["hold_id"])
            raise

    return run


@_hold_given_back_when_used
@unit_of_work
def invitation_book(
    *,
    invitation_id: int,
    hold_id: str,
    contact,
    person: PersonData,
    dose2_slot_id: int | None = None,
    idempotency_key: str | None = None,
    override: Override | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Book the course an invitation opens, once: the invitation is claimed by a
    conditional update (not yet booked) in the booking's transaction, so a second use,
    or two at once, books nothing more. The invitation stands in for the rules for a
    first dose of what the campaign targets (its products, in its departments): it is
    recorded on the course as an override whose reason names the campaign and has no
    member of staff behind it. The invitee is linked to the person booked. Used for
    someone else or elsewhere (selectors.invitation_covers), the booking is an ordinary
    one under the public rules (or the agent's `override`) and the invitation stays
    unused."""
    now = now or timezone.now()
    invitation = (
        Invitation.objects.select_related("campaign", "invitee")
        .select_for_update(of=("self",))
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFound(gettext("Invitation introuvable."))
    if invitation.series_id is not None:
        raise AlreadyBooked(
            gettext("Cette invitation a déjà servi : elle ouvre le rendez-vous pris avec elle."),
            reference=Series.objects.get(pk=invitation.series_id).reference,
        )
    admitted = _invitation_override(invitation=invitation, hold_id=hold_id, person=person)
    result = booking_confirm(
        hold_id=hold_id,
        contact=contact,
        person=person,
        dose2_slot_id=dose2_slot_id,
        idempotency_key=idempotency_key,
        override=admitted or override,
        actor=actor,
        now=now,
    )
    if result.created and admitted is not None:
        Invitation.objects.filter(pk=invitation.pk, series__isnull=True).update(
            series=result.series, booked_at=now
        )
        Invitee.objects.filter(pk=invitation.invitee_id).update(person=result.series.person)
    return result


def _invitation_override(
    *, invitation: Invitation, hold_id: str, person: PersonData
) -> Override | None:
    """The override the invitation gives for the held place and this person, or None
    (selectors.invitation_covers)."""
    hold = Hold.objects.select_related("slot__site").filter(pk=hold_id).first()
    if hold is None or hold.dose1_elsewhere_on is not None:
        return None
    if not invitation_covers(invitation=invitation, slot=hold.slot, person=person):
        return None
    campaign = invitation.campaign
    return Override(
        by=None,
        reason=gettext("Invitation de la campagne « %(name)s » (n° %(id)s)")
        % {"name": campaign.name, "id": campaign.pk},
    )


@dataclass(frozen=True)
class CampaignsPass:
    linked: int
    invited: int
    reminded: int

    @property
    def summary(self) -> str:
        return (
            f"{self.linked} invitee(s) linked, {self.invited} invitation(s), "
            f"{self.reminded} reminder(s)"
        )


def campaigns_pass(*, now: datetime | None = None) -> CampaignsPass:
    """The worker's pass (the `campaign_waves` job, `manage.py campaigns_run`): persons
    who booked linked to invitees, then each running campaign's waves and reminders until
    none is due; each step its own short transaction, so a pass stopped half-way loses
    nothing and two passes at once invite nobody twice."""
    linked, read = 0, 1
    while read:
        read, count = invitees_link()
        linked += count
    invited = reminded = 0
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING)
    for campaign_id in running.values_list("pk", flat=True):
        while count := campaign_wave_send(campaign_id=campaign_id, now=now):
            invited += count
        while count := invitation_reminders_send(campaign_id=campaign_id, now=now):
            reminded += count
    return CampaignsPass(linked=linked, invited=invited, reminded=reminded)


# A person's erasure and the retention purge ---------------------------------------------


def invitees_erase(*, invitee_ids: Collection[int], now: datetime, remember: bool) -> dict:
    """Erase these invitees, inside the caller's transaction: their invitations' messages
    (sent or not: nothing more goes to them), their invitations, themselves. The rows are
    locked first, so that a wave inviting one of them at this moment waits, then fails on
    the missing invitee and rolls back whole (the next pass goes on without them).
    `remember` (an erasure at the person's request): each leaves an ErasedInvitee, so the
    same row imported again does not bring them back. Returns the counts."""
    invitees = list(
        Invitee.objects.select_for_update()
        .filter(pk__in=list(invitee_ids))
        .order_by("pk")
        .values_list("pk", "identifiant_index", "digest")
    )
    ids = [pk for pk, _index, _digest in invitees]
    invitations = list(Invitation.objects.filter(invitee_id__in=ids).values_list("pk", flat=True))
    messages = 0
    for start in range(0, len(invitations), 200):
        messages += Notification.objects.filter(
            invitation_messages_q(invitations[start : start + 200])
        ).delete()[0]
    counts = {
        "invitation_messages": messages,
        "invitations": Invitation.objects.filter(pk__in=invitations).delete()[0],
        "invitees": Invitee.objects.filter(pk__in=ids).delete()[0],
    }
    if remember:
        for _pk, index, digest in invitees:
            ErasedInvitee.objects.update_or_create(
                identifiant_index=index, defaults={"digest": digest, "erased_at": now}
            )
    return counts


def invitees_purge(*, ids: list[int], before: datetime, now: datetime) -> dict:
    """The retention purge's batch: of these invitees, those still due once locked."""
    due = list(invitees_due(before=before).filter(pk__in=ids).values_list("pk", flat=True))
    return invitees_erase(invitee_ids=due, now=now, remember=False)


def erased_invitees_purge(*, before: datetime) -> int:
    """Erasures older than the population's own retention are forgotten: by then the
    extract they were in has gone too."""
    return ErasedInvitee.objects.filter(erased_at__lt=before).delete()[0]
