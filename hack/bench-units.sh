#!/usr/bin/env bash
# bench-units.sh: measures Units from `applyctl apply` to RUNNING against
# Docker's own create and start of the same image on the same `berth`
# network (through the engine's API; `docker run -d` on the default bridge
# is timed too), for 1 Unit (several rounds, each with its timeline: the
# object written, every status put) and for 50 at once, then the
# controller's CPU and memory and the etcd writes during an idle minute
# with the 50 Units running. Run by hand (not in CI) on a machine with
# Docker; the figures go into BENCHMARKS.md ("Units: apply to RUNNING").
#
# It builds the binaries and images, starts a controller with its embedded
# etcd on free loopback ports under its own --host-name and data directory,
# runs hack/bench/units (which watches status through etcd), and removes
# everything it started. The controller logs at debug level, for each
# container it starts, where the reconcile's time went ("container
# started": list, image, create, start, status, event...). Environment:
# ROUNDS (5), UNITS (50), IDLE (60s);
# BERTH_METRICS=false runs the controller with its metrics off (the hidden
# --metrics flag), to measure what they cost.
set -euo pipefail
source "$(dirname "$0")/env.sh"

rounds="${ROUNDS:-5}"
units="${UNITS:-50}"
idle="${IDLE:-60s}"
host="bench-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  ids="$(docker ps -aq --filter "label=berth.dev/host=${host}")"
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null
  ids="$(docker ps -aq --filter "name=^bench-docker-")"
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

hack/build.sh
hack/images.sh
go build -o "$work/bench" ./hack/bench/units

client="http://127.0.0.1:$(free_port)"
listen="127.0.0.1:$(free_port)"
log="${LOG:-$work/controller.log}"
bin/controller --host-name "$host" --data-dir "$work/data" --allowed-host-paths "$work/volumes" \
  --etcd-listen-client "$client" --etcd-listen-peer "http://127.0.0.1:$(free_port)" \
  --listen "$listen" --dns-listen "127.0.0.1:$(free_port)" --log-level debug >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -fs "http://$listen/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" || { cat "$log"; exit 1; }
  sleep 0.1
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Docker $(docker version -f '{{.Server.Version}}'), $(uname -r)"
"$work/bench" -etcd "$client" -applyctl bin/applyctl -host "$host" -listen "$listen" -pid "$pid" \
  -rounds "$rounds" -n "$units" -idle "$idle"
echo "controller log: $log ($(grep -c . "$log") lines)"
