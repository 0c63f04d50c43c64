"""The test client as gunicorn serves the app (creneau/wsgi.py): the booking flow's
endpoints through the lean middleware chain of creneau.api.lean, everything else through
the whole one. tests/conftest.py makes it every test's `client`, so the tests of the waiting
room, the limits, the request log, the metrics and the security headers run on the chain
production answers with."""

from django.core.handlers.base import BaseHandler
from django.test import Client
from django.test.client import ClientHandler

from creneau.api.lean import LEAN_PATHS, LeanMiddleware


class _LeanChain(LeanMiddleware, BaseHandler):
    pass


class DispatchingClientHandler(ClientHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lean = _LeanChain()
        self.lean.load_middleware()

    def get_response(self, request):
        if LEAN_PATHS.fullmatch(request.path_info):
            return self.lean.get_response(request)
        return super().get_response(request)


class LeanClient(Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handler = DispatchingClientHandler(self.handler.enforce_csrf_checks)
