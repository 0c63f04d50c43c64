"""Reading another platform's SMART Scheduling Links feed over HTTP, defensively.

A feed is read from the network we do not control, so every read is bounded:

- **Where.** Only http and https URLs. The host is resolved once, every address it
  resolves to must be public (not private, loopback, link-local, multicast or reserved)
  unless the host is listed in `INTEROP_PRIVATE_HOSTS`, and the connection goes to the
  address that was checked (a second DNS answer cannot swap it for 127.0.0.1). A redirect
  is checked again the same way, at most `INTEROP_MAX_REDIRECTS` of them.
- **How much.** A file announcing more than `INTEROP_MAX_BYTES` is refused before its body
  is read; the body is counted as it comes, lines are cut at `INTEROP_MAX_LINE_BYTES` and
  counted up to `INTEROP_MAX_LINES`; the whole feed shares one deadline,
  `INTEROP_MAX_SECONDS`, checked at every chunk (and each socket read has its timeout).

Every refusal is a `FeedError` with a plain French message, which the import records as
the platform's last error. Nothing here touches the database.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import orjson
from django.conf import settings
from django.utils.translation import gettext

CHUNK = 64 * 1024
SOCKET_TIMEOUT = 15
MANIFEST_MAX_BYTES = 1024 * 1024
USER_AGENT = "Creneau-interop/1 (SMART Scheduling Links)"


class FeedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Limits:
    deadline: float
    max_bytes: int
    max_lines: int
    max_line_bytes: int
    max_redirects: int
    private_hosts: frozenset[str]
    # The CA bundle https feeds are checked against; None: the system's trust store.
    ca_file: str | None = None

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            deadline=time.monotonic() + settings.INTEROP_MAX_SECONDS,
            max_bytes=settings.INTEROP_MAX_BYTES,
            max_lines=settings.INTEROP_MAX_LINES,
            max_line_bytes=settings.INTEROP_MAX_LINE_BYTES,
            max_redirects=settings.INTEROP_MAX_REDIRECTS,
            private_hosts=settings.INTEROP_PRIVATE_HOSTS,
            ca_file=settings.INTEROP_CA_FILE,
        )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise FeedError(gettext("Lecture trop longue : le flux est abandonné."))


def url_check(url: str, *, private_hosts: frozenset[str]) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) of a feed's URL, or FeedError: an
    address of our own networks is refused unless its host is listed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedError(
            gettext("Adresse refusée (http ou https seulement) : %(url)s") % {"url": url[:200]}
        )
    host = parts.hostname.lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FeedError(gettext("Port invalide : %(url)s") % {"url": url[:200]}) from None
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FeedError(gettext("Nom de serveur inconnu : %(host)s") % {"host": host}) from None
    addresses = [answer[4][0] for answer in answers]
    allowed = host in private_hosts or f"{host}:{port}" in private_hosts
    if not allowed:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise FeedError(
                    gettext("Adresse refusée : %(host)s mène à notre réseau (%(address)s).")
                    % {"host": host, "address": address}
                )
    return parts.scheme, host, port, addresses[0]


class _Connection(http.client.HTTPConnection):
    """To the address that was checked, with the host's name in Host (and SNI). Over TLS
    the certificate and the host name are always verified (`create_default_context`),
    against `ca_file` when one is set."""

    def __init__(
        self, host: str, port: int, address: str, tls: bool, ca_file: str | None = None
    ) -> None:
        super().__init__(host, port, timeout=SOCKET_TIMEOUT)
        self.address = address
        self.tls = tls
        self.ca_file = ca_file

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.tls:
            context = ssl.create_default_context(cafile=self.ca_file)
            self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


@dataclass
class Response:
    url: str
    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    connection: _Connection

    def close(self) -> None:
        self.raw.close()
        self.connection.close()


def get(url: str, *, limits: Limits, headers: dict[str, str] | None = None) -> Response:
    """GET `url`, following redirects that pass the same checks; 200 or 304, else FeedError."""
    for _ in range(limits.max_redirects + 1):
        limits.check_time()
        scheme, host, port, address = url_check(url, private_hosts=limits.private_hosts)
        connection = _Connection(host, port, address, tls=scheme == "https", ca_file=limits.ca_file)
        path = urlsplit(url)._replace(scheme="", netloc="", fragment="").geturl() or "/"
        try:
            connection.request(
                "GET",
                path,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept-Encoding": "identity",
                    **(headers or {}),
                },
            )
            raw = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise FeedError(
                gettext("Serveur injoignable (%(url)s) : %(error)s")
                % {"url": url[:200], "error": error}
            ) from None
        if raw.status in (301, 302, 303, 307, 308):
            location = raw.getheader("Location", "")
            raw.close()
            connection.close()
            if not location:
                raise FeedError(gettext("Redirection sans adresse : %(url)s") % {"url": url[:200]})
            url = urljoin(url, location)
            continue
        if raw.status not in (200, 304):
            raw.close()
            connection.close()
            raise FeedError(
                gettext("Réponse %(status)d pour %(url)s")
                % {"status": raw.status, "url": url[:200]}
            )
        return Response(url=url, status=raw.status, headers=raw.msg, raw=raw, connection=connection)
    raise FeedError(gettext("Trop de redirections : %(url)s") % {"url": url[:200]})


def _announced_size_check(response: Response, *, max_bytes: int) -> None:
    length = response.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > max_bytes:
        response.close()
        raise FeedError(
            gettext("Fichier trop gros (%(size)s octets annoncés, %(max)d au plus) : %(url)s")
            % {"size": length.strip(), "max": max_bytes, "url": response.url[:200]}
        )


def lines_read(url: str, *, limits: Limits) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of an NDJSON file, blank lines skipped, every limit enforced."""
    response = get(url, limits=limits)
    try:
        if response.status != 200:
            raise FeedError(gettext("Réponse inattendue pour %(url)s") % {"url": url[:200]})
        _announced_size_check(response, max_bytes=limits.max_bytes)
        total = 0
        number = 0
        pending = b""
        while True:
            limits.check_time()
            chunk = response.raw.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limits.max_bytes:
                raise FeedError(
                    gettext("Fichier trop gros (plus de %(max)d octets) : %(url)s")
                    % {"max": limits.max_bytes, "url": url[:200]}
                )
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > limits.max_line_bytes:
                raise FeedError(
                    gettext("Ligne %(line)d trop longue (plus de %(max)d octets) : %(url)s")
                    % {
                        "line": number + len(complete) + 1,
                        "max": limits.max_line_bytes,
                        "url": url[:200],
                    }
                )
            for line in complete:
                number += 1
                if number > limits.max_lines:
                    raise FeedError(
                        gettext("Trop de lignes (plus de %(max)d) : %(url)s")
                        % {"max": limits.max_lines, "url": url[:200]}
                    )
                if len(line) > limits.max_line_bytes:
                    raise FeedError(
                        gettext("Ligne %(line)d trop longue (plus de %(max)d octets) : %(url)s")
                        % {"line": number, "max": limits.max_line_bytes, "url": url[:200]}
                    )
                if line.strip():
                    yield number, line
        if pending.strip():
            yield number + 1, pending
    finally:
        response.close()


