# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keystone_registration_drift filter: what keystone lacks of a service's registration.

The keystone entry point of service_common first authenticates the service user in its project (one
HTTP request); the token holds the user's roles there and the catalogue. When this filter finds nothing
missing in them, the openstack.cloud modules that would create the catalogue entry, the endpoints, the
user and its role assignments are skipped: each of them imports openstacksdk and authenticates again,
about three seconds apiece. Documentation: keystone_registration_drift.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _text(value, what):
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError("keystone_registration_drift: %s must be a non-empty string, got %r" % (what, value))
    return value


def keystone_registration_drift(response, name, service_type, endpoints, region, roles):
    """The differences (readable strings) between a service's wanted registration and the token of its user.

    ``response``: the result of the uri request for the token (``status`` and ``json``); any status but
    201 means the user cannot authenticate in the project (missing user, project or role, another password).
    """
    name = _text(name, "the service name")
    service_type = _text(service_type, "the service type")
    region = _text(region, "the region")
    if not isinstance(endpoints, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in endpoints.items()):
        raise AnsibleFilterError("keystone_registration_drift: the endpoints must map an interface to a URL, got %r"
                                 % (endpoints,))
    if not isinstance(roles, (list, tuple)) or not all(isinstance(r, str) for r in roles):
        raise AnsibleFilterError("keystone_registration_drift: the roles must be a list of strings, got %r" % (roles,))
    if not isinstance(response, dict):
        raise AnsibleFilterError("keystone_registration_drift: the response must be the uri result, got %r"
                                 % type(response).__name__)
    if response.get("status") != 201:
        return ["the service user cannot get a token in its project (HTTP %s)" % response.get("status")]
    token = (response.get("json") or {}).get("token") or {}
    drift = []
    held = {role.get("name") for role in token.get("roles") or []}
    drift += ["the service user lacks the role %s in its project" % role for role in roles if role not in held]
    services = [s for s in token.get("catalog") or [] if s.get("name") == name and s.get("type") == service_type]
    if len(services) != 1:
        return [*drift, "%d catalogue entries named %s of type %s" % (len(services), name, service_type)]
    found = {}
    for endpoint in services[0].get("endpoints") or []:
        if region in (endpoint.get("region_id"), endpoint.get("region")):
            found.setdefault(endpoint.get("interface"), []).append(endpoint.get("url"))
    for interface, url in sorted(endpoints.items()):
        if found.get(interface) != [url]:
            drift.append("the %s endpoint of %s in %s is %s, not %s" % (
                interface, name, region, " and ".join(found.get(interface) or ["missing"]), url))
    return drift


class FilterModule:
    """lxstack.openstack keystone filters."""

    def filters(self):
        return {"keystone_registration_drift": keystone_registration_drift}
