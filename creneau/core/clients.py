"""Who a request comes from, as far as the server can tell."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def request_ip(request: HttpRequest) -> str | None:
    """The address the request came from.

    `REMOTE_ADDR` is the peer of the application server. Behind the production
    reverse proxy (settings declare it by `SECURE_PROXY_SSL_HEADER`, set when
    `PUBLIC_URL` is https), that peer is the proxy, and the client is the **last**
    address of `X-Forwarded-For`: the one our (single) proxy appended. Earlier ones were
    written by the client and prove nothing. Without a trusted proxy the header is
    ignored, since anyone can send it. Anything that is not an IP address gives None.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            address = forwarded.split(",")[-1]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def network_key(address: str | None) -> str:
    """The network an address stands for in limits: the address itself for IPv4, its /64
    for IPv6 (one household or phone is given a whole /64 and can pick any address in
    it). Empty when unknown."""
    if not address:
        return ""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
