"""Letters printed at scale: a batch as one PDF for the printer (A4, one letter a sheet,
the address where a C5 or DL window envelope shows it, a QR code of the letter's link)
and a CSV manifest, one line a letter, as national mailings are handed to a printing
service. The call centre's page of a batch shows the same letters, from the same
template (`outreach/_letter.html`).

A letter's text is made now, as a message's is when it is sent (rendering.py); nothing
keeps it. The QR code is drawn when a letter's template values hold `letter_link` (an
invitation's link, as a `Secret` or a plain value): letters about a booking carry no
link (they give the call centre's number and the reference)."""

import base64
import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

import qrcode
import qrcode.image.svg
from django.template.loader import render_to_string
from django.utils import translation

from .models import LetterBatch, Notification
from .rendering import notification_render, secrets_derive

# The context value a letter's QR code encodes.
LETTER_LINK = "letter_link"
MANIFEST_COLUMNS = ("lot", "sequence", "identifiant", "code_postal")
_POSTCODE = re.compile(r"^(\d{5})\b")


@dataclass(frozen=True)
class LetterPrinted:
    sequence: int
    address: list[str]
    body: str
    created_at: datetime
    qr_code: str  # a data: URI of the link's QR code as SVG, or ""
    identifiant: str
    postcode: str


def letters_printed(*, notifications: list[Notification]) -> list[LetterPrinted]:
    """The letters of a batch as they are printed, in its order (1, 2, …)."""
    return [_printed(sequence, n) for sequence, n in enumerate(notifications, start=1)]


def _printed(sequence: int, notification: Notification) -> LetterPrinted:
    address = notification.to.splitlines()
    parameters = notification.parameters
    link = secrets_derive(notification).get(LETTER_LINK) or parameters.get(LETTER_LINK, "")
    postcode = next(
        (found.group(1) for line in reversed(address) if (found := _POSTCODE.match(line))), ""
    )
    return LetterPrinted(
        sequence=sequence,
        address=address,
        body=notification_render(notification=notification).body,
        created_at=notification.created_at,
        qr_code=_qr_data_uri(link) if link else "",
        # The population file's id (a campaign's letter) or the booking's reference.
        identifiant=str(
            notification.parameters.get("identifiant")
            or notification.parameters.get("reference", "")
        ),
        postcode=postcode,
    )


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(
        text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2
    )
    svg = image.to_string(encoding="unicode").encode()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def letter_batch_pdf(*, batch: LetterBatch, letters: list[LetterPrinted]) -> bytes:
    """The batch as one PDF for the printer."""
    from weasyprint import HTML  # heavy: loaded only when a batch is printed

    with translation.override("fr"):
        html = render_to_string("outreach/letters_print.html", {"batch": batch, "letters": letters})
    return HTML(string=html).write_pdf()


def letter_batch_manifest(*, batch: LetterBatch, letters: list[LetterPrinted]) -> str:
    """One line a letter (batch, sequence, identifiant, postcode), `;`-separated as French
    spreadsheets read it; a value that a spreadsheet would take for a formula is quoted
    with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    for letter in letters:
        writer.writerow(
            [batch.pk, letter.sequence, _cell(letter.identifiant), _cell(letter.postcode)]
        )
    return out.getvalue()


def _cell(value: str) -> str:
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
