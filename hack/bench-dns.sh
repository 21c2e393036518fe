#!/usr/bin/env bash
# bench-dns.sh: measures DNS queries per second from loopback against a real
# controller at its default flags and with --dns-rate-limit 0, in turns,
# with hack/dnsbench's load (16 clients over UDP, one query at a time). Run
# by hand (not in CI); the figures go into BENCHMARKS.md ("DNS: a controller
# at its default flags").
#
# It builds the controller (or takes CONTROLLER, a binary built elsewhere,
# e.g. from an older commit) and hack/dnsbench, then for each round starts
# one controller per set of flags, in turn, with its embedded etcd on free
# loopback ports under its own --host-name and data directory, runs
# `dnsbench -dns -http` against it and stops it. Environment: ROUNDS (2),
# DURATION (10s per query), CLIENTS (16), ENDPOINTS (100), LOG (where the
# controllers log).
#
# FROM=container compares instead, in each run, the controller from
# loopback (--dns-listen) and from a container on the berth network (its
# container DNS, the network's gateway, port 53), each against a bare
# server replaying its answers (dnsbench -container-dns; BENCHMARKS.md,
# "DNS from containers"), TURNS times in turns (1) for each query. The
# gateway's port 53 must be free: no other controller may serve container
# DNS meanwhile.
set -euo pipefail
source "$(dirname "$0")/env.sh"

rounds="${ROUNDS:-2}"
host="bench-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pid=""
stop() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
cleanup() {
  stop
  rm -rf "$work"
}
trap cleanup EXIT

controller="${CONTROLLER:-}"
if [[ -z "$controller" ]]; then
  go build -o "$work/controller" ./cmd/controller
  controller="$work/controller"
fi
# Static: with FROM=container it runs in a FROM scratch image too.
CGO_ENABLED=0 go build -o "$work/dnsbench" ./hack/dnsbench

# run LABEL [FLAG...]: one controller with these flags, measured.
run() {
  local label="$1"; shift
  local listen="127.0.0.1:$(free_port)" dnsl="127.0.0.1:$(free_port)"
  local log="${LOG:-$work/controller.log}"
  touch "$log"
  local first=$(($(wc -l <"$log") + 1))
  "$controller" --host-name "$host" --data-dir "$work/data" --allowed-host-paths "$work/volumes" \
    --etcd-listen-client "http://127.0.0.1:$(free_port)" --etcd-listen-peer "http://127.0.0.1:$(free_port)" \
    --listen "$listen" --dns-listen "$dnsl" --advertise-address 127.0.0.1 "$@" >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -fs "http://$listen/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" || { cat "$log"; exit 1; }
    sleep 0.1
  done
  local from=()
  if [[ "${FROM:-}" == container ]]; then
    local gw
    gw="$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' berth)"
    for _ in $(seq 100); do
      tail -n "+$first" "$log" | grep -q 'msg="serving DNS for containers"' && break
      if tail -n "+$first" "$log" | grep -q 'msg="container DNS: the address is served by another process'; then
        echo "bench-dns.sh: $gw:53 is served by another process: stop the controller serving it" >&2; exit 1
      fi
      sleep 0.1
    done
    from=(-container-dns "$gw:53" -rounds "${TURNS:-1}")
  fi
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), flags: ${*:-none}"
  "$work/dnsbench" -dns "$dnsl" -http "$listen" -label "$label" "${from[@]}" \
    -duration "${DURATION:-10s}" -clients "${CLIENTS:-16}" -endpoints "${ENDPOINTS:-100}"
  stop
}

echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), controller $controller"
for r in $(seq "$rounds"); do
  run "default flags, round $r"
  run "--dns-rate-limit 0, round $r" --dns-rate-limit 0
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
