"""The SMS provider's webhook: delivery receipts and the answers people send ("STOP").

The provider signs each request: header `X-Creneau-Signature: t=<unix time>,v1=<hex>`,
where `v1` is HMAC-SHA256 under settings.SMS_WEBHOOK_SECRET of `<t>.` followed by the
body's bytes. A request whose signature does not match, or whose time is more than
SMS_WEBHOOK_TOLERANCE_SECONDS away from ours (a recorded request replayed later), is
refused (403) and logged, and changes nothing. Inside the tolerance a replay changes
nothing either: every step is a conditional update or an insert that happens once.

The body is JSON: `{"events": [...]}`, each event one of

- `{"type": "receipt", "reference": "<id>", "status": "delivered" | "failed",
  "error": "…"}`: what became of the message sent under that reference (the outbox
  row's id, sent as the provider's idempotency key);
- `{"type": "inbound", "from": "+336…", "text": "STOP"}`: an answer; "STOP" (or ARRET,
  and the like, any case or accent) opts the number out of reminders and invitations.

Every event is checked before any is applied: one malformed event refuses the request
(400) with nothing changed.
"""

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext

from creneau.core.errors import InvalidInput, SignatureInvalid
from creneau.core.text import text_normalize

from .models import OptOut
from .services import Receipt, delivery_receipt_record, optout_record

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Creneau-Signature"
# Far above any provider's batch of receipts; refused before it is parsed.
BODY_MAX_BYTES = 1_000_000
# The first word of an answer that means "no more messages".
STOP_WORDS = {"stop", "arret", "arreter", "unsubscribe", "desabonner", "desinscription"}
ERROR_MAX = 150


def webhook_signature(*, body: bytes, timestamp: int, secret: str) -> str:
    """The header a request with this body, signed at `timestamp`, carries."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def webhook_signature_check(*, body: bytes, header: str, now: float | None = None) -> None:
    """Raise SignatureInvalid unless `header` signs `body` with our secret, recently."""
    secret = settings.SMS_WEBHOOK_SECRET
    if not secret:
        raise _refused("no SMS_WEBHOOK_SECRET is configured")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 12 and given):
        raise _refused("signature header malformed or missing")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > settings.SMS_WEBHOOK_TOLERANCE_SECONDS:
        raise _refused("signed too long ago (or in the future): a replay?")
    expected = webhook_signature(body=body, timestamp=int(timestamp), secret=secret)
    if not hmac.compare_digest(expected.encode(), f"t={timestamp},v1={given}".encode()):
        raise _refused("signature does not match")


def _refused(reason: str) -> SignatureInvalid:
    logger.warning("sms webhook refused: %s", reason)
    return SignatureInvalid(gettext("Signature refusée."))


@dataclass(frozen=True)
class WebhookReport:
    receipts: int = 0  # messages whose state changed
    opted_out: int = 0  # numbers that opted out now
    ignored: int = 0  # events that changed nothing (a receipt seen before, an answer)


def webhook_handle(*, body: bytes, header: str, now: float | None = None) -> WebhookReport:
    """Check the signature, then every event, then apply them."""
    if len(body) > BODY_MAX_BYTES:
        raise InvalidInput(gettext("Requête trop grande."))
    webhook_signature_check(body=body, header=header, now=now)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(gettext("Le corps n'est pas du JSON.")) from error
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise InvalidInput(gettext("Il faut une liste « events »."))
    steps = [_event_parse(event, index) for index, event in enumerate(events)]
    receipts = opted_out = ignored = 0
    for step in steps:
        if isinstance(step, Receipt):
            changed = delivery_receipt_record(receipt=step)
            receipts += changed
        else:
            changed = step is not None and optout_record(address=step, source=OptOut.Source.STOP)
            opted_out += changed
        ignored += not changed
    return WebhookReport(receipts=receipts, opted_out=opted_out, ignored=ignored)


def _event_parse(event: object, index: int) -> Receipt | str | None:
    """A receipt, the E.164 number that said STOP, or None (an answer that is not)."""

    def wrong(what: str) -> InvalidInput:
        return InvalidInput(
            gettext("Événement %(index)s : %(what)s.") % {"index": index, "what": what}
        )

    if not isinstance(event, dict):
        raise wrong(gettext("un objet est attendu"))
    kind = event.get("type")
    if kind == "receipt":
        reference, status = event.get("reference"), event.get("status")
        error = event.get("error", "")
        if not isinstance(reference, str) or not reference.isascii() or len(reference) > 20:
            raise wrong(gettext("« reference » manquante ou invalide"))
        if status not in ("delivered", "failed"):
            raise wrong(gettext("« status » doit valoir delivered ou failed"))
        if not isinstance(error, str):
            raise wrong(gettext("« error » doit être un texte"))
        return Receipt(
            reference=reference, delivered=status == "delivered", error=error[:ERROR_MAX]
        )
    if kind == "inbound":
        sender, text = event.get("from"), event.get("text")
        if not isinstance(sender, str) or not isinstance(text, str) or len(sender) > 40:
            raise wrong(gettext("« from » et « text » doivent être des textes"))
        words = text_normalize(text[:200]).match.split()
        if not words or words[0] not in STOP_WORDS:
            return None
        try:
            number = phonenumbers.parse(sender, "FR")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise wrong(gettext("« type » doit valoir receipt ou inbound"))
