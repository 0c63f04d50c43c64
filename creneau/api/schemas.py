from datetime import date, datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import model_validator

from creneau.outreach.rendering import notification_render


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


class VaccineOut(Schema):
    code: str = Field(description="What the `vaccine` filters take")
    name: str


class NextSlotOut(Schema):
    id: int
    start: datetime
    available: int


class SiteResultOut(SiteOut):
    distance_km: float
    available_slots: int
    next_slot_at: datetime | None
    next_slots: list[NextSlotOut] = Field(
        description="The first free slots (within the filters) from next_slot_at, up to 8 "
        "in its 24 hours: hold one by slot_id, or by site_id, start and vaccine"
    )
    vaccines: list[VaccineOut] = Field(
        description="The products with free places (within the filters), by name"
    )


class ExternalResultOut(Schema):
    """Free places at a site whose bookings live on another platform: book there."""

    name: str
    kind: str
    kind_label: str
    address: str
    postcode: str
    city: str
    latitude: float
    longitude: float
    site_id: int | None = Field(description="Our site, when the platform's place is one of ours")
    distance_km: float
    available_slots: int
    next_slot_at: datetime
    vaccines: list[VaccineOut]
    platform: str = Field(description="Where to book: 'Prendre rendez-vous sur <platform>'")
    booking_url: str = Field(description="The platform's link to book the first free slot")
    booking_phone: str
    confirmed: bool = Field(
        description="False when the platform's feed is down, malformed, stale (over 30 "
        "minutes) or suddenly empty: the figures are from its last good read"
    )
    last_read_at: datetime | None = Field(description="The platform's last good read")


class DepartmentOpeningOut(Schema):
    department: str = Field(description="The department's code")
    department_name: str
    opens_at: datetime = Field(description="When its vaccination sites are published")


class OpenToAllOut(Schema):
    rule: str = Field(description="The eligibility rule's name")
    explanation: str = Field(description="Who it admits, in the request's language")
    within_hours: int = Field(description="It admits to places starting within this many hours")


class SiteSearchOut(Schema):
    near: PlaceOut
    radius_km: float
    starts_before: datetime | None = Field(
        None, description="With `within_24h`: only places starting before this moment"
    )
    open_to_all: OpenToAllOut | None = Field(
        None,
        description="With `within_24h`: the rule in force that opens places starting soon to "
        "anyone, whatever the eligibility phase; null when the usual rules apply",
    )
    results: list[SiteResultOut]
    elsewhere: list[ExternalResultOut] = Field(
        default_factory=list,
        description="Free places on other booking platforms within the same radius, by "
        "distance; Créneau does not book them",
    )
    department_opening: DepartmentOpeningOut | None = Field(
        None,
        description="No free place found, and the place's department has no public site "
        "yet but a publication scheduled: when it opens",
    )


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


class VerificationIn(Schema):
    phone: str | None = Field(None, max_length=40, description="E.164, or a French number")
    email: str | None = Field(None, max_length=254)
    language: Literal["fr", "en"] = "fr"


class VerificationOut(Schema):
    id: UUID
    expires_at: datetime


class CodeIn(Schema):
    code: str = Field(..., max_length=20)


class ContactTokenOut(Schema):
    contact_token: str


class Dose1ElsewhereIn(Schema):
    vaccine: str = Field(
        ..., max_length=40, description="Code of the product of dose 1 (a two-dose one)"
    )
    given_on: date = Field(..., description="Day dose 1 was given (not in the future)")


class HoldIn(Schema):
    """One slot (`slot_id`), or a place at a site and time (`site_id`, `start`, `vaccine`):
    that slot, or the next free one of the day at the site if it has just filled."""

    slot_id: int | None = None
    site_id: int | None = None
    start: datetime | None = Field(None, description="A start from search's next_slots")
    vaccine: str | None = Field(None, max_length=30, description="Vaccine code")
    dose1_elsewhere: Dose1ElsewhereIn | None = Field(
        None,
        description="Dose 1 was given elsewhere: `slot_id` is then a second-dose slot of "
        "the same product inside its interval after that day, held alone",
    )

    @model_validator(mode="after")
    def one_place_named(self) -> "HoldIn":
        if self.slot_id is None and None in (self.site_id, self.start, self.vaccine):
            raise ValueError("slot_id, or site_id, start and vaccine")
        if self.dose1_elsewhere is not None and self.slot_id is None:
            raise ValueError("dose1_elsewhere goes with a slot_id (a second-dose slot)")
        return self


class Dose2OptionOut(Schema):
    slot_id: int
    site_id: int
    start: datetime
    end: datetime


class Dose2DayOut(Schema):
    date: date
    available: int


class HoldOut(Schema):
    id: UUID
    slot_id: int
    expires_at: datetime
    dose2_slot_id: int | None = Field(description="The second-dose place held with it")
    dose2_options: list[Dose2OptionOut] = Field(
        description="Up to 8 second-dose slots, the held one first, on the days nearest the "
        "recommended interval"
    )
    dose2_days: list[Dose2DayOut] = Field(
        description="Every day of the interval with free second-dose places at the site (the "
        "held place counted on its day); a day's slots: GET /api/v1/sites/{site_id}/slots"
        "?date=…&dose=2&vaccine=…. Empty for a one-dose product"
    )


class PersonIn(Schema):
    given_name: str = Field(..., max_length=100)
    family_name: str = Field(..., max_length=100)
    birth_date: date
    categories: list[str] = Field(default_factory=list, max_length=10)


class BookingIn(Schema):
    hold_id: UUID
    dose2_slot_id: int | None = None
    contact_token: str = Field(..., max_length=500)
    person: PersonIn


class PersonOut(Schema):
    given_name: str
    family_name: str
    birth_date: date
    categories: list[str]


class AppointmentOut(Schema):
    dose_number: int
    slot_id: int
    site_id: int
    start: datetime
    end: datetime
    status: str


class Dose1ElsewhereOut(Schema):
    vaccine: str
    given_on: date
    declared_by: str = Field(description="`person` or `agent` (the call centre)")


class BookingOut(Schema):
    reference: str
    management_token: str = Field(
        description="Opens the booking (Authorization: Bearer …); keep it secret"
    )
    status: str
    existing: bool = Field(description="True when the person already had this booking")
    site_id: int
    vaccine: str
    person: PersonOut
    appointments: list[AppointmentOut]
    dose1_elsewhere: Dose1ElsewhereOut | None = Field(
        None, description="The dose 1 given elsewhere, for a course booked for its dose 2 alone"
    )


class MoveIn(Schema):
    dose_number: int = Field(..., ge=1, le=3)
    slot_id: int
    dose2_slot_id: int | None = None


class OutboxMessageOut(Schema):
    """A message as it is (or was) sent, rendered for the demo: nothing keeps its text."""

    id: int
    channel: str
    to: str
    kind: str
    subject: str
    body: str
    status: str
    created_at: datetime

    @staticmethod
    def resolve_subject(notification) -> str:
        return notification_render(notification=notification).subject

    @staticmethod
    def resolve_body(notification) -> str:
        return notification_render(notification=notification).body


class OutboxOut(Schema):
    results: list[OutboxMessageOut]
