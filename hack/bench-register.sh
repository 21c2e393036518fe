#!/usr/bin/env bash
# bench-register.sh: measures registrations per second through the
# controller's Consul-compatible HTTP API (PUT /v1/agent/service/register),
# with p50/p99 latency, then the deregistrations. Run by hand (not in CI); the
# figures go into BENCHMARKS.md ("Discovery: registrations through the HTTP
# API").
#
# It builds the controller, starts it with its embedded etcd on free loopback
# ports under its own --host-name and data directory, runs
# hack/bench/register, and removes everything it started. Environment: N
# (500 services), CLIENTS (8), LOG (where the controller logs).
set -euo pipefail
source "$(dirname "$0")/env.sh"

n="${N:-500}"
clients="${CLIENTS:-8}"
host="bench-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/controller" ./cmd/controller
go build -o "$work/bench" ./hack/bench/register

listen="127.0.0.1:$(free_port)"
log="${LOG:-$work/controller.log}"
"$work/controller" --host-name "$host" --data-dir "$work/data" --allowed-host-paths "$work/volumes" \
  --etcd-listen-client "http://127.0.0.1:$(free_port)" --etcd-listen-peer "http://127.0.0.1:$(free_port)" \
  --listen "$listen" --dns-listen "127.0.0.1:$(free_port)" --advertise-address 127.0.0.1 >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -fs "http://$listen/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" || { cat "$log"; exit 1; }
  sleep 0.1
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $(docker ps -q | wc -l) containers running on the engine"
"$work/bench" -listen "$listen" -n "$n" -c "$clients" -prefix "$host"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
