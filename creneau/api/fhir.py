"""FHIR R4, read-only, for health systems: `/fhir/r4/metadata`, Location, Schedule, Slot,
a person's own Appointment, and Immunization for the national vaccination registry.

The resources are the ones the SMART Scheduling Links files carry (`interop.publish`
builds both), read from the database per request: `Location?near=lat|lon|distance|km`,
`Schedule?actor=Location/<id>`, `Slot?schedule=Schedule/<id>&start=ge<instant>&status=free`,
paged with `_count` and `_page` and a `next` link. `Immunization?date=ge…&date=le…&location=`
(the doses given, with the person's name and birth date) opens only to a staff API token
of a national or regional authority (a regional one reads its departments' sites), and
every read is in the audit log (invariant 8). Every refusal is an OperationOutcome with
its 4xx status.
"""

import math
from datetime import date, datetime, time, timedelta

import orjson
from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from creneau.audit.services import audit_record
from creneau.booking.selectors import series_authenticate
from creneau.core.actor import Actor
from creneau.core.clients import request_ip
from creneau.core.errors import DomainError, Unauthorized
from creneau.core.geo import Position
from creneau.geography.models import Department
from creneau.interop import smart
from creneau.interop.publish import (
    location_resource,
    schedule_id,
    schedule_resource,
    slot_resource,
    utc_instant,
    vaccine_codeable_concept,
)
from creneau.interop.selectors import (
    fhir_immunizations,
    fhir_locations_near,
    fhir_schedules,
    fhir_slots,
    publication_sites,
)
from creneau.staff.models import StaffProfile
from creneau.staff.selectors import API_TOKEN_ROLES, ApiAccess, api_token_authenticate
from creneau.staff.services import api_token_use

FHIR_JSON = "application/fhir+json"
MAX_COUNT = 100
DEFAULT_COUNT = 20
MAX_PAGE = 10_000
MAX_NEAR_KM = 300


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _answer(resource: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(resource, option=orjson.OPT_UTC_Z), status=status, content_type=FHIR_JSON
    )


def operation_outcome(status: int, code: str, message: str) -> HttpResponse:
    return _answer(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}],
        },
        status=status,
    )


def _fhir_view(view):
    """GET and HEAD only; a refusal becomes its OperationOutcome."""

    @require_safe
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _Refused as refused:
            return operation_outcome(refused.status, refused.code, refused.message)

    return wrapped


def _base() -> str:
    return f"{settings.PUBLIC_URL}/fhir/r4"


def _int(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise _Refused(400, "invalid", f"{name} : un entier de {low} à {high} est attendu.")
    return int(raw)


def _paging(request: HttpRequest) -> tuple[int, int]:
    return (
        _int(request, "_count", DEFAULT_COUNT, 1, MAX_COUNT),
        _int(request, "_page", 1, 1, MAX_PAGE),
    )


def _bundle(
    request: HttpRequest, resources: list[dict], *, count: int, page: int, more: bool
) -> HttpResponse:
    query = {key: value for key, value in request.GET.items() if key != "_page"}
    here = f"{_base()}/{request.path.rsplit('/', 1)[1]}"
    links = [{"relation": "self", "url": f"{here}?{urlencode({**query, '_page': page})}"}]
    if more:
        links.append(
            {"relation": "next", "url": f"{here}?{urlencode({**query, '_page': page + 1})}"}
        )
    return _answer(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{_base()}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


READ_BY_ID = frozenset({"Location", "Immunization"})


@_fhir_view
def metadata(request: HttpRequest) -> HttpResponse:
    def resource(kind: str, params: list[tuple[str, str]]) -> dict:
        # Read by id only where a route answers it (`Location/<id>`, `Immunization/<id>`).
        by_id = [{"code": "read"}] if kind in READ_BY_ID else []
        return {
            "type": kind,
            "interaction": [*by_id, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": kind_} for name, kind_ in params],
        }

    return _answer(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.now().date().isoformat(),
            "publisher": "Créneau",
            "kind": "instance",
            "software": {"name": "Créneau"},
            "implementation": {"description": "Créneau FHIR R4 (read-only)", "url": _base()},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        resource("Location", [("near", "special"), ("_count", "number")]),
                        resource("Schedule", [("actor", "reference")]),
                        resource("Appointment", [("identifier", "token")]),
                        resource(
                            "Slot",
                            [
                                ("schedule", "reference"),
                                ("start", "date"),
                                ("status", "token"),
                                ("_count", "number"),
                            ],
                        ),
                        resource(
                            "Immunization",
                            [("date", "date"), ("location", "reference"), ("_count", "number")],
                        ),
                    ],
                }
            ],
        }
    )


