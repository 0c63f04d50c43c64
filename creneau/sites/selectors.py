import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.db import ID_MAX, columns, model_from_row, sql_value
from creneau.core.errors import NotFound
from creneau.geography.models import Commune, Department

from .models import DepartmentPublication, Site


def public_sites_q(*, now: datetime | None = None) -> Q:
    """Sites the public may see: published, or drafts whose publication time has come.

    Scheduled publication needs no job to flip a flag at 8 a.m.: the clock decides.
    """
    now = now or timezone.now()
    return Q(status=Site.Status.PUBLISHED) | Q(status=Site.Status.DRAFT, publish_at__lte=now)


# A time no site is published at: where `now` stands among the parameters of
# public_sites_q compiled once (public_sites_sql).
_NOW_MARK = datetime(1, 1, 2, tzinfo=UTC)


@functools.cache
def _public_sites_where(vendor: str) -> tuple[str, tuple]:
    query = Site.objects.filter(public_sites_q(now=_NOW_MARK)).query
    sql, params = query.where.as_sql(query.get_compiler(connection=connection), connection)
    return sql, tuple(params)


def public_sites_sql(*, now: datetime) -> tuple[str, list]:
    """public_sites_q as a condition of hand-written SQL on `sites_site` (the table's own
    name, no alias) and its parameters: the ORM compiles the rule once per process, so
    it stays written once, here, and the hot path builds no query."""
    sql, params = _public_sites_where(connection.vendor)
    mark = sql_value(_NOW_MARK)
    return sql, [sql_value(now) if param == mark else param for param in params]


_SITE_FIELDS = tuple(field.name for field in Site._meta.concrete_fields)
_COMMUNE_FIELDS = tuple(field.name for field in Commune._meta.concrete_fields)


def sites_with_communes(*, site_ids: list[int]) -> dict[int, Site]:
    """Sites by id with their communes, as `select_related("commune").in_bulk()` gives
    them, in one hand-written statement (search's results)."""
    if not site_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(Site, _SITE_FIELDS, 's')}, {columns(Commune, _COMMUNE_FIELDS, 'c')} "
            "FROM sites_site s LEFT JOIN geography_commune c ON c.insee_code = s.commune_id "
            f"WHERE s.id IN ({', '.join(['%s'] * len(site_ids))})",
            site_ids,
        )
        rows = cursor.fetchall()
    sites = {}
    split = len(_SITE_FIELDS)
    for row in rows:
        site = model_from_row(Site, _SITE_FIELDS, row[:split])
        site.commune = (
            model_from_row(Commune, _COMMUNE_FIELDS, row[split:])
            if row[split] is not None
            else None
        )
        sites[site.pk] = site
    return sites


def site_is_public(*, site: Site, now: datetime | None = None) -> bool:
    """The same rule as public_sites_q, for a site already in hand."""
    now = now or timezone.now()
    return site.status == Site.Status.PUBLISHED or (
        site.status == Site.Status.DRAFT and site.publish_at is not None and site.publish_at <= now
    )


def site_list_public(*, now: datetime | None = None) -> QuerySet[Site]:
    return Site.objects.filter(public_sites_q(now=now))


def _site_not_found(site_id: int) -> NotFound:
    return NotFound(gettext("Lieu de vaccination introuvable : %(id)s.") % {"id": site_id})


def site_get_public(*, site_id: int, now: datetime | None = None) -> Site:
    site = (
        site_list_public(now=now).select_related("commune", "department").filter(pk=site_id).first()
    )
    if site is None:
        raise _site_not_found(site_id)
    return site


def site_require_public(*, site_id: int, now: datetime | None = None) -> None:
    """The same 404 as site_get_public, without reading the site (one hand-written
    statement: a site's slot list is a step of the booking flow)."""
    # An id no column can hold (the URL takes any digits) names no site: SQLite would
    # refuse the parameter, where the ORM answers an empty result.
    if not 0 < site_id <= ID_MAX:
        raise _site_not_found(site_id)
    public, params = public_sites_sql(now=now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM sites_site WHERE id = %s AND ({public})", [site_id, *params])
        if cursor.fetchone() is None:
            raise _site_not_found(site_id)


@dataclass(frozen=True)
class DepartmentOpening:
    department: Department
    at: datetime


def department_opening(*, insee_code: str, now: datetime | None = None) -> DepartmentOpening | None:
    """When the department of a commune, with no public site yet, opens: its scheduled
    publication, or the first of its drafts' own hours, whichever comes first. None when
    it has a public site already, or nothing scheduled (the search then says there is no
    site near)."""
    now = now or timezone.now()
    commune = Commune.objects.select_related("department").filter(insee_code=insee_code).first()
    if commune is None:
        return None
    department = commune.department
    if Site.objects.filter(public_sites_q(now=now), department=department).exists():
        return None
    hours = [
        DepartmentPublication.objects.filter(
            department=department, status=DepartmentPublication.Status.SCHEDULED
        ).aggregate(first=Min("publish_at"))["first"],
        Site.objects.filter(
            department=department, status=Site.Status.DRAFT, publish_at__gt=now
        ).aggregate(first=Min("publish_at"))["first"],
    ]
    at = min((hour for hour in hours if hour is not None), default=None)
    return DepartmentOpening(department=department, at=at) if at is not None else None


def department_publication_list(
    *, departments: list[str] | None
) -> QuerySet[DepartmentPublication]:
    """The publications of these departments (None: every one), latest hour first."""
    publications = DepartmentPublication.objects.select_related("department", "scheduled_by")
    if departments is not None:
        publications = publications.filter(department__in=departments)
    return publications.order_by("-publish_at", "-pk")


def department_publication_get(
    *, publication_id: int, departments: list[str] | None
) -> DepartmentPublication:
    """One publication within these departments, or the same 404 as one that does not
    exist."""
    found = department_publication_list(departments=departments).filter(pk=publication_id)
    publication = found.first()
    if publication is None:
        raise NotFound(gettext("Publication introuvable : %(id)s.") % {"id": publication_id})
    return publication


@dataclass(frozen=True)
class DepartmentBoardRow:
    department: Department
    # Drafts a publication of the department would publish (those without their own hour).
    drafts: int
    scheduled: DepartmentPublication | None


def department_publication_board(*, departments: list[str] | None) -> list[DepartmentBoardRow]:
    """The departments in scope (None: every one), each with its drafts and its scheduled
    publication; those with neither are left out."""
    drafts = Site.objects.filter(status=Site.Status.DRAFT, publish_at__isnull=True)
    scheduled = DepartmentPublication.objects.filter(status=DepartmentPublication.Status.SCHEDULED)
    chosen = Department.objects.order_by("code")
    if departments is not None:
        drafts = drafts.filter(department__in=departments)
        scheduled = scheduled.filter(department__in=departments)
        chosen = chosen.filter(code__in=departments)
    counts = dict(drafts.values_list("department_id").annotate(n=Count("id")).order_by())
    hours = {publication.department_id: publication for publication in scheduled}
    return [
        DepartmentBoardRow(
            department=department,
            drafts=counts.get(department.code, 0),
            scheduled=hours.get(department.code),
        )
        for department in chosen
        if department.code in counts or department.code in hours
    ]


def departments_in_scope(*, departments: list[str] | None) -> list[Department]:
    """The departments an authority may schedule (None: every one)."""
    chosen = Department.objects.order_by("code")
    return list(chosen if departments is None else chosen.filter(code__in=departments))
