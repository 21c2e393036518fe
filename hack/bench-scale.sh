#!/usr/bin/env bash
# bench-scale.sh: berth at many hosts with the fake runtime. It starts
# Debian's etcd on free loopback ports, one leading controller in its own
# process (hack/bench/scale -mode leader), then HOSTS host controllers in one
# process (-mode hosts), each with its own fake runtime, applies UNITS Units
# of REPLICAS replicas on hostSelector role=web at once, and prints the time
# to all bound and all RUNNING, placements per second, the etcd writes per
# converged instance (status, events, the rest), the CPU time the hosts
# process, the leader and etcd took meanwhile, the memory of the leader and
# of one host controller, and the time to bind elsewhere and to run
# elsewhere the Units of LOST hosts lost at once. Run by hand (not in CI); the figures go into BENCHMARKS.md
# ("Jobs and hosts at scale", "A thousand hosts").
#
# Environment: HOSTS (100), UNITS (50), REPLICAS (5), LOST (1),
# RESCHEDULE_AFTER (3s); RESOURCES=1 gives the hosts three capacities
# (--reserved-cpus, --reserved-memory) and the Units mixed requests, and
# checks that no host is given more than it offers ("Placement by
# resources": UNITS=1000 REPLICAS=5). TIMEOUT (4m) bounds the wait for every
# instance RUNNING; TTL (3s) is every controller's --heartbeat-ttl: raise it
# on a busy machine, where many controllers in one process may miss their
# keep-alives. PROFILE=DIR writes CPU profiles of the convergence (hosts.cpu
# of the hosts process, leader.cpu of the leader's first 60 s) and the hosts'
# heap after it (hosts.heap) into DIR, for `go tool pprof`.
#
# A thousand hosts ("A thousand hosts" in BENCHMARKS.md):
#   HOSTS=1000 UNITS=1000 REPLICAS=10 LOST=100 TTL=30s RESCHEDULE_AFTER=10s TIMEOUT=15m hack/bench-scale.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"

work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() {
  # The last started first: the controllers stop while etcd still answers.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/scale" ./hack/bench/scale

client="http://127.0.0.1:$(free_port)"
etcd --name scale --data-dir "$work/etcd" --listen-client-urls "$client" --advertise-client-urls "$client" \
  --listen-peer-urls "http://127.0.0.1:$(free_port)" --initial-advertise-peer-urls "http://127.0.0.1:$(free_port)" \
  --initial-cluster-state new --quota-backend-bytes 4294967296 \
  --max-txn-ops 10000 --max-request-bytes 33554432 >"$work/etcd.log" 2>&1 &
etcd_pid=$!
pids+=("$etcd_pid")
for _ in $(seq 100); do curl -fs "$client/health" >/dev/null 2>&1 && break; sleep 0.1; done

leader_listen="127.0.0.1:$(free_port)"
profile=()
leader_pprof=()
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE"
  leader_pprof=(-pprof-listen "127.0.0.1:$(free_port)")
  profile=(-profile-dir "$PROFILE" -leader-pprof "${leader_pprof[1]}" -pprof-listen "127.0.0.1:$(free_port)")
  echo "# pprof: leader ${leader_pprof[1]}, hosts ${profile[5]}"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$work/scale" -mode leader -etcd "$client" -leader-listen "$leader_listen" -dir "$work" "${leader_pprof[@]}" \
  -reschedule-after "${RESCHEDULE_AFTER:-3s}" -ttl "${TTL:-3s}" 2>"$work/leader.log" &
leader_pid=$!
pids+=("$leader_pid")
for _ in $(seq 300); do
  curl -fs "http://$leader_listen/metrics" 2>/dev/null | grep -q '^berth_leader 1' && break
  kill -0 "$leader_pid" || { cat "$work/leader.log"; exit 1; }
  sleep 0.1
done

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), etcd $(etcd --version | head -1 | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/scale" -mode hosts -etcd "$client" -leader-listen "$leader_listen" -leader-pid "$leader_pid" -etcd-pid "$etcd_pid" -dir "$work" \
  -hosts "${HOSTS:-100}" -units "${UNITS:-50}" -replicas "${REPLICAS:-5}" -lost "${LOST:-1}" -reschedule-after "${RESCHEDULE_AFTER:-3s}" -ttl "${TTL:-3s}" \
  -resources="$([ "${RESOURCES:-}" = 1 ] && echo true || echo false)" -timeout "${TIMEOUT:-4m}" "${profile[@]}"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