def _near(raw: str) -> tuple[Position, float]:
    """lat|lon|distance|km (the distance and unit optional: 10 km)."""
    parts = raw.split("|")
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else 10.0
    except (ValueError, IndexError):
        raise _Refused(400, "invalid", "near : latitude|longitude|distance|km attendu.") from None
    unit = parts[3] if len(parts) > 3 else "km"
    if unit not in ("km", "m"):
        raise _Refused(400, "invalid", "near : l'unité est km ou m.")
    distance = distance / 1000 if unit == "m" else distance
    if not all(map(math.isfinite, (latitude, longitude, distance))) or not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180 and 0 < distance <= MAX_NEAR_KM
    ):
        raise _Refused(
            400, "invalid", f"near : position sur la Terre, 0 < distance ≤ {MAX_NEAR_KM} km."
        )
    return Position(latitude, longitude), distance


@_fhir_view
def locations(request: HttpRequest) -> HttpResponse:
    count, page = _paging(request)
    now = timezone.now()
    if "near" in request.GET:
        origin, radius = _near(request.GET["near"])
        sites = [site for _, site in fhir_locations_near(origin=origin, radius_km=radius, now=now)]
    else:
        sites = list(publication_sites(now=now).values())
    chosen = sites[(page - 1) * count : page * count]
    return _bundle(
        request,
        [location_resource(site, settings.PUBLIC_URL) for site in chosen],
        count=count,
        page=page,
        more=len(sites) > page * count,
    )


def _site_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise _Refused(404, "not-found", f"Ressource inconnue : {raw[:64]}")
    return int(raw)


@_fhir_view
def location(request: HttpRequest, resource_id: str) -> HttpResponse:
    site = publication_sites(now=timezone.now()).get(_site_id(resource_id))
    if site is None:
        raise _Refused(404, "not-found", f"Location/{resource_id[:64]} inconnue.")
    return _answer(location_resource(site, settings.PUBLIC_URL))


@_fhir_view
def schedules(request: HttpRequest) -> HttpResponse:
    actor = request.GET.get("actor", "")
    if not actor.startswith("Location/"):
        raise _Refused(400, "too-costly", "actor=Location/<id> est requis.")
    site_id = _site_id(actor.removeprefix("Location/"))
    now = timezone.now()
    if site_id not in publication_sites(now=now, where=Q(pk=site_id)):
        return _bundle(request, [], count=DEFAULT_COUNT, page=1, more=False)
    found = [
        schedule_resource(
            schedule_id(site_id, code, dose),
            site_id,
            code,
            name,
            eu_number,
            dose,
            settings.PUBLIC_URL,
        )
        for code, name, eu_number, dose in fhir_schedules(site_id=site_id, now=now)
    ]
    return _bundle(request, found, count=len(found) or 1, page=1, more=False)


def _start(raw: str | None, now: datetime) -> datetime:
    if raw is None:
        return now
    if not raw.startswith("ge"):
        raise _Refused(400, "not-supported", "start : seul ge<instant> est pris en charge.")
    try:
        instant = datetime.fromisoformat(raw[2:])
    except ValueError:
        raise _Refused(
            400, "invalid", "start : ge suivi d'une date ou d'un instant ISO 8601."
        ) from None
    if instant.tzinfo is None:
        instant = timezone.make_aware(instant)
    return max(instant, now)


