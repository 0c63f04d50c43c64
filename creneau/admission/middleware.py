import time

from django.conf import settings

from .gate import gate_answer
from .waiting_room import latency_record


class GateAnswer:
    """Gives each answer the waiting room's pass or ticket its request earned (pages and
    API alike, errors included), and, when the admission rate follows the measured
    capacity, measures how long each admitted request of the booking flow took."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        if settings.WAITING_ROOM_AUTO and hasattr(request, "admission_pass"):
            latency_record(time.monotonic() - started)
        return gate_answer(request, response)
