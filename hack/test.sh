#!/usr/bin/env bash
# test.sh [go test flags...]: sets up this machine (Docker, etcd, dig), builds
# berth and its local images, and runs every test, the Docker and etcd ones
# included. With CI=true a test whose dependency is missing fails instead of
# skipping.
set -euo pipefail
source "$(dirname "$0")/env.sh"
hack/deps.sh --test
hack/build.sh
hack/images.sh
go vet ./...
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [[ -n "$unformatted" ]]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
exec go test -count=1 -timeout 40m "${@}" ./...