@_fhir_view
def slots(request: HttpRequest) -> HttpResponse:
    reference = request.GET.get("schedule", "").removeprefix("Schedule/")
    site_part, _, rest = reference.partition("-")
    code, _, dose = rest.rpartition("-")
    if not (site_part.isdigit() and code and dose.isdigit()):
        raise _Refused(400, "too-costly", "schedule=Schedule/<id> est requis.")
    status = request.GET.get("status")
    if status not in (None, "free"):
        raise _Refused(400, "not-supported", "status : seul free est pris en charge.")
    count, page = _paging(request)
    now = timezone.now()
    # Every parameter checked before anything is read: the answer to a bad request does
    # not depend on whether the schedule exists.
    start_from = _start(request.GET.get("start"), now)
    site_id = _site_id(site_part)
    site = publication_sites(now=now, where=Q(pk=site_id)).get(site_id)
    if site is None:
        return _bundle(request, [], count=count, page=page, more=False)
    rows = fhir_slots(
        site_id=site_id,
        vaccine_code=code,
        dose_number=int(dose),
        start_from=start_from,
        free_only=status == "free",
        offset=(page - 1) * count,
        count=count + 1,
    )
    found = [
        slot_resource(row, site=site, vaccine_code=code, public_url=settings.PUBLIC_URL)
        for row in rows[:count]
    ]
    return _bundle(request, found, count=count, page=page, more=len(rows) > count)


def _appointment(appointment, reference: str) -> dict:
    """One dose of a booking, without the person: FHIR's statuses are already ours."""
    slot = appointment.slot
    return {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "identifier": [{"system": f"{settings.PUBLIC_URL}/rendez-vous", "value": reference}],
        "status": appointment.status,
        "serviceType": smart.SERVICE_TYPE,
        "description": f"Dose {appointment.dose_number}",
        "start": utc_instant(slot.start),
        "end": utc_instant(slot.end),
        "slot": [{"reference": f"Slot/{slot.pk}"}],
        "participant": [{"actor": {"reference": f"Location/{slot.site_id}"}, "status": "accepted"}],
    }


@_fhir_view
def appointments(request: HttpRequest) -> HttpResponse:
    """A person's own booking: `identifier=<reference>`, with the booking's management
    token as `Authorization: Bearer`; a wrong token and an unknown reference alike 404."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(401, "login", "Authorization: Bearer <jeton de gestion> est requis.")
    reference = request.GET.get("identifier", "")
    if not reference:
        raise _Refused(400, "too-costly", "identifier=<référence du rendez-vous> est requis.")
    try:
        series = series_authenticate(reference=reference[:40], token=token.strip())
    except DomainError as error:
        raise _Refused(404, "not-found", error.message) from None
    found = [
        _appointment(appointment, series.reference)
        for appointment in series.appointments.select_related("slot").order_by("dose_number", "id")
    ]
    return _bundle(request, found, count=len(found) or 1, page=1, more=False)


def _staff_access(request: HttpRequest) -> tuple[ApiAccess, Actor]:
    """The authority a staff API token names, or 401 (no token, a wrong, expired or revoked
    one) or 403 (an account that is no longer a national or regional authority's)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _Refused(401, "login", "Authorization: Bearer <jeton d'API> est requis.")
    try:
        access = api_token_authenticate(secret=secret.strip())
    except Unauthorized as error:
        raise _Refused(401, "login", error.message) from None
    actor = Actor(
        user=access.token.user,
        profile=access.profile,
        ip=request_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:200],
    )
    if access.profile is None or access.profile.role not in API_TOKEN_ROLES:
        audit_record(
            actor=actor,
            action="refused",
            object_type="fhir.immunization",
            summary=gettext("Jeton d'API d'un compte qui n'est plus celui d'une autorité"),
            details={"path": request.path, "token": access.token.pk},
        )
        raise _Refused(
            403, "forbidden", "Réservé aux autorités nationale et régionales (jeton d'API)."
        )
    return access, actor


