from django.core.management.base import BaseCommand, CommandError, CommandParser

from creneau.core.crypto import key_ring
from creneau.core.keys import BatchDone, keys_count, keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the current key (the first of "
        "FIELD_ENCRYPTION_KEYS or of the key file), in short batches, while the service "
        "runs; safe to stop and run again. --count only says how many values each key "
        "still seals: a key may leave the ring when it seals none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help="rows per transaction")
        parser.add_argument(
            "--pause", type=float, default=0.05, help="seconds between batches (the service's)"
        )
        parser.add_argument(
            "--start", help="<table>:<pk>: resume after the last batch a stopped run printed"
        )
        parser.add_argument("--count", action="store_true", help="count values per key, only")

    def handle(self, *args, batch: int, pause: float, start: str | None, count: bool, **options):
        if count:
            for table, counter in keys_count().items():
                keys = ", ".join(f"{key}: {n}" for key, n in sorted(counter.items())) or "empty"
                self.stdout.write(f"{table}: {keys}")
            return
        if batch < 1 or pause < 0:
            raise CommandError("--batch is at least 1 and --pause at least 0.")
        table, _, pk = (start or "").partition(":")
        if start and not pk:
            raise CommandError("--start is <table>:<pk>, as a batch line prints it.")

        def report(done: BatchDone) -> None:
            self.stdout.write(
                f"{done.table}:{done.last_pk}  {done.rows} rows, {done.resealed} re-encrypted"
            )

        try:
            resealed = keys_rotate(
                size=batch, pause=pause, start=(table, pk) if start else None, report=report
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"done: {resealed} value(s) re-encrypted with key {key_ring().current!r}")
