from django.contrib.sessions.backends import db

from . import SealedSession


class SessionStore(SealedSession, db.SessionStore):
    pass
