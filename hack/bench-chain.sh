#!/usr/bin/env bash
# bench-chain.sh: a chain of 10 services u0..u9 of berth/testapp, each with an
# HTTP health check on /healthz every 1s, u(i) starting only once u(i-1) is
# healthy, brought up by berth (requires + startCondition: healthy, timed from
# `applyctl apply --wait` to its exit: every Unit Ready) and by Debian's
# docker-compose 1.29 (depends_on: condition: service_healthy, timed from
# `docker-compose up -d` until docker reports u9 healthy). Runs alternate,
# after one warm-up of each; the medians and their ratio are printed, with the
# per-step latency (container start of u(i) minus that of u(i-1), from docker
# inspect, the same way for both). Run by hand (not in CI) on a machine with
# Docker; the figures go into BENCHMARKS.md ("Units: a 10-unit dependency
# chain"). Environment: RUNS (5), N (10).
#
# It installs docker-compose with apt-get when it is missing, builds the
# binaries and images, starts a controller with its embedded etcd on free
# loopback ports under its own --host-name, and removes everything it
# started: the controller, its containers, the compose projects, the folder.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(berth_run ...) ends the script too
source "$(dirname "$0")/env.sh"

runs="${RUNS:-5}"
n="${N:-10}"
tag="$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
host="bench-chain-$tag"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
fi

pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  ids="$(docker ps -aq --filter "label=berth.dev/host=${host}")"
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null
  for p in $(docker ps -a --filter label=com.docker.compose.project --format '{{.Label "com.docker.compose.project"}}' | grep "$tag" | sort -u); do
    docker-compose -p "$p" -f "$work/$p.yml" down -t 2 >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

hack/build.sh >/dev/null
hack/images.sh >/dev/null

client="http://127.0.0.1:$(free_port)"
listen="127.0.0.1:$(free_port)"
log="${LOG:-$work/controller.log}"
bin/controller --host-name "$host" --data-dir "$work/data" --allowed-host-paths "$work/volumes" \
  --etcd-listen-client "$client" --etcd-listen-peer "http://127.0.0.1:$(free_port)" \
  --listen "$listen" --dns-listen "127.0.0.1:$(free_port)" >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -fs "http://$listen/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" || { cat "$log"; exit 1; }
  sleep 0.1
done
applyctl() { bin/applyctl --etcd-endpoints "$client" "$@"; }

# berth_chain PREFIX: the chain's Units, pinned to this host. No port is
# published (compose publishes none either): the probe reaches the
# container's address on the berth network.
berth_chain() {
  local p="$1" i
  for ((i = 0; i < n; i++)); do
    cat <<EOF
---
apiVersion: berth.dev/v1
kind: Unit
metadata: {name: $p-u$i}
spec:
  placement: {hosts: [$host]}
  container:
    image: berth/testapp:latest
    healthCheck: {http: {path: /healthz, port: 8080}, interval: 1s, timeout: 1s, retries: 3}
EOF
    ((i == 0)) || printf '  requires: [%s]\n  startCondition: {%s: healthy}\n' "$p-u$((i - 1))" "$p-u$((i - 1))"
  done
}

compose_chain() {
  local i
  printf 'version: "2.4"\nservices:\n'
  for ((i = 0; i < n; i++)); do
    cat <<EOF
  u$i:
    image: berth/testapp:latest
    healthcheck:
      test: ["CMD", "/testapp", "check", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 1s
      retries: 3
EOF
    ((i == 0)) || printf '    depends_on:\n      u%d:\n        condition: service_healthy\n' $((i - 1))
  done
}

# steps NAME...: the start times of the containers, one step per line (ms).
steps() {
  docker inspect -f '{{.State.StartedAt}}' "$@" | python3 -c '
import sys, datetime
def t(s):
    s = s.strip().rstrip("Z")
    base, frac = (s.split(".") + ["0"])[:2]
    return datetime.datetime.fromisoformat(base).timestamp() + float("0." + frac)
ts = [t(l) for l in sys.stdin if l.strip()]
for a, b in zip(ts, ts[1:]):
    print(round((b - a) * 1000))'
}

berth_run() { # berth_run PREFIX -> total ms on stdout; steps appended to $work/berth.steps
  local p="$1" t0 t1 names=() i
  berth_chain "$p" >"$work/$p.yaml"
  t0="$(now_ms)"
  applyctl apply -f "$work/$p.yaml" --wait --timeout 5m >/dev/null
  t1="$(now_ms)"
  for ((i = 0; i < n; i++)); do names+=("berth-unit-$p-u$i"); done
  steps "${names[@]}" >>"$work/berth.steps.$2"
  applyctl delete -f "$work/$p.yaml" >/dev/null
  for _ in $(seq 600); do
    [[ -z "$(docker ps -aq --filter "label=berth.dev/host=${host}")" ]] && break
    sleep 0.1
  done
  echo $((t1 - t0))
}

compose_run() { # compose_run PROJECT -> total ms on stdout
  local p="$1" t0 t1 last names=() i
  compose_chain >"$work/$p.yml"
  t0="$(now_ms)"
  if ! docker-compose -p "$p" -f "$work/$p.yml" up -d >"$work/$p.up.log" 2>&1; then
    echo "docker-compose up -d failed:" >&2
    cat "$work/$p.up.log" >&2
    return 1
  fi
  last="$(docker-compose -p "$p" -f "$work/$p.yml" ps -q "u$((n - 1))")"
  [[ -n "$last" ]] || { echo "docker-compose ps: no container for u$((n - 1))" >&2; return 1; }
  until [[ "$(docker inspect -f '{{.State.Health.Status}}' "$last")" == healthy ]]; do
    (($(now_ms) - t0 < 300000)) || { echo "u$((n - 1)) not healthy 5 minutes after docker-compose up" >&2; return 1; }
    sleep 0.02
  done
  t1="$(now_ms)"
  for ((i = 0; i < n; i++)); do names+=("$(docker-compose -p "$p" -f "$work/$p.yml" ps -q "u$i")"); done
  steps "${names[@]}" >>"$work/compose.steps.$2"
  docker-compose -p "$p" -f "$work/$p.yml" down -t 2 >/dev/null 2>&1
  echo $((t1 - t0))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Docker $(docker version -f '{{.Server.Version}}'), $(docker-compose version --short), $(uname -r)"
wb="$(berth_run "w$tag" warm)"
wc="$(compose_run "bcw$tag" warm)"
echo "warm-up: berth $wb ms, compose $wc ms (not counted)"
b=() c=()
for ((r = 1; r <= runs; r++)); do
  b+=("$(berth_run "r$r$tag" runs)")
  c+=("$(compose_run "bc$r$tag" runs)")
  echo "run $r: berth ${b[-1]} ms, docker-compose ${c[-1]} ms"
done
bm="$(printf '%s\n' "${b[@]}" | median)"
cm="$(printf '%s\n' "${c[@]}" | median)"
echo "berth:          median $bm ms over $runs runs (${b[*]})"
echo "docker-compose: median $cm ms over $runs runs (${c[*]})"
echo "ratio berth/compose: $(awk -v b="$bm" -v c="$cm" 'BEGIN {printf "%.2f", b / c}')x"
for s in berth compose; do
  f="$work/$s.steps.runs"
  echo "$s step (start of u(i) - start of u(i-1)), ms: median $(median <"$f"), min $(sort -n "$f" | head -1), max $(sort -n "$f" | tail -1), $(wc -l <"$f") steps"
done
