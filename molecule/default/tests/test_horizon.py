# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""horizon in its containers: uWSGI on the management address only, its settings file private to
root and horizon, and, from a keystone container (the admin's clouds.yaml there), a user's visit
through every VIP URL of the dashboard: the login page, then (over https when a VIP has TLS: the
cookies are Secure) a sign-in whose session lives in memcached, and a sign-out that removes it."""

import base64
import json

import pytest
from inventory_vars import group, host_vars, setting

_CLIENT_PYTHON = "/openstack/venvs/openstackclient/bin/python"
# The visit, in the OpenStack client's venv (requests is a dependency of keystoneauth): argv = the
# dashboard's URL and the memcached servers (address:port)
_CLIENT = r"""
import json, re, socket, sys
import requests
import yaml

# the URL as a user types it: without the scheme's default port (Django's CSRF check over https
# compares the Referer with the Host header, which leaves the default port out)
base = re.sub(r"^(https://[^/]+):443\b|^(http://[^/]+):80\b", lambda m: m.group(1) or m.group(2),
              sys.argv[1].rstrip("/"))
sign_in, servers = sys.argv[2] == "sign-in", sys.argv[3:]
auth = yaml.safe_load(open("/root/.config/openstack/clouds.yaml"))["clouds"]["admin"]["auth"]


def hidden_fields(html):
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def in_memcached(key):
    found = []
    for server in servers:
        host, port = server.rsplit(":", 1)
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as conn:
            conn.sendall(("get %s\r\n" % key).encode())
            answer = b""
            while not answer.endswith(b"END\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        if answer.startswith(b"VALUE"):
            found.append(server)
    return found


out = {}
session = requests.Session()
# the system store, which trusts the deployment's CA (requests would use its own bundle)
session.verify = "/etc/ssl/certs/ca-certificates.crt"
page = session.get(base + "/auth/login/", timeout=30)
out["login_status"] = page.status_code
out["login_has_form"] = 'name="password"' in page.text
if not sign_in:
    print(json.dumps(out))
    sys.exit(0)
form = hidden_fields(page.text)
form.update(username=auth["username"], password=auth["password"])
signed = session.post(base + "/auth/login/", data=form, timeout=60,
                      headers={"Referer": base + "/auth/login/"})
out["signed_in_status"] = signed.status_code
out["signed_in_url"] = signed.url
out["signed_in"] = "/auth/logout/" in signed.text
sid = session.cookies.get("sessionid")
out["session_cookie"] = bool(sid)
key = ":1:django.contrib.sessions.cache%s" % sid
out["session_in"] = in_memcached(key) if sid else []
# Django's logout takes a POST with the CSRF token
session.post(base + "/auth/logout/", timeout=30,
             headers={"X-CSRFToken": session.cookies.get("csrftoken", ""), "Referer": base + "/"})
out["session_after_logout"] = in_memcached(key) if sid else []
print(json.dumps(out))
"""


def _dashboard_urls(host, name):
    """The dashboard's URLs as an operator reads them off the topology: http on the frontend's port,
    https on its tls_port on a VIP with TLS (written here on their own, not through the filter)."""
    variables = host_vars(host, name)
    frontend = setting(host, name, "service_catalog", "lxstack_service_catalog")["horizon"]["frontends"][0]
    vips = [(variables["lxstack_internal_vip_address"], setting(host, name, "haproxy", "haproxy_tls_internal"))]
    if variables.get("lxstack_external_vip_address"):
        vips.append((variables["lxstack_external_vip_address"], setting(host, name, "haproxy", "haproxy_tls_enabled")))
    return sorted({"https://%s:%s/" % (vip, frontend["tls_port"]) if tls else "http://%s:%s/" % (vip, frontend["port"])
                   for vip, tls in vips})


@pytest.mark.testinfra_hosts("ansible://horizon")
def test_horizon_listens_on_its_management_address_with_a_private_settings_file(host):
    variables = host_vars(host, host.backend.host)
    port = setting(host, host.backend.host, "service_catalog", "lxstack_service_catalog")[
        "horizon"]["frontends"][0]["backend_port"]
    listening = host.check_output("ss -Htln 'sport = :%s'" % port).split("\n")
    assert [line.split()[3] for line in listening if line] == ["%s:%s" % (variables["management_address"], port)]
    settings = host.file("/etc/horizon/local_settings.py")
    assert (settings.user, settings.group, settings.mode) == ("root", "horizon", 0o640)
    assert settings.contains("^SECRET_KEY = ")
    # the dashboard's package reads it through the link, and the compressed static files exist
    link = host.check_output("find /openstack/venvs/horizon/lib -path '*/openstack_dashboard/local/local_settings.py'")
    assert host.file(link).linked_to == "/etc/horizon/local_settings.py"
    assert host.check_output("find /var/lib/horizon/static/dashboard/css -name '*.css' | head -1")


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_a_user_signs_in_through_every_vip_with_the_session_in_memcached(host):
    name = host.backend.host
    memcached = ["%s:%s" % (host_vars(host, member)["management_address"],
                            setting(host, member, "memcached", "memcached_port"))
                 for member in group(host, "memcached")]
    urls = _dashboard_urls(host, name)
    # with https on a VIP the cookies are Secure (horizon_cookies_secure): users sign in over https there,
    # and a plain http URL (the internal VIP) only shows the login page
    secure = any(url.startswith("https://") for url in urls)
    signed_in = 0
    for url in urls:
        sign_in = url.startswith("https://") or not secure
        script = "%s -c \"import base64; exec(base64.b64decode('%s'))\" %s %s %s" % (
            _CLIENT_PYTHON, base64.b64encode(_CLIENT.encode()).decode(), url,
            "sign-in" if sign_in else "page", " ".join(memcached))
        out = json.loads(host.check_output(script))
        assert out["login_status"] == 200 and out["login_has_form"], (url, out)
        if not sign_in:
            continue
        signed_in += 1
        assert out["signed_in_status"] == 200 and out["signed_in"], (url, out)
        assert out["session_cookie"] and len(out["session_in"]) == 1, (url, out)
        assert out["session_after_logout"] == [], (url, out)
    assert signed_in > 0, urls


_PLAIN = r"""
import http.client, json, sys
out = {}
for vip, port in (arg.rsplit(",", 1) for arg in sys.argv[1:]):
    conn = http.client.HTTPConnection(vip, int(port), timeout=20)
    conn.request("GET", "/auth/login/")
    answer = conn.getresponse()
    out[vip] = [answer.status, answer.getheader("Location")]
print(json.dumps(out))
"""


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_the_plain_port_redirects_to_https_on_a_vip_with_tls_and_serves_elsewhere(host):
    name = host.backend.host
    variables = host_vars(host, name)
    frontend = setting(host, name, "service_catalog", "lxstack_service_catalog")["horizon"]["frontends"][0]
    vips = {variables["lxstack_internal_vip_address"]: setting(host, name, "haproxy", "haproxy_tls_internal")}
    if variables.get("lxstack_external_vip_address"):
        vips[variables["lxstack_external_vip_address"]] = setting(host, name, "haproxy", "haproxy_tls_enabled")
    script = "python3 -c \"import base64; exec(base64.b64decode('%s'))\" %s" % (
        base64.b64encode(_PLAIN.encode()).decode(), " ".join("%s,%s" % (vip, frontend["port"]) for vip in vips))
    out = json.loads(host.check_output(script))
    for vip, tls in vips.items():
        # HAProxy's redirect keeps the request's Host (the VIP, the plain port being http's default)
        want = [301, "https://%s/auth/login/" % vip] if tls else [200, None]
        assert out[vip] == want, (vip, out)
