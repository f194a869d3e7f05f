#!/usr/bin/env bash
# Sets up k1s on this Debian machine and starts it in the foreground:
# installs build and runtime packages, builds the release binary,
# installs it as /usr/local/bin/k1s, then runs `k1s server`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo --preserve-env=PATH "$0" "$@"
  fi
  echo "setup.sh: run as root" >&2
  exit 1
fi

"$(dirname "$0")/install-deps.sh"

if ! command -v cargo >/dev/null; then
  echo "setup.sh: cargo not found; install Rust (https://rustup.rs) and re-run" >&2
  exit 1
fi
cargo build --release --bin k1s
install -m 0755 "${CARGO_TARGET_DIR:-target}/release/k1s" /usr/local/bin/k1s
echo "k1s installed; starting 'k1s server' (kubeconfig: /etc/k1s/k1s.yaml; try 'k1s kubectl get ns' in another terminal)"
exec /usr/local/bin/k1s server "$@"
