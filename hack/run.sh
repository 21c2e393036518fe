#!/usr/bin/env bash
# run.sh [controller flags...]: sets up this machine (Docker), builds berth and
# its local images, and runs the controller with its embedded etcd on the
# local Docker engine. Data goes to /var/lib/berth as root, else to
# ~/.local/share/berth, unless --data-dir or BERTH_DATA_DIR says otherwise.
# hostPath volumes are allowed under /var/lib/berth-volumes (the controller's
# default), where the examples of manifests/ keep their data, unless
# --allowed-host-paths or BERTH_ALLOWED_HOST_PATHS says otherwise. The
# controller creates both folders when they are missing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
hack/deps.sh
hack/build.sh
hack/images.sh
if [[ -z "${BERTH_DATA_DIR:-}" && " $* " != *" --data-dir"* ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then export BERTH_DATA_DIR=/var/lib/berth; else export BERTH_DATA_DIR="$HOME/.local/share/berth"; fi
fi
if [[ -z "${BERTH_ALLOWED_HOST_PATHS:-}" && " $* " != *" --allowed-host-paths"* ]]; then
  export BERTH_ALLOWED_HOST_PATHS=/var/lib/berth-volumes
fi
echo "starting bin/controller $* (data: ${BERTH_DATA_DIR:-see --data-dir}; hostPath volumes under: ${BERTH_ALLOWED_HOST_PATHS:-see --allowed-host-paths}); stop it with Ctrl-C" >&2
exec bin/controller "$@"
