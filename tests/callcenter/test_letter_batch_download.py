"""The call centre downloads a batch of letters as one PDF for the printer and as its CSV
manifest, each download audited as an export; a batch that does not exist is a 404."""

from creneau.audit.models import AuditEvent
from creneau.outreach.services import letter_batch_create
from tests.factories import STAFF
from tests.outreach.test_letters_print import letters


def test_the_pdf_and_the_manifest_of_a_batch_are_downloaded_and_audited(agent):
    letters(2)
    batch = letter_batch_create(actor=STAFF)
    pdf = agent.get(f"/callcenter/courriers/{batch.pk}/lot.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    manifest = agent.get(f"/callcenter/courriers/{batch.pk}/manifeste.csv")
    assert manifest.status_code == 200
    assert manifest.content.decode().splitlines() == [
        "lot;sequence;identifiant;code_postal",
        f"{batch.pk};1;REF0;75010",
        f"{batch.pk};2;REF1;75011",
    ]
    exports = AuditEvent.objects.filter(action="export", object_id=str(batch.pk))
    assert exports.count() == 3  # the batch made, then the PDF and the manifest
    page = agent.get(f"/callcenter/courriers/{batch.pk}/")
    assert "PDF pour l'imprimeur" in page.content.decode()
    assert agent.get("/callcenter/courriers/999999/lot.pdf").status_code == 404
    assert agent.get("/callcenter/courriers/999999/manifeste.csv").status_code == 404
