"""Contacts, holds and bookings: each endpoint parses, calls one service, answers."""

import re
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Header, Router, Status
from ninja.security import HttpBearer

from creneau.admission.limits import code_send_admit, limit_hit
from creneau.booking.addresses import contact_address_parse
from creneau.booking.selectors import (
    contact_authenticate,
    dose1_elsewhere_check,
    hold_dose2_day_places,
    series_appointments,
    series_authenticate,
)
from creneau.booking.services import (
    BookingResult,
    Holder,
    PersonData,
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_move,
    contact_verification_confirm,
    contact_verification_start,
    hold_create,
    hold_create_at,
    hold_release,
)
from creneau.booking.tokens import reference_display
from creneau.core.clients import network_key, request_ip
from creneau.core.errors import InvalidInput, NotFound
from creneau.outreach.selectors import outbox_list
from creneau.scheduling.selectors import vaccine_by_code

from .admission import admission_require
from .rendering import json_answer
from .schemas import (
    BookingIn,
    BookingOut,
    CodeIn,
    ContactTokenOut,
    ErrorOut,
    HoldIn,
    HoldOut,
    MoveIn,
    OutboxOut,
    ValidationErrorOut,
    VerificationIn,
    VerificationOut,
)

ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 409, 410, 429, 503)} | {
    422: ValidationErrorOut
}
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,100}$")

contacts = Router(tags=["contacts"])
holds = Router(tags=["holds"])
bookings = Router(tags=["bookings"])
demo = Router(tags=["demo"])


class ManagementToken(HttpBearer):
    """The booking's management token, given once with the booking."""

    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        return token or None


@contacts.post(
    "/verifications", response={201: VerificationOut, **ERRORS}, summary="Send a one-time code"
)
def start_verification(request: HttpRequest, payload: VerificationIn):
    admission_require(request)
    limit_hit(name="codes_per_address", key=network_key(request_ip(request)))
    verification = contact_verification_start(
        phone=payload.phone, email=payload.email, language=payload.language, admit=code_send_admit
    )
    return Status(201, {"id": verification.pk, "expires_at": verification.expires_at})


@contacts.post(
    "/verifications/{uuid:verification_id}/confirm",
    response={200: ContactTokenOut, **ERRORS},
    summary="Confirm the code; get a contact token",
)
def confirm_verification(request: HttpRequest, verification_id: UUID, payload: CodeIn):
    token = contact_verification_confirm(verification_id=verification_id, code=payload.code)
    return {"contact_token": token}


@holds.post(
    "",
    response={201: HoldOut, **ERRORS},
    summary="Hold a first-dose slot, or a second-dose slot alone after a dose 1 given elsewhere",
)
def create_hold(request: HttpRequest, payload: HoldIn):
    admission_require(request)
    # An API caller is known by its network: nothing else about it can be trusted.
    network = network_key(request_ip(request))
    limit_hit(name="holds_per_client", key=f"api:{network}")
    holder = Holder(client=f"api:{network}", network=network)
    if payload.slot_id is not None:
        declared = payload.dose1_elsewhere
        result = hold_create(
            slot_id=payload.slot_id,
            holder=holder,
            dose1_elsewhere=dose1_elsewhere_check(
                vaccine_code=declared.vaccine,
                given_on=declared.given_on,
                today=timezone.localdate(),
            )
            if declared
            else None,
        )
    else:  # a place at a site and time (HoldIn checked all three are there)
        start = payload.start
        if timezone.is_naive(start):
            start = timezone.make_aware(start)
        result = hold_create_at(
            site_id=payload.site_id,
            vaccine_id=vaccine_by_code(payload.vaccine).pk,
            start=start,
            holder=holder,
        )
    return json_answer(
        {
            "id": result.hold.pk,
            "slot_id": result.hold.slot_id,
            "expires_at": result.hold.expires_at,
            "dose2_slot_id": result.hold.dose2_slot_id,
            "dose2_options": [
                {"slot_id": slot.pk, "site_id": slot.site_id, "start": slot.start, "end": slot.end}
                for slot in result.dose2_options
            ],
            "dose2_days": [
                {"date": day, "available": places}
                for day, places in hold_dose2_day_places(hold=result.hold)
            ],
        },
        status=201,
    )


@holds.delete("/{uuid:hold_id}", response={204: None, **ERRORS}, summary="Release a hold")
def delete_hold(request: HttpRequest, hold_id: UUID):
    hold_release(hold_id=hold_id)
    return Status(204, None)


