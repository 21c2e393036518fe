#!/usr/bin/env bash
# build.sh: builds controller and applyctl into bin/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
go build -trimpath -ldflags "-X berth.dev/berth/internal/version.Version=${version}" -o bin/ ./cmd/controller ./cmd/applyctl
echo "built bin/controller and bin/applyctl (${version})" >&2
