# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""neutron with ML2/OVN: the OVN central containers as members of both Raft clusters with one leader and
one active ovn-northd, bound to their management address; neutron's services in their containers; and,
from a keystone container (the admin's clouds.yaml there), the network API through both VIPs, with a
network, router and security group created through it showing up in OVN's northbound database."""

import json
import re

import pytest
import testinfra
from inventory_vars import endpoint_urls, group, host_vars, setting

_OPENSTACK = "/openstack/venvs/openstackclient/bin/openstack --os-cloud admin"
_DATABASES = (("nb", "OVN_Northbound", "ovn_central_nb_port", "ovn_central_nb_raft_port"),
              ("sb", "OVN_Southbound", "ovn_central_sb_port", "ovn_central_sb_raft_port"))


def _other(host, name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory,
                              force_ansible=host.backend.force_ansible)


def _get(host, url):
    """Status and body of an anonymous GET from inside the container."""
    out = host.check_output(
        "python3 -c \"import json, urllib.error, urllib.request\n"
        "try:\n    a = urllib.request.urlopen('%s', timeout=10); print(json.dumps([a.status, a.read().decode()]))\n"
        "except urllib.error.HTTPError as e:\n    print(json.dumps([e.code, '']))\"" % url)
    return json.loads(out)


@pytest.mark.testinfra_hosts("ansible://ovn_central")
def test_each_member_is_in_both_raft_clusters_bound_to_its_address(host):
    name = host.backend.host
    address = host_vars(host, name)["management_address"]
    members = [host_vars(host, member)["management_address"] for member in group(host, "ovn_central")]
    listening = host.check_output("ss -Hltn | awk '{print $4}'").split()
    for db, schema, port_key, raft_key in _DATABASES:
        status = host.check_output("ovn-appctl -t /var/run/ovn/ovn%s_db.ctl cluster/status %s", db, schema)
        assert re.search(r"^Status: cluster member$", status, re.M), status
        assert not re.search(r"^Leader: unknown$", status, re.M), status
        raft_port = setting(host, name, "ovn_central", raft_key)
        servers = set(re.findall(r"at tcp:([0-9.]+):%s" % raft_port, status))
        assert servers == set(members), status
        for port in (setting(host, name, "ovn_central", port_key), raft_port):
            assert "%s:%s" % (address, port) in listening, (port, listening)
            assert not {"0.0.0.0:%s" % port, "*:%s" % port, "[::]:%s" % port} & set(listening), listening


@pytest.mark.testinfra_hosts("ansible://ovn_central")
def test_one_ovn_northd_is_active_and_the_others_stand_by(host):
    members = group(host, "ovn_central")
    states = {member: _other(host, member).check_output("ovn-appctl -t ovn-northd status") for member in members}
    active = [member for member, state in states.items() if "Status: active" in state]
    assert len(active) == 1, states
    assert all("Status: standby" in state for member, state in states.items() if member not in active), states


@pytest.mark.testinfra_hosts("ansible://neutron_server")
def test_the_api_and_the_workers_run_on_the_container(host):
    name = host.backend.host
    address = host_vars(host, name)["management_address"]
    for unit in ("neutron-api", "neutron-periodic-workers", "neutron-ovn-maintenance-worker"):
        assert host.service(unit).is_running, unit
    for path in ("/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"):
        conf = host.file(path)
        assert (conf.user, conf.group, conf.mode) == ("root", "neutron", 0o640), path
    port = setting(host, name, "neutron", "neutron_port")
    status, body = _get(host, "http://%s:%s/" % (address, port))
    assert status == 200 and json.loads(body)["versions"][0]["status"] == "CURRENT", body
    listening = host.check_output("ss -Hltn | awk '{print $4}'").split()
    assert "%s:%s" % (address, port) in listening and "0.0.0.0:%s" % port not in listening, listening
    status = host.run("runuser -u neutron -- /openstack/venvs/neutron/bin/neutron-status"
                      " --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini"
                      " upgrade check")
    assert status.rc in (0, 1), status.stdout + status.stderr


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_network_api_through_both_vips(host):
    name = host.backend.host
    urls = endpoint_urls(host, name, "neutron", "neutron_port")
    region = setting(host, name, "keystone", "keystone_region")
    endpoints = json.loads(host.check_output(_OPENSTACK + " endpoint list --service network -f json"))
    assert sorted((e["Interface"], e["URL"], e["Region"]) for e in endpoints) == sorted(
        (kind, url, region) for kind, url in urls.items())
    for url in (urls["internal"], urls["public"]):
        status, body = _get(host, url + "/")
        assert status == 200 and json.loads(body)["versions"][0]["status"] == "CURRENT", (url, body)
        assert _get(host, url + "/v2.0/networks")[0] == 401, url


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_networks_routers_and_security_groups_reach_ovn(host):
    name = "lxstack-test-%s" % host.backend.host
    members = group(host, "ovn_central")
    central = _other(host, members[0])
    port = setting(host, members[0], "ovn_central", "ovn_central_nb_port")
    # every member listed: ovn-nbctl reads from the leader, where neutron's writes land first
    db = ",".join("tcp:%s:%s" % (host_vars(host, member)["management_address"], port) for member in members)

    def nb(command):
        return central.check_output("ovn-nbctl --db=%s %s" % (db, command))

    for kind in ("router", "security group", "network"):
        host.run("%s %s delete %s" % (_OPENSTACK, kind, name))
    network = json.loads(host.check_output(_OPENSTACK + " network create -f json " + name))["id"]
    try:
        host.check_output(_OPENSTACK + " subnet create --network %s --subnet-range 198.51.100.0/24 %s", name, name)
        router = json.loads(host.check_output(_OPENSTACK + " router create -f json " + name))["id"]
        host.check_output(_OPENSTACK + " router add subnet %s %s", name, name)
        group_id = json.loads(host.check_output(_OPENSTACK + " security group create -f json " + name))["id"]
        assert "neutron-%s" % network in nb("ls-list"), "no logical switch for network %s" % network
        assert "neutron-%s" % router in nb("lr-list"), "no logical router for router %s" % router
        ports = nb("lrp-list neutron-%s" % router)
        assert ports.strip(), "router %s has no port on the subnet" % router
        assert "pg_%s" % group_id.replace("-", "_") in nb("--columns=name list Port_Group"), group_id
    finally:
        host.run("%s router remove subnet %s %s" % (_OPENSTACK, name, name))
        for kind in ("router", "security group", "network"):
            host.run("%s %s delete %s" % (_OPENSTACK, kind, name))
    assert "neutron-%s" % network not in nb("ls-list")
