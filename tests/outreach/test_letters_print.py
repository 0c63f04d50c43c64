"""Letters at scale: a batch as one PDF for the printer (A4, one letter a sheet, a QR code
of the letter's link when it has one) and a CSV manifest, one line a letter."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from weasyprint import HTML

from creneau.outreach.letters import letter_batch_manifest, letter_batch_pdf, letters_printed
from creneau.outreach.models import Notification
from creneau.outreach.selectors import letter_batch_get
from creneau.outreach.services import letter_batch_create, notification_enqueue
from tests.factories import STAFF


def letters(count: int = 3, *, identifiant: str = "") -> None:
    for number in range(count):
        notification_enqueue(
            channel="letter",
            to=f"JEANNE MARTIN {number}\n12 RUE DES LILAS\n7501{number} PARIS",
            kind="booking_confirmed",
            event=f"series:REF{number}:v1:booking_confirmed",
            context={
                "person_name": "Jeanne Martin",
                "reference": f"REF{number}",
                "site_name": "Centre Paris 17",
                "site_address": "",
                "appointments": [{"dose_number": 1, "when": "jeudi 4 mars 2027, 10:00"}],
                **({"identifiant": identifiant} if identifiant else {}),
                **({"letter_link": "https://creneau.example/i/ABCD"} if number == 0 else {}),
            },
        )


def printed():
    batch = letter_batch_create(actor=STAFF)
    batch, notifications = letter_batch_get(batch_id=batch.pk)
    return batch, letters_printed(notifications=notifications)


def test_a_batch_is_one_pdf_one_a4_sheet_a_letter(db):
    letters(3)
    batch, printed_letters = printed()
    pdf = letter_batch_pdf(batch=batch, letters=printed_letters)
    assert pdf.startswith(b"%PDF-")
    from django.template.loader import render_to_string

    html = render_to_string(
        "outreach/letters_print.html", {"batch": batch, "letters": printed_letters}
    )
    document = HTML(string=html).render()
    assert len(document.pages) == 3
    # A4 in CSS pixels (96 a inch): 210 × 297 mm.
    assert [(round(p.width), round(p.height)) for p in document.pages] == [(794, 1123)] * 3


def test_the_qr_code_is_drawn_only_for_a_letter_with_a_link(db):
    letters(2)
    _batch, (with_link, without) = printed()
    assert with_link.qr_code.startswith("data:image/svg+xml;base64,")
    assert without.qr_code == ""
    assert "JEANNE MARTIN 0" in with_link.address[0]
    assert "Centre Paris 17" in with_link.body


def test_the_manifest_has_one_line_a_letter_in_print_order(db):
    letters(3)
    batch, printed_letters = printed()
    rows = list(
        csv.reader(
            io.StringIO(letter_batch_manifest(batch=batch, letters=printed_letters)), delimiter=";"
        )
    )
    assert rows == [
        ["lot", "sequence", "identifiant", "code_postal"],
        [str(batch.pk), "1", "REF0", "75010"],
        [str(batch.pk), "2", "REF1", "75011"],
        [str(batch.pk), "3", "REF2", "75012"],
    ]


def test_a_cell_that_looks_like_a_formula_is_quoted(db):
    letters(1, identifiant='=HYPERLINK("x")')
    batch, printed_letters = printed()
    manifest = letter_batch_manifest(batch=batch, letters=printed_letters)
    assert "'=HYPERLINK" in manifest


def test_the_command_takes_the_waiting_letters_into_a_batch_and_writes_both_files(db, tmp_path):
    letters(2)
    out = io.StringIO()
    call_command("letters_print", "--out", str(tmp_path), stdout=out)
    (pdf,) = tmp_path.glob("lot-*.pdf")
    (manifest,) = tmp_path.glob("lot-*.csv")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert len(manifest.read_text(encoding="utf-8").splitlines()) == 3
    assert "2 letter(s)" in out.getvalue()
    assert not Notification.objects.filter(channel="letter", status="pending").exists()
    with pytest.raises(CommandError, match="Aucun courrier"):
        call_command("letters_print", "--out", str(tmp_path), stdout=io.StringIO())
