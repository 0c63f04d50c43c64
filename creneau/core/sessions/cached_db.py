from django.contrib.sessions.backends import cached_db

from . import SealedSession


class SessionStore(SealedSession, cached_db.SessionStore):
    pass
