import socket
import struct
import time

from django.conf import settings

from .gate import gate_answer
from .waiting_room import latency_record

# struct tcp_info (linux/tcp.h): tcpi_last_data_recv, milliseconds since the last data
# reached the socket, is the eleventh 32-bit field after eight one-byte fields.
_TCP_INFO_SIZE = 104
_LAST_DATA_RECV = 52


class GateAnswer:
    """Gives each answer the waiting room's pass or ticket its request earned (pages and
    API alike, errors included), and, when the admission rate follows the measured
    capacity, measures how long each admitted request of the booking flow took."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        if settings.WAITING_ROOM_AUTO:
            started -= _time_waiting_for_a_worker(request)
        response = self.get_response(request)
        if settings.WAITING_ROOM_AUTO and hasattr(request, "admission_pass"):
            latency_record(time.monotonic() - started)
        return gate_answer(request, response)


def _time_waiting_for_a_worker(request) -> float:
    """Seconds the request's bytes lay in the kernel before a worker read them: the queue
    that forms in front of busy workers, which no clock in the application sees, and
    what people wait most of the time under overload. Linux tells it for the TCP
    connection gunicorn hands over (`gunicorn.socket`); 0 where it cannot tell (another
    server, a Unix socket, the test client)."""
    sock = request.META.get("gunicorn.socket")
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
        (milliseconds,) = struct.unpack_from("I", info, _LAST_DATA_RECV)
    except (AttributeError, OSError, struct.error):
        return 0.0
    return milliseconds / 1000
