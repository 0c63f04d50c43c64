import logging


class WaitingRoomAnswers(logging.Filter):
    """Drops Django's "Service Unavailable" error line for the waiting room's 503s: they are
    the service working as meant, thousands a second on a launch morning, and would drown
    the errors operators must see (a 503 for a database away stays an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (
            getattr(record, "status_code", None) == 503 and hasattr(request, "admission_ticket")
        )
