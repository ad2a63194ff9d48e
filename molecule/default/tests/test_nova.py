# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nova's control plane: its services in their containers, cells v2 mapped and nova-status passing,
cell1's queues on RabbitMQ as quorum queues, and, from a keystone container (the admin's clouds.yaml
there), the compute API through both VIPs, conductor and scheduler up in the service list, and a
flavor created and deleted."""

import json
import time

import pytest
from inventory_vars import endpoint_urls, group, host_vars, setting

_OPENSTACK = "/openstack/venvs/openstackclient/bin/openstack --os-cloud admin"
_MANAGE = "runuser -u nova -- /openstack/venvs/nova/bin/nova-manage --config-file /etc/nova/nova.conf"


def _get(host, url):
    """Status and body of an anonymous GET from inside the container."""
    out = host.check_output(
        "python3 -c \"import json, urllib.error, urllib.request\n"
        "try:\n    a = urllib.request.urlopen('%s', timeout=10); print(json.dumps([a.status, a.read().decode()]))\n"
        "except urllib.error.HTTPError as e:\n    print(json.dumps([e.code, '']))\"" % url)
    return json.loads(out)


def _config_is_readable_by_nova_only(host):
    conf = host.file("/etc/nova/nova.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "nova", 0o640)


@pytest.mark.testinfra_hosts("ansible://nova_api")
def test_the_apis_and_the_console_proxy_answer_on_the_container(host):
    name = host.backend.host
    address = host_vars(host, name)["management_address"]
    for unit in ("nova-api", "nova-metadata", "nova-novncproxy"):
        assert host.service(unit).is_running, unit
    _config_is_readable_by_nova_only(host)
    status, body = _get(host, "http://%s:%s/v2.1" % (address, setting(host, name, "nova", "nova_api_port")))
    assert status == 200 and json.loads(body)["version"]["id"] == "v2.1", body
    status, body = _get(host, "http://%s:%s/" % (address, setting(host, name, "nova", "nova_metadata_port")))
    assert status == 200 and "latest" in body.split(), body
    novnc_port = setting(host, name, "nova", "nova_novncproxy_port")
    status, body = _get(host, "http://%s:%s/vnc_lite.html" % (address, novnc_port))
    assert status == 200 and "noVNC" in body


@pytest.mark.testinfra_hosts("ansible://nova_conductor")
def test_conductor_runs_and_its_config_is_private(host):
    assert host.service("nova-conductor").is_running
    _config_is_readable_by_nova_only(host)


@pytest.mark.testinfra_hosts("ansible://nova_scheduler")
def test_scheduler_runs_and_its_config_is_private(host):
    assert host.service("nova-scheduler").is_running
    _config_is_readable_by_nova_only(host)


@pytest.mark.testinfra_hosts("ansible://nova_api")
def test_cells_v2_are_mapped_and_nova_status_passes(host):
    cells = host.check_output(_MANAGE + " cell_v2 list_cells")
    rows = {line.split("|")[1].strip(): line.split("|") for line in cells.splitlines() if line.startswith("|")}
    cell1 = setting(host, host.backend.host, "nova", "nova_cell1_name")
    assert {"cell0", cell1} <= set(rows), cells
    vhost = setting(host, host.backend.host, "nova", "nova_mq_vhost")
    assert rows[cell1][3].strip().endswith("/" + vhost), rows[cell1]
    assert rows[cell1][4].strip().endswith("/nova?charset=utf8mb4"), rows[cell1]
    assert "/nova_cell0?" in rows["cell0"][4], rows["cell0"]
    status = host.run("runuser -u nova -- /openstack/venvs/nova/bin/nova-status --config-file /etc/nova/nova.conf"
                      " upgrade check")
    assert status.rc == 0, status.stdout + status.stderr


@pytest.mark.testinfra_hosts("ansible://rabbitmq")
def test_cell1_topic_queues_are_quorum_queues(host):
    vhost = setting(host, host.backend.host, "nova", "nova_mq_vhost")
    queues = dict(line.split("\t")[:2] for line in host.check_output(
        "rabbitmqctl -q list_queues -p %s name type --no-table-headers" % vhost).splitlines() if "\t" in line)
    for topic in ("conductor", "scheduler"):
        assert queues.get(topic) == "quorum", queues


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_compute_api_through_both_vips_and_its_services_up(host):
    name = host.backend.host
    urls = endpoint_urls(host, name, "nova", "nova_api_port", "/v2.1")
    region = setting(host, name, "keystone", "keystone_region")
    endpoints = json.loads(host.check_output(_OPENSTACK + " endpoint list --service compute -f json"))
    assert sorted((e["Interface"], e["URL"], e["Region"]) for e in endpoints) == sorted(
        (kind, url, region) for kind, url in urls.items())
    for url in (urls["internal"], urls["public"]):
        status, body = _get(host, url)
        assert status == 200 and json.loads(body)["version"]["status"] == "CURRENT", (url, body)
        assert _get(host, url + "/flavors")[0] == 401, url
    expected = {("nova-conductor", container) for container in group(host, "nova_conductor")} | {
        ("nova-scheduler", container) for container in group(host, "nova_scheduler")}
    deadline = time.monotonic() + 90
    while True:
        services = json.loads(host.check_output(_OPENSTACK + " compute service list -f json"))
        up = {(s["Binary"], s["Host"]) for s in services if s["State"] == "up" and s["Status"] == "enabled"}
        if expected <= up or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert expected <= up, services


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_a_flavor_is_created_and_deleted_through_the_api(host):
    flavor = "lxstack-test-%s" % host.backend.host
    host.run(_OPENSTACK + " flavor delete " + flavor)
    created = json.loads(host.check_output(_OPENSTACK + " flavor create --ram 64 --disk 1 --vcpus 1 -f json " + flavor))
    try:
        shown = json.loads(host.check_output(_OPENSTACK + " flavor show -f json " + flavor))
        assert (shown["id"], shown["ram"], shown["vcpus"]) == (created["id"], 64, 1), shown
    finally:
        deleted = host.run(_OPENSTACK + " flavor delete " + flavor)
    assert deleted.rc == 0, deleted.stderr
    assert host.run(_OPENSTACK + " flavor show " + flavor).rc != 0
