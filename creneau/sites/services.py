from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import phonenumbers
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, NotFound
from creneau.core.geo import Position, grid_cell
from creneau.core.phones import phone_parse
from creneau.geography.models import Commune, Department

from .importer import (
    SOURCE,
    OfficialSite,
    RejectReason,
    RowRejected,
    department_code_guess,
    edit_date,
    official_site_parse,
    phone_normalise,
    rows_read,
)
from .models import DepartmentPublication, Site

# Keeps every statement under SQLite's limit on bound parameters.
CHUNK = 500


@dataclass(frozen=True)
class Reject:
    line: int
    external_id: str
    reason: RejectReason


@dataclass
class ImportReport:
    """What one import of the official list did.

    `created + updated + unchanged` rows were imported, of which `published` are open to the
    public and `closed` are closed by the file itself (its closed flag, or a closing date
    before the snapshot date). `closed_absent` counts the sites this import closed because
    the file no longer lists them. `status_kept` counts the sites whose status a person set
    (published, closed, or a department's publication) and the file would have changed:
    the file changes only a status it set.
    """

    snapshot_date: date
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    published: int = 0
    closed: int = 0
    closed_absent: int = 0
    status_kept: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(Counter(reject.reason.value for reject in self.rejects).most_common())


@transaction.atomic
def sites_import_official(*, path: Path, snapshot_date: date | None = None) -> ImportReport:
    """Bring the sites from sante.fr in line with one snapshot of the official list.

    The file is the full list: a site it no longer lists is closed, never deleted, because
    sessions, appointments and statistics point at it. Importing the same file again changes
    nothing. A status staff set (`Site.status_set_by`) stays: the file changes only what
    the file set. `snapshot_date` (by default the latest edit date in the file) is the day a
    closing date must be before for the site to count as closed.
    """
    rows = list(rows_read(path=path))
    # An empty file would close every site of the directory: far likelier a broken export.
    if not rows:
        raise InvalidInput(
            gettext("%(file)s ne contient aucun lieu de vaccination.") % {"file": path.name}
        )
    if snapshot_date is None:
        edits = [day for _, row in rows if (day := edit_date(row))]
        snapshot_date = max(edits, default=timezone.localdate())
    report = ImportReport(snapshot_date=snapshot_date, rows=len(rows))

    parsed: dict[str, OfficialSite] = {}
    for line, row in rows:
        try:
            site = official_site_parse(line=line, row=row)
            if site.external_id in parsed:
                raise RowRejected(RejectReason.DUPLICATE_ID)
        except RowRejected as rejected:
            report.rejects.append(Reject(line, row["gid"].strip(), rejected.reason))
            continue
        parsed[site.external_id] = site

    communes = _commune_departments({site.insee_code for site in parsed.values()} - {""})
    departments = set(Department.objects.values_list("code", flat=True))
    wanted: dict[str, dict[str, Any]] = {}
    for gid, site in parsed.items():
        commune_id = site.insee_code if site.insee_code in communes else None
        department = communes.get(site.insee_code) or department_code_guess(
            insee_code=site.insee_code, postcode=site.postcode
        )
        if department not in departments:
            report.rejects.append(Reject(site.line, gid, RejectReason.UNKNOWN_DEPARTMENT))
            continue
        wanted[gid] = _site_fields(
            site=site, commune_id=commune_id, department=department, snapshot_date=snapshot_date
        )
        if wanted[gid]["status"] == Site.Status.CLOSED:
            report.closed += 1
        else:
            report.published += 1
    report.rejects.sort(key=lambda reject: reject.line)

    now = timezone.now()
    # Locked so that an edit made while the import runs is not silently overwritten; "no key"
    # so that bookings, whose foreign keys share-lock their site, are not held up.
    existing = {
        site.external_id: site
        for site in Site.objects.select_for_update(no_key=True).filter(source=SOURCE)
    }
    to_create: list[Site] = []
    # Grouped by the fields that changed: bulk_update writes one CASE per field and row, and
    # most rows change only their status or hours, so this is several times faster.
    to_update: defaultdict[tuple[str, ...], list[Site]] = defaultdict(list)
    for gid, fields in wanted.items():
        site = existing.get(gid)
        if site is None:
            to_create.append(
                Site(source=SOURCE, external_id=gid, status_set_by=Site.StatusSetBy.FILE, **fields)
            )
            report.created += 1
            continue
        if site.status_set_by == Site.StatusSetBy.STAFF:
            status = fields.pop("status")
            report.status_kept += site.status != status
        changed = tuple(name for name, value in fields.items() if getattr(site, name) != value)
        if changed:
            for name in changed:
                setattr(site, name, fields[name])
            # bulk_update does not run auto_now.
            site.updated_at = now
            to_update[changed].append(site)
            report.updated += 1
        else:
            report.unchanged += 1
    Site.objects.bulk_create(to_create, batch_size=CHUNK)
    for changed, sites in to_update.items():
        fields = [name.removesuffix("_id") for name in changed]
        Site.objects.bulk_update(sites, [*fields, "updated_at"], batch_size=CHUNK)

    absent = [
        site.pk
        for gid, site in existing.items()
        if gid not in wanted
        and site.status != Site.Status.CLOSED
        and site.status_set_by == Site.StatusSetBy.FILE
    ]
    report.status_kept += sum(
        1
        for gid, site in existing.items()
        if gid not in wanted
        and site.status != Site.Status.CLOSED
        and site.status_set_by == Site.StatusSetBy.STAFF
    )
    for start in range(0, len(absent), CHUNK):
        Site.objects.filter(pk__in=absent[start : start + CHUNK]).update(
            status=Site.Status.CLOSED, updated_at=now
        )
    report.closed_absent = len(absent)
    return report


