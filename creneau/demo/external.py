"""The demo's other booking platform: a SMART Scheduling Links feed generated into a
temporary directory, served on 127.0.0.1 for the time of its import, so that the
national search near Paris shows pharmacies booked elsewhere beside our sites."""

import dataclasses
import random
import tempfile
import threading
from datetime import datetime, time, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from django.utils import timezone

from creneau.core.actor import Actor
from creneau.interop import smart
from creneau.interop.feeds import Limits
from creneau.interop.models import ExternalPlatform
from creneau.interop.services import (
    FeedImportReport,
    feed_import,
    platform_external_sites_confirm,
)

PLATFORM = "PharmaRdv (démo)"
SEED = 19
# Around Paris: the demo's pharmacies, a few hundred metres to a few kilometres apart.
CENTRE = (48.8566, 2.3522)
STREETS = (
    "rue de Rivoli",
    "boulevard Voltaire",
    "rue de Rennes",
    "avenue de Clichy",
    "rue du Faubourg Saint-Antoine",
    "rue de Belleville",
    "avenue d'Italie",
    "rue Lecourbe",
)


def _feed_write(directory: Path, base: str, *, now: datetime) -> None:
    rng = random.Random(SEED)
    locations, schedules, slots = [], [], []
    today = timezone.localdate(now)
    for i in range(24):
        street = STREETS[i % len(STREETS)]
        locations.append(
            {
                "resourceType": "Location",
                "id": f"ph{i}",
                "name": f"Pharmacie {i + 1}, {street}",
                "address": {"line": [f"{10 + i} {street}"], "city": "Paris"},
                "position": {
                    "latitude": round(CENTRE[0] + rng.uniform(-0.04, 0.04), 5),
                    "longitude": round(CENTRE[1] + rng.uniform(-0.06, 0.06), 5),
                },
                "telecom": [{"system": "url", "value": f"https://pharmardv.example.org/ph{i}"}],
            }
        )
        schedules.append(
            {
                "resourceType": "Schedule",
                "id": f"ph{i}",
                "serviceType": smart.SERVICE_TYPE,
                "actor": [{"reference": f"Location/ph{i}"}],
                "extension": [
                    {"url": smart.VACCINE_DOSE, "valueInteger": 1},
                    {
                        "url": smart.VACCINE_PRODUCT,
                        "valueCoding": {"system": smart.CVX, "code": "208"},
                    },
                ],
            }
        )
        for offset in range(1, 15):
            opening = timezone.make_aware(datetime.combine(today + timedelta(days=offset), time(9)))
            for n in range(0, 12, rng.randint(1, 3)):
                start = opening + timedelta(minutes=15 * n)
                slots.append(
                    {
                        "resourceType": "Slot",
                        "id": f"ph{i}-{offset}-{n}",
                        "schedule": {"reference": f"Schedule/ph{i}"},
                        "status": "free",
                        "start": start.isoformat(),
                        "end": (start + timedelta(minutes=15)).isoformat(),
                        "extension": [
                            {
                                "url": smart.BOOKING_DEEP_LINK,
                                "valueUrl": f"https://pharmardv.example.org/ph{i}?creneau={offset}-{n}",
                            },
                            {"url": smart.SLOT_CAPACITY, "valueInteger": 1},
                        ],
                    }
                )
    for name, resources in (
        ("locations.ndjson", locations),
        ("schedules.ndjson", schedules),
        ("slots.ndjson", slots),
    ):
        (directory / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    (directory / "bulk-publish.json").write_bytes(
        orjson.dumps(
            {
                "transactionTime": now.isoformat(),
                "request": f"{base}/bulk-publish.json",
                "output": [
                    {"type": "Location", "url": f"{base}/locations.ndjson"},
                    {"type": "Schedule", "url": f"{base}/schedules.ndjson"},
                    {"type": "Slot", "url": f"{base}/slots.ndjson"},
                ],
                "error": [],
            }
        )
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def demo_external_platform_ensure() -> FeedImportReport:
    """Generate the demo platform's feed, serve it, import it, show its sites."""
    now = timezone.now()
    with tempfile.TemporaryDirectory(prefix="creneau-demo-feed-") as folder:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=folder))
        port = server.server_address[1]
        base = f"http://127.0.0.1:{port}"
        _feed_write(Path(folder), base, now=now)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            # Registered directly: the service refuses a feed on our own machine unless
            # INTEROP_PRIVATE_HOSTS lists it, and this one lives only while the demo loads.
            platform, _ = ExternalPlatform.objects.update_or_create(
                name=PLATFORM,
                defaults={
                    "manifest_url": f"{base}/bulk-publish.json",
                    "etag": "",
                    "last_modified": "",
                },
            )
            limits = dataclasses.replace(
                Limits.from_settings(), private_hosts=frozenset({f"127.0.0.1:{port}"})
            )
            report = feed_import(platform_id=platform.pk, now=now, limits=limits)
        finally:
            server.shutdown()
            server.server_close()
    if not report.error and platform.external_sites_confirmed_at is None:
        platform_external_sites_confirm(actor=Actor(user=None), platform_id=platform.pk)
    return report
