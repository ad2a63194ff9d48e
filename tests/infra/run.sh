#!/usr/bin/env bash
# Real-container test of the infrastructure roles (galera, rabbitmq, memcached, haproxy+keepalived)
# on three trixie LXC containers lxinfra-1..3 of this machine. See README.md.
# Usage: tests/infra/run.sh            full run from new containers, removed at the end
#        KEEP=1 tests/infra/run.sh     keep the containers at the end
#        REUSE=1 tests/infra/run.sh    start from the containers of an earlier run
set -euo pipefail
cd "$(dirname "$0")/../.."
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
INV=tests/infra/inventory.yml
LOG=tests/infra/logs
mkdir -p "$LOG"
PLAY=(.venv/bin/ansible-playbook -i "$INV")

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%T)"; }
timed() {  # timed <name> <command...>: run, log, print the wall time
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    if ! "$@" >"$LOG/$name.log" 2>&1; then
        tail -40 "$LOG/$name.log"
        echo "FAILED: $name (log: $LOG/$name.log)"
        exit 1
    fi
    end=$(date +%s.%N)
    printf '%-28s %6.1f s\n' "$name" "$(echo "$end - $start" | bc)" | tee -a "$LOG/timings.txt"
}
recap_changed() {  # sum of changed= in a log's PLAY RECAP
    awk '/PLAY RECAP/ {r=1} r && /changed=/ {split($0, a, "changed="); split(a[2], b, " "); s += b[1]} END {print s + 0}' "$1"
}
cleanup() {
    if [ -z "${KEEP:-}" ]; then
        tests/infra/containers.sh down
    fi
}
trap cleanup EXIT
: >"$LOG/timings.txt"

step "containers"
[ -n "${REUSE:-}" ] || tests/infra/containers.sh down
timed containers tests/infra/containers.sh up
rm -f tests/infra/secrets.yml

step "infrastructure.yml, first run"
timed infra-run1 "${PLAY[@]}" -v playbooks/infrastructure.yml
step "infrastructure.yml, second run (must change nothing)"
timed infra-run2 "${PLAY[@]}" playbooks/infrastructure.yml
changed=$(recap_changed "$LOG/infra-run2.log")
echo "second run: changed=$changed"
[ "$changed" -eq 0 ] || { grep -B3 '^changed' "$LOG/infra-run2.log"; exit 1; }

step "secrets"
mode=$(stat -c %a tests/infra/secrets.yml)
echo "secrets file mode: $mode"
[ "$mode" = 600 ]
# no secret value in the verbose output of the first run
/usr/bin/python3 - "$LOG/infra-run1.log" <<'PY'
import sys, yaml
secrets = yaml.safe_load(open("tests/infra/secrets.yml"))
log = open(sys.argv[1]).read()
leaked = [key for key, value in secrets.items() if str(value) in log]
print("secret values found in the -v output:", leaked or "none")
sys.exit(1 if leaked else 0)
PY

step "checks: galera through the VIP, failover, drain/enable, rabbitmq, memcached"
timed verify "${PLAY[@]}" tests/infra/verify.yml

step "cold stop (clean, staggered) and recovery"
timed cold-stop "${PLAY[@]}" tests/infra/cold_stop.yml
timed recovery-clean "${PLAY[@]}" playbooks/galera_recovery.yml
grep -A4 'Show the positions' "$LOG/recovery-clean.log" | grep -A1 msg || true
timed check-rows-clean "${PLAY[@]}" tests/infra/check_rows.yml

step "power loss of every container and recovery"
# The last member stops cleanly and a row is written without it; then every container is
# killed (lxc-stop -k) and Galera's saved view (gvwstate.dat) removed so that the nodes cannot
# restore their primary component by themselves: the recovery must compare the positions,
# with `mariadbd --wsrep-recover` for the two nodes that crashed (seqno -1).
timed powerloss-prep "${PLAY[@]}" tests/infra/cold_stop.yml -e cold_stop_rest=false -e cold_stop_tag=powerloss
for n in 1 2 3; do
    lxc-stop -n "lxinfra-$n" -k
    rm -f "/var/lib/lxc/lxinfra-$n/rootfs/var/lib/mysql/gvwstate.dat"
done
for n in 1 2 3; do lxc-start -n "lxinfra-$n"; done
sleep 5
timed recovery-powerloss "${PLAY[@]}" playbooks/galera_recovery.yml
grep -A4 'Show the positions' "$LOG/recovery-powerloss.log" | grep -A1 msg || true
timed check-rows-powerloss "${PLAY[@]}" tests/infra/check_rows.yml -e '{"check_rows_tags": ["clean", "powerloss"]}'
step "infrastructure.yml after the recovery (must change nothing)"
timed infra-run3 "${PLAY[@]}" playbooks/infrastructure.yml
changed=$(recap_changed "$LOG/infra-run3.log")
echo "run after recovery: changed=$changed"
[ "$changed" -eq 0 ]

step "PASSED"
cat "$LOG/timings.txt"