def _site_fields(
    *, site: OfficialSite, commune_id: str | None, department: str, snapshot_date: date
) -> dict[str, Any]:
    """What the official file decides about a site; the rest (publish_at…) is ours to set."""
    closed = site.closed or (site.closing_date is not None and site.closing_date < snapshot_date)
    phones = (phone_normalise(raw=raw, department_code=department) for raw in site.phones)
    return {
        "name": site.name,
        "kind": site.kind,
        "status": Site.Status.CLOSED if closed else Site.Status.PUBLISHED,
        "address": site.address,
        "postcode": site.postcode,
        "commune_id": commune_id,
        "insee_code": site.insee_code,
        "department_id": department,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "grid_cell": grid_cell(Position(site.latitude, site.longitude)),
        # The second number when the first is missing or not a phone number at all.
        "phone": next((phone for phone in phones if phone), ""),
        "accessibility": site.accessibility,
        "finess": site.finess,
        "opening_hours": site.opening_hours,
        "restricted_to": site.restricted_to,
        "booking_url": site.booking_url,
    }


def _commune_departments(insee_codes: set[str]) -> dict[str, str]:
    """Department of each commune of the file that the database knows."""
    codes = sorted(insee_codes)
    found: dict[str, str] = {}
    for start in range(0, len(codes), CHUNK):
        found.update(
            Commune.objects.filter(insee_code__in=codes[start : start + CHUNK]).values_list(
                "insee_code", "department_id"
            )
        )
    return found


def _publication_record(*, actor: Actor, site_id: int, summary: str) -> None:
    site = Site.objects.select_related("department").get(pk=site_id)
    audit_record(actor=actor, action="change", obj=site, site=site, summary=summary)


@unit_of_work
def site_publish(*, actor: Actor, site_id: int) -> None:
    if not Site.objects.filter(pk=site_id, status=Site.Status.DRAFT).update(
        status=Site.Status.PUBLISHED, status_set_by=Site.StatusSetBy.STAFF, publish_at=None
    ):
        raise NotFound(gettext("Lieu en brouillon introuvable : %(id)s.") % {"id": site_id})
    _publication_record(actor=actor, site_id=site_id, summary=gettext("Lieu publié"))


