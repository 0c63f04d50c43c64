from .models import Notification

OUTBOX_PAGE = 50


def outbox_list(*, to: str) -> list[Notification]:
    """The latest messages written for one address, newest first."""
    return list(Notification.objects.filter(to=to).order_by("-id")[:OUTBOX_PAGE])