def _given_bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """`date=ge…` and `date=le…` (a day, local, or an instant) as [from, before)."""
    given_from = given_before = None
    for raw in values:
        prefix, text = raw[:2], raw[2:]
        if prefix not in ("ge", "le"):
            raise _Refused(
                400, "not-supported", "date : seuls ge<date> et le<date> sont pris en charge."
            )
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                bound = timezone.make_aware(
                    datetime.combine(day + timedelta(days=prefix == "le"), time())
                )
            else:
                bound = datetime.fromisoformat(text)
                if bound.tzinfo is None:
                    bound = timezone.make_aware(bound)
                if prefix == "le":
                    bound += timedelta(microseconds=1)
        except (ValueError, OverflowError):
            raise _Refused(
                400, "invalid", "date : ge ou le suivi d'une date ou d'un instant ISO 8601."
            ) from None
        if prefix == "ge":
            given_from = bound if given_from is None else max(given_from, bound)
        else:
            given_before = bound if given_before is None else min(given_before, bound)
    return given_from, given_before


def _immunization(administration) -> dict:
    """One dose given: the person as a contained Patient (name and birth date, decrypted
    here; a dose whose person was erased keeps only its pseudonymous subject), the
    product's codes, the lot, when, where and by whom."""
    public_url = settings.PUBLIC_URL
    appointment = administration.appointment
    patient: dict = {"resourceType": "Patient", "id": "patient"}
    if appointment is not None:
        person = appointment.person
        site = appointment.slot.site
        dose = appointment.dose_number
        patient["name"] = [{"family": person.family_name, "given": [person.given_name]}]
        patient["birthDate"] = person.birth_date.isoformat()
    else:
        site = administration.site
        dose = administration.dose_number
        patient["identifier"] = [
            {"system": f"{public_url}/sujets", "value": administration.subject}
        ]
    vaccine = administration.vaccine
    performer = administration.given_by
    return {
        "resourceType": "Immunization",
        "id": str(administration.pk),
        "contained": [patient],
        "status": "entered-in-error" if administration.withdrawn_at else "completed",
        "vaccineCode": vaccine_codeable_concept(
            code=vaccine.code,
            name=vaccine.name,
            atc_code=vaccine.atc_code,
            eu_number=vaccine.eu_number,
            public_url=public_url,
        ),
        "patient": {"reference": "#patient"},
        "occurrenceDateTime": utc_instant(administration.given_at),
        "recorded": utc_instant(administration.recorded_at),
        "primarySource": True,
        "location": {"reference": f"Location/{site.pk}", "display": site.name},
        "lotNumber": administration.lot,
        "performer": [
            {
                "function": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0443",
                            "code": "AP",
                            "display": "Administering Provider",
                        }
                    ]
                },
                "actor": {
                    "identifier": {
                        "system": f"{public_url}/personnels",
                        "value": str(performer.pk),
                    },
                    "display": performer.get_full_name() or performer.get_username(),
                },
            }
        ],
        "protocolApplied": [{"doseNumberPositiveInt": dose}],
    }


def _reader_departments(access: ApiAccess) -> list[Department] | None:
    """The departments a token's doses are read in: None for the national authority
    (every site), a regional authority's own."""
    profile = access.profile
    if profile.role == StaffProfile.Role.NATIONAL_AUTHORITY:
        return None
    return list(profile.departments.all())