@unit_of_work
def site_close(*, actor: Actor | None, site_id: int) -> None:
    """Close a site to the public; its sessions are closed separately, with notification.
    No actor: closed as part of a site's cancellation, which records its own event."""
    if (
        not Site.objects.filter(pk=site_id)
        .exclude(status=Site.Status.CLOSED)
        .update(status=Site.Status.CLOSED, status_set_by=Site.StatusSetBy.STAFF)
    ):
        raise NotFound(gettext("Lieu ouvert introuvable : %(id)s.") % {"id": site_id})
    if actor is not None:
        _publication_record(actor=actor, site_id=site_id, summary=gettext("Lieu fermé au public"))


@unit_of_work
def site_update(
    *, actor: Actor, site_id: int, name: str, phone: str, accessibility: str, booking_url: str
) -> Site:
    """The details a site's manager keeps up to date; the phone number is stored in E.164."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput(gettext("Le nom va de 1 à 200 caractères."), field="name")
    stored_phone = ""
    if phone.strip():
        stored_phone = phonenumbers.format_number(
            phone_parse(phone), phonenumbers.PhoneNumberFormat.E164
        )
    if not Site.objects.filter(pk=site_id).update(
        name=name,
        phone=stored_phone,
        accessibility=accessibility.strip()[:250],
        booking_url=booking_url.strip()[:500],
        updated_at=timezone.now(),
    ):
        raise NotFound(gettext("Lieu introuvable : %(id)s.") % {"id": site_id})
    site = Site.objects.get(pk=site_id)
    audit_record(
        actor=actor,
        action="change",
        obj=site,
        site=site,
        summary=gettext("Informations du lieu modifiées"),
    )
    return site


@unit_of_work
def site_second_factor_set(*, actor: Actor, site_id: int, required: bool) -> Site:
    """Whether the site's staff must sign in with a second factor (its managers always
    must). Their next page asks for it (`staff.selectors.second_factor_required`)."""
    if not Site.objects.filter(pk=site_id).update(
        staff_second_factor=required, updated_at=timezone.now()
    ):
        raise NotFound(gettext("Lieu introuvable : %(id)s.") % {"id": site_id})
    site = Site.objects.select_related("department").get(pk=site_id)
    audit_record(
        actor=actor,
        action="change",
        obj=site,
        site=site,
        summary=gettext("Double authentification exigée du personnel")
        if required
        else gettext("Double authentification facultative pour le personnel"),
        details={"staff_second_factor": required},
    )
    return site


@unit_of_work
def site_publication_plan(*, actor: Actor, site_id: int, publish_at: datetime | None) -> None:
    """A draft site goes public at `publish_at` (None: stays a draft until published)."""
    if publish_at is not None and publish_at <= timezone.now():
        raise InvalidInput(gettext("La publication programmée doit être dans le futur."))
    if not Site.objects.filter(pk=site_id, status=Site.Status.DRAFT).update(publish_at=publish_at):
        raise NotFound(gettext("Lieu en brouillon introuvable : %(id)s.") % {"id": site_id})
    _publication_record(actor=actor, site_id=site_id, summary=gettext("Publication programmée"))


@unit_of_work
def department_publication_schedule(
    *, actor: Actor, department_code: str, publish_at: datetime, now: datetime | None = None
) -> DepartmentPublication:
    """Every draft site of a department published at `publish_at` by the worker; a draft
    with its own `publish_at` keeps it. Scheduling again moves the hour (the previous
    one is cancelled, in the same event). The department row is locked first (no key:
    sites inserted meanwhile are not held up), so two authorities scheduling at once
    queue, and `one_scheduled_publication_per_department` is never the one to refuse."""
    now = now or timezone.now()
    if publish_at <= now:
        raise InvalidInput(
            gettext("La publication programmée doit être dans le futur."), field="publish_at"
        )
    department = (
        Department.objects.select_for_update(no_key=True).filter(code=department_code).first()
    )
    if department is None:
        raise NotFound(gettext("Département inconnu : %(code)s.") % {"code": department_code})
    previous = DepartmentPublication.objects.filter(
        department=department, status=DepartmentPublication.Status.SCHEDULED
    ).first()
    if previous is not None:
        DepartmentPublication.objects.filter(pk=previous.pk).update(
            status=DepartmentPublication.Status.CANCELLED
        )
    publication = DepartmentPublication.objects.create(
        department=department, publish_at=publish_at, scheduled_by=actor.user
    )
    drafts = Site.objects.filter(
        department=department, status=Site.Status.DRAFT, publish_at__isnull=True
    ).count()
    audit_record(
        actor=actor,
        action="change",
        obj=publication,
        department=department,
        summary=gettext("Publication des lieux du département %(code)s programmée")
        % {"code": department.code},
        details={
            "before": previous.publish_at.isoformat() if previous else None,
            "after": publish_at.isoformat(),
            "drafts": drafts,
        },
    )
    return publication


@unit_of_work
def department_publication_cancel(*, actor: Actor, publication_id: int) -> None:
    """A scheduled publication called off before the worker takes it: the conditional
    update decides between the two, so it is either cancelled or done, never both."""
    if not DepartmentPublication.objects.filter(
        pk=publication_id, status=DepartmentPublication.Status.SCHEDULED
    ).update(status=DepartmentPublication.Status.CANCELLED):
        raise InvalidInput(
            gettext("Cette publication a déjà eu lieu ou a été annulée."), field="publication"
        )
    publication = DepartmentPublication.objects.select_related("department").get(pk=publication_id)
    audit_record(
        actor=actor,
        action="change",
        obj=publication,
        department=publication.department,
        summary=gettext("Publication des lieux du département %(code)s annulée")
        % {"code": publication.department_id},
        details={"before": publication.publish_at.isoformat(), "after": None},
    )


@unit_of_work
def department_publish(*, publication_id: int, now: datetime | None = None) -> int:
    """One department's publication, when its hour has come: claimed by a conditional
    update (two workers, or the worker and a cancellation, at once: one wins), then every
    draft without its own hour published, in the same transaction. Returns the number of
    sites published (0 when another took it)."""
    now = now or timezone.now()
    if not DepartmentPublication.objects.filter(
        pk=publication_id, status=DepartmentPublication.Status.SCHEDULED, publish_at__lte=now
    ).update(status=DepartmentPublication.Status.DONE, done_at=now):
        return 0
    publication = DepartmentPublication.objects.select_related("department").get(pk=publication_id)
    published = Site.objects.filter(
        department=publication.department_id, status=Site.Status.DRAFT, publish_at__isnull=True
    ).update(status=Site.Status.PUBLISHED, status_set_by=Site.StatusSetBy.STAFF, updated_at=now)
    DepartmentPublication.objects.filter(pk=publication_id).update(published=published)
    # The worker's part of a staff action: the event names no one, the scheduling's did.
    audit_record(
        actor=None,
        action="change",
        obj=publication,
        department=publication.department,
        summary=gettext("Lieux du département %(code)s publiés : %(count)d")
        % {"code": publication.department_id, "count": published},
        details={"published": published},
    )
    return published


def department_publications_run(*, now: datetime | None = None) -> int:
    """The worker's job: every publication whose hour has come, each in its own unit of
    work. Returns the number of sites published."""
    now = now or timezone.now()
    due = DepartmentPublication.objects.filter(
        status=DepartmentPublication.Status.SCHEDULED, publish_at__lte=now
    ).values_list("pk", flat=True)
    return sum(department_publish(publication_id=pk, now=now) for pk in list(due))
