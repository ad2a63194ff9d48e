# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the address allocator and of allocation stability across topology changes."""

import pathlib
import tempfile

import yaml
from ansible_collections.lxstack.openstack.plugins.module_utils import topology as topo_lib
from hypothesis import given, settings
from hypothesis import strategies as st

RANGE = (1, 300)


@st.composite
def pools(draw):
    reserved = draw(st.lists(st.tuples(st.integers(*RANGE), st.integers(0, 40)), max_size=6))
    reserved = [(first, first + length) for first, length in reserved]
    used = draw(st.sets(st.integers(*RANGE), max_size=30))
    return reserved, used


def _free(reserved, used):
    return [v for v in range(RANGE[0], RANGE[1] + 1)
            if v not in used and not any(a <= v <= b for a, b in reserved)]


@given(pools(), st.integers(0, 320))
def test_pool_hands_out_the_lowest_free_addresses(spec, wanted):
    reserved, used = spec
    pool = topo_lib.Pool(RANGE, reserved, used)
    free = _free(reserved, used)
    assert pool.available == len(free)
    got = [pool.allocate() for _count in range(min(wanted, len(free)))]
    assert got == free[:len(got)]            # lowest first, never reserved, never used, no duplicate
    if wanted >= len(free):
        try:
            pool.allocate()
        except ValueError:
            pass
        else:
            raise AssertionError("allocated beyond the pool")


def _topology(infra, compute, extra_services, small=False):
    hosts = {"infra": {"hosts": {"infra%d" % i: {"address": "10.0.0.%d" % i, "networks": {"storage": "10.1.0.%d" % i}}
                                 for i in range(1, infra + 1)}},
             "compute": {"hosts": {"compute%d" % i: {"address": "10.0.1.%d" % i} for i in range(1, compute + 1)}}}
    return {
        "plugin": "lxstack.openstack.topology",
        "networks": {
            "management": {"cidr": "10.0.0.0/20", "bridge": "br-mgmt", "groups": ["all_containers"],
                           "reserved": ["10.0.0.1-10.0.3.255", "10.0.5.0/28", "10.0.5.200-10.0.6.3"]},
            "storage": {"cidr": "10.1.0.0/%d" % (26 if small else 20), "bridge": "br-storage",
                        "groups": ["glance", *extra_services], "reserved": ["10.1.0.1-10.1.0.20"]},
        },
        "host_groups": hosts,
        "services": {name: {"group": "infra"} for name in extra_services},
    }


def _allocate(directory, data):
    path = pathlib.Path(directory) / "topology.yml"
    path.write_text(yaml.safe_dump(data))
    topology = topo_lib.load(str(path))
    topo_lib.write_state(topology)
    return {c: {n: e["address"] for n, e in nets.items()} for c, nets in topology.state.items()}, topology


def _all_addresses(state):
    return [(net, address) for nets in state.values() for net, address in nets.items()]


SERVICES = st.lists(st.sampled_from(["designate", "heat_api", "cinder_api", "octavia_api", "barbican"]),
                    unique=True, max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), SERVICES, st.integers(0, 3), st.integers(0, 4), SERVICES)
def test_additions_never_move_an_address(infra, compute, services, more_infra, more_compute, more_services):
    with tempfile.TemporaryDirectory() as directory:
        before, topology = _allocate(directory, _topology(infra, compute, services))
        addresses = _all_addresses(before)
        assert len(set(addresses)) == len(addresses)
        for network in topology.networks.values():
            for container in before.values():
                if network.name in container:
                    value = int(topo_lib.netaddr.IPAddress(container[network.name]))
                    assert network.pool.contains(value)       # never a reserved or host address
        grown = _topology(infra + more_infra, compute + more_compute,
                          services + [s for s in more_services if s not in services])
        after, _topology_after = _allocate(directory, grown)
        assert {c: after[c] for c in before} == before
        addresses = _all_addresses(after)
        assert len(set(addresses)) == len(addresses)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), SERVICES)
def test_same_topology_same_addresses(infra, services):
    results = []
    for _attempt in range(2):
        with tempfile.TemporaryDirectory() as directory:
            results.append(_allocate(directory, _topology(infra, 1, services))[0])
    assert results[0] == results[1]


def test_exhausted_pool_is_reported_before_anything_is_written():
    with tempfile.TemporaryDirectory() as directory:
        # storage /26 minus 20 reserved: 42 addresses; 4 infra hosts x 11 services on storage need 44
        data = _topology(4, 1, ["designate", "heat_api", "cinder_api", "octavia_api", "barbican"], small=True)
        data["networks"]["storage"]["groups"] += ["keystone", "placement", "nova_api", "horizon", "galera"]
        try:
            _allocate(directory, data)
        except topo_lib.TopologyError as exc:
            assert "networks.storage: address pool exhausted: 44 addresses needed, 42 available" in str(exc)
        else:
            raise AssertionError("no error")
        assert not (pathlib.Path(directory) / "topology.state.yml").exists()


def test_stable_mac_is_deterministic_and_avoids_collisions():
    taken = set()
    first = topo_lib.stable_mac("infra1-keystone", "management", taken)
    assert first == topo_lib.stable_mac("infra1-keystone", "management", set())
    again = topo_lib.stable_mac("infra1-keystone", "management", taken)   # forced collision
    assert again != first and again.startswith("02:") and len(taken) == 2
