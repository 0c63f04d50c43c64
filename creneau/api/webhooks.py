"""The SMS provider's webhook (`POST /webhooks/sms`): delivery receipts and "STOP"
answers, signed by the provider (outreach/webhooks.py says how). Not part of the public
API's schema: only the provider calls it."""

from dataclasses import asdict

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from creneau.core.errors import DomainError
from creneau.outreach.webhooks import SIGNATURE_HEADER, webhook_handle


@csrf_exempt
@require_POST
def sms_webhook(request: HttpRequest) -> JsonResponse:
    try:
        report = webhook_handle(body=request.body, header=request.headers.get(SIGNATURE_HEADER, ""))
    except DomainError as error:
        return JsonResponse({"detail": error.message, "code": error.code}, status=error.status)
    return JsonResponse(asdict(report))
