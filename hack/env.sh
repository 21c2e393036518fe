# env.sh is sourced by the other scripts: the Go toolchain on PATH and the
# repository root as the working directory.
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "berth: Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install)" >&2
  exit 1
fi
