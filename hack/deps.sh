#!/usr/bin/env bash
# deps.sh [--test]: makes sure what berth needs is installed and running on a
# Debian machine: Debian's docker.io with dockerd started, and, with --test,
# etcd-server and etcd-client (the etcd the store's tests run, and etcdctl)
# bind9-dnsutils (dig), prometheus (promtool and the server the monitoring
# tests start on loopback), openssl (hack/certs.sh), iproute2 and iptables
# (the multi-host test's network namespaces), docker-registry (the reference
# registry the image pull tests start), gcc (the race detector), and curl
# and netcat-openbsd (nc), which the README's walk-through runs.
# As root it installs what is missing with apt-get and starts dockerd;
# otherwise it says what is missing and how to get it, and fails.
set -euo pipefail

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf 'deps: %s\n' "$*" >&2; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if ((want_test)); then
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  # hack/certs.sh, and the multi-host test's network namespaces.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  # The registry the pull tests start, with and without authentication.
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  # The README's walk-through, which test/e2e runs as written.
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
  # The dashboard's end-to-end tests run it headless through chromedp.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # go test -race needs cgo.
  command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
fi
installed_etcd=0
installed_prometheus=0
installed_registry=0
if ((${#missing[@]})); then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    [[ " ${missing[*]} " == *" etcd-server "* ]] && installed_etcd=1
    [[ " ${missing[*]} " == *" prometheus "* ]] && installed_prometheus=1
    [[ " ${missing[*]} " == *" docker-registry "* ]] && installed_registry=1
  else
    say "missing: ${missing[*]}"
    say "install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# Debian starts the etcd service it installs where systemd runs; berth's
# tests start their own etcd, and the controller embeds one on 127.0.0.1:2379,
# so a service we installed just now is stopped again.
if ((installed_etcd)) && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  say "stopping and disabling the etcd service Debian started (berth runs its own)"
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi

# The same for the Prometheus service: the tests start their own on loopback.
if ((installed_prometheus)) && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  say "stopping and disabling the prometheus service Debian started (the tests run their own)"
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# And for the registry service (port 5000): the tests start their own.
if ((installed_registry)); then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    say "stopping and disabling the docker-registry service Debian started (the tests run their own)"
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/docker-registry ]] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
    say "stopping the docker-registry service Debian started (the tests run their own)"
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
  fi
fi

if ! docker info >/dev/null 2>&1; then
  if ! is_root; then
    say "dockerd is not running, or this user may not use it."
    say "start it with 'sudo systemctl start docker' (or 'sudo dockerd &'), and add yourself to the docker group."
    exit 1
  fi
  if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1; then
    :
  else
    say "starting dockerd (log: /var/log/berth-dockerd.log)"
    nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not come up; its log:"
    tail -n 20 /var/log/berth-dockerd.log >&2 || true
    exit 1
  fi
fi
say "docker $(docker version --format '{{.Server.Version}}') is running"
