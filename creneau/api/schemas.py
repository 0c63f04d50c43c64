from datetime import date, datetime

from ninja import Schema


class ErrorOut(Schema):
    detail: str
    code: str


class ValidationErrorOut(Schema):
    """Input that does not parse: one entry per offending field (`loc`, `msg`)."""

    detail: list[dict]


class PlaceOut(Schema):
    label: str
    latitude: float
    longitude: float


class SiteOut(Schema):
    id: int
    name: str
    kind: str
    kind_label: str
    address: str
    postcode: str
    city: str
    department: str
    latitude: float
    longitude: float
    phone: str
    accessibility: str
    restricted_to: list[str]
    booking_url: str


class SiteResultOut(SiteOut):
    distance_km: float
    available_slots: int
    next_slot_at: datetime | None


class SiteSearchOut(Schema):
    near: PlaceOut
    radius_km: float
    results: list[SiteResultOut]


class DayOut(Schema):
    date: date
    vaccine: str
    dose: int
    available: int


class SiteDetailOut(SiteOut):
    opening_hours: dict[str, str]
    days: list[DayOut]


class SlotOut(Schema):
    id: int
    start: datetime
    end: datetime
    vaccine: str
    dose: int
    available: int


class SlotListOut(Schema):
    site_id: int
    date: date | None
    results: list[SlotOut]
