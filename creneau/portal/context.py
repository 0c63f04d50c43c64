from django.conf import settings


def portal(request) -> dict:
    return {
        "DEMO": settings.DEMO,
        "CALL_CENTRE_PHONE": settings.CALL_CENTRE_PHONE,
        "HOLD_MINUTES": settings.HOLD_MINUTES,
    }
