# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint_urls filter: the public, internal and admin URLs of a service behind the VIPs.

Every OpenStack service role registers its endpoints in keystone and names keystone's to its token
middleware with it, so the rule (public on the external VIP with its TLS setting, or the internal
one when the topology has no external VIP; internal and admin on the internal VIP) lives once.
Documentation: endpoint_urls.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

try:
    import netaddr
except ImportError:  # pragma: no cover - netaddr is a requirement of the deploy host
    netaddr = None


def _host(address, what):
    """``address`` as a URL host: an IPv6 address in brackets, a name or an IPv4 address as is."""
    if not isinstance(address, str) or not address.strip():
        raise AnsibleFilterError("endpoint_urls: the %s must be an address or a name, got %r" % (what, address))
    address = address.strip()
    if netaddr is None:
        raise AnsibleFilterError("endpoint_urls needs the netaddr Python package on the deploy host")
    try:
        if netaddr.valid_ipv6(address):
            return "[%s]" % netaddr.IPAddress(address)
    except (ValueError, netaddr.AddrFormatError):
        pass
    return address


def _url(tls, host, port, path):
    return "%s://%s:%d%s" % ("https" if tls else "http", host, port, path)


def _port(port, what):
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise AnsibleFilterError("endpoint_urls: the %s must be a number, got %r" % (what, port)) from None
    if not 0 < port < 65536:
        raise AnsibleFilterError("endpoint_urls: the %s must be in 1-65535, got %d" % (what, port))
    return port


def endpoint_urls(port, internal_vip, external_vip="", internal_tls=False, external_tls=False, path="",
                  tls_port=None):
    """{public, internal, admin} URLs of a service listening on ``port`` behind the VIPs (on ``tls_port``
    where the VIP terminates TLS, when given)."""
    port = _port(port, "port")
    tls_port = port if tls_port in (None, "") else _port(tls_port, "tls_port")
    path = path or ""
    if path and not path.startswith("/"):
        path = "/" + path
    try:
        internal_tls, external_tls = boolean(internal_tls), boolean(external_tls)
    except TypeError as exc:
        raise AnsibleFilterError("endpoint_urls: the TLS switches must be booleans: %s" % exc) from None
    internal = _url(internal_tls, _host(internal_vip, "internal VIP"), tls_port if internal_tls else port, path)
    public = (_url(external_tls, _host(external_vip, "external VIP"), tls_port if external_tls else port, path)
              if external_vip else internal)
    return {"public": public, "internal": internal, "admin": internal}


class FilterModule:
    """lxstack.openstack endpoint filters."""

    def filters(self):
        return {"endpoint_urls": endpoint_urls}
