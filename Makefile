# lxstack.openstack: set-up, deploy and test from a fresh Debian 12 machine.
#   make aio    host packages, Python venv, collection link, then the AIO deploy (aio-destroy: gone)
#   make test   the same set-up, then lint, sanity, unit and molecule tests
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV       ?= .venv
BIN        := $(CURDIR)/$(VENV)/bin
STAMPS     := .stamps
# Debian's interpreter: present on every Debian host, unlike a pyenv or a custom build.
SYSTEM_PY  ?= /usr/bin/python3
# Host packages: every Debian package whose commands make setup/test/aio/bench run on this machine
# (not inside containers), named here because set-up installs without Recommends: nothing may come
# from a Recommends chain or an earlier run. Checked on every run (make host-packages).
# LXC and `lxc-create -t debian` (tests/lxc-create-debian): the template runs debootstrap, wget, rsync,
# openssl and debian-distro-info (without it a current release's security suite is wrong and apt in
# the container installs nothing); apparmor_parser loads LXC's profiles on a kernel with AppArmor.
APT_PACKAGES := lxc lxc-templates distro-info debootstrap wget rsync openssl apparmor python3-lxc
# simulated hosts and lxc-net: ip, nft, dnsmasq, sysctl and pgrep (procps)
APT_PACKAGES += iproute2 nftables dnsmasq-base procps
# SSH to the simulated hosts and the connection plugin's SSH leg (ssh, ssh-keygen, a test sshd)
APT_PACKAGES += openssh-client openssh-server
# the venv from Debian's interpreter, pip over the site CA, sdist builds; python3-apt lets Ansible's
# apt module run on this machine in check mode (it cannot install it then)
APT_PACKAGES += python3-venv python3-dev gcc ca-certificates python3-apt
# make itself, git (ansible-test sanity, ansible-lint), shellcheck (sanity)
APT_PACKAGES += make git shellcheck
# the guest image of the smoke test (roles/guest_image): cpio and gzip for its initramfs, mkfs.fat
# (dosfstools), mtools and syslinux (its mtools variant, no mount) for the FAT disk, qemu-img
# (qemu-utils) for the qcow2; qemu-system-x86 (with SeaBIOS) boots it under TCG in tests/guest_image
APT_PACKAGES += cpio gzip dosfstools mtools syslinux qemu-utils qemu-system-x86
# the dashboard in a real browser (make aio, tests/aio/horizon_browser.py): headless Chromium and its
# WebDriver, driven by Selenium (requirements.txt)
APT_PACKAGES += chromium chromium-driver
COLLECTION_LINK := collections/ansible_collections/lxstack/openstack
# Tests read OpenStack's upper-constraints from here (CI cannot reach releases.openstack.org).
CONSTRAINTS_DIR ?= $(abspath $(CURDIR)/../shared/openstack/upper-constraints)
SCENARIOS  ?= default aio
# What each test tier ran (JUnit XML, logs); `make test` empties it first and prints a table from it.
RESULTS    := .cache/test-results
TEST_TIERS := lint sanity unit installed guest-image lxc molecule
# The tiers before molecule run TEST_JOBS at a time (the real-LXC and guest image ones first: they wait
# most), each one's output printed whole when it ends; molecule's scenarios then run one after the other.
FAST_TIERS := lxc guest-image lint sanity unit installed
TEST_JOBS  ?= 2
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup host-packages aio aio-destroy tempest test lint unit installed guest-image sanity lxc molecule drills multinode previous-release bench fresh clean

help:
	@echo "make aio    set up and deploy an all-in-one cloud (make aio-destroy removes it)"
	@echo "make tempest  OpenStack's smoke tests (tempest) against the all-in-one of make aio"
	@echo "make test   set up and run every test (lint, sanity, unit, installed, guest-image, lxc, molecule)"
	@echo "make fresh  the set-up, lint, unit and real-LXC tests on a pristine Debian 12 system (a container)"
	@echo "make setup | lint | unit | installed | guest-image | sanity | lxc | molecule | drills | multinode | previous-release"
	@echo "           | bench | fresh | clean"