def booking_out(result: BookingResult) -> dict:
    series = result.series
    person = series.person
    return {
        "reference": reference_display(series.reference),
        "management_token": result.management_token,
        "status": series.status,
        "existing": not result.created,
        "site_id": series.site_id,
        "vaccine": series.vaccine.code,
        "person": {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "birth_date": person.birth_date,
            "categories": person.categories,
        },
        "appointments": [
            {
                "dose_number": appointment.dose_number,
                "slot_id": appointment.slot_id,
                "site_id": appointment.slot.site_id,
                "start": appointment.slot.start,
                "end": appointment.slot.end,
                "status": appointment.status,
            }
            for appointment in result.appointments
        ],
        "dose1_elsewhere": {
            "vaccine": series.vaccine.code,
            "given_on": series.dose1_elsewhere_on,
            "declared_by": series.dose1_elsewhere_declared_by,
        }
        if series.dose1_elsewhere_on
        else None,
    }


@bookings.post(
    "",
    response={200: BookingOut, 201: BookingOut, **ERRORS},
    summary="Book dose 1 and dose 2 from a hold",
    description="201 for a new booking (or the replay of one with the same Idempotency-Key "
    "and body); 200 with `existing: true` when the person already has an active booking.",
)
def create_booking(
    request: HttpRequest,
    payload: BookingIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key"),
):
    if not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidInput(
            gettext("Idempotency-Key : de 8 à 100 caractères visibles (un UUID par exemple).")
        )
    admission_require(request)
    contact = contact_authenticate(token=payload.contact_token)
    limit_hit(name="bookings_per_contact", key=str(contact.pk))
    result = booking_confirm(
        hold_id=payload.hold_id,
        contact=contact,
        person=PersonData(
            given_name=payload.person.given_name,
            family_name=payload.person.family_name,
            birth_date=payload.person.birth_date,
            categories=tuple(payload.person.categories),
        ),
        dose2_slot_id=payload.dose2_slot_id,
        idempotency_key=idempotency_key,
    )
    return json_answer(booking_out(result), status=201 if result.created else 200)


@bookings.get(
    "/{reference}",
    response={200: BookingOut, **ERRORS},
    auth=ManagementToken(),
    summary="A booking",
)
def get_booking(request: HttpRequest, reference: str):
    series = series_authenticate(reference=reference, token=request.auth)
    return booking_out(
        BookingResult(
            series=series,
            management_token=request.auth,
            appointments=series_appointments(series=series),
        )
    )


@bookings.post(
    "/{reference}/move",
    response={200: BookingOut, **ERRORS},
    auth=ManagementToken(),
    summary="Move dose 1 or dose 2",
)
def move_booking(request: HttpRequest, reference: str, payload: MoveIn):
    series = series_authenticate(reference=reference, token=request.auth)
    return booking_out(
        booking_move(
            series_id=series.pk,
            dose_number=payload.dose_number,
            slot_id=payload.slot_id,
            dose2_slot_id=payload.dose2_slot_id,
        )
    )


@bookings.post(
    "/{reference}/cancel",
    response={200: BookingOut, **ERRORS},
    auth=ManagementToken(),
    summary="Cancel the appointments still to come",
)
def cancel_booking(request: HttpRequest, reference: str):
    series = series_authenticate(reference=reference, token=request.auth)
    return booking_out(booking_cancel(series_id=series.pk))


@bookings.post(
    "/{reference}/cancel-dose-2",
    response={200: BookingOut, **ERRORS},
    auth=ManagementToken(),
    summary="Cancel dose 2 alone, once dose 1 is given",
    description="For a person who will not come back for dose 2 here (given elsewhere, or "
    "not wanted): the course ends with its dose 1 recorded. 400 while dose 1 is still to "
    "come. Cancelling again answers the same.",
)
def cancel_dose2(request: HttpRequest, reference: str):
    series = series_authenticate(reference=reference, token=request.auth)
    return booking_out(booking_dose2_cancel(series_id=series.pk))


@demo.get("/outbox", response={200: OutboxOut, **ERRORS}, summary="Messages (demo only)")
def list_outbox(request: HttpRequest, to: str):
    if not settings.DEMO:
        raise NotFound(gettext("Cette page n'existe qu'en démonstration."))
    return {"results": outbox_list(to=contact_address_parse(text=to))}