def _immunizations_audit(
    *,
    actor: Actor,
    access: ApiAccess,
    action: str,
    rows: list,
    reader_departments: list[Department] | None,
    summary: str,
    details: dict,
) -> None:
    """One event per department of the doses read, with their ids, so that each
    department's regional authority finds the reads of its doses in its audit log (the
    national one sees them all). A read that answered nothing is placed in the reader's
    departments (a national reader's: none, seen nationally)."""
    by_department: dict[str | None, list[int]] = {}
    for administration in rows:
        at = administration.appointment.slot.site if administration.appointment else None
        code = (at or administration.site).department_id
        by_department.setdefault(code, []).append(administration.pk)
    if by_department:
        known = Department.objects.in_bulk([code for code in by_department if code])
        placed = [(known.get(code), ids) for code, ids in by_department.items()]
    else:
        placed = [(department, []) for department in reader_departments or [None]]
    for department, ids in placed:
        audit_record(
            actor=actor,
            action=action,
            object_type="fhir.immunization",
            object_id=access.token.prefix,
            department=department,
            summary=summary % {"count": len(ids)},
            details={**details, "administrations": ids, "token": access.token.pk},
        )


@_fhir_view
def immunizations(request: HttpRequest) -> HttpResponse:
    """The doses given, for the national vaccination registry: a national authority's
    token reads every site's, a regional one's its departments' sites'. Each read, the
    ids it answered included, is in the audit log under the token's account."""
    access, actor = _staff_access(request)
    count, page = _paging(request)
    given_from, given_before = _given_bounds(request.GET.getlist("date"))
    site_id = None
    if "location" in request.GET:
        site_id = _site_id(request.GET["location"].removeprefix("Location/"))
    reader_departments = _reader_departments(access)
    rows = fhir_immunizations(
        departments=None
        if reader_departments is None
        else [department.pk for department in reader_departments],
        site_id=site_id,
        given_from=given_from,
        given_before=given_before,
        offset=(page - 1) * count,
        count=count + 1,
    )
    found = [_immunization(administration) for administration in rows[:count]]
    _immunizations_audit(
        actor=actor,
        access=access,
        action="view",
        rows=rows[:count],
        reader_departments=reader_departments,
        summary=gettext("Vaccinations lues par l'API FHIR : %(count)d"),
        details={"query": request.GET.urlencode()[:500]},
    )
    api_token_use(token=access.token, now=timezone.now())
    return _bundle(request, found, count=count, page=page, more=len(rows) > count)


@_fhir_view
def immunization(request: HttpRequest, resource_id: str) -> HttpResponse:
    """One dose given, by id, under the same token and scope as the search: one out of
    the token's departments answers 404 as an unknown one does (its existence is not
    told), and is in the audit log as a refused read."""
    access, actor = _staff_access(request)
    reader_departments = _reader_departments(access)
    try:
        wanted = _site_id(resource_id)
    except _Refused:  # not an id: no dose has it, audited as an unknown one
        wanted = None
    rows = (
        []
        if wanted is None
        else fhir_immunizations(
            departments=None
            if reader_departments is None
            else [department.pk for department in reader_departments],
            administration_id=wanted,
            count=1,
        )
    )
    _immunizations_audit(
        actor=actor,
        access=access,
        action="view" if rows else "refused",
        rows=rows,
        reader_departments=reader_departments,
        summary=gettext("Vaccination lue par l'API FHIR : %(count)d")
        if rows
        else gettext("Vaccination inconnue ou hors du périmètre du jeton"),
        details={"id": resource_id[:64]},
    )
    api_token_use(token=access.token, now=timezone.now())
    if not rows:
        raise _Refused(404, "not-found", f"Immunization/{resource_id[:64]} inconnue.")
    return _answer(_immunization(rows[0]))


@_fhir_view
def unsupported(request: HttpRequest, rest: str) -> HttpResponse:
    raise _Refused(404, "not-supported", f"Non pris en charge : {rest[:64]}")


urlpatterns = [
    path("metadata", metadata, name="fhir-metadata"),
    path("Location", locations, name="fhir-locations"),
    path("Location/<str:resource_id>", location, name="fhir-location"),
    path("Schedule", schedules, name="fhir-schedules"),
    path("Slot", slots, name="fhir-slots"),
    path("Appointment", appointments, name="fhir-appointments"),
    path("Immunization", immunizations, name="fhir-immunizations"),
    path("Immunization/<str:resource_id>", immunization, name="fhir-immunization"),
    re_path(r"^(?P<rest>.*)$", unsupported),
]