def json_line(line: bytes, *, number: int, url: str) -> dict:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise FeedError(
            gettext("JSON invalide ligne %(line)d : %(url)s") % {"line": number, "url": url[:200]}
        ) from None
    if not isinstance(value, dict):
        raise FeedError(
            gettext("Ligne %(line)d : un objet JSON est attendu : %(url)s")
            % {"line": number, "url": url[:200]}
        )
    return value


@dataclass
class Manifest:
    """What a manifest names, URLs made absolute; None when unchanged (304)."""

    url: str
    etag: str
    last_modified: str
    files: dict[str, list[str]]


def manifest_read(
    url: str, *, limits: Limits, etag: str = "", last_modified: str = ""
) -> Manifest | None:
    conditions = {}
    if etag:
        conditions["If-None-Match"] = etag
    if last_modified:
        conditions["If-Modified-Since"] = last_modified
    response = get(url, limits=limits, headers=conditions)
    try:
        if response.status == 304:
            return None
        _announced_size_check(response, max_bytes=MANIFEST_MAX_BYTES)
        body = response.raw.read(MANIFEST_MAX_BYTES + 1)
        if len(body) > MANIFEST_MAX_BYTES:
            raise FeedError(gettext("Manifeste trop gros : %(url)s") % {"url": url[:200]})
        try:
            manifest = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FeedError(
                gettext("Manifeste illisible (JSON) : %(url)s") % {"url": url[:200]}
            ) from None
        outputs = manifest.get("output") if isinstance(manifest, dict) else None
        if not isinstance(outputs, list):
            raise FeedError(gettext("Manifeste sans « output » : %(url)s") % {"url": url[:200]})
        files: dict[str, list[str]] = {"Location": [], "Schedule": [], "Slot": []}
        for output in outputs:
            if not isinstance(output, dict) or not isinstance(output.get("url"), str):
                raise FeedError(
                    gettext("Manifeste : entrée sans adresse : %(url)s") % {"url": url[:200]}
                )
            kind = output.get("type")
            if kind in files:
                files[kind].append(urljoin(response.url, output["url"]))
        if not files["Location"]:
            raise FeedError(
                gettext("Manifeste sans fichier de lieux : %(url)s") % {"url": url[:200]}
            )
        return Manifest(
            url=response.url,
            etag=response.headers.get("ETag", "")[:200],
            last_modified=response.headers.get("Last-Modified", "")[:100],
            files=files,
        )
    finally:
        response.close()