setup: host-packages $(STAMPS)/venv $(COLLECTION_LINK)

# No stamp: dpkg-query takes milliseconds, so a package removed since the last set-up (or added to
# APT_PACKAGES) is always seen. apt installs only the missing ones (installed ones are not upgraded).
host-packages:
	@installed=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(APT_PACKAGES) 2>/dev/null \
	  | awk '$$NF == "installed" && $$(NF-1) == "ok" {print $$1}' || true); \
	missing=$$(for p in $(APT_PACKAGES); do grep -qxF "$$p" <<<"$$installed" || echo "$$p"; done | xargs); \
	if [ -z "$$missing" ]; then echo "host packages: all $(words $(APT_PACKAGES)) installed"; \
	else echo "host packages: installing $$missing"; apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# The venv does not depend on the host packages' state, only on their presence (order-only).
$(STAMPS)/venv: requirements.txt requirements-test.txt | host-packages
	@mkdir -p $(STAMPS)
	@[ -x $(BIN)/pip ] || $(SYSTEM_PY) -m venv --clear $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-test.txt
	@touch $@

$(COLLECTION_LINK):
	@mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../.. $(COLLECTION_LINK)

# The all-in-one (README, "The all-in-one"): the environment directory AIO_DIR (topology, secrets,
# openrc, clouds.yaml), then playbooks/aio.yml (the whole site, its healthcheck, the credentials), then
# the dashboard in a browser (tests/aio/horizon_browser.py). In the sandbox (AIO_SANDBOX=1, the default
# where PID 1 is not systemd) the whole cloud lives in one simulated host, lxaio-aio1. A second run
# changes nothing; make aio-destroy removes all of it.
AIO_DIR     ?= /etc/lxstack/aio
AIO_SANDBOX ?= $(if $(filter systemd,$(shell cat /proc/1/comm 2>/dev/null)),0,1)
# upper-constraints: the shared directory beside the checkout when there is one (offline labs, CI),
# else the official URL; AIO_CONSTRAINTS=<directory or URL prefix> chooses
AIO_CONSTRAINTS ?= $(if $(wildcard $(CONSTRAINTS_DIR)/*.txt),$(CONSTRAINTS_DIR),)
AIO_SETTINGS := -e aio_dir=$(AIO_DIR) -e aio_sandbox=$(if $(filter 1,$(AIO_SANDBOX)),true,false) \
  -e aio_constraints=$(AIO_CONSTRAINTS)
aio: setup
	$(BIN)/ansible-playbook tests/simhosts/aio_sandbox.yml $(AIO_SETTINGS)
	$(BIN)/ansible-playbook -i $(AIO_DIR)/topology.yml playbooks/aio.yml
	$(BIN)/python tests/aio/horizon_browser.py --env $(AIO_DIR) --screenshot $(AIO_DIR)/horizon.png

# OpenStack's own smoke tests against the all-in-one that make aio deployed (playbooks/tempest.yml, from
# this machine, as a user of the cloud; the workspace is $(AIO_DIR)/tempest). Not in make test: CI's time.
tempest: setup
	$(BIN)/ansible-playbook -i $(AIO_DIR)/topology.yml playbooks/tempest.yml

aio-destroy: setup
	@if [ "$(AIO_SANDBOX)" != 1 ] && [ -f $(AIO_DIR)/topology.yml ]; then \
	  $(BIN)/ansible-playbook -i $(AIO_DIR)/topology.yml playbooks/destroy.yml -e lxstack_destroy_confirm=true; fi
	$(BIN)/ansible-playbook tests/simhosts/aio_sandbox.yml $(AIO_SETTINGS) -e aio_state=absent

# Every tier (the fast ones side by side, then molecule), then how many tests each ran (also after a
# failure; a failed tier stops the ones not started). In CI (CI=true) a skipped real-LXC or molecule
# test fails the run (tests/plugins_lxc/conftest.py, tests/summary.py).
test: setup
	@rm -rf $(RESULTS)
	@rc=0; { $(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target $(FAST_TIERS) \
	  && $(MAKE) --no-print-directory $(filter-out $(FAST_TIERS),$(TEST_TIERS)); } || rc=$$?; \
	$(BIN)/python tests/summary.py $(RESULTS) $(TEST_TIERS) || rc=1; exit $$rc

lint: setup
	@mkdir -p $(RESULTS)
	@echo "ruff: $$($(BIN)/ruff check --show-files plugins tests bench molecule | grep -c '^/') files" \
	  > $(RESULTS)/lint.log
	$(BIN)/ruff check plugins tests bench molecule 2>&1 | tee -a $(RESULTS)/lint.log
	$(BIN)/ansible-lint 2>&1 | tee -a $(RESULTS)/lint.log

unit: setup
	@mkdir -p $(RESULTS)
	$(BIN)/python -m pytest -q tests/unit --junitxml=$(RESULTS)/unit.xml

# The collection as an operator uses it: built, installed into a temporary HOME, run by collection
# name from a directory without any ansible.cfg (tests/installed/test_installed.py; about 35 s).
installed: setup
	@mkdir -p $(RESULTS)
	$(BIN)/python -m pytest -q tests/installed --junitxml=$(RESULTS)/installed.xml

# The smoke-test guest image (roles/guest_image) built through the role, run again (changed=0), and
# booted under QEMU's TCG with a fake metadata service, then without one (tests/guest_image). The image
# stays in ~/.cache/lxstack/images: 35 to 55 s once it is there, 65 to 75 s with its build (measured on
# the 2 cores shared with another test run).
guest-image: setup
	@mkdir -p $(RESULTS)
	$(BIN)/python -m pytest -q tests/guest_image --junitxml=$(RESULTS)/guest-image.xml

# The module and the connection plugin against real containers on this machine (lxut-*);
# LXC_TESTS selects some (pytest node ids), as make fresh does.
LXC_TESTS ?= tests/plugins_lxc
lxc: setup
	@mkdir -p $(RESULTS)
	$(BIN)/python -m pytest -q $(LXC_TESTS) --junitxml=$(RESULTS)/lxc.xml

# ansible-test needs the collection under ansible_collections/<ns>/<name>: run it from a copy.
PIP_BOOTSTRAP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
sanity: setup
	@mkdir -p $(dir $(PIP_BOOTSTRAP)) && cp tests/sanity/get_pip.py $(PIP_BOOTSTRAP)
	@rm -rf .cache/sanity && mkdir -p .cache/sanity/ansible_collections/lxstack
	rsync -a --exclude .venv --exclude .cache --exclude collections --exclude .stamps \
	  --exclude .git --exclude .ansible ./ .cache/sanity/ansible_collections/lxstack/openstack/
	@mkdir -p $(RESULTS)
	cd .cache/sanity/ansible_collections/lxstack/openstack && git init -q . && git add -A \
	  && $(BIN)/ansible-test sanity --python $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
	     --color no --requirements 2>&1 | tee $(CURDIR)/$(RESULTS)/sanity.log

molecule: setup
	@mkdir -p $(RESULTS)
	@for s in $(SCENARIOS); do [ -d molecule/$$s ] || continue; \
	  rm -f $(RESULTS)/molecule-$$s.failed; \
	  { PYTEST_ADDOPTS="--junitxml=$(CURDIR)/$(RESULTS)/molecule-$$s.xml" \
	    LXSTACK_CONSTRAINTS_DIR=$(CONSTRAINTS_DIR) $(BIN)/molecule test -s $$s 2>&1 \
	    || touch $(RESULTS)/molecule-$$s.failed; } | tee $(RESULTS)/molecule-$$s.log; \
	  [ ! -e $(RESULTS)/molecule-$$s.failed ] || exit 1; done

# Both scenarios with the long checks (check mode of the whole converge, the loss of an infra host, the
# venv life cycle, the Galera cold stop and power loss recovered by playbooks/galera_recovery.yml,
# playbooks/destroy.yml on the converged hosts): not in make test, to keep CI within its time; run before resolving.
# The default scenario runs on its HA variant (written to .cache/drills/): every API service in two
# containers, so that the loss of any one infra host leaves each of them a container.
HA_SERVICES := placement|nova_api|nova_conductor|nova_scheduler|neutron_server|horizon
# `make drills DRILL_SCENARIOS=default`: the three-host drills only (about half the time)
DRILL_SCENARIOS ?= default aio
drills: setup
	@mkdir -p .cache/drills
	sed -E '/^  ($(HA_SERVICES)): /s/\{count: 1\}/{count: 2}/' molecule/default/inventory/topology.yml \
	  > .cache/drills/topology.yml
	test "$$(grep -cE '^  ($(HA_SERVICES)): \{count: 2\}' .cache/drills/topology.yml)" = 6
	LXSTACK_DEFAULT_TOPOLOGY=$(CURDIR)/.cache/drills/topology.yml LXSTACK_SIDE_EFFECT=drills.yml \
	  LXSTACK_CLEANUP=cleanup.yml $(MAKE) molecule SCENARIOS="$(DRILL_SCENARIOS)"

# The default scenario with a simulated compute host and a tunnel network (molecule/default/multinode/):
# its healthcheck boots a server on compute1 and reaches the floating IP from the gateway chassis infra1
# over a Geneve tunnel. Not in make test, to keep CI within its time; run before resolving.
multinode: setup
	LXSTACK_DEFAULT_TOPOLOGY=$(CURDIR)/molecule/default/multinode/topology.yml \
	  LXSTACK_SIDE_EFFECT=multinode/side_effect.yml $(MAKE) molecule SCENARIOS=default

# The default scenario on the previous release (the starting point of playbooks/upgrade.yml): its
# topology with `release:` set to PREVIOUS_RELEASE, written under .cache and linked in place of the
# scenario's own (LXSTACK_DEFAULT_TOPOLOGY). Not in make test; run before resolving.
PREVIOUS_RELEASE ?= 2026.1
previous-release: setup
	@mkdir -p .cache/previous-release
	sed -E 's/^release: .*/release: "$(PREVIOUS_RELEASE)"/' molecule/default/inventory/topology.yml \
	  > .cache/previous-release/topology.yml
	grep -qx 'release: "$(PREVIOUS_RELEASE)"' .cache/previous-release/topology.yml
	LXSTACK_DEFAULT_TOPOLOGY=$(CURDIR)/.cache/previous-release/topology.yml $(MAKE) molecule SCENARIOS=default

# Every bench script in turn (bench/_common.py is their shared code, bench/summary.py the report);
# each checks its preconditions first and stops the run on any failure. Then summary.py fails unless
# every file in bench/results/ was rewritten, complete, by this run, and renders summary.md from them.
BENCHES := $(filter-out bench/_%.py bench/summary.py,$(sort $(wildcard bench/*.py)))
bench: setup
	@since=$$(date -u +%Y-%m-%dT%H:%M:%SZ); start=$$(date +%s); \
	for b in $(BENCHES); do echo "== $$b"; LXSTACK_CONSTRAINTS_DIR=$(CONSTRAINTS_DIR) $(BIN)/python $$b; done; \
	$(BIN)/python bench/summary.py --since $$since; \
	echo "make bench: done in $$(( $$(date +%s) - start )) s"

# The set-up from a clean clone of HEAD on a pristine Debian system (a fresh privileged nesting
# container, debootstrap), then lint, unit and the real-LXC tests in it: see tests/fresh/check.
# FRESH_RELEASE=trixie checks Debian 13.
fresh: setup
	tests/fresh/check

clean:
	rm -rf .cache collections $(STAMPS)
