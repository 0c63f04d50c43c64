from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creneau.core.actor import Actor
from creneau.core.errors import DomainError
from creneau.outreach.letters import letter_batch_manifest, letter_batch_pdf, letters_printed
from creneau.outreach.selectors import letter_batch_get
from creneau.outreach.services import letter_batch_create


class Command(BaseCommand):
    help = (
        "Print letters for the post: the oldest waiting letters taken into a new batch (or "
        "--batch, one printed before), written as one PDF for the printer and its CSV "
        "manifest in --out (lot-<id>.pdf, lot-<id>.csv). For national mailings, too large "
        "for the call centre's page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="an existing directory")
        parser.add_argument("--batch", type=int, help="print this batch again")
        parser.add_argument("--limit", type=int, default=5000, help="letters in a new batch")

    def handle(self, *args, out: Path, batch: int | None, limit: int, **options) -> None:
        if not out.is_dir():
            raise CommandError(f"{out} is not a directory")
        try:
            if batch is None:
                # Run by the operator, not by a member of staff through the door: the
                # batch's audit event names no account.
                batch = letter_batch_create(actor=Actor(user=None), limit=limit).pk
            made, notifications = letter_batch_get(batch_id=batch)
        except DomainError as error:
            raise CommandError(error.message) from error
        letters = letters_printed(notifications=notifications)
        pdf, manifest = out / f"lot-{made.pk}.pdf", out / f"lot-{made.pk}.csv"
        pdf.write_bytes(letter_batch_pdf(batch=made, letters=letters))
        manifest.write_text(letter_batch_manifest(batch=made, letters=letters), encoding="utf-8")
        self.stdout.write(f"batch {made.pk}: {len(letters)} letter(s) in {pdf} and {manifest}")
