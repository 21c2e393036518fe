#!/usr/bin/env bash
# test.sh [go test flags...]: sets up this machine (Docker, etcd, dig, curl, nc), builds
# berth and its local images, and runs every test, the Docker and etcd ones
# included: every package under the race detector, then the end-to-end suite
# (which runs the built binaries) once. With CI=true a test whose dependency
# is missing fails instead of skipping.
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
mapfile -t pkgs < <(go list ./... | grep -v '/test/e2e$')
go test -race -count=1 -timeout 30m "${@}" "${pkgs[@]}"
# The end-to-end tests' artifacts (the dashboard's screenshots) are kept
# under test-output/_artifacts/.
out="${BERTH_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$out"
exec go test -count=1 -timeout 30m -artifacts -outputdir "$out" "${@}" ./test/e2e
