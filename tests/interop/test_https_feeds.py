"""Feeds read over https: the certificate is verified, against the system's trust store
or the CA bundle of `INTEROP_CA_FILE` (here, one made by the test), never not at all."""

import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from creneau.interop.models import ExternalAvailability, ExternalLocation, ExternalPlatform
from creneau.interop.services import feed_import, platform_register
from tests.factories import STAFF

from .feed_server import FeedServer
from .test_import import _good_feed


def _certificate(directory: Path, *, name: str, ip: str | None = "127.0.0.1") -> ssl.SSLContext:
    """A self-signed certificate for `name` (and the address `ip`), written as
    `<name>.pem` (what a client trusts) and its key; the server's TLS context."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    alternative = [x509.DNSName(name)] + ([x509.IPAddress(IPv4Address(ip))] if ip else [])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_path, key_path)
    return context


@pytest.fixture
def https_server(settings, tmp_path):
    server = FeedServer(tls=_certificate(tmp_path, name="feeds.test"))
    settings.INTEROP_PRIVATE_HOSTS = frozenset({f"127.0.0.1:{server.port}"})
    yield server
    server.close()


def _import(server) -> tuple[ExternalPlatform, object]:
    url = _good_feed(server)
    assert url.startswith("https://127.0.0.1:")
    platform = platform_register(actor=STAFF, name="Rdv Sécurisé", manifest_url=url)
    report = feed_import(platform_id=platform.pk)
    platform.refresh_from_db()
    return platform, report


def test_a_feed_over_https_is_read_when_its_certificate_is_trusted(
    reference, https_server, settings, tmp_path
):
    settings.INTEROP_CA_FILE = str(tmp_path / "feeds.test.pem")
    platform, report = _import(https_server)
    assert report.error == ""
    assert platform.last_error == "" and platform.last_success_at is not None
    assert ExternalLocation.objects.filter(platform=platform).count() == 2
    assert ExternalAvailability.objects.filter(location__platform=platform).exists()
    # Every file came over TLS from this server: the manifest and the three it names.
    assert len(https_server.requests) == 4


@pytest.mark.parametrize("trusted", ["system", "another"])
def test_an_untrusted_certificate_is_refused_with_a_recorded_error(
    reference, https_server, settings, tmp_path, trusted
):
    """Neither the system's store nor another CA's bundle knows the server's certificate:
    no file is read, the error is the platform's, nothing is imported."""
    if trusted == "another":
        other = tmp_path / "other"
        other.mkdir()
        _certificate(other, name="feeds.test")
        settings.INTEROP_CA_FILE = str(other / "feeds.test.pem")
    else:
        settings.INTEROP_CA_FILE = None
    platform, report = _import(https_server)
    assert "CERTIFICATE_VERIFY_FAILED" in report.error
    assert platform.last_error == report.error and platform.errors_in_row == 1
    assert platform.last_success_at is None
    assert not ExternalLocation.objects.exists() and not ExternalAvailability.objects.exists()
    assert https_server.requests == []


def test_a_certificate_for_another_name_is_refused(reference, settings, tmp_path):
    """Trusted, but not issued for the address the feed is read from."""
    server = FeedServer(tls=_certificate(tmp_path, name="feeds.test", ip=None))
    settings.INTEROP_PRIVATE_HOSTS = frozenset({f"127.0.0.1:{server.port}"})
    settings.INTEROP_CA_FILE = str(tmp_path / "feeds.test.pem")
    try:
        _, report = _import(server)
    finally:
        server.close()
    assert "CERTIFICATE_VERIFY_FAILED" in report.error and "mismatch" in report.error
    assert not ExternalLocation.objects.exists()
