#!/usr/bin/env bash
# images.sh: builds the local images berth's examples and tests run. Each is a
# static Go binary from images/<name> in a FROM scratch image, tagged
# berth/<name>:latest; no registry is needed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
shopt -s nullglob
dirs=(images/*/)
((${#dirs[@]})) || exit 0
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx" "$ctx.log"' EXIT
for d in "${dirs[@]}"; do
  name="$(basename "$d")"
  rm -rf "${ctx:?}"/*
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/$name" "./images/$name"
  printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$name" "$name" "$name" >"$ctx/Dockerfile"
  if ! DOCKER_BUILDKIT=0 docker build -q -t "berth/$name:latest" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    exit 1
  fi
  echo "built image berth/$name:latest" >&2
done
