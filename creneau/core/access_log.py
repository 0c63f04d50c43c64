"""gunicorn's access log, when an operator turns it on (`GUNICORN_ACCESS_LOG`), says no
more than our own request line (creneau/core/logs.py): the route pattern and the query's
parameter names, never a path's token or reference, a query's phone number or name, a
Referer (our own pages' addresses), a cookie or an Authorization header (a booking's key).
deploy/gunicorn.conf.py names this class as its `logger_class`."""

from gunicorn import glogging

from .logs import address_logged

# Request and response headers that carry a key, a session or one of our addresses.
_HIDDEN = ("{referer}i", "{cookie}i", "{authorization}i", "{set-cookie}o", "{location}o")


class AccessLog(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        address = address_logged(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        path, _, query = address.partition("?")
        atoms["r"] = f"{environ['REQUEST_METHOD']} {address} {environ['SERVER_PROTOCOL']}"
        atoms["U"], atoms["q"], atoms["f"] = path, query, "-"
        for name in _HIDDEN:
            if name in atoms:
                atoms[name] = "-"
        return atoms
