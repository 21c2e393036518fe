#!/usr/bin/env bash
# run.sh [controller flags...]: sets up this machine (Docker), builds berth and
# its local images, and runs the controller with its embedded etcd on the
# local Docker engine. Data goes to /var/lib/berth as root, else to
# ~/.local/share/berth, unless --data-dir or BERTH_DATA_DIR says otherwise.
set -euo pipefail
source "$(dirname "$0")/env.sh"
hack/deps.sh
hack/build.sh
hack/images.sh
if [[ -z "${BERTH_DATA_DIR:-}" && " $* " != *" --data-dir"* ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then export BERTH_DATA_DIR=/var/lib/berth; else export BERTH_DATA_DIR="$HOME/.local/share/berth"; fi
fi
echo "starting bin/controller $* (data: ${BERTH_DATA_DIR:-see --data-dir}); stop it with Ctrl-C" >&2
exec bin/controller "$@"
