from datetime import date

from django.http import HttpRequest
from django.utils.translation import get_language
from ninja import Query, Router

from creneau.eligibility.selectors import open_to_all_within
from creneau.geography.selectors import place_resolve
from creneau.interop.selectors import ExternalResult, national_search
from creneau.scheduling.selectors import (
    AvailabilityFilter,
    availability_filter_build,
    site_calendar,
    slot_list_available,
    slots_next,
)
from creneau.sites.models import Site
from creneau.sites.selectors import department_opening, site_get_public
from creneau.vaccines.models import Vaccine

from .admission import admission_require, admission_required
from .caching import answer_cached
from .schemas import ErrorOut, SiteDetailOut, SiteSearchOut, SlotListOut, ValidationErrorOut

router = Router(tags=["sites"])
NEXT_SLOTS = 8  # per site in search's answer
ERRORS = {400: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut, 503: ErrorOut}


def site_fields(site: Site) -> dict:
    return {
        "id": site.pk,
        "name": site.name,
        "kind": site.kind,
        "kind_label": site.get_kind_display(),
        "address": site.address,
        "postcode": site.postcode,
        "city": site.commune.name if site.commune else "",
        "department": site.department_id,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "phone": site.phone,
        "accessibility": site.accessibility,
        "restricted_to": site.restricted_to,
        "booking_url": site.booking_url,
    }


@router.get("", response={200: SiteSearchOut, **ERRORS}, summary="Nearest sites with free slots")
# The booking flow's first step: a launch-morning crowd queues here, not in front of busy
# workers where those already admitted would wait behind it.
@admission_required
@answer_cached
def search_sites(
    request: HttpRequest,
    near: str = Query(..., description="Postcode, town name, or 'latitude,longitude'"),
    radius_km: float = Query(50.0, description="Search radius, up to 300 km"),
    vaccine: str | None = Query(None, description="Vaccine code, e.g. comirnaty"),
    dose: int | None = Query(None, description="Dose number (1, 2 or 3)"),
    date_from: date | None = Query(None, alias="from"),
    date_to: date | None = Query(None, alias="to"),
    limit: int = Query(20, description="At most 100"),
    within_24h: bool = Query(
        False,
        description="Only places starting within the next 24 hours; the answer says whether "
        "a rule opens them to anyone (`open_to_all`)",
    ),
):
    wanted = availability_filter_build(
        vaccine_code=vaccine,
        dose_number=dose,
        date_from=date_from,
        date_to=date_to,
        within_24h=within_24h,
    )
    place = place_resolve(query=near)
    results, elsewhere = national_search(
        origin=place.position, radius_km=radius_km, wanted=wanted, limit=limit
    )
    # Each site's next free slots in the same answer: a person can hold one straight from
    # the results (search, hold, book), without reading a site's slot list first.
    following = slots_next(
        first_free={r.site.pk: r.next_slot_at for r in results if r.next_slot_at},
        wanted=wanted,
        per_site=NEXT_SLOTS,
    )
    # Nothing to book near a place whose department is not published yet: say when it
    # opens (read only then: the rush's searches find places and pay nothing for it).
    opening = (
        department_opening(insee_code=place.commune_insee_code)
        if place.commune_insee_code
        and not any(result.available_slots for result in results)
        and not elsewhere
        else None
    )
    return {
        "near": {
            "label": place.label,
            "latitude": place.position.latitude,
            "longitude": place.position.longitude,
        },
        "radius_km": radius_km,
        "starts_before": wanted.starts_before,
        "open_to_all": _open_to_all(wanted) if wanted.starts_before else None,
        "results": [
            {
                **site_fields(result.site),
                "distance_km": result.distance_km,
                "available_slots": result.available_slots,
                "next_slot_at": result.next_slot_at,
                "next_slots": [
                    {"id": slot.pk, "start": slot.start, "available": slot.available}
                    for slot in following.get(result.site.pk, [])
                ],
                "vaccines": [
                    {"code": code, "name": name}
                    for code, name in zip(result.vaccine_codes, result.vaccines, strict=True)
                ],
            }
            for result in results
        ],
        "elsewhere": [external_fields(result) for result in elsewhere],
        # Last, in the schema's order: a cached answer is this dict as it is.
        "department_opening": opening
        and {
            "department": opening.department.code,
            "department_name": opening.department.name,
            "opens_at": opening.at,
        },
    }


def _open_to_all(wanted: AvailabilityFilter) -> dict | None:
    vaccine = Vaccine.objects.filter(pk=wanted.vaccine_id).first() if wanted.vaccine_id else None
    rule = open_to_all_within(vaccine=vaccine)
    if rule is None:
        return None
    english = (get_language() or "").startswith("en")
    return {
        "rule": rule.name,
        "explanation": (english and rule.explanation_en) or rule.explanation,
        "within_hours": rule.within_hours,
    }


def external_fields(result: ExternalResult) -> dict:
    location = result.location
    return {
        "name": location.name,
        "kind": location.kind,
        "kind_label": location.get_kind_display(),
        "address": location.address,
        "postcode": location.postcode,
        "city": location.city,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "site_id": location.site_id,
        "distance_km": result.distance_km,
        "available_slots": result.available_slots,
        "next_slot_at": result.next_slot_at,
        "vaccines": [
            {"code": code, "name": name}
            for code, name in zip(result.vaccine_codes, result.vaccines, strict=True)
        ],
        "platform": result.platform,
        "booking_url": result.booking_url,
        "booking_phone": result.booking_phone,
        "confirmed": result.confirmed,
        "last_read_at": result.read_at,
    }


@router.get("/{int:site_id}", response={200: SiteDetailOut, **ERRORS}, summary="A site")
@answer_cached
def get_site(
    request: HttpRequest,
    site_id: int,
    vaccine: str | None = None,
    dose: int | None = None,
):
    site = site_get_public(site_id=site_id)
    wanted = availability_filter_build(vaccine_code=vaccine, dose_number=dose)
    days = site_calendar(site=site, wanted=wanted)
    return {
        **site_fields(site),
        "opening_hours": site.opening_hours,
        "days": [
            {"date": d.date, "vaccine": d.vaccine_code, "dose": d.dose_number, "available": d.free}
            for d in days
        ],
    }


@router.get(
    "/{int:site_id}/slots", response={200: SlotListOut, **ERRORS}, summary="Free slots of a day"
)
def list_slots(
    request: HttpRequest,
    site_id: int,
    date: date | None = Query(None, description="Local date; default: first day with slots"),
    vaccine: str | None = None,
    dose: int | None = None,
):
    admission_require(request)
    wanted = availability_filter_build(vaccine_code=vaccine, dose_number=dose, date_from=date)
    slots = slot_list_available(site_id=site_id, day=date, wanted=wanted)
    return {
        "site_id": site_id,
        "date": slots[0].date if slots else date,
        "results": [
            {
                "id": slot.pk,
                "start": slot.start,
                "end": slot.end,
                "vaccine": slot.vaccine_code,
                "dose": slot.dose_number,
                "available": slot.available,
            }
            for slot in slots
        ],
    }
